/* SPDX-License-Identifier: BSD-2-Clause */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "err.h"

struct buf {
	uint8_t *d;   /* storage */
	size_t off;   /* first unread byte */
	size_t size;  /* end of data */
	size_t alloc; /* bytes allocated at d */
	size_t max;   /* hard cap on size */
};

struct buf *buf_new(size_t max)
{
	struct buf *b;

	if (max == 0 || max > BUF_SIZE_MAX)
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max = max;
	return b;
}

struct buf *buf_from(const void *data, size_t len)
{
	struct buf *b;

	if ((b = buf_new(len == 0 ? 1 : len)) == NULL)
		return NULL;
	if (buf_put(b, data, len) != 0) {
		buf_free(b);
		return NULL;
	}
	return b;
}

void buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	if (b->d != NULL)
		OPENSSL_clear_free(b->d, b->alloc);
	free(b);
}

void buf_reset(struct buf *b)
{
	if (b->d != NULL)
		OPENSSL_cleanse(b->d, b->alloc);
	b->off = b->size = 0;
}

size_t buf_len(const struct buf *b)
{
	return b->size - b->off;
}

const uint8_t *buf_ptr(const struct buf *b)
{
	static const uint8_t empty[1];

	return b->d == NULL ? empty : b->d + b->off;
}

int buf_consume(struct buf *b, size_t n)
{
	if (n > buf_len(b))
		return JIT_ERR_MESSAGE_INCOMPLETE;
	b->off += n;
	return 0;
}

/* 1 when data lies inside b's storage: growing would free it under the copy. */
static int buf_aliases(const struct buf *b, const void *data)
{
	uintptr_t d = (uintptr_t)data, lo = (uintptr_t)b->d;

	return b->d != NULL && d >= lo && d < lo + b->alloc;
}

/* Makes room for len more bytes; never grows beyond the cap. */
static int buf_reserve(struct buf *b, size_t len, uint8_t **ret)
{
	size_t need, nalloc;
	uint8_t *n;

	*ret = NULL;
	if (len > b->max - b->size)
		return JIT_ERR_NO_BUFFER_SPACE;
	if (len == 0)
		return 0; /* nothing to place; storage may not exist yet */
	need = b->size + len;
	if (need > b->alloc) {
		nalloc = b->alloc < 256 ? 256 : b->alloc;
		while (nalloc < need)
			nalloc = nalloc > b->max / 2 ? b->max : nalloc * 2;
		if (nalloc > b->max)
			nalloc = b->max;
		/* Not realloc: the old storage may hold secrets and is wiped. */
		if ((n = malloc(nalloc)) == NULL)
			return JIT_ERR_ALLOC;
		if (b->d != NULL) {
			memcpy(n, b->d, b->size);
			OPENSSL_clear_free(b->d, b->alloc);
		}
		b->d = n;
		b->alloc = nalloc;
	}
	*ret = b->d + b->size;
	b->size += len;
	return 0;
}

int buf_put(struct buf *b, const void *data, size_t len)
{
	uint8_t *p;
	int r;

	if (buf_aliases(b, data))
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = buf_reserve(b, len, &p)) != 0)
		return r;
	if (len > 0)
		memcpy(p, data, len);
	return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return buf_put(b, p, sizeof(p));
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	int r;

	if ((r = buf_put_u32(b, (uint32_t)(v >> 32))) != 0)
		return r;
	return buf_put_u32(b, (uint32_t)v);
}

int buf_put_string(struct buf *b, const void *data, size_t len)
{
	uint8_t *p;
	int r;

	if (len > UINT32_MAX || len > BUF_SIZE_MAX - 4)
		return JIT_ERR_STRING_TOO_LARGE;
	if (buf_aliases(b, data))
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = buf_reserve(b, 4 + len, &p)) != 0)
		return r;
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	if (len > 0)
		memcpy(p + 4, data, len);
	return 0;
}

int buf_put_cstring(struct buf *b, const char *s)
{
	return buf_put_string(b, s, s == NULL ? 0 : strlen(s));
}

int buf_put_stringb(struct buf *b, const struct buf *v)
{
	return buf_put_string(b, buf_ptr(v), buf_len(v));
}

int buf_put_bignum2_bytes(struct buf *b, const void *data, size_t len)
{
	const uint8_t *s = data;
	uint8_t *p;
	size_t pad;
	int r;

	while (len > 0 && *s == 0) {
		s++;
		len--;
	}
	/* A set top bit would read as negative: prefix a zero byte. */
	pad = (len > 0 && (s[0] & 0x80) != 0) ? 1 : 0;
	if (buf_aliases(b, data))
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > BUF_SIZE_MAX - 5)
		return JIT_ERR_STRING_TOO_LARGE;
	if ((r = buf_reserve(b, 4 + pad + len, &p)) != 0)
		return r;
	p[0] = (uint8_t)((len + pad) >> 24);
	p[1] = (uint8_t)((len + pad) >> 16);
	p[2] = (uint8_t)((len + pad) >> 8);
	p[3] = (uint8_t)(len + pad);
	if (pad)
		p[4] = 0;
	if (len > 0)
		memcpy(p + 4 + pad, s, len);
	return 0;
}

int buf_get_u8(struct buf *b, uint8_t *ret)
{
	*ret = 0;
	if (buf_len(b) < 1)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	*ret = buf_ptr(b)[0];
	b->off += 1;
	return 0;
}

static uint32_t peek_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
	       (uint32_t)p[3];
}

int buf_get_u32(struct buf *b, uint32_t *ret)
{
	*ret = 0;
	if (buf_len(b) < 4)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	*ret = peek_u32(buf_ptr(b));
	b->off += 4;
	return 0;
}

int buf_get_u64(struct buf *b, uint64_t *ret)
{
	const uint8_t *p;

	*ret = 0;
	if (buf_len(b) < 8)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	p = buf_ptr(b);
	*ret = ((uint64_t)peek_u32(p) << 32) | peek_u32(p + 4);
	b->off += 8;
	return 0;
}

int buf_peek_string_direct(const struct buf *b, const uint8_t **ret, size_t *ret_len)
{
	size_t len;

	if (ret != NULL)
		*ret = NULL;
	if (ret_len != NULL)
		*ret_len = 0;
	if (buf_len(b) < 4)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	len = peek_u32(buf_ptr(b));
	/* Written so that it cannot wrap: len is at most 2^32-1. */
	if (len > buf_len(b) - 4)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	if (ret != NULL)
		*ret = buf_ptr(b) + 4;
	if (ret_len != NULL)
		*ret_len = len;
	return 0;
}

int buf_get_string_direct(struct buf *b, const uint8_t **ret, size_t *ret_len)
{
	const uint8_t *p;
	size_t len;
	int r;

	if (ret != NULL)
		*ret = NULL;
	if (ret_len != NULL)
		*ret_len = 0;
	if ((r = buf_peek_string_direct(b, &p, &len)) != 0)
		return r;
	b->off += 4 + len;
	if (ret != NULL)
		*ret = p;
	if (ret_len != NULL)
		*ret_len = len;
	return 0;
}

int buf_get_string(struct buf *b, uint8_t **ret, size_t *ret_len)
{
	const uint8_t *p;
	uint8_t *s;
	size_t len;
	int r;

	*ret = NULL;
	if (ret_len != NULL)
		*ret_len = 0;
	if ((r = buf_peek_string_direct(b, &p, &len)) != 0)
		return r;
	if ((s = malloc(len + 1)) == NULL)
		return JIT_ERR_ALLOC;
	if (len > 0)
		memcpy(s, p, len);
	s[len] = '\0';
	b->off += 4 + len;
	*ret = s;
	if (ret_len != NULL)
		*ret_len = len;
	return 0;
}

int buf_get_cstring(struct buf *b, char **ret, size_t *ret_len)
{
	const uint8_t *p;
	size_t len;
	int r;

	*ret = NULL;
	if (ret_len != NULL)
		*ret_len = 0;
	if ((r = buf_peek_string_direct(b, &p, &len)) != 0)
		return r;
	if (len > 0 && memchr(p, '\0', len) != NULL)
		return JIT_ERR_EMBEDDED_NUL;
	return buf_get_string(b, (uint8_t **)ret, ret_len);
}

int buf_froms(struct buf *b, struct buf **ret)
{
	const uint8_t *p;
	struct buf *n;
	size_t len;
	int r;

	*ret = NULL;
	if ((r = buf_peek_string_direct(b, &p, &len)) != 0)
		return r;
	if ((n = buf_from(p, len)) == NULL)
		return JIT_ERR_ALLOC;
	b->off += 4 + len;
	*ret = n;
	return 0;
}

int buf_get_bignum2_bytes_direct(struct buf *b, size_t max_bytes, const uint8_t **ret,
                                 size_t *ret_len)
{
	const uint8_t *p, *mag;
	size_t len, mag_len;
	int r;

	if (ret != NULL)
		*ret = NULL;
	if (ret_len != NULL)
		*ret_len = 0;
	if ((r = buf_peek_string_direct(b, &p, &len)) != 0)
		return r;
	if (len > 0 && (p[0] & 0x80) != 0)
		return JIT_ERR_BIGNUM_INVALID; /* negative */
	/* A leading zero is allowed only to clear the sign of the next byte. */
	if (len > 1 && p[0] == 0 && (p[1] & 0x80) == 0)
		return JIT_ERR_BIGNUM_INVALID;
	if (len == 1 && p[0] == 0)
		return JIT_ERR_BIGNUM_INVALID;
	/* The magnitude: without the sign-clearing zero byte. */
	mag = p;
	mag_len = len;
	if (mag_len > 0 && mag[0] == 0) {
		mag++;
		mag_len--;
	}
	if (mag_len > max_bytes)
		return JIT_ERR_BIGNUM_TOO_LARGE;
	b->off += 4 + len;
	if (ret != NULL)
		*ret = mag;
	if (ret_len != NULL)
		*ret_len = mag_len;
	return 0;
}
