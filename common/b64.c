/* SPDX-License-Identifier: BSD-2-Clause */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64.h"
#include "buf.h"
#include "err.h"

/* Value of a base64 alphabet character, or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int b64_encode(const uint8_t *data, size_t len, char **ret)
{
	size_t olen;
	char *out;

	*ret = NULL;
	if (data == NULL && len > 0)
		return JIT_ERR_INVALID_ARGUMENT;
	/* EVP_EncodeBlock counts in int; BUF_SIZE_MAX keeps far below that. */
	if (len > BUF_SIZE_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	olen = (len + 2) / 3 * 4;
	if ((out = malloc(olen + 1)) == NULL)
		return JIT_ERR_ALLOC;
	if (len > 0 && (size_t)EVP_EncodeBlock((unsigned char *)out, data, (int)len) != olen) {
		free(out);
		return JIT_ERR_LIBCRYPTO;
	}
	out[olen] = '\0';
	*ret = out;
	return 0;
}

int b64_decode(const char *s, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, pad = 0, olen;
	uint8_t *out;
	int last;

	*ret = NULL;
	*ret_len = 0;
	if (s == NULL && len > 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len % 4 != 0)
		return JIT_ERR_INVALID_FORMAT;
	if (len / 4 * 3 > (size_t)INT_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if (len > 0 && u[len - 1] == '=') {
		pad = 1;
		if (u[len - 2] == '=')
			pad = 2;
	}
	/* EVP_DecodeBlock skips whitespace and accepts '=' loosely: check first. */
	for (i = 0; i < len - pad; i++) {
		if (b64_value(u[i]) < 0)
			return JIT_ERR_INVALID_FORMAT;
	}
	/* Bits below the last whole byte must be zero, so one encoding per value. */
	if (pad > 0) {
		last = b64_value(u[len - pad - 1]);
		if ((pad == 1 && (last & 0x03) != 0) || (pad == 2 && (last & 0x0f) != 0))
			return JIT_ERR_INVALID_FORMAT;
	}
	olen = len / 4 * 3 - pad;
	if (olen > max)
		return JIT_ERR_NO_BUFFER_SPACE;
	/* Room for the padded length EVP_DecodeBlock writes, and never zero. */
	if ((out = malloc(len / 4 * 3 + 1)) == NULL)
		return JIT_ERR_ALLOC;
	if (len > 0 && EVP_DecodeBlock(out, u, (int)len) != (int)(len / 4 * 3)) {
		OPENSSL_clear_free(out, len / 4 * 3 + 1);
		return JIT_ERR_INVALID_FORMAT;
	}
	/* The decoded pad bytes are zero; the caller owns olen bytes. */
	*ret = out;
	*ret_len = olen;
	return 0;
}
