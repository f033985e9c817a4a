/* SPDX-License-Identifier: BSD-2-Clause */
/* The revocation store behind jit-ca revoke and jit-ca krl. */
#define _GNU_SOURCE /* mkostemp */
#include "revocation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert.h"
#include "config.h"
#include "err.h"
#include "file.h"

/* Longest line: "id " and the longest key ID. */
#define LINE_MAX_BYTES (3 + CERT_KEY_ID_MAX)

static void why_set(char *why, size_t whylen, const char *text)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", text);
}

int revocation_new(struct revocations **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret != NULL ? 0 : JIT_ERR_ALLOC;
}

void revocation_free(struct revocations *rv)
{
	size_t i;

	if (rv == NULL)
		return;
	for (i = 0; i < rv->nkey_ids; i++)
		free(rv->key_ids[i]);
	free(rv->key_ids);
	for (i = 0; i < rv->ntickets; i++)
		free(rv->tickets[i]);
	free(rv->tickets);
	free(rv->serials);
	free(rv);
}

static int cmp_range(const void *a, const void *b)
{
	const struct krl_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts, then joins overlapping and adjacent ranges. */
static void merge_serials(struct revocations *rv)
{
	size_t i, n = 0;

	if (rv->nserials == 0)
		return;
	qsort(rv->serials, rv->nserials, sizeof(*rv->serials), cmp_range);
	for (i = 1; i < rv->nserials; i++) {
		struct krl_range *last = &rv->serials[n];

		/* last->hi < UINT64_MAX before the + 1, since lo > hi would be needed otherwise. */
		if (last->hi == UINT64_MAX || rv->serials[i].lo <= last->hi + 1) {
			if (rv->serials[i].hi > last->hi)
				last->hi = rv->serials[i].hi;
		} else
			rv->serials[++n] = rv->serials[i];
	}
	rv->nserials = n + 1;
}

/* Sorts and drops duplicates. */
static void merge_strings(char **v, size_t *nv)
{
	size_t i, n = 0;

	if (*nv == 0)
		return;
	qsort(v, *nv, sizeof(*v), cmp_str);
	for (i = 1; i < *nv; i++) {
		if (strcmp(v[i], v[n]) == 0)
			free(v[i]);
		else
			v[++n] = v[i];
	}
	*nv = n + 1;
}

static void merge_key_ids(struct revocations *rv)
{
	merge_strings(rv->key_ids, &rv->nkey_ids);
}

/* Appends without merging; bounded by REVOCATION_ENTRIES_MAX. */
static int push_serials(struct revocations *rv, uint64_t lo, uint64_t hi)
{
	struct krl_range *v;

	if (lo == 0 || lo > hi)
		return JIT_ERR_INVALID_ARGUMENT;
	if (rv->nserials + rv->nkey_ids + rv->ntickets >= REVOCATION_ENTRIES_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((v = reallocarray(rv->serials, rv->nserials + 1, sizeof(*v))) == NULL)
		return JIT_ERR_ALLOC;
	rv->serials = v;
	v[rv->nserials].lo = lo;
	v[rv->nserials].hi = hi;
	rv->nserials++;
	return 0;
}

static int check_key_id(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > CERT_KEY_ID_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	/* Printable ASCII only: the file stays one entry per line, readable as is. */
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return JIT_ERR_BAD_CHARACTER;
	return 0;
}

static int push_key_id(struct revocations *rv, const char *s, size_t len)
{
	char **v, *copy;
	int r;

	if ((r = check_key_id(s, len)) != 0)
		return r;
	if (rv->nserials + rv->nkey_ids + rv->ntickets >= REVOCATION_ENTRIES_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((copy = strndup(s, len)) == NULL)
		return JIT_ERR_ALLOC;
	if ((v = reallocarray(rv->key_ids, rv->nkey_ids + 1, sizeof(*v))) == NULL) {
		free(copy);
		return JIT_ERR_ALLOC;
	}
	rv->key_ids = v;
	v[rv->nkey_ids++] = copy;
	return 0;
}

/* Appends a string to a list without merging; bounded by REVOCATION_ENTRIES_MAX. */
static int push_string(struct revocations *rv, char ***list, size_t *n, const char *s, size_t len)
{
	char **v, *copy;

	if (rv->nserials + rv->nkey_ids + rv->ntickets >= REVOCATION_ENTRIES_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((copy = strndup(s, len)) == NULL)
		return JIT_ERR_ALLOC;
	if ((v = reallocarray(*list, *n + 1, sizeof(*v))) == NULL) {
		free(copy);
		return JIT_ERR_ALLOC;
	}
	*list = v;
	v[(*n)++] = copy;
	return 0;
}

static int push_ticket(struct revocations *rv, const char *s, size_t len)
{
	char t[TICKET_ID_MAX + 1];

	if (len == 0 || len > TICKET_ID_MAX)
		return JIT_ERR_INVALID_FORMAT;
	memcpy(t, s, len);
	t[len] = '\0';
	if (!config_is_ticket_id(t))
		return JIT_ERR_INVALID_FORMAT;
	return push_string(rv, &rv->tickets, &rv->ntickets, s, len);
}

/* Decimal 1 .. 2^64-1 in exactly s[0..len), no sign, no leading zero. */
static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;

	*ret = 0;
	if (len == 0 || s[0] == '0')
		return JIT_ERR_INVALID_FORMAT;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return JIT_ERR_INVALID_FORMAT;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return JIT_ERR_INVALID_FORMAT;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* One line, without its newline. */
static int parse_line(struct revocations *rv, const char *line, size_t len, char *why,
                      size_t whylen)
{
	const char *dash;
	uint64_t lo, hi;
	size_t i;
	int r;

	if (len > 0 && line[0] == '#')
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e) {
			why_set(why, whylen, "control character or non-ASCII byte");
			return JIT_ERR_BAD_CHARACTER;
		}
	}
	if (len > LINE_MAX_BYTES) {
		why_set(why, whylen, "line too long");
		return JIT_ERR_STRING_TOO_LARGE;
	}
	if (len > 7 && memcmp(line, "serial ", 7) == 0) {
		line += 7;
		len -= 7;
		if ((dash = memchr(line, '-', len)) == NULL) {
			if ((r = parse_u64(line, len, &lo)) != 0) {
				why_set(why, whylen, "not a serial number (1 to 2^64-1)");
				return r;
			}
			hi = lo;
		} else if ((r = parse_u64(line, (size_t)(dash - line), &lo)) != 0 ||
		           (r = parse_u64(dash + 1, len - (size_t)(dash + 1 - line), &hi)) != 0) {
			why_set(why, whylen, "not a serial range N-M");
			return r;
		} else if (lo > hi) {
			why_set(why, whylen, "serial range N-M with N > M");
			return JIT_ERR_INVALID_FORMAT;
		}
		if ((r = push_serials(rv, lo, hi)) != 0)
			why_set(why, whylen, "too many entries");
		return r;
	}
	if (len > 3 && memcmp(line, "id ", 3) == 0) {
		if ((r = push_key_id(rv, line + 3, len - 3)) != 0)
			why_set(why, whylen,
			        r == JIT_ERR_NO_BUFFER_SPACE ? "too many entries" : "bad key ID");
		return r;
	}
	if (len > 7 && memcmp(line, "ticket ", 7) == 0) {
		if ((r = push_ticket(rv, line + 7, len - 7)) != 0)
			why_set(why, whylen,
			        r == JIT_ERR_NO_BUFFER_SPACE ? "too many entries"
			                                     : "bad ticket ID");
		return r;
	}
	why_set(why, whylen,
	        "not \"serial N\", \"serial N-M\", \"id KEYID\", \"ticket ID\" or a comment");
	return JIT_ERR_INVALID_FORMAT;
}

int revocation_parse(const char *text, size_t len, struct revocations **ret,
                     unsigned long *ret_line, char *why, size_t whylen)
{
	struct revocations *rv = NULL;
	const char *p = text, *end = text + len, *nl;
	unsigned long line = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_line = 0;
	why_set(why, whylen, "");
	if ((r = revocation_new(&rv)) != 0)
		goto out;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line++;
		if ((r = parse_line(rv, p, (size_t)(nl - p), why, whylen)) != 0) {
			*ret_line = line;
			goto out;
		}
		p = nl < end ? nl + 1 : end;
	}
	merge_serials(rv);
	merge_key_ids(rv);
	merge_strings(rv->tickets, &rv->ntickets);
	*ret = rv;
	rv = NULL;
	r = 0;
out:
	revocation_free(rv);
	return r;
}

int revocation_state_owner(const char *dir, struct state_owner *ret)
{
	struct stat st;

	ret->uid = (uid_t)-1;
	ret->gid = (gid_t)-1;
	if (stat(dir, &st) != 0)
		return JIT_ERR_SYSTEM;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return JIT_ERR_SYSTEM;
	}
	ret->uid = st.st_uid;
	ret->gid = st.st_gid;
	return 0;
}

int revocation_file_read(const char *path, size_t max, const struct state_owner *owner,
                         uint8_t **ret, size_t *ret_len)
{
	return file_read_owned(path, max, FILE_TRUSTED, owner != NULL ? owner->uid : (uid_t)-1, ret,
	                       ret_len);
}

int revocation_load(const char *path, const struct state_owner *owner, struct revocations **ret,
                    unsigned long *ret_line, char *why, size_t whylen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_line = 0;
	why_set(why, whylen, "");
	r = revocation_file_read(path, REVOCATION_FILE_MAX, owner, &data, &len);
	if (r == JIT_ERR_SYSTEM && errno == ENOENT) {
		/* Nothing revoked yet. */
		r = revocation_new(ret);
		goto out;
	}
	if (r != 0)
		goto out;
	r = revocation_parse((const char *)data, len, ret, ret_line, why, whylen);
out:
	free(data);
	return r;
}

int revocation_add_serials(struct revocations *rv, uint64_t lo, uint64_t hi, int *ret_added)
{
	size_t i;
	int r;

	*ret_added = 0;
	if (lo == 0 || lo > hi)
		return JIT_ERR_INVALID_ARGUMENT;
	/* Merged ranges: covered means inside one of them. */
	for (i = 0; i < rv->nserials; i++)
		if (rv->serials[i].lo <= lo && hi <= rv->serials[i].hi)
			return 0;
	if ((r = push_serials(rv, lo, hi)) != 0)
		return r;
	merge_serials(rv);
	*ret_added = 1;
	return 0;
}

int revocation_check_key_id(const char *key_id)
{
	return check_key_id(key_id, strlen(key_id));
}

int revocation_add_key_id(struct revocations *rv, const char *key_id, int *ret_added)
{
	size_t i;
	int r;

	*ret_added = 0;
	if ((r = check_key_id(key_id, strlen(key_id))) != 0)
		return r;
	for (i = 0; i < rv->nkey_ids; i++)
		if (strcmp(rv->key_ids[i], key_id) == 0)
			return 0;
	if ((r = push_key_id(rv, key_id, strlen(key_id))) != 0)
		return r;
	merge_key_ids(rv);
	*ret_added = 1;
	return 0;
}

int revocation_add_ticket(struct revocations *rv, const char *ticket, int *ret_added)
{
	int r;

	*ret_added = 0;
	if (!config_is_ticket_id(ticket))
		return JIT_ERR_INVALID_FORMAT;
	if (revocation_has_ticket(rv, ticket))
		return 0;
	if ((r = push_ticket(rv, ticket, strlen(ticket))) != 0)
		return r;
	merge_strings(rv->tickets, &rv->ntickets);
	*ret_added = 1;
	return 0;
}

int revocation_has_ticket(const struct revocations *rv, const char *ticket)
{
	return rv->ntickets > 0 &&
	       bsearch(&ticket, rv->tickets, rv->ntickets, sizeof(*rv->tickets), cmp_str) != NULL;
}

int revocation_format(const struct revocations *rv, char **ret, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = NULL;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_len = 0;
	if ((f = open_memstream(&text, &len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < rv->nserials; i++) {
		if (rv->serials[i].lo == rv->serials[i].hi)
			fprintf(f, "serial %llu\n", (unsigned long long)rv->serials[i].lo);
		else
			fprintf(f, "serial %llu-%llu\n", (unsigned long long)rv->serials[i].lo,
			        (unsigned long long)rv->serials[i].hi);
	}
	for (i = 0; i < rv->nkey_ids; i++)
		fprintf(f, "id %s\n", rv->key_ids[i]);
	for (i = 0; i < rv->ntickets; i++)
		fprintf(f, "ticket %s\n", rv->tickets[i]);
	if (ferror(f)) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		r = JIT_ERR_ALLOC;
		goto out;
	}
	f = NULL;
	*ret = text;
	*ret_len = len;
	text = NULL;
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	free(text);
	return r;
}

int revocation_file_write(const char *path, const void *data, size_t len,
                          const struct state_owner *owner)
{
	/*
	 * Owner and group before the rename: a reader that finds the new file
	 * must be able to read it (the service would otherwise refuse tickets
	 * until it could). Only root can give a file away.
	 */
	int give = geteuid() == 0 && owner != NULL;

	return file_write_atomic_owned(path, data, len, 0640, give ? owner->uid : (uid_t)-1,
	                               give ? owner->gid : (gid_t)-1);
}

int revocation_save(const struct revocations *rv, const char *path, const struct state_owner *owner)
{
	char *text = NULL;
	size_t len = 0;
	int r = JIT_ERR_INTERNAL;

	if ((r = revocation_format(rv, &text, &len)) != 0)
		goto out;
	r = revocation_file_write(path, text, len, owner);
out:
	free(text);
	return r;
}
