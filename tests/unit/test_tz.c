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
#include "tz.h"

/* A TZif image built by the test. */
struct img {
	uint8_t b[8192];
	size_t n;
};

static void put(struct img *im, const void *p, size_t n)
{
	assert_true(im->n + n <= sizeof(im->b));
	if (n == 0)
		return;
	memcpy(im->b + im->n, p, n);
	im->n += n;
}

static void put32(struct img *im, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put(im, b, 4);
}

static void put64(struct img *im, uint64_t v)
{
	put32(im, (uint32_t)(v >> 32));
	put32(im, (uint32_t)v);
}

struct zone {
	char version; /* '\0', '2', '3' */
	const int64_t *trans;
	const uint8_t *idx;
	size_t nt;
	const int32_t *off;
	const uint8_t *dst;
	size_t ntypes;
	uint32_t leapcnt;
	const char *footer; /* without the newlines; v2+ only */
};

static void header(struct img *im, const struct zone *z)
{
	static const uint8_t zero[15];

	put(im, "TZif", 4);
	put(im, &z->version, 1);
	put(im, zero, 15);
	put32(im, 0);          /* isutcnt */
	put32(im, 0);          /* isstdcnt */
	put32(im, z->leapcnt); /* leapcnt */
	put32(im, (uint32_t)z->nt);
	put32(im, (uint32_t)z->ntypes);
	put32(im, 4); /* charcnt: "ABC\0" */
}

static void block(struct img *im, const struct zone *z, int wide)
{
	size_t i;
	uint8_t b[2];

	for (i = 0; i < z->nt; i++) {
		if (wide)
			put64(im, (uint64_t)z->trans[i]);
		else
			put32(im, (uint32_t)(int32_t)z->trans[i]);
	}
	put(im, z->idx, z->nt);
	for (i = 0; i < z->ntypes; i++) {
		put32(im, (uint32_t)z->off[i]);
		b[0] = z->dst[i];
		b[1] = 0;
		put(im, b, 2);
	}
	put(im, "ABC", 4);
	for (i = 0; i < z->leapcnt; i++) {
		if (wide)
			put64(im, 100);
		else
			put32(im, 100);
		put32(im, 1);
	}
}

static void build(struct img *im, const struct zone *z)
{
	im->n = 0;
	header(im, z);
	block(im, z, 0);
	if (z->version == '\0')
		return;
	header(im, z);
	block(im, z, 1);
	put(im, "\n", 1);
	put(im, z->footer, strlen(z->footer));
	put(im, "\n", 1);
}

static const int64_t two_trans[] = {1000, 2000};
static const uint8_t two_idx[] = {1, 0};
static const int32_t two_off[] = {3600, 7200};
static const uint8_t two_dst[] = {0, 1};

static int32_t offset(const struct tz *z, int64_t t)
{
	int32_t o = -1;

	assert_int_equal(tz_offset_at(z, t, &o), 0);
	return o;
}

static void test_v1(void **state)
{
	struct zone zd = {'\0', two_trans, two_idx, 2, two_off, two_dst, 2, 0, NULL};
	struct img im;
	struct tz *z = NULL;

	build(&im, &zd);
	assert_int_equal(tz_parse(im.b, im.n, &z), 0);
	assert_non_null(z);
	/* Before the first transition: type 0. */
	assert_int_equal(offset(z, -5000000000), 3600);
	assert_int_equal(offset(z, 999), 3600);
	assert_int_equal(offset(z, 1000), 7200);
	assert_int_equal(offset(z, 1999), 7200);
	/* After the last transition without a footer: the last type. */
	assert_int_equal(offset(z, 2000), 3600);
	assert_int_equal(offset(z, 5000000000), 3600);
	tz_free(z);
	/* Trailing bytes after a version 1 block. */
	im.b[im.n++] = 0;
	z = (struct tz *)&im;
	assert_int_equal(tz_parse(im.b, im.n, &z), JIT_ERR_TRAILING_DATA);
	assert_null(z);
}

static void test_v2_footer(void **state)
{
	struct zone zd = {
	        '2', two_trans, two_idx, 2, two_off, two_dst, 2, 0, "CET-1CEST,M3.5.0,M10.5.0/3"};
	struct img im;
	struct tz *z = NULL;

	build(&im, &zd);
	assert_int_equal(tz_parse(im.b, im.n, &z), 0);
	assert_int_equal(offset(z, 1500), 7200);
	/* After the last transition the footer rules: 2026-03-29T01:00:00Z. */
	assert_int_equal(offset(z, 1774745999), 3600);
	assert_int_equal(offset(z, 1774746000), 7200);
	/* 2026-10-25T01:00:00Z */
	assert_int_equal(offset(z, 1792890000 - 1), 7200);
	assert_int_equal(offset(z, 1792890000), 3600);
	tz_free(z);

	/* An empty footer: the last type stays. */
	zd.footer = "";
	build(&im, &zd);
	assert_int_equal(tz_parse(im.b, im.n, &z), 0);
	assert_int_equal(offset(z, 1774746000), 3600);
	tz_free(z);
}

struct footer_case {
	const char *footer;
	int64_t t;
	int32_t off;
};

static void test_footer_rules(void **state)
{
	static const struct footer_case cases[] = {
	        /* Jn never counts February 29: J60 is March 1, 2028 a leap year. */
	        {"AAA0BBB,J60/0,J300/0", 1835481600 - 1, 0}, /* 2028-03-01T00:00:00Z */
	        {"AAA0BBB,J60/0,J300/0", 1835481600, 3600},
	        /* Zero-based n counts it: day 59 of 2028 is February 29. */
	        {"AAA0BBB,59/0,299/0", 1835395200 - 1, 0}, /* 2028-02-29T00:00:00Z */
	        {"AAA0BBB,59/0,299/0", 1835395200, 3600},
	        /* ... and March 1 in 2027. */
	        {"AAA0BBB,59/0,299/0", 1803859200 - 1, 0}, /* 2027-03-01T00:00:00Z */
	        {"AAA0BBB,59/0,299/0", 1803859200, 3600},
	        /* Version 3: negative rule times, as America/Nuuk: -02 / -01. */
	        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 1774746000 - 1, -7200}, /* 2026-03-29T01Z */
	        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 1774746000, -3600},
	        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 1792890000 - 1, -3600}, /* 2026-10-25T01Z */
	        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 1792890000, -7200},
	        /* 167 hours: the rule day plus almost a week. 2026-03-01 is a Sunday. */
	        {"AAA0BBB,M3.1.0/167,M11.1.0", 1772323200 + 167 * 3600 - 1, 0},
	        {"AAA0BBB,M3.1.0/167,M11.1.0", 1772323200 + 167 * 3600, 3600},
	        /* An explicit daylight offset and hh:mm:ss times. */
	        {"AAA-1:30BBB-3,M3.5.0/1:02:03,M10.5.0", 1774742400 - 5400 + 3723 - 1, 5400},
	        {"AAA-1:30BBB-3,M3.5.0/1:02:03,M10.5.0", 1774742400 - 5400 + 3723, 10800},
	        /* Southern hemisphere: daylight time across the new year. */
	        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1767225600, 39600}, /* 2026-01-01 */
	        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1782864000, 37800}, /* 2026-07-01 */
	        {"UTC0", 1782864000, 0},
	        {"<+0530>-5:30", 1782864000, 19800},
	};
	static const char *const bad[] = {
	        "CET",       /* no offset */
	        "CE-1",      /* short name */
	        "CET-1CEST", /* daylight time without rules */
	        "CET-1CEST,M3.5.0",
	        "CET-1CEST,M13.5.0,M10.5.0",
	        "CET-1CEST,M3.6.0,M10.5.0",
	        "CET-1CEST,M3.5.7,M10.5.0",
	        "CET-1CEST,J0,J10",
	        "CET-1CEST,366,10",
	        "CET-1CEST,M3.5.0/168,M10.5.0",
	        "CET-25",
	        "CET-1:60",
	        "<CE>-1",
	        "<C_T>-1",
	        "CET-1 ",
	        "CET-1CEST,M3.5.0,M10.5.0,",
	        "CET-1\tX",
	};
	struct zone zd = {'3', NULL, NULL, 0, two_off, two_dst, 1, 0, NULL};
	struct img im;
	struct tz *z = NULL;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		zd.footer = cases[i].footer;
		build(&im, &zd);
		assert_int_equal(tz_parse(im.b, im.n, &z), 0);
		if (offset(z, cases[i].t) != cases[i].off)
			fail_msg("%s at %lld: %d", cases[i].footer, (long long)cases[i].t,
			         offset(z, cases[i].t));
		tz_free(z);
		z = NULL;
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		zd.footer = bad[i];
		build(&im, &zd);
		if (tz_parse(im.b, im.n, &z) != JIT_ERR_INVALID_FORMAT)
			fail_msg("accepted footer %s", bad[i]);
		assert_null(z);
	}
}

static void test_malformed(void **state)
{
	static const int64_t down[] = {2000, 1000};
	static const uint8_t bad_idx[] = {0, 2};
	struct zone good = {'2', two_trans, two_idx, 2, two_off, two_dst, 2, 0, "AAA0"};
	struct zone zd;
	struct img im, cut;
	struct tz *z = NULL;
	uint8_t *big;
	size_t i;

	build(&im, &good);
	/* Every proper prefix is refused; a cut inside the fixed header or a data block is
	 * "truncated". */
	for (i = 0; i < im.n; i++) {
		int r = tz_parse(im.b, i, &z);

		assert_null(z);
		assert_int_equal(r, JIT_ERR_MESSAGE_INCOMPLETE);
	}
	cut = im;
	cut.b[0] = 'X';
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_INVALID_FORMAT);
	cut = im;
	cut.b[4] = '1';
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_INVALID_FORMAT);
	cut = im;
	cut.b[cut.n - 1] = 'x';
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_MESSAGE_INCOMPLETE);
	cut = im;
	cut.b[cut.n++] = 'x';
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_TRAILING_DATA);

	zd = good;
	zd.leapcnt = 1;
	build(&cut, &zd);
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_INVALID_FORMAT);
	zd = good;
	zd.trans = down;
	build(&cut, &zd);
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_INVALID_FORMAT);
	zd = good;
	zd.idx = bad_idx;
	build(&cut, &zd);
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_INVALID_FORMAT);
	zd = good;
	zd.ntypes = 0;
	build(&cut, &zd);
	assert_int_equal(tz_parse(cut.b, cut.n, &z), JIT_ERR_INVALID_FORMAT);
	assert_null(z);

	assert_int_equal(tz_parse(NULL, 0, &z), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_non_null(big = calloc(1, TZ_FILE_MAX + 1));
	memcpy(big, im.b, im.n);
	assert_int_equal(tz_parse(big, TZ_FILE_MAX + 1, &z), JIT_ERR_FILE_TOO_LARGE);
	free(big);
	assert_null(z);
}

static void test_names(void **state)
{
	static const char *const bad[] = {
	        "",
	        "/etc/passwd",
	        "../etc/passwd",
	        "Europe/../Europe/Berlin",
	        "Europe//Berlin",
	        "Europe/Berlin/",
	        "./UTC",
	        "Europe/Ber lin",
	        "Europe/Berlin\n",
	        "zone.tab",
	};
	char longname[TZ_NAME_MAX + 2];
	struct tz *z = NULL, *ny = NULL;
	size_t i;
	int64_t t;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		z = (struct tz *)&i;
		if (tz_load(bad[i], &z) != JIT_ERR_INVALID_ARGUMENT)
			fail_msg("accepted name %s", bad[i]);
		assert_null(z);
	}
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(tz_load(longname, &z), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(tz_load(NULL, &z), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(tz_load("Nowhere/Zone", &z), JIT_ERR_SYSTEM);
	/* A directory is not a zone. */
	assert_int_equal(tz_load("Europe", &z), JIT_ERR_FILE_TYPE);
	/* Not TZif. */
	assert_int_equal(tz_load("leapseconds", &z), JIT_ERR_INVALID_FORMAT);
	assert_null(z);

	/* Links are followed: UTC -> Etc/UTC, US/Eastern -> ../America/New_York. */
	assert_int_equal(tz_load("UTC", &z), 0);
	assert_int_equal(offset(z, 1782864000), 0);
	tz_free(z);
	assert_int_equal(tz_load("US/Eastern", &z), 0);
	assert_int_equal(tz_load("America/New_York", &ny), 0);
	for (t = 0; t < 2208988800; t += 86400 * 7 + 3599)
		assert_int_equal(offset(z, t), offset(ny, t));
	tz_free(z);
	tz_free(ny);
}

static void test_range(void **state)
{
	struct tz *z = NULL;
	struct tz_local l;
	int32_t o = 5;

	assert_int_equal(tz_load("Europe/Berlin", &z), 0);
	assert_int_equal(tz_offset_at(z, TZ_TIME_LIMIT + 1, &o), JIT_ERR_TIME_RANGE);
	assert_int_equal(o, 0);
	assert_int_equal(tz_offset_at(z, -TZ_TIME_LIMIT - 1, &o), JIT_ERR_TIME_RANGE);
	l.year = 5;
	assert_int_equal(tz_local_time(z, INT64_MAX, &l), JIT_ERR_TIME_RANGE);
	assert_int_equal(l.year, 0);
	assert_int_equal(tz_offset_at(z, TZ_TIME_LIMIT, &o), 0);
	assert_int_equal(tz_offset_at(z, -TZ_TIME_LIMIT, &o), 0);
	assert_int_equal(tz_local_time(z, TZ_TIME_LIMIT, &l), 0);
	assert_int_equal(tz_local_time(z, -TZ_TIME_LIMIT, &l), 0);
	assert_int_equal(tz_offset_at(NULL, 0, &o), JIT_ERR_INVALID_ARGUMENT);
	tz_free(z);
	tz_free(NULL);
}

static void test_local_berlin(void **state)
{
	struct tz *z = NULL;
	struct tz_local l;

	assert_int_equal(tz_load("Europe/Berlin", &z), 0);
	/* 2026-03-29T00:59:59Z is 01:59:59 CET, a Sunday. */
	assert_int_equal(tz_local_time(z, 1774745999, &l), 0);
	assert_int_equal(l.year, 2026);
	assert_int_equal(l.month, 3);
	assert_int_equal(l.day, 29);
	assert_int_equal(l.weekday, 0);
	assert_int_equal(l.minute, 119);
	assert_int_equal(l.second, 59);
	assert_int_equal(l.utoff, 3600);
	assert_int_equal(l.isdst, 0);
	/* One second later: 03:00:00 CEST. */
	assert_int_equal(tz_local_time(z, 1774746000, &l), 0);
	assert_int_equal(l.day, 29);
	assert_int_equal(l.minute, 180);
	assert_int_equal(l.second, 0);
	assert_int_equal(l.utoff, 7200);
	assert_int_equal(l.isdst, 1);
	/* 2026-10-25T00:59:59Z is 02:59:59 CEST; then 02:00:00 CET again. */
	assert_int_equal(tz_local_time(z, 1792889999, &l), 0);
	assert_int_equal(l.minute, 179);
	assert_int_equal(l.utoff, 7200);
	assert_int_equal(tz_local_time(z, 1792890000, &l), 0);
	assert_int_equal(l.minute, 120);
	assert_int_equal(l.utoff, 3600);
	assert_int_equal(l.weekday, 0);
	/* 1969-12-31T23:00:00Z is 1970-01-01 00:00 CET, a Thursday. */
	assert_int_equal(tz_local_time(z, -3600, &l), 0);
	assert_int_equal(l.year, 1970);
	assert_int_equal(l.month, 1);
	assert_int_equal(l.day, 1);
	assert_int_equal(l.weekday, 4);
	assert_int_equal(l.minute, 0);
	tz_free(z);
}

/* Compares one instant with glibc's localtime_r under the same TZ. */
static void compare(const char *name, const struct tz *z, int64_t t, unsigned *count)
{
	struct tz_local l;
	struct tm tm;
	time_t tt = (time_t)t;

	assert_non_null(localtime_r(&tt, &tm));
	assert_int_equal(tz_local_time(z, t, &l), 0);
	if (l.utoff != tm.tm_gmtoff || l.year != tm.tm_year + 1900 || l.month != tm.tm_mon + 1 ||
	    l.day != tm.tm_mday || l.weekday != tm.tm_wday ||
	    l.minute != tm.tm_hour * 60 + tm.tm_min || l.second != tm.tm_sec ||
	    l.isdst != (tm.tm_isdst > 0))
		fail_msg("%s at %lld: ours %lld-%d-%d wd %d min %d off %d dst %d, glibc "
		         "%d-%d-%d wd %d min %d off %ld dst %d",
		         name, (long long)t, (long long)l.year, l.month, l.day, l.weekday, l.minute,
		         l.utoff, l.isdst, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_wday,
		         tm.tm_hour * 60 + tm.tm_min, tm.tm_gmtoff, tm.tm_isdst);
	(*count)++;
}

static long glibc_off(int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	assert_non_null(localtime_r(&tt, &tm));
	return tm.tm_gmtoff * 2 + (tm.tm_isdst > 0);
}

/*
 * Every zone of the brief, 1970..2100: each offset change found by scanning
 * glibc in 3-hour steps is compared at the edge and +-1 s, and pseudo-random
 * instants in between.
 */
static void test_glibc(void **state)
{
	static const char *const zones[] = {
	        "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
	        "UTC",           "America/Nuuk",
	};
	const int64_t step = 3 * 3600, end = 4102444800; /* 2100-01-01 */
	uint64_t seed = 42;
	unsigned count = 0, edges = 0;
	size_t i;

	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct tz *z = NULL;
		int64_t t, lo, hi, mid;
		long prev;

		assert_int_equal(tz_load(zones[i], &z), 0);
		assert_int_equal(setenv("TZ", zones[i], 1), 0);
		tzset();
		prev = glibc_off(0);
		for (t = 0; t < end; t += step) {
			long cur = glibc_off(t + step);

			if (cur != prev) {
				lo = t;
				hi = t + step;
				while (hi - lo > 1) {
					mid = lo + (hi - lo) / 2;
					if (glibc_off(mid) == prev)
						lo = mid;
					else
						hi = mid;
				}
				compare(zones[i], z, hi - 1, &count);
				compare(zones[i], z, hi, &count);
				compare(zones[i], z, hi + 1, &count);
				edges++;
				prev = cur;
			}
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			compare(zones[i], z, t + (int64_t)((seed >> 33) % step), &count);
		}
		tz_free(z);
	}
	assert_int_equal(setenv("TZ", "UTC", 1), 0);
	tzset();
	/* Berlin alone has two changes a year since 1980. */
	assert_true(edges > 500);
	print_message("compared %u instants, %u offset changes\n", count, edges);
}

static void test_speed(void **state)
{
	struct timespec a, b;
	struct tz *z = NULL;
	struct tz_local l;
	int i, n = 2000;
	double us;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(tz_load("America/New_York", &z), 0);
		assert_int_equal(tz_local_time(z, 1795420800 + i, &l), 0);
		tz_free(z);
	}
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &b), 0);
	us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / n;
	print_message("tz_load + tz_local_time: %.1f us\n", us);
	assert_true(us < 1000.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_v1),           cmocka_unit_test(test_v2_footer),
	        cmocka_unit_test(test_footer_rules), cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_names),        cmocka_unit_test(test_range),
	        cmocka_unit_test(test_local_berlin), cmocka_unit_test(test_glibc),
	        cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
