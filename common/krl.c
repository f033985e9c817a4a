/* SPDX-License-Identifier: BSD-2-Clause */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "file.h"
#include "key.h"
#include "krl.h"

/* Bytes each serial encoding costs, the subsection's type and length included. */
#define COST_SUBSECTION   5
#define COST_LIST_ENTRY   8
#define COST_RANGE        (COST_SUBSECTION + 16)
#define COST_BITMAP_FIXED (COST_SUBSECTION + 8 + 4)
/* A gap wider than this costs a bitmap more than a new subsection would. */
#define BITMAP_GAP_MAX (8 * COST_BITMAP_FIXED)

static int range_cmp(const void *a, const void *b)
{
	const struct krl_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

/* Sorts, then merges overlapping and adjacent ranges in place; returns the new count. */
static size_t ranges_normalize(struct krl_range *r, size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 1; i < n; i++) {
		if (r[out].hi == UINT64_MAX || r[i].lo <= r[out].hi + 1) {
			if (r[i].hi > r[out].hi)
				r[out].hi = r[i].hi;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Key IDs and the comment reach ssh-keygen's listing and our logs. */
static int text_check(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return JIT_ERR_BAD_CHARACTER;
	return 0;
}

/* Listing one or two serials is cheaper than a range subsection. */
static uint64_t range_cost(const struct krl_range *r)
{
	return r->hi - r->lo < 2 ? (r->hi - r->lo + 1) * COST_LIST_ENTRY : COST_RANGE;
}

/* nbits >= 1: the mpint gains a zero byte when its top bit is set. */
static uint64_t bitmap_cost(uint64_t nbits)
{
	return COST_BITMAP_FIXED + (nbits + 7) / 8 + (nbits % 8 == 0 ? 1 : 0);
}

static int put_section(struct buf *out, uint8_t type, const struct buf *data)
{
	int r;

	if ((r = buf_put_u8(out, type)) != 0 || (r = buf_put_stringb(out, data)) != 0)
		return r;
	return 0;
}

/* One bitmap subsection for r[0..n), which span at most KRL_BITMAP_MAX_BITS. */
static int put_bitmap(struct buf *out, const struct krl_range *r, size_t n)
{
	struct buf *sub = NULL;
	uint8_t *bits = NULL;
	uint64_t base = r[0].lo, s;
	size_t nbytes = (size_t)((r[n - 1].hi - base) / 8 + 1), i, bit;
	int ret = JIT_ERR_INTERNAL;

	if ((bits = calloc(1, nbytes)) == NULL || (sub = buf_new(BUF_SIZE_MAX)) == NULL) {
		ret = JIT_ERR_ALLOC;
		goto out;
	}
	/* Bit N, counted from the least significant end, is serial base + N. */
	for (i = 0; i < n; i++) {
		for (s = r[i].lo;; s++) {
			bit = (size_t)(s - base);
			bits[nbytes - 1 - bit / 8] |= (uint8_t)(1u << (bit % 8));
			if (s == r[i].hi)
				break;
		}
	}
	if ((ret = buf_put_u64(sub, base)) != 0 ||
	    (ret = buf_put_bignum2_bytes(sub, bits, nbytes)) != 0 ||
	    (ret = put_section(out, KRL_SECTION_CERT_SERIAL_BITMAP, sub)) != 0)
		goto out;
	ret = 0;
out:
	free(bits);
	buf_free(sub);
	return ret;
}

static int put_range(struct buf *out, const struct krl_range *r)
{
	struct buf *sub = NULL;
	int ret = JIT_ERR_INTERNAL;

	if ((sub = buf_new(16)) == NULL) {
		ret = JIT_ERR_ALLOC;
		goto out;
	}
	if ((ret = buf_put_u64(sub, r->lo)) != 0 || (ret = buf_put_u64(sub, r->hi)) != 0 ||
	    (ret = put_section(out, KRL_SECTION_CERT_SERIAL_RANGE, sub)) != 0)
		goto out;
	ret = 0;
out:
	buf_free(sub);
	return ret;
}

/*
 * Serial subsections for sorted, merged ranges. Neighbours close enough
 * together form a cluster, written as one bitmap when that is smaller than
 * writing each range alone: one or two serials go to the single list
 * subsection, longer ranges get a range subsection each.
 */
static int put_serials(struct buf *out, const struct krl_range *r, size_t n)
{
	struct buf *list = NULL, *rest = NULL;
	uint64_t cost;
	size_t i, j, k;
	int ret = JIT_ERR_INTERNAL;

	if ((list = buf_new(BUF_SIZE_MAX)) == NULL || (rest = buf_new(BUF_SIZE_MAX)) == NULL) {
		ret = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < n; i = j) {
		cost = range_cost(&r[i]);
		for (j = i + 1; j < n; j++) {
			if (r[j].hi - r[i].lo >= KRL_BITMAP_MAX_BITS ||
			    r[j].lo - r[j - 1].hi - 1 > BITMAP_GAP_MAX)
				break;
			cost += range_cost(&r[j]);
		}
		if (r[j - 1].hi - r[i].lo < KRL_BITMAP_MAX_BITS &&
		    bitmap_cost(r[j - 1].hi - r[i].lo + 1) < cost) {
			if ((ret = put_bitmap(rest, &r[i], j - i)) != 0)
				goto out;
			continue;
		}
		for (k = i; k < j; k++) {
			if (r[k].hi - r[k].lo >= 2)
				ret = put_range(rest, &r[k]);
			else if ((ret = buf_put_u64(list, r[k].lo)) == 0 && r[k].hi != r[k].lo)
				ret = buf_put_u64(list, r[k].hi);
			if (ret != 0)
				goto out;
		}
	}
	if (buf_len(list) > 0 && (ret = put_section(out, KRL_SECTION_CERT_SERIAL_LIST, list)) != 0)
		goto out;
	if ((ret = buf_put(out, buf_ptr(rest), buf_len(rest))) != 0)
		goto out;
	ret = 0;
out:
	buf_free(list);
	buf_free(rest);
	return ret;
}

int krl_encode(const struct krl_spec *s, uint8_t **ret, size_t *ret_len)
{
	struct krl_range *ranges = NULL;
	const char **ids = NULL;
	struct buf *b = NULL, *sect = NULL, *sub = NULL;
	uint8_t *data = NULL;
	size_t i, nranges = 0, nids = 0;
	int r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (ret_len != NULL)
		*ret_len = 0;
	if (s == NULL || ret == NULL || ret_len == NULL || s->ca == NULL || s->ca->blob == NULL ||
	    s->ca->blob_len == 0 || (s->nserials > 0 && s->serials == NULL) ||
	    (s->nkey_ids > 0 && s->key_ids == NULL)) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (s->comment != NULL && (r = text_check(s->comment)) != 0)
		goto out;
	if (s->nserials > 0) {
		if (s->nserials > SIZE_MAX / sizeof(*ranges) ||
		    (ranges = malloc(s->nserials * sizeof(*ranges))) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		for (i = 0; i < s->nserials; i++) {
			/* OpenSSH refuses serial 0: it means "no serial". */
			if (s->serials[i].lo == 0 || s->serials[i].lo > s->serials[i].hi) {
				r = JIT_ERR_INVALID_ARGUMENT;
				goto out;
			}
			ranges[i] = s->serials[i];
		}
		nranges = ranges_normalize(ranges, s->nserials);
	}
	if (s->nkey_ids > 0) {
		if (s->nkey_ids > SIZE_MAX / sizeof(*ids) ||
		    (ids = malloc(s->nkey_ids * sizeof(*ids))) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		for (i = 0; i < s->nkey_ids; i++) {
			if (s->key_ids[i] == NULL || s->key_ids[i][0] == '\0') {
				r = JIT_ERR_INVALID_ARGUMENT;
				goto out;
			}
			if ((r = text_check(s->key_ids[i])) != 0)
				goto out;
			ids[i] = s->key_ids[i];
		}
		qsort(ids, s->nkey_ids, sizeof(*ids), str_cmp);
		for (i = 0; i < s->nkey_ids; i++)
			if (nids == 0 || strcmp(ids[nids - 1], ids[i]) != 0)
				ids[nids++] = ids[i];
	}

	if ((b = buf_new(BUF_SIZE_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_put_u64(b, KRL_MAGIC)) != 0 || (r = buf_put_u32(b, KRL_FORMAT_VERSION)) != 0 ||
	    (r = buf_put_u64(b, s->version)) != 0 || (r = buf_put_u64(b, s->date)) != 0 ||
	    (r = buf_put_u64(b, 0)) != 0 ||          /* flags */
	    (r = buf_put_string(b, NULL, 0)) != 0 || /* reserved */
	    (r = buf_put_cstring(b, s->comment == NULL ? "" : s->comment)) != 0)
		goto out;
	if (nranges > 0 || nids > 0) {
		if ((sect = buf_new(BUF_SIZE_MAX)) == NULL ||
		    (sub = buf_new(BUF_SIZE_MAX)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if ((r = buf_put_string(sect, s->ca->blob, s->ca->blob_len)) != 0 ||
		    (r = buf_put_string(sect, NULL, 0)) != 0 || /* reserved */
		    (r = put_serials(sect, ranges, nranges)) != 0)
			goto out;
		for (i = 0; i < nids; i++)
			if ((r = buf_put_cstring(sub, ids[i])) != 0)
				goto out;
		if (nids > 0 && (r = put_section(sect, KRL_SECTION_CERT_KEY_ID, sub)) != 0)
			goto out;
		if ((r = put_section(b, KRL_SECTION_CERTIFICATES, sect)) != 0)
			goto out;
	}
	if ((data = malloc(buf_len(b))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(data, buf_ptr(b), buf_len(b));
	*ret_len = buf_len(b);
	*ret = data;
	data = NULL;
	r = 0;
out:
	free(data);
	free(ranges);
	free(ids);
	buf_free(b);
	buf_free(sect);
	buf_free(sub);
	return r;
}

int krl_write(const struct krl_spec *s, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = JIT_ERR_INTERNAL;

	if (path == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = krl_encode(s, &data, &len)) != 0 ||
	    (r = file_write_atomic(path, data, len, 0644)) != 0)
		goto out;
	r = 0;
out:
	free(data);
	return r;
}

/* Parser state: capacities of the growing arrays and KRL-wide counts. */
struct parse {
	struct krl *k;
	size_t serials_cap[KRL_CAS_MAX];
	size_t ids_cap[KRL_CAS_MAX];
	size_t nranges;
	size_t nids;
};

/* Room for one more element: p itself, a larger copy, or NULL (p still valid). */
static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t ncap;

	if (n < *cap)
		return p;
	ncap = *cap == 0 ? 16 : *cap * 2;
	if (ncap > SIZE_MAX / size)
		return NULL;
	if ((p = realloc(p, ncap * size)) != NULL)
		*cap = ncap;
	return p;
}

static int add_range(struct parse *ps, size_t ci, uint64_t lo, uint64_t hi)
{
	struct krl_certs *c = &ps->k->certs[ci];
	struct krl_range *n;

	if (lo == 0 || lo > hi)
		return JIT_ERR_KRL_INVALID;
	if (ps->nranges >= KRL_RANGES_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((n = grow(c->serials, &ps->serials_cap[ci], c->nserials, sizeof(*n))) == NULL)
		return JIT_ERR_ALLOC;
	c->serials = n;
	c->serials[c->nserials].lo = lo;
	c->serials[c->nserials].hi = hi;
	c->nserials++;
	ps->nranges++;
	return 0;
}

static int add_key_id(struct parse *ps, size_t ci, struct buf *sub)
{
	struct krl_certs *c = &ps->k->certs[ci];
	char *id = NULL, **n;
	int r = JIT_ERR_INTERNAL;

	if (ps->nids >= KRL_KEY_IDS_MAX) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if ((r = buf_get_cstring(sub, &id, NULL)) != 0)
		goto out;
	if ((n = grow(c->key_ids, &ps->ids_cap[ci], c->nkey_ids, sizeof(*n))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	c->key_ids = n;
	c->key_ids[c->nkey_ids++] = id;
	id = NULL;
	ps->nids++;
	r = 0;
out:
	free(id);
	return r;
}

/* Bit i of the big-endian magnitude p[0..n), counted from the least significant end. */
static int bit_at(const uint8_t *p, size_t n, uint64_t i)
{
	return (p[n - 1 - (size_t)(i / 8)] >> (i % 8)) & 1;
}

static int parse_bitmap(struct parse *ps, size_t ci, struct buf *sub)
{
	const uint8_t *p;
	uint64_t base, top, i, start;
	size_t n;
	int r, hb;

	if ((r = buf_get_u64(sub, &base)) != 0 ||
	    (r = buf_get_bignum2_bytes_direct(sub, KRL_BITMAP_MAX_BYTES, &p, &n)) != 0)
		return r;
	if (n == 0)
		return 0;
	/* The magnitude is minimal: p[0] is not zero. */
	for (hb = 7; (p[0] >> hb) == 0; hb--)
		;
	top = (uint64_t)(n - 1) * 8 + (uint64_t)hb;
	if (top > UINT64_MAX - base)
		return JIT_ERR_KRL_INVALID;
	for (i = 0; i <= top;) {
		if (!bit_at(p, n, i)) {
			i++;
			continue;
		}
		start = i;
		while (i <= top && bit_at(p, n, i))
			i++;
		if ((r = add_range(ps, ci, base + start, base + i - 1)) != 0)
			return r;
	}
	return 0;
}

/* The entry for this CA blob (empty: any CA), made on first sight. */
static int find_ca(struct parse *ps, const uint8_t *blob, size_t len, size_t *ret)
{
	struct krl *k = ps->k;
	struct key *ca = NULL;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	*ret = 0;
	for (i = 0; i < k->ncerts; i++) {
		if (len == 0 ? k->certs[i].ca == NULL
		             : (k->certs[i].ca != NULL && k->certs[i].ca->blob_len == len &&
		                memcmp(k->certs[i].ca->blob, blob, len) == 0)) {
			*ret = i;
			r = 0;
			goto out;
		}
	}
	if (len > 0) {
		if ((r = key_from_blob(blob, len, &ca)) != 0)
			goto out;
		for (i = 0; i < k->ncerts; i++) {
			if (k->certs[i].ca != NULL && key_equal_public(k->certs[i].ca, ca)) {
				*ret = i;
				r = 0;
				goto out;
			}
		}
	}
	if (k->ncerts >= KRL_CAS_MAX) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if (k->certs == NULL && (k->certs = calloc(KRL_CAS_MAX, sizeof(*k->certs))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	k->certs[k->ncerts].ca = ca;
	ca = NULL;
	*ret = k->ncerts++;
	r = 0;
out:
	key_free(ca);
	return r;
}

static int parse_certs(struct parse *ps, struct buf *sect)
{
	struct buf *sub = NULL;
	const uint8_t *blob;
	uint64_t lo, hi;
	size_t len, ci;
	uint8_t type;
	int r = JIT_ERR_INTERNAL;

	if ((r = buf_get_string_direct(sect, &blob, &len)) != 0 ||
	    (r = find_ca(ps, blob, len, &ci)) != 0 ||
	    (r = buf_get_string_direct(sect, NULL, NULL)) != 0) /* reserved */
		goto out;
	while (buf_len(sect) > 0) {
		buf_free(sub);
		sub = NULL;
		if ((r = buf_get_u8(sect, &type)) != 0 || (r = buf_froms(sect, &sub)) != 0)
			goto out;
		switch (type) {
		case KRL_SECTION_CERT_SERIAL_LIST:
			while (buf_len(sub) > 0) {
				if ((r = buf_get_u64(sub, &lo)) != 0 ||
				    (r = add_range(ps, ci, lo, lo)) != 0)
					goto out;
			}
			break;
		case KRL_SECTION_CERT_SERIAL_RANGE:
			if ((r = buf_get_u64(sub, &lo)) != 0 || (r = buf_get_u64(sub, &hi)) != 0 ||
			    (r = add_range(ps, ci, lo, hi)) != 0)
				goto out;
			break;
		case KRL_SECTION_CERT_SERIAL_BITMAP:
			if ((r = parse_bitmap(ps, ci, sub)) != 0)
				goto out;
			break;
		case KRL_SECTION_CERT_KEY_ID:
			while (buf_len(sub) > 0)
				if ((r = add_key_id(ps, ci, sub)) != 0)
					goto out;
			break;
		default:
			r = JIT_ERR_KRL_INVALID;
			goto out;
		}
		if (buf_len(sub) != 0) {
			r = JIT_ERR_TRAILING_DATA;
			goto out;
		}
	}
	r = 0;
out:
	buf_free(sub);
	return r;
}

/* Plain-key sections: strings of any length (explicit keys) or of hash_len bytes. */
static int parse_blobs(struct krl *k, struct buf *sect, size_t hash_len)
{
	size_t len;
	int r;

	while (buf_len(sect) > 0) {
		if ((r = buf_get_string_direct(sect, NULL, &len)) != 0)
			return r;
		if (hash_len != 0 && len != hash_len)
			return JIT_ERR_KRL_INVALID;
		k->nplain++;
	}
	return 0;
}

/* Sorted and merged serials, sorted unique key IDs. */
static void certs_normalize(struct krl_certs *c)
{
	size_t i, n = 0;

	c->nserials = ranges_normalize(c->serials, c->nserials);
	if (c->nkey_ids == 0)
		return;
	qsort(c->key_ids, c->nkey_ids, sizeof(*c->key_ids), str_cmp);
	for (i = 0; i < c->nkey_ids; i++) {
		if (n > 0 && strcmp(c->key_ids[n - 1], c->key_ids[i]) == 0)
			free(c->key_ids[i]);
		else
			c->key_ids[n++] = c->key_ids[i];
	}
	c->nkey_ids = n;
}

int krl_parse(const uint8_t *data, size_t len, struct krl **ret)
{
	struct parse ps;
	struct buf *b = NULL, *sect = NULL;
	uint64_t magic;
	uint32_t format;
	uint8_t type;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	memset(&ps, 0, sizeof(ps));
	if (ret != NULL)
		*ret = NULL;
	if (ret == NULL || (data == NULL && len > 0)) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (len > BUF_SIZE_MAX) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if ((ps.k = calloc(1, sizeof(*ps.k))) == NULL || (b = buf_from(data, len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_get_u64(b, &magic)) != 0)
		goto out;
	if (magic != KRL_MAGIC) {
		r = JIT_ERR_KRL_INVALID;
		goto out;
	}
	if ((r = buf_get_u32(b, &format)) != 0)
		goto out;
	if (format != KRL_FORMAT_VERSION) {
		r = JIT_ERR_KRL_INVALID;
		goto out;
	}
	if ((r = buf_get_u64(b, &ps.k->version)) != 0 || (r = buf_get_u64(b, &ps.k->date)) != 0 ||
	    (r = buf_get_u64(b, &ps.k->flags)) != 0 ||
	    (r = buf_get_string_direct(b, NULL, NULL)) != 0 || /* reserved */
	    (r = buf_get_cstring(b, &ps.k->comment, NULL)) != 0)
		goto out;
	while (buf_len(b) > 0) {
		buf_free(sect);
		sect = NULL;
		if ((r = buf_get_u8(b, &type)) != 0 || (r = buf_froms(b, &sect)) != 0)
			goto out;
		switch (type) {
		case KRL_SECTION_CERTIFICATES:
			r = parse_certs(&ps, sect);
			break;
		case KRL_SECTION_EXPLICIT_KEY:
			r = parse_blobs(ps.k, sect, 0);
			break;
		case KRL_SECTION_FINGERPRINT_SHA1:
			r = parse_blobs(ps.k, sect, 20);
			break;
		case KRL_SECTION_FINGERPRINT_SHA256:
			r = parse_blobs(ps.k, sect, 32);
			break;
		default:
			/* Signatures, extensions, anything newer: some sshd refuses them. */
			r = JIT_ERR_KRL_INVALID;
			break;
		}
		if (r != 0)
			goto out;
		if (buf_len(sect) != 0) {
			r = JIT_ERR_TRAILING_DATA;
			goto out;
		}
	}
	for (i = 0; i < ps.k->ncerts; i++)
		certs_normalize(&ps.k->certs[i]);
	*ret = ps.k;
	ps.k = NULL;
	r = 0;
out:
	krl_free(ps.k);
	buf_free(b);
	buf_free(sect);
	return r;
}

void krl_free(struct krl *k)
{
	size_t i, j;

	if (k == NULL)
		return;
	for (i = 0; i < k->ncerts; i++) {
		key_free(k->certs[i].ca);
		free(k->certs[i].serials);
		for (j = 0; j < k->certs[i].nkey_ids; j++)
			free(k->certs[i].key_ids[j]);
		free(k->certs[i].key_ids);
	}
	free(k->certs);
	free(k->comment);
	free(k);
}

static int serial_in(const struct krl_certs *c, uint64_t serial)
{
	size_t lo = 0, hi = c->nserials, mid;

	/* The last range starting at or below serial is the only candidate. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->serials[mid].lo <= serial)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && serial <= c->serials[lo - 1].hi;
}

int krl_cert_revoked(const struct krl *k, const struct key *ca, uint64_t serial, const char *key_id)
{
	const struct krl_certs *c;
	size_t i;

	if (k == NULL)
		return 0;
	for (i = 0; i < k->ncerts; i++) {
		c = &k->certs[i];
		if (c->ca != NULL && (ca == NULL || !key_equal_public(c->ca, ca)))
			continue;
		if (key_id != NULL && c->nkey_ids > 0 &&
		    bsearch(&key_id, c->key_ids, c->nkey_ids, sizeof(*c->key_ids), str_cmp) != NULL)
			return 1;
		/* Serial 0 means "none given": OpenSSH never revokes it by serial. */
		if (serial != 0 && serial_in(c, serial))
			return 1;
	}
	return 0;
}
