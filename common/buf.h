/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A bounded buffer for the SSH wire format (RFC 4251 section 5): data is
 * appended at the end and read from the front. Every buffer has a hard size
 * cap; every get checks lengths against what remains without overflow and
 * clears its outputs first, and leaves the buffer untouched on failure.
 * Data put into a buffer must not point into that same buffer
 * (JIT_ERR_INVALID_ARGUMENT). Bytes already read count against the cap
 * until buf_reset: buffers are built or read, not used as queues.
 */
#ifndef JIT_BUF_H
#define JIT_BUF_H

#include <stddef.h>
#include <stdint.h>

/* No buffer ever grows beyond this (16 MiB). */
#define BUF_SIZE_MAX ((size_t)16 * 1024 * 1024)

struct buf;

/* A new empty buffer that refuses to grow beyond max bytes (<= BUF_SIZE_MAX). */
struct buf *buf_new(size_t max);
/* A new buffer holding a copy of data, capped at len (read-only use). */
struct buf *buf_from(const void *data, size_t len);
/* Wipes the contents and frees. NULL is fine. */
void buf_free(struct buf *b);
/* Wipes the contents and empties the buffer; the cap stays. */
void buf_reset(struct buf *b);

/* Bytes not yet read. */
size_t buf_len(const struct buf *b);
/* The unread bytes (valid until the next put or free). */
const uint8_t *buf_ptr(const struct buf *b);
/* Skips n unread bytes. */
int buf_consume(struct buf *b, size_t n);

int buf_put(struct buf *b, const void *data, size_t len);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
/* uint32 length + bytes. */
int buf_put_string(struct buf *b, const void *data, size_t len);
int buf_put_cstring(struct buf *b, const char *s);
/* The unread contents of v as one string (a nested structure). */
int buf_put_stringb(struct buf *b, const struct buf *v);
/* An mpint from an unsigned big-endian magnitude (leading zeros dropped). */
int buf_put_bignum2_bytes(struct buf *b, const void *data, size_t len);

int buf_get_u8(struct buf *b, uint8_t *ret);
int buf_get_u32(struct buf *b, uint32_t *ret);
int buf_get_u64(struct buf *b, uint64_t *ret);
/* A string as a pointer into the buffer; valid while the buffer lives. */
int buf_get_string_direct(struct buf *b, const uint8_t **ret, size_t *ret_len);
/* Like buf_get_string_direct but does not consume. */
int buf_peek_string_direct(const struct buf *b, const uint8_t **ret, size_t *ret_len);
/* A string copied into a new NUL-terminated allocation (ret_len may be NULL). */
int buf_get_string(struct buf *b, uint8_t **ret, size_t *ret_len);
/* A text string: an embedded NUL is JIT_ERR_EMBEDDED_NUL. */
int buf_get_cstring(struct buf *b, char **ret, size_t *ret_len);
/* A string parsed as a nested buffer (a copy). */
int buf_froms(struct buf *b, struct buf **ret);
/*
 * A non-negative mpint as its magnitude without leading zero bytes; a
 * negative or non-minimal encoding, or one longer than max_bytes, is an error.
 */
int buf_get_bignum2_bytes_direct(struct buf *b, size_t max_bytes, const uint8_t **ret,
                                 size_t *ret_len);

#endif
