/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit.conf and the tickets file. The text is read with file_read(), then
 * passes our own lexer and grammar walk before libconfig sees it, for
 * reasons libconfig 1.5 gives us: "@include" opens any path it names
 * (config_set_include_dir(NULL) even crashes), integer literals beyond 32
 * bits wrap silently, an unterminated comment silently ends the file, and
 * some syntax errors leak a string. The same walk finds one ticket among
 * 100,000 without building the others (libconfig needs most of a second
 * and 200 MB for such a file), reading the file in windows; an index kept
 * beside the file spares a login even that walk while the file is
 * unchanged (see "The index of a tickets file").
 *
 * Settings are described by tables (struct schema): one engine checks
 * unknown names, types, ranges, required keys and defaults, and one walker
 * frees what was built, so no key can be forgotten by either.
 */
#define _GNU_SOURCE /* strerror_r returning char * */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/crypto.h>

#include "addr.h"
#include "config.h"
#include "quote.h"
#include "err.h"
#include "file.h"
#include "timefmt.h"

#define SETTING_PATH_MAX 192 /* "ca.requesters[63].critical_options[255]" and then some */
#define QUOTE_MAX        72  /* a value as shown in a message */
#define TEXT_SHORT_MAX   256 /* free text such as a freeze reason */
#define TZ_NAME_MAX      255
#define HOST_NAME_MAX_   253
#define SUN_PATH_MAX     107 /* sizeof(sun_path) - 1 */
#define SCAN_DEPTH       32  /* nesting the grammar walk follows */

#define MINUTE 60ULL
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

/* A key that every entry of a list must have, whatever groups were asked for. */
#define REQ_ALWAYS 0x100

struct ctx {
	const char *name; /* file, for messages */
	unsigned groups;  /* CONFIG_* asked for */
	unsigned line_offset;
	char *msg;
	size_t msglen;
	/* Messages about an entry name it: " (ticket \"CHG-1\")". */
	const char *label_what;
	const char *label;
};

static void ctx_init(struct ctx *cx, const char *name, unsigned groups, char *msg, size_t msglen)
{
	memset(cx, 0, sizeof(*cx));
	cx->name = name;
	cx->groups = groups;
	cx->msg = msglen > 0 ? msg : NULL;
	cx->msglen = msglen;
	if (cx->msg != NULL)
		cx->msg[0] = '\0';
}

/* Writes "NAME:LINE: PATH: DETAIL LABEL" and returns code. */
static int fail(struct ctx *cx, int code, unsigned line, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static int fail(struct ctx *cx, int code, unsigned line, const char *path, const char *fmt, ...)
{
	char detail[CONFIG_MSG_MAX], where[16] = "", label[QUOTE_MAX + 32] = "", q[QUOTE_MAX];
	va_list ap;

	if (cx->msg == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%u", line + cx->line_offset);
	if (cx->label != NULL)
		snprintf(label, sizeof(label), " (%s %s)", cx->label_what,
		         quote(cx->label, q, sizeof(q)));
	snprintf(cx->msg, cx->msglen, "%s%s: %s%s%s%s", cx->name, where, path != NULL ? path : "",
	         path != NULL && path[0] != '\0' ? ": " : "", detail, label);
	return code;
}

static unsigned setting_line(const config_setting_t *s)
{
	return s != NULL ? config_setting_source_line(s) : 0;
}

/*
 * Setting paths are for messages but built for every setting, so without
 * printf. Appends n bytes of s at out[at]; what does not fit is cut and
 * marked "...".
 */
static void path_append(char *out, size_t outlen, size_t at, const char *s, size_t n)
{
	if (at + n < outlen) {
		memcpy(out + at, s, n);
		out[at + n] = '\0';
		return;
	}
	memcpy(out + at, s, outlen - 1 - at);
	memcpy(out + outlen - 4, "...", 4);
}

static void path_key(char *out, size_t outlen, const char *parent, const char *name)
{
	size_t n = strnlen(parent, outlen - 1);

	memmove(out, parent, n);
	out[n] = '\0';
	if (n > 0) {
		path_append(out, outlen, n, ".", 1);
		n = strlen(out);
	}
	path_append(out, outlen, n, name, strlen(name));
}

static void path_index(char *out, size_t outlen, const char *parent, size_t i)
{
	char num[24];
	size_t n = strnlen(parent, outlen - 1), d = sizeof(num);

	num[--d] = ']';
	do {
		num[--d] = (char)('0' + i % 10);
		i /= 10;
	} while (i > 0);
	num[--d] = '[';
	memmove(out, parent, n);
	out[n] = '\0';
	path_append(out, outlen, n, num + d, sizeof(num) - d);
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_GROUP:
		return "a group { }";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ]";
	case CONFIG_TYPE_LIST:
		return "a list ( )";
	default:
		return "nothing";
	}
}

static const char *fmt_duration(uint64_t secs, char *out, size_t outlen)
{
	if (time_format_duration(secs, out, outlen) != 0)
		snprintf(out, outlen, "%llus", (unsigned long long)secs);
	return out;
}

/*
 * The lexer: libconfig 1.5's tokens (see its scanner.l), checked as we go.
 */

enum {
	LX_EOF,
	LX_NAME,
	LX_EQUALS,
	LX_COMMA,
	LX_SEMICOLON,
	LX_GROUP_OPEN,
	LX_GROUP_CLOSE,
	LX_ARRAY_OPEN,
	LX_ARRAY_CLOSE,
	LX_LIST_OPEN,
	LX_LIST_CLOSE,
	LX_STRING, /* s and len include the quotes */
	LX_SCALAR, /* number or boolean */
};

/*
 * The text [p, end) is followed by a NUL and holds no other (checked
 * first). From memory it is all there is (eof). A tickets file is read in
 * pieces: where a token or a comment reaches end before eof, the lexer
 * returns LX_MORE, having consumed no more than blanks and whole comments,
 * and is called again once the walk has read on.
 */
struct lexer {
	const char *p;
	const char *end;
	unsigned line;
	bool eof;
};

#define LX_MORE 1

struct token {
	int type;
	const char *s;
	size_t len;
	unsigned line;
};

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Integer, 64-bit integer ("L"), hex or float, as libconfig's patterns
 * match them. Integers it would store wrapped are refused.
 */
static int lex_number(struct ctx *cx, struct lexer *lx, struct token *tk)
{
	const char *p = lx->p, *end = lx->end, *q;
	uint64_t v = 0, limit;
	bool neg = false, is_float = false, hex = false, wide = false, over = false;
	size_t digits = 0;
	int d;

	if (end - p >= 3 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && hex_value(p[2]) >= 0) {
		hex = true;
		for (p += 2; p < end && (d = hex_value(*p)) >= 0; p++) {
			if (v > (UINT64_MAX >> 4))
				over = true;
			v = (v << 4) | (uint64_t)d;
		}
	} else {
		if (*p == '-' || *p == '+')
			neg = *p++ == '-';
		for (; p < end && is_digit(*p); p++, digits++) {
			if (v > (UINT64_MAX - 9) / 10)
				over = true;
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (p < end && *p == '.') {
			is_float = true;
			for (p++; p < end && is_digit(*p); p++)
				;
		}
		if (p < end && (*p == 'e' || *p == 'E')) {
			q = p + 1;
			if (q < end && (*q == '+' || *q == '-'))
				q++;
			if (q < end && is_digit(*q)) {
				is_float = true;
				for (p = q; p < end && is_digit(*p); p++)
					;
			}
		}
		if (!is_float && digits == 0)
			return fail(cx, JIT_ERR_CONFIG_SYNTAX, lx->line, NULL,
			            "syntax error: a sign without a number");
	}
	if (!is_float && p < end && *p == 'L') {
		wide = true;
		if (++p < end && *p == 'L')
			p++;
	}
	tk->type = LX_SCALAR;
	tk->s = lx->p;
	tk->len = (size_t)(p - lx->p);
	lx->p = p;
	if (is_float)
		return 0;
	limit = wide ? (uint64_t)INT64_MAX : (uint64_t)INT32_MAX;
	if (neg && !hex)
		limit++;
	if (over || v > limit)
		return fail(cx, JIT_ERR_CONFIG_INVALID, tk->line, NULL,
		            "integer %.*s is out of range", (int)(tk->len > 40 ? 40 : tk->len),
		            tk->s);
	return 0;
}

/*
 * Byte classes for the loops a login runs over every byte of a tickets
 * file. Bytes from 0x80 are in no class.
 */
#define CB_BLANK 0x1 /* ' ' \t \r \f */
#define CB_NAME  0x2 /* in a name after its first byte: [A-Za-z0-9_*-] */
#define CB_WORD  0x4 /* in a name or a number: CB_NAME and . + */
#define CB_STOP  0x8 /* ends a run of plain string bytes: " \ \n and NUL */

static const unsigned char byte_class[256] = {
        8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 1, 1, 0, 0, /* 0x00 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
        1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 6, 4, 0, 6, 4, 0, /* 0x20 */
        6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 0, 0, 0, 0, 0, 0, /* 0x30 */
        0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x40 */
        6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 0, 8, 0, 0, 6, /* 0x50 */
        0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x60 */
        6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 0, 0, 0, 0, 0, /* 0x70 */
};

static bool in_class(char c, unsigned cls)
{
	return (byte_class[(unsigned char)c] & cls) != 0;
}

/*
 * Skips blanks and comments; an unterminated comment is an error, not the
 * end. Before eof, what was skipped stays skipped, and a comment (or a "/")
 * cut by end is left whole for after LX_MORE.
 */
static int lex_skip(struct ctx *cx, struct lexer *lx)
{
	const char *p = lx->p, *end = lx->end, *q;
	unsigned line = lx->line, start;
	int r = 0;

	for (;;) {
		while (p < end && in_class(*p, CB_BLANK))
			p++;
		if (p == end) {
			r = lx->eof ? 0 : LX_MORE;
			break;
		}
		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '#' || (*p == '/' && end - p >= 2 && p[1] == '/')) {
			if ((q = memchr(p, '\n', (size_t)(end - p))) == NULL && !lx->eof) {
				r = LX_MORE;
				break;
			}
			p = q != NULL ? q : end;
		} else if (*p == '/' && end - p >= 2 && p[1] == '*') {
			start = line;
			for (q = p + 2;; q++) {
				/* "*" last: the "/" may follow. */
				if (!lx->eof && (q == end || (*q == '*' && q + 1 == end))) {
					r = LX_MORE;
					break;
				}
				if (q == end) {
					lx->p = q;
					lx->line = line;
					return fail(cx, JIT_ERR_CONFIG_SYNTAX, start, NULL,
					            "unterminated comment");
				}
				if (*q == '\n')
					line++;
				else if (*q == '*' && q[1] == '/')
					break;
			}
			if (r == LX_MORE) {
				line = start;
				break;
			}
			p = q + 2;
		} else {
			if (*p == '/' && p + 1 == end && !lx->eof)
				r = LX_MORE;
			break;
		}
	}
	lx->p = p;
	lx->line = line;
	return r;
}

static int punct_type(int c)
{
	switch (c) {
	case '=':
	case ':':
		return LX_EQUALS;
	case ',':
		return LX_COMMA;
	case ';':
		return LX_SEMICOLON;
	case '{':
		return LX_GROUP_OPEN;
	case '}':
		return LX_GROUP_CLOSE;
	case '[':
		return LX_ARRAY_OPEN;
	case ']':
		return LX_ARRAY_CLOSE;
	case '(':
		return LX_LIST_OPEN;
	case ')':
		return LX_LIST_CLOSE;
	default:
		return LX_EOF;
	}
}

static int lex(struct ctx *cx, struct lexer *lx, struct token *tk)
{
	const char *p, *end = lx->end;
	unsigned line;
	int r, type;

	if ((r = lex_skip(cx, lx)) != 0)
		return r;
	p = lx->p;
	line = lx->line;
	tk->s = p;
	tk->len = 0;
	tk->line = line;
	if (p == end) {
		tk->type = LX_EOF;
		return 0;
	}
	if (*p == '"') {
		/* The NUL after end stops the run too. */
		for (p++;; p++) {
			while (!in_class(*p, CB_STOP))
				p++;
			if (p == end || (*p == '\\' && p + 1 == end)) {
				if (!lx->eof)
					return LX_MORE;
				if (p == end)
					return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk->line, NULL,
					            "unterminated string");
			}
			if (*p == '"')
				break;
			/* An escape never ends the string: skip what it quotes. */
			if (*p == '\\' && end - p >= 2)
				p++;
			if (*p == '\n')
				line++;
		}
		p++;
		tk->type = LX_STRING;
	} else if ((type = punct_type(*p)) != LX_EOF) {
		tk->type = type;
		p++;
	} else if (is_alpha(*p) || *p == '*') {
		for (p++; p < end && in_class(*p, CB_NAME); p++)
			;
		if (p == end && !lx->eof)
			return LX_MORE;
		tk->type = LX_NAME;
		if ((p - tk->s == 4 && (*tk->s | 0x20) == 't' &&
		     strncasecmp(tk->s, "true", 4) == 0) ||
		    (p - tk->s == 5 && (*tk->s | 0x20) == 'f' &&
		     strncasecmp(tk->s, "false", 5) == 0))
			tk->type = LX_SCALAR;
	} else if (is_digit(*p) || *p == '-' || *p == '+' || *p == '.') {
		/* All of a number must be here: lex_number reads to its end. */
		for (p++; p < end && in_class(*p, CB_WORD); p++)
			;
		if (p == end && !lx->eof)
			return LX_MORE;
		return lex_number(cx, lx, tk);
	} else if (*p == '@') {
		return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk->line, NULL,
		            "@include is not allowed: the configuration is one file");
	} else {
		return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk->line, NULL,
		            "syntax error: unexpected character 0x%02x",
		            (unsigned)(unsigned char)*p);
	}
	tk->len = (size_t)(p - tk->s);
	lx->p = p;
	lx->line = line;
	return 0;
}

/*
 * The grammar, walked without building anything: settings NAME = VALUE
 * [;,], groups { }, lists ( ), arrays [ ] of scalars, adjacent strings
 * joined. Every text passes it before libconfig, which then never meets a
 * syntax error (libconfig 1.5 leaks a string on some). Given a scan, it
 * also finds the entries of the top-level "tickets" list whose id is
 * sc->id, noting where each starts and ends.
 */

enum { F_ROOT, F_GROUP, F_LIST, F_ARRAY };
enum { S_NAME, S_EQUALS, S_VALUE, S_TERM, S_FIRST, S_NEXT, S_AFTER };

struct frame {
	unsigned char kind;
	unsigned char state;
};

/* An entry of a tickets file's index (see tickets_lookup): fixed size, host order. */
struct index_rec {
	uint64_t hash;   /* id_hash() of its id */
	uint64_t offset; /* of its "{" in the file */
	uint32_t length; /* to after its "}" */
	uint32_t line;   /* of its "{" */
	uint32_t index;  /* in the tickets list */
	uint32_t pad;
};

struct scan {
	const char *id;
	size_t entries; /* entries of the tickets list so far */
	size_t found;   /* entries with this id */
	size_t index;   /* of the first one */
	char *one;      /* "tickets = (" its text from "{" to "}" ");" */
	unsigned line;  /* of its "{" */
	unsigned line2; /* of a second one's */
	/* With collect, every entry whose id is a ticket id, in file order. */
	bool collect;
	struct index_rec *recs;
	size_t n_recs;
	size_t cap_recs;
};

/* FNV-1a: spreads ids over the index; equal hashes are told apart by reading the entries. */
static uint64_t id_hash(const char *id)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return h;
}

/* Notes an entry for the index; past TICKETS_MAX or out of memory there is no index. */
static void add_rec(struct scan *sc, const struct index_rec *rec)
{
	struct index_rec *n;
	size_t cap;

	if (sc->n_recs == sc->cap_recs) {
		cap = sc->cap_recs == 0 ? 1024 : sc->cap_recs * 2;
		if (cap > TICKETS_MAX)
			cap = TICKETS_MAX;
		if (sc->n_recs == cap || (n = reallocarray(sc->recs, cap, sizeof(*n))) == NULL) {
			free(sc->recs);
			sc->recs = NULL;
			sc->n_recs = sc->cap_recs = 0;
			sc->collect = false;
			return;
		}
		sc->recs = n;
		sc->cap_recs = cap;
	}
	sc->recs[sc->n_recs++] = *rec;
}

/*
 * A tickets file read in windows rather than whole: buf holds len bytes of
 * it and a NUL, from the token (or, while it may be the one searched for,
 * the entry) under the lexer on. A login so reads the file once through a
 * cache-sized buffer, instead of faulting in, copying and wiping an
 * allocation the size of the file; buf grows only for an entry or comment
 * larger than it.
 */
#define TICKETS_WINDOW (64 * 1024)

struct reader {
	int fd;
	char *buf;
	size_t len;
	size_t cap;   /* allocated, with the NUL */
	size_t total; /* bytes read */
	size_t max;   /* of the file */
};

/*
 * Drops the text before keep, reads on, and points lx at what the buffer
 * now holds; *ret_dropped is how far the kept text moved back. A NUL read
 * is an error at its line, as read_text() reports it.
 */
static int read_on(struct ctx *cx, struct reader *rd, struct lexer *lx, const char *keep,
                   size_t *ret_dropped)
{
	char err[128], *nb, probe;
	const char *nul, *c;
	size_t off, want;
	unsigned line;
	ssize_t n;

	*ret_dropped = 0;
	if (rd == NULL || lx->eof || keep < rd->buf || keep > lx->p)
		return fail(cx, JIT_ERR_INTERNAL, 0, NULL, "internal error");
	off = (size_t)(keep - rd->buf);
	memmove(rd->buf, keep, rd->len - off);
	rd->len -= off;
	lx->p -= off;
	if (rd->len + 1 == rd->cap && rd->cap <= rd->max) {
		want = rd->cap > rd->max / 2 ? rd->max + 1 : rd->cap * 2;
		if ((nb = malloc(want)) == NULL)
			return fail(cx, JIT_ERR_ALLOC, 0, NULL, "out of memory");
		memcpy(nb, rd->buf, rd->len);
		lx->p = nb + (lx->p - rd->buf);
		OPENSSL_clear_free(rd->buf, rd->cap);
		rd->buf = nb;
		rd->cap = want;
	}
	for (;;) {
		/* Full at max bytes: one more byte means too large. */
		if (rd->len + 1 == rd->cap)
			n = read(rd->fd, &probe, 1);
		else
			n = read(rd->fd, rd->buf + rd->len, rd->cap - 1 - rd->len);
		if (n != -1 || errno != EINTR)
			break;
	}
	if (n == -1)
		return fail(cx, JIT_ERR_SYSTEM, 0, NULL, "%s", strerror_r(errno, err, sizeof(err)));
	if (n > 0 && (rd->len + 1 == rd->cap || (size_t)n > rd->max - rd->total))
		return fail(cx, JIT_ERR_FILE_TOO_LARGE, 0, NULL, "larger than %zu bytes", rd->max);
	if ((nul = memchr(rd->buf + rd->len, '\0', (size_t)n)) != NULL) {
		for (line = lx->line, c = lx->p; c < nul; c++)
			line += *c == '\n';
		return fail(cx, JIT_ERR_CONFIG_SYNTAX, line, NULL, "contains a NUL byte");
	}
	rd->total += (size_t)n;
	rd->len += (size_t)n;
	rd->buf[rd->len] = '\0';
	lx->end = rd->buf + rd->len;
	lx->eof = n == 0;
	*ret_dropped = off;
	return 0;
}

/* Where q, in the walk's text, lies in the file (or the text). */
static uint64_t file_offset(const struct reader *rd, const char *base, const char *q)
{
	return (rd != NULL ? rd->total - rd->len : 0) + (uint64_t)(q - base);
}

/* One entry as a tickets file of its own: ENTRY_HEAD, its text from "{" to "}", ENTRY_TAIL. */
static const char entry_head[] = "tickets = (";
static const char entry_tail[] = ");";

/* Keeps the matched entry, text[0, n), for libconfig. */
static int keep_entry(struct ctx *cx, struct scan *sc, const char *text, size_t n)
{
	size_t hl = sizeof(entry_head) - 1;

	if ((sc->one = malloc(hl + n + sizeof(entry_tail))) == NULL)
		return fail(cx, JIT_ERR_ALLOC, 0, NULL, "out of memory");
	memcpy(sc->one, entry_head, hl);
	memcpy(sc->one + hl, text, n);
	memcpy(sc->one + hl + n, entry_tail, sizeof(entry_tail));
	return 0;
}

/* Appends a string token's value, unescaped as libconfig does; false when it does not fit. */
static bool string_append(const struct token *tk, char *buf, size_t *len, size_t cap)
{
	const char *p = tk->s + 1, *end = tk->s + tk->len - 1;
	int h, l;
	char c;

	for (; p < end; p++) {
		c = *p;
		if (c == '\\' && end - p >= 2) {
			switch (p[1]) {
			case 'n':
				c = '\n';
				p++;
				break;
			case 'r':
				c = '\r';
				p++;
				break;
			case 't':
				c = '\t';
				p++;
				break;
			case 'f':
				c = '\f';
				p++;
				break;
			case '\\':
			case '"':
				c = p[1];
				p++;
				break;
			case 'x':
			case 'X':
				if (end - p >= 4 && (h = hex_value(p[2])) >= 0 &&
				    (l = hex_value(p[3])) >= 0) {
					c = (char)(h * 16 + l);
					p += 3;
				}
				break;
			default:
				break;
			}
		}
		if (*len + 1 >= cap)
			return false;
		buf[(*len)++] = c;
	}
	buf[*len] = '\0';
	return true;
}

static bool is_close(const struct frame *f, int type)
{
	return (f->kind == F_LIST && type == LX_LIST_CLOSE) ||
	       (f->kind == F_ARRAY && type == LX_ARRAY_CLOSE) ||
	       (f->kind == F_GROUP && type == LX_GROUP_CLOSE);
}

/*
 * Depth 0 is the file; for tickets, 1 the tickets list and 2 an entry. The
 * text is text[0, len), or with rd whatever read_on() brings.
 */
static int walk(struct ctx *cx, const char *text, size_t len, struct reader *rd, struct scan *sc)
{
	struct frame st[SCAN_DEPTH];
	struct lexer lx;
	struct token tk, nx;
	struct frame *f;
	const char *base;
	char idbuf[TICKET_ID_MAX + 2], p[SETTING_PATH_MAX];
	size_t depth = 0, idlen = 0, entry = 0, dropped;
	unsigned entry_line = 0;
	bool is_id = false, id_seen = false, have_tickets = false, fits = false, matched = false;
	bool in_string = false;
	/* The entry under the lexer may be the one searched for: its text stays. */
	bool keep_it = false;
	/* With sc->collect: the entry under the lexer, for the index. */
	struct index_rec rec;
	bool rec_ok = false;
	int r;

	if (rd != NULL) {
		lx.p = lx.end = base = rd->buf;
		lx.eof = false;
	} else {
		lx.p = base = text;
		lx.end = text + len;
		lx.eof = true;
	}
	lx.line = 1;
	st[0].kind = F_ROOT;
	st[0].state = S_NAME;
	for (;;) {
		if (in_string) {
			/* Adjacent strings are one value. */
			if ((r = lex_skip(cx, &lx)) == LX_MORE)
				goto more;
			if (r != 0)
				return r;
			if (lx.p < lx.end && *lx.p == '"') {
				if ((r = lex(cx, &lx, &nx)) == LX_MORE)
					goto more;
				if (r != 0)
					return r;
				if (is_id && fits)
					fits = string_append(&nx, idbuf, &idlen, sizeof(idbuf));
				continue;
			}
			in_string = false;
			if (is_id && fits && strcmp(idbuf, sc->id) == 0) {
				if (sc->found++ == 0) {
					sc->index = sc->entries - 1;
					sc->line = entry_line;
					matched = true;
				} else if (sc->found == 2) {
					sc->line2 = entry_line;
				}
			}
			keep_it = keep_it && (!is_id || matched);
			if (is_id && fits && sc->collect && config_is_ticket_id(idbuf)) {
				rec.hash = id_hash(idbuf);
				rec_ok = true;
			}
			is_id = false;
		}
		if ((r = lex(cx, &lx, &tk)) == LX_MORE)
			goto more;
		if (r != 0)
			return r;
		f = &st[depth];
		if (f->state == S_TERM) {
			f->state = S_NAME;
			if (tk.type == LX_SEMICOLON || tk.type == LX_COMMA)
				continue;
		}
		switch (f->state) {
		case S_NAME:
			if (tk.type == LX_EOF && f->kind == F_ROOT)
				goto done;
			if (is_close(f, tk.type)) {
				if (depth == 2 && matched &&
				    (r = keep_entry(cx, sc, base + entry,
				                    (size_t)(tk.s + 1 - (base + entry)))) != 0)
					return r;
				if (depth == 2 && rec_ok) {
					rec.length = (uint32_t)(file_offset(rd, base, tk.s) + 1 -
					                        rec.offset);
					add_rec(sc, &rec);
					rec_ok = false;
				}
				matched = matched && depth != 2;
				keep_it = keep_it && depth != 2;
				depth--;
				continue;
			}
			if (tk.type != LX_NAME)
				return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL,
				            "syntax error");
			if (sc != NULL && depth == 0) {
				if (tk.len != 7 || memcmp(tk.s, "tickets", 7) != 0) {
					snprintf(p, sizeof(p), "%.*s",
					         (int)(tk.len > 64 ? 64 : tk.len), tk.s);
					return fail(cx, JIT_ERR_CONFIG_INVALID, tk.line, p,
					            "unknown setting");
				}
				if (have_tickets)
					return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL,
					            "duplicate setting name");
				have_tickets = true;
			}
			is_id = sc != NULL && depth == 2 && tk.len == 2 &&
			        memcmp(tk.s, "id", 2) == 0;
			if (is_id && id_seen)
				return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL,
				            "duplicate setting name");
			id_seen = id_seen || is_id;
			f->state = S_EQUALS;
			continue;
		case S_EQUALS:
			if (tk.type != LX_EQUALS)
				return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL,
				            "syntax error");
			f->state = S_VALUE;
			continue;
		case S_AFTER:
			if (tk.type == LX_COMMA) {
				f->state = S_NEXT;
				continue;
			}
			if (!is_close(f, tk.type))
				return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL,
				            "syntax error");
			depth--;
			continue;
		case S_FIRST:
			if (is_close(f, tk.type)) {
				depth--;
				continue;
			}
			break;
		default: /* S_VALUE, S_NEXT */
			break;
		}
		/* A value. */
		f->state = f->kind == F_ROOT || f->kind == F_GROUP ? S_TERM : S_AFTER;
		if (f->kind == F_ARRAY && tk.type != LX_STRING && tk.type != LX_SCALAR)
			return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL, "syntax error");
		if (sc != NULL && depth == 0 && tk.type != LX_LIST_OPEN && tk.type != LX_ARRAY_OPEN)
			return fail(cx, JIT_ERR_CONFIG_INVALID, tk.line, "tickets",
			            "expected a list ( { ... }, ... )");
		if (sc != NULL && depth == 1) {
			if (tk.type != LX_GROUP_OPEN) {
				path_index(p, sizeof(p), "tickets", sc->entries);
				return fail(cx, JIT_ERR_CONFIG_INVALID, tk.line, p,
				            "expected a group { ... }");
			}
			sc->entries++;
			entry = (size_t)(tk.s - base);
			entry_line = tk.line;
			id_seen = false;
			keep_it = true;
			memset(&rec, 0, sizeof(rec));
			rec.offset = file_offset(rd, base, tk.s);
			rec.line = entry_line;
			rec.index = (uint32_t)(sc->entries - 1);
			rec_ok = false;
		}
		switch (tk.type) {
		case LX_SCALAR:
			break;
		case LX_STRING:
			idlen = 0;
			fits = !is_id || string_append(&tk, idbuf, &idlen, sizeof(idbuf));
			in_string = true;
			continue;
		case LX_GROUP_OPEN:
		case LX_LIST_OPEN:
		case LX_ARRAY_OPEN:
			if (depth + 1 == SCAN_DEPTH)
				return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL,
				            "nested too deeply");
			depth++;
			st[depth].kind = tk.type == LX_GROUP_OPEN  ? F_GROUP
			                 : tk.type == LX_LIST_OPEN ? F_LIST
			                                           : F_ARRAY;
			st[depth].state = tk.type == LX_GROUP_OPEN ? S_NAME : S_FIRST;
			break;
		default:
			return fail(cx, JIT_ERR_CONFIG_SYNTAX, tk.line, NULL, "syntax error");
		}
		/* An id that is not a string matches nothing. */
		keep_it = keep_it && !is_id;
		is_id = false;
		continue;
	more:
		/* Before eof only a file is read on; from memory lx.eof is set. */
		if ((r = read_on(cx, rd, &lx, keep_it ? base + entry : lx.p, &dropped)) != 0)
			return r;
		if (keep_it)
			entry -= dropped;
		base = rd->buf;
	}
done:
	if (sc != NULL && !have_tickets)
		return fail(cx, JIT_ERR_CONFIG_INVALID, 0, "tickets", "missing required setting");
	return 0;
}

/* NUL check, grammar walk, then libconfig; lc must have been config_init'ed. */
static int read_text(struct ctx *cx, const char *text, size_t len, config_t *lc)
{
	const char *nul, *p;
	unsigned line = 1;
	int r;

	if ((nul = memchr(text, '\0', len)) != NULL) {
		for (p = text; p < nul; p++)
			line += *p == '\n';
		return fail(cx, JIT_ERR_CONFIG_SYNTAX, line, NULL, "contains a NUL byte");
	}
	if ((r = walk(cx, text, len, NULL, NULL)) != 0)
		return r;
	if (config_read_string(lc, text) != CONFIG_TRUE)
		return fail(cx, JIT_ERR_CONFIG_SYNTAX, (unsigned)config_error_line(lc), NULL, "%s",
		            config_error_text(lc) != NULL ? config_error_text(lc) : "syntax error");
	return 0;
}

/*
 * Values.
 */

enum {
	K_TEXT,      /* char *: no control characters, at most max bytes */
	K_NAME,      /* char *: printable ASCII, no space or comma */
	K_PATH,      /* char *: absolute */
	K_ID,        /* char *: ticket id */
	K_CIDR,      /* char *: source-address list */
	K_TZ,        /* char *: zone under CONFIG_ZONEINFO_DIR */
	K_DURATION,  /* uint64_t seconds in [min, max] */
	K_UINT,      /* uint32_t in [min, max] */
	K_HHMM,      /* uint16_t minutes after midnight */
	K_DAYS,      /* uint8_t weekday mask */
	K_TIME,      /* uint64_t, RFC 3339 */
	K_ENUM,      /* int: 1 + index in choices */
	K_NAMES,     /* char ** (NULL-terminated) and size_t: K_NAME each */
	K_ARGV,      /* char ** and size_t: K_PATH then K_TEXT */
	K_ENDPOINTS, /* struct config_endpoint * and size_t */
	K_GROUP,     /* a struct, described by sub */
	K_GROUPS,    /* an array of structs and size_t, described by sub */
};

struct schema;

struct key {
	const char *name;
	int kind;
	size_t off;
	size_t off_n;      /* lists: the count */
	uint64_t min, max; /* value range; lists: entries; text: max bytes */
	unsigned required; /* CONFIG_* that need it, or REQ_ALWAYS */
	unsigned implied;  /* K_GROUP: CONFIG_* for which an absent group counts as { } */
	const char *def;   /* default, as it would be written; lists: one entry */
	const struct schema *sub;
	const char *const *choices;
	const char *enum_what; /* K_ENUM: "a ticket state" */
};

struct schema {
	const struct key *keys;
	size_t n;
	size_t size;           /* of one struct */
	const char *label_key; /* entries of a list: the member naming one in messages */
	const char *label_what;
	int (*check)(struct ctx *cx, const config_setting_t *g, const char *path, void *obj);
};

static void *field(void *obj, size_t off)
{
	return (char *)obj + off;
}

bool config_is_name(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > CONFIG_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == ',')
			return false;
	return true;
}

bool config_is_ticket_id(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > TICKET_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!is_alpha(v[i]) && !is_digit(v[i]) && v[i] != '.' && v[i] != '_' && v[i] != '-')
			return false;
	return true;
}

/* Absolute, printable ASCII, no ".." component. */
static bool is_path(const char *v, size_t max)
{
	size_t n = strlen(v), i;
	const char *p;

	if (n < 1 || n > max || v[0] != '/')
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return false;
	for (p = v; (p = strstr(p, "/..")) != NULL; p += 3)
		if (p[3] == '/' || p[3] == '\0')
			return false;
	return true;
}

static bool is_host(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > HOST_NAME_MAX_ || v[0] == '-' || v[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!is_alpha(v[i]) && !is_digit(v[i]) && v[i] != '-' && v[i] != '.')
			return false;
	return true;
}

/* "unix:/ABS/PATH" or "tls://HOST:PORT" (HOST may be "[IPv6]"). */
static int parse_endpoint(const char *v, struct config_endpoint *e)
{
	struct in6_addr a6;
	const char *h, *colon;
	char *host = NULL;
	unsigned long port = 0;
	size_t hl, i;
	int r = JIT_ERR_INVALID_FORMAT;

	memset(e, 0, sizeof(*e));
	if (strncmp(v, "unix:", 5) == 0) {
		if (!is_path(v + 5, SUN_PATH_MAX))
			goto out;
		if ((e->path = strdup(v + 5)) == NULL || (e->text = strdup(v)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		e->type = CONFIG_ENDPOINT_UNIX;
		r = 0;
		goto out;
	}
	if (strncmp(v, "tls://", 6) != 0)
		goto out;
	h = v + 6;
	if (*h == '[') {
		if ((colon = strstr(h, "]:")) == NULL)
			goto out;
		hl = (size_t)(colon - h) - 1;
		if ((host = strndup(h + 1, hl)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto out;
		colon++;
	} else {
		if ((colon = strrchr(h, ':')) == NULL)
			goto out;
		if ((host = strndup(h, (size_t)(colon - h))) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if (!is_host(host))
			goto out;
	}
	for (i = 1; colon[i] != '\0'; i++) {
		if (!is_digit(colon[i]) || i > 5)
			goto out;
		port = port * 10 + (unsigned long)(colon[i] - '0');
	}
	if (i == 1 || port < 1 || port > 65535)
		goto out;
	if ((e->text = strdup(v)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	e->type = CONFIG_ENDPOINT_TLS;
	e->host = host;
	host = NULL;
	e->port = (uint16_t)port;
	r = 0;
out:
	free(host);
	if (r != 0) {
		free(e->text);
		free(e->path);
		memset(e, 0, sizeof(*e));
	}
	return r;
}

/* "Mon-Fri", "Sat,Sun", "Mon,Wed-Fri": bit N for struct tm's weekday N. */
static int parse_days(const char *v, uint8_t *ret)
{
	static const char *const names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	const char *p = v;
	unsigned mask = 0;
	int a, b, d;

	*ret = 0;
	for (;;) {
		for (a = 0; a < 7 && strncasecmp(p, names[a], 3) != 0; a++)
			;
		if (a == 7)
			return JIT_ERR_INVALID_FORMAT;
		p += 3;
		b = a;
		if (*p == '-') {
			p++;
			for (b = 0; b < 7 && strncasecmp(p, names[b], 3) != 0; b++)
				;
			if (b == 7 || b < a)
				return JIT_ERR_INVALID_FORMAT;
			p += 3;
		}
		for (d = a; d <= b; d++)
			mask |= 1U << ((d + 1) % 7);
		if (*p == '\0')
			break;
		if (*p++ != ',')
			return JIT_ERR_INVALID_FORMAT;
	}
	*ret = (uint8_t)mask;
	return 0;
}

/* "HH:MM", 00:00 to 23:59, and 24:00 for the end of the day. */
static int parse_hhmm(const char *v, uint16_t *ret)
{
	unsigned h, m;

	*ret = 0;
	if (strlen(v) != 5 || !is_digit(v[0]) || !is_digit(v[1]) || v[2] != ':' ||
	    !is_digit(v[3]) || !is_digit(v[4]))
		return JIT_ERR_INVALID_FORMAT;
	h = (unsigned)(v[0] - '0') * 10 + (unsigned)(v[1] - '0');
	m = (unsigned)(v[3] - '0') * 10 + (unsigned)(v[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return JIT_ERR_INVALID_FORMAT;
	*ret = (uint16_t)(h * 60 + m);
	return 0;
}

/* An IANA name with a compiled zone file (TZif) under CONFIG_ZONEINFO_DIR. */
static bool tz_exists(const char *tz)
{
	char path[sizeof(CONFIG_ZONEINFO_DIR) + TZ_NAME_MAX + 1], magic[4];
	struct stat st;
	size_t n = strlen(tz), i;
	bool ok = false;
	int fd = -1;

	if (n == 0 || n > TZ_NAME_MAX || tz[0] == '/' || strstr(tz, "..") != NULL)
		return false;
	for (i = 0; i < n; i++)
		if (!is_alpha(tz[i]) && !is_digit(tz[i]) && strchr("/_+-.", tz[i]) == NULL)
			return false;
	snprintf(path, sizeof(path), "%s/%s", CONFIG_ZONEINFO_DIR, tz);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1)
		goto out;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto out;
	if (read(fd, magic, sizeof(magic)) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, "TZif", sizeof(magic)) != 0)
		goto out;
	ok = true;
out:
	if (fd != -1)
		close(fd);
	return ok;
}

/* A string of the given kind, checked; the result points into the setting. */
static int get_string(struct ctx *cx, const config_setting_t *s, const char *path,
                      const struct key *k, int kind, const char **ret)
{
	char q[QUOTE_MAX];
	const char *v;
	size_t n, i, max = CONFIG_STRING_MAX;

	*ret = NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
		            "expected a string, found %s", type_name(s));
	v = config_setting_get_string(s);
	n = strlen(v);
	if (kind == K_TEXT && k != NULL && k->max > 0)
		max = k->max;
	if (n > max)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
		            "longer than %zu bytes", max);
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s contains a control character", quote(v, q, sizeof(q)));
	switch (kind) {
	case K_NAME:
		if (!config_is_name(v))
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not a valid name (1 to %d printable ASCII characters, "
			            "no spaces or commas)",
			            quote(v, q, sizeof(q)), CONFIG_NAME_MAX);
		break;
	case K_PATH:
		if (!is_path(v, CONFIG_STRING_MAX - 1))
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not an absolute path (must start with \"/\", no \"..\")",
			            quote(v, q, sizeof(q)));
		break;
	case K_ID:
		if (!config_is_ticket_id(v))
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not a ticket id (1 to %d of A-Z a-z 0-9 . _ -)",
			            quote(v, q, sizeof(q)), TICKET_ID_MAX);
		break;
	case K_CIDR:
		if (n > ADDR_LIST_MAX || addr_list_validate(v) != 0)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not a list of addresses or CIDR blocks "
			            "(e.g. \"10.0.0.0/8,192.0.2.1\")",
			            quote(v, q, sizeof(q)));
		break;
	case K_TZ:
		if (!tz_exists(v))
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not a time zone (no such zone in %s/, e.g. "
			            "\"Europe/Berlin\", \"UTC\")",
			            quote(v, q, sizeof(q)), CONFIG_ZONEINFO_DIR);
		break;
	default:
		break;
	}
	*ret = v;
	return 0;
}

static int store_string(const char *v, char **dst)
{
	if ((*dst = strdup(v)) == NULL)
		return JIT_ERR_ALLOC;
	return 0;
}

static int parse_scalar(struct ctx *cx, const config_setting_t *s, const char *path,
                        const struct key *k, void *dst)
{
	char q[QUOTE_MAX], lo[TIME_TEXT_MAX], hi[TIME_TEXT_MAX], list[128];
	const char *v = NULL;
	long long iv;
	uint64_t u;
	size_t i, n;
	int r;

	if (k->kind == K_UINT) {
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "expected an integer, found %s", type_name(s));
		iv = config_setting_get_int64(s);
		if (iv < 0 || (uint64_t)iv < k->min || (uint64_t)iv > k->max)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%lld is out of range (%llu to %llu)", iv,
			            (unsigned long long)k->min, (unsigned long long)k->max);
		*(uint32_t *)dst = (uint32_t)iv;
		return 0;
	}
	if ((r = get_string(cx, s, path, k, k->kind, &v)) != 0)
		return r;
	switch (k->kind) {
	case K_TEXT:
	case K_NAME:
	case K_PATH:
	case K_ID:
	case K_CIDR:
	case K_TZ:
		return store_string(v, (char **)dst);
	case K_DURATION:
		if ((r = time_parse_duration(v, 1, &u)) != 0 && r != JIT_ERR_TIME_RANGE)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not a duration (use e.g. \"90s\", \"5m\", \"2h\")",
			            quote(v, q, sizeof(q)));
		if (r != 0 || u < k->min || u > k->max)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is out of range (%s to %s)", quote(v, q, sizeof(q)),
			            fmt_duration(k->min, lo, sizeof(lo)),
			            fmt_duration(k->max, hi, sizeof(hi)));
		*(uint64_t *)dst = u;
		return 0;
	case K_HHMM:
		if (parse_hhmm(v, (uint16_t *)dst) != 0)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not a time of day (HH:MM, 00:00 to 24:00)",
			            quote(v, q, sizeof(q)));
		return 0;
	case K_DAYS:
		if (parse_days(v, (uint8_t *)dst) != 0)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not a list of days (e.g. \"Mon-Fri\", \"Sat,Sun\", "
			            "\"Mon,Wed-Fri\"; weeks run Mon to Sun)",
			            quote(v, q, sizeof(q)));
		return 0;
	case K_TIME:
		if (time_parse_rfc3339(v, (uint64_t *)dst) != 0)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
			            "%s is not an RFC 3339 time (e.g. \"2026-11-23T08:00:00Z\")",
			            quote(v, q, sizeof(q)));
		return 0;
	case K_ENUM:
		for (i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(v, k->choices[i]) == 0) {
				*(int *)dst = (int)i + 1;
				return 0;
			}
		}
		for (i = 0, n = 0; k->choices[i] != NULL && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"%s\"",
			                      i == 0                      ? ""
			                      : k->choices[i + 1] == NULL ? " or "
			                                                  : ", ",
			                      k->choices[i]);
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
		            "%s is not %s (use %s)", quote(v, q, sizeof(q)), k->enum_what, list);
	default:
		return fail(cx, JIT_ERR_INTERNAL, setting_line(s), path, "internal error");
	}
}

/* A list setting: an array [ ] or a list ( ) within the key's entry bounds. */
static int list_length(struct ctx *cx, const config_setting_t *s, const char *path,
                       const struct key *k, unsigned *ret)
{
	int type = config_setting_type(s);
	unsigned n;

	*ret = 0;
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
		            "expected a list [ ... ], found %s", type_name(s));
	n = (unsigned)config_setting_length(s);
	if (n < k->min)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
		            k->min == 1 ? "must not be empty" : "needs at least %llu entries",
		            (unsigned long long)k->min);
	if (n > k->max)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
		            "has %u entries, at most %llu allowed", n, (unsigned long long)k->max);
	*ret = n;
	return 0;
}

static int parse_strv(struct ctx *cx, const config_setting_t *s, const char *path,
                      const struct key *k, void *obj)
{
	char ***dst = field(obj, k->off), p[SETTING_PATH_MAX];
	size_t *count = field(obj, k->off_n);
	const config_setting_t *e;
	const char *v;
	unsigned n, i;
	int r, kind;

	if ((r = list_length(cx, s, path, k, &n)) != 0)
		return r;
	if ((*dst = calloc((size_t)n + 1, sizeof(char *))) == NULL)
		return JIT_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		path_index(p, sizeof(p), path, i);
		kind = k->kind == K_NAMES ? K_NAME : i == 0 ? K_PATH : K_TEXT;
		if ((r = get_string(cx, e, p, NULL, kind, &v)) != 0)
			return r;
		if (((*dst)[i] = strdup(v)) == NULL)
			return JIT_ERR_ALLOC;
		*count = (size_t)i + 1;
	}
	return 0;
}

static int parse_endpoints(struct ctx *cx, const config_setting_t *s, const char *path,
                           const struct key *k, void *obj)
{
	struct config_endpoint **dst = field(obj, k->off);
	size_t *count = field(obj, k->off_n);
	const config_setting_t *e;
	char p[SETTING_PATH_MAX], q[QUOTE_MAX];
	const char *v;
	unsigned n, i;
	int r;

	if ((r = list_length(cx, s, path, k, &n)) != 0)
		return r;
	if ((*dst = calloc(n > 0 ? n : 1, sizeof(**dst))) == NULL)
		return JIT_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		path_index(p, sizeof(p), path, i);
		if ((r = get_string(cx, e, p, NULL, K_TEXT, &v)) != 0)
			return r;
		if ((r = parse_endpoint(v, &(*dst)[i])) == JIT_ERR_ALLOC)
			return r;
		if (r != 0)
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(e), p,
			            "%s is not an endpoint (use \"unix:/ABSOLUTE/PATH\" or "
			            "\"tls://HOST:PORT\")",
			            quote(v, q, sizeof(q)));
		*count = (size_t)i + 1;
	}
	return 0;
}

static int parse_group(struct ctx *cx, const config_setting_t *g, const char *path,
                       const struct schema *sc, void *obj);

/* Names the entry in later messages by its label member, when that is a string. */
static void set_label(struct ctx *cx, const struct schema *sc, const config_setting_t *e)
{
	const config_setting_t *m;

	cx->label = NULL;
	if (sc->label_key == NULL || (m = config_setting_get_member(e, sc->label_key)) == NULL ||
	    config_setting_type(m) != CONFIG_TYPE_STRING)
		return;
	cx->label_what = sc->label_what;
	cx->label = config_setting_get_string(m);
}

static int parse_groups(struct ctx *cx, const config_setting_t *s, const char *path,
                        const struct key *k, void *obj)
{
	void **dst = field(obj, k->off);
	size_t *count = field(obj, k->off_n);
	const config_setting_t *e;
	char p[SETTING_PATH_MAX];
	unsigned n, i;
	int r;

	/* libconfig writes an empty list as an empty array too. */
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(s) == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0))
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(s), path,
		            "expected a list ( { ... }, ... ), found %s", type_name(s));
	if ((r = list_length(cx, s, path, k, &n)) != 0)
		return r;
	if ((*dst = calloc(n > 0 ? n : 1, k->sub->size)) == NULL)
		return JIT_ERR_ALLOC;
	*count = n;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		path_index(p, sizeof(p), path, i);
		if (!config_setting_is_group(e))
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(e), p,
			            "expected a group { ... }, found %s", type_name(e));
		set_label(cx, k->sub, e);
		if ((r = parse_group(cx, e, p, k->sub, (char *)*dst + (size_t)i * k->sub->size)) !=
		    0)
			return r;
		cx->label = NULL;
	}
	return 0;
}

static int parse_value(struct ctx *cx, const config_setting_t *s, const char *path,
                       const struct key *k, void *obj)
{
	switch (k->kind) {
	case K_GROUP:
		return parse_group(cx, s, path, k->sub, field(obj, k->off));
	case K_GROUPS:
		return parse_groups(cx, s, path, k, obj);
	case K_NAMES:
	case K_ARGV:
		return parse_strv(cx, s, path, k, obj);
	case K_ENDPOINTS:
		return parse_endpoints(cx, s, path, k, obj);
	default:
		return parse_scalar(cx, s, path, k, field(obj, k->off));
	}
}

static int apply_default(const struct key *k, void *obj)
{
	void *dst = field(obj, k->off);
	char ***v;
	size_t i;

	switch (k->kind) {
	case K_TEXT:
	case K_NAME:
	case K_PATH:
	case K_CIDR:
	case K_TZ:
		return store_string(k->def, (char **)dst);
	case K_DURATION:
		return time_parse_duration(k->def, 1, (uint64_t *)dst) == 0 ? 0 : JIT_ERR_INTERNAL;
	case K_UINT:
		*(uint32_t *)dst = (uint32_t)strtoul(k->def, NULL, 10);
		return 0;
	case K_ENUM:
		for (i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(k->def, k->choices[i]) == 0) {
				*(int *)dst = (int)i + 1;
				return 0;
			}
		}
		return JIT_ERR_INTERNAL;
	case K_NAMES:
	case K_ARGV:
		v = dst;
		if ((*v = calloc(2, sizeof(char *))) == NULL || ((*v)[0] = strdup(k->def)) == NULL)
			return JIT_ERR_ALLOC;
		*(size_t *)field(obj, k->off_n) = 1;
		return 0;
	default:
		return JIT_ERR_INTERNAL;
	}
}

static int parse_group(struct ctx *cx, const config_setting_t *g, const char *path,
                       const struct schema *sc, void *obj)
{
	const config_setting_t *m;
	const struct key *k;
	char p[SETTING_PATH_MAX];
	uint64_t seen = 0;
	unsigned n, i;
	size_t j;
	int r = JIT_ERR_INTERNAL;

	if (g != NULL) {
		if (!config_setting_is_group(g)) {
			r = fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(g), path,
			         "expected a group { ... }, found %s", type_name(g));
			goto out;
		}
		n = (unsigned)config_setting_length(g);
		for (i = 0; i < n; i++) {
			m = config_setting_get_elem(g, i);
			path_key(p, sizeof(p), path, config_setting_name(m));
			for (j = 0;
			     j < sc->n && strcmp(sc->keys[j].name, config_setting_name(m)) != 0;
			     j++)
				;
			if (j == sc->n) {
				r = fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(m), p,
				         "unknown setting");
				goto out;
			}
			if ((r = parse_value(cx, m, p, &sc->keys[j], obj)) != 0)
				goto out;
			seen |= (uint64_t)1 << j;
		}
	}
	for (j = 0; j < sc->n; j++) {
		k = &sc->keys[j];
		if ((seen & ((uint64_t)1 << j)) != 0)
			continue;
		path_key(p, sizeof(p), path, k->name);
		if ((k->required & (cx->groups | REQ_ALWAYS)) != 0) {
			r = fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(g), p,
			         "missing required setting");
			goto out;
		}
		if (k->kind == K_GROUP && (k->implied & cx->groups) != 0)
			r = parse_group(cx, NULL, p, k->sub, field(obj, k->off));
		else if (k->def != NULL)
			r = apply_default(k, obj);
		else
			r = 0;
		if (r != 0)
			goto out;
	}
	if (sc->check != NULL && (r = sc->check(cx, g, path, obj)) != 0)
		goto out;
	r = 0;
out:
	return r;
}

static void free_obj(const struct schema *sc, void *obj)
{
	const struct key *k;
	struct config_endpoint *e;
	char **v;
	size_t i, j, n;

	if (obj == NULL)
		return;
	for (i = 0; i < sc->n; i++) {
		k = &sc->keys[i];
		switch (k->kind) {
		case K_TEXT:
		case K_NAME:
		case K_PATH:
		case K_ID:
		case K_CIDR:
		case K_TZ:
			free(*(char **)field(obj, k->off));
			break;
		case K_NAMES:
		case K_ARGV:
			v = *(char ***)field(obj, k->off);
			n = *(size_t *)field(obj, k->off_n);
			for (j = 0; v != NULL && j < n; j++)
				free(v[j]);
			free(v);
			break;
		case K_ENDPOINTS:
			e = *(struct config_endpoint **)field(obj, k->off);
			n = *(size_t *)field(obj, k->off_n);
			for (j = 0; e != NULL && j < n; j++) {
				free(e[j].text);
				free(e[j].path);
				free(e[j].host);
			}
			free(e);
			break;
		case K_GROUP:
			free_obj(k->sub, field(obj, k->off));
			break;
		case K_GROUPS:
			v = *(void **)field(obj, k->off);
			n = *(size_t *)field(obj, k->off_n);
			for (j = 0; v != NULL && j < n; j++)
				free_obj(k->sub, (char *)v + j * k->sub->size);
			free(v);
			break;
		default:
			break;
		}
	}
}

/* The member's line when present, else the group's. */
static unsigned member_line(const config_setting_t *g, const char *name)
{
	const config_setting_t *m;

	if (g != NULL && (m = config_setting_get_member(g, name)) != NULL)
		return setting_line(m);
	return setting_line(g);
}

/*
 * jit.conf
 */

#define OFF(st, f)  .off = offsetof(st, f)
#define LIST(st, f) .off = offsetof(st, f), .off_n = offsetof(st, n_##f)
#define COUNT(a)    (sizeof(a) / sizeof((a)[0]))

static const char *const audit_sync_choices[] = {"fsync", "syslog-only", NULL};
static const char *const backend_choices[] = {"file", "command", NULL};
static const char *const state_choices[] = {"approved", "pending", "rejected", "closed", NULL};

static const struct key tls_server_keys[] = {
        {.name = "cert", .kind = K_PATH, OFF(struct config_tls, cert), .required = REQ_ALWAYS},
        {.name = "key", .kind = K_PATH, OFF(struct config_tls, key), .required = REQ_ALWAYS},
        {.name = "client_ca", .kind = K_PATH, OFF(struct config_tls, ca), .required = REQ_ALWAYS},
};
static const struct schema tls_server_schema = {
        tls_server_keys, COUNT(tls_server_keys), sizeof(struct config_tls), NULL, NULL, NULL};

static const struct key tls_client_keys[] = {
        {.name = "cert", .kind = K_PATH, OFF(struct config_tls, cert), .required = REQ_ALWAYS},
        {.name = "key", .kind = K_PATH, OFF(struct config_tls, key), .required = REQ_ALWAYS},
        {.name = "ca", .kind = K_PATH, OFF(struct config_tls, ca), .required = REQ_ALWAYS},
};
static const struct schema tls_client_schema = {
        tls_client_keys, COUNT(tls_client_keys), sizeof(struct config_tls), NULL, NULL, NULL};

static int requester_check(struct ctx *cx, const config_setting_t *g, const char *path, void *obj)
{
	static const char *const known[] = {"force-command", "source-address", "verify-required"};
	struct config_requester *rq = obj;
	char base[SETTING_PATH_MAX], p[SETTING_PATH_MAX], q[QUOTE_MAX];
	size_t i, j;

	if (rq->n_unix_users + rq->n_unix_groups + rq->n_tls_names == 0)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(g), path,
		            "matches no caller: set unix_users, unix_groups or tls_names");
	for (i = 0; i < rq->n_critical_options; i++) {
		for (j = 0; j < COUNT(known) && strcmp(rq->critical_options[i], known[j]) != 0; j++)
			;
		if (j == COUNT(known)) {
			path_key(base, sizeof(base), path, "critical_options");
			path_index(p, sizeof(p), base, i);
			return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(g, "critical_options"),
			            p,
			            "%s is not a critical option OpenSSH knows "
			            "(force-command, source-address, verify-required)",
			            quote(rq->critical_options[i], q, sizeof(q)));
		}
	}
	return 0;
}

static const struct key requester_keys[] = {
        {.name = "name",
         .kind = K_NAME,
         OFF(struct config_requester, name),
         .required = REQ_ALWAYS},
        {.name = "unix_users",
         .kind = K_NAMES,
         LIST(struct config_requester, unix_users),
         .max = CONFIG_PRINCIPALS_MAX},
        {.name = "unix_groups",
         .kind = K_NAMES,
         LIST(struct config_requester, unix_groups),
         .max = CONFIG_PRINCIPALS_MAX},
        {.name = "tls_names",
         .kind = K_NAMES,
         LIST(struct config_requester, tls_names),
         .max = CONFIG_PRINCIPALS_MAX},
        {.name = "principals",
         .kind = K_NAMES,
         LIST(struct config_requester, principals),
         .min = 1,
         .max = CONFIG_PRINCIPALS_MAX,
         .required = REQ_ALWAYS},
        {.name = "max_validity",
         .kind = K_DURATION,
         OFF(struct config_requester, max_validity),
         .min = 1,
         .max = DAY},
        {.name = "breakglass_max_validity",
         .kind = K_DURATION,
         OFF(struct config_requester, breakglass_max_validity),
         .min = 1,
         .max = DAY},
        {.name = "source_address", .kind = K_CIDR, OFF(struct config_requester, source_address)},
        {.name = "extensions",
         .kind = K_NAMES,
         LIST(struct config_requester, extensions),
         .max = CONFIG_LIST_MAX,
         .def = "permit-pty"},
        {.name = "critical_options",
         .kind = K_NAMES,
         LIST(struct config_requester, critical_options),
         .max = CONFIG_LIST_MAX,
         .def = "source-address"},
};
static const struct schema requester_schema = {
        requester_keys, COUNT(requester_keys), sizeof(struct config_requester),
        "name",         "requester",           requester_check};

/* Checks a TLS group is present when an endpoint of the list needs it. */
static int need_tls(struct ctx *cx, const config_setting_t *g, const char *path,
                    const struct config_endpoint *e, size_t n, const struct config_tls *tls,
                    const char *tls_name)
{
	char p[SETTING_PATH_MAX], q[QUOTE_MAX];
	size_t i;

	if (tls->cert != NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (e[i].type == CONFIG_ENDPOINT_TLS) {
			path_key(p, sizeof(p), path, tls_name);
			return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(g), p,
			            "missing, required by %s", quote(e[i].text, q, sizeof(q)));
		}
	}
	return 0;
}

static int ca_check(struct ctx *cx, const config_setting_t *g, const char *path, void *obj)
{
	struct config_ca *ca = obj;
	const config_setting_t *rs = g != NULL ? config_setting_get_member(g, "requesters") : NULL;
	const config_setting_t *e;
	char base[SETTING_PATH_MAX], rp[SETTING_PATH_MAX], p[SETTING_PATH_MAX];
	char a[TIME_TEXT_MAX], b[TIME_TEXT_MAX];
	size_t i, j;
	int r;

	if ((cx->groups & CONFIG_CA_CLIENT) != 0 &&
	    (r = need_tls(cx, g, path, ca->endpoints, ca->n_endpoints, &ca->client_tls,
	                  "client_tls")) != 0)
		return r;
	if ((cx->groups & CONFIG_CA_SERVICE) != 0 &&
	    (r = need_tls(cx, g, path, ca->listen, ca->n_listen, &ca->tls, "tls")) != 0)
		return r;
	for (i = 0; i < ca->n_requesters; i++) {
		struct config_requester *rq = &ca->requesters[i];

		e = rs != NULL ? config_setting_get_elem(rs, (unsigned)i) : NULL;
		path_key(base, sizeof(base), path, "requesters");
		path_index(rp, sizeof(rp), base, i);
		/* A requester's caps may only lower the CA's. */
		if (rq->max_validity == 0)
			rq->max_validity = ca->max_validity;
		if (rq->breakglass_max_validity == 0)
			rq->breakglass_max_validity = ca->breakglass_max_validity;
		if (rq->max_validity > ca->max_validity) {
			path_key(p, sizeof(p), rp, "max_validity");
			return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(e, "max_validity"), p,
			            "%s exceeds ca.max_validity (%s)",
			            fmt_duration(rq->max_validity, a, sizeof(a)),
			            fmt_duration(ca->max_validity, b, sizeof(b)));
		}
		if (rq->breakglass_max_validity > ca->breakglass_max_validity) {
			path_key(p, sizeof(p), rp, "breakglass_max_validity");
			return fail(cx, JIT_ERR_CONFIG_INVALID,
			            member_line(e, "breakglass_max_validity"), p,
			            "%s exceeds ca.breakglass_max_validity (%s)",
			            fmt_duration(rq->breakglass_max_validity, a, sizeof(a)),
			            fmt_duration(ca->breakglass_max_validity, b, sizeof(b)));
		}
		for (j = 0; j < i; j++) {
			if (strcmp(ca->requesters[j].name, rq->name) == 0) {
				path_key(p, sizeof(p), rp, "name");
				return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(e, "name"), p,
				            "%s is also the name of requesters[%zu]",
				            quote(rq->name, a, sizeof(a)), j);
			}
		}
	}
	return 0;
}

static const struct key ca_keys[] = {
        {.name = "endpoints",
         .kind = K_ENDPOINTS,
         LIST(struct config_ca, endpoints),
         .min = 1,
         .max = CONFIG_LIST_MAX,
         .required = CONFIG_CA_CLIENT},
        {.name = "timeout",
         .kind = K_DURATION,
         OFF(struct config_ca, timeout),
         .min = 1,
         .max = MINUTE,
         .def = "3s"},
        {.name = "client_tls",
         .kind = K_GROUP,
         OFF(struct config_ca, client_tls),
         .sub = &tls_client_schema},
        {.name = "key", .kind = K_PATH, OFF(struct config_ca, key), .required = CONFIG_CA_SERVICE},
        {.name = "listen",
         .kind = K_ENDPOINTS,
         LIST(struct config_ca, listen),
         .min = 1,
         .max = CONFIG_LIST_MAX,
         .required = CONFIG_CA_SERVICE},
        {.name = "tls", .kind = K_GROUP, OFF(struct config_ca, tls), .sub = &tls_server_schema},
        {.name = "state_dir",
         .kind = K_PATH,
         OFF(struct config_ca, state_dir),
         .def = "/var/lib/jit-ca"},
        {.name = "audit_log",
         .kind = K_PATH,
         OFF(struct config_ca, audit_log),
         .def = "/var/log/jit-ca/audit.jsonl"},
        {.name = "audit_sync",
         .kind = K_ENUM,
         OFF(struct config_ca, audit_sync),
         .def = "fsync",
         .choices = audit_sync_choices,
         .enum_what = "an audit mode"},
        {.name = "max_validity",
         .kind = K_DURATION,
         OFF(struct config_ca, max_validity),
         .min = 1,
         .max = DAY,
         .def = "10m"},
        {.name = "breakglass_max_validity",
         .kind = K_DURATION,
         OFF(struct config_ca, breakglass_max_validity),
         .min = 1,
         .max = DAY,
         .def = "2m"},
        {.name = "max_connections",
         .kind = K_UINT,
         OFF(struct config_ca, max_connections),
         .min = 1,
         .max = 65536,
         .def = "1024"},
        {.name = "request_timeout",
         .kind = K_DURATION,
         OFF(struct config_ca, request_timeout),
         .min = 1,
         .max = MINUTE,
         .def = "5s"},
        {.name = "max_request",
         .kind = K_UINT,
         OFF(struct config_ca, max_request),
         .min = 1024,
         .max = 16 * 1024 * 1024,
         .def = "65536"},
        {.name = "requesters",
         .kind = K_GROUPS,
         LIST(struct config_ca, requesters),
         .min = 1,
         .max = CONFIG_LIST_MAX,
         .required = CONFIG_CA_SERVICE,
         .sub = &requester_schema},
};
static const struct schema ca_schema = {ca_keys, COUNT(ca_keys), sizeof(struct config_ca),
                                        NULL,    NULL,           ca_check};

static int tickets_cfg_check(struct ctx *cx, const config_setting_t *g, const char *path, void *obj)
{
	struct config_tickets *t = obj;
	char p[SETTING_PATH_MAX];

	if (t->backend == CONFIG_TICKETS_COMMAND && t->n_command == 0) {
		path_key(p, sizeof(p), path, "command");
		return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(g, "backend"), p,
		            "missing, required by backend = \"command\"");
	}
	return 0;
}

static const struct key tickets_cfg_keys[] = {
        {.name = "backend",
         .kind = K_ENUM,
         OFF(struct config_tickets, backend),
         .def = "file",
         .choices = backend_choices,
         .enum_what = "a ticket backend"},
        {.name = "file",
         .kind = K_PATH,
         OFF(struct config_tickets, file),
         .def = "/etc/jit/tickets.conf"},
        {.name = "command",
         .kind = K_ARGV,
         LIST(struct config_tickets, command),
         .min = 1,
         .max = CONFIG_LIST_MAX},
        {.name = "timeout",
         .kind = K_DURATION,
         OFF(struct config_tickets, timeout),
         .min = 1,
         .max = MINUTE,
         .def = "3s"},
};
static const struct schema tickets_cfg_schema = {
        tickets_cfg_keys, COUNT(tickets_cfg_keys), sizeof(struct config_tickets), NULL, NULL,
        tickets_cfg_check};

static const struct key certificates_keys[] = {
        {.name = "validity",
         .kind = K_DURATION,
         OFF(struct config_certificates, validity),
         .min = 1,
         .max = DAY,
         .def = "5m"},
        {.name = "extensions",
         .kind = K_NAMES,
         LIST(struct config_certificates, extensions),
         .max = CONFIG_LIST_MAX,
         .def = "permit-pty"},
        {.name = "source_address", .kind = K_CIDR, OFF(struct config_certificates, source_address)},
};
static const struct schema certificates_schema = {certificates_keys,
                                                  COUNT(certificates_keys),
                                                  sizeof(struct config_certificates),
                                                  NULL,
                                                  NULL,
                                                  NULL};

static int recurring_check(struct ctx *cx, const config_setting_t *g, const char *path, void *obj)
{
	struct config_recurring *w = obj;
	char p[SETTING_PATH_MAX];

	if (w->n_users + w->n_groups == 0)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(g), path,
		            "applies to no one: set users or groups");
	if (w->start >= w->end) {
		path_key(p, sizeof(p), path, "end");
		return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(g, "end"), p,
		            "must be later than start (a window across midnight is two "
		            "entries)");
	}
	return 0;
}

static const struct key recurring_keys[] = {
        {.name = "groups",
         .kind = K_NAMES,
         LIST(struct config_recurring, groups),
         .max = CONFIG_PRINCIPALS_MAX},
        {.name = "users",
         .kind = K_NAMES,
         LIST(struct config_recurring, users),
         .max = CONFIG_PRINCIPALS_MAX},
        {.name = "days",
         .kind = K_DAYS,
         OFF(struct config_recurring, days),
         .required = REQ_ALWAYS},
        {.name = "start",
         .kind = K_HHMM,
         OFF(struct config_recurring, start),
         .required = REQ_ALWAYS},
        {.name = "end", .kind = K_HHMM, OFF(struct config_recurring, end), .required = REQ_ALWAYS},
        {.name = "tz", .kind = K_TZ, OFF(struct config_recurring, tz), .def = "UTC"},
};
static const struct schema recurring_schema = {
        recurring_keys, COUNT(recurring_keys), sizeof(struct config_recurring), NULL,
        NULL,           recurring_check};

static int freeze_check(struct ctx *cx, const config_setting_t *g, const char *path, void *obj)
{
	struct config_freeze *f = obj;
	char p[SETTING_PATH_MAX];

	if (f->start >= f->end) {
		path_key(p, sizeof(p), path, "end");
		return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(g, "end"), p,
		            "must be later than start");
	}
	return 0;
}

static const struct key freeze_keys[] = {
        {.name = "start", .kind = K_TIME, OFF(struct config_freeze, start), .required = REQ_ALWAYS},
        {.name = "end", .kind = K_TIME, OFF(struct config_freeze, end), .required = REQ_ALWAYS},
        {.name = "reason",
         .kind = K_TEXT,
         OFF(struct config_freeze, reason),
         .max = TEXT_SHORT_MAX},
};
static const struct schema freeze_schema = {
        freeze_keys, COUNT(freeze_keys), sizeof(struct config_freeze), NULL, NULL, freeze_check};

static const struct key windows_keys[] = {
        {.name = "recurring",
         .kind = K_GROUPS,
         LIST(struct config_windows, recurring),
         .max = CONFIG_LIST_MAX,
         .sub = &recurring_schema},
        {.name = "freeze",
         .kind = K_GROUPS,
         LIST(struct config_windows, freeze),
         .max = CONFIG_LIST_MAX,
         .sub = &freeze_schema},
};
static const struct schema windows_schema = {
        windows_keys, COUNT(windows_keys), sizeof(struct config_windows), NULL, NULL, NULL};

static int breakglass_check(struct ctx *cx, const config_setting_t *g, const char *path, void *obj)
{
	struct config_breakglass *b = obj;
	char p[SETTING_PATH_MAX], x[TIME_TEXT_MAX], y[TIME_TEXT_MAX];

	b->enabled = g != NULL;
	if (b->validity > b->session_max) {
		path_key(p, sizeof(p), path, "validity");
		return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(g, "validity"), p,
		            "%s exceeds breakglass.session_max (%s)",
		            fmt_duration(b->validity, x, sizeof(x)),
		            fmt_duration(b->session_max, y, sizeof(y)));
	}
	return 0;
}

static const struct key breakglass_keys[] = {
        {.name = "keyword",
         .kind = K_NAME,
         OFF(struct config_breakglass, keyword),
         .def = "BREAK-GLASS"},
        {.name = "group",
         .kind = K_NAME,
         OFF(struct config_breakglass, group),
         .required = CONFIG_BREAKGLASS},
        {.name = "validity",
         .kind = K_DURATION,
         OFF(struct config_breakglass, validity),
         .min = 1,
         .max = DAY,
         .def = "2m"},
        {.name = "min_reason",
         .kind = K_UINT,
         OFF(struct config_breakglass, min_reason),
         .min = 1,
         .max = 1024,
         .def = "20"},
        {.name = "principals",
         .kind = K_NAMES,
         LIST(struct config_breakglass, principals),
         .min = 1,
         .max = CONFIG_PRINCIPALS_MAX,
         .required = CONFIG_BREAKGLASS},
        {.name = "session_max",
         .kind = K_DURATION,
         OFF(struct config_breakglass, session_max),
         .min = 1,
         .max = DAY,
         .def = "30m"},
        {.name = "notify",
         .kind = K_ARGV,
         LIST(struct config_breakglass, notify),
         .min = 1,
         .max = CONFIG_LIST_MAX},
        {.name = "notify_timeout",
         .kind = K_DURATION,
         OFF(struct config_breakglass, notify_timeout),
         .min = 1,
         .max = MINUTE,
         .def = "5s"},
};
static const struct schema breakglass_schema = {
        breakglass_keys, COUNT(breakglass_keys), sizeof(struct config_breakglass), NULL, NULL,
        breakglass_check};

static const struct key config_keys[] = {
        {.name = "ca",
         .kind = K_GROUP,
         OFF(struct jit_config, ca),
         .sub = &ca_schema,
         .implied = CONFIG_CA_CLIENT | CONFIG_CA_SERVICE},
        {.name = "tickets",
         .kind = K_GROUP,
         OFF(struct jit_config, tickets),
         .sub = &tickets_cfg_schema,
         .implied = CONFIG_TICKETS},
        {.name = "certificates",
         .kind = K_GROUP,
         OFF(struct jit_config, certificates),
         .sub = &certificates_schema,
         .implied = CONFIG_CERTIFICATES},
        {.name = "windows",
         .kind = K_GROUP,
         OFF(struct jit_config, windows),
         .sub = &windows_schema,
         .implied = CONFIG_WINDOWS},
        /* Absent: break-glass is off. */
        {.name = "breakglass",
         .kind = K_GROUP,
         OFF(struct jit_config, breakglass),
         .sub = &breakglass_schema},
};
static const struct schema config_schema = {
        config_keys, COUNT(config_keys), sizeof(struct jit_config), NULL, NULL, NULL};

/* Reads a file we must trust, with a message saying precisely why not. */
static void trusted_msg(const char *path, size_t max, int r, int saved_errno, char *msg,
                        size_t msglen)
{
	char err[128];
	struct stat st;

	if (r == 0 || msg == NULL || msglen == 0)
		return;
	switch (r) {
	case JIT_ERR_FILE_PERMISSIONS:
		if (lstat(path, &st) == 0 && st.st_uid != 0 && st.st_uid != geteuid()) {
			if (geteuid() == 0)
				snprintf(msg, msglen, "%s: owned by uid %u, must be root", path,
				         (unsigned)st.st_uid);
			else
				snprintf(msg, msglen, "%s: owned by uid %u, must be root or uid %u",
				         path, (unsigned)st.st_uid, (unsigned)geteuid());
		} else if (lstat(path, &st) == 0 && (st.st_mode & 022) != 0) {
			snprintf(msg, msglen,
			         "%s: mode %04o is group or world writable, must not be", path,
			         (unsigned)(st.st_mode & 07777));
		} else {
			snprintf(msg, msglen, "%s: %s", path, jit_err(r));
		}
		break;
	case JIT_ERR_FILE_TYPE:
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			snprintf(msg, msglen,
			         "%s: is a symbolic link, refused: name the file itself", path);
		else
			snprintf(msg, msglen, "%s: not a regular file", path);
		break;
	case JIT_ERR_FILE_TOO_LARGE:
		snprintf(msg, msglen, "%s: larger than %zu bytes", path, max);
		break;
	case JIT_ERR_SYSTEM:
		snprintf(msg, msglen, "%s: %s", path, strerror_r(saved_errno, err, sizeof(err)));
		break;
	default:
		snprintf(msg, msglen, "%s: %s", path, jit_err(r));
		break;
	}
}

static int read_trusted(const char *path, size_t max, uint8_t **ret, size_t *ret_len, char *msg,
                        size_t msglen)
{
	int r, saved_errno;

	r = file_read(path, max, FILE_TRUSTED, ret, ret_len);
	saved_errno = errno;
	trusted_msg(path, max, r, saved_errno, msg, msglen);
	errno = saved_errno;
	return r;
}

int config_parse_string(const char *name, const char *text, size_t len, unsigned groups,
                        struct jit_config **ret, char *msg, size_t msglen)
{
	struct jit_config *c = NULL;
	struct ctx cx;
	config_t lc;
	int r = JIT_ERR_INTERNAL;

	config_init(&lc);
	ctx_init(&cx, name != NULL ? name : "(config)", groups, msg, msglen);
	if (ret != NULL)
		*ret = NULL;
	if (name == NULL || text == NULL || ret == NULL || text[len] != '\0' ||
	    (groups & ~(unsigned)CONFIG_ALL) != 0) {
		r = fail(&cx, JIT_ERR_INVALID_ARGUMENT, 0, NULL, "invalid argument");
		goto out;
	}
	if ((r = read_text(&cx, text, len, &lc)) != 0)
		goto out;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = fail(&cx, JIT_ERR_ALLOC, 0, NULL, "out of memory");
		goto out;
	}
	c->groups = groups;
	if ((r = parse_group(&cx, config_root_setting(&lc), "", &config_schema, c)) != 0) {
		if (r == JIT_ERR_ALLOC)
			fail(&cx, r, 0, NULL, "out of memory");
		goto out;
	}
	*ret = c;
	c = NULL;
	r = 0;
out:
	config_free(c);
	config_destroy(&lc);
	return r;
}

int config_load(const char *path, unsigned groups, struct jit_config **ret, char *msg,
                size_t msglen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (path == NULL || ret == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = read_trusted(path, CONFIG_FILE_MAX, &data, &len, msg, msglen)) != 0)
		goto out;
	r = config_parse_string(path, (const char *)data, len, groups, ret, msg, msglen);
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	return r;
}

void config_free(struct jit_config *c)
{
	if (c == NULL)
		return;
	free_obj(&config_schema, c);
	free(c);
}

/*
 * The tickets file.
 */

static int ticket_check(struct ctx *cx, const config_setting_t *g, const char *path, void *obj)
{
	struct ticket *t = obj;
	char p[SETTING_PATH_MAX];

	t->line = setting_line(g) + cx->line_offset;
	if (t->n_users + t->n_groups == 0)
		return fail(cx, JIT_ERR_CONFIG_INVALID, setting_line(g), path,
		            "grants no one: set users or groups");
	if (t->not_before >= t->not_after) {
		path_key(p, sizeof(p), path, "not_after");
		return fail(cx, JIT_ERR_CONFIG_INVALID, member_line(g, "not_after"), p,
		            "must be later than not_before");
	}
	return 0;
}

static const struct key ticket_keys[] = {
        {.name = "id", .kind = K_ID, OFF(struct ticket, id), .required = REQ_ALWAYS},
        {.name = "state",
         .kind = K_ENUM,
         OFF(struct ticket, state),
         .required = REQ_ALWAYS,
         .choices = state_choices,
         .enum_what = "a ticket state"},
        {.name = "users",
         .kind = K_NAMES,
         LIST(struct ticket, users),
         .max = CONFIG_PRINCIPALS_MAX},
        {.name = "groups",
         .kind = K_NAMES,
         LIST(struct ticket, groups),
         .max = CONFIG_PRINCIPALS_MAX},
        {.name = "principals",
         .kind = K_NAMES,
         LIST(struct ticket, principals),
         .min = 1,
         .max = CONFIG_PRINCIPALS_MAX,
         .required = REQ_ALWAYS},
        {.name = "not_before",
         .kind = K_TIME,
         OFF(struct ticket, not_before),
         .required = REQ_ALWAYS},
        {.name = "not_after",
         .kind = K_TIME,
         OFF(struct ticket, not_after),
         .required = REQ_ALWAYS},
        {.name = "hosts",
         .kind = K_NAMES,
         LIST(struct ticket, hosts),
         .max = CONFIG_PRINCIPALS_MAX},
};
static const struct schema ticket_schema = {ticket_keys, COUNT(ticket_keys), sizeof(struct ticket),
                                            "id",        "ticket",           ticket_check};

static const struct key tickets_file_keys[] = {
        {.name = "tickets",
         .kind = K_GROUPS,
         .off = offsetof(struct tickets, v),
         .off_n = offsetof(struct tickets, n),
         .max = TICKETS_MAX,
         .required = REQ_ALWAYS,
         .sub = &ticket_schema},
};
static const struct schema tickets_file_schema = {
        tickets_file_keys, COUNT(tickets_file_keys), sizeof(struct tickets), NULL, NULL, NULL};

static int ticket_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ticket *)a)->id, ((const struct ticket *)b)->id);
}

int tickets_parse(const char *name, const char *text, size_t len, struct tickets **ret, char *msg,
                  size_t msglen)
{
	struct tickets *t = NULL;
	struct ctx cx;
	config_t lc;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	config_init(&lc);
	ctx_init(&cx, name != NULL ? name : "(tickets)", 0, msg, msglen);
	if (ret != NULL)
		*ret = NULL;
	if (name == NULL || text == NULL || ret == NULL || text[len] != '\0') {
		r = fail(&cx, JIT_ERR_INVALID_ARGUMENT, 0, NULL, "invalid argument");
		goto out;
	}
	if ((r = read_text(&cx, text, len, &lc)) != 0)
		goto out;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		r = fail(&cx, JIT_ERR_ALLOC, 0, NULL, "out of memory");
		goto out;
	}
	if ((r = parse_group(&cx, config_root_setting(&lc), "", &tickets_file_schema, t)) != 0) {
		if (r == JIT_ERR_ALLOC)
			fail(&cx, r, 0, NULL, "out of memory");
		goto out;
	}
	qsort(t->v, t->n, sizeof(*t->v), ticket_cmp);
	for (i = 1; i < t->n; i++) {
		if (strcmp(t->v[i - 1].id, t->v[i].id) == 0) {
			char q[QUOTE_MAX];
			unsigned a = t->v[i - 1].line, b = t->v[i].line;

			r = fail(&cx, JIT_ERR_CONFIG_INVALID, a > b ? a : b, "tickets",
			         "id %s is used twice (lines %u and %u)",
			         quote(t->v[i].id, q, sizeof(q)), a < b ? a : b, a > b ? a : b);
			goto out;
		}
	}
	*ret = t;
	t = NULL;
	r = 0;
out:
	tickets_free(t);
	config_destroy(&lc);
	return r;
}

int tickets_load(const char *path, struct tickets **ret, char *msg, size_t msglen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (path == NULL || ret == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = read_trusted(path, TICKETS_FILE_MAX, &data, &len, msg, msglen)) != 0)
		goto out;
	r = tickets_parse(path, (const char *)data, len, ret, msg, msglen);
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	return r;
}

const struct ticket *tickets_find(const struct tickets *t, const char *id)
{
	struct ticket key;

	if (t == NULL || id == NULL || t->n == 0)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.id = (char *)(uintptr_t)id;
	return bsearch(&key, t->v, t->n, sizeof(*t->v), ticket_cmp);
}

void tickets_free(struct tickets *t)
{
	if (t == NULL)
		return;
	free_obj(&tickets_file_schema, t);
	free(t);
}

void ticket_free(struct ticket *t)
{
	if (t == NULL)
		return;
	free_obj(&ticket_schema, t);
	free(t);
}

/*
 * After the walk: the entry found, parsed by libconfig on its own (its lines
 * shift back by line_offset) and checked like every entry of a whole file.
 */
static int lookup_found(struct ctx *cx, const char *id, const struct scan *sc, struct ticket **ret)
{
	const config_setting_t *list, *e;
	struct ticket *t = NULL;
	config_t lc;
	char q[QUOTE_MAX], p[SETTING_PATH_MAX];
	int r = JIT_ERR_INTERNAL;

	config_init(&lc);
	if (sc->found == 0) {
		r = fail(cx, JIT_ERR_NOT_FOUND, 0, NULL, "no ticket %s", quote(id, q, sizeof(q)));
		goto out;
	}
	if (sc->found > 1) {
		r = fail(cx, JIT_ERR_CONFIG_INVALID, sc->line2, "tickets",
		         "id %s is used more than once (lines %u and %u)", quote(id, q, sizeof(q)),
		         sc->line, sc->line2);
		goto out;
	}
	if (sc->one == NULL) {
		r = fail(cx, JIT_ERR_INTERNAL, 0, NULL, "internal error");
		goto out;
	}
	cx->line_offset = sc->line - 1;
	if (config_read_string(&lc, sc->one) != CONFIG_TRUE) {
		r = fail(cx, JIT_ERR_CONFIG_SYNTAX, (unsigned)config_error_line(&lc), NULL, "%s",
		         config_error_text(&lc) != NULL ? config_error_text(&lc) : "syntax error");
		goto out;
	}
	if ((list = config_lookup(&lc, "tickets")) == NULL ||
	    (e = config_setting_get_elem(list, 0)) == NULL) {
		r = fail(cx, JIT_ERR_INTERNAL, 0, NULL, "internal error");
		goto out;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		r = fail(cx, JIT_ERR_ALLOC, 0, NULL, "out of memory");
		goto out;
	}
	path_index(p, sizeof(p), "tickets", sc->index);
	set_label(cx, &ticket_schema, e);
	if ((r = parse_group(cx, e, p, &ticket_schema, t)) != 0) {
		if (r == JIT_ERR_ALLOC)
			fail(cx, r, 0, NULL, "out of memory");
		goto out;
	}
	if (strcmp(t->id, id) != 0) {
		r = fail(cx, JIT_ERR_INTERNAL, 0, NULL, "internal error");
		goto out;
	}
	*ret = t;
	t = NULL;
	r = 0;
out:
	ticket_free(t);
	config_destroy(&lc);
	return r;
}

int tickets_lookup_string(const char *name, const char *text, size_t len, const char *id,
                          struct ticket **ret, char *msg, size_t msglen)
{
	struct scan sc;
	struct ctx cx;
	char q[QUOTE_MAX];
	const char *nul, *c;
	unsigned line = 1;
	int r = JIT_ERR_INTERNAL;

	memset(&sc, 0, sizeof(sc));
	ctx_init(&cx, name != NULL ? name : "(tickets)", 0, msg, msglen);
	if (ret != NULL)
		*ret = NULL;
	if (name == NULL || text == NULL || id == NULL || ret == NULL || text[len] != '\0') {
		r = fail(&cx, JIT_ERR_INVALID_ARGUMENT, 0, NULL, "invalid argument");
		goto out;
	}
	if (!config_is_ticket_id(id)) {
		r = fail(&cx, JIT_ERR_INVALID_FORMAT, 0, NULL,
		         "%s is not a ticket id (1 to %d of A-Z a-z 0-9 . _ -)",
		         quote(id, q, sizeof(q)), TICKET_ID_MAX);
		goto out;
	}
	if ((nul = memchr(text, '\0', len)) != NULL) {
		for (c = text; c < nul; c++)
			line += *c == '\n';
		r = fail(&cx, JIT_ERR_CONFIG_SYNTAX, line, NULL, "contains a NUL byte");
		goto out;
	}
	sc.id = id;
	if ((r = walk(&cx, text, len, NULL, &sc)) != 0)
		goto out;
	r = lookup_found(&cx, id, &sc, ret);
out:
	free(sc.one);
	return r;
}

/*
 * Opens a tickets file as file_read() opens a trusted one: no symbolic
 * link, a regular file owned by root or us, not group or world writable,
 * at most TICKETS_FILE_MAX bytes; the same error codes.
 */
static int tickets_open(const char *path, int *ret_fd, struct stat *ret_st)
{
	struct stat st;
	int fd = -1, fl, saved_errno, r = JIT_ERR_INTERNAL;

	*ret_fd = -1;
	memset(ret_st, 0, sizeof(*ret_st));
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. */
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
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022) != 0) {
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > TICKETS_FILE_MAX) {
		r = JIT_ERR_FILE_TOO_LARGE;
		goto out;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	*ret_fd = fd;
	*ret_st = st;
	fd = -1;
	r = 0;
out:
	if (fd != -1) {
		saved_errno = errno;
		close(fd);
		errno = saved_errno;
	}
	return r;
}

/*
 * The index of a tickets file. A lookup checks the syntax of the whole file
 * and that the id occurs once; walking 100,000 entries takes tens of
 * milliseconds, and a login looks its ticket up three times (auth, account,
 * the agent's start). So a walk that finds a large file sound also writes
 * PATH.index beside it: the file's identity (device, inode, size, mtime,
 * ctime) and, sorted by id_hash(), where each entry with a ticket id lies.
 * While the file keeps that identity, a lookup reads the index instead: the
 * verdict on the whole file is the same, as the text is; it reads and
 * checks only the entries whose id hashes alike, and the answer (found,
 * duplicate at these lines, absent) is the walk's. Anything amiss with the
 * index (absent, not trusted, another identity, an entry that does not say
 * what it should) means the walk, as without one.
 *
 * The kernel sets ctime to the current time at every change of the file,
 * and no call sets it otherwise; an index is only written for a file whose
 * ctime is INDEX_SETTLE seconds old, so a later change, even within one
 * tick of the clock that stamped the previous one, cannot keep the
 * identity (short of the clock being set back to that very time).
 *
 * An index is believed as the file is, and needs the same owner and mode:
 * one written by another hand (root's) can hide entries or name any {...}
 * span of the file, comments included, as an entry.
 */
#define INDEX_MAGIC  "JITTIX1\n"
#define INDEX_SETTLE 2 /* seconds */
#define INDEX_SUFFIX ".index"
/* Smaller files are walked: under a millisecond, less than reading an index. */
#define INDEX_MIN_SIZE (256 * 1024)

struct index_head {
	char magic[8];
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_sec;
	int64_t mtime_nsec;
	int64_t ctime_sec;
	int64_t ctime_nsec;
	uint64_t count; /* of records after the head */
};

static void index_head_of(const struct stat *st, uint64_t count, struct index_head *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, INDEX_MAGIC, sizeof(h->magic));
	h->dev = (uint64_t)st->st_dev;
	h->ino = (uint64_t)st->st_ino;
	h->size = (uint64_t)st->st_size;
	h->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	h->mtime_nsec = (int64_t)st->st_mtim.tv_nsec;
	h->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	h->ctime_nsec = (int64_t)st->st_ctim.tv_nsec;
	h->count = count;
}

static bool same_identity(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* A file whose last change is at least INDEX_SETTLE seconds old. */
static bool settled(const struct stat *st)
{
	struct timespec now;

	if (clock_gettime(CLOCK_REALTIME, &now) != 0 || now.tv_sec < st->st_ctim.tv_sec)
		return false;
	return now.tv_sec - st->st_ctim.tv_sec > INDEX_SETTLE ||
	       (now.tv_sec - st->st_ctim.tv_sec == INDEX_SETTLE &&
	        now.tv_nsec >= st->st_ctim.tv_nsec);
}

static int rec_cmp(const void *a, const void *b)
{
	const struct index_rec *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Best effort: without an index, lookups walk the file. */
static void index_write(const char *ipath, const struct stat *st, struct scan *sc)
{
	struct index_head h;
	uint8_t *data;
	size_t n;

	if (sc->n_recs > 0)
		qsort(sc->recs, sc->n_recs, sizeof(*sc->recs), rec_cmp);
	index_head_of(st, sc->n_recs, &h);
	n = sizeof(h) + sc->n_recs * sizeof(*sc->recs);
	if ((data = malloc(n)) == NULL)
		return;
	memcpy(data, &h, sizeof(h));
	if (sc->n_recs > 0)
		memcpy(data + sizeof(h), sc->recs, sc->n_recs * sizeof(*sc->recs));
	(void)file_write_atomic(ipath, data, n, st->st_mode & 0644);
	free(data);
}

static bool pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t k;

	while (n > 0) {
		k = pread(fd, buf, n, (off_t)off);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		buf = (uint8_t *)buf + k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return true;
}

/*
 * Whether the entry rec points at is id's: its text, read from fd, walked
 * on its own. *ret_match is set when it is, with its text kept in *ret_one.
 * false: the entry is not what the index says.
 */
static bool index_entry(struct ctx *cx, int fd, const struct index_rec *rec, const char *id,
                        bool *ret_match, char **ret_one)
{
	struct scan sc;
	struct ctx quiet;
	char *text;
	size_t hl = sizeof(entry_head) - 1, n = rec->length, tl = sizeof(entry_tail);
	bool ok = false;

	*ret_match = false;
	*ret_one = NULL;
	memset(&sc, 0, sizeof(sc));
	sc.id = id;
	sc.collect = true;
	if ((text = malloc(hl + n + tl)) == NULL)
		goto out;
	memcpy(text, entry_head, hl);
	memcpy(text + hl + n, entry_tail, tl);
	ctx_init(&quiet, cx->name, 0, NULL, 0);
	if (!pread_all(fd, text + hl, n, rec->offset) || memchr(text + hl, '\0', n) != NULL ||
	    text[hl] != '{' || text[hl + n - 1] != '}' ||
	    walk(&quiet, text, hl + n + tl - 1, NULL, &sc) != 0 || sc.entries != 1 ||
	    sc.found > 1 || (sc.found == 1 && sc.one == NULL) ||
	    /* Its id is the one the index names (by hash), not another's. */
	    sc.n_recs != 1 || sc.recs[0].hash != rec->hash)
		goto out;
	*ret_match = sc.found == 1;
	*ret_one = sc.one;
	sc.one = NULL;
	ok = true;
out:
	free(sc.one);
	free(sc.recs);
	free(text);
	return ok;
}

/*
 * The lookup through PATH.index, into *sc as the walk would leave it: 0
 * when answered, 1 when there is no usable index (walk instead).
 */
static int index_lookup(struct ctx *cx, int fd, const struct stat *st, const char *ipath,
                        const char *id, struct scan *sc)
{
	struct index_head h, want;
	struct index_rec rec;
	struct stat ist;
	uint64_t lo, hi, mid, hash = id_hash(id);
	char *one = NULL;
	bool match;
	int ifd = -1, r = 1;

	if (tickets_open(ipath, &ifd, &ist) != 0 || (uint64_t)ist.st_size < sizeof(h) ||
	    !pread_all(ifd, &h, sizeof(h), 0))
		goto out;
	index_head_of(st, h.count, &want);
	if (memcmp(&h, &want, sizeof(h)) != 0 || h.count > TICKETS_MAX ||
	    (uint64_t)ist.st_size != sizeof(h) + h.count * sizeof(rec))
		goto out;
	/* The first record with this hash, then each that follows with it. */
	for (lo = 0, hi = h.count; lo < hi;) {
		mid = lo + (hi - lo) / 2;
		if (!pread_all(ifd, &rec, sizeof(rec), sizeof(h) + mid * sizeof(rec)))
			goto out;
		if (rec.hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < h.count && sc->found < 2; lo++) {
		if (!pread_all(ifd, &rec, sizeof(rec), sizeof(h) + lo * sizeof(rec)))
			goto out;
		if (rec.hash != hash)
			break;
		if (rec.length < 2 || rec.offset > (uint64_t)st->st_size ||
		    rec.length > (uint64_t)st->st_size - rec.offset)
			goto out;
		if (!index_entry(cx, fd, &rec, id, &match, &one))
			goto out;
		if (!match)
			continue;
		if (sc->found++ == 0) {
			sc->index = rec.index;
			sc->line = rec.line;
			sc->one = one;
			one = NULL;
		} else {
			sc->line2 = rec.line;
		}
	}
	r = 0;
out:
	if (r != 0) {
		free(sc->one);
		sc->one = NULL;
		sc->found = sc->index = 0;
		sc->line = sc->line2 = 0;
	}
	free(one);
	if (ifd != -1)
		close(ifd);
	return r;
}

int tickets_lookup(const char *path, const char *id, struct ticket **ret, char *msg, size_t msglen)
{
	struct reader rd;
	struct scan sc;
	struct ctx cx;
	struct stat st, st2;
	char q[QUOTE_MAX], *ipath = NULL;
	size_t n;
	int r = JIT_ERR_INTERNAL;

	memset(&rd, 0, sizeof(rd));
	rd.fd = -1;
	memset(&sc, 0, sizeof(sc));
	if (ret != NULL)
		*ret = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (path == NULL || id == NULL || ret == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	/* Refuse what cannot be an id before reading anything. */
	if (!config_is_ticket_id(id)) {
		if (msg != NULL && msglen > 0)
			snprintf(msg, msglen,
			         "%s is not a ticket id (1 to %d of A-Z a-z 0-9 . _ -)",
			         quote(id, q, sizeof(q)), TICKET_ID_MAX);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = tickets_open(path, &rd.fd, &st)) != 0) {
		trusted_msg(path, TICKETS_FILE_MAX, r, errno, msg, msglen);
		goto out;
	}
	ctx_init(&cx, path, 0, msg, msglen);
	sc.id = id;
	n = strlen(path);
	if ((ipath = malloc(n + sizeof(INDEX_SUFFIX))) == NULL) {
		r = fail(&cx, JIT_ERR_ALLOC, 0, NULL, "out of memory");
		goto out;
	}
	memcpy(ipath, path, n);
	memcpy(ipath + n, INDEX_SUFFIX, sizeof(INDEX_SUFFIX));
	if (st.st_size >= INDEX_MIN_SIZE && index_lookup(&cx, rd.fd, &st, ipath, id, &sc) == 0)
		goto found;
	(void)posix_fadvise(rd.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rd.max = TICKETS_FILE_MAX;
	rd.cap = TICKETS_WINDOW;
	if ((rd.buf = malloc(rd.cap)) == NULL) {
		r = fail(&cx, JIT_ERR_ALLOC, 0, NULL, "out of memory");
		goto out;
	}
	rd.buf[0] = '\0';
	sc.collect = st.st_size >= INDEX_MIN_SIZE && settled(&st);
	if ((r = walk(&cx, NULL, 0, &rd, &sc)) != 0)
		goto out;
	/* The file read is the one opened, unchanged since. */
	if (sc.collect && fstat(rd.fd, &st2) == 0 && same_identity(&st, &st2))
		index_write(ipath, &st, &sc);
found:
	r = lookup_found(&cx, id, &sc, ret);
out:
	if (rd.fd != -1)
		close(rd.fd);
	if (rd.buf != NULL)
		OPENSSL_clear_free(rd.buf, rd.cap);
	free(sc.one);
	free(sc.recs);
	free(ipath);
	return r;
}
