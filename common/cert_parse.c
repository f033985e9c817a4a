/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reading certificates back: a bounded parser that checks every field and
 * the signature (or, for a trusted signer's fresh output, every field
 * only), and the verifier that decides as sshd would. Independent of the
 * builder in cert.c.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "b64.h"
#include "buf.h"
#include "cert.h"
#include "cert_rules.h"
#include "err.h"
#include "file.h"

/* A certificate file: one line, at most this long. */
#define CERT_FILE_MAX (4 * CERT_BLOB_MAX)

void cert_free(struct cert *c)
{
	size_t i;

	if (c == NULL)
		return;
	key_free(c->subject);
	key_free(c->ca);
	free(c->nonce);
	free(c->key_id);
	for (i = 0; i < c->nprincipals; i++)
		free(c->principals[i]);
	free(c->principals);
	for (i = 0; i < c->critical.n; i++) {
		free(c->critical.v[i].name);
		free(c->critical.v[i].value);
	}
	free(c->critical.v);
	for (i = 0; i < c->extensions.n; i++) {
		free(c->extensions.v[i].name);
		free(c->extensions.v[i].value);
	}
	free(c->extensions.v);
	free(c->sig_alg);
	free(c->blob);
	free(c);
}

static int parse_principals(struct buf *b, struct cert *c)
{
	struct buf *list = NULL;
	char *p = NULL;
	size_t len;
	int r;

	if ((r = buf_froms(b, &list)) != 0)
		return r;
	while (buf_len(list) > 0) {
		if (c->nprincipals >= CERT_PRINCIPALS_MAX) {
			r = JIT_ERR_NO_BUFFER_SPACE;
			goto out;
		}
		if ((r = buf_get_cstring(list, &p, &len)) != 0 ||
		    (r = cert_rule_principal(p, len)) != 0)
			goto out;
		/* principals has room: it was sized for the maximum below. */
		c->principals[c->nprincipals++] = p;
		p = NULL;
	}
	r = 0;
out:
	free(p);
	buf_free(list);
	return r;
}

/* One option's data: empty, or exactly one nested string. */
static int parse_option_value(const uint8_t *data, size_t len, char **ret)
{
	struct buf *d;
	int r;

	*ret = NULL;
	if (len == 0)
		return 0;
	if ((d = buf_from(data, len)) == NULL)
		return JIT_ERR_ALLOC;
	if ((r = buf_get_cstring(d, ret, NULL)) == 0 && buf_len(d) != 0) {
		free(*ret);
		*ret = NULL;
		r = JIT_ERR_TRAILING_DATA;
	}
	buf_free(d);
	return r;
}

static int parse_options(struct buf *b, struct cert_opts *o, int critical)
{
	struct buf *list = NULL;
	const uint8_t *data;
	char *name = NULL, *value = NULL;
	size_t name_len, data_len;
	int r;

	if ((r = buf_froms(b, &list)) != 0)
		return r;
	if ((o->v = calloc(CERT_OPTIONS_MAX, sizeof(*o->v))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	while (buf_len(list) > 0) {
		if (o->n >= CERT_OPTIONS_MAX) {
			r = JIT_ERR_NO_BUFFER_SPACE;
			goto out;
		}
		if ((r = buf_get_cstring(list, &name, &name_len)) != 0 ||
		    (r = buf_get_string_direct(list, &data, &data_len)) != 0 ||
		    (r = parse_option_value(data, data_len, &value)) != 0)
			goto out;
		r = critical ? cert_rule_critical(name, value, value == NULL ? 0 : strlen(value))
		             : cert_rule_extension_lax(name, value,
		                                       value == NULL ? 0 : strlen(value));
		if (r != 0)
			goto out;
		/* Strictly increasing names: sorted and unique, as PROTOCOL.certkeys asks. */
		if (o->n > 0 && strcmp(o->v[o->n - 1].name, name) >= 0) {
			r = JIT_ERR_CERT_BAD_OPTION;
			goto out;
		}
		o->v[o->n].name = name;
		o->v[o->n].value = value;
		o->n++;
		name = value = NULL;
	}
	r = 0;
out:
	free(name);
	free(value);
	buf_free(list);
	return r;
}

/* The signature blob's algorithm name, its structure checked but not the signature. */
static int signature_alg(const uint8_t *sig, size_t sig_len, char **ret)
{
	struct buf *b = NULL;
	char *alg = NULL;
	int r;

	*ret = NULL;
	if ((b = buf_from(sig, sig_len)) == NULL)
		return JIT_ERR_ALLOC;
	if ((r = buf_get_cstring(b, &alg, NULL)) != 0 ||
	    (r = buf_get_string_direct(b, NULL, NULL)) != 0)
		goto out;
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	*ret = alg;
	alg = NULL;
	r = 0;
out:
	free(alg);
	buf_free(b);
	return r;
}

static int parse_blob(const uint8_t *blob, size_t len, int verify, struct cert **ret)
{
	struct cert *c = NULL;
	struct buf *b = NULL;
	const uint8_t *p, *sig;
	size_t plen, sig_len, signed_len;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (len > CERT_BLOB_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->principals = calloc(CERT_PRINCIPALS_MAX, sizeof(char *))) == NULL ||
	    (b = buf_from(blob, len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_get_string_direct(b, &p, &plen)) != 0)
		goto out;
	if ((c->type = key_type_from_cert_name((const char *)p, plen)) == KEY_UNSPEC) {
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if ((r = buf_get_string_direct(b, &p, &plen)) != 0)
		goto out;
	if (plen > CERT_NONCE_MAX) {
		r = JIT_ERR_STRING_TOO_LARGE;
		goto out;
	}
	if ((c->nonce = malloc(plen == 0 ? 1 : plen)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (plen > 0)
		memcpy(c->nonce, p, plen);
	c->nonce_len = plen;
	if ((r = key_from_fields(b, c->type, &c->subject)) != 0 ||
	    (r = buf_get_u64(b, &c->serial)) != 0 || (r = buf_get_u32(b, &c->cert_type)) != 0)
		goto out;
	if (c->cert_type != CERT_TYPE_USER && c->cert_type != CERT_TYPE_HOST) {
		r = JIT_ERR_CERT_TYPE;
		goto out;
	}
	if ((r = buf_get_cstring(b, &c->key_id, &plen)) != 0)
		goto out;
	/* An empty key ID is legal on the wire (ssh-keygen -I ""); bounds and characters are not.
	 */
	if (plen > CERT_KEY_ID_MAX) {
		r = JIT_ERR_STRING_TOO_LARGE;
		goto out;
	}
	if ((r = cert_rule_text(c->key_id, plen)) != 0 || (r = parse_principals(b, c)) != 0 ||
	    (r = buf_get_u64(b, &c->valid_after)) != 0 ||
	    (r = buf_get_u64(b, &c->valid_before)) != 0)
		goto out;
	if (c->valid_before <= c->valid_after) {
		r = JIT_ERR_CERT_BAD_VALIDITY;
		goto out;
	}
	if ((r = parse_options(b, &c->critical, 1)) != 0 ||
	    (r = parse_options(b, &c->extensions, 0)) != 0 ||
	    (r = buf_get_string_direct(b, NULL, NULL)) != 0 /* reserved */ ||
	    (r = buf_get_string_direct(b, &p, &plen)) != 0)
		goto out;
	if ((r = key_from_blob(p, plen, &c->ca)) != 0) {
		const uint8_t *t;
		size_t tlen;
		struct buf *tb = buf_from(p, plen);

		/* Say so plainly when the signature key is itself a certificate. */
		if (tb != NULL && buf_get_string_direct(tb, &t, &tlen) == 0 &&
		    key_type_from_cert_name((const char *)t, tlen) != KEY_UNSPEC)
			r = JIT_ERR_CERT_CA_IS_CERT;
		buf_free(tb);
		goto out;
	}
	if (!key_type_can_sign(c->ca->type)) {
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	signed_len = len - buf_len(b);
	if ((r = buf_get_string_direct(b, &sig, &sig_len)) != 0)
		goto out;
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	if (verify)
		r = key_verify(c->ca, sig, sig_len, blob, signed_len, &c->sig_alg);
	else
		r = signature_alg(sig, sig_len, &c->sig_alg);
	if (r != 0)
		goto out;
	if ((c->blob = malloc(len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(c->blob, blob, len);
	c->blob_len = len;
	c->signed_len = signed_len;
	*ret = c;
	c = NULL;
	r = 0;
out:
	buf_free(b);
	cert_free(c);
	return r;
}

int cert_parse(const uint8_t *blob, size_t len, struct cert **ret)
{
	return parse_blob(blob, len, 1, ret);
}

int cert_parse_unverified(const uint8_t *blob, size_t len, struct cert **ret)
{
	return parse_blob(blob, len, 0, ret);
}

/* Splits off the next space-separated token of s[0..len). */
static int next_token(const char **s, const char *end, const char **ret, size_t *ret_len)
{
	const char *p = *s, *start;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	start = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	*ret = start;
	*ret_len = (size_t)(p - start);
	*s = p;
	return p == start ? JIT_ERR_INVALID_FORMAT : 0;
}

int cert_parse_line(const char *line, size_t len, struct cert **ret)
{
	const char *end, *s = line, *type, *data;
	size_t type_len, data_len;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	struct cert *c = NULL;
	int r;

	*ret = NULL;
	/* One line: stop at the first newline, and allow a CR before it. */
	end = memchr(line, '\n', len);
	end = end == NULL ? line + len : end;
	if (end > line && end[-1] == '\r')
		end--;
	if (memchr(line, '\0', (size_t)(end - line)) != NULL)
		return JIT_ERR_EMBEDDED_NUL;
	if ((r = next_token(&s, end, &type, &type_len)) != 0 ||
	    (r = next_token(&s, end, &data, &data_len)) != 0)
		return r;
	if (key_type_from_cert_name(type, type_len) == KEY_UNSPEC)
		return JIT_ERR_KEY_TYPE_UNKNOWN;
	if ((r = b64_decode(data, data_len, CERT_BLOB_MAX, &blob, &blob_len)) != 0)
		return r;
	if ((r = cert_parse(blob, blob_len, &c)) != 0)
		goto out;
	/* The text label must name the type the blob holds. */
	if (strlen(key_cert_type_name(c->type)) != type_len ||
	    memcmp(key_cert_type_name(c->type), type, type_len) != 0) {
		r = JIT_ERR_KEY_TYPE_MISMATCH;
		goto out;
	}
	*ret = c;
	c = NULL;
	r = 0;
out:
	cert_free(c);
	free(blob);
	return r;
}

int cert_load(const char *path, struct cert **ret)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	*ret = NULL;
	if ((r = file_read(path, CERT_FILE_MAX, 0, &data, &len)) != 0)
		return r;
	r = cert_parse_line((const char *)data, len, ret);
	free(data);
	return r;
}

int cert_verify(const struct cert *c, const struct cert_check *check)
{
	const struct cert_opt *sa;
	size_t i;
	int r;

	if (check->ca == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (!key_equal_public(c->ca, check->ca))
		return JIT_ERR_CERT_CA_MISMATCH;
	/*
	 * cert_parse (which cert_build also ends in) checked the signature
	 * against c->ca; the CA being the trusted one completes the proof.
	 */
	if (c->cert_type != CERT_TYPE_USER)
		return JIT_ERR_CERT_TYPE;
	if (c->nprincipals == 0)
		return JIT_ERR_CERT_NO_PRINCIPALS;
	if (check->at < c->valid_after)
		return JIT_ERR_CERT_NOT_YET_VALID;
	if (check->at >= c->valid_before)
		return JIT_ERR_CERT_EXPIRED;
	if (check->principal != NULL) {
		for (i = 0; i < c->nprincipals; i++)
			if (strcmp(c->principals[i], check->principal) == 0)
				break;
		if (i == c->nprincipals)
			return JIT_ERR_CERT_PRINCIPAL;
	}
	if (check->from != NULL && (sa = cert_opts_find(&c->critical, "source-address")) != NULL) {
		if ((r = addr_list_match(sa->value, check->from)) < 0)
			return r;
		if (r == 0)
			return JIT_ERR_CERT_SOURCE_ADDRESS;
	}
	return 0;
}
