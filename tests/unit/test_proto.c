/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The signing protocol: exact bytes of known messages, every bound, and the
 * client against fake services listening on real Unix sockets (forked
 * children that answer, stall, close or send too much).
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "client.h"
#include "err.h"
#include "proto.h"

/* The request of golden_request below, written from the wire format by hand. */
static const char golden_request_hex[] =
        "000000010100000005616c696365000000330000000b7373682d656432353531"
        "39000000200102030405060708090a0b0c0d0e0f101112131415161718191a1b"
        "1c1d1e1f200000001300000005616c696365000000066465706c6f7900000000"
        "0000012c000000006a00000001000000084348472d3130303100000000000000"
        "10303132333435363738396162636465660000000a31302e302e302e302f38";
static const char golden_ok_hex[] =
        "00000001020000000007636c616d7065640000000843455254424c4f42000000000000002a01";
static const char golden_denied_hex[] = "000000010201000000026e6f";

static uint8_t *unhex(const char *hex, size_t *ret_len)
{
	size_t n = strlen(hex) / 2, i;
	uint8_t *p = malloc(n + 1);
	unsigned v;

	assert_non_null(p);
	assert_int_equal(strlen(hex) % 2, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		p[i] = (uint8_t)v;
	}
	*ret_len = n;
	return p;
}

/* A syntactically valid Ed25519 public key blob (no private half exists). */
static uint8_t *ed25519_blob(size_t *ret_len)
{
	struct buf *b = buf_new(1024);
	uint8_t pk[32], *out;
	size_t i;

	assert_non_null(b);
	for (i = 0; i < sizeof(pk); i++)
		pk[i] = (uint8_t)(i + 1);
	assert_int_equal(buf_put_cstring(b, "ssh-ed25519"), 0);
	assert_int_equal(buf_put_string(b, pk, sizeof(pk)), 0);
	*ret_len = buf_len(b);
	out = malloc(*ret_len);
	assert_non_null(out);
	memcpy(out, buf_ptr(b), *ret_len);
	buf_free(b);
	return out;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	assert_non_null(p);
	return p;
}

/* A string of n copies of c. */
static char *repeat(char c, size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memset(p, c, n);
	p[n] = '\0';
	return p;
}

static void set_str(char **field, char *value)
{
	free(*field);
	*field = value;
}

/* The golden request as a struct. */
static void golden_request(struct proto_request *q)
{
	memset(q, 0, sizeof(*q));
	q->user = xstrdup("alice");
	q->pubkey = ed25519_blob(&q->pubkey_len);
	q->principals = calloc(PROTO_PRINCIPALS_MAX + 1, sizeof(char *));
	assert_non_null(q->principals);
	q->principals[0] = xstrdup("alice");
	q->principals[1] = xstrdup("deploy");
	q->nprincipals = 2;
	q->validity = 300;
	q->not_after = 0x6a000000;
	q->context = PROTO_CTX_TICKET;
	q->ticket = xstrdup("CHG-1001");
	q->reason = xstrdup("");
	q->session = xstrdup("0123456789abcdef");
	q->source_address = xstrdup("10.0.0.0/8");
}

/* Writes a request with no checks at all: what a hostile peer can send. */
static void raw_request(const struct proto_request *q, uint32_t version, uint8_t type,
                        struct buf *out)
{
	struct buf *pl = buf_new(BUF_SIZE_MAX);
	size_t i;

	assert_non_null(pl);
	for (i = 0; i < q->nprincipals; i++)
		assert_int_equal(buf_put_cstring(pl, q->principals[i]), 0);
	assert_int_equal(buf_put_u32(out, version), 0);
	assert_int_equal(buf_put_u8(out, type), 0);
	assert_int_equal(buf_put_cstring(out, q->user), 0);
	assert_int_equal(buf_put_string(out, q->pubkey, q->pubkey_len), 0);
	assert_int_equal(buf_put_stringb(out, pl), 0);
	assert_int_equal(buf_put_u64(out, q->validity), 0);
	assert_int_equal(buf_put_u64(out, q->not_after), 0);
	assert_int_equal(buf_put_u8(out, q->context), 0);
	assert_int_equal(buf_put_cstring(out, q->ticket), 0);
	assert_int_equal(buf_put_cstring(out, q->reason), 0);
	assert_int_equal(buf_put_cstring(out, q->session), 0);
	assert_int_equal(buf_put_cstring(out, q->source_address), 0);
	buf_free(pl);
}

static void raw_response(const struct proto_response *p, struct buf *out)
{
	assert_int_equal(buf_put_u32(out, PROTO_VERSION), 0);
	assert_int_equal(buf_put_u8(out, PROTO_MSG_SIGN_RESPONSE), 0);
	assert_int_equal(buf_put_u8(out, p->status), 0);
	assert_int_equal(buf_put_cstring(out, p->message), 0);
	if (p->status == PROTO_OK) {
		assert_int_equal(buf_put_string(out, p->cert, p->cert_len), 0);
		assert_int_equal(buf_put_u64(out, p->serial), 0);
		assert_int_equal(buf_put_u8(out, p->clamped), 0);
	}
}

/* A decode output full of junk: decoding must clear it. */
static void poison_request(struct proto_request *q)
{
	memset(q, 0x5a, sizeof(*q));
}

static void assert_request_cleared(const struct proto_request *q)
{
	struct proto_request zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(q, &zero, sizeof(zero));
}

/*
 * Both sides refuse the same way: the encoder with want, and the decoder,
 * given the same fields written unchecked, with want too.
 */
static void assert_request_refused(const struct proto_request *q, int want)
{
	struct buf *b = buf_new(BUF_SIZE_MAX);
	struct proto_request out;

	assert_non_null(b);
	assert_int_equal(proto_request_encode(q, b), want);
	assert_int_equal(buf_len(b), 0);
	buf_reset(b);
	raw_request(q, PROTO_VERSION, PROTO_MSG_SIGN_REQUEST, b);
	poison_request(&out);
	if (buf_len(b) > PROTO_FRAME_MAX)
		assert_int_equal(proto_request_decode(buf_ptr(b), buf_len(b), &out),
		                 JIT_ERR_NO_BUFFER_SPACE);
	else
		assert_int_equal(proto_request_decode(buf_ptr(b), buf_len(b), &out), want);
	assert_request_cleared(&out);
	buf_free(b);
}

static void assert_request_accepted(const struct proto_request *q)
{
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	struct proto_request out;

	assert_non_null(b);
	assert_int_equal(proto_request_encode(q, b), 0);
	assert_int_equal(proto_request_decode(buf_ptr(b), buf_len(b), &out), 0);
	proto_request_free(&out);
	buf_free(b);
}

static void test_request_golden(void **state)
{
	struct proto_request q, d;
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	uint8_t *want;
	size_t wlen;

	(void)state;
	assert_non_null(b);
	golden_request(&q);
	want = unhex(golden_request_hex, &wlen);
	assert_int_equal(wlen, 159);
	assert_int_equal(proto_request_encode(&q, b), 0);
	assert_int_equal(buf_len(b), wlen);
	assert_memory_equal(buf_ptr(b), want, wlen);

	poison_request(&d);
	assert_int_equal(proto_request_decode(want, wlen, &d), 0);
	assert_string_equal(d.user, "alice");
	assert_int_equal(d.pubkey_len, q.pubkey_len);
	assert_memory_equal(d.pubkey, q.pubkey, q.pubkey_len);
	assert_int_equal(d.nprincipals, 2);
	assert_string_equal(d.principals[0], "alice");
	assert_string_equal(d.principals[1], "deploy");
	assert_int_equal(d.validity, 300);
	assert_int_equal(d.not_after, 0x6a000000);
	assert_int_equal(d.context, PROTO_CTX_TICKET);
	assert_string_equal(d.ticket, "CHG-1001");
	assert_string_equal(d.reason, "");
	assert_string_equal(d.session, "0123456789abcdef");
	assert_string_equal(d.source_address, "10.0.0.0/8");

	/* Re-encoding the decoded request gives the same bytes. */
	buf_reset(b);
	assert_int_equal(proto_request_encode(&d, b), 0);
	assert_int_equal(buf_len(b), wlen);
	assert_memory_equal(buf_ptr(b), want, wlen);

	proto_request_free(&d);
	assert_request_cleared(&d);
	proto_request_free(&q);
	proto_request_free(NULL);
	free(want);
	buf_free(b);
}

static void test_request_breakglass_roundtrip(void **state)
{
	struct proto_request q, d;
	struct buf *b = buf_new(PROTO_FRAME_MAX);

	(void)state;
	assert_non_null(b);
	golden_request(&q);
	q.context = PROTO_CTX_BREAKGLASS;
	set_str(&q.ticket, xstrdup(""));
	set_str(&q.reason, xstrdup("database down, pager INC-77"));
	set_str(&q.source_address, xstrdup(""));
	q.not_after = 0;
	assert_int_equal(proto_request_encode(&q, b), 0);
	assert_int_equal(proto_request_decode(buf_ptr(b), buf_len(b), &d), 0);
	assert_int_equal(d.context, PROTO_CTX_BREAKGLASS);
	assert_string_equal(d.ticket, "");
	assert_string_equal(d.reason, "database down, pager INC-77");
	assert_string_equal(d.source_address, "");
	assert_int_equal(d.not_after, 0);
	proto_request_free(&d);
	proto_request_free(&q);
	buf_free(b);
}

static void test_request_bounds(void **state)
{
	struct proto_request q;
	size_t i;

	(void)state;
	golden_request(&q);

	/* User: 64 safe characters, never 65, never a leading '-'. */
	set_str(&q.user, repeat('u', PROTO_USER_MAX));
	assert_request_accepted(&q);
	set_str(&q.user, repeat('u', PROTO_USER_MAX + 1));
	assert_request_refused(&q, JIT_ERR_STRING_TOO_LARGE);
	set_str(&q.user, xstrdup(""));
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	set_str(&q.user, xstrdup("-alice"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.user, xstrdup("al ice"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.user, xstrdup("al/ice"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.user, xstrdup("a.l_i-ce9"));
	assert_request_accepted(&q);
	set_str(&q.user, xstrdup("alice"));

	/* Validity: 1 s to a day. */
	q.validity = 0;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	q.validity = 86401;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	q.validity = 86400;
	assert_request_accepted(&q);
	q.validity = 1;
	assert_request_accepted(&q);
	q.not_after = 253402300800ULL;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	q.not_after = 253402300799ULL;
	assert_request_accepted(&q);
	q.not_after = 0;

	/* Ticket. */
	set_str(&q.ticket, repeat('T', PROTO_TICKET_MAX));
	assert_request_accepted(&q);
	set_str(&q.ticket, repeat('T', PROTO_TICKET_MAX + 1));
	assert_request_refused(&q, JIT_ERR_STRING_TOO_LARGE);
	set_str(&q.ticket, xstrdup(""));
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	set_str(&q.ticket, xstrdup("CHG/1001"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.ticket, xstrdup("CHG-1001"));
	/* A ticket request carries no reason. */
	set_str(&q.reason, xstrdup("why"));
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);

	/* Break-glass: a reason of 1..1024 printable bytes and no ticket. */
	q.context = PROTO_CTX_BREAKGLASS;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	set_str(&q.ticket, xstrdup(""));
	set_str(&q.reason, repeat('r', PROTO_REASON_MAX));
	assert_request_accepted(&q);
	set_str(&q.reason, repeat('r', PROTO_REASON_MAX + 1));
	assert_request_refused(&q, JIT_ERR_STRING_TOO_LARGE);
	set_str(&q.reason, xstrdup(""));
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	set_str(&q.reason, xstrdup("line\nforged"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.reason, xstrdup("caf\xc3\xa9"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	q.context = 0;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	q.context = 3;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	q.context = PROTO_CTX_TICKET;
	set_str(&q.ticket, xstrdup("CHG-1001"));
	set_str(&q.reason, xstrdup(""));

	/* Session. */
	set_str(&q.session, repeat('s', PROTO_SESSION_MAX));
	assert_request_accepted(&q);
	set_str(&q.session, repeat('s', PROTO_SESSION_MAX + 1));
	assert_request_refused(&q, JIT_ERR_STRING_TOO_LARGE);
	set_str(&q.session, xstrdup(""));
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	set_str(&q.session, xstrdup("a b"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.session, xstrdup("0123456789abcdef"));

	/* Source address: empty or a valid list, at most 1024 bytes. */
	set_str(&q.source_address, xstrdup("10.0.0.1/8"));
	assert_request_refused(&q, JIT_ERR_INVALID_FORMAT);
	set_str(&q.source_address, xstrdup("10.0.0.0/8,"));
	assert_request_refused(&q, JIT_ERR_INVALID_FORMAT);
	set_str(&q.source_address, xstrdup("10.0.0.0/8 "));
	assert_request_refused(&q, JIT_ERR_INVALID_FORMAT);
	set_str(&q.source_address, xstrdup("10.0.0.0/8\n"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.source_address, repeat('1', PROTO_ADDR_MAX + 1));
	assert_request_refused(&q, JIT_ERR_STRING_TOO_LARGE);
	set_str(&q.source_address, xstrdup("192.0.2.1,2001:db8::/32"));
	assert_request_accepted(&q);
	set_str(&q.source_address, xstrdup(""));
	assert_request_accepted(&q);

	/* Principals: 1..64, each 1..256 bytes of printable, no space or comma, unique. */
	for (i = 2; i < PROTO_PRINCIPALS_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%zu", i);
		q.principals[i] = xstrdup(name);
	}
	q.nprincipals = PROTO_PRINCIPALS_MAX;
	assert_request_accepted(&q);
	q.principals[PROTO_PRINCIPALS_MAX] = xstrdup("one-more");
	q.nprincipals = PROTO_PRINCIPALS_MAX + 1;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	q.nprincipals = 0;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	q.nprincipals = 2;
	set_str(&q.principals[1], repeat('p', 256));
	assert_request_accepted(&q);
	set_str(&q.principals[1], repeat('p', 257));
	assert_request_refused(&q, JIT_ERR_STRING_TOO_LARGE);
	set_str(&q.principals[1], xstrdup(""));
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	set_str(&q.principals[1], xstrdup("a,b"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.principals[1], xstrdup("a b"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.principals[1], xstrdup("a\tb"));
	assert_request_refused(&q, JIT_ERR_BAD_CHARACTER);
	set_str(&q.principals[1], xstrdup("alice"));
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	set_str(&q.principals[1], xstrdup("deploy"));
	q.nprincipals = PROTO_PRINCIPALS_MAX + 1;
	proto_request_free(&q);
}

static void test_request_bad_key(void **state)
{
	struct proto_request q;
	struct buf *b;
	uint8_t pk[31];

	(void)state;
	golden_request(&q);
	memset(pk, 7, sizeof(pk));

	/* An Ed25519 key one byte short. */
	b = buf_new(1024);
	assert_non_null(b);
	assert_int_equal(buf_put_cstring(b, "ssh-ed25519"), 0);
	assert_int_equal(buf_put_string(b, pk, sizeof(pk)), 0);
	free(q.pubkey);
	q.pubkey_len = buf_len(b);
	q.pubkey = malloc(q.pubkey_len);
	assert_non_null(q.pubkey);
	memcpy(q.pubkey, buf_ptr(b), q.pubkey_len);
	assert_request_refused(&q, JIT_ERR_KEY_LENGTH);

	/* A type nobody knows. */
	buf_reset(b);
	assert_int_equal(buf_put_cstring(b, "ssh-foo"), 0);
	assert_int_equal(buf_put_string(b, pk, sizeof(pk)), 0);
	memcpy(q.pubkey, buf_ptr(b), buf_len(b));
	q.pubkey_len = buf_len(b);
	assert_request_refused(&q, JIT_ERR_KEY_TYPE_UNKNOWN);

	/* Empty, and longer than any key. */
	q.pubkey_len = 0;
	assert_request_refused(&q, JIT_ERR_INVALID_ARGUMENT);
	free(q.pubkey);
	q.pubkey = calloc(1, 4097);
	assert_non_null(q.pubkey);
	q.pubkey_len = 4097;
	assert_request_refused(&q, JIT_ERR_STRING_TOO_LARGE);
	buf_free(b);
	proto_request_free(&q);
}

static void test_request_framing(void **state)
{
	struct proto_request q, d;
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	uint8_t *want, *copy;
	size_t wlen, i;

	(void)state;
	assert_non_null(b);
	want = unhex(golden_request_hex, &wlen);

	/* Every truncation. */
	for (i = 0; i < wlen; i++) {
		poison_request(&d);
		assert_int_equal(proto_request_decode(want, i, &d), JIT_ERR_MESSAGE_INCOMPLETE);
		assert_request_cleared(&d);
	}
	/* Trailing data. */
	copy = malloc(wlen + 1);
	assert_non_null(copy);
	memcpy(copy, want, wlen);
	copy[wlen] = 0;
	poison_request(&d);
	assert_int_equal(proto_request_decode(copy, wlen + 1, &d), JIT_ERR_TRAILING_DATA);
	assert_request_cleared(&d);
	/* Wrong version, wrong message type. */
	memcpy(copy, want, wlen);
	copy[3] = 2;
	assert_int_equal(proto_request_decode(copy, wlen, &d), JIT_ERR_PROTO_VERSION);
	copy[3] = 1;
	copy[0] = 0x80;
	assert_int_equal(proto_request_decode(copy, wlen, &d), JIT_ERR_PROTO_VERSION);
	copy[0] = 0;
	copy[4] = PROTO_MSG_SIGN_RESPONSE;
	assert_int_equal(proto_request_decode(copy, wlen, &d), JIT_ERR_INVALID_FORMAT);
	copy[4] = PROTO_MSG_SIGN_REQUEST;
	/* A NUL inside the user name. */
	copy[10] = 0;
	assert_int_equal(proto_request_decode(copy, wlen, &d), JIT_ERR_EMBEDDED_NUL);
	copy[10] = 'l';
	assert_int_equal(proto_request_decode(copy, wlen, &d), 0);
	proto_request_free(&d);
	/* A string length beyond the payload. */
	copy[8] = 0xff;
	assert_int_equal(proto_request_decode(copy, wlen, &d), JIT_ERR_MESSAGE_INCOMPLETE);
	/* A payload longer than a frame. */
	assert_int_equal(proto_request_decode(copy, PROTO_FRAME_MAX + 1, &d),
	                 JIT_ERR_NO_BUFFER_SPACE);
	/* A response is not a request, nor the other way round. */
	golden_request(&q);
	raw_request(&q, PROTO_VERSION, PROTO_MSG_SIGN_RESPONSE, b);
	assert_int_equal(proto_request_decode(buf_ptr(b), buf_len(b), &d), JIT_ERR_INVALID_FORMAT);
	buf_reset(b);
	raw_request(&q, PROTO_VERSION + 1, PROTO_MSG_SIGN_REQUEST, b);
	assert_int_equal(proto_request_decode(buf_ptr(b), buf_len(b), &d), JIT_ERR_PROTO_VERSION);
	proto_request_free(&q);
	free(copy);
	free(want);
	buf_free(b);
}

static void test_response_golden(void **state)
{
	struct proto_response p, d;
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	uint8_t *want;
	size_t wlen, i;

	(void)state;
	assert_non_null(b);
	memset(&p, 0, sizeof(p));
	p.status = PROTO_OK;
	p.message = xstrdup("clamped");
	p.cert = (uint8_t *)xstrdup("CERTBLOB");
	p.cert_len = 8;
	p.serial = 42;
	p.clamped = 1;
	want = unhex(golden_ok_hex, &wlen);
	assert_int_equal(proto_response_encode(&p, b), 0);
	assert_int_equal(buf_len(b), wlen);
	assert_memory_equal(buf_ptr(b), want, wlen);
	memset(&d, 0x5a, sizeof(d));
	assert_int_equal(proto_response_decode(want, wlen, &d), 0);
	assert_int_equal(d.status, PROTO_OK);
	assert_string_equal(d.message, "clamped");
	assert_int_equal(d.cert_len, 8);
	assert_memory_equal(d.cert, "CERTBLOB", 8);
	assert_int_equal(d.serial, 42);
	assert_int_equal(d.clamped, 1);
	proto_response_free(&d);
	for (i = 0; i < wlen; i++) {
		memset(&d, 0x5a, sizeof(d));
		assert_int_equal(proto_response_decode(want, i, &d), JIT_ERR_MESSAGE_INCOMPLETE);
		assert_null(d.message);
		assert_null(d.cert);
	}
	free(want);

	/* A refusal carries status and message only. */
	proto_response_free(&p);
	p.status = PROTO_DENIED;
	p.message = xstrdup("no");
	p.cert = (uint8_t *)xstrdup("ignored");
	p.cert_len = 7;
	buf_reset(b);
	want = unhex(golden_denied_hex, &wlen);
	assert_int_equal(proto_response_encode(&p, b), 0);
	assert_int_equal(buf_len(b), wlen);
	assert_memory_equal(buf_ptr(b), want, wlen);
	assert_int_equal(proto_response_decode(want, wlen, &d), 0);
	assert_int_equal(d.status, PROTO_DENIED);
	assert_string_equal(d.message, "no");
	assert_null(d.cert);
	assert_int_equal(d.cert_len, 0);
	proto_response_free(&d);
	free(want);
	proto_response_free(&p);
	proto_response_free(NULL);
	assert_string_equal(proto_status_name(PROTO_OK), "ok");
	assert_string_equal(proto_status_name(PROTO_DENIED), "denied");
	assert_string_equal(proto_status_name(PROTO_BAD_REQUEST), "bad request");
	assert_string_equal(proto_status_name(PROTO_UNAUTHENTICATED), "unauthenticated");
	assert_string_equal(proto_status_name(PROTO_UNAVAILABLE), "unavailable");
	assert_string_equal(proto_status_name(PROTO_INTERNAL), "internal error");
	assert_string_equal(proto_status_name(6), "unknown status");
	buf_free(b);
}

static void assert_response_refused(const struct proto_response *p, int want)
{
	struct buf *b = buf_new(BUF_SIZE_MAX);
	struct proto_response d;

	assert_non_null(b);
	assert_int_equal(proto_response_encode(p, b), want);
	assert_int_equal(buf_len(b), 0);
	raw_response(p, b);
	memset(&d, 0x5a, sizeof(d));
	assert_int_equal(proto_response_decode(buf_ptr(b), buf_len(b), &d), want);
	assert_null(d.message);
	assert_null(d.cert);
	assert_int_equal(d.status, 0);
	buf_free(b);
}

static void test_response_bounds(void **state)
{
	struct proto_response p, d;
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	uint8_t *copy;
	size_t len;

	(void)state;
	assert_non_null(b);
	memset(&p, 0, sizeof(p));
	p.status = PROTO_OK;
	p.message = repeat('m', PROTO_MESSAGE_MAX);
	p.cert = calloc(1, 16384);
	assert_non_null(p.cert);
	p.cert_len = 16384;
	assert_int_equal(proto_response_encode(&p, b), 0);
	assert_int_equal(proto_response_decode(buf_ptr(b), buf_len(b), &d), 0);
	proto_response_free(&d);

	p.cert_len = 16385;
	free(p.cert);
	p.cert = calloc(1, 16385);
	assert_non_null(p.cert);
	assert_response_refused(&p, JIT_ERR_STRING_TOO_LARGE);
	p.cert_len = 0;
	assert_response_refused(&p, JIT_ERR_INVALID_ARGUMENT);
	p.cert_len = 10;
	p.clamped = 2;
	assert_response_refused(&p, JIT_ERR_INVALID_ARGUMENT);
	p.clamped = 0;
	set_str(&p.message, repeat('m', PROTO_MESSAGE_MAX + 1));
	assert_response_refused(&p, JIT_ERR_STRING_TOO_LARGE);
	set_str(&p.message, xstrdup("bell\a"));
	assert_response_refused(&p, JIT_ERR_BAD_CHARACTER);
	set_str(&p.message, xstrdup(""));
	p.status = PROTO_INTERNAL + 1;
	assert_response_refused(&p, JIT_ERR_INVALID_ARGUMENT);
	p.status = PROTO_INTERNAL;

	/* Trailing bytes after a refusal, and a wrong message type. */
	buf_reset(b);
	assert_int_equal(proto_response_encode(&p, b), 0);
	len = buf_len(b);
	copy = calloc(1, len + 1);
	assert_non_null(copy);
	memcpy(copy, buf_ptr(b), len);
	assert_int_equal(proto_response_decode(copy, len + 1, &d), JIT_ERR_TRAILING_DATA);
	assert_int_equal(proto_response_decode(copy, len, &d), 0);
	assert_int_equal(d.status, PROTO_INTERNAL);
	proto_response_free(&d);
	copy[4] = PROTO_MSG_SIGN_REQUEST;
	assert_int_equal(proto_response_decode(copy, len, &d), JIT_ERR_INVALID_FORMAT);
	copy[4] = PROTO_MSG_SIGN_RESPONSE;
	copy[3] = 0;
	assert_int_equal(proto_response_decode(copy, len, &d), JIT_ERR_PROTO_VERSION);
	free(copy);
	proto_response_free(&p);
	buf_free(b);
}

/* ---- The client against fake services. ---- */

enum peer_mode {
	PEER_ANSWER,   /* reads the request and answers with the canned status */
	PEER_STUCK,    /* accepts and never answers */
	PEER_CLOSE,    /* reads the request and closes without an answer */
	PEER_OVERSIZE, /* answers with a frame header over PROTO_FRAME_MAX */
};

struct peer {
	pid_t pid;
	int counter; /* read end of a pipe: one byte per accepted connection */
	char endpoint[128];
};

static char tmpdir[64];

/* Peers still running: killed after each test, even one that failed. */
#define PEERS_MAX 8
static pid_t live_peers[PEERS_MAX];

static void peer_track(pid_t pid, pid_t replace)
{
	size_t i;

	for (i = 0; i < PEERS_MAX; i++)
		if (live_peers[i] == replace) {
			live_peers[i] = pid;
			return;
		}
	fail_msg("too many peers");
}

static int kill_peers(void **state)
{
	size_t i;
	int status;

	(void)state;
	for (i = 0; i < PEERS_MAX; i++)
		if (live_peers[i] > 0) {
			kill(live_peers[i], SIGKILL);
			waitpid(live_peers[i], &status, 0);
			live_peers[i] = 0;
		}
	return 0;
}

static void peer_answer(int fd, uint8_t status)
{
	struct proto_response p;
	struct proto_request q;
	struct buf *in = NULL, *out = buf_new(PROTO_FRAME_MAX);
	char message[128];
	uint64_t deadline = client_now_ms() + 5000;

	memset(&p, 0, sizeof(p));
	if (out == NULL || frame_read(fd, PROTO_FRAME_MAX, deadline, &in) != 0)
		_exit(1);
	if (proto_request_decode(buf_ptr(in), buf_len(in), &q) != 0) {
		p.status = PROTO_BAD_REQUEST;
		p.message = (char *)"undecodable";
	} else {
		/* Echo what arrived so that the test sees the request intact. */
		snprintf(message, sizeof(message), "%s %s %s %llu", q.user, q.principals[0],
		         q.ticket, (unsigned long long)q.validity);
		p.status = status;
		p.message = message;
		proto_request_free(&q);
	}
	if (p.status == PROTO_OK) {
		p.cert = (uint8_t *)"certificate";
		p.cert_len = 11;
		p.serial = 7;
	}
	if (proto_response_encode(&p, out) != 0 || frame_write(fd, out, deadline) != 0)
		_exit(1);
	buf_free(in);
	buf_free(out);
}

static void peer_run(int lfd, int counter, enum peer_mode mode, uint8_t status)
{
	static const uint8_t big[8] = {0x00, 0x01, 0x00, 0x01, 'x', 'x', 'x', 'x'};
	struct buf *in = NULL;
	int fd;

	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) < 0)
			_exit(1);
		if (write(counter, "c", 1) != 1)
			_exit(1);
		switch (mode) {
		case PEER_ANSWER:
			peer_answer(fd, status);
			break;
		case PEER_STUCK:
			pause();
			break;
		case PEER_CLOSE:
			/* Reading first keeps the client's send from racing the close. */
			if (frame_read(fd, PROTO_FRAME_MAX, client_now_ms() + 5000, &in) != 0)
				_exit(1);
			buf_free(in);
			in = NULL;
			break;
		case PEER_OVERSIZE:
			if (frame_read(fd, PROTO_FRAME_MAX, client_now_ms() + 5000, &in) != 0 ||
			    write(fd, big, sizeof(big)) != (ssize_t)sizeof(big))
				_exit(1);
			buf_free(in);
			in = NULL;
			break;
		}
		close(fd);
	}
}

/* A fake service on tmpdir/NAME, in a child process. */
static void peer_start(struct peer *p, const char *name, enum peer_mode mode, uint8_t status)
{
	struct sockaddr_un sun;
	int lfd, fds[2];

	memset(p, 0, sizeof(*p));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", tmpdir, name);
	snprintf(p->endpoint, sizeof(p->endpoint), "unix:%s", sun.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	unlink(sun.sun_path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		/* Never outlive the test, even when an assertion ends it early. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
			_exit(1);
		close(fds[0]);
		peer_run(lfd, fds[1], mode, status);
		_exit(0);
	}
	peer_track(p->pid, 0);
	close(lfd);
	close(fds[1]);
	p->counter = fds[0];
}

/* Stops the peer (by its pid) and returns how many connections it accepted. */
static int peer_stop(struct peer *p)
{
	char c[64];
	ssize_t n;
	int count = 0, status;

	assert_int_equal(kill(p->pid, SIGKILL), 0);
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	peer_track(0, p->pid);
	while ((n = read(p->counter, c, sizeof(c))) > 0)
		count += (int)n;
	close(p->counter);
	unlink(p->endpoint + 5);
	return count;
}

/* A socket file nobody listens on: connecting is refused. */
static void dead_endpoint(const char *name, char *out, size_t outlen)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", tmpdir, name);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	unlink(sun.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	snprintf(out, outlen, "unix:%s", sun.sun_path);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_proto.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* A peer killed mid-write must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	kill_peers(state);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_client_failover_refused(void **state)
{
	struct proto_request q;
	struct proto_response resp;
	struct peer good;
	char dead[128], msg[CLIENT_MSG_MAX];
	const char *eps[2];

	(void)state;
	golden_request(&q);
	dead_endpoint("dead.sock", dead, sizeof(dead));
	peer_start(&good, "good.sock", PEER_ANSWER, PROTO_OK);
	eps[0] = dead;
	eps[1] = good.endpoint;
	assert_int_equal(client_request(eps, 2, 2000, &q, &resp, msg, sizeof(msg)), 0);
	assert_int_equal(resp.status, PROTO_OK);
	assert_string_equal(resp.message, "alice alice CHG-1001 300");
	assert_int_equal(resp.cert_len, 11);
	assert_memory_equal(resp.cert, "certificate", 11);
	assert_int_equal(resp.serial, 7);
	assert_string_equal(msg, good.endpoint);
	proto_response_free(&resp);

	/* Only the dead one: its error, naming it. */
	memset(&resp, 0x5a, sizeof(resp));
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)), JIT_ERR_SYSTEM);
	assert_int_equal(errno, ECONNREFUSED);
	assert_null(resp.message);
	assert_null(resp.cert);
	{
		char want[CLIENT_MSG_MAX];

		snprintf(want, sizeof(want), "%s: connect: %s", dead, strerror(ECONNREFUSED));
		assert_string_equal(msg, want);
	}
	assert_int_equal(peer_stop(&good), 1);
	unlink(dead + 5);
	proto_request_free(&q);
}

static void test_client_stuck_peer(void **state)
{
	struct proto_request q;
	struct proto_response resp;
	struct peer stuck, good;
	char msg[CLIENT_MSG_MAX], want[CLIENT_MSG_MAX];
	const char *eps[2];
	uint64_t t0, elapsed;

	(void)state;
	golden_request(&q);
	peer_start(&stuck, "stuck.sock", PEER_STUCK, 0);
	peer_start(&good, "good.sock", PEER_ANSWER, PROTO_OK);
	eps[0] = stuck.endpoint;
	eps[1] = good.endpoint;

	/* The timeout bounds connect + request + response. */
	t0 = client_now_ms();
	assert_int_equal(client_request(eps, 1, 500, &q, &resp, msg, sizeof(msg)), JIT_ERR_SYSTEM);
	elapsed = client_now_ms() - t0;
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(elapsed >= 500);
	assert_true(elapsed < 500 + 1000);
	snprintf(want, sizeof(want), "%s: response: timed out", stuck.endpoint);
	assert_string_equal(msg, want);

	/* A stuck endpoint is skipped after its timeout. */
	t0 = client_now_ms();
	assert_int_equal(client_request(eps, 2, 500, &q, &resp, msg, sizeof(msg)), 0);
	elapsed = client_now_ms() - t0;
	assert_true(elapsed < 2 * 500 + 1000);
	assert_int_equal(resp.status, PROTO_OK);
	proto_response_free(&resp);
	/* The first connection holds it; the second waits in its backlog. */
	assert_int_equal(peer_stop(&stuck), 1);
	assert_int_equal(peer_stop(&good), 1);
	proto_request_free(&q);
}

static void test_client_bad_answers(void **state)
{
	struct proto_request q;
	struct proto_response resp;
	struct peer big, closer;
	char msg[CLIENT_MSG_MAX], want[CLIENT_MSG_MAX];
	const char *eps[1];

	(void)state;
	golden_request(&q);
	peer_start(&big, "big.sock", PEER_OVERSIZE, 0);
	peer_start(&closer, "close.sock", PEER_CLOSE, 0);
	eps[0] = big.endpoint;
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_NO_BUFFER_SPACE);
	snprintf(want, sizeof(want), "%s: response: response frame too large", big.endpoint);
	assert_string_equal(msg, want);
	eps[0] = closer.endpoint;
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(peer_stop(&big), 1);
	assert_int_equal(peer_stop(&closer), 1);
	proto_request_free(&q);
}

static void test_client_final_and_retryable(void **state)
{
	struct proto_request q;
	struct proto_response resp;
	struct peer denier, unavail, good;
	char msg[CLIENT_MSG_MAX], want[CLIENT_MSG_MAX];
	const char *eps[2];

	(void)state;
	golden_request(&q);
	peer_start(&denier, "deny.sock", PEER_ANSWER, PROTO_DENIED);
	peer_start(&unavail, "unavail.sock", PEER_ANSWER, PROTO_UNAVAILABLE);
	peer_start(&good, "good.sock", PEER_ANSWER, PROTO_OK);

	/* A refusal is final: the next endpoint is never asked. */
	eps[0] = denier.endpoint;
	eps[1] = good.endpoint;
	assert_int_equal(client_request(eps, 2, 2000, &q, &resp, msg, sizeof(msg)), 0);
	assert_int_equal(resp.status, PROTO_DENIED);
	assert_string_equal(resp.message, "alice alice CHG-1001 300");
	assert_null(resp.cert);
	assert_string_equal(msg, denier.endpoint);
	proto_response_free(&resp);

	/* Unavailable is not: the next endpoint answers. */
	eps[0] = unavail.endpoint;
	assert_int_equal(client_request(eps, 2, 2000, &q, &resp, msg, sizeof(msg)), 0);
	assert_int_equal(resp.status, PROTO_OK);
	proto_response_free(&resp);
	/* Unavailable everywhere: the service's words in the message. */
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_INTERNAL);
	snprintf(want, sizeof(want), "%s: unavailable: alice alice CHG-1001 300", unavail.endpoint);
	assert_string_equal(msg, want);

	assert_int_equal(peer_stop(&denier), 1);
	assert_int_equal(peer_stop(&unavail), 2);
	assert_int_equal(peer_stop(&good), 1);
	proto_request_free(&q);
}

static void test_client_endpoints(void **state)
{
	struct proto_request q;
	struct proto_response resp;
	struct peer good;
	char msg[CLIENT_MSG_MAX];
	const char *eps[2];

	(void)state;
	golden_request(&q);
	peer_start(&good, "good.sock", PEER_ANSWER, PROTO_OK);
	eps[0] = "tls://ca.example.org:7443";
	eps[1] = good.endpoint;
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_NOT_FOUND);
	assert_string_equal(msg, "tls://ca.example.org:7443: tls endpoints are not supported yet");
	assert_int_equal(client_request(eps, 2, 2000, &q, &resp, msg, sizeof(msg)), 0);
	assert_int_equal(resp.status, PROTO_OK);
	proto_response_free(&resp);
	eps[0] = "http://x";
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(msg, "http://x: not a unix: or tls:// endpoint");
	eps[0] = "unix:relative.sock";
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(client_request(eps, 0, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	/* A request the encoder refuses never leaves. */
	q.validity = 0;
	eps[0] = good.endpoint;
	assert_int_equal(client_request(eps, 1, 2000, &q, &resp, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(msg, "request: invalid argument");
	assert_int_equal(peer_stop(&good), 1);
	proto_request_free(&q);
}

static void test_frames(void **state)
{
	struct buf *in = NULL, *out = buf_new(PROTO_FRAME_MAX + 1);
	uint8_t zero[4] = {0, 0, 0, 0}, big[PROTO_FRAME_MAX + 1];
	int sv[2];

	(void)state;
	assert_non_null(out);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(buf_put_cstring(out, "hello"), 0);
	assert_int_equal(frame_write(sv[0], out, client_now_ms() + 1000), 0);
	assert_int_equal(frame_read(sv[1], PROTO_FRAME_MAX, client_now_ms() + 1000, &in), 0);
	assert_int_equal(buf_len(in), 9);
	assert_memory_equal(buf_ptr(in), "\0\0\0\5hello", 9);
	buf_free(in);
	/* A frame over the reader's max is refused from its header. */
	assert_int_equal(frame_write(sv[0], out, client_now_ms() + 1000), 0);
	assert_int_equal(frame_read(sv[1], 8, client_now_ms() + 1000, &in),
	                 JIT_ERR_NO_BUFFER_SPACE);
	assert_null(in);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[0], zero, sizeof(zero)), 4);
	assert_int_equal(frame_read(sv[1], PROTO_FRAME_MAX, client_now_ms() + 1000, &in),
	                 JIT_ERR_INVALID_FORMAT);
	/* Nothing arrives: the deadline. */
	assert_int_equal(frame_read(sv[1], PROTO_FRAME_MAX, client_now_ms() + 100, &in),
	                 JIT_ERR_SYSTEM);
	assert_int_equal(errno, ETIMEDOUT);
	/* Too large to send. */
	memset(big, 'x', sizeof(big));
	buf_reset(out);
	assert_int_equal(buf_put(out, big, sizeof(big)), 0);
	assert_int_equal(frame_write(sv[0], out, client_now_ms() + 1000), JIT_ERR_NO_BUFFER_SPACE);
	close(sv[0]);
	/* The peer closed early. */
	assert_int_equal(frame_read(sv[1], PROTO_FRAME_MAX, client_now_ms() + 1000, &in),
	                 JIT_ERR_MESSAGE_INCOMPLETE);
	close(sv[1]);
	buf_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_request_golden),
	        cmocka_unit_test(test_request_breakglass_roundtrip),
	        cmocka_unit_test(test_request_bounds),
	        cmocka_unit_test(test_request_bad_key),
	        cmocka_unit_test(test_request_framing),
	        cmocka_unit_test(test_response_golden),
	        cmocka_unit_test(test_response_bounds),
	        cmocka_unit_test(test_frames),
	        cmocka_unit_test_teardown(test_client_failover_refused, kill_peers),
	        cmocka_unit_test_teardown(test_client_stuck_peer, kill_peers),
	        cmocka_unit_test_teardown(test_client_bad_answers, kill_peers),
	        cmocka_unit_test_teardown(test_client_final_and_retryable, kill_peers),
	        cmocka_unit_test_teardown(test_client_endpoints, kill_peers),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
