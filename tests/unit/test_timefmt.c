/* SPDX-License-Identifier: BSD-2-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "err.h"
#include "timefmt.h"

/* 2026-11-23T08:00:00Z: the "now" of every relative case. */
#define NOW ((uint64_t)1795420800)
/* 2026-11-23T00:00:00Z */
#define DAY ((uint64_t)1795392000)
/* The duration cap: 3653 days. */
#define DMAX ((uint64_t)315619200)

struct dur_case {
	const char *s;
	int require_unit;
	int r;
	uint64_t v;
};

static void test_duration(void **state)
{
	static const struct dur_case cases[] = {
	        {"0", 0, 0, 0},
	        {"0s", 1, 0, 0},
	        {"90s", 1, 0, 90},
	        {"90", 0, 0, 90},
	        {"5m", 1, 0, 300},
	        {"5M", 1, 0, 300},
	        {"2h", 1, 0, 7200},
	        {"1h30m", 1, 0, 5400},
	        {"1H30M", 1, 0, 5400},
	        {"2d", 1, 0, 172800},
	        {"1w", 1, 0, 604800},
	        {"1W2D3H4M5S", 1, 0, 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5},
	        {"1h30", 0, 0, 3630},
	        {"1m1m", 1, 0, 120},
	        {"007m", 1, 0, 420},
	        {"3653d", 1, 0, DMAX},
	        {"315619200", 0, 0, DMAX},
	        {"315619199s1s", 1, 0, DMAX},
	        /* A bound of 64 characters, and not one more. */
	        {"000000000000000000000000000000000000000000000000000000000000005m", 1, 0, 300},
	        {"0000000000000000000000000000000000000000000000000000000000000005m", 1,
	         JIT_ERR_TIME_INVALID, 0},
	        {"315619201", 0, JIT_ERR_TIME_RANGE, 0},
	        {"3654d", 1, JIT_ERR_TIME_RANGE, 0},
	        {"522w", 1, JIT_ERR_TIME_RANGE, 0},
	        {"3653d1s", 1, JIT_ERR_TIME_RANGE, 0},
	        {"18446744073709551616s", 1, JIT_ERR_TIME_RANGE, 0},
	        {"99999999999999999999999999999w", 1, JIT_ERR_TIME_RANGE, 0},
	        /* Out of range first, malformed later: still malformed. */
	        {"99999999999999999999w5x", 1, JIT_ERR_TIME_INVALID, 0},
	        {"90", 1, JIT_ERR_TIME_INVALID, 0},
	        {"1h30", 1, JIT_ERR_TIME_INVALID, 0},
	        {"", 0, JIT_ERR_TIME_INVALID, 0},
	        {"m", 0, JIT_ERR_TIME_INVALID, 0},
	        {"5x", 0, JIT_ERR_TIME_INVALID, 0},
	        {"5mm", 0, JIT_ERR_TIME_INVALID, 0},
	        {"-5m", 0, JIT_ERR_TIME_INVALID, 0},
	        {"+5m", 0, JIT_ERR_TIME_INVALID, 0},
	        {" 5m", 0, JIT_ERR_TIME_INVALID, 0},
	        {"5m ", 0, JIT_ERR_TIME_INVALID, 0},
	        {"5 m", 0, JIT_ERR_TIME_INVALID, 0},
	        {"1.5s", 0, JIT_ERR_TIME_INVALID, 0},
	        {"0x10", 0, JIT_ERR_TIME_INVALID, 0},
	};
	uint64_t v;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		r = time_parse_duration(cases[i].s, cases[i].require_unit, &v);
		if (r != cases[i].r || v != cases[i].v)
			fail_msg("\"%s\" (unit %d): got %d %llu", cases[i].s, cases[i].require_unit,
			         r, (unsigned long long)v);
	}
	v = 12345;
	assert_int_equal(time_parse_duration(NULL, 0, &v), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(v, 0);
}

struct point_case {
	const char *s;
	uint64_t now;
	int r;
	uint64_t v;
};

static void test_point(void **state)
{
	static const struct point_case cases[] = {
	        {"+5m", NOW, 0, NOW + 300},
	        {"-1m", NOW, 0, NOW - 60},
	        {"+1h30m", NOW, 0, NOW + 5400},
	        {"+90", NOW, 0, NOW + 90},
	        {"+0", NOW, 0, NOW},
	        {"now", NOW, 0, NOW},
	        {"0x10", NOW, 0, 16},
	        {"0x0", NOW, 0, 0},
	        {"0x6A1F2B00", NOW, 0, 0x6a1f2b00},
	        {"0x3afff4417f", NOW, 0, TIME_MAX},
	        {"0x00000000000000000000000000010", NOW, 0, 16},
	        {"20261123", NOW, 0, DAY}, /* TZ=UTC in the test environment */
	        {"20261123Z", NOW, 0, DAY},
	        {"20261123z", NOW, 0, DAY},
	        {"202611230800Z", NOW, 0, NOW},
	        {"20261123080000Z", NOW, 0, NOW},
	        {"20261123080001", NOW, 0, NOW + 1},
	        {"20240229Z", NOW, 0, 1709164800},
	        {"20000229Z", NOW, 0, 951782400},
	        {"19700101Z", NOW, 0, 0},
	        {"99991231235959Z", NOW, 0, TIME_MAX},
	        {"2026-11-23T08:00:00Z", NOW, 0, NOW},
	        {"2026-11-23T08:00:00-05:00", NOW, 0, 1795438800},
	        {"0x3afff44180", NOW, JIT_ERR_TIME_RANGE, 0},
	        {"0xffffffffffffffff", NOW, JIT_ERR_TIME_RANGE, 0},
	        {"0x1ffffffffffffffff", NOW, JIT_ERR_TIME_RANGE, 0},
	        {"19691231Z", NOW, JIT_ERR_TIME_RANGE, 0},
	        {"19691231235959", NOW, JIT_ERR_TIME_RANGE, 0},
	        {"00000101Z", NOW, JIT_ERR_TIME_RANGE, 0},
	        {"+3654d", NOW, JIT_ERR_TIME_RANGE, 0},
	        {"+1s", TIME_MAX, JIT_ERR_TIME_RANGE, 0},
	        {"+0", TIME_MAX, 0, TIME_MAX},
	        {"-1s", 0, JIT_ERR_TIME_RANGE, 0},
	        {"-0", 0, 0, 0},
	        {"-1s", 1, 0, 0},
	        {"now", TIME_MAX + 1, JIT_ERR_TIME_RANGE, 0},
	        {"-1s", TIME_MAX + 2, JIT_ERR_TIME_RANGE, 0},
	        {"0x", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"0xg", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"0x10 ", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"0X10", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20260230Z", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20230229Z", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"21000229Z", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20261131", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20261301", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20260001", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20261100", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"2026112Z", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"2026112300", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"202611230860Z", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20261123240000Z", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20261123235960Z", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"20261123UTC", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"2026 1123", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"+", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"-", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"+-5m", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"now ", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"NOW", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"always", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"forever", NOW, JIT_ERR_TIME_INVALID, 0},
	        {"Z", NOW, JIT_ERR_TIME_INVALID, 0},
	};
	uint64_t v;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		r = time_parse_point(cases[i].s, cases[i].now, &v);
		if (r != cases[i].r || v != cases[i].v)
			fail_msg("\"%s\": got %d %llu", cases[i].s, r, (unsigned long long)v);
	}
	assert_int_equal(time_parse_point(NULL, NOW, &v), JIT_ERR_INVALID_ARGUMENT);
}

static void test_rfc3339(void **state)
{
	static const struct point_case cases[] = {
	        {"2026-11-23T08:00:00Z", 0, 0, NOW},
	        {"2026-11-23t08:00:00z", 0, 0, NOW},
	        {"2026-11-23T08:00:00+00:00", 0, 0, NOW},
	        {"2026-11-23T08:00:00-00:00", 0, 0, NOW},
	        {"2026-11-23T08:00:00-05:00", 0, 0, 1795438800},
	        {"2026-11-23T08:00:00+01:00", 0, 0, 1795417200},
	        {"2026-11-23T08:00:00+05:30", 0, 0, 1795401000},
	        {"2026-11-23T08:00:00+23:59", 0, 0, NOW - 23 * 3600 - 59 * 60},
	        {"2024-02-29T12:34:56Z", 0, 0, 1709210096},
	        {"2000-02-29T00:00:00Z", 0, 0, 951782400},
	        {"2100-03-01T00:00:00Z", 0, 0, 4107542400},
	        {"1970-01-01T00:00:00Z", 0, 0, 0},
	        {"1969-12-31T23:00:00-01:00", 0, 0, 0},
	        {"9999-12-31T23:59:59Z", 0, 0, TIME_MAX},
	        {"10000-01-01T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"1969-12-31T23:59:59Z", 0, JIT_ERR_TIME_RANGE, 0},
	        {"1970-01-01T00:00:00+00:01", 0, JIT_ERR_TIME_RANGE, 0},
	        {"9999-12-31T23:59:59-00:01", 0, JIT_ERR_TIME_RANGE, 0},
	        {"0000-01-01T00:00:00Z", 0, JIT_ERR_TIME_RANGE, 0},
	        {"2023-02-29T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2100-02-29T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-02-30T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-04-31T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-13-01T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-00-10T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-00T00:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T24:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:60:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:60Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00.5Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00.000Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23 08:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00+0100", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00+01", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00+24:00", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00+01:60", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00Z ", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:00ZZ", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-1-23T08:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T8:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026-11-23T08:00:0aZ", 0, JIT_ERR_TIME_INVALID, 0},
	        {"2026/11/23T08:00:00Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"20261123T080000Z", 0, JIT_ERR_TIME_INVALID, 0},
	        {"", 0, JIT_ERR_TIME_INVALID, 0},
	};
	uint64_t v;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		r = time_parse_rfc3339(cases[i].s, &v);
		if (r != cases[i].r || v != cases[i].v)
			fail_msg("\"%s\": got %d %llu", cases[i].s, r, (unsigned long long)v);
	}
	assert_int_equal(time_parse_rfc3339(NULL, &v), JIT_ERR_INVALID_ARGUMENT);
}

struct validity_case {
	const char *s;
	uint64_t now;
	int r;
	uint64_t after, before;
};

static void test_validity(void **state)
{
	static const struct validity_case cases[] = {
	        {"+5m", NOW, 0, NOW, NOW + 300},
	        {"+90", NOW, 0, NOW, NOW + 90},
	        {"-1m:+5m", NOW, 0, NOW - 60, NOW + 300},
	        {"-1M:+1H30M", NOW, 0, NOW - 60, NOW + 5400},
	        {"+1m:+5m", NOW, 0, NOW + 60, NOW + 300},
	        {"always:forever", NOW, 0, 0, TIME_FOREVER},
	        {"forever", NOW, 0, NOW, TIME_FOREVER},
	        {"always:+1h", NOW, 0, 0, NOW + 3600},
	        {"always:0x1", NOW, 0, 0, 1},
	        {"0x0:0x1", NOW, 0, 0, 1},
	        {"0x10:0x20", NOW, 0, 16, 32},
	        {"now:+1s", NOW, 0, NOW, NOW + 1},
	        {"20261123:20261124", NOW, 0, DAY, DAY + 86400},
	        {"20261123Z:20261124Z", NOW, 0, DAY, DAY + 86400},
	        {"202611230800:202611231000", NOW, 0, NOW, NOW + 7200},
	        {"20261123080000:20261123080001Z", NOW, 0, NOW, NOW + 1},
	        {"20261124", NOW, 0, NOW, DAY + 86400},
	        {"2026-11-23T09:00:00Z", NOW, 0, NOW, NOW + 3600},
	        {"2026-11-23T10:00:00+01:00", NOW, 0, NOW, NOW + 3600},
	        {"2026-11-23T08:00:00Z:2026-11-23T09:00:00Z", NOW, 0, NOW, NOW + 3600},
	        {"2026-11-23T08:00:00+01:00:+1h", NOW, 0, NOW - 3600, NOW + 3600},
	        {"2026-11-23T08:00:00-05:00:2026-11-24T00:00:00Z", NOW, 0, 1795438800, DAY + 86400},
	        {"always:99991231235959Z", NOW, 0, 0, TIME_MAX},
	        {"+0", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"-1m", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"+5m:-5m", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"+5m:+5m", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"20261124:20261123", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"20261123", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"0x0:0x0", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"always:0x0", NOW, JIT_ERR_CERT_BAD_VALIDITY, 0, 0},
	        {"-1m:+3654d", NOW, JIT_ERR_TIME_RANGE, 0, 0},
	        {"+3654d", NOW, JIT_ERR_TIME_RANGE, 0, 0},
	        {"0x0:0x3afff44180", NOW, JIT_ERR_TIME_RANGE, 0, 0},
	        {"0x0:0xffffffffffffffff", NOW, JIT_ERR_TIME_RANGE, 0, 0},
	        {"19691231:+5m", NOW, JIT_ERR_TIME_RANGE, 0, 0},
	        {"+5m", TIME_MAX + 1, JIT_ERR_TIME_RANGE, 0, 0},
	        {"forever", TIME_MAX + 1, JIT_ERR_TIME_RANGE, 0, 0},
	        {"always", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"forever:+5m", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"+5m:always", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"ALWAYS:FOREVER", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {":+5m", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"+5m:", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {":", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"-1m:+5m:+6m", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"-1m::+5m", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"-1m +5m", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"2026-11-23T08:00:00Z:", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"2026-11-23T08:00:00:+5m", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"2026-11-23:+5m", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"", NOW, JIT_ERR_TIME_INVALID, 0, 0},
	        {"-1m:+00000000000000000000000000000000000000000000000000000000005m", NOW,
	         JIT_ERR_TIME_INVALID, 0, 0},
	};
	uint64_t a, b;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = b = 12345;
		r = time_parse_validity(cases[i].s, cases[i].now, &a, &b);
		if (r != cases[i].r || a != cases[i].after || b != cases[i].before)
			fail_msg("\"%s\": got %d %llu %llu", cases[i].s, r, (unsigned long long)a,
			         (unsigned long long)b);
	}
	assert_int_equal(time_parse_validity(NULL, NOW, &a, &b), JIT_ERR_INVALID_ARGUMENT);
}

static void set_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static int restore_tz(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

/* Absolute times without "Z" are local, as in ssh-keygen; with "Z" they are not. */
static void test_local_zone(void **state)
{
	char out[32];
	uint64_t v, a, b;

	(void)state;
	set_tz("Europe/Berlin");
	assert_int_equal(time_parse_point("20261123", NOW, &v), 0);
	assert_int_equal(v, 1795388400); /* CET, +01:00 */
	assert_int_equal(time_parse_point("20260701120000", NOW, &v), 0);
	assert_int_equal(v, 1782900000); /* CEST, +02:00 */
	assert_int_equal(time_parse_point("20261123Z", NOW, &v), 0);
	assert_int_equal(v, DAY);
	assert_int_equal(time_parse_point("2026-11-23T08:00:00Z", NOW, &v), 0);
	assert_int_equal(v, NOW);
	assert_int_equal(time_parse_validity("202611230900:202611231000", NOW, &a, &b), 0);
	assert_int_equal(a, NOW);
	assert_int_equal(b, NOW + 3600);
	assert_int_equal(time_format_local(NOW, out, sizeof(out)), 0);
	assert_string_equal(out, "2026-11-23T09:00:00");
	assert_int_equal(time_format_local(1782900000, out, sizeof(out)), 0);
	assert_string_equal(out, "2026-07-01T12:00:00");
	assert_int_equal(time_format_rfc3339(NOW, out, sizeof(out)), 0);
	assert_string_equal(out, "2026-11-23T08:00:00Z");

	/* West of UTC the last local second lies past TIME_MAX. */
	set_tz("America/New_York");
	assert_int_equal(time_parse_point("99991231235959", NOW, &v), JIT_ERR_TIME_RANGE);
	assert_int_equal(v, 0);
	assert_int_equal(time_parse_point("99991231185959", NOW, &v), 0);
	assert_int_equal(v, TIME_MAX);

	/* East of it, TIME_MAX is in year 10000. */
	set_tz("Asia/Tokyo");
	assert_int_equal(time_format_local(TIME_MAX, out, sizeof(out)), 0);
	assert_string_equal(out, "10000-01-01T08:59:59");
	assert_int_equal(time_parse_point("19700101", NOW, &v), JIT_ERR_TIME_RANGE);
	assert_int_equal(time_parse_point("19700101090000", NOW, &v), 0);
	assert_int_equal(v, 0);
}

static void test_format_rfc3339(void **state)
{
	static const struct {
		uint64_t t;
		const char *s;
	} cases[] = {
	        {0, "1970-01-01T00:00:00Z"},          {NOW, "2026-11-23T08:00:00Z"},
	        {951782400, "2000-02-29T00:00:00Z"},  {1709210096, "2024-02-29T12:34:56Z"},
	        {4107542399, "2100-02-28T23:59:59Z"}, {4107542400, "2100-03-01T00:00:00Z"},
	        {TIME_MAX, "9999-12-31T23:59:59Z"},
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(time_format_rfc3339(cases[i].t, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].s);
	}
	memset(out, 'x', sizeof(out));
	assert_int_equal(time_format_rfc3339(TIME_MAX + 1, out, sizeof(out)), JIT_ERR_TIME_RANGE);
	assert_string_equal(out, "");
	memset(out, 'x', sizeof(out));
	assert_int_equal(time_format_rfc3339(TIME_FOREVER, out, sizeof(out)), JIT_ERR_TIME_RANGE);
	assert_string_equal(out, "");
	memset(out, 'x', sizeof(out));
	assert_int_equal(time_format_rfc3339(NOW, out, 20), JIT_ERR_NO_BUFFER_SPACE);
	assert_string_equal(out, "");
	assert_int_equal(time_format_rfc3339(NOW, out, 21), 0);
	assert_string_equal(out, "2026-11-23T08:00:00Z");
	assert_int_equal(time_format_rfc3339(NOW, out, 0), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(time_format_rfc3339(NOW, NULL, 21), JIT_ERR_INVALID_ARGUMENT);
}

/* Against gmtime_r and back through the parser, over the whole range. */
static void test_rfc3339_roundtrip(void **state)
{
	char out[32], want[32];
	uint64_t t, v;
	struct tm tm;
	time_t tt;
	unsigned int i;

	(void)state;
	for (i = 0; i <= 200000; i++) {
		/* A prime stride, to visit every time of day and month over the years. */
		t = (uint64_t)i * 1267007 + i % 86400;
		if (t > TIME_MAX)
			t = TIME_MAX - i;
		tt = (time_t)t;
		assert_non_null(gmtime_r(&tt, &tm));
		assert_true(strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
		assert_int_equal(time_format_rfc3339(t, out, sizeof(out)), 0);
		if (strcmp(out, want) != 0)
			fail_msg("%llu: \"%s\" != \"%s\"", (unsigned long long)t, out, want);
		assert_int_equal(time_parse_rfc3339(out, &v), 0);
		assert_int_equal(v, t);
		/* The compact UTC form reads back the same. */
		snprintf(want, sizeof(want), "%.4s%.2s%.2s%.2s%.2s%.2sZ", out, out + 5, out + 8,
		         out + 11, out + 14, out + 17);
		assert_int_equal(time_parse_point(want, NOW, &v), 0);
		assert_int_equal(v, t);
	}
}

static void test_format_local(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(time_format_local(0, out, sizeof(out)), 0);
	assert_string_equal(out, "always");
	assert_int_equal(time_format_local(TIME_FOREVER, out, sizeof(out)), 0);
	assert_string_equal(out, "forever");
	assert_int_equal(time_format_local(1, out, sizeof(out)), 0);
	assert_string_equal(out, "1970-01-01T00:00:01");
	assert_int_equal(time_format_local(NOW, out, sizeof(out)), 0);
	assert_string_equal(out, "2026-11-23T08:00:00");
	assert_int_equal(time_format_local(TIME_MAX, out, sizeof(out)), 0);
	assert_string_equal(out, "9999-12-31T23:59:59");
	memset(out, 'x', sizeof(out));
	assert_int_equal(time_format_local(TIME_MAX + 1, out, sizeof(out)), JIT_ERR_TIME_RANGE);
	assert_string_equal(out, "");
	memset(out, 'x', sizeof(out));
	assert_int_equal(time_format_local(NOW, out, 19), JIT_ERR_NO_BUFFER_SPACE);
	assert_string_equal(out, "");
	assert_int_equal(time_format_local(NOW, out, 20), 0);
	assert_string_equal(out, "2026-11-23T08:00:00");
	assert_int_equal(time_format_local(0, out, 6), JIT_ERR_NO_BUFFER_SPACE);
	assert_string_equal(out, "");
	assert_int_equal(time_format_local(0, out, 7), 0);
	assert_string_equal(out, "always");
	assert_int_equal(time_format_local(TIME_FOREVER, out, 7), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(time_format_local(NOW, NULL, 20), JIT_ERR_INVALID_ARGUMENT);
}

static void test_format_duration(void **state)
{
	static const struct {
		uint64_t secs;
		const char *s;
	} cases[] = {
	        {0, "0s"},
	        {1, "1s"},
	        {59, "59s"},
	        {60, "1m"},
	        {90, "1m30s"},
	        {300, "5m"},
	        {3600, "1h"},
	        {3601, "1h1s"},
	        {5400, "1h30m"},
	        {86400, "1d"},
	        {604800, "1w"},
	        {694861, "1w1d1h1m1s"},
	        {1209600 + 59, "2w59s"},
	        {DMAX, "521w6d"},
	        {UINT64_MAX, "30500568904943w7h15s"},
	};
	char out[48];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(time_format_duration(cases[i].secs, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].s);
	}
	memset(out, 'x', sizeof(out));
	assert_int_equal(time_format_duration(5400, out, 5), JIT_ERR_NO_BUFFER_SPACE);
	assert_string_equal(out, "");
	assert_int_equal(time_format_duration(5400, out, 6), 0);
	assert_string_equal(out, "1h30m");
	assert_int_equal(time_format_duration(0, out, 2), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(time_format_duration(0, NULL, 2), JIT_ERR_INVALID_ARGUMENT);
}

/* Every duration format writes reads back as itself, with units required. */
static void test_duration_roundtrip(void **state)
{
	char out[48];
	uint64_t d, v;
	unsigned int i;

	(void)state;
	for (i = 0; i <= 100000; i++) {
		d = i < 5000 ? i : (uint64_t)i * 3156 + i % 7;
		if (d > DMAX)
			d = DMAX;
		assert_int_equal(time_format_duration(d, out, sizeof(out)), 0);
		if (time_parse_duration(out, 1, &v) != 0 || v != d)
			fail_msg("%llu -> \"%s\"", (unsigned long long)d, out);
	}
	assert_int_equal(time_format_duration(DMAX + 1, out, sizeof(out)), 0);
	assert_string_equal(out, "521w6d1s");
	assert_int_equal(time_parse_duration(out, 1, &v), JIT_ERR_TIME_RANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_duration),
	        cmocka_unit_test(test_point),
	        cmocka_unit_test(test_rfc3339),
	        cmocka_unit_test(test_validity),
	        cmocka_unit_test_teardown(test_local_zone, restore_tz),
	        cmocka_unit_test(test_format_rfc3339),
	        cmocka_unit_test(test_rfc3339_roundtrip),
	        cmocka_unit_test(test_format_local),
	        cmocka_unit_test(test_format_duration),
	        cmocka_unit_test(test_duration_roundtrip),
	};

	/* The suite sets TZ=UTC; make sure of it when run by hand. */
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
