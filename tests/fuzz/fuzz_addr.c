/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Address list harness: the input as a list to validate, and split at the
 * first newline into a list and an address to match. Matching agrees with
 * validation, and a valid address is always matched by the catch-all list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longer than any accepted list, so that the length bound itself is exercised. */
#define INPUT_MAX (2 * ADDR_LIST_MAX)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[INPUT_MAX + 1];
	const char *addr;
	char *nl;
	int valid, m, all;

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';

	valid = addr_list_validate(s);
	if (valid != 0 && valid != JIT_ERR_INVALID_FORMAT)
		abort();

	if ((nl = strchr(s, '\n')) == NULL) {
		addr = "";
	} else {
		*nl = '\0';
		addr = nl + 1;
	}
	valid = addr_list_validate(s);
	if (valid != 0 && valid != JIT_ERR_INVALID_FORMAT)
		abort();
	m = addr_list_match(s, addr);
	if (m != 0 && m != 1 && m != JIT_ERR_INVALID_FORMAT)
		abort();
	/* Every valid address, IPv4, IPv6 or mapped, is in one of these. */
	all = addr_list_match("0.0.0.0/0,::/0", addr);
	if (all != 1 && all != JIT_ERR_INVALID_FORMAT)
		abort();
	/* A bad list always fails; a good one fails exactly for a bad address. */
	if (valid != 0 && m >= 0)
		abort();
	if (valid == 0 && (m < 0) != (all < 0))
		abort();
	return 0;
}
