/* SPDX-License-Identifier: BSD-2-Clause */
#define _GNU_SOURCE /* O_NOFOLLOW, flock, fdatasync */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit.h"
#include "err.h"
#include "timefmt.h"

/* The fixed start of every record: a torn tail must begin like this. */
#define RECORD_START     "{\"seq\":"
#define RECORD_START_LEN (sizeof(RECORD_START) - 1)
/* Enough of the file's end for a torn record plus the whole line before it. */
#define TAIL_MAX (2 * AUDIT_LINE_MAX)
/* Read size when verifying: lines are assembled in a buffer of this plus a line. */
#define VERIFY_CHUNK 65536
/* "2026-11-23T08:00:00Z" and its NUL. */
#define TIME_TEXT 21

enum audit_state {
	AUDIT_OK,
	AUDIT_BROKEN, /* a write or sync failed: cut back to the durable end before going on */
	AUDIT_DEAD,   /* the file changed under us: nothing more until reopened */
};

struct audit_log {
	int fd;
	enum audit_state state;
	int batch_failed; /* an append failed since the last audit_sync */
	/* After the last record appended. */
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	off_t end;
	/* After the last record made durable. */
	uint64_t durable_seq;
	uint8_t durable_hash[AUDIT_HASH_LEN];
	off_t durable_end;
	/* The last record appended, for audit_syslog_line (0: none). */
	size_t line_len;
	char line[AUDIT_LINE_MAX];
};

static const char hex_digits[] = "0123456789abcdef";

__attribute__((format(printf, 4, 5))) static int fail(char *why, size_t whylen, int r,
                                                      const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static void why_clear(char *why, size_t whylen)
{
	if (why != NULL && whylen > 0)
		why[0] = '\0';
}

static int sha256(const void *data, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != AUDIT_HASH_LEN)
		return JIT_ERR_LIBCRYPTO;
	return 0;
}

static void hex_encode(const uint8_t *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex_digits[d[i] >> 4];
		out[2 * i + 1] = hex_digits[d[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A bounded output: once something does not fit, everything after is dropped and full is set. */
struct out {
	char *p;
	size_t len, cap;
	int full;
};

static void out_put(struct out *o, const void *d, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, d, n);
	o->len += n;
}

static void out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void out_char(struct out *o, char c)
{
	out_put(o, &c, 1);
}

static void out_u64(struct out *o, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	out_put(o, tmp + i, sizeof(tmp) - i);
}

static void out_escape_byte(struct out *o, uint8_t c, const char *prefix)
{
	char e[2] = {hex_digits[c >> 4], hex_digits[c & 0xf]};

	out_str(o, prefix);
	out_put(o, e, 2);
}

/* Length of the well-formed UTF-8 sequence (RFC 3629) at s, or 0. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * JSON string contents: '"' and '\' escaped by '\', controls and DEL as
 * \u00XX, well-formed UTF-8 as is, and each byte of anything else as
 * \u0080..\u00ff. The writer escapes nothing else, so the text is canonical.
 */
static void out_json_string(struct out *o, const char *str)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t n = strlen(str), i = 0, k;

	while (i < n) {
		if (s[i] == '"' || s[i] == '\\') {
			out_char(o, '\\');
			out_char(o, (char)s[i++]);
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			out_escape_byte(o, s[i++], "\\u00");
		} else if (s[i] < 0x80) {
			out_char(o, (char)s[i++]);
		} else if ((k = utf8_len(s + i, n - i)) > 0) {
			out_put(o, s + i, k);
			i += k;
		} else {
			out_escape_byte(o, s[i++], "\\u00");
		}
	}
}

static int key_valid(const char *key)
{
	size_t i;

	if (key == NULL || key[0] < 'a' || key[0] > 'z')
		return 0;
	for (i = 1; key[i] != '\0'; i++) {
		if (i >= AUDIT_KEY_MAX)
			return 0;
		if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
		      key[i] == '_'))
			return 0;
	}
	return strcmp(key, "seq") != 0 && strcmp(key, "time") != 0 && strcmp(key, "prev") != 0;
}

/* Field i's problem as text, or NULL when fields[0..i] are fine. */
static const char *field_problem(const struct audit_field *fields, size_t i)
{
	const struct audit_field *f = &fields[i];
	size_t j;

	if (!key_valid(f->key))
		return "bad name";
	for (j = 0; j < i; j++)
		if (strcmp(fields[j].key, f->key) == 0)
			return "duplicate name";
	switch (f->type) {
	case AUDIT_T_STR:
		if (f->s == NULL)
			return "no string";
		break;
	case AUDIT_T_U64:
		break;
	case AUDIT_T_BOOL:
		if (f->u > 1)
			return "bad boolean";
		break;
	default:
		return "bad type";
	}
	return NULL;
}

int audit_record_format(uint64_t seq, uint64_t time, const uint8_t prev[AUDIT_HASH_LEN],
                        const struct audit_field *fields, size_t n, char *out, size_t outlen,
                        size_t *ret_len)
{
	char ts[TIME_TEXT], prevhex[AUDIT_HASH_HEX_SIZE];
	struct out o;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	if (ret_len != NULL)
		*ret_len = 0;
	if (out == NULL || outlen == 0 || prev == NULL || (fields == NULL && n > 0)) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	out[0] = '\0';
	if (seq == 0 || n > AUDIT_FIELDS_MAX) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (field_problem(fields, i) != NULL) {
			r = JIT_ERR_INVALID_ARGUMENT;
			goto out;
		}
	}
	if ((r = time_format_rfc3339(time, ts, sizeof(ts))) != 0)
		goto out;
	hex_encode(prev, AUDIT_HASH_LEN, prevhex);
	/* Room for the NUL, and never longer than a record (its newline aside). */
	o.p = out;
	o.len = 0;
	o.cap = outlen - 1 < AUDIT_LINE_MAX - 1 ? outlen - 1 : AUDIT_LINE_MAX - 1;
	o.full = 0;
	out_str(&o, RECORD_START);
	out_u64(&o, seq);
	out_str(&o, ",\"time\":\"");
	out_str(&o, ts);
	out_str(&o, "\",\"prev\":\"");
	out_str(&o, prevhex);
	out_char(&o, '"');
	for (i = 0; i < n; i++) {
		out_str(&o, ",\"");
		out_str(&o, fields[i].key);
		out_str(&o, "\":");
		switch (fields[i].type) {
		case AUDIT_T_STR:
			out_char(&o, '"');
			out_json_string(&o, fields[i].s);
			out_char(&o, '"');
			break;
		case AUDIT_T_U64:
			out_u64(&o, fields[i].u);
			break;
		case AUDIT_T_BOOL:
			out_str(&o, fields[i].u != 0 ? "true" : "false");
			break;
		}
	}
	out_char(&o, '}');
	if (o.full) {
		out[0] = '\0';
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	out[o.len] = '\0';
	if (ret_len != NULL)
		*ret_len = o.len;
	r = 0;
out:
	return r;
}

/* A read position in one line. */
struct cur {
	const char *p;
	size_t n, i;
};

static int cur_lit(struct cur *c, const char *s)
{
	size_t k = strlen(s);

	if (k > c->n - c->i || memcmp(c->p + c->i, s, k) != 0)
		return 0;
	c->i += k;
	return 1;
}

static int cur_u64(struct cur *c, uint64_t *ret)
{
	uint64_t v = 0;
	size_t start = c->i;
	unsigned d;

	while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
		d = (unsigned)(c->p[c->i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
		c->i++;
	}
	if (c->i == start)
		return 0;
	*ret = v;
	return 1;
}

/*
 * Decodes a string whose opening quote is consumed, through its closing
 * quote, into t (cap bytes, NUL included). Accepts only the escapes the
 * writer uses; whether it would have used them here is checked afterwards
 * by formatting the record again.
 */
static int cur_string(struct cur *c, char *t, size_t cap, size_t *ret_len, char *why, size_t whylen)
{
	size_t k = 0;
	uint8_t ch;
	int v, d, j;

	for (;;) {
		if (c->i >= c->n)
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "unterminated string");
		ch = (uint8_t)c->p[c->i++];
		if (ch == '"')
			break;
		if (ch < 0x20)
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT,
			            "control character in a string");
		if (ch == '\\') {
			if (c->i >= c->n)
				return fail(why, whylen, JIT_ERR_INVALID_FORMAT,
				            "unterminated string");
			ch = (uint8_t)c->p[c->i++];
			if (ch == 'u') {
				if (c->n - c->i < 4)
					return fail(why, whylen, JIT_ERR_INVALID_FORMAT,
					            "short \\u escape");
				for (v = 0, j = 0; j < 4; j++) {
					if ((d = hex_value(c->p[c->i++])) < 0)
						return fail(why, whylen, JIT_ERR_INVALID_FORMAT,
						            "bad \\u escape");
					v = v * 16 + d;
				}
				/* The writer escapes single bytes only, and never NUL. */
				if (v == 0 || v > 0xff)
					return fail(why, whylen, JIT_ERR_INVALID_FORMAT,
					            "\\u escape out of range");
				ch = (uint8_t)v;
			} else if (ch != '"' && ch != '\\') {
				return fail(why, whylen, JIT_ERR_INVALID_FORMAT,
				            "unsupported escape");
			}
		}
		if (k + 1 >= cap)
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "string too long");
		t[k++] = (char)ch;
	}
	t[k] = '\0';
	*ret_len = k;
	return 0;
}

static int parse_fields(struct cur *c, struct audit_record *rec, char *why, size_t whylen)
{
	struct audit_field *f;
	const char *problem;
	size_t tpos = 0, k;
	int r;

	while (c->i < c->n && c->p[c->i] == ',') {
		c->i++;
		if (rec->nfields == AUDIT_FIELDS_MAX)
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "more than %d fields",
			            AUDIT_FIELDS_MAX);
		f = &rec->fields[rec->nfields];
		if (!cur_lit(c, "\""))
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "field %zu: no name",
			            rec->nfields + 1);
		f->key = rec->text + tpos;
		if ((r = cur_string(c, rec->text + tpos, sizeof(rec->text) - tpos, &k, why,
		                    whylen)) != 0)
			return r;
		tpos += k + 1;
		if (!cur_lit(c, ":"))
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "field %zu: no ':'",
			            rec->nfields + 1);
		if (cur_lit(c, "\"")) {
			f->type = AUDIT_T_STR;
			f->s = rec->text + tpos;
			if ((r = cur_string(c, rec->text + tpos, sizeof(rec->text) - tpos, &k, why,
			                    whylen)) != 0)
				return r;
			tpos += k + 1;
		} else if (cur_lit(c, "true")) {
			f->type = AUDIT_T_BOOL;
			f->u = 1;
		} else if (cur_lit(c, "false")) {
			f->type = AUDIT_T_BOOL;
			f->u = 0;
		} else if (cur_u64(c, &f->u)) {
			f->type = AUDIT_T_U64;
		} else {
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "field %zu: bad value",
			            rec->nfields + 1);
		}
		if ((problem = field_problem(rec->fields, rec->nfields)) != NULL)
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "field %zu: %s",
			            rec->nfields + 1, problem);
		rec->nfields++;
	}
	return 0;
}

int audit_record_parse(const char *line, size_t len, struct audit_record *rec, char *why,
                       size_t whylen)
{
	char canon[AUDIT_LINE_MAX], ts[TIME_TEXT];
	struct cur c = {line, len, 0};
	size_t k, j;
	int d1, d2, r = JIT_ERR_INTERNAL;

	why_clear(why, whylen);
	if (rec == NULL || (line == NULL && len > 0))
		return JIT_ERR_INVALID_ARGUMENT;
	rec->seq = 0;
	rec->time = 0;
	memset(rec->prev, 0, sizeof(rec->prev));
	rec->nfields = 0;
	if (len >= AUDIT_LINE_MAX)
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "record longer than %d bytes",
		            AUDIT_LINE_MAX - 1);
	if (!cur_lit(&c, RECORD_START) || !cur_u64(&c, &rec->seq))
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "no seq");
	if (rec->seq == 0)
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "seq 0");
	if (!cur_lit(&c, ",\"time\":\""))
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "no time");
	for (k = 0; c.i + k < c.n && c.p[c.i + k] != '"' && k < sizeof(ts) - 1; k++)
		ts[k] = c.p[c.i + k];
	ts[k] = '\0';
	c.i += k;
	if (!cur_lit(&c, "\"") || time_parse_rfc3339(ts, &rec->time) != 0)
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "bad time");
	if (!cur_lit(&c, ",\"prev\":\"") || c.n - c.i < 2 * AUDIT_HASH_LEN)
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "no prev");
	for (j = 0; j < AUDIT_HASH_LEN; j++) {
		d1 = hex_value(c.p[c.i + 2 * j]);
		d2 = hex_value(c.p[c.i + 2 * j + 1]);
		if (d1 < 0 || d2 < 0)
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "bad prev");
		rec->prev[j] = (uint8_t)(d1 * 16 + d2);
	}
	c.i += 2 * AUDIT_HASH_LEN;
	if (!cur_lit(&c, "\""))
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "bad prev");
	if ((r = parse_fields(&c, rec, why, whylen)) != 0)
		return r;
	if (!cur_lit(&c, "}")) {
		if (rec->nfields == 0)
			return fail(why, whylen, JIT_ERR_INVALID_FORMAT,
			            "after prev: no ',' or '}'");
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "after field %zu: no ',' or '}'",
		            rec->nfields);
	}
	if (c.i != c.n)
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "data after '}'");
	/* Exactly the bytes the writer makes, so that one record has one form. */
	if (audit_record_format(rec->seq, rec->time, rec->prev, rec->fields, rec->nfields, canon,
	                        sizeof(canon), &k) != 0 ||
	    k != len || memcmp(canon, line, len) != 0)
		return fail(why, whylen, JIT_ERR_INVALID_FORMAT, "not in canonical form");
	return 0;
}

void audit_chain_init(struct audit_chain *c)
{
	if (c == NULL)
		return;
	c->seq = 0;
	memset(c->hash, 0, sizeof(c->hash));
}

int audit_chain_check(struct audit_chain *c, const char *line, size_t len, char *why, size_t whylen)
{
	struct audit_record rec;
	uint8_t h[AUDIT_HASH_LEN];
	int r = JIT_ERR_INTERNAL;

	why_clear(why, whylen);
	if (c == NULL || (line == NULL && len > 0))
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = audit_record_parse(line, len, &rec, why, whylen)) != 0)
		return r;
	if (c->seq == UINT64_MAX || rec.seq != c->seq + 1)
		return fail(why, whylen, JIT_ERR_AUDIT_CHAIN, "seq %" PRIu64 ", expected %" PRIu64,
		            rec.seq, c->seq + 1);
	if (memcmp(rec.prev, c->hash, AUDIT_HASH_LEN) != 0) {
		if (c->seq == 0)
			return fail(why, whylen, JIT_ERR_AUDIT_CHAIN,
			            "prev of the first record is not zero");
		return fail(why, whylen, JIT_ERR_AUDIT_CHAIN,
		            "prev is not the hash of record %" PRIu64, c->seq);
	}
	if ((r = sha256(line, len, h)) != 0)
		return r;
	c->seq = rec.seq;
	memcpy(c->hash, h, sizeof(h));
	return 0;
}

/* What the end of the file says. */
struct tail {
	off_t keep; /* the size without a torn last line */
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
};

/* A torn record is a prefix of one, possibly followed by zeros a crash left. */
static int torn_prefix_ok(const uint8_t *p, size_t n)
{
	while (n > 0 && p[n - 1] == '\0')
		n--;
	if (n > RECORD_START_LEN)
		n = RECORD_START_LEN;
	return memcmp(p, RECORD_START, n) == 0;
}

static const uint8_t *last_newline(const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (p[n - 1] == '\n')
			return p + n - 1;
		n--;
	}
	return NULL;
}

/*
 * Reads the last TAIL_MAX bytes of a size-byte file: JIT_ERR_SYSTEM for
 * I/O errors (errno set), JIT_ERR_AUDIT_CHAIN when the end is not a record
 * followed by at most a torn one.
 */
static int tail_read(int fd, off_t size, struct tail *t)
{
	struct audit_record *rec = NULL;
	const uint8_t *nl, *prevnl, *line, *frag;
	uint8_t *buf = NULL;
	size_t want, got = 0, fraglen;
	off_t start;
	ssize_t n;
	int r = JIT_ERR_INTERNAL;

	t->keep = 0;
	t->seq = 0;
	memset(t->hash, 0, sizeof(t->hash));
	if (size == 0)
		return 0;
	want = size < TAIL_MAX ? (size_t)size : TAIL_MAX;
	start = size - (off_t)want;
	if ((buf = malloc(want)) == NULL || (rec = malloc(sizeof(*rec))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	while (got < want) {
		n = pread(fd, buf + got, want - got, start + (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = JIT_ERR_SYSTEM;
			goto out;
		}
		if (n == 0) {
			/* Shrunk while we read: not ours alone. */
			r = JIT_ERR_AUDIT_CHAIN;
			goto out;
		}
		got += (size_t)n;
	}
	nl = last_newline(buf, want);
	frag = nl != NULL ? nl + 1 : buf;
	fraglen = (size_t)(buf + want - frag);
	/* After the last newline only a torn record may follow, and it is shorter than a line. */
	if ((nl == NULL && start > 0) || fraglen >= AUDIT_LINE_MAX ||
	    !torn_prefix_ok(frag, fraglen)) {
		r = JIT_ERR_AUDIT_CHAIN;
		goto out;
	}
	if (nl == NULL) {
		r = 0;
		goto out;
	}
	prevnl = last_newline(buf, (size_t)(nl - buf));
	if (prevnl == NULL && start > 0) {
		/* The last line does not fit in what we read: too long for a record. */
		r = JIT_ERR_AUDIT_CHAIN;
		goto out;
	}
	line = prevnl != NULL ? prevnl + 1 : buf;
	if (audit_record_parse((const char *)line, (size_t)(nl - line), rec, NULL, 0) != 0) {
		r = JIT_ERR_AUDIT_CHAIN;
		goto out;
	}
	if ((r = sha256(line, (size_t)(nl - line), t->hash)) != 0)
		goto out;
	t->seq = rec->seq;
	t->keep = start + (off_t)(nl + 1 - buf);
	r = 0;
out:
	free(rec);
	free(buf);
	return r;
}

/* Makes a newly created file's name durable. */
static int sync_dir_of(const char *path)
{
	char *dir = NULL, *slash;
	int fd = -1, r = JIT_ERR_INTERNAL;

	if ((dir = strdup(path)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(fd) == -1) {
		r = JIT_ERR_AUDIT_WRITE;
		goto out;
	}
	r = 0;
out:
	if (fd != -1)
		close(fd);
	free(dir);
	return r;
}

int audit_open(const char *path, struct audit_log **ret, size_t *ret_dropped)
{
	const int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
	struct audit_log *a = NULL;
	struct stat st;
	struct tail t;
	int fd = -1, created = 0, fl, saved_errno = 0, r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (ret_dropped != NULL)
		*ret_dropped = 0;
	if (path == NULL || path[0] == '\0' || ret == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	/* Create only when absent, to know whether the directory needs a sync. */
	if ((fd = open(path, flags)) == -1 && errno == ENOENT) {
		if ((fd = open(path, flags | O_CREAT | O_EXCL, 0640)) != -1)
			created = 1;
		else if (errno == EEXIST)
			fd = open(path, flags);
	}
	if (fd == -1) {
		r = (errno == ELOOP || errno == ENXIO || errno == EISDIR) ? JIT_ERR_FILE_TYPE
		                                                          : JIT_ERR_SYSTEM;
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = JIT_ERR_FILE_TYPE;
		goto out;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022) != 0) {
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1 ||
	    flock(fd, LOCK_EX | LOCK_NB) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (created && (r = sync_dir_of(path)) != 0)
		goto out;
	/* Size again: another writer may have added to it before we held the lock. */
	if (fstat(fd, &st) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((r = tail_read(fd, st.st_size, &t)) != 0)
		goto out;
	if (t.keep < st.st_size && ftruncate(fd, t.keep) == -1) {
		r = JIT_ERR_AUDIT_WRITE;
		goto out;
	}
	/* What a killed writer left unsynced becomes durable before we chain onto it. */
	if (fdatasync(fd) == -1) {
		r = JIT_ERR_AUDIT_WRITE;
		goto out;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	a->fd = fd;
	fd = -1;
	a->state = AUDIT_OK;
	a->seq = a->durable_seq = t.seq;
	memcpy(a->hash, t.hash, sizeof(a->hash));
	memcpy(a->durable_hash, t.hash, sizeof(a->durable_hash));
	a->end = a->durable_end = t.keep;
	if (ret_dropped != NULL)
		*ret_dropped = (size_t)(st.st_size - t.keep);
	*ret = a;
	a = NULL;
	r = 0;
out:
	saved_errno = errno;
	if (fd != -1)
		close(fd);
	free(a);
	errno = saved_errno;
	return r;
}

void audit_close(struct audit_log *a)
{
	if (a == NULL)
		return;
	if (a->fd != -1)
		close(a->fd);
	free(a);
}

uint64_t audit_seq(const struct audit_log *a)
{
	if (a == NULL)
		return 0;
	/* After a failure the records since the last sync are as good as gone. */
	return a->state == AUDIT_BROKEN ? a->durable_seq : a->seq;
}

/*
 * Cuts the file back to the last durable record and checks, from the disk,
 * that this is the record we made durable.
 */
static int recover(struct audit_log *a)
{
	struct stat st;
	struct tail t;
	int r;

	if (fstat(a->fd, &st) == -1)
		return JIT_ERR_AUDIT_WRITE;
	if (st.st_size < a->durable_end) {
		a->state = AUDIT_DEAD;
		return JIT_ERR_AUDIT_CHAIN;
	}
	if (st.st_size > a->durable_end && ftruncate(a->fd, a->durable_end) == -1)
		return JIT_ERR_AUDIT_WRITE;
	if (fdatasync(a->fd) == -1)
		return JIT_ERR_AUDIT_WRITE;
	if ((r = tail_read(a->fd, a->durable_end, &t)) != 0) {
		if (r == JIT_ERR_SYSTEM)
			return JIT_ERR_AUDIT_WRITE;
		if (r == JIT_ERR_AUDIT_CHAIN)
			a->state = AUDIT_DEAD;
		return r;
	}
	if (t.keep != a->durable_end || t.seq != a->durable_seq ||
	    memcmp(t.hash, a->durable_hash, AUDIT_HASH_LEN) != 0) {
		a->state = AUDIT_DEAD;
		return JIT_ERR_AUDIT_CHAIN;
	}
	a->seq = a->durable_seq;
	memcpy(a->hash, a->durable_hash, AUDIT_HASH_LEN);
	a->end = a->durable_end;
	a->line_len = 0;
	a->state = AUDIT_OK;
	return 0;
}

int audit_append(struct audit_log *a, uint64_t now, const struct audit_field *fields, size_t n,
                 uint64_t *ret_seq)
{
	char line[AUDIT_LINE_MAX];
	uint8_t h[AUDIT_HASH_LEN];
	size_t len, done = 0;
	ssize_t w;
	off_t pos;
	int r = JIT_ERR_INTERNAL;

	if (ret_seq != NULL)
		*ret_seq = 0;
	if (a == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (a->state == AUDIT_DEAD) {
		a->batch_failed = 1;
		r = JIT_ERR_AUDIT_CHAIN;
		goto out;
	}
	if (a->state == AUDIT_BROKEN && (r = recover(a)) != 0) {
		a->batch_failed = 1;
		goto out;
	}
	if (a->seq == UINT64_MAX) {
		r = JIT_ERR_AUDIT_CHAIN;
		goto out;
	}
	if ((r = audit_record_format(a->seq + 1, now, a->hash, fields, n, line, sizeof(line),
	                             &len)) != 0 ||
	    (r = sha256(line, len, h)) != 0)
		goto out;
	line[len] = '\n';
	/* One write for the whole line; a short one is continued, an error is final. */
	while (done < len + 1) {
		w = write(a->fd, line + done, len + 1 - done);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			a->state = AUDIT_BROKEN;
			a->batch_failed = 1;
			r = JIT_ERR_AUDIT_WRITE;
			goto out;
		}
		done += (size_t)w;
	}
	/* O_APPEND wrote at the end of the file: that must be where our last record ended. */
	if ((pos = lseek(a->fd, 0, SEEK_CUR)) == -1) {
		a->state = AUDIT_BROKEN;
		a->batch_failed = 1;
		r = JIT_ERR_AUDIT_WRITE;
		goto out;
	}
	if (pos != a->end + (off_t)(len + 1)) {
		a->state = AUDIT_DEAD;
		a->batch_failed = 1;
		r = JIT_ERR_AUDIT_CHAIN;
		goto out;
	}
	a->seq++;
	memcpy(a->hash, h, sizeof(h));
	a->end = pos;
	memcpy(a->line, line, len);
	a->line_len = len;
	if (ret_seq != NULL)
		*ret_seq = a->seq;
	r = 0;
out:
	return r;
}

int audit_sync(struct audit_log *a)
{
	int r;

	if (a == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (a->state == AUDIT_DEAD) {
		a->batch_failed = 0;
		return JIT_ERR_AUDIT_CHAIN;
	}
	if (a->batch_failed) {
		/*
		 * Records of this batch may be gone: the caller must refuse them
		 * all. Those that were written go too (the next append or sync
		 * cuts back to the durable end), or a later sync would make durable
		 * an "issued" record of a request that was refused.
		 */
		a->batch_failed = 0;
		a->state = AUDIT_BROKEN;
		return JIT_ERR_AUDIT_WRITE;
	}
	if (a->state == AUDIT_BROKEN && (r = recover(a)) != 0)
		return r;
	if (a->end == a->durable_end)
		return 0;
	if (fdatasync(a->fd) == -1) {
		/* Never retried: after a failed fdatasync the page cache may be lying. */
		a->state = AUDIT_BROKEN;
		return JIT_ERR_AUDIT_WRITE;
	}
	a->durable_seq = a->seq;
	memcpy(a->durable_hash, a->hash, AUDIT_HASH_LEN);
	a->durable_end = a->end;
	return 0;
}

/* A syslog value: quoted, '"' and '\' escaped, bytes outside printable ASCII as \xNN. */
static void out_syslog_string(struct out *o, const char *str)
{
	const uint8_t *s = (const uint8_t *)str;

	out_char(o, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			out_char(o, '\\');
			out_char(o, (char)*s);
		} else if (*s < 0x20 || *s >= 0x7f) {
			out_escape_byte(o, *s, "\\x");
		} else {
			out_char(o, (char)*s);
		}
	}
	out_char(o, '"');
}

int audit_syslog_line(const struct audit_log *a, char *out, size_t outlen)
{
	struct audit_record *rec = NULL;
	char ts[TIME_TEXT], hash[AUDIT_HASH_HEX_SIZE];
	struct out o;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	if (out == NULL || outlen == 0) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	out[0] = '\0';
	if (a == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (a->line_len == 0) {
		r = JIT_ERR_NOT_FOUND;
		goto out;
	}
	if ((rec = malloc(sizeof(*rec))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = audit_record_parse(a->line, a->line_len, rec, NULL, 0)) != 0 ||
	    (r = time_format_rfc3339(rec->time, ts, sizeof(ts))) != 0)
		goto out;
	hex_encode(a->hash, AUDIT_HASH_LEN, hash);
	o.p = out;
	o.len = 0;
	o.cap = outlen - 1;
	o.full = 0;
	out_str(&o, "seq=");
	out_u64(&o, rec->seq);
	out_str(&o, " time=");
	out_str(&o, ts);
	out_str(&o, " hash=");
	out_str(&o, hash);
	for (i = 0; i < rec->nfields; i++) {
		out_char(&o, ' ');
		out_str(&o, rec->fields[i].key);
		out_char(&o, '=');
		if (rec->fields[i].type == AUDIT_T_STR)
			out_syslog_string(&o, rec->fields[i].s);
		else if (rec->fields[i].type == AUDIT_T_U64)
			out_u64(&o, rec->fields[i].u);
		else
			out_str(&o, rec->fields[i].u != 0 ? "true" : "false");
	}
	if (o.full) {
		out[0] = '\0';
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	out[o.len] = '\0';
	r = 0;
out:
	free(rec);
	return r;
}

int audit_verify(const char *path, uint64_t *ret_records, uint64_t *ret_bad_line, char *msg,
                 size_t msglen)
{
	struct audit_chain chain;
	char why[128], head[AUDIT_HASH_HEX_SIZE];
	uint8_t *buf = NULL, *nl;
	const size_t cap = VERIFY_CHUNK + AUDIT_LINE_MAX;
	size_t have = 0, start;
	uint64_t line = 0;
	struct stat st;
	ssize_t n;
	int fd = -1, fl, saved_errno = 0, r = JIT_ERR_INTERNAL;

	if (ret_records != NULL)
		*ret_records = 0;
	if (ret_bad_line != NULL)
		*ret_bad_line = 0;
	why_clear(msg, msglen);
	why[0] = '\0';
	if (path == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		r = (errno == ELOOP || errno == ENXIO) ? JIT_ERR_FILE_TYPE : JIT_ERR_SYSTEM;
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = JIT_ERR_FILE_TYPE;
		goto out;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((buf = malloc(cap)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	audit_chain_init(&chain);
	/* buf holds less than one line when we read: lines are bounded, the file is not. */
	for (;;) {
		n = read(fd, buf + have, cap - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = JIT_ERR_SYSTEM;
			goto out;
		}
		if (n == 0) {
			if (have > 0) {
				line++;
				snprintf(why, sizeof(why),
				         "no newline at the end (an unfinished write)");
				r = JIT_ERR_AUDIT_CHAIN;
				goto out;
			}
			break;
		}
		have += (size_t)n;
		start = 0;
		while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
			line++;
			r = audit_chain_check(&chain, (const char *)buf + start,
			                      (size_t)(nl - (buf + start)), why, sizeof(why));
			if (r == JIT_ERR_INVALID_FORMAT || r == JIT_ERR_AUDIT_CHAIN) {
				r = JIT_ERR_AUDIT_CHAIN;
				goto out;
			}
			if (r != 0)
				goto out;
			start = (size_t)(nl + 1 - buf);
		}
		if (have - start >= AUDIT_LINE_MAX) {
			line++;
			snprintf(why, sizeof(why), "record longer than %d bytes",
			         AUDIT_LINE_MAX - 1);
			r = JIT_ERR_AUDIT_CHAIN;
			goto out;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	hex_encode(chain.hash, AUDIT_HASH_LEN, head);
	if (msg != NULL && msglen > 0)
		snprintf(msg, msglen, "%" PRIu64 " records, head %s", chain.seq, head);
	if (ret_records != NULL)
		*ret_records = chain.seq;
	r = 0;
out:
	saved_errno = errno;
	if (r == JIT_ERR_AUDIT_CHAIN) {
		if (msg != NULL && msglen > 0)
			snprintf(msg, msglen, "line %" PRIu64 ": %s", line, why);
		if (ret_records != NULL)
			*ret_records = line - 1;
		if (ret_bad_line != NULL)
			*ret_bad_line = line;
	}
	if (fd != -1)
		close(fd);
	free(buf);
	errno = saved_errno;
	return r;
}
