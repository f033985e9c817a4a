/* SPDX-License-Identifier: BSD-2-Clause */
/* Strict base64 (RFC 4648, with padding), bounded, through OpenSSL. */
#ifndef JIT_B64_H
#define JIT_B64_H

#include <stddef.h>
#include <stdint.h>

/* NUL-terminated encoding of data. */
int b64_encode(const uint8_t *data, size_t len, char **ret);
/*
 * Decodes exactly len characters of s. Any character outside the alphabet
 * (whitespace included), bad padding or a length that is not a multiple of
 * 4 is JIT_ERR_INVALID_FORMAT. The output is at most max bytes.
 */
int b64_decode(const char *s, size_t len, size_t max, uint8_t **ret, size_t *ret_len);

#endif
