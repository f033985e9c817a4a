/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * CA private key parser. Inputs that start with the openssh-key-v1 magic
 * are armored first, so that the fuzzer works on the container itself
 * rather than on base64. Such a container encrypted with bcrypt at no more
 * than FUZZ_ROUNDS_MAX rounds is tried with the passphrase FUZZ_PASS, so
 * that decryption is reached but no input can make the KDF slow; all
 * other inputs get no passphrase (an encrypted PEM key's iteration count is
 * the file's to choose).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "err.h"
#include "key.h"

#define FUZZ_PASS       "fuzz"
#define FUZZ_ROUNDS_MAX 1

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char magic[] = "openssh-key-v1"; /* with its NUL */

/* FUZZ_PASS for a bcrypt container cheap enough to decrypt, else NULL. */
static const char *passphrase_for(const uint8_t *data, size_t size)
{
	struct buf *b = NULL, *opts = NULL;
	const uint8_t *o;
	char *cipher = NULL, *kdf = NULL;
	size_t olen;
	uint32_t rounds = 0;
	const char *pass = NULL;

	if ((b = buf_from(data, size)) == NULL)
		return NULL;
	if (buf_consume(b, sizeof(magic)) == 0 && buf_get_cstring(b, &cipher, NULL) == 0 &&
	    buf_get_cstring(b, &kdf, NULL) == 0 && buf_get_string_direct(b, &o, &olen) == 0 &&
	    strcmp(kdf, "bcrypt") == 0 && (opts = buf_from(o, olen)) != NULL &&
	    buf_get_string_direct(opts, NULL, NULL) == 0 && buf_get_u32(opts, &rounds) == 0 &&
	    rounds <= FUZZ_ROUNDS_MAX)
		pass = FUZZ_PASS;
	free(cipher);
	free(kdf);
	buf_free(opts);
	buf_free(b);
	return pass;
}

static void parse(const uint8_t *text, size_t len, const char *pass)
{
	static const uint8_t msg[] = "fuzz";
	struct key *k = NULL, *pub = NULL, *none = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	if (key_parse_private(text, len, pass, &k) != 0)
		return;
	/* A loaded key signs, and its public half alone verifies. */
	if (!k->has_private || !key_type_can_sign(k->type) ||
	    key_sign(k, msg, sizeof(msg), &sig, &sig_len) != 0 ||
	    key_from_blob(k->blob, k->blob_len, &pub) != 0 ||
	    key_verify(pub, sig, sig_len, msg, sizeof(msg), NULL) != 0)
		abort();
	/* Only bcrypt containers get a passphrase: without it, the same input must ask for one. */
	if (pass != NULL && key_parse_private(text, len, NULL, &none) != JIT_ERR_KEY_ENCRYPTED)
		abort();
	free(sig);
	key_free(none);
	key_free(pub);
	key_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *b64 = NULL, *text;
	size_t n;

	if (size < sizeof(magic) || memcmp(data, magic, sizeof(magic)) != 0) {
		parse(data, size, NULL);
		return 0;
	}
	if (b64_encode(data, size, &b64) != 0)
		return 0;
	n = strlen(b64) + 80;
	if ((text = malloc(n)) != NULL) {
		snprintf(text, n,
		         "-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n"
		         "-----END OPENSSH PRIVATE KEY-----\n",
		         b64);
		parse((const uint8_t *)text, strlen(text), passphrase_for(data, size));
		free(text);
	}
	free(b64);
	return 0;
}
