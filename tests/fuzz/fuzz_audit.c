/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Audit record harness, all in memory. The input is used three ways:
 * - as one line: whatever parses is in canonical form (formatting it again
 *   gives the same bytes) and chains onto its own prev, and onto no other;
 *   whatever does not parse is refused by the chain check too;
 * - as a string value and as a field name: the record written for it is one
 *   line of strict JSON text (no raw controls, valid UTF-8) that parses
 *   back to the same bytes;
 * - as a log: its lines are walked through the chain from the start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"
#include "err.h"

#define T0 1900000000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct audit_record rec;
static char text[AUDIT_LINE_MAX + 1], line[AUDIT_LINE_MAX];

/* Strict UTF-8 (no overlongs, surrogates or values above U+10FFFF), written here again. */
static int valid_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0, k, j;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			k = 2;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 3;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			k = 4;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < k)
			return 0;
		for (j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k;
	}
	return 1;
}

static void check_line(const char *l, size_t n)
{
	struct audit_chain c;
	uint8_t h[AUDIT_HASH_LEN];
	unsigned hn = 0;
	char why[128];
	size_t len;
	int r;

	r = audit_record_parse(l, n, &rec, why, sizeof(why));
	if (r != 0) {
		if (r != JIT_ERR_INVALID_FORMAT || why[0] == '\0')
			abort();
		audit_chain_init(&c);
		if (audit_chain_check(&c, l, n, why, sizeof(why)) != JIT_ERR_INVALID_FORMAT)
			abort();
		return;
	}
	if (audit_record_format(rec.seq, rec.time, rec.prev, rec.fields, rec.nfields, line,
	                        sizeof(line), &len) != 0 ||
	    len != n || memcmp(line, l, n) != 0)
		abort();
	/* Onto its own prev it chains, and the head becomes its hash. */
	c.seq = rec.seq - 1;
	memcpy(c.hash, rec.prev, sizeof(c.hash));
	if (audit_chain_check(&c, l, n, why, sizeof(why)) != 0 || c.seq != rec.seq)
		abort();
	if (EVP_Digest(l, n, h, &hn, EVP_sha256(), NULL) != 1 || memcmp(h, c.hash, sizeof(h)) != 0)
		abort();
	/* Onto another prev or seq it does not. */
	c.seq = rec.seq - 1;
	memcpy(c.hash, rec.prev, sizeof(c.hash));
	c.hash[n % AUDIT_HASH_LEN] ^= 1;
	if (audit_chain_check(&c, l, n, why, sizeof(why)) != JIT_ERR_AUDIT_CHAIN)
		abort();
	c.seq = rec.seq;
	memcpy(c.hash, rec.prev, sizeof(c.hash));
	if (audit_chain_check(&c, l, n, why, sizeof(why)) != JIT_ERR_AUDIT_CHAIN)
		abort();
}

static void check_written(const char *s)
{
	static const uint8_t prev[AUDIT_HASH_LEN] = {1, 2, 3};
	struct audit_field f[] = {AUDIT_STR("event", "fuzz"), AUDIT_STR("v", s)};
	struct audit_field k[] = {AUDIT_U64(s, 7)};
	size_t len, i;
	int r;

	r = audit_record_format(7, T0, prev, f, 2, line, sizeof(line), &len);
	if (r == JIT_ERR_NO_BUFFER_SPACE)
		return;
	if (r != 0)
		abort();
	for (i = 0; i < len; i++)
		if ((uint8_t)line[i] < 0x20 || line[i] == 0x7f)
			abort();
	if (!valid_utf8((const uint8_t *)line, len))
		abort();
	if (audit_record_parse(line, len, &rec, NULL, 0) != 0 || rec.nfields != 2 ||
	    rec.fields[1].type != AUDIT_T_STR || strcmp(rec.fields[1].s, s) != 0)
		abort();

	r = audit_record_format(7, T0, prev, k, 1, line, sizeof(line), &len);
	if (r == JIT_ERR_INVALID_ARGUMENT)
		return;
	if (r != 0 || audit_record_parse(line, len, &rec, NULL, 0) != 0 || rec.nfields != 1 ||
	    strcmp(rec.fields[0].key, s) != 0 || rec.fields[0].u != 7)
		abort();
}

static void walk_log(const char *d, size_t n)
{
	struct audit_chain c;
	const char *nl;
	uint64_t before;

	audit_chain_init(&c);
	while ((nl = memchr(d, '\n', n)) != NULL) {
		before = c.seq;
		if (audit_chain_check(&c, d, (size_t)(nl - d), NULL, 0) != 0)
			return;
		if (c.seq != before + 1)
			abort();
		n -= (size_t)(nl + 1 - d);
		d = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;

	if (size > 4 * AUDIT_LINE_MAX)
		return 0;
	check_line((const char *)data, size);
	n = size < AUDIT_LINE_MAX ? size : AUDIT_LINE_MAX;
	if (n > 0)
		memcpy(text, data, n);
	text[n] = '\0';
	check_written(text);
	walk_log((const char *)data, size);
	return 0;
}
