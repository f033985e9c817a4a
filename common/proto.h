/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The request/response protocol between a bastion (pam_jit, jit-agent,
 * jit-ca request) and the signing service (jit-ca serve). Every message is
 * a frame: uint32 length (big-endian, at most PROTO_FRAME_MAX) followed by
 * that many bytes in SSH wire encoding. One request, one response, per
 * connection. Documented in docs/protocol.md.
 */
#ifndef JIT_PROTO_H
#define JIT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_VERSION   1
#define PROTO_FRAME_MAX 65536

/* Message types. */
#define PROTO_MSG_SIGN_REQUEST  1
#define PROTO_MSG_SIGN_RESPONSE 2

/* Context kinds of a request. */
#define PROTO_CTX_TICKET     1
#define PROTO_CTX_BREAKGLASS 2

/* Response status: 0 is a certificate, anything else a refusal. */
#define PROTO_OK              0
#define PROTO_DENIED          1 /* policy refused (caps, principals, break-glass) */
#define PROTO_BAD_REQUEST     2 /* malformed or out-of-bounds request */
#define PROTO_UNAUTHENTICATED 3 /* caller not on the allow-list */
#define PROTO_UNAVAILABLE     4 /* the CA cannot sign now (audit log unwritable, overloaded) */
#define PROTO_INTERNAL        5 /* internal error */

/* Bounds a request must fit. */
#define PROTO_USER_MAX       64
#define PROTO_TICKET_MAX     64
#define PROTO_REASON_MAX     1024
#define PROTO_SESSION_MAX    64
#define PROTO_ADDR_MAX       1024
#define PROTO_PRINCIPALS_MAX 64
#define PROTO_MESSAGE_MAX    1024

struct proto_request {
	char *user;      /* the engineer's account on the bastion */
	uint8_t *pubkey; /* the subject key's wire blob */
	size_t pubkey_len;
	char **principals; /* requested; the CA intersects with its caps */
	size_t nprincipals;
	uint64_t validity;    /* seconds asked for; the CA may clamp */
	uint64_t not_after;   /* hard end (ticket/window end), epoch seconds; 0 = none */
	uint8_t context;      /* PROTO_CTX_TICKET or PROTO_CTX_BREAKGLASS */
	char *ticket;         /* PROTO_CTX_TICKET: the ticket id */
	char *reason;         /* PROTO_CTX_BREAKGLASS: the stated reason */
	char *session;        /* the login session id, for the key ID */
	char *source_address; /* CIDR list to bind; "" = the requester's default */
};

struct proto_response {
	uint8_t status; /* PROTO_OK or a refusal */
	char *message;  /* human text: why refused, or notes such as clamping */
	uint8_t *cert;  /* PROTO_OK: the certificate blob */
	size_t cert_len;
	uint64_t serial; /* PROTO_OK: its serial */
	uint8_t clamped; /* PROTO_OK: 1 when validity was cut to a cap */
};

void proto_request_free(struct proto_request *r);
void proto_response_free(struct proto_response *r);

/*
 * Encode into a frame payload (without the length prefix). Refuse values
 * outside the bounds above (JIT_ERR_INVALID_ARGUMENT / _STRING_TOO_LARGE /
 * _BAD_CHARACTER).
 */
int proto_request_encode(const struct proto_request *r, struct buf *out);
int proto_response_encode(const struct proto_response *r, struct buf *out);

/*
 * Decode a whole payload: the version and message type must match, every
 * field within bounds and of the right character set, no trailing bytes.
 */
int proto_request_decode(const uint8_t *data, size_t len, struct proto_request *ret);
int proto_response_decode(const uint8_t *data, size_t len, struct proto_response *ret);

/* Text of a status, e.g. "denied". */
const char *proto_status_name(uint8_t status);

#endif
