/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The client side of the signing protocol (common/proto.h): asks the CA's
 * endpoints in failover order, each within one time budget, and the frame
 * I/O that the service shares. No threads, no signals, no logging: results
 * are codes plus a message in a caller-provided buffer.
 */
#ifndef JIT_CLIENT_H
#define JIT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"

struct config_tls;

/* A message buffer of this size holds any client_request message. */
#define CLIENT_MSG_MAX 1536

/* Milliseconds on the monotonic clock: the base of every deadline below. */
uint64_t client_now_ms(void);

/*
 * Writes one frame (uint32 length, then the payload's unread bytes) to a
 * socket, polling so that it never waits past deadline_ms (client_now_ms()
 * based). Works on blocking and non-blocking sockets; sends with
 * MSG_NOSIGNAL. A payload over PROTO_FRAME_MAX is JIT_ERR_NO_BUFFER_SPACE;
 * the deadline passing is JIT_ERR_SYSTEM with errno ETIMEDOUT; other socket
 * errors JIT_ERR_SYSTEM with errno set.
 */
int frame_write(int fd, const struct buf *payload, uint64_t deadline_ms);

/*
 * Reads one frame from a socket before deadline_ms and returns its payload
 * as a new buffer. A length over max (at most PROTO_FRAME_MAX) is refused
 * with JIT_ERR_NO_BUFFER_SPACE before anything more is read; a zero length
 * is JIT_ERR_INVALID_FORMAT; the peer closing early JIT_ERR_MESSAGE_INCOMPLETE;
 * the deadline JIT_ERR_SYSTEM with errno ETIMEDOUT.
 */
int frame_read(int fd, size_t max, uint64_t deadline_ms, struct buf **ret);

/*
 * Sends req to the endpoints in order and stores the answer in *ret.
 * Endpoints are "unix:/absolute/path"; without TLS settings, "tls://HOST:PORT"
 * endpoints are skipped (counted as failed): client_request_tls speaks TLS. Each
 * endpoint gets timeout_ms for connect, request and response together.
 *
 * Fails over to the next endpoint on a connection failure, a timeout, a
 * malformed answer, or a PROTO_UNAVAILABLE / PROTO_INTERNAL answer. A
 * certificate (PROTO_OK) or a definite refusal (PROTO_DENIED,
 * PROTO_BAD_REQUEST, PROTO_UNAUTHENTICATED) is final: returns 0 with *ret
 * set (the caller checks ret->status) and msg naming the endpoint that
 * answered.
 *
 * When no endpoint gave a final answer, returns the last endpoint's error
 * (JIT_ERR_SYSTEM with errno set, JIT_ERR_NOT_FOUND for an unsupported
 * endpoint, a decode error, or JIT_ERR_INTERNAL for an unavailable/internal
 * answer) with msg "ENDPOINT: REASON" for that last failure. A request that
 * cannot be encoded fails before any endpoint is tried, with the encoder's
 * code. n == 0 is JIT_ERR_INVALID_ARGUMENT. msg may be NULL; every message
 * fits CLIENT_MSG_MAX bytes unless an endpoint name is very long (then cut).
 */
int client_request(const char *const *endpoints, size_t n, uint64_t timeout_ms,
                   const struct proto_request *req, struct proto_response *ret, char *msg,
                   size_t msglen);

/*
 * client_request, with "tls://HOST:PORT" endpoints spoken over TLS 1.3
 * with tls's certificate and key (config's ca.client_tls), the service's
 * certificate verified against tls->ca and HOST. HOST is an IP address or
 * a name from /etc/hosts: no DNS lookup, which the timeout could not bound.
 * A TLS endpoint whose HOST resolves to nothing fails with
 * JIT_ERR_NOT_FOUND; a failed handshake or TLS error with
 * JIT_ERR_LIBCRYPTO (msg "ENDPOINT: tls: REASON"), and the next endpoint
 * is tried. tls == NULL is client_request.
 */
int client_request_tls(const char *const *endpoints, size_t n, uint64_t timeout_ms,
                       const struct config_tls *tls, const struct proto_request *req,
                       struct proto_response *ret, char *msg, size_t msglen);

#endif
