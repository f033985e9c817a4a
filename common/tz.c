/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "file.h"
#include "tz.h"

#define TZ_HEADER_LEN 44
#define TZ_LINKS_MAX  8 /* symbolic links followed in one load */
#define TZ_FOOTER_MAX 256
#define TZ_ABBR_MIN   3
#define TZ_ABBR_MAX   32
#define SECS_PER_DAY  86400

struct tz_type {
	int32_t utoff;
	uint8_t isdst;
};

/* A POSIX TZ rule date: Jn, n or Mm.w.d, and the local time of the change. */
struct tz_date {
	char kind; /* 'J', 'n' or 'M' */
	int day;   /* Jn: 1..365; n: 0..365; M: weekday 0..6 */
	int week;  /* M: 1..5 (5 is the last) */
	int month; /* M: 1..12 */
	int32_t time;
};

struct tz {
	int64_t *trans; /* ascending */
	uint8_t *trans_type;
	size_t n_trans;
	struct tz_type *types;
	size_t n_types;
	/* The footer rule; has_rule is 0 when the footer is empty. */
	bool has_rule;
	bool has_dst;
	int32_t std_utoff;
	int32_t dst_utoff;
	struct tz_date dst_start; /* in standard time */
	struct tz_date dst_end;   /* in daylight time */
};

struct tz_header {
	char version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t get_i64(const uint8_t *p)
{
	return (int64_t)((uint64_t)get_u32(p) << 32 | get_u32(p + 4));
}

static int parse_header(const uint8_t *p, size_t len, struct tz_header *h)
{
	if (len < TZ_HEADER_LEN)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	if (memcmp(p, "TZif", 4) != 0)
		return JIT_ERR_INVALID_FORMAT;
	h->version = (char)p[4];
	if (h->version != '\0' && (h->version < '2' || h->version > '4'))
		return JIT_ERR_INVALID_FORMAT;
	h->isutcnt = get_u32(p + 20);
	h->isstdcnt = get_u32(p + 24);
	h->leapcnt = get_u32(p + 28);
	h->timecnt = get_u32(p + 32);
	h->typecnt = get_u32(p + 36);
	h->charcnt = get_u32(p + 40);
	if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
		return JIT_ERR_INVALID_FORMAT;
	/* Counts beyond the file cap cannot be satisfied; also keeps the sums below small. */
	if (h->timecnt > TZ_FILE_MAX || h->leapcnt > TZ_FILE_MAX || h->charcnt > TZ_FILE_MAX)
		return JIT_ERR_INVALID_FORMAT;
	return 0;
}

/* Bytes of the data block after a header, with times of tsize bytes. */
static size_t block_len(const struct tz_header *h, size_t tsize)
{
	return (size_t)h->timecnt * tsize + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
	       (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int parse_block(struct tz *z, const struct tz_header *h, const uint8_t *p, size_t tsize)
{
	const uint8_t *idx = p + (size_t)h->timecnt * tsize;
	const uint8_t *ti = idx + h->timecnt;
	const uint8_t *std =
	        ti + (size_t)h->typecnt * 6 + h->charcnt + (size_t)h->leapcnt * (tsize + 4);
	const uint8_t *ut = std + h->isstdcnt;
	size_t i;

	/* Leap-second zones count seconds differently from the system clock. */
	if (h->leapcnt != 0)
		return JIT_ERR_INVALID_FORMAT;
	if (h->timecnt > 0) {
		if ((z->trans = calloc(h->timecnt, sizeof(*z->trans))) == NULL ||
		    (z->trans_type = calloc(h->timecnt, 1)) == NULL)
			return JIT_ERR_ALLOC;
	}
	if ((z->types = calloc(h->typecnt, sizeof(*z->types))) == NULL)
		return JIT_ERR_ALLOC;
	z->n_trans = h->timecnt;
	z->n_types = h->typecnt;
	for (i = 0; i < h->timecnt; i++) {
		z->trans[i] = tsize == 8 ? get_i64(p + i * 8) : (int32_t)get_u32(p + i * 4);
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			return JIT_ERR_INVALID_FORMAT;
		if (idx[i] >= h->typecnt)
			return JIT_ERR_INVALID_FORMAT;
		z->trans_type[i] = idx[i];
	}
	for (i = 0; i < h->typecnt; i++) {
		const uint8_t *t = ti + i * 6;
		uint32_t off = get_u32(t);

		/* -2^31 is refused by RFC 8536; +-26 h bounds every real zone. */
		if ((int32_t)off < -93600 || (int32_t)off > 93600 || t[4] > 1 || t[5] >= h->charcnt)
			return JIT_ERR_INVALID_FORMAT;
		z->types[i].utoff = (int32_t)off;
		z->types[i].isdst = t[4];
	}
	for (i = 0; i < h->isstdcnt; i++)
		if (std[i] > 1)
			return JIT_ERR_INVALID_FORMAT;
	for (i = 0; i < h->isutcnt; i++)
		if (ut[i] > 1 || (ut[i] == 1 && (h->isstdcnt == 0 || std[i] != 1)))
			return JIT_ERR_INVALID_FORMAT;
	return 0;
}

/* POSIX TZ string reader over the footer text. */
struct rd {
	const char *s;
	size_t i, n;
};

static int rd_peek(const struct rd *r)
{
	return r->i < r->n ? (unsigned char)r->s[r->i] : -1;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int rd_abbr(struct rd *r)
{
	size_t start;

	if (rd_peek(r) == '<') {
		r->i++;
		start = r->i;
		while (rd_peek(r) != '>') {
			int c = rd_peek(r);

			if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-')
				return JIT_ERR_INVALID_FORMAT;
			r->i++;
		}
		if (r->i - start < TZ_ABBR_MIN || r->i - start > TZ_ABBR_MAX)
			return JIT_ERR_INVALID_FORMAT;
		r->i++;
		return 0;
	}
	start = r->i;
	while (is_alpha(rd_peek(r)))
		r->i++;
	if (r->i - start < TZ_ABBR_MIN || r->i - start > TZ_ABBR_MAX)
		return JIT_ERR_INVALID_FORMAT;
	return 0;
}

static int rd_num(struct rd *r, int max, int *ret)
{
	int v = 0;
	size_t start = r->i;

	while (is_digit(rd_peek(r))) {
		v = v * 10 + (rd_peek(r) - '0');
		if (v > max)
			return JIT_ERR_INVALID_FORMAT;
		r->i++;
	}
	if (r->i == start)
		return JIT_ERR_INVALID_FORMAT;
	*ret = v;
	return 0;
}

/* [+-]hh[:mm[:ss]] in seconds, hours at most max_hours. */
static int rd_hms(struct rd *r, int max_hours, int32_t *ret)
{
	int sign = 1, h, m = 0, s = 0, e;

	if (rd_peek(r) == '+' || rd_peek(r) == '-')
		sign = r->s[r->i++] == '-' ? -1 : 1;
	if ((e = rd_num(r, max_hours, &h)) != 0)
		return e;
	if (rd_peek(r) == ':') {
		r->i++;
		if ((e = rd_num(r, 59, &m)) != 0)
			return e;
		if (rd_peek(r) == ':') {
			r->i++;
			if ((e = rd_num(r, 59, &s)) != 0)
				return e;
		}
	}
	*ret = sign * (h * 3600 + m * 60 + s);
	return 0;
}

static int rd_date(struct rd *r, struct tz_date *d)
{
	int e;

	memset(d, 0, sizeof(*d));
	if (rd_peek(r) == 'J') {
		r->i++;
		d->kind = 'J';
		if ((e = rd_num(r, 365, &d->day)) != 0)
			return e;
		if (d->day < 1)
			return JIT_ERR_INVALID_FORMAT;
	} else if (rd_peek(r) == 'M') {
		r->i++;
		d->kind = 'M';
		if ((e = rd_num(r, 12, &d->month)) != 0 || d->month < 1 || rd_peek(r) != '.')
			return JIT_ERR_INVALID_FORMAT;
		r->i++;
		if ((e = rd_num(r, 5, &d->week)) != 0 || d->week < 1 || rd_peek(r) != '.')
			return JIT_ERR_INVALID_FORMAT;
		r->i++;
		if ((e = rd_num(r, 6, &d->day)) != 0)
			return e;
	} else {
		d->kind = 'n';
		if ((e = rd_num(r, 365, &d->day)) != 0)
			return e;
	}
	d->time = 2 * 3600;
	if (rd_peek(r) == '/') {
		r->i++;
		/* Version 3 widens rule times to -167..167 hours. */
		if ((e = rd_hms(r, 167, &d->time)) != 0)
			return e;
	}
	return 0;
}

static int parse_footer(struct tz *z, const char *s, size_t n)
{
	struct rd r = {.s = s, .i = 0, .n = n};
	int32_t off;
	int e;

	if (n == 0)
		return 0;
	if ((e = rd_abbr(&r)) != 0 || (e = rd_hms(&r, 24, &off)) != 0)
		return JIT_ERR_INVALID_FORMAT;
	/* POSIX offsets count west of Greenwich. */
	z->std_utoff = -off;
	z->dst_utoff = -off;
	if (r.i < r.n) {
		if ((e = rd_abbr(&r)) != 0)
			return JIT_ERR_INVALID_FORMAT;
		z->dst_utoff = z->std_utoff + 3600;
		if (rd_peek(&r) != ',') {
			if ((e = rd_hms(&r, 24, &off)) != 0)
				return JIT_ERR_INVALID_FORMAT;
			z->dst_utoff = -off;
		}
		/* Zone files always state the rules; no implied default. */
		if (rd_peek(&r) != ',')
			return JIT_ERR_INVALID_FORMAT;
		r.i++;
		if ((e = rd_date(&r, &z->dst_start)) != 0 || rd_peek(&r) != ',')
			return JIT_ERR_INVALID_FORMAT;
		r.i++;
		if ((e = rd_date(&r, &z->dst_end)) != 0)
			return JIT_ERR_INVALID_FORMAT;
		z->has_dst = true;
	}
	if (r.i != r.n)
		return JIT_ERR_INVALID_FORMAT;
	z->has_rule = true;
	return 0;
}

int tz_parse(const uint8_t *data, size_t len, struct tz **ret)
{
	struct tz_header h;
	struct tz *z = NULL;
	size_t need, pos, end;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (data == NULL && len != 0) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (len > TZ_FILE_MAX) {
		r = JIT_ERR_FILE_TOO_LARGE;
		goto out;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = parse_header(data, len, &h)) != 0)
		goto out;
	need = block_len(&h, 4);
	if (need > len - TZ_HEADER_LEN) {
		r = JIT_ERR_MESSAGE_INCOMPLETE;
		goto out;
	}
	pos = TZ_HEADER_LEN + need;
	if (h.version == '\0') {
		if ((r = parse_block(z, &h, data + TZ_HEADER_LEN, 4)) != 0)
			goto out;
		if (pos != len) {
			r = JIT_ERR_TRAILING_DATA;
			goto out;
		}
		goto done;
	}
	/* Version 2 and later: a second header, 64-bit data, then the footer. */
	if ((r = parse_header(data + pos, len - pos, &h)) != 0)
		goto out;
	if (h.version == '\0') {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	pos += TZ_HEADER_LEN;
	need = block_len(&h, 8);
	if (need > len - pos) {
		r = JIT_ERR_MESSAGE_INCOMPLETE;
		goto out;
	}
	if ((r = parse_block(z, &h, data + pos, 8)) != 0)
		goto out;
	pos += need;
	if (pos == len) {
		r = JIT_ERR_MESSAGE_INCOMPLETE;
		goto out;
	}
	if (data[pos] != '\n') {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	pos++;
	for (end = pos; end < len && data[end] != '\n'; end++)
		if (data[end] < 0x20 || data[end] > 0x7e || end - pos >= TZ_FOOTER_MAX) {
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
	if (end == len) {
		r = JIT_ERR_MESSAGE_INCOMPLETE;
		goto out;
	}
	if (end + 1 != len) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	if ((r = parse_footer(z, (const char *)data + pos, end - pos)) != 0)
		goto out;
done:
	*ret = z;
	z = NULL;
	r = 0;
out:
	tz_free(z);
	return r;
}

void tz_free(struct tz *z)
{
	if (z == NULL)
		return;
	free(z->trans);
	free(z->trans_type);
	free(z->types);
	free(z);
}

/* Calendar arithmetic on the proleptic Gregorian calendar (days since 1970-01-01). */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

static int weekday_of(int64_t days)
{
	/* 1970-01-01 was a Thursday. */
	return (int)(((days + 4) % 7 + 7) % 7);
}

/* The day (since the epoch) a rule names in year y. */
static int64_t rule_day(const struct tz_date *d, int64_t y)
{
	int64_t jan1 = days_from_civil(y, 1, 1), first;
	int day;

	switch (d->kind) {
	case 'J':
		/* February 29 is never counted. */
		return jan1 + d->day - 1 + (is_leap(y) && d->day >= 60);
	case 'n':
		return jan1 + d->day;
	default:
		first = days_from_civil(y, d->month, 1);
		day = (d->day - weekday_of(first) + 7) % 7 + (d->week - 1) * 7;
		while (day >= month_days(y, d->month))
			day -= 7;
		return first + day;
	}
}

static void footer_offset(const struct tz *z, int64_t t, int32_t *utoff, int *isdst)
{
	int64_t y, start, end;
	int m, d;
	bool in;

	*utoff = z->std_utoff;
	*isdst = 0;
	if (!z->has_dst)
		return;
	civil_from_days(floor_div(t, SECS_PER_DAY), &y, &m, &d);
	start = rule_day(&z->dst_start, y) * SECS_PER_DAY + z->dst_start.time - z->std_utoff;
	end = rule_day(&z->dst_end, y) * SECS_PER_DAY + z->dst_end.time - z->dst_utoff;
	/* The southern hemisphere's daylight time spans the new year. */
	if (start <= end)
		in = t >= start && t < end;
	else
		in = t >= start || t < end;
	if (in) {
		*utoff = z->dst_utoff;
		*isdst = 1;
	}
}

static int offset_at(const struct tz *z, int64_t t, int32_t *utoff, int *isdst)
{
	size_t lo, hi, mid;
	const struct tz_type *ty;

	*utoff = 0;
	*isdst = 0;
	if (z == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (t > TZ_TIME_LIMIT || t < -TZ_TIME_LIMIT)
		return JIT_ERR_TIME_RANGE;
	if (z->n_trans == 0 || t >= z->trans[z->n_trans - 1]) {
		if (z->has_rule) {
			footer_offset(z, t, utoff, isdst);
			return 0;
		}
		ty = &z->types[z->n_trans == 0 ? 0 : z->trans_type[z->n_trans - 1]];
	} else if (t < z->trans[0]) {
		ty = &z->types[0];
	} else {
		/* The last transition at or before t. */
		lo = 0;
		hi = z->n_trans - 1;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (z->trans[mid] <= t)
				lo = mid;
			else
				hi = mid;
		}
		ty = &z->types[z->trans_type[lo]];
	}
	*utoff = ty->utoff;
	*isdst = ty->isdst;
	return 0;
}

int tz_offset_at(const struct tz *z, int64_t t, int32_t *ret_utoff)
{
	int32_t off;
	int isdst, r = JIT_ERR_INTERNAL;

	*ret_utoff = 0;
	if ((r = offset_at(z, t, &off, &isdst)) != 0)
		goto out;
	*ret_utoff = off;
	r = 0;
out:
	return r;
}

int tz_local_time(const struct tz *z, int64_t t, struct tz_local *ret)
{
	struct tz_local l;
	int64_t local, days, secs;
	int32_t off;
	int isdst, r = JIT_ERR_INTERNAL;

	memset(ret, 0, sizeof(*ret));
	memset(&l, 0, sizeof(l));
	if ((r = offset_at(z, t, &off, &isdst)) != 0)
		goto out;
	local = t + off;
	days = floor_div(local, SECS_PER_DAY);
	secs = local - days * SECS_PER_DAY;
	civil_from_days(days, &l.year, &l.month, &l.day);
	l.weekday = weekday_of(days);
	l.minute = (int)(secs / 60);
	l.second = (int)(secs % 60);
	l.utoff = off;
	l.isdst = isdst;
	*ret = l;
	r = 0;
out:
	return r;
}

/* Segments of [A-Za-z0-9_+-] joined by single slashes. */
static bool name_valid(const char *name, size_t n)
{
	size_t i, seg = 0;

	if (n == 0 || n > TZ_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/') {
			if (seg == 0)
				return false;
			seg = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-')
			return false;
		seg++;
	}
	return seg > 0;
}

/*
 * Resolves a link's target against the directory of name (both relative to
 * the zone directory), folding "." and ".." and never climbing above it.
 */
static int resolve_link(const char *name, const char *target, char *out, size_t outlen)
{
	char buf[2 * TZ_NAME_MAX + 2];
	const char *dir_end = strrchr(name, '/');
	size_t dlen = dir_end == NULL ? 0 : (size_t)(dir_end - name) + 1, tlen = strlen(target);
	size_t i = 0, o = 0, seg;

	if (target[0] == '/' || tlen > TZ_NAME_MAX || dlen + tlen + 1 > sizeof(buf))
		return JIT_ERR_INVALID_ARGUMENT;
	memcpy(buf, name, dlen);
	memcpy(buf + dlen, target, tlen + 1);
	while (buf[i] != '\0') {
		for (seg = 0; buf[i + seg] != '\0' && buf[i + seg] != '/'; seg++)
			;
		if (seg == 2 && buf[i] == '.' && buf[i + 1] == '.') {
			if (o == 0)
				return JIT_ERR_INVALID_ARGUMENT;
			/* Drop the last output segment and its slash. */
			o--;
			while (o > 0 && out[o - 1] != '/')
				o--;
		} else if (!(seg == 1 && buf[i] == '.') && seg > 0) {
			if (o + seg + 1 >= outlen)
				return JIT_ERR_INVALID_ARGUMENT;
			memcpy(out + o, buf + i, seg);
			o += seg;
			out[o++] = '/';
		}
		i += seg;
		if (buf[i] == '/')
			i++;
	}
	if (o == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	out[o - 1] = '\0';
	return name_valid(out, o - 1) ? 0 : JIT_ERR_INVALID_ARGUMENT;
}

int tz_load(const char *name, struct tz **ret)
{
	char cur[TZ_NAME_MAX + 1], next[TZ_NAME_MAX + 1], target[TZ_NAME_MAX + 1];
	char path[sizeof(CONFIG_ZONEINFO_DIR) + TZ_NAME_MAX + 1];
	struct stat st;
	uint8_t *data = NULL;
	size_t len = 0, n;
	ssize_t tl;
	int hops, r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (name == NULL || (n = strnlen(name, TZ_NAME_MAX + 1)) > TZ_NAME_MAX ||
	    !name_valid(name, n)) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	memcpy(cur, name, n + 1);
	for (hops = 0;; hops++) {
		snprintf(path, sizeof(path), "%s/%s", CONFIG_ZONEINFO_DIR, cur);
		r = file_read(path, TZ_FILE_MAX, FILE_TRUSTED, &data, &len);
		if (r != JIT_ERR_FILE_TYPE)
			break;
		/* file_read never follows a link; follow it here, checked like a name. */
		if (hops == TZ_LINKS_MAX || lstat(path, &st) == -1 || !S_ISLNK(st.st_mode))
			goto out;
		if ((tl = readlink(path, target, sizeof(target))) <= 0 ||
		    (size_t)tl >= sizeof(target))
			goto out;
		target[tl] = '\0';
		if (resolve_link(cur, target, next, sizeof(next)) != 0)
			goto out;
		memcpy(cur, next, strlen(next) + 1);
	}
	if (r != 0)
		goto out;
	if ((r = tz_parse(data, len, ret)) != 0)
		goto out;
	r = 0;
out:
	/* Public data: no wiping needed. */
	free(data);
	return r;
}
