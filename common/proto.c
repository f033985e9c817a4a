/* SPDX-License-Identifier: BSD-2-Clause */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "cert.h"
#include "cert_rules.h"
#include "err.h"
#include "key.h"
#include "proto.h"
#include "timefmt.h"

/* A request is valid for at most a day; caps are the CA's business. */
#define PROTO_VALIDITY_MAX 86400

static void free_string(char *s)
{
	if (s != NULL)
		OPENSSL_clear_free(s, strlen(s) + 1);
}

void proto_request_free(struct proto_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	free_string(r->user);
	if (r->pubkey != NULL)
		OPENSSL_clear_free(r->pubkey, r->pubkey_len);
	for (i = 0; r->principals != NULL && i < r->nprincipals; i++)
		free_string(r->principals[i]);
	free(r->principals);
	free_string(r->ticket);
	free_string(r->reason);
	free_string(r->session);
	free_string(r->source_address);
	memset(r, 0, sizeof(*r));
}

void proto_response_free(struct proto_response *r)
{
	if (r == NULL)
		return;
	free_string(r->message);
	if (r->cert != NULL)
		OPENSSL_clear_free(r->cert, r->cert_len);
	memset(r, 0, sizeof(*r));
}

const char *proto_status_name(uint8_t status)
{
	switch (status) {
	case PROTO_OK:
		return "ok";
	case PROTO_DENIED:
		return "denied";
	case PROTO_BAD_REQUEST:
		return "bad request";
	case PROTO_UNAUTHENTICATED:
		return "unauthenticated";
	case PROTO_UNAVAILABLE:
		return "unavailable";
	case PROTO_INTERNAL:
		return "internal error";
	default:
		return "unknown status";
	}
}

/* 1..max bytes of [A-Za-z0-9._-]; a user name may not start with '-'. */
static int check_name(const char *s, size_t len, size_t max, int no_dash)
{
	size_t i;

	if (s == NULL || len == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > max)
		return JIT_ERR_STRING_TOO_LARGE;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0')
			return JIT_ERR_EMBEDDED_NUL;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return JIT_ERR_BAD_CHARACTER;
	}
	if (no_dash && s[0] == '-')
		return JIT_ERR_BAD_CHARACTER;
	return 0;
}

/* Printable text of at most max bytes; empty allowed when min is 0. */
static int check_text(const char *s, size_t len, size_t min, size_t max)
{
	if (s == NULL || len < min)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > max)
		return JIT_ERR_STRING_TOO_LARGE;
	return cert_rule_text(s, len);
}

static int check_pubkey(const uint8_t *blob, size_t len)
{
	struct key *k = NULL;
	int r;

	if (blob == NULL || len == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > KEY_BLOB_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	r = key_from_blob(blob, len, &k);
	key_free(k);
	return r;
}

static int check_source_address(const char *s, size_t len)
{
	int r;

	if (s == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len == 0)
		return 0;
	if (len > PROTO_ADDR_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	if ((r = cert_rule_text(s, len)) != 0)
		return r;
	return addr_list_validate(s) == 0 ? 0 : JIT_ERR_INVALID_FORMAT;
}

/* The context and its two strings agree: a ticket id or a reason, never both. */
static int check_context(uint8_t context, const char *ticket, const char *reason)
{
	int r;

	if (ticket == NULL || reason == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	switch (context) {
	case PROTO_CTX_TICKET:
		if ((r = check_name(ticket, strlen(ticket), PROTO_TICKET_MAX, 0)) != 0)
			return r;
		return reason[0] == '\0' ? 0 : JIT_ERR_INVALID_ARGUMENT;
	case PROTO_CTX_BREAKGLASS:
		if ((r = check_text(reason, strlen(reason), 1, PROTO_REASON_MAX)) != 0)
			return r;
		return ticket[0] == '\0' ? 0 : JIT_ERR_INVALID_ARGUMENT;
	default:
		return JIT_ERR_INVALID_ARGUMENT;
	}
}

static int check_validity(uint64_t validity, uint64_t not_after)
{
	if (validity == 0 || validity > PROTO_VALIDITY_MAX)
		return JIT_ERR_INVALID_ARGUMENT;
	if (not_after > TIME_MAX)
		return JIT_ERR_INVALID_ARGUMENT;
	return 0;
}

/* Each principal valid as in a certificate, none twice. */
static int check_principals(char *const *p, size_t n)
{
	size_t i, j;
	int r;

	if (p == NULL || n == 0 || n > PROTO_PRINCIPALS_MAX)
		return JIT_ERR_INVALID_ARGUMENT;
	for (i = 0; i < n; i++) {
		if (p[i] == NULL)
			return JIT_ERR_INVALID_ARGUMENT;
		if ((r = cert_rule_principal(p[i], strlen(p[i]))) != 0)
			return r;
		for (j = 0; j < i; j++)
			if (strcmp(p[i], p[j]) == 0)
				return JIT_ERR_INVALID_ARGUMENT;
	}
	return 0;
}

int proto_request_encode(const struct proto_request *q, struct buf *out)
{
	struct buf *plist = NULL;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	if (q == NULL || out == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	/* Validate everything before writing anything. */
	if ((r = check_name(q->user, q->user == NULL ? 0 : strlen(q->user), PROTO_USER_MAX, 1)) !=
	            0 ||
	    (r = check_pubkey(q->pubkey, q->pubkey_len)) != 0 ||
	    (r = check_principals(q->principals, q->nprincipals)) != 0 ||
	    (r = check_validity(q->validity, q->not_after)) != 0 ||
	    (r = check_context(q->context, q->ticket, q->reason)) != 0 ||
	    (r = check_name(q->session, q->session == NULL ? 0 : strlen(q->session),
	                    PROTO_SESSION_MAX, 0)) != 0 ||
	    (r = check_source_address(q->source_address,
	                              q->source_address == NULL ? 0 : strlen(q->source_address))) !=
	            0)
		goto out;
	if ((plist = buf_new(PROTO_FRAME_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < q->nprincipals; i++)
		if ((r = buf_put_cstring(plist, q->principals[i])) != 0)
			goto out;
	if ((r = buf_put_u32(out, PROTO_VERSION)) != 0 ||
	    (r = buf_put_u8(out, PROTO_MSG_SIGN_REQUEST)) != 0 ||
	    (r = buf_put_cstring(out, q->user)) != 0 ||
	    (r = buf_put_string(out, q->pubkey, q->pubkey_len)) != 0 ||
	    (r = buf_put_stringb(out, plist)) != 0 || (r = buf_put_u64(out, q->validity)) != 0 ||
	    (r = buf_put_u64(out, q->not_after)) != 0 || (r = buf_put_u8(out, q->context)) != 0 ||
	    (r = buf_put_cstring(out, q->ticket)) != 0 ||
	    (r = buf_put_cstring(out, q->reason)) != 0 ||
	    (r = buf_put_cstring(out, q->session)) != 0 ||
	    (r = buf_put_cstring(out, q->source_address)) != 0)
		goto out;
	r = 0;
out:
	buf_free(plist);
	return r;
}

int proto_response_encode(const struct proto_response *p, struct buf *out)
{
	int r = JIT_ERR_INTERNAL;

	if (p == NULL || out == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (p->status > PROTO_INTERNAL)
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = check_text(p->message, p->message == NULL ? 0 : strlen(p->message), 0,
	                    PROTO_MESSAGE_MAX)) != 0)
		return r;
	if (p->status == PROTO_OK) {
		if (p->cert == NULL || p->cert_len == 0 || p->clamped > 1)
			return JIT_ERR_INVALID_ARGUMENT;
		if (p->cert_len > CERT_BLOB_MAX)
			return JIT_ERR_STRING_TOO_LARGE;
	}
	if ((r = buf_put_u32(out, PROTO_VERSION)) != 0 ||
	    (r = buf_put_u8(out, PROTO_MSG_SIGN_RESPONSE)) != 0 ||
	    (r = buf_put_u8(out, p->status)) != 0 || (r = buf_put_cstring(out, p->message)) != 0)
		return r;
	/* A refusal carries nothing more. */
	if (p->status != PROTO_OK)
		return 0;
	if ((r = buf_put_string(out, p->cert, p->cert_len)) != 0 ||
	    (r = buf_put_u64(out, p->serial)) != 0 || (r = buf_put_u8(out, p->clamped)) != 0)
		return r;
	return 0;
}

/* The version and message type every payload starts with. */
static int get_header(struct buf *b, uint8_t want_type)
{
	uint32_t version;
	uint8_t type;
	int r;

	if ((r = buf_get_u32(b, &version)) != 0 || (r = buf_get_u8(b, &type)) != 0)
		return r;
	if (version != PROTO_VERSION)
		return JIT_ERR_PROTO_VERSION;
	if (type != want_type)
		return JIT_ERR_INVALID_FORMAT;
	return 0;
}

/* A text string whose length is checked before anything is allocated. */
static int get_cstring_max(struct buf *b, size_t max, char **ret, size_t *ret_len)
{
	size_t len;
	int r;

	*ret = NULL;
	*ret_len = 0;
	if ((r = buf_peek_string_direct(b, NULL, &len)) != 0)
		return r;
	if (len > max)
		return JIT_ERR_STRING_TOO_LARGE;
	return buf_get_cstring(b, ret, ret_len);
}

static int get_principals(struct buf *b, struct proto_request *q)
{
	struct buf *list = NULL;
	char *p = NULL;
	size_t len;
	int r = JIT_ERR_INTERNAL;

	if ((r = buf_froms(b, &list)) != 0)
		goto out;
	if ((q->principals = calloc(PROTO_PRINCIPALS_MAX, sizeof(*q->principals))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	while (buf_len(list) > 0) {
		if (q->nprincipals == PROTO_PRINCIPALS_MAX) {
			r = JIT_ERR_INVALID_ARGUMENT;
			goto out;
		}
		if ((r = get_cstring_max(list, CERT_PRINCIPAL_MAX, &p, &len)) != 0)
			goto out;
		q->principals[q->nprincipals++] = p;
		p = NULL;
	}
	r = check_principals(q->principals, q->nprincipals);
out:
	free_string(p);
	buf_free(list);
	return r;
}

/* A payload as a buffer positioned after its version and message type. */
static int open_payload(const uint8_t *data, size_t len, uint8_t type, struct buf **ret)
{
	struct buf *b;
	int r;

	*ret = NULL;
	if (data == NULL || len == 0)
		return JIT_ERR_MESSAGE_INCOMPLETE;
	if (len > PROTO_FRAME_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((b = buf_from(data, len)) == NULL)
		return JIT_ERR_ALLOC;
	if ((r = get_header(b, type)) != 0) {
		buf_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

int proto_request_decode(const uint8_t *data, size_t len, struct proto_request *ret)
{
	struct proto_request q;
	struct buf *b = NULL;
	size_t n;
	int r = JIT_ERR_INTERNAL;

	memset(&q, 0, sizeof(q));
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	memset(ret, 0, sizeof(*ret));
	if ((r = open_payload(data, len, PROTO_MSG_SIGN_REQUEST, &b)) != 0)
		goto out;
	if ((r = get_cstring_max(b, PROTO_USER_MAX, &q.user, &n)) != 0 ||
	    (r = check_name(q.user, n, PROTO_USER_MAX, 1)) != 0)
		goto out;
	if ((r = buf_peek_string_direct(b, NULL, &n)) != 0)
		goto out;
	if (n > KEY_BLOB_MAX) {
		r = JIT_ERR_STRING_TOO_LARGE;
		goto out;
	}
	if ((r = buf_get_string(b, &q.pubkey, &q.pubkey_len)) != 0 ||
	    (r = check_pubkey(q.pubkey, q.pubkey_len)) != 0)
		goto out;
	if ((r = get_principals(b, &q)) != 0)
		goto out;
	if ((r = buf_get_u64(b, &q.validity)) != 0 || (r = buf_get_u64(b, &q.not_after)) != 0 ||
	    (r = check_validity(q.validity, q.not_after)) != 0)
		goto out;
	if ((r = buf_get_u8(b, &q.context)) != 0 ||
	    (r = get_cstring_max(b, PROTO_TICKET_MAX, &q.ticket, &n)) != 0 ||
	    (r = get_cstring_max(b, PROTO_REASON_MAX, &q.reason, &n)) != 0 ||
	    (r = check_context(q.context, q.ticket, q.reason)) != 0)
		goto out;
	if ((r = get_cstring_max(b, PROTO_SESSION_MAX, &q.session, &n)) != 0 ||
	    (r = check_name(q.session, n, PROTO_SESSION_MAX, 0)) != 0)
		goto out;
	if ((r = get_cstring_max(b, PROTO_ADDR_MAX, &q.source_address, &n)) != 0 ||
	    (r = check_source_address(q.source_address, n)) != 0)
		goto out;
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	*ret = q;
	memset(&q, 0, sizeof(q));
	r = 0;
out:
	proto_request_free(&q);
	buf_free(b);
	return r;
}

int proto_response_decode(const uint8_t *data, size_t len, struct proto_response *ret)
{
	struct proto_response p;
	struct buf *b = NULL;
	size_t n;
	int r = JIT_ERR_INTERNAL;

	memset(&p, 0, sizeof(p));
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	memset(ret, 0, sizeof(*ret));
	if ((r = open_payload(data, len, PROTO_MSG_SIGN_RESPONSE, &b)) != 0 ||
	    (r = buf_get_u8(b, &p.status)) != 0)
		goto out;
	if (p.status > PROTO_INTERNAL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = get_cstring_max(b, PROTO_MESSAGE_MAX, &p.message, &n)) != 0 ||
	    (r = check_text(p.message, n, 0, PROTO_MESSAGE_MAX)) != 0)
		goto out;
	if (p.status == PROTO_OK) {
		if ((r = buf_peek_string_direct(b, NULL, &n)) != 0)
			goto out;
		if (n > CERT_BLOB_MAX) {
			r = JIT_ERR_STRING_TOO_LARGE;
			goto out;
		}
		if ((r = buf_get_string(b, &p.cert, &p.cert_len)) != 0 ||
		    (r = buf_get_u64(b, &p.serial)) != 0 || (r = buf_get_u8(b, &p.clamped)) != 0)
			goto out;
		if (p.cert_len == 0 || p.clamped > 1) {
			r = JIT_ERR_INVALID_ARGUMENT;
			goto out;
		}
	}
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	*ret = p;
	memset(&p, 0, sizeof(p));
	r = 0;
out:
	proto_response_free(&p);
	buf_free(b);
	return r;
}
