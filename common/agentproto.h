/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ssh-agent protocol (draft-miller-ssh-agent) as jit-agent speaks it:
 * framing and a codec only, no sockets. Every message is a frame of uint32
 * length (big-endian, at most AGENTPROTO_MSG_MAX) followed by that many
 * bytes: a type byte and its contents. jit-agent answers listing and signing
 * and refuses everything else with SSH_AGENT_FAILURE, so only those requests
 * are decoded field by field; any other type parses to its type and raw
 * contents, which the agent refuses.
 */
#ifndef JIT_AGENTPROTO_H
#define JIT_AGENTPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Requests (client to agent). */
#define SSH_AGENTC_REQUEST_IDENTITIES            11
#define SSH_AGENTC_SIGN_REQUEST                  13
#define SSH_AGENTC_ADD_IDENTITY                  17
#define SSH_AGENTC_REMOVE_IDENTITY               18
#define SSH_AGENTC_REMOVE_ALL_IDENTITIES         19
#define SSH_AGENTC_ADD_SMARTCARD_KEY             20
#define SSH_AGENTC_REMOVE_SMARTCARD_KEY          21
#define SSH_AGENTC_LOCK                          22
#define SSH_AGENTC_UNLOCK                        23
#define SSH_AGENTC_ADD_ID_CONSTRAINED            25
#define SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED 26
#define SSH_AGENTC_EXTENSION                     27

/* Replies (agent to client). */
#define SSH_AGENT_FAILURE           5
#define SSH_AGENT_SUCCESS           6
#define SSH_AGENT_IDENTITIES_ANSWER 12
#define SSH_AGENT_SIGN_RESPONSE     14
#define SSH_AGENT_EXTENSION_FAILURE 28

/* SSH_AGENTC_SIGN_REQUEST flags: which RSA signature algorithm is wanted. */
#define SSH_AGENT_RSA_SHA2_256 2
#define SSH_AGENT_RSA_SHA2_512 4

/* The length prefix of a frame. */
#define AGENTPROTO_HEADER_LEN 4
/* Largest message (type byte + contents), as OpenSSH's agent and clients. */
#define AGENTPROTO_MSG_MAX (256 * 1024)
/* Largest key blob in a request or answer: a certificate fits. */
#define AGENTPROTO_KEY_BLOB_MAX 16384
/* Largest extension name in a request (e.g. "session-bind@openssh.com"). */
#define AGENTPROTO_EXT_NAME_MAX 256
/* Largest comment in an identities answer. */
#define AGENTPROTO_COMMENT_MAX 1024
/* Most identities in one answer. */
#define AGENTPROTO_IDENTITIES_MAX 64

/*
 * A parsed request. Every pointer points into the message given to
 * agentproto_parse and lives as long as it does; nothing is allocated.
 */
struct agent_request {
	uint8_t type;
	/* SSH_AGENTC_SIGN_REQUEST: the key to sign with, what to sign, flags. */
	const uint8_t *key_blob;
	size_t key_blob_len;
	const uint8_t *data;
	size_t data_len;
	uint32_t flags;
	/* SSH_AGENTC_EXTENSION: the extension's name (no NUL inside, not terminated). */
	const char *ext_name;
	size_t ext_name_len;
	/*
	 * What follows the decoded fields: an extension's own contents, or the
	 * whole contents of a type not decoded here. Empty for
	 * SSH_AGENTC_REQUEST_IDENTITIES and SSH_AGENTC_SIGN_REQUEST.
	 */
	const uint8_t *rest;
	size_t rest_len;
};

/* One identity of an answer: a key or certificate blob and its comment. */
struct agent_identity {
	const uint8_t *blob;
	size_t blob_len;
	const char *comment; /* printable text, may be "" */
};

/*
 * Looks at the bytes received so far (data, len) on a stream. Returns 0 when
 * they start with a complete frame: its message is the *ret_msg_len bytes at
 * data + AGENTPROTO_HEADER_LEN, and the frame takes AGENTPROTO_HEADER_LEN +
 * *ret_msg_len bytes. JIT_ERR_MESSAGE_INCOMPLETE: read more (the header
 * already said the length is acceptable, or is not all there yet).
 * JIT_ERR_NO_BUFFER_SPACE: the length exceeds AGENTPROTO_MSG_MAX;
 * JIT_ERR_INVALID_FORMAT: the length is 0 (no type byte). Either of these is
 * final: the stream is out of step and must be closed.
 */
int agentproto_frame_check(const uint8_t *data, size_t len, size_t *ret_msg_len);

/*
 * Parses one message (type byte + contents, without the length prefix).
 * SSH_AGENTC_REQUEST_IDENTITIES: nothing may follow the type.
 * SSH_AGENTC_SIGN_REQUEST: string key blob (1..AGENTPROTO_KEY_BLOB_MAX bytes),
 * string data, uint32 flags, and nothing after (JIT_ERR_TRAILING_DATA).
 * SSH_AGENTC_EXTENSION: string name (1..AGENTPROTO_EXT_NAME_MAX bytes, no
 * NUL), then the extension's contents in rest. Any other type: rest holds
 * the contents undecoded. *ret is cleared on entry and set only on success.
 * A message that fails to parse is still one whole frame: the agent answers
 * SSH_AGENT_FAILURE and goes on with the next.
 */
int agentproto_parse(const uint8_t *msg, size_t len, struct agent_request *ret);

/*
 * Encoders. Each appends one whole frame (uint32 length + message) to out,
 * or nothing on failure. They refuse what the parser or OpenSSH's clients
 * would refuse (empty or oversized blobs, too many identities, comments with
 * control characters).
 */
/* SSH_AGENT_IDENTITIES_ANSWER: uint32 n, then n times string blob, string comment. */
int agentproto_identities_answer(struct buf *out, const struct agent_identity *ids, size_t n);
/* SSH_AGENT_SIGN_RESPONSE: string signature (an SSH signature blob). */
int agentproto_sign_response(struct buf *out, const uint8_t *sig, size_t len);
/* SSH_AGENT_FAILURE. */
int agentproto_failure(struct buf *out);
/*
 * The request req describes, as agentproto_parse would read it back (the
 * client side, for tests and the fuzzer's round trip).
 */
int agentproto_request_encode(struct buf *out, const struct agent_request *req);

/* "request-identities", "sign-request", ... for logs; "unknown" otherwise. */
const char *agentproto_type_name(uint8_t type);

#endif
