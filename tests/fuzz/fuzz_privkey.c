/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * CA private key parser. Inputs that start with the openssh-key-v1 magic
 * are armored first, so that the fuzzer works on the container itself
 * rather than on base64. No passphrase is given: the KDF cost is the
 * file's to choose, and decryption belongs to libssh and OpenSSL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char magic[] = "openssh-key-v1"; /* with its NUL */

static void parse(const uint8_t *text, size_t len)
{
	static const uint8_t msg[] = "fuzz";
	struct key *k = NULL, *pub = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	if (key_parse_private(text, len, NULL, &k) != 0)
		return;
	/* A loaded key signs, and its public half alone verifies. */
	if (!k->has_private || !key_type_can_sign(k->type) ||
	    key_sign(k, msg, sizeof(msg), &sig, &sig_len) != 0 ||
	    key_from_blob(k->blob, k->blob_len, &pub) != 0 ||
	    key_verify(pub, sig, sig_len, msg, sizeof(msg), NULL) != 0)
		abort();
	free(sig);
	key_free(pub);
	key_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *b64 = NULL, *text;
	size_t n;

	if (size < sizeof(magic) || memcmp(data, magic, sizeof(magic)) != 0) {
		parse(data, size);
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
		parse((const uint8_t *)text, strlen(text));
		free(text);
	}
	free(b64);
	return 0;
}
