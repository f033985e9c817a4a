/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Public key parsers: the wire blob, the fields inside a certificate, the
 * one-line form and strict base64. Whatever parses must round-trip exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum key_type types[] = {
        KEY_ED25519, KEY_ECDSA_P256, KEY_ECDSA_P384,    KEY_ECDSA_P521,
        KEY_RSA,     KEY_SK_ED25519, KEY_SK_ECDSA_P256,
};

/* The one-line form of k parses back to the same key. */
static void line_round_trip(const struct key *k)
{
	struct key *again = NULL;
	char *line = NULL, *fp = NULL;

	if (key_to_line(k, k->comment, &line) != 0 ||
	    key_from_line(line, strlen(line), &again) != 0 || !key_equal_public(k, again) ||
	    key_fingerprint(k, &fp) != 0 || strncmp(fp, "SHA256:", 7) != 0)
		abort();
	free(fp);
	free(line);
	key_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct key *k = NULL;
	struct buf *b;
	const uint8_t *f;
	uint8_t *raw = NULL;
	char *enc = NULL;
	size_t i, flen, raw_len = 0, before;

	/* A blob: what parses is stored byte for byte. */
	if (key_from_blob(data, size, &k) == 0) {
		if (k->blob_len != size || memcmp(k->blob, data, size) != 0)
			abort();
		line_round_trip(k);
		key_free(k);
		k = NULL;
	}

	/* Fields as a certificate holds them: exactly what was consumed. */
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if ((b = buf_from(data, size)) == NULL)
			return 0;
		before = buf_len(b);
		if (key_from_fields(b, types[i], &k) == 0) {
			f = key_fields(k, &flen);
			if (f == NULL || before - buf_len(b) != flen || memcmp(f, data, flen) != 0)
				abort();
			key_free(k);
			k = NULL;
		} else if (buf_len(b) != before) {
			abort();
		}
		buf_free(b);
	}

	/* A one-line key. */
	if (key_from_line((const char *)data, size, &k) == 0) {
		line_round_trip(k);
		key_free(k);
		k = NULL;
	}

	/* Strict base64 has one encoding per value. */
	if (b64_decode((const char *)data, size, size, &raw, &raw_len) == 0) {
		if (b64_encode(raw, raw_len, &enc) != 0 || strlen(enc) != size ||
		    memcmp(enc, data, size) != 0)
			abort();
		free(enc);
		free(raw);
	}
	return 0;
}
