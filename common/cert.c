/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The certificate builder and the request it signs. Parsing and
 * verification live in cert_parse.c and share no code with the builder
 * beyond the wire buffer and key modules, so that the builder's output is
 * always checked by a second reading.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "build_config.h"

#include "addr.h"
#include "b64.h"
#include "buf.h"
#include "cert.h"
#include "cert_rules.h"
#include "err.h"

/* ssh-keygen's default set, which "clear" empties. */
static const char *const default_extensions[] = {
        "permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty",
        "permit-user-rc",
};

void cert_req_init(struct cert_req *req)
{
	memset(req, 0, sizeof(*req));
}

static void opts_clear(struct cert_opts *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		free(o->v[i].name);
		free(o->v[i].value);
	}
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

void cert_req_clear(struct cert_req *req)
{
	size_t i;

	for (i = 0; i < req->nprincipals; i++)
		free(req->principals[i]);
	free(req->principals);
	free(req->key_id);
	opts_clear(&req->critical);
	opts_clear(&req->extensions);
	cert_req_init(req);
}

int cert_req_add_principal(struct cert_req *req, const char *p)
{
	char **n;
	char *copy;
	size_t i;
	int r;

	if ((r = cert_rule_principal(p, strlen(p))) != 0)
		return r;
	for (i = 0; i < req->nprincipals; i++)
		if (strcmp(req->principals[i], p) == 0)
			return JIT_ERR_INVALID_ARGUMENT;
	if (req->nprincipals >= CERT_PRINCIPALS_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((copy = strdup(p)) == NULL)
		return JIT_ERR_ALLOC;
	n = reallocarray(req->principals, req->nprincipals + 1, sizeof(*n));
	if (n == NULL) {
		free(copy);
		return JIT_ERR_ALLOC;
	}
	n[req->nprincipals++] = copy;
	req->principals = n;
	return 0;
}

int cert_req_add_principals(struct cert_req *req, const char *list)
{
	const char *s = list, *e;
	char name[CERT_PRINCIPAL_MAX + 1];
	size_t len;
	int r;

	if (*list == '\0')
		return JIT_ERR_INVALID_ARGUMENT;
	for (;;) {
		e = strchr(s, ',');
		len = e == NULL ? strlen(s) : (size_t)(e - s);
		if (len == 0)
			return JIT_ERR_INVALID_ARGUMENT;
		if (len > CERT_PRINCIPAL_MAX)
			return JIT_ERR_STRING_TOO_LARGE;
		memcpy(name, s, len);
		name[len] = '\0';
		if ((r = cert_req_add_principal(req, name)) != 0)
			return r;
		if (e == NULL)
			return 0;
		s = e + 1;
	}
}

int cert_req_set_key_id(struct cert_req *req, const char *key_id)
{
	char *copy;
	int r;

	if ((r = cert_rule_key_id(key_id, strlen(key_id))) != 0)
		return r;
	if ((copy = strdup(key_id)) == NULL)
		return JIT_ERR_ALLOC;
	free(req->key_id);
	req->key_id = copy;
	return 0;
}

int cert_req_set_option(struct cert_req *req, int critical, const char *name, const char *value)
{
	struct cert_opts *o = critical ? &req->critical : &req->extensions;
	struct cert_opt *n;
	char *nname = NULL, *nvalue = NULL;
	size_t i;
	int r;

	if (value != NULL && *value == '\0')
		value = NULL;
	r = critical ? cert_rule_critical(name, value, value == NULL ? 0 : strlen(value))
	             : cert_rule_extension(name, value, value == NULL ? 0 : strlen(value));
	if (r != 0)
		return r;
	if ((nname = strdup(name)) == NULL || (value != NULL && (nvalue = strdup(value)) == NULL)) {
		free(nname);
		return JIT_ERR_ALLOC;
	}
	for (i = 0; i < o->n; i++) {
		if (strcmp(o->v[i].name, name) == 0) {
			free(o->v[i].name);
			free(o->v[i].value);
			o->v[i].name = nname;
			o->v[i].value = nvalue;
			return 0;
		}
	}
	if (o->n >= CERT_OPTIONS_MAX) {
		free(nname);
		free(nvalue);
		return JIT_ERR_NO_BUFFER_SPACE;
	}
	if ((n = reallocarray(o->v, o->n + 1, sizeof(*n))) == NULL) {
		free(nname);
		free(nvalue);
		return JIT_ERR_ALLOC;
	}
	n[o->n].name = nname;
	n[o->n].value = nvalue;
	o->v = n;
	o->n++;
	return 0;
}

void cert_req_unset_option(struct cert_req *req, int critical, const char *name)
{
	struct cert_opts *o = critical ? &req->critical : &req->extensions;
	size_t i;

	for (i = 0; i < o->n; i++) {
		if (strcmp(o->v[i].name, name) != 0)
			continue;
		free(o->v[i].name);
		free(o->v[i].value);
		memmove(&o->v[i], &o->v[i + 1], (o->n - i - 1) * sizeof(o->v[0]));
		o->n--;
		return;
	}
}

int cert_req_default_extensions(struct cert_req *req)
{
	size_t i;
	int r;

	for (i = 0; i < sizeof(default_extensions) / sizeof(default_extensions[0]); i++)
		if ((r = cert_req_set_option(req, 0, default_extensions[i], NULL)) != 0)
			return r;
	return 0;
}

/* "no-pty" and "permit-pty" style pairs, matched without case as ssh-keygen does. */
static const struct {
	const char *suffix;
	const char *extension;
} flag_options[] = {
        {"x11-forwarding", "permit-X11-forwarding"},
        {"agent-forwarding", "permit-agent-forwarding"},
        {"port-forwarding", "permit-port-forwarding"},
        {"pty", "permit-pty"},
        {"user-rc", "permit-user-rc"},
};

/* Splits "NAME=VALUE" of at most CERT_OPTION_NAME_MAX name bytes. */
static int split_option(const char *s, char *name, size_t namesz, const char **ret_value)
{
	const char *eq = strchr(s, '=');
	size_t len = eq == NULL ? strlen(s) : (size_t)(eq - s);

	*ret_value = NULL;
	if (len == 0 || len >= namesz)
		return JIT_ERR_CERT_BAD_OPTION;
	memcpy(name, s, len);
	name[len] = '\0';
	*ret_value = eq == NULL ? NULL : eq + 1;
	return 0;
}

int cert_req_apply_keygen_option(struct cert_req *req, const char *opt)
{
	char name[CERT_OPTION_NAME_MAX + 1];
	const char *value;
	size_t i;
	int r;

	if (strcasecmp(opt, "clear") == 0) {
		/* Like ssh-keygen: the flags go, force-command, source-address and custom ones
		 * stay. */
		for (i = 0; i < sizeof(flag_options) / sizeof(flag_options[0]); i++)
			cert_req_unset_option(req, 0, flag_options[i].extension);
		cert_req_unset_option(req, 0, "no-touch-required");
		cert_req_unset_option(req, 1, "verify-required");
		return 0;
	}
	for (i = 0; i < sizeof(flag_options) / sizeof(flag_options[0]); i++) {
		if (strncasecmp(opt, "no-", 3) == 0 &&
		    strcasecmp(opt + 3, flag_options[i].suffix) == 0) {
			cert_req_unset_option(req, 0, flag_options[i].extension);
			return 0;
		}
		if (strncasecmp(opt, "permit-", 7) == 0 &&
		    strcasecmp(opt + 7, flag_options[i].suffix) == 0)
			return cert_req_set_option(req, 0, flag_options[i].extension, NULL);
	}
	if (strcasecmp(opt, "no-touch-required") == 0)
		return cert_req_set_option(req, 0, "no-touch-required", NULL);
	if (strcasecmp(opt, "touch-required") == 0) {
		cert_req_unset_option(req, 0, "no-touch-required");
		return 0;
	}
	if (strcasecmp(opt, "verify-required") == 0)
		return cert_req_set_option(req, 1, "verify-required", NULL);
	if (strncasecmp(opt, "force-command=", 14) == 0 ||
	    strncasecmp(opt, "source-address=", 15) == 0) {
		if ((r = split_option(opt, name, sizeof(name), &value)) != 0)
			return r;
		for (i = 0; name[i] != '\0'; i++)
			name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a'
			                                                  : name[i]);
		/* ssh-keygen refuses a second one rather than guessing which wins. */
		if (cert_opts_find(&req->critical, name) != NULL)
			return JIT_ERR_CERT_BAD_OPTION;
		if (value == NULL || *value == '\0')
			return JIT_ERR_CERT_BAD_OPTION;
		return cert_req_set_option(req, 1, name, value);
	}
	if (strncasecmp(opt, "extension:", 10) == 0 || strncasecmp(opt, "critical:", 9) == 0) {
		int critical = opt[0] == 'c' || opt[0] == 'C';

		if ((r = split_option(opt + (critical ? 9 : 10), name, sizeof(name), &value)) != 0)
			return r;
		return cert_req_set_option(req, critical, name, value);
	}
	return JIT_ERR_CERT_BAD_OPTION;
}

static int opt_cmp(const void *a, const void *b)
{
	const struct cert_opt *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Options as the wire wants them: sorted by name, each (name, data) with nested data. */
static int put_options(struct buf *out, const struct cert_opts *o, int critical)
{
	const struct cert_opt *sorted[CERT_OPTIONS_MAX];
	struct buf *list = NULL, *data = NULL;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	if (o->n > CERT_OPTIONS_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	for (i = 0; i < o->n; i++) {
		const struct cert_opt *v = &o->v[i];
		size_t vlen = v->value == NULL ? 0 : strlen(v->value);

		r = critical ? cert_rule_critical(v->name, v->value, vlen)
		             : cert_rule_extension(v->name, v->value, vlen);
		if (r != 0)
			return r;
		sorted[i] = v;
	}
	if (o->n > 0)
		qsort(sorted, o->n, sizeof(sorted[0]), opt_cmp);
	for (i = 1; i < o->n; i++)
		if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
			return JIT_ERR_CERT_BAD_OPTION;
	if ((list = buf_new(CERT_BLOB_MAX)) == NULL || (data = buf_new(CERT_BLOB_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < o->n; i++) {
		buf_reset(data);
		if (sorted[i]->value != NULL && (r = buf_put_cstring(data, sorted[i]->value)) != 0)
			goto out;
		if ((r = buf_put_cstring(list, sorted[i]->name)) != 0 ||
		    (r = buf_put_stringb(list, data)) != 0)
			goto out;
	}
	r = buf_put_stringb(out, list);
out:
	buf_free(list);
	buf_free(data);
	return r;
}

static int put_principals(struct buf *out, const struct cert_req *req)
{
	struct buf *list;
	size_t i;
	int r = 0;

	if ((list = buf_new(CERT_BLOB_MAX)) == NULL)
		return JIT_ERR_ALLOC;
	for (i = 0; i < req->nprincipals && r == 0; i++) {
		const char *p = req->principals[i];

		if ((r = cert_rule_principal(p, strlen(p))) == 0)
			r = buf_put_cstring(list, p);
	}
	if (r == 0)
		r = buf_put_stringb(out, list);
	buf_free(list);
	return r;
}

/* Checks what cert_build needs and writes the signed part, the CA key last, into b. */
static int put_signed_part(const struct cert_req *req, const struct key *subject,
                           const struct key *ca, const uint8_t nonce[CERT_NONCE_LEN], struct buf *b)
{
	const uint8_t *fields;
	const char *cert_type;
	size_t fields_len;
	int r;

	if (req->nprincipals == 0)
		return JIT_ERR_CERT_NO_PRINCIPALS;
	if (req->key_id == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = cert_rule_key_id(req->key_id, strlen(req->key_id))) != 0)
		return r;
	if (req->valid_before <= req->valid_after)
		return JIT_ERR_CERT_BAD_VALIDITY;
	if ((cert_type = key_cert_type_name(subject->type)) == NULL)
		return JIT_ERR_KEY_TYPE_UNKNOWN;
	if (!key_type_can_sign(ca->type))
		return JIT_ERR_KEY_TYPE_UNKNOWN;
	fields = key_fields(subject, &fields_len);
	if ((r = buf_put_cstring(b, cert_type)) != 0 ||
	    (r = buf_put_string(b, nonce, CERT_NONCE_LEN)) != 0 ||
	    (r = buf_put(b, fields, fields_len)) != 0 || (r = buf_put_u64(b, req->serial)) != 0 ||
	    (r = buf_put_u32(b, CERT_TYPE_USER)) != 0 ||
	    (r = buf_put_cstring(b, req->key_id)) != 0 || (r = put_principals(b, req)) != 0 ||
	    (r = buf_put_u64(b, req->valid_after)) != 0 ||
	    (r = buf_put_u64(b, req->valid_before)) != 0 ||
	    (r = put_options(b, &req->critical, 1)) != 0 ||
	    (r = put_options(b, &req->extensions, 0)) != 0 ||
	    (r = buf_put_string(b, NULL, 0)) != 0 || /* reserved */
	    (r = buf_put_string(b, ca->blob, ca->blob_len)) != 0)
		return r;
	return 0;
}

int cert_check_size(const struct cert_req *req, const struct key *subject, const struct key *ca)
{
	static const uint8_t zero[CERT_NONCE_LEN];
	struct buf *b;
	size_t size;
	int r;

	if (req == NULL || subject == NULL || ca == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	/*
	 * The signature blob: its algorithm name (at most "rsa-sha2-512" or
	 * "ecdsa-sha2-nistp521"), lengths, and at most key_sig_max bytes of
	 * signature (an ECDSA r and s each gain a length and a sign byte).
	 */
	if ((size = key_sig_max(ca)) == 0)
		return JIT_ERR_KEY_TYPE_UNKNOWN;
	if ((b = buf_new(CERT_BLOB_MAX)) == NULL)
		return JIT_ERR_ALLOC;
	r = put_signed_part(req, subject, ca, zero, b);
	if (r == 0 && buf_len(b) + 4 + 64 + size > CERT_BLOB_MAX)
		r = JIT_ERR_NO_BUFFER_SPACE;
	buf_free(b);
	return r;
}

/*
 * The independent parser reads back what the builder wrote, and the
 * signature it found is checked over the part it found signed, with the
 * key the certificate names: the CA's blob, byte for byte, whose public
 * object was made from that blob when the key was loaded (verify_pkey),
 * not the object that signed (whose halves could disagree). A measurement
 * build (-Dsign_self_check=false) reads it back without the signature
 * check, to show what the check costs.
 */
static int read_back(const uint8_t *blob, size_t len, const struct key *ca, struct cert **ret)
{
	struct cert *c = NULL;
	int r;

	if ((r = cert_parse_unverified(blob, len, &c)) != 0)
		return r;
	if (JIT_SIGN_SELF_CHECK) {
		if (!key_equal_public(c->ca, ca))
			r = JIT_ERR_CERT_CA_MISMATCH;
		else if (c->blob_len < c->signed_len + 4)
			r = JIT_ERR_INTERNAL;
		else
			r = key_verify_public(ca, c->blob + c->signed_len + 4,
			                      c->blob_len - c->signed_len - 4, c->blob,
			                      c->signed_len);
		if (r != 0) {
			cert_free(c);
			return r;
		}
	}
	*ret = c;
	return 0;
}

int cert_build(const struct cert_req *req, const struct key *subject, const struct key *ca,
               struct cert **ret)
{
	struct buf *b = NULL;
	uint8_t nonce[CERT_NONCE_LEN];
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (!ca->has_private || ca->pkey == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return JIT_ERR_RANDOM;
	if ((b = buf_new(CERT_BLOB_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = put_signed_part(req, subject, ca, nonce, b)) != 0)
		goto out;
	if ((r = key_sign(ca, buf_ptr(b), buf_len(b), &sig, &sig_len)) != 0 ||
	    (r = buf_put_string(b, sig, sig_len)) != 0)
		goto out;
	/* Read back, and in a shipped build its signature checked (read_back). */
	if ((r = read_back(buf_ptr(b), buf_len(b), ca, ret)) != 0)
		goto out;
	r = 0;
out:
	free(sig);
	buf_free(b);
	return r;
}

int cert_to_line(const struct cert *c, const char *comment, char **ret)
{
	const char *type = key_cert_type_name(c->type);
	char *b64 = NULL, *line = NULL;
	size_t len;
	int r;

	*ret = NULL;
	if (type == NULL)
		return JIT_ERR_KEY_TYPE_UNKNOWN;
	if (comment != NULL && (r = cert_rule_text(comment, strlen(comment))) != 0)
		return r;
	if ((r = b64_encode(c->blob, c->blob_len, &b64)) != 0)
		return r;
	len = strlen(type) + 1 + strlen(b64) + (comment == NULL ? 0 : 1 + strlen(comment)) + 1;
	if ((line = malloc(len)) == NULL) {
		free(b64);
		return JIT_ERR_ALLOC;
	}
	strcpy(line, type);
	strcat(line, " ");
	strcat(line, b64);
	if (comment != NULL) {
		strcat(line, " ");
		strcat(line, comment);
	}
	free(b64);
	*ret = line;
	return 0;
}

const struct cert_opt *cert_opts_find(const struct cert_opts *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->v[i].name, name) == 0)
			return &o->v[i];
	return NULL;
}
