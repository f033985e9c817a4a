/* SPDX-License-Identifier: BSD-2-Clause */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "timefmt.h"

/* Ten years of 365.25 days, rounded up: any ten calendar years fit. */
#define DURATION_MAX ((uint64_t)3653 * 86400)

/* YYYY-MM-DDTHH:MM:SS, before the zone designator. */
#define RFC3339_BASE_LEN 19

struct civil {
	int64_t year;
	int month, day, hour, min, sec;
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
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

/* Every input is bounded before anything looks at it. */
static int text_len(const char *s, size_t *ret)
{
	size_t n;

	*ret = 0;
	if (s == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if ((n = strnlen(s, TIME_TEXT_MAX + 1)) > TIME_TEXT_MAX)
		return JIT_ERR_TIME_INVALID;
	*ret = n;
	return 0;
}

static int token_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* Exactly n decimal digits. */
static int fixed_digits(const char *s, size_t n, int *ret)
{
	int v = 0;
	size_t i;

	*ret = 0;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return JIT_ERR_TIME_INVALID;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* A real calendar date and time of day (no leap seconds: OpenSSH has none either). */
static int civil_check(const struct civil *c)
{
	if (c->month < 1 || c->month > 12 || c->day < 1 ||
	    c->day > days_in_month(c->year, c->month))
		return JIT_ERR_TIME_INVALID;
	if (c->hour > 23 || c->min > 59 || c->sec > 59)
		return JIT_ERR_TIME_INVALID;
	return 0;
}

/* Days since 1970-01-01 in the proleptic Gregorian calendar (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse, for days >= 0 only. */
static void civil_from_days(int64_t z, struct civil *c)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->year = yoe + era * 400 + (c->month <= 2);
}

/* Seconds since the epoch of a UTC civil time; |result| stays far below 2^62. */
static int64_t civil_to_utc(const struct civil *c)
{
	return days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 + c->min * 60 +
	       c->sec;
}

static int in_range(int64_t t, uint64_t *ret)
{
	*ret = 0;
	if (t < 0 || (uint64_t)t > TIME_MAX)
		return JIT_ERR_TIME_RANGE;
	*ret = (uint64_t)t;
	return 0;
}

/* A civil time in the local zone, as ssh-keygen reads its absolute times. */
static int civil_to_local(const struct civil *c, uint64_t *ret)
{
	struct tm tm;
	time_t t;

	*ret = 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)(c->year - 1900);
	tm.tm_mon = c->month - 1;
	tm.tm_mday = c->day;
	tm.tm_hour = c->hour;
	tm.tm_min = c->min;
	tm.tm_sec = c->sec;
	tm.tm_isdst = -1;
	tm.tm_wday = -1; /* mktime sets it on success: -1 is also a valid time */
	t = mktime(&tm);
	if (t == (time_t)-1 && tm.tm_wday == -1)
		return JIT_ERR_TIME_RANGE;
	return in_range((int64_t)t, ret);
}

static int duration_parse(const char *s, size_t n, int require_unit, uint64_t *ret)
{
	uint64_t total = 0, v, mult;
	size_t i = 0;
	int over = 0;

	*ret = 0;
	if (n == 0)
		return JIT_ERR_TIME_INVALID;
	/*
	 * Syntax is checked to the end even once the value is out of range, so
	 * that malformed text is always JIT_ERR_TIME_INVALID. Values are kept
	 * at most DURATION_MAX, so no step below can overflow.
	 */
	while (i < n) {
		if (!is_digit(s[i]))
			return JIT_ERR_TIME_INVALID;
		for (v = 0; i < n && is_digit(s[i]); i++) {
			if (v > DURATION_MAX)
				over = 1;
			else
				v = v * 10 + (uint64_t)(s[i] - '0');
		}
		if (i == n) {
			/* A bare number: seconds, as in ssh-keygen's convtime. */
			if (require_unit)
				return JIT_ERR_TIME_INVALID;
			mult = 1;
		} else {
			switch (s[i++]) {
			case 's':
			case 'S':
				mult = 1;
				break;
			case 'm':
			case 'M':
				mult = 60;
				break;
			case 'h':
			case 'H':
				mult = 3600;
				break;
			case 'd':
			case 'D':
				mult = 86400;
				break;
			case 'w':
			case 'W':
				mult = 7 * 86400;
				break;
			default:
				return JIT_ERR_TIME_INVALID;
			}
		}
		if (over || v > DURATION_MAX / mult) {
			over = 1;
			continue;
		}
		total += v * mult;
		if (total > DURATION_MAX)
			over = 1;
	}
	if (over)
		return JIT_ERR_TIME_RANGE;
	*ret = total;
	return 0;
}

/* "0x" and hex digits, as ssh-keygen's raw seconds. */
static int hex_parse(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;
	int h, over = 0;

	*ret = 0;
	if (n <= 2)
		return JIT_ERR_TIME_INVALID;
	for (i = 2; i < n; i++) {
		if ((h = hex_value(s[i])) < 0)
			return JIT_ERR_TIME_INVALID;
		/* v stays at most TIME_MAX (< 2^38), so v * 16 + 15 cannot wrap. */
		if (!over)
			v = v * 16 + (uint64_t)h;
		if (v > TIME_MAX)
			over = 1;
	}
	if (over)
		return JIT_ERR_TIME_RANGE;
	*ret = v;
	return 0;
}

/* YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, local or with "Z" UTC. */
static int compact_parse(const char *s, size_t n, uint64_t *ret)
{
	struct civil c;
	int utc = 0, y, r;

	*ret = 0;
	memset(&c, 0, sizeof(c));
	if (n > 0 && (s[n - 1] == 'Z' || s[n - 1] == 'z')) {
		utc = 1;
		n--;
	}
	if (n != 8 && n != 12 && n != 14)
		return JIT_ERR_TIME_INVALID;
	if ((r = fixed_digits(s, 4, &y)) != 0 || (r = fixed_digits(s + 4, 2, &c.month)) != 0 ||
	    (r = fixed_digits(s + 6, 2, &c.day)) != 0)
		return r;
	if (n >= 12 && ((r = fixed_digits(s + 8, 2, &c.hour)) != 0 ||
	                (r = fixed_digits(s + 10, 2, &c.min)) != 0))
		return r;
	if (n == 14 && (r = fixed_digits(s + 12, 2, &c.sec)) != 0)
		return r;
	c.year = y;
	if ((r = civil_check(&c)) != 0)
		return r;
	return utc ? in_range(civil_to_utc(&c), ret) : civil_to_local(&c, ret);
}

/* Does s start like an RFC 3339 timestamp ("DDDD-")? */
static int looks_rfc3339(const char *s, size_t n)
{
	return n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
	       s[4] == '-';
}

static int rfc3339_parse(const char *s, size_t n, uint64_t *ret)
{
	struct civil c;
	int64_t t, off = 0;
	int y, oh, om, r;

	*ret = 0;
	memset(&c, 0, sizeof(c));
	if (n < RFC3339_BASE_LEN + 1)
		return JIT_ERR_TIME_INVALID;
	if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':')
		return JIT_ERR_TIME_INVALID;
	if ((r = fixed_digits(s, 4, &y)) != 0 || (r = fixed_digits(s + 5, 2, &c.month)) != 0 ||
	    (r = fixed_digits(s + 8, 2, &c.day)) != 0 ||
	    (r = fixed_digits(s + 11, 2, &c.hour)) != 0 ||
	    (r = fixed_digits(s + 14, 2, &c.min)) != 0 ||
	    (r = fixed_digits(s + 17, 2, &c.sec)) != 0)
		return r;
	c.year = y;
	s += RFC3339_BASE_LEN;
	n -= RFC3339_BASE_LEN;
	/* Fractions of a second ('.') fall through to the error below. */
	if (n == 1 && (s[0] == 'Z' || s[0] == 'z')) {
		off = 0;
	} else if (n == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':') {
		if ((r = fixed_digits(s + 1, 2, &oh)) != 0 ||
		    (r = fixed_digits(s + 4, 2, &om)) != 0)
			return r;
		if (oh > 23 || om > 59)
			return JIT_ERR_TIME_INVALID;
		off = (int64_t)oh * 3600 + om * 60;
		if (s[0] == '-')
			off = -off;
	} else {
		return JIT_ERR_TIME_INVALID;
	}
	if ((r = civil_check(&c)) != 0)
		return r;
	/* Local time minus its offset from UTC. */
	t = civil_to_utc(&c) - off;
	return in_range(t, ret);
}

static int point_parse(const char *s, size_t n, uint64_t now, uint64_t *ret)
{
	uint64_t d;
	int r;

	*ret = 0;
	if (n == 0)
		return JIT_ERR_TIME_INVALID;
	if (s[0] == '+' || s[0] == '-') {
		if ((r = duration_parse(s + 1, n - 1, 0, &d)) != 0)
			return r;
		if (now > TIME_MAX)
			return JIT_ERR_TIME_RANGE;
		if (s[0] == '+' ? d > TIME_MAX - now : d > now)
			return JIT_ERR_TIME_RANGE;
		*ret = s[0] == '+' ? now + d : now - d;
		return 0;
	}
	if (token_is(s, n, "now")) {
		if (now > TIME_MAX)
			return JIT_ERR_TIME_RANGE;
		*ret = now;
		return 0;
	}
	if (n >= 2 && s[0] == '0' && s[1] == 'x')
		return hex_parse(s, n, ret);
	if (looks_rfc3339(s, n))
		return rfc3339_parse(s, n, ret);
	return compact_parse(s, n, ret);
}

int time_parse_duration(const char *s, int require_unit, uint64_t *ret)
{
	size_t n;
	int r;

	*ret = 0;
	if ((r = text_len(s, &n)) != 0)
		return r;
	return duration_parse(s, n, require_unit, ret);
}

int time_parse_point(const char *s, uint64_t now, uint64_t *ret)
{
	size_t n;
	int r;

	*ret = 0;
	if ((r = text_len(s, &n)) != 0)
		return r;
	return point_parse(s, n, now, ret);
}

int time_parse_rfc3339(const char *s, uint64_t *ret)
{
	size_t n;
	int r;

	*ret = 0;
	if ((r = text_len(s, &n)) != 0)
		return r;
	return rfc3339_parse(s, n, ret);
}

/*
 * Where FROM ends. ssh-keygen splits at the first ':', which would cut an
 * RFC 3339 FROM in two: its length is fixed, so skip over it instead.
 * Returns n when there is no separator (a single TO).
 */
static size_t validity_split(const char *s, size_t n)
{
	const char *colon;
	size_t end;

	if (looks_rfc3339(s, n)) {
		end = RFC3339_BASE_LEN;
		if (end < n && (s[end] == 'Z' || s[end] == 'z'))
			end += 1;
		else if (end < n && (s[end] == '+' || s[end] == '-'))
			end += 6;
		return end < n && s[end] == ':' ? end : n;
	}
	colon = memchr(s, ':', n);
	return colon == NULL ? n : (size_t)(colon - s);
}

int time_parse_validity(const char *s, uint64_t now, uint64_t *ret_after, uint64_t *ret_before)
{
	uint64_t after = 0, before = 0;
	const char *to;
	size_t n, sep, tolen;
	int r = JIT_ERR_INTERNAL;

	*ret_after = 0;
	*ret_before = 0;
	if ((r = text_len(s, &n)) != 0)
		goto out;
	sep = validity_split(s, n);
	if (sep == n) {
		if (now > TIME_MAX) {
			r = JIT_ERR_TIME_RANGE;
			goto out;
		}
		after = now;
		to = s;
		tolen = n;
	} else {
		if (token_is(s, sep, "always"))
			after = 0;
		else if ((r = point_parse(s, sep, now, &after)) != 0)
			goto out;
		to = s + sep + 1;
		tolen = n - sep - 1;
	}
	if (token_is(to, tolen, "forever"))
		before = TIME_FOREVER;
	else if ((r = point_parse(to, tolen, now, &before)) != 0)
		goto out;
	if (before <= after) {
		r = JIT_ERR_CERT_BAD_VALIDITY;
		goto out;
	}
	*ret_after = after;
	*ret_before = before;
	r = 0;
out:
	return r;
}

/* Copies text into out only when it fits whole. */
static int copy_out(const char *text, char *out, size_t outlen)
{
	size_t n = strlen(text);

	if (n >= outlen)
		return JIT_ERR_NO_BUFFER_SPACE;
	memcpy(out, text, n + 1);
	return 0;
}

/* Output strings are empty on failure. */
static int out_begin(char *out, size_t outlen)
{
	if (out == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (outlen == 0)
		return JIT_ERR_NO_BUFFER_SPACE;
	out[0] = '\0';
	return 0;
}

int time_format_rfc3339(uint64_t t, char *out, size_t outlen)
{
	char tmp[64];
	struct civil c;
	uint64_t secs;
	int r;

	if ((r = out_begin(out, outlen)) != 0)
		return r;
	if (t > TIME_MAX)
		return JIT_ERR_TIME_RANGE;
	memset(&c, 0, sizeof(c));
	civil_from_days((int64_t)(t / 86400), &c);
	secs = t % 86400;
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)c.year, c.month, c.day,
	         (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	return copy_out(tmp, out, outlen);
}

int time_format_local(uint64_t t, char *out, size_t outlen)
{
	char tmp[64];
	struct tm tm;
	time_t tt;
	int r;

	if ((r = out_begin(out, outlen)) != 0)
		return r;
	if (t == 0)
		return copy_out("always", out, outlen);
	if (t == TIME_FOREVER)
		return copy_out("forever", out, outlen);
	if (t > TIME_MAX)
		return JIT_ERR_TIME_RANGE;
	tt = (time_t)t;
	if ((uint64_t)tt != t || localtime_r(&tt, &tm) == NULL)
		return JIT_ERR_TIME_RANGE;
	if (strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return JIT_ERR_TIME_RANGE;
	return copy_out(tmp, out, outlen);
}

int time_format_duration(uint64_t secs, char *out, size_t outlen)
{
	static const struct {
		uint64_t secs;
		char unit;
	} units[] = {{7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	char tmp[48];
	size_t i, len = 0;
	uint64_t v;
	int r;

	if ((r = out_begin(out, outlen)) != 0)
		return r;
	if (secs == 0)
		return copy_out("0s", out, outlen);
	/* Weeks take at most 14 digits, the other units 2: tmp cannot overflow. */
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		v = secs / units[i].secs;
		secs %= units[i].secs;
		if (v == 0)
			continue;
		len += (size_t)snprintf(tmp + len, sizeof(tmp) - len, "%llu%c",
		                        (unsigned long long)v, units[i].unit);
	}
	return copy_out(tmp, out, outlen);
}
