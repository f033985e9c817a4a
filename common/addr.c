/* SPDX-License-Identifier: BSD-2-Clause */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "err.h"

/* OpenSSH's own bound on one entry: the longest IPv6 text plus "/128". */
#define ADDR_ENTRY_MAX (INET6_ADDRSTRLEN + 3)

/* The characters OpenSSH lets through to its address parser. */
#define ADDR_CHARS "0123456789abcdefABCDEF.:/"

struct cidr {
	int af;
	uint8_t a[16];
	unsigned int bits; /* prefix length */
};

/*
 * A numeric address. inet_pton, unlike the getaddrinfo OpenSSH calls, does
 * not take the old inet_aton forms ("127.1", octal "010.0.0.1"): we refuse
 * them rather than read them differently from sshd.
 */
static int addr_parse(const char *s, size_t n, struct cidr *ret)
{
	char text[ADDR_ENTRY_MAX + 1];

	memset(ret, 0, sizeof(*ret));
	if (n == 0 || n > INET6_ADDRSTRLEN || memchr(s, '\0', n) != NULL)
		return JIT_ERR_INVALID_FORMAT;
	memcpy(text, s, n);
	text[n] = '\0';
	if (memchr(text, ':', n) != NULL) {
		if (inet_pton(AF_INET6, text, ret->a) != 1)
			return JIT_ERR_INVALID_FORMAT;
		ret->af = AF_INET6;
		ret->bits = 128;
	} else {
		if (inet_pton(AF_INET, text, ret->a) != 1)
			return JIT_ERR_INVALID_FORMAT;
		ret->af = AF_INET;
		ret->bits = 32;
	}
	return 0;
}

/* Are all bits of a from bit "bits" on zero? */
static int host_bits_zero(const struct cidr *c)
{
	size_t len = c->af == AF_INET ? 4 : 16;
	size_t i = c->bits / 8;

	if (c->bits % 8 != 0) {
		if ((c->a[i] & (0xff >> (c->bits % 8))) != 0)
			return 0;
		i++;
	}
	for (; i < len; i++)
		if (c->a[i] != 0)
			return 0;
	return 1;
}

/* One list entry: ADDRESS or ADDRESS/PREFIX, checked as OpenSSH's addr_pton_cidr does. */
static int entry_parse(const char *s, size_t n, struct cidr *ret)
{
	const char *slash;
	size_t alen, i;
	unsigned int bits = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (n == 0 || n > ADDR_ENTRY_MAX)
		return JIT_ERR_INVALID_FORMAT;
	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(ADDR_CHARS, s[i]) == NULL)
			return JIT_ERR_INVALID_FORMAT;
	slash = memchr(s, '/', n);
	alen = slash == NULL ? n : (size_t)(slash - s);
	if ((r = addr_parse(s, alen, ret)) != 0)
		return r;
	if (slash != NULL) {
		if (alen + 1 == n)
			return JIT_ERR_INVALID_FORMAT;
		/* Leading zeros are fine, as with strtoul; the entry bound limits the digits. */
		for (i = alen + 1; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				return JIT_ERR_INVALID_FORMAT;
			if (bits <= 128)
				bits = bits * 10 + (unsigned int)(s[i] - '0');
		}
		if (bits > ret->bits)
			return JIT_ERR_INVALID_FORMAT;
		ret->bits = bits;
	}
	if (!host_bits_zero(ret))
		return JIT_ERR_INVALID_FORMAT;
	return 0;
}

static int cidr_contains(const struct cidr *net, const struct cidr *host)
{
	size_t full = net->bits / 8;
	unsigned int rest = net->bits % 8;
	uint8_t mask;

	if (net->af != host->af)
		return 0;
	if (memcmp(net->a, host->a, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (host->a[full] & mask) == net->a[full];
}

/*
 * Checks every entry of list; with host set, also sets *ret_match when one
 * contains it. The whole list is always checked, as OpenSSH does: a bad
 * entry after a matching one still fails.
 */
static int list_walk(const char *list, const struct cidr *host, int *ret_match)
{
	const char *p, *comma;
	struct cidr net;
	size_t n, len, entries = 0;
	int match = 0, r;

	*ret_match = 0;
	if ((n = strnlen(list, ADDR_LIST_MAX + 1)) > ADDR_LIST_MAX)
		return JIT_ERR_INVALID_FORMAT;
	p = list;
	for (;;) {
		comma = memchr(p, ',', n - (size_t)(p - list));
		len = comma == NULL ? n - (size_t)(p - list) : (size_t)(comma - p);
		if (++entries > ADDR_LIST_ENTRIES)
			return JIT_ERR_INVALID_FORMAT;
		if ((r = entry_parse(p, len, &net)) != 0)
			return r;
		if (host != NULL && cidr_contains(&net, host))
			match = 1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*ret_match = match;
	return 0;
}

int addr_list_validate(const char *list)
{
	int match;

	if (list == NULL)
		return JIT_ERR_INVALID_FORMAT;
	return list_walk(list, NULL, &match);
}

int addr_list_match(const char *list, const char *addr)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct cidr host;
	int match = 0, r;

	if (list == NULL || addr == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = list_walk(list, NULL, &match)) != 0)
		return r;
	if ((r = addr_parse(addr, strnlen(addr, INET6_ADDRSTRLEN + 1), &host)) != 0)
		return r;
	/*
	 * sshd on a dual-stack socket sees an IPv4 client as ::ffff:a.b.c.d and
	 * turns it back into IPv4 before matching: such an address matches
	 * IPv4 entries, and no longer IPv6 ones (::ffff:0:0/96).
	 */
	if (host.af == AF_INET6 && memcmp(host.a, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(host.a, host.a + 12, 4);
		memset(host.a + 4, 0, 12);
		host.af = AF_INET;
		host.bits = 32;
	}
	if ((r = list_walk(list, &host, &match)) != 0)
		return r;
	return match;
}
