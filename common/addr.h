/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Address lists as OpenSSH's source-address option holds them: a comma
 * separated list of IPv4/IPv6 addresses or CIDR blocks ("10.0.0.0/8,::1").
 */
#ifndef JIT_ADDR_H
#define JIT_ADDR_H

#include <stddef.h>

/* Longest list accepted (bytes), and most entries. */
#define ADDR_LIST_MAX     1024
#define ADDR_LIST_ENTRIES 64

/*
 * Checks a list: every entry an address or a CIDR block with a prefix in
 * range and no host bits set beyond it (as OpenSSH's addr_match_cidr_list
 * requires); no spaces, no empty entries. 0 or JIT_ERR_INVALID_FORMAT.
 */
int addr_list_validate(const char *list);
/*
 * 1 when addr (a numeric IPv4 or IPv6 address) lies in one of the list's
 * blocks, 0 when not, negative on a malformed list or address.
 */
int addr_list_match(const char *list, const char *addr);

#endif
