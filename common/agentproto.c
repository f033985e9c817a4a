/* SPDX-License-Identifier: BSD-2-Clause */
#include <string.h>

#include "agentproto.h"
#include "buf.h"
#include "cert_rules.h"
#include "err.h"

/* A read cursor over a message: the parser hands out pointers into it. */
struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint32_t peek_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int cursor_u32(struct cursor *c, uint32_t *ret)
{
	*ret = 0;
	if (c->left < 4)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	*ret = peek_u32(c->p);
	c->p += 4;
	c->left -= 4;
	return 0;
}

/* A string of at most max bytes, as a pointer into the message. */
static int cursor_string(struct cursor *c, size_t max, const uint8_t **ret, size_t *ret_len)
{
	size_t len;

	*ret = NULL;
	*ret_len = 0;
	if (c->left < 4)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	len = peek_u32(c->p);
	/* Written so that it cannot wrap: left >= 4 here. */
	if (len > c->left - 4)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	if (len > max)
		return JIT_ERR_STRING_TOO_LARGE;
	*ret = c->p + 4;
	*ret_len = len;
	c->p += 4 + len;
	c->left -= 4 + len;
	return 0;
}

int agentproto_frame_check(const uint8_t *data, size_t len, size_t *ret_msg_len)
{
	uint32_t n;

	if (ret_msg_len != NULL)
		*ret_msg_len = 0;
	if ((data == NULL && len != 0) || ret_msg_len == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len < AGENTPROTO_HEADER_LEN)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	n = peek_u32(data);
	if (n == 0)
		return JIT_ERR_INVALID_FORMAT;
	/* Refused as soon as the header is in, before buffering the body. */
	if (n > AGENTPROTO_MSG_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if (n > len - AGENTPROTO_HEADER_LEN)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	*ret_msg_len = n;
	return 0;
}

static int parse_sign_request(struct cursor *c, struct agent_request *q)
{
	int r;

	if ((r = cursor_string(c, AGENTPROTO_KEY_BLOB_MAX, &q->key_blob, &q->key_blob_len)) != 0 ||
	    (r = cursor_string(c, AGENTPROTO_MSG_MAX, &q->data, &q->data_len)) != 0 ||
	    (r = cursor_u32(c, &q->flags)) != 0)
		return r;
	if (q->key_blob_len == 0)
		return JIT_ERR_INVALID_FORMAT;
	return 0;
}

static int parse_extension(struct cursor *c, struct agent_request *q)
{
	const uint8_t *name;
	size_t len;
	int r;

	if ((r = cursor_string(c, AGENTPROTO_EXT_NAME_MAX, &name, &len)) != 0)
		return r;
	if (len == 0)
		return JIT_ERR_INVALID_FORMAT;
	if (memchr(name, '\0', len) != NULL)
		return JIT_ERR_EMBEDDED_NUL;
	q->ext_name = (const char *)name;
	q->ext_name_len = len;
	return 0;
}

int agentproto_parse(const uint8_t *msg, size_t len, struct agent_request *ret)
{
	struct agent_request q;
	struct cursor c;
	int r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		memset(ret, 0, sizeof(*ret));
	if ((msg == NULL && len != 0) || ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	memset(&q, 0, sizeof(q));
	if (len == 0)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	if (len > AGENTPROTO_MSG_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	q.type = msg[0];
	c.p = msg + 1;
	c.left = len - 1;

	switch (q.type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		break;
	case SSH_AGENTC_SIGN_REQUEST:
		if ((r = parse_sign_request(&c, &q)) != 0)
			goto out;
		break;
	case SSH_AGENTC_EXTENSION:
		if ((r = parse_extension(&c, &q)) != 0)
			goto out;
		/* The contents belong to the extension. */
		q.rest = c.p;
		q.rest_len = c.left;
		c.left = 0;
		break;
	default:
		/* Not decoded: the agent refuses these whatever they hold. */
		q.rest = c.p;
		q.rest_len = c.left;
		c.left = 0;
		break;
	}
	if (c.left != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	*ret = q;
	r = 0;
out:
	return r;
}

/* Appends the finished message msg to out as one frame. */
static int put_frame(struct buf *out, const struct buf *msg)
{
	if (buf_len(msg) == 0 || buf_len(msg) > AGENTPROTO_MSG_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	return buf_put_stringb(out, msg);
}

static int check_blob(const uint8_t *blob, size_t len)
{
	if (blob == NULL || len == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > AGENTPROTO_KEY_BLOB_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	return 0;
}

int agentproto_identities_answer(struct buf *out, const struct agent_identity *ids, size_t n)
{
	struct buf *msg = NULL;
	size_t i, clen;
	int r = JIT_ERR_INTERNAL;

	if (out == NULL || (ids == NULL && n != 0))
		return JIT_ERR_INVALID_ARGUMENT;
	if (n > AGENTPROTO_IDENTITIES_MAX)
		return JIT_ERR_INVALID_ARGUMENT;
	/* Validate everything before writing anything. */
	for (i = 0; i < n; i++) {
		if ((r = check_blob(ids[i].blob, ids[i].blob_len)) != 0)
			return r;
		if (ids[i].comment == NULL)
			return JIT_ERR_INVALID_ARGUMENT;
		/* ssh-add -l prints the comment: no control characters. */
		if ((clen = strlen(ids[i].comment)) > AGENTPROTO_COMMENT_MAX)
			return JIT_ERR_STRING_TOO_LARGE;
		if ((r = cert_rule_text(ids[i].comment, clen)) != 0)
			return r;
	}
	if ((msg = buf_new(AGENTPROTO_MSG_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_put_u8(msg, SSH_AGENT_IDENTITIES_ANSWER)) != 0 ||
	    (r = buf_put_u32(msg, (uint32_t)n)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = buf_put_string(msg, ids[i].blob, ids[i].blob_len)) != 0 ||
		    (r = buf_put_cstring(msg, ids[i].comment)) != 0)
			goto out;
	}
	if ((r = put_frame(out, msg)) != 0)
		goto out;
	r = 0;
out:
	buf_free(msg);
	return r;
}

int agentproto_sign_response(struct buf *out, const uint8_t *sig, size_t len)
{
	struct buf *msg = NULL;
	int r = JIT_ERR_INTERNAL;

	if (out == NULL || sig == NULL || len == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > AGENTPROTO_MSG_MAX - 5)
		return JIT_ERR_STRING_TOO_LARGE;
	if ((msg = buf_new(AGENTPROTO_MSG_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_put_u8(msg, SSH_AGENT_SIGN_RESPONSE)) != 0 ||
	    (r = buf_put_string(msg, sig, len)) != 0 || (r = put_frame(out, msg)) != 0)
		goto out;
	r = 0;
out:
	buf_free(msg);
	return r;
}

int agentproto_failure(struct buf *out)
{
	static const uint8_t frame[] = {0, 0, 0, 1, SSH_AGENT_FAILURE};

	if (out == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	return buf_put(out, frame, sizeof(frame));
}

int agentproto_request_encode(struct buf *out, const struct agent_request *req)
{
	struct buf *msg = NULL;
	int r = JIT_ERR_INTERNAL;

	if (out == NULL || req == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (req->rest == NULL && req->rest_len != 0)
		return JIT_ERR_INVALID_ARGUMENT;
	switch (req->type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		if (req->rest_len != 0)
			return JIT_ERR_INVALID_ARGUMENT;
		break;
	case SSH_AGENTC_SIGN_REQUEST:
		if (req->rest_len != 0 || (req->data == NULL && req->data_len != 0))
			return JIT_ERR_INVALID_ARGUMENT;
		if ((r = check_blob(req->key_blob, req->key_blob_len)) != 0)
			return r;
		break;
	case SSH_AGENTC_EXTENSION:
		if (req->ext_name == NULL || req->ext_name_len == 0)
			return JIT_ERR_INVALID_ARGUMENT;
		if (req->ext_name_len > AGENTPROTO_EXT_NAME_MAX)
			return JIT_ERR_STRING_TOO_LARGE;
		if (memchr(req->ext_name, '\0', req->ext_name_len) != NULL)
			return JIT_ERR_EMBEDDED_NUL;
		break;
	default:
		break;
	}
	if ((msg = buf_new(AGENTPROTO_MSG_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_put_u8(msg, req->type)) != 0)
		goto out;
	switch (req->type) {
	case SSH_AGENTC_SIGN_REQUEST:
		if ((r = buf_put_string(msg, req->key_blob, req->key_blob_len)) != 0 ||
		    (r = buf_put_string(msg, req->data, req->data_len)) != 0 ||
		    (r = buf_put_u32(msg, req->flags)) != 0)
			goto out;
		break;
	case SSH_AGENTC_EXTENSION:
		if ((r = buf_put_string(msg, req->ext_name, req->ext_name_len)) != 0)
			goto out;
		break;
	default:
		break;
	}
	if (req->rest_len != 0 && (r = buf_put(msg, req->rest, req->rest_len)) != 0)
		goto out;
	if ((r = put_frame(out, msg)) != 0)
		goto out;
	r = 0;
out:
	buf_free(msg);
	return r;
}

const char *agentproto_type_name(uint8_t type)
{
	switch (type) {
	case SSH_AGENT_FAILURE:
		return "failure";
	case SSH_AGENT_SUCCESS:
		return "success";
	case SSH_AGENTC_REQUEST_IDENTITIES:
		return "request-identities";
	case SSH_AGENT_IDENTITIES_ANSWER:
		return "identities-answer";
	case SSH_AGENTC_SIGN_REQUEST:
		return "sign-request";
	case SSH_AGENT_SIGN_RESPONSE:
		return "sign-response";
	case SSH_AGENTC_ADD_IDENTITY:
		return "add-identity";
	case SSH_AGENTC_REMOVE_IDENTITY:
		return "remove-identity";
	case SSH_AGENTC_REMOVE_ALL_IDENTITIES:
		return "remove-all-identities";
	case SSH_AGENTC_ADD_SMARTCARD_KEY:
		return "add-smartcard-key";
	case SSH_AGENTC_REMOVE_SMARTCARD_KEY:
		return "remove-smartcard-key";
	case SSH_AGENTC_LOCK:
		return "lock";
	case SSH_AGENTC_UNLOCK:
		return "unlock";
	case SSH_AGENTC_ADD_ID_CONSTRAINED:
		return "add-identity-constrained";
	case SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
		return "add-smartcard-key-constrained";
	case SSH_AGENTC_EXTENSION:
		return "extension";
	case SSH_AGENT_EXTENSION_FAILURE:
		return "extension-failure";
	default:
		return "unknown";
	}
}
