/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Time parser harness: the input as one string to every parser. Whatever
 * parses lies in range and formats back to text that parses to the same
 * value; every refusal is one of the documented codes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2026-11-23T08:00:00Z */
#define NOW ((uint64_t)1795420800)
/* The duration cap in timefmt.c: ten years of 365.25 days, rounded up. */
#define DURATION_LIMIT ((uint64_t)3653 * 86400)
/* Longer than any accepted text, so that the length bound itself is exercised. */
#define INPUT_MAX (4 * TIME_TEXT_MAX)

static void check_code(int r, int also)
{
	if (r != 0 && r != JIT_ERR_TIME_INVALID && r != JIT_ERR_TIME_RANGE && r != also)
		abort();
}

/* A point or bound formats and, for real times, reads back as itself. */
static void check_time(uint64_t t)
{
	char out[64];
	uint64_t again;

	if (time_format_local(t, out, sizeof(out)) != 0)
		abort();
	if (t == TIME_FOREVER)
		return;
	if (t > TIME_MAX)
		abort();
	if (time_format_rfc3339(t, out, sizeof(out)) != 0 || strlen(out) != 20)
		abort();
	if (time_parse_rfc3339(out, &again) != 0 || again != t)
		abort();
}

static void check_duration(const char *s)
{
	uint64_t d, d1, again;
	char out[64];
	int r, r1;

	r = time_parse_duration(s, 0, &d);
	check_code(r, 0);
	if (r != 0) {
		if (d != 0)
			abort();
	} else {
		if (d > DURATION_LIMIT)
			abort();
		if (time_format_duration(d, out, sizeof(out)) != 0)
			abort();
		if (time_parse_duration(out, 1, &again) != 0 || again != d)
			abort();
	}
	/* Requiring units only refuses more, never reads differently. */
	r1 = time_parse_duration(s, 1, &d1);
	check_code(r1, 0);
	if (r1 == 0 && (r != 0 || d1 != d))
		abort();
}

static void check_point(const char *s, uint64_t now)
{
	uint64_t t;
	int r;

	r = time_parse_point(s, now, &t);
	check_code(r, 0);
	if (r == 0)
		check_time(t);
	else if (t != 0)
		abort();
}

static void check_validity(const char *s)
{
	uint64_t a, b;
	int r;

	r = time_parse_validity(s, NOW, &a, &b);
	check_code(r, JIT_ERR_CERT_BAD_VALIDITY);
	if (r != 0) {
		if (a != 0 || b != 0)
			abort();
		return;
	}
	if (b <= a || a > TIME_MAX || (b > TIME_MAX && b != TIME_FOREVER))
		abort();
	check_time(a);
	check_time(b);
}

static void check_rfc3339(const char *s)
{
	uint64_t t, p;
	int r;

	r = time_parse_rfc3339(s, &t);
	check_code(r, 0);
	if (r != 0)
		return;
	check_time(t);
	/* A point accepts every RFC 3339 timestamp, with the same value. */
	if (time_parse_point(s, NOW, &p) != 0 || p != t)
		abort();
}

/* The first bytes as a number, for the formatters alone. */
static void check_format(const uint8_t *data, size_t size)
{
	char out[64], small[4];
	uint64_t v = 0;
	size_t i;
	int r;

	for (i = 0; i < size && i < 8; i++)
		v = v << 8 | data[i];
	if (time_format_duration(v, out, sizeof(out)) != 0 || out[0] == '\0')
		abort();
	r = time_format_duration(v, small, sizeof(small));
	if (r != 0 && (r != JIT_ERR_NO_BUFFER_SPACE || small[0] != '\0'))
		abort();
	r = time_format_rfc3339(v, out, sizeof(out));
	if ((r == 0) != (v <= TIME_MAX))
		abort();
	r = time_format_local(v, out, sizeof(out));
	if (r != 0 && r != JIT_ERR_TIME_RANGE)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[INPUT_MAX + 1];

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';

	check_duration(s);
	check_point(s, NOW);
	check_point(s, 0);
	check_point(s, TIME_MAX);
	check_validity(s);
	check_rfc3339(s);
	check_format(data, size);
	return 0;
}
