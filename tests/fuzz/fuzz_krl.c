/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * KRL parser harness. Whatever parses must come back normalized (serials
 * sorted, disjoint and not adjacent, never 0; key IDs sorted and unique),
 * every listed serial must read as revoked, and a CA's sets must survive an
 * encode/parse round trip through our own encoder unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "krl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_normalized(const struct krl *k, const struct krl_certs *c)
{
	size_t i;

	for (i = 0; i < c->nserials; i++) {
		if (c->serials[i].lo == 0 || c->serials[i].lo > c->serials[i].hi)
			abort();
		if (i > 0 && (c->serials[i - 1].hi == UINT64_MAX ||
		              c->serials[i].lo <= c->serials[i - 1].hi + 1))
			abort();
		/* Bounded work per input: the ends of the first few ranges. */
		if (i < 256 && (!krl_cert_revoked(k, c->ca, c->serials[i].lo, NULL) ||
		                !krl_cert_revoked(k, c->ca, c->serials[i].hi, NULL)))
			abort();
	}
	for (i = 0; i < c->nkey_ids; i++) {
		if (i > 0 && strcmp(c->key_ids[i - 1], c->key_ids[i]) >= 0)
			abort();
		if (i < 256 && !krl_cert_revoked(k, c->ca, 0, c->key_ids[i]))
			abort();
	}
}

static void check_round_trip(const struct krl *k, const struct krl_certs *c)
{
	struct krl_spec s;
	struct krl *again = NULL;
	uint8_t *out = NULL;
	size_t len = 0, i;
	int r;

	memset(&s, 0, sizeof(s));
	s.version = k->version;
	s.date = k->date;
	s.ca = c->ca;
	s.serials = c->serials;
	s.nserials = c->nserials;
	s.key_ids = (const char *const *)c->key_ids;
	s.nkey_ids = c->nkey_ids;
	r = krl_encode(&s, &out, &len);
	/* Key IDs our CA never issues (empty, control characters) are refused. */
	if (r == JIT_ERR_INVALID_ARGUMENT || r == JIT_ERR_BAD_CHARACTER ||
	    r == JIT_ERR_NO_BUFFER_SPACE || r == JIT_ERR_ALLOC)
		return;
	if (r != 0 || krl_parse(out, len, &again) != 0)
		abort();
	if (c->nserials == 0 && c->nkey_ids == 0) {
		if (again->ncerts != 0)
			abort();
	} else {
		if (again->ncerts != 1 || again->version != k->version || again->date != k->date ||
		    !key_equal_public(again->certs[0].ca, c->ca) ||
		    again->certs[0].nserials != c->nserials ||
		    again->certs[0].nkey_ids != c->nkey_ids ||
		    (c->nserials > 0 && memcmp(again->certs[0].serials, c->serials,
		                               c->nserials * sizeof(*c->serials)) != 0))
			abort();
		for (i = 0; i < c->nkey_ids; i++)
			if (strcmp(again->certs[0].key_ids[i], c->key_ids[i]) != 0)
				abort();
	}
	krl_free(again);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krl *k = NULL;
	size_t i;

	if (size > 1024 * 1024)
		return 0;
	if (krl_parse(data, size, &k) != 0)
		return 0;
	for (i = 0; i < k->ncerts; i++) {
		check_normalized(k, &k->certs[i]);
		if (k->certs[i].ca != NULL)
			check_round_trip(k, &k->certs[i]);
	}
	krl_free(k);
	return 0;
}
