/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Protocol harness: the input as a request payload and as a response
 * payload. Whatever decodes must encode again to exactly the same bytes
 * (the encoding is canonical), and a failed decode leaves its output clear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Decode errors are codes of the table, never anything else. */
static void check_code(int r)
{
	if (r > 0 || r < JIT_ERR_MIN)
		abort();
}

static void check_request(const uint8_t *data, size_t size)
{
	struct proto_request q;
	struct buf *b;
	int r;

	memset(&q, 0xa5, sizeof(q));
	r = proto_request_decode(data, size, &q);
	check_code(r);
	if (r != 0) {
		if (!all_zero(&q, sizeof(q)))
			abort();
		return;
	}
	if ((b = buf_new(PROTO_FRAME_MAX)) == NULL)
		abort();
	if (proto_request_encode(&q, b) != 0 || buf_len(b) != size ||
	    memcmp(buf_ptr(b), data, size) != 0)
		abort();
	buf_free(b);
	proto_request_free(&q);
	if (!all_zero(&q, sizeof(q)))
		abort();
}

static void check_response(const uint8_t *data, size_t size)
{
	struct proto_response p;
	struct buf *b;
	int r;

	memset(&p, 0xa5, sizeof(p));
	r = proto_response_decode(data, size, &p);
	check_code(r);
	if (r != 0) {
		if (!all_zero(&p, sizeof(p)))
			abort();
		return;
	}
	if (p.status != PROTO_OK && (p.cert != NULL || p.cert_len != 0 || p.serial != 0))
		abort();
	if ((b = buf_new(PROTO_FRAME_MAX)) == NULL)
		abort();
	if (proto_response_encode(&p, b) != 0 || buf_len(b) != size ||
	    memcmp(buf_ptr(b), data, size) != 0)
		abort();
	buf_free(b);
	proto_response_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_response(data, size);
	return 0;
}
