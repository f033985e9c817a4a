/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Certificate parser harness: the input as a wire blob and as a one-line
 * text form. Whatever parses must verify against its own CA at its own
 * start time, and survive a text round trip byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct cert *c)
{
	struct cert_check chk = {.ca = c->ca, .principal = NULL, .at = c->valid_after};
	struct cert *again = NULL;
	char *line = NULL;

	/* A parsed certificate is self-consistent: it verifies against its CA. */
	if (c->cert_type == CERT_TYPE_USER && c->nprincipals > 0 && cert_verify(c, &chk) != 0)
		abort();
	if (cert_to_line(c, "fuzz", &line) != 0)
		abort();
	if (cert_parse_line(line, strlen(line), &again) != 0)
		abort();
	if (again->blob_len != c->blob_len || memcmp(again->blob, c->blob, c->blob_len) != 0)
		abort();
	cert_free(again);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cert *c = NULL;

	if (size > 4 * CERT_BLOB_MAX)
		return 0;
	if (cert_parse(data, size, &c) == 0) {
		check(c);
		cert_free(c);
		c = NULL;
	}
	if (cert_parse_line((const char *)data, size, &c) == 0) {
		check(c);
		cert_free(c);
	}
	return 0;
}
