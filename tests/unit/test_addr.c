/* SPDX-License-Identifier: BSD-2-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"
#include "err.h"

static void test_validate_ok(void **state)
{
	static const char *const ok[] = {
	        "10.0.0.0/8",
	        "127.0.0.1",
	        "127.0.0.1/32",
	        "0.0.0.0/0",
	        "192.168.1.128/25",
	        "10.0.0.0/08",
	        "1.2.3.4/032",
	        "::1",
	        "::/0",
	        "::1/128",
	        "2001:db8::/32",
	        "2001:db8::/33",
	        "2001:db8:8000::/33",
	        "fe80::/10",
	        "::ffff:127.0.0.1",
	        "::ffff:0:0/96",
	        "2001:DB8::/32",
	        "10.0.0.0/8,::1,192.168.1.0/24",
	        /* The longest entry OpenSSH lets through: 49 characters. */
	        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128",
	        "10.0.0.0/0000000000000000000000000000000000000008",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (addr_list_validate(ok[i]) != 0)
			fail_msg("\"%s\" refused", ok[i]);
}

static void test_validate_refused(void **state)
{
	static const char *const bad[] = {
	        "",
	        ",",
	        "10.0.0.0/8,",
	        ",10.0.0.0/8",
	        "10.0.0.0/8,,::1",
	        "10.0.0.1/8", /* host bits set: OpenSSH refuses it too */
	        "192.168.1.1/31",
	        "::1/127",
	        "2001:db8:4000::/33",
	        "::ffff:1.2.3.4/97",
	        "10.0.0.0/33",
	        "::/129",
	        "10.0.0.0/",
	        "10.0.0.0/-1",
	        "10.0.0.0/+8",
	        "10.0.0.0/8/8",
	        "10.0.0.0/8a",
	        "/8",
	        "10.0.0.0 /8",
	        " 10.0.0.0/8",
	        "10.0.0.0/8 ",
	        "10.0.0.0/8, ::1",
	        "10.0.0.0/8\n",
	        "!10.0.0.0/8",
	        "*",
	        "localhost",
	        "127.1",     /* inet_aton forms */
	        "010.0.0.1", /* octal in inet_aton */
	        "0x7f.0.0.1",
	        "1.2.3",
	        "1.2.3.4.5",
	        "256.0.0.1",
	        "1:2:3:4:5:6:7:8:9",
	        "1::2::3",
	        "fe80::1%eth0",
	        "[::1]",
	        /* 2^32 * k + 8 and + 64: a prefix that wraps an unsigned int to a valid length. */
	        "10.0.0.0/1000000000000000000000000000004294967304",
	        "::/1000000000000000000000000000004294967360",
	        "10.0.0.0/00000000000000000000000000000000000000008",
	        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/0128",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (addr_list_validate(bad[i]) != JIT_ERR_INVALID_FORMAT)
			fail_msg("\"%s\" accepted", bad[i]);
	assert_int_equal(addr_list_validate(NULL), JIT_ERR_INVALID_FORMAT);
}

/* Fills buf with n copies of entry joined by commas. */
static void repeat(char *buf, size_t size, const char *entry, size_t n)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : ",", entry);
		assert_true(len < size);
	}
}

static void test_bounds(void **state)
{
	char list[2 * ADDR_LIST_MAX];

	(void)state;
	repeat(list, sizeof(list), "1.1.1.1", ADDR_LIST_ENTRIES);
	assert_int_equal(addr_list_validate(list), 0);
	strcat(list, ",2.2.2.2");
	assert_int_equal(addr_list_validate(list), JIT_ERR_INVALID_FORMAT);
	assert_int_equal(addr_list_match(list, "2.2.2.2"), JIT_ERR_INVALID_FORMAT);

	/* Exactly ADDR_LIST_MAX bytes, then one more (a longer prefix, still valid alone). */
	repeat(list, sizeof(list), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128", 20);
	assert_int_equal(strlen(list), 20 * 49 + 19);
	strcat(list, ",10.0.0.0/000000000000008");
	assert_int_equal(strlen(list), ADDR_LIST_MAX);
	assert_int_equal(addr_list_validate(list), 0);
	assert_int_equal(addr_list_match(list, "10.20.30.40"), 1);
	assert_int_equal(addr_list_validate("10.0.0.0/0000000000000008"), 0);
	strcpy(strrchr(list, ','), ",10.0.0.0/0000000000000008");
	assert_int_equal(strlen(list), ADDR_LIST_MAX + 1);
	assert_int_equal(addr_list_validate(list), JIT_ERR_INVALID_FORMAT);
	assert_int_equal(addr_list_match(list, "10.20.30.40"), JIT_ERR_INVALID_FORMAT);
}

struct match_case {
	const char *list;
	const char *addr;
	int r;
};

static void test_match(void **state)
{
	static const struct match_case cases[] = {
	        {"10.0.0.0/8", "10.1.2.3", 1},
	        {"10.0.0.0/8", "10.255.255.255", 1},
	        {"10.0.0.0/8", "11.0.0.0", 0},
	        {"10.0.0.0/8", "9.255.255.255", 0},
	        {"127.0.0.1", "127.0.0.1", 1},
	        {"127.0.0.1", "127.0.0.2", 0},
	        {"127.0.0.1/32", "127.0.0.1", 1},
	        {"192.168.1.0/25", "192.168.1.127", 1},
	        {"192.168.1.0/25", "192.168.1.128", 0},
	        {"192.168.1.128/25", "192.168.1.128", 1},
	        {"192.168.1.128/25", "192.168.1.127", 0},
	        {"0.0.0.0/0", "255.255.255.255", 1},
	        {"0.0.0.0/0", "0.0.0.0", 1},
	        {"10.0.0.0/8,192.168.0.0/16,::1", "192.168.44.1", 1},
	        {"10.0.0.0/8,192.168.0.0/16,::1", "::1", 1},
	        {"10.0.0.0/8,192.168.0.0/16,::1", "172.16.0.1", 0},
	        {"::1", "::1", 1},
	        {"::1", "::2", 0},
	        {"::1", "0:0:0:0:0:0:0:1", 1},
	        {"::/0", "::1", 1},
	        {"::/0", "ffff::", 1},
	        {"2001:db8::/32", "2001:db8:ffff::1", 1},
	        {"2001:db8::/32", "2001:DB8::", 1},
	        {"2001:db8::/32", "2001:db9::1", 0},
	        {"fe80::/10", "febf::1", 1},
	        {"fe80::/10", "fec0::1", 0},
	        {"2001:db8:8000::/33", "2001:db8:ffff::", 1},
	        {"2001:db8:8000::/33", "2001:db8:7fff::", 0},
	        /* An IPv4 address never matches an IPv6 block, nor the reverse. */
	        {"0.0.0.0/0", "::1", 0},
	        {"0.0.0.0/0", "::", 0},
	        {"::/0", "10.0.0.1", 0},
	        {"::ffff:0:0/96", "10.0.0.1", 0},
	        {"::ffff:10.0.0.1", "10.0.0.1", 0},
	        /* A mapped client address is IPv4, as sshd sees it. */
	        {"127.0.0.1/32", "::ffff:127.0.0.1", 1},
	        {"10.0.0.0/8", "::ffff:10.9.8.7", 1},
	        {"10.0.0.0/8", "::FFFF:a09:807", 1},
	        {"10.0.0.0/8", "::ffff:11.0.0.1", 0},
	        {"::ffff:0:0/96", "::ffff:127.0.0.1", 0},
	        {"::/0", "::ffff:127.0.0.1", 0},
	        {"0.0.0.0/0", "::ffff:127.0.0.1", 1},
	        /* Only mapped addresses: the old "compatible" form stays IPv6. */
	        {"127.0.0.1", "::127.0.0.1", 0},
	        {"::127.0.0.1", "::127.0.0.1", 1},
	        /* The whole list is checked, even past a match. */
	        {"10.0.0.0/8,10.0.0.1/8", "10.0.0.1", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8,junk", "10.0.0.1", JIT_ERR_INVALID_FORMAT},
	        {"", "10.0.0.1", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "10.0.0.1/32", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "10.0.0.0/8", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "localhost", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", " 10.0.0.1", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "10.0.0.1 ", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "10.1", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "012.0.0.1", JIT_ERR_INVALID_FORMAT},
	        {"10.0.0.0/8", "10.0.0.1,10.0.0.2", JIT_ERR_INVALID_FORMAT},
	        {"::1", "fe80::1%lo", JIT_ERR_INVALID_FORMAT},
	        {"::1", "[::1]", JIT_ERR_INVALID_FORMAT},
	        {"::", "0000:0000:0000:0000:0000:0000:0000:0000:0", JIT_ERR_INVALID_FORMAT},
	};
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = addr_list_match(cases[i].list, cases[i].addr);
		if (r != cases[i].r)
			fail_msg("\"%s\" in \"%s\": got %d", cases[i].addr, cases[i].list, r);
	}
	assert_int_equal(addr_list_match(NULL, "10.0.0.1"), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(addr_list_match("10.0.0.0/8", NULL), JIT_ERR_INVALID_ARGUMENT);
}

/* Every prefix length, against the addresses just inside and just outside. */
static void test_every_prefix(void **state)
{
	char list[64], in[64], out[64];
	unsigned int bits;
	uint32_t net, size;

	(void)state;
	for (bits = 0; bits <= 32; bits++) {
		net = bits == 0 ? 0 : (0xc0a80000u & (0xffffffffu << (32 - bits)));
		size = bits == 0 ? 0 : (uint32_t)1 << (32 - bits); /* 0: the whole space */
		snprintf(list, sizeof(list), "%u.%u.%u.%u/%u", net >> 24, (net >> 16) & 0xff,
		         (net >> 8) & 0xff, net & 0xff, bits);
		assert_int_equal(addr_list_validate(list), 0);
		/* The last address of the block, and the one after it. */
		snprintf(in, sizeof(in), "%u.%u.%u.%u", (net + size - 1) >> 24,
		         ((net + size - 1) >> 16) & 0xff, ((net + size - 1) >> 8) & 0xff,
		         (net + size - 1) & 0xff);
		assert_int_equal(addr_list_match(list, in), 1);
		if (bits > 0) {
			snprintf(out, sizeof(out), "%u.%u.%u.%u", (net + size) >> 24,
			         ((net + size) >> 16) & 0xff, ((net + size) >> 8) & 0xff,
			         (net + size) & 0xff);
			assert_int_equal(addr_list_match(list, out), 0);
		}
		/* One host bit set is refused. */
		if (bits < 32) {
			snprintf(list, sizeof(list), "%u.%u.%u.%u/%u", (net | 1) >> 24,
			         ((net | 1) >> 16) & 0xff, ((net | 1) >> 8) & 0xff,
			         (net | 1) & 0xff, bits);
			assert_int_equal(addr_list_validate(list), JIT_ERR_INVALID_FORMAT);
		}
	}
	for (bits = 0; bits <= 128; bits++) {
		snprintf(list, sizeof(list), "::/%u", bits);
		assert_int_equal(addr_list_validate(list), 0);
		assert_int_equal(addr_list_match(list, "::"), 1);
		/* "::1" has its only set bit at position 127. */
		assert_int_equal(addr_list_match(list, "::1"), bits < 128 ? 1 : 0);
		snprintf(list, sizeof(list), "8000::/%u", bits);
		assert_int_equal(addr_list_validate(list), bits == 0 ? JIT_ERR_INVALID_FORMAT : 0);
		snprintf(list, sizeof(list), "::1/%u", bits);
		assert_int_equal(addr_list_validate(list),
		                 bits == 128 ? 0 : JIT_ERR_INVALID_FORMAT);
	}
	assert_int_equal(addr_list_validate("::/129"), JIT_ERR_INVALID_FORMAT);
	assert_int_equal(addr_list_validate("0.0.0.0/33"), JIT_ERR_INVALID_FORMAT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_validate_ok),  cmocka_unit_test(test_validate_refused),
	        cmocka_unit_test(test_bounds),       cmocka_unit_test(test_match),
	        cmocka_unit_test(test_every_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
