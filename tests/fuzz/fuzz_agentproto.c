/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ssh-agent codec on a byte stream as a client would send it: frames
 * are cut with agentproto_frame_check, each message is parsed, and every
 * message that parses must re-encode to exactly its own frame. The replies
 * built from what a request carries must frame and read back as written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentproto.h"
#include "buf.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The frame must come apart as the encoder wrote it: type, then fields. */
static void check_reply(const struct buf *b, uint8_t type, const uint8_t *s, size_t slen)
{
	size_t mlen, n;
	const uint8_t *m;

	if (agentproto_frame_check(buf_ptr(b), buf_len(b), &mlen) != 0 ||
	    mlen + AGENTPROTO_HEADER_LEN != buf_len(b))
		abort();
	m = buf_ptr(b) + AGENTPROTO_HEADER_LEN;
	if (m[0] != type)
		abort();
	if (type == SSH_AGENT_SIGN_RESPONSE) {
		n = (size_t)m[1] << 24 | (size_t)m[2] << 16 | (size_t)m[3] << 8 | m[4];
		if (n != slen || mlen != 5 + slen || memcmp(m + 5, s, slen) != 0)
			abort();
	}
}

static void replies(const struct agent_request *q)
{
	struct buf *b = buf_new(AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX);
	struct agent_identity id;
	int r;

	if (b == NULL)
		return;
	if (q->type == SSH_AGENTC_SIGN_REQUEST) {
		/* The data stands in for a signature; the key blob for an identity. */
		r = agentproto_sign_response(b, q->data, q->data_len);
		if (r == 0)
			check_reply(b, SSH_AGENT_SIGN_RESPONSE, q->data, q->data_len);
		else if (q->data_len != 0 && q->data_len <= AGENTPROTO_MSG_MAX - 5)
			abort();
		buf_reset(b);
		id.blob = q->key_blob;
		id.blob_len = q->key_blob_len;
		id.comment = "fuzz";
		if (agentproto_identities_answer(b, &id, 1) != 0)
			abort();
		check_reply(b, SSH_AGENT_IDENTITIES_ANSWER, NULL, 0);
		if (buf_len(b) != AGENTPROTO_HEADER_LEN + 1 + 4 + 4 + q->key_blob_len + 4 + 4)
			abort();
	}
	buf_reset(b);
	if (agentproto_failure(b) != 0)
		abort();
	check_reply(b, SSH_AGENT_FAILURE, NULL, 0);
	buf_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf *re = NULL;
	struct agent_request q;
	size_t off = 0, mlen, flen, i;
	int r;

	if ((re = buf_new(AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX)) == NULL)
		return 0;
	while (off < size) {
		r = agentproto_frame_check(data + off, size - off, &mlen);
		if (r != 0) {
			if (r != JIT_ERR_MESSAGE_INCOMPLETE && r != JIT_ERR_NO_BUFFER_SPACE &&
			    r != JIT_ERR_INVALID_FORMAT)
				abort();
			break;
		}
		flen = AGENTPROTO_HEADER_LEN + mlen;
		if (flen > size - off || mlen == 0 || mlen > AGENTPROTO_MSG_MAX)
			abort();
		/* Every shorter prefix of a small frame asks for more. */
		for (i = 0; flen <= 64 && i < flen; i++)
			if (agentproto_frame_check(data + off, i, &mlen) !=
			    JIT_ERR_MESSAGE_INCOMPLETE)
				abort();
		mlen = flen - AGENTPROTO_HEADER_LEN;
		if (agentproto_parse(data + off + AGENTPROTO_HEADER_LEN, mlen, &q) == 0) {
			if (q.type != data[off + AGENTPROTO_HEADER_LEN])
				abort();
			buf_reset(re);
			if (agentproto_request_encode(re, &q) != 0)
				abort();
			if (buf_len(re) != flen || memcmp(buf_ptr(re), data + off, flen) != 0)
				abort();
			replies(&q);
		} else if (q.type != 0 || q.key_blob != NULL || q.rest != NULL) {
			abort();
		}
		off += flen;
	}
	buf_free(re);
	return 0;
}
