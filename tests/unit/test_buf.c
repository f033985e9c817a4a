/* SPDX-License-Identifier: BSD-2-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "err.h"

/* A buffer holding exactly these bytes. */
static struct buf *from(const void *data, size_t len)
{
	struct buf *b = buf_from(data, len);

	assert_non_null(b);
	return b;
}

static void assert_contents(const struct buf *b, const void *want, size_t len)
{
	assert_int_equal(buf_len(b), len);
	assert_memory_equal(buf_ptr(b), want, len);
}

static void test_new(void **state)
{
	struct buf *b;

	(void)state;
	assert_null(buf_new(0));
	assert_null(buf_new(BUF_SIZE_MAX + 1));
	assert_null(buf_from("x", BUF_SIZE_MAX + 1));
	b = buf_new(BUF_SIZE_MAX);
	assert_non_null(b);
	assert_int_equal(buf_len(b), 0);
	assert_non_null(buf_ptr(b));
	buf_free(b);
	buf_free(NULL);

	b = from(NULL, 0);
	assert_int_equal(buf_len(b), 0);
	buf_free(b);
	/* A copy is capped at its length. */
	b = from("abc", 3);
	assert_contents(b, "abc", 3);
	assert_int_equal(buf_put_u8(b, 1), JIT_ERR_NO_BUFFER_SPACE);
	buf_free(b);
}

static void test_ints(void **state)
{
	static const uint8_t want[] = {0xab, 0x01, 0x02, 0x03, 0x04, 0x01, 0x02, 0x03, 0x04,
	                               0x05, 0x06, 0x07, 0x08, 0xff, 0xff, 0xff, 0xff, 0x00,
	                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	struct buf *b;
	uint64_t u64;
	uint32_t u32;
	uint8_t u8;

	(void)state;
	b = buf_new(64);
	assert_non_null(b);
	assert_int_equal(buf_put_u8(b, 0xab), 0);
	assert_int_equal(buf_put_u32(b, 0x01020304), 0);
	assert_int_equal(buf_put_u64(b, 0x0102030405060708ULL), 0);
	assert_int_equal(buf_put_u32(b, UINT32_MAX), 0);
	assert_int_equal(buf_put_u64(b, 0), 0);
	assert_contents(b, want, sizeof(want));

	assert_int_equal(buf_get_u8(b, &u8), 0);
	assert_int_equal(u8, 0xab);
	assert_int_equal(buf_get_u32(b, &u32), 0);
	assert_int_equal(u32, 0x01020304);
	assert_int_equal(buf_get_u64(b, &u64), 0);
	assert_int_equal(u64, 0x0102030405060708ULL);
	assert_int_equal(buf_get_u32(b, &u32), 0);
	assert_int_equal(u32, UINT32_MAX);
	assert_int_equal(buf_get_u64(b, &u64), 0);
	assert_int_equal(u64, 0);
	assert_int_equal(buf_len(b), 0);

	u8 = 0x55;
	assert_int_equal(buf_get_u8(b, &u8), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(u8, 0);
	buf_free(b);

	/* One byte short: nothing read, nothing consumed, output cleared. */
	b = from("\x01\x02\x03", 3);
	u32 = 0x55;
	assert_int_equal(buf_get_u32(b, &u32), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(u32, 0);
	assert_contents(b, "\x01\x02\x03", 3);
	buf_free(b);
	b = from("\x01\x02\x03\x04\x05\x06\x07", 7);
	u64 = 0x55;
	assert_int_equal(buf_get_u64(b, &u64), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(u64, 0);
	assert_int_equal(buf_len(b), 7);
	assert_int_equal(buf_get_u32(b, &u32), 0);
	assert_int_equal(u32, 0x01020304);
	assert_int_equal(buf_get_u32(b, &u32), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_contents(b, "\x05\x06\x07", 3);
	buf_free(b);
}

static void test_consume_reset(void **state)
{
	struct buf *b;

	(void)state;
	b = buf_new(8);
	assert_non_null(b);
	assert_int_equal(buf_put(b, "abcdefgh", 8), 0);
	assert_int_equal(buf_consume(b, 9), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_contents(b, "abcdefgh", 8);
	assert_int_equal(buf_consume(b, 3), 0);
	assert_contents(b, "defgh", 5);
	assert_int_equal(buf_consume(b, 5), 0);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(buf_consume(b, 0), 0);
	assert_int_equal(buf_consume(b, 1), JIT_ERR_MESSAGE_INCOMPLETE);

	/* The cap counts what was ever put, read or not, until a reset. */
	assert_int_equal(buf_put_u8(b, 1), JIT_ERR_NO_BUFFER_SPACE);
	buf_reset(b);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(buf_put(b, "12345678", 8), 0);
	assert_contents(b, "12345678", 8);
	assert_int_equal(buf_put_u8(b, 1), JIT_ERR_NO_BUFFER_SPACE);
	buf_free(b);
}

static void test_caps(void **state)
{
	static uint8_t big[1000];
	struct buf *b;
	size_t i;

	(void)state;
	/* Small cap: each refused put leaves the buffer as it was. */
	b = buf_new(10);
	assert_non_null(b);
	assert_int_equal(buf_put(b, "12345678", 8), 0);
	assert_int_equal(buf_put_u32(b, 1), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_put_u64(b, 1), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_put_string(b, "", 0), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_put_cstring(b, "a"), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_put_bignum2_bytes(b, "\x01", 1), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_put(b, "abc", 3), JIT_ERR_NO_BUFFER_SPACE);
	assert_contents(b, "12345678", 8);
	assert_int_equal(buf_put(b, "ab", 2), 0);
	assert_int_equal(buf_put_u8(b, 0), JIT_ERR_NO_BUFFER_SPACE);
	assert_contents(b, "12345678ab", 10);
	assert_int_equal(buf_put(b, NULL, 0), 0);
	buf_free(b);

	/* Growing one byte at a time across the internal steps, up to an odd cap. */
	b = buf_new(777);
	assert_non_null(b);
	for (i = 0; i < 777; i++)
		assert_int_equal(buf_put_u8(b, (uint8_t)i), 0);
	assert_int_equal(buf_put_u8(b, 0), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_len(b), 777);
	for (i = 0; i < 777; i++)
		assert_int_equal(buf_ptr(b)[i], (uint8_t)i);
	buf_free(b);

	/* The global cap, exactly. */
	b = buf_new(BUF_SIZE_MAX);
	assert_non_null(b);
	for (i = 0; i < BUF_SIZE_MAX / sizeof(big); i++)
		assert_int_equal(buf_put(b, big, sizeof(big)), 0);
	assert_int_equal(buf_put(b, big, BUF_SIZE_MAX % sizeof(big)), 0);
	assert_int_equal(buf_len(b), BUF_SIZE_MAX);
	assert_int_equal(buf_put_u8(b, 0), JIT_ERR_NO_BUFFER_SPACE);
	buf_free(b);

	/* Lengths that cannot be encoded are refused before anything is read from data. */
	b = buf_new(64);
	assert_non_null(b);
	assert_int_equal(buf_put_string(b, big, (size_t)UINT32_MAX + 1), JIT_ERR_STRING_TOO_LARGE);
	assert_int_equal(buf_put_string(b, big, BUF_SIZE_MAX - 3), JIT_ERR_STRING_TOO_LARGE);
	assert_int_equal(buf_put_string(b, big, 61), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_put_bignum2_bytes(b, "\x01", BUF_SIZE_MAX - 4),
	                 JIT_ERR_STRING_TOO_LARGE);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(buf_put_string(b, big, 60), 0);
	assert_int_equal(buf_len(b), 64);
	buf_free(b);
}

static void test_strings(void **state)
{
	static const uint8_t want[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 2, 'h', 'i', 0,
	                               0, 0, 0, 0, 0,   0,   0,   0, 0, 0, 3, 'x', 0,   'y'};
	const uint8_t *p;
	struct buf *b;
	uint8_t *s;
	char *cs;
	size_t len;

	(void)state;
	b = buf_new(128);
	assert_non_null(b);
	assert_int_equal(buf_put_string(b, "abc", 3), 0);
	assert_int_equal(buf_put_cstring(b, "hi"), 0);
	assert_int_equal(buf_put_cstring(b, NULL), 0);
	assert_int_equal(buf_put_string(b, NULL, 0), 0);
	assert_int_equal(buf_put_string(b, "x\0y", 3), 0);
	assert_contents(b, want, sizeof(want));

	/* Peeking does not consume. */
	assert_int_equal(buf_peek_string_direct(b, &p, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(buf_len(b), sizeof(want));
	assert_int_equal(buf_peek_string_direct(b, NULL, NULL), 0);
	assert_int_equal(buf_get_string_direct(b, &p, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "abc", 3);
	assert_ptr_equal(p, buf_ptr(b) - 3);

	assert_int_equal(buf_get_cstring(b, &cs, &len), 0);
	assert_int_equal(len, 2);
	assert_string_equal(cs, "hi");
	free(cs);
	assert_int_equal(buf_get_cstring(b, &cs, NULL), 0);
	assert_string_equal(cs, "");
	free(cs);
	assert_int_equal(buf_get_string(b, &s, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(s[0], '\0');
	free(s);

	/* Embedded NUL: a cstring refuses it and leaves it unread; a string takes it. */
	cs = (char *)"junk";
	len = 99;
	assert_int_equal(buf_get_cstring(b, &cs, &len), JIT_ERR_EMBEDDED_NUL);
	assert_null(cs);
	assert_int_equal(len, 0);
	assert_int_equal(buf_len(b), 7);
	assert_int_equal(buf_get_string(b, &s, NULL), 0);
	assert_memory_equal(s, "x\0y", 4);
	free(s);
	assert_int_equal(buf_len(b), 0);

	assert_int_equal(buf_get_string_direct(b, NULL, NULL), JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);

	/* A NUL as the last byte is embedded too. */
	b = from("\0\0\0\x02"
	         "a\0",
	         6);
	assert_int_equal(buf_get_cstring(b, &cs, NULL), JIT_ERR_EMBEDDED_NUL);
	assert_int_equal(buf_len(b), 6);
	buf_free(b);
}

/* Every string getter on b must fail with r, clear its outputs and consume nothing. */
static void assert_all_getters_fail(struct buf *b, int r)
{
	size_t before = buf_len(b), len;
	const uint8_t *p;
	struct buf *n;
	uint8_t *s;
	char *cs;

	p = (const uint8_t *)"junk";
	len = 99;
	assert_int_equal(buf_peek_string_direct(b, &p, &len), r);
	assert_null(p);
	assert_int_equal(len, 0);
	p = (const uint8_t *)"junk";
	len = 99;
	assert_int_equal(buf_get_string_direct(b, &p, &len), r);
	assert_null(p);
	assert_int_equal(len, 0);
	s = (uint8_t *)"junk";
	len = 99;
	assert_int_equal(buf_get_string(b, &s, &len), r);
	assert_null(s);
	assert_int_equal(len, 0);
	cs = (char *)"junk";
	len = 99;
	assert_int_equal(buf_get_cstring(b, &cs, &len), r);
	assert_null(cs);
	assert_int_equal(len, 0);
	n = (struct buf *)b;
	assert_int_equal(buf_froms(b, &n), r);
	assert_null(n);
	p = (const uint8_t *)"junk";
	len = 99;
	assert_int_equal(buf_get_bignum2_bytes_direct(b, 1024, &p, &len), r);
	assert_null(p);
	assert_int_equal(len, 0);
	assert_int_equal(buf_len(b), before);
}

static void test_truncated(void **state)
{
	struct buf *b;

	(void)state;
	b = from("", 0);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	b = from("\0\0\0", 3);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	b = from("\0\0\0\x05"
	         "abc",
	         7);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	b = from("\0\0\0\x05"
	         "abcd",
	         8);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	/* The largest lengths must not wrap the remaining-bytes check. */
	b = from("\xff\xff\xff\xff", 4);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	b = from("\xff\xff\xff\xff"
	         "abcdefgh",
	         12);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	b = from("\xff\xff\xff\xfc"
	         "abcd",
	         8);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	b = from("\x80\0\0\0"
	         "abcd",
	         8);
	assert_all_getters_fail(b, JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
}

static void test_nested(void **state)
{
	struct buf *outer, *inner, *inner2, *n;
	uint32_t u32;
	uint8_t u8;
	char *cs;

	(void)state;
	/* outer = string(inner = cstring "name" + u32 7 + string(u8 5)) + u8 9 */
	inner2 = buf_new(16);
	inner = buf_new(64);
	outer = buf_new(128);
	assert_non_null(inner2);
	assert_non_null(inner);
	assert_non_null(outer);
	assert_int_equal(buf_put_u8(inner2, 5), 0);
	assert_int_equal(buf_put_cstring(inner, "name"), 0);
	assert_int_equal(buf_put_u32(inner, 7), 0);
	assert_int_equal(buf_put_stringb(inner, inner2), 0);
	assert_int_equal(buf_len(inner2), 1); /* the source is not consumed */
	assert_int_equal(buf_put_stringb(outer, inner), 0);
	assert_int_equal(buf_put_u8(outer, 9), 0);
	assert_int_equal(buf_len(outer), 4 + (4 + 4 + 4 + 4 + 1) + 1);
	buf_free(inner);
	buf_free(inner2);

	assert_int_equal(buf_froms(outer, &inner), 0);
	assert_int_equal(buf_len(inner), 17);
	assert_int_equal(buf_len(outer), 1);
	assert_int_equal(buf_get_cstring(inner, &cs, NULL), 0);
	assert_string_equal(cs, "name");
	free(cs);
	assert_int_equal(buf_get_u32(inner, &u32), 0);
	assert_int_equal(u32, 7);
	assert_int_equal(buf_froms(inner, &inner2), 0);
	assert_int_equal(buf_len(inner), 0);
	assert_int_equal(buf_get_u8(inner2, &u8), 0);
	assert_int_equal(u8, 5);
	assert_int_equal(buf_len(inner2), 0);
	/* A nested buffer is read-only: capped at its length. */
	assert_int_equal(buf_put_u8(inner2, 1), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_get_u8(outer, &u8), 0);
	assert_int_equal(u8, 9);
	buf_free(inner);
	buf_free(inner2);

	/* An empty nested string is an empty buffer. */
	assert_int_equal(buf_put_string(outer, NULL, 0), 0);
	assert_int_equal(buf_froms(outer, &n), 0);
	assert_int_equal(buf_len(n), 0);
	assert_int_equal(buf_len(outer), 0);
	buf_free(n);
	buf_free(outer);

	/* A nested string longer than its parent is refused, the parent unconsumed. */
	outer = from("\0\0\0\x08\0\0\0\x10"
	             "abcd",
	             12);
	assert_int_equal(buf_froms(outer, &n), 0);
	assert_int_equal(buf_froms(n, &inner), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_null(inner);
	assert_contents(n,
	                "\0\0\0\x10"
	                "abcd",
	                8);
	buf_free(n);
	buf_free(outer);
}

static void test_mpint_put(void **state)
{
	static const struct {
		const char *in;
		size_t inlen;
		const char *out;
		size_t outlen;
	} cases[] = {
	        {"", 0, "\0\0\0\0", 4},
	        {"\0", 1, "\0\0\0\0", 4},
	        {"\0\0\0", 3, "\0\0\0\0", 4},
	        {"\x01", 1, "\0\0\0\x01\x01", 5},
	        {"\0\0\x01", 3, "\0\0\0\x01\x01", 5},
	        {"\x7f", 1, "\0\0\0\x01\x7f", 5},
	        {"\x80", 1, "\0\0\0\x02\0\x80", 6},
	        {"\0\xff\x01", 3, "\0\0\0\x03\0\xff\x01", 7},
	        {"\x12\x34\x56", 3, "\0\0\0\x03\x12\x34\x56", 7},
	};
	struct buf *b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = buf_new(64);
		assert_non_null(b);
		assert_int_equal(buf_put_bignum2_bytes(b, cases[i].in, cases[i].inlen), 0);
		assert_contents(b, cases[i].out, cases[i].outlen);
		buf_free(b);
	}
	b = buf_new(64);
	assert_non_null(b);
	assert_int_equal(buf_put_bignum2_bytes(b, NULL, 0), 0);
	assert_contents(b, "\0\0\0\0", 4);
	buf_free(b);
	/* The sign byte counts against the cap. */
	b = buf_new(5);
	assert_non_null(b);
	assert_int_equal(buf_put_bignum2_bytes(b, "\x80", 1), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(buf_put_bignum2_bytes(b, "\0\x7f", 2), 0);
	assert_contents(b, "\0\0\0\x01\x7f", 5);
	buf_free(b);
}

static void test_mpint_get(void **state)
{
	static const struct {
		const char *in;
		size_t inlen;
		size_t max;
		int r;
		const char *mag; /* expected magnitude */
		size_t maglen;
	} cases[] = {
	        {"\0\0\0\0", 4, 32, 0, "", 0},
	        {"\0\0\0\0", 4, 0, 0, "", 0},
	        {"\0\0\0\x01\x01", 5, 32, 0, "\x01", 1},
	        {"\0\0\0\x01\x7f", 5, 1, 0, "\x7f", 1},
	        {"\0\0\0\x02\0\x80", 6, 1, 0, "\x80", 1},
	        {"\0\0\0\x03\0\xff\xff", 7, 2, 0, "\xff\xff", 2},
	        {"\0\0\0\x02\x12\x34", 6, 2, 0, "\x12\x34", 2},
	        /* Too large for max_bytes, with or without the sign byte. */
	        {"\0\0\0\x02\x12\x34", 6, 1, JIT_ERR_BIGNUM_TOO_LARGE, NULL, 0},
	        {"\0\0\0\x03\0\xff\xff", 7, 1, JIT_ERR_BIGNUM_TOO_LARGE, NULL, 0},
	        {"\0\0\0\x01\x01", 5, 0, JIT_ERR_BIGNUM_TOO_LARGE, NULL, 0},
	        {"\0\0\0\x02\0\x80", 6, 0, JIT_ERR_BIGNUM_TOO_LARGE, NULL, 0},
	        /* Negative. */
	        {"\0\0\0\x01\x80", 5, 32, JIT_ERR_BIGNUM_INVALID, NULL, 0},
	        {"\0\0\0\x02\xff\xff", 6, 32, JIT_ERR_BIGNUM_INVALID, NULL, 0},
	        /* Not minimal: zero written as 00, or a leading zero not needed for the sign. */
	        {"\0\0\0\x01\0", 5, 32, JIT_ERR_BIGNUM_INVALID, NULL, 0},
	        {"\0\0\0\x02\0\x7f", 6, 32, JIT_ERR_BIGNUM_INVALID, NULL, 0},
	        {"\0\0\0\x02\0\0", 6, 32, JIT_ERR_BIGNUM_INVALID, NULL, 0},
	        {"\0\0\0\x03\0\0\x80", 7, 32, JIT_ERR_BIGNUM_INVALID, NULL, 0},
	        {"\0\0\0\x03\0\x01\x02", 7, 32, JIT_ERR_BIGNUM_INVALID, NULL, 0},
	        /* Truncated. */
	        {"\0\0\0\x02\x01", 5, 32, JIT_ERR_MESSAGE_INCOMPLETE, NULL, 0},
	        {"\0\0\0", 3, 32, JIT_ERR_MESSAGE_INCOMPLETE, NULL, 0},
	};
	const uint8_t *p;
	struct buf *b;
	size_t i, len;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = from(cases[i].in, cases[i].inlen);
		p = (const uint8_t *)"junk";
		len = 99;
		r = buf_get_bignum2_bytes_direct(b, cases[i].max, &p, &len);
		if (r != cases[i].r)
			fail_msg("case %zu: got %d, want %d", i, r, cases[i].r);
		if (r == 0) {
			assert_int_equal(len, cases[i].maglen);
			assert_memory_equal(p, cases[i].mag, len);
			assert_int_equal(buf_len(b), 0);
		} else {
			assert_null(p);
			assert_int_equal(len, 0);
			assert_int_equal(buf_len(b), cases[i].inlen);
		}
		buf_free(b);
	}
	b = from("\0\0\0\x01\x01\x02", 6);
	assert_int_equal(buf_get_bignum2_bytes_direct(b, 8, NULL, NULL), 0);
	assert_contents(b, "\x02", 1);
	buf_free(b);
}

/* Whatever magnitude goes in comes out, without its leading zeros. */
static void test_mpint_roundtrip(void **state)
{
	uint8_t mag[80];
	const uint8_t *p;
	struct buf *b;
	size_t len, lead, i, n;

	(void)state;
	for (n = 0; n <= 70; n++) {
		for (lead = 0; lead <= 2 && lead <= n; lead++) {
			for (i = 0; i < n; i++)
				mag[i] = i < lead ? 0 : (uint8_t)((0x80 + n * 7 + i * 13) | 1);
			b = buf_new(128);
			assert_non_null(b);
			assert_int_equal(buf_put_bignum2_bytes(b, mag, n), 0);
			if (n > lead)
				assert_int_equal(
				        buf_get_bignum2_bytes_direct(b, n - lead - 1, &p, &len),
				        JIT_ERR_BIGNUM_TOO_LARGE);
			assert_int_equal(buf_get_bignum2_bytes_direct(b, n - lead, &p, &len), 0);
			assert_int_equal(len, n - lead);
			if (len > 0)
				assert_memory_equal(p, mag + lead, len);
			assert_int_equal(buf_len(b), 0);
			buf_free(b);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_new),           cmocka_unit_test(test_ints),
	        cmocka_unit_test(test_consume_reset), cmocka_unit_test(test_caps),
	        cmocka_unit_test(test_strings),       cmocka_unit_test(test_truncated),
	        cmocka_unit_test(test_nested),        cmocka_unit_test(test_mpint_put),
	        cmocka_unit_test(test_mpint_get),     cmocka_unit_test(test_mpint_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
