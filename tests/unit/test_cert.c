/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Certificate builder, parser and verifier. Keys are generated here, in
 * memory. Hostile certificates that are still validly signed are crafted by
 * hand with the wire buffer, so that each parser rule is reached past the
 * signature check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build_config.h"

#include "buf.h"
#include "cert.h"
#include "err.h"
#include "key.h"

#define T0 1900000000ULL /* 2030-03-17, a fixed "now" */

static struct key *ca_ed, *ca_ec256, *ca_ec384, *ca_ec521, *ca_rsa, *user_ed, *user_ec, *other_ca;

static int setup(void **state)
{
	(void)state;
	if (key_generate(KEY_ED25519, 0, &ca_ed) != 0 ||
	    key_generate(KEY_ECDSA_P256, 256, &ca_ec256) != 0 ||
	    key_generate(KEY_ECDSA_P384, 384, &ca_ec384) != 0 ||
	    key_generate(KEY_ECDSA_P521, 521, &ca_ec521) != 0 ||
	    key_generate(KEY_RSA, 2048, &ca_rsa) != 0 ||
	    key_generate(KEY_ED25519, 0, &user_ed) != 0 ||
	    key_generate(KEY_ECDSA_P256, 256, &user_ec) != 0 ||
	    key_generate(KEY_ED25519, 0, &other_ca) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	key_free(ca_ed);
	key_free(ca_ec256);
	key_free(ca_ec384);
	key_free(ca_ec521);
	key_free(ca_rsa);
	key_free(user_ed);
	key_free(user_ec);
	key_free(other_ca);
	return 0;
}

/* A request for alice,deploy over [T0, T0+300) with ssh-keygen's extensions. */
static void std_req(struct cert_req *req)
{
	cert_req_init(req);
	assert_int_equal(cert_req_set_key_id(req, "alice ticket=CHG-1001"), 0);
	assert_int_equal(cert_req_add_principals(req, "alice,deploy"), 0);
	req->serial = 42;
	req->valid_after = T0;
	req->valid_before = T0 + 300;
	assert_int_equal(cert_req_default_extensions(req), 0);
}

static void test_build_fields(void **state)
{
	struct cert_req req;
	struct cert *c = NULL;

	(void)state;
	std_req(&req);
	assert_int_equal(cert_req_set_option(&req, 1, "source-address", "127.0.0.1/32,::1"), 0);
	assert_int_equal(cert_req_set_option(&req, 1, "force-command", "/usr/bin/id"), 0);
	assert_int_equal(cert_req_set_option(&req, 0, "ticket@jit.example", "CHG-1001"), 0);
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), 0);

	assert_int_equal(c->type, KEY_ED25519);
	assert_int_equal(c->cert_type, CERT_TYPE_USER);
	assert_int_equal(c->serial, 42);
	assert_string_equal(c->key_id, "alice ticket=CHG-1001");
	assert_int_equal(c->nprincipals, 2);
	assert_string_equal(c->principals[0], "alice");
	assert_string_equal(c->principals[1], "deploy");
	assert_int_equal(c->valid_after, T0);
	assert_int_equal(c->valid_before, T0 + 300);
	assert_int_equal(c->nonce_len, CERT_NONCE_LEN);
	assert_string_equal(c->sig_alg, "ssh-ed25519");
	assert_true(key_equal_public(c->subject, user_ed));
	assert_true(key_equal_public(c->ca, ca_ed));

	/* Sorted bytewise: "force-command" < "source-address". */
	assert_int_equal(c->critical.n, 2);
	assert_string_equal(c->critical.v[0].name, "force-command");
	assert_string_equal(c->critical.v[0].value, "/usr/bin/id");
	assert_string_equal(c->critical.v[1].name, "source-address");
	assert_string_equal(c->critical.v[1].value, "127.0.0.1/32,::1");

	/* "permit-X11-forwarding" sorts before "permit-agent-forwarding" (X < a). */
	assert_int_equal(c->extensions.n, 6);
	assert_string_equal(c->extensions.v[0].name, "permit-X11-forwarding");
	assert_string_equal(c->extensions.v[1].name, "permit-agent-forwarding");
	assert_string_equal(c->extensions.v[2].name, "permit-port-forwarding");
	assert_string_equal(c->extensions.v[3].name, "permit-pty");
	assert_string_equal(c->extensions.v[4].name, "permit-user-rc");
	assert_string_equal(c->extensions.v[5].name, "ticket@jit.example");
	assert_string_equal(c->extensions.v[5].value, "CHG-1001");
	assert_null(c->extensions.v[3].value);

	cert_free(c);
	cert_req_clear(&req);
}

static void test_nonce_random(void **state)
{
	struct cert_req req;
	struct cert *a = NULL, *b = NULL;

	(void)state;
	std_req(&req);
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &a), 0);
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &b), 0);
	assert_memory_not_equal(a->nonce, b->nonce, CERT_NONCE_LEN);
	cert_free(a);
	cert_free(b);
	cert_req_clear(&req);
}

static void test_every_ca_type(void **state)
{
	const struct {
		struct key **ca;
		const char *alg;
	} cases[] = {
	        {&ca_ed, "ssh-ed25519"},
	        {&ca_ec256, "ecdsa-sha2-nistp256"},
	        {&ca_ec384, "ecdsa-sha2-nistp384"},
	        {&ca_ec521, "ecdsa-sha2-nistp521"},
	        {&ca_rsa, "rsa-sha2-512"},
	};
	struct cert_check chk = {.principal = "deploy", .at = T0};
	struct cert_req req;
	struct cert *c = NULL;
	size_t i;

	(void)state;
	std_req(&req);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(cert_build(&req, user_ec, *cases[i].ca, &c), 0);
		assert_int_equal(c->type, KEY_ECDSA_P256);
		assert_string_equal(c->sig_alg, cases[i].alg);
		chk.ca = *cases[i].ca;
		assert_int_equal(cert_verify(c, &chk), 0);
		chk.ca = other_ca;
		assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_CA_MISMATCH);
		cert_free(c);
		c = NULL;
	}
	cert_req_clear(&req);
}

/*
 * A CA key object whose private half is another key's: the signature is
 * valid under the key that made it, not under the key the certificate
 * names, and the builder's read-back refuses it.
 */
static void test_self_check(void **state)
{
	struct key mixed;
	struct cert_req req;
	struct cert *c = NULL;

	(void)state;
	if (!JIT_SIGN_SELF_CHECK)
		skip();
	std_req(&req);
	mixed = *ca_ed;
	mixed.pkey = other_ca->pkey;
	assert_int_equal(cert_build(&req, user_ed, &mixed, &c), JIT_ERR_SIG_INVALID);
	assert_null(c);
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), 0);
	assert_non_null(c);
	cert_free(c);
	cert_req_clear(&req);
}

/*
 * cert_check_size answers for cert_build without the private key: it never
 * passes a request the builder refuses as too large, and refuses only
 * requests within a signature's length of the limit.
 */
static void test_check_size(void **state)
{
	struct key *cas[] = {ca_ed, ca_ec521, ca_rsa};
	char p[251];
	struct cert_req req;
	struct cert *c = NULL;
	size_t k, n;
	int fits, built, last_fit;

	(void)state;
	std_req(&req);
	assert_int_equal(cert_check_size(&req, user_ed, ca_ed), 0);
	assert_int_equal(cert_check_size(NULL, user_ed, ca_ed), JIT_ERR_INVALID_ARGUMENT);
	/* The service checks with the CA's public half (no EVP_PKEY for Ed25519). */
	for (k = 0; k < sizeof(cas) / sizeof(cas[0]); k++) {
		struct key *pub = NULL;

		assert_int_equal(key_from_blob(cas[k]->blob, cas[k]->blob_len, &pub), 0);
		assert_int_equal(cert_check_size(&req, user_ed, pub), 0);
		key_free(pub);
	}
	cert_req_clear(&req);
	cert_req_init(&req);
	assert_int_equal(cert_req_set_key_id(&req, "id"), 0);
	req.valid_after = T0;
	req.valid_before = T0 + 60;
	assert_int_equal(cert_check_size(&req, user_ed, ca_ed), JIT_ERR_CERT_NO_PRINCIPALS);
	cert_req_clear(&req);
	for (k = 0; k < sizeof(cas) / sizeof(cas[0]); k++) {
		cert_req_init(&req);
		assert_int_equal(cert_req_set_key_id(&req, "id"), 0);
		req.valid_after = T0;
		req.valid_before = T0 + 60;
		last_fit = -1;
		for (n = 0; n < 64; n++) {
			memset(p, 'a', sizeof(p) - 1);
			p[sizeof(p) - 1] = '\0';
			snprintf(p, 4, "%03zu", n);
			p[3] = 'a';
			assert_int_equal(cert_req_add_principal(&req, p), 0);
			fits = cert_check_size(&req, user_ed, cas[k]);
			built = cert_build(&req, user_ed, cas[k], &c);
			cert_free(c);
			c = NULL;
			assert_true(fits == 0 || fits == JIT_ERR_NO_BUFFER_SPACE);
			if (fits == 0) {
				assert_int_equal(built, 0);
				last_fit = (int)n;
			}
		}
		/* 64 principals of 250 bytes are beyond any CA's limit, about 60 fit. */
		assert_int_equal(cert_check_size(&req, user_ed, cas[k]), JIT_ERR_NO_BUFFER_SPACE);
		assert_int_equal(cert_build(&req, user_ed, cas[k], &c), JIT_ERR_NO_BUFFER_SPACE);
		assert_true(last_fit >= 55 && last_fit < 63);
		cert_req_clear(&req);
	}
}

static void test_build_refusals(void **state)
{
	struct cert_req req;
	struct cert *c = NULL;

	(void)state;
	cert_req_init(&req);
	assert_int_equal(cert_req_set_key_id(&req, "id"), 0);
	req.valid_after = T0;
	req.valid_before = T0 + 60;
	/* Empty principals would mean "anyone": never built. */
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), JIT_ERR_CERT_NO_PRINCIPALS);
	assert_null(c);
	assert_int_equal(cert_req_add_principal(&req, "alice"), 0);
	assert_int_equal(cert_req_add_principal(&req, "alice"), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(cert_req_add_principal(&req, ""), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(cert_req_add_principal(&req, "a b"), JIT_ERR_BAD_CHARACTER);
	assert_int_equal(cert_req_add_principal(&req, "a\nb"), JIT_ERR_BAD_CHARACTER);
	assert_int_equal(cert_req_add_principals(&req, "bob,,carol"), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(cert_req_add_principals(&req, ""), JIT_ERR_INVALID_ARGUMENT);

	req.valid_before = T0;
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), JIT_ERR_CERT_BAD_VALIDITY);
	req.valid_before = T0 - 1;
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), JIT_ERR_CERT_BAD_VALIDITY);
	req.valid_before = T0 + 60;

	assert_int_equal(cert_req_set_key_id(&req, "bad\x1b[31mid"), JIT_ERR_BAD_CHARACTER);
	assert_int_equal(cert_req_set_key_id(&req, ""), JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(req.key_id, "id");

	/* A CA that holds no private half cannot sign. */
	{
		struct key *pub = NULL;

		assert_int_equal(key_from_blob(ca_ed->blob, ca_ed->blob_len, &pub), 0);
		assert_int_equal(pub->has_private, 0);
		assert_int_equal(cert_build(&req, user_ed, pub, &c), JIT_ERR_INVALID_ARGUMENT);
		assert_null(c);
		key_free(pub);
	}

	assert_int_equal(cert_req_set_option(&req, 1, "permit-pty", NULL), JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 1, "no-such-option", "x"),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 1, "source-address", "10.0.0.1/8"),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 1, "source-address", "not-an-address"),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 1, "force-command", NULL),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 1, "verify-required", "x"),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 0, "permit-pty", "yes"),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 0, "nodomain", NULL), JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 0, "x@bad domain", NULL),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_set_option(&req, 0, "x@ok.example", "tab\there"),
	                 JIT_ERR_BAD_CHARACTER);
	assert_int_equal(req.critical.n, 0);
	assert_int_equal(req.extensions.n, 0);
	cert_req_clear(&req);
}

static void test_keygen_options(void **state)
{
	struct cert_req req;

	(void)state;
	std_req(&req);
	assert_int_equal(req.extensions.n, 5);
	assert_int_equal(cert_req_apply_keygen_option(&req, "no-pty"), 0);
	assert_null(cert_opts_find(&req.extensions, "permit-pty"));
	assert_int_equal(cert_req_apply_keygen_option(&req, "PERMIT-PTY"), 0);
	assert_non_null(cert_opts_find(&req.extensions, "permit-pty"));
	assert_int_equal(cert_req_apply_keygen_option(&req, "no-x11-forwarding"), 0);
	assert_null(cert_opts_find(&req.extensions, "permit-X11-forwarding"));
	assert_int_equal(cert_req_apply_keygen_option(&req, "force-command=/bin/date -u"), 0);
	assert_string_equal(cert_opts_find(&req.critical, "force-command")->value, "/bin/date -u");
	assert_int_equal(cert_req_apply_keygen_option(&req, "force-command=/bin/true"),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_apply_keygen_option(&req, "source-address=192.0.2.0/24"), 0);
	assert_int_equal(cert_req_apply_keygen_option(&req, "source-address="),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_apply_keygen_option(&req, "verify-required"), 0);
	assert_int_equal(cert_req_apply_keygen_option(&req, "extension:login@example.com=alice"),
	                 0);
	assert_string_equal(cert_opts_find(&req.extensions, "login@example.com")->value, "alice");
	assert_int_equal(cert_req_apply_keygen_option(&req, "critical:unknown-thing=1"),
	                 JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_apply_keygen_option(&req, "bogus"), JIT_ERR_CERT_BAD_OPTION);
	assert_int_equal(cert_req_apply_keygen_option(&req, "extension:=x"),
	                 JIT_ERR_CERT_BAD_OPTION);

	/* clear drops the flags and verify-required; commands, addresses and custom ones stay. */
	assert_int_equal(cert_req_apply_keygen_option(&req, "clear"), 0);
	assert_int_equal(req.extensions.n, 1);
	assert_string_equal(req.extensions.v[0].name, "login@example.com");
	assert_int_equal(req.critical.n, 2);
	assert_null(cert_opts_find(&req.critical, "verify-required"));
	cert_req_clear(&req);
}

static void test_verify_rules(void **state)
{
	struct cert_check chk = {.principal = "alice", .at = T0};
	struct cert_req req;
	struct cert *c = NULL;

	(void)state;
	std_req(&req);
	assert_int_equal(cert_req_set_option(&req, 1, "source-address", "127.0.0.1/32,10.0.0.0/8"),
	                 0);
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), 0);
	chk.ca = ca_ed;

	assert_int_equal(cert_verify(c, &chk), 0);
	chk.at = T0 - 1;
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_NOT_YET_VALID);
	chk.at = T0 + 299;
	assert_int_equal(cert_verify(c, &chk), 0);
	chk.at = T0 + 300; /* valid_before is exclusive */
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_EXPIRED);
	chk.at = T0;
	chk.principal = "root";
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_PRINCIPAL);
	chk.principal = NULL;
	assert_int_equal(cert_verify(c, &chk), 0);
	chk.from = "127.0.0.1";
	assert_int_equal(cert_verify(c, &chk), 0);
	chk.from = "10.200.1.1";
	assert_int_equal(cert_verify(c, &chk), 0);
	chk.from = "127.0.0.2";
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_SOURCE_ADDRESS);
	chk.from = "::1";
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_SOURCE_ADDRESS);
	chk.from = NULL;
	chk.ca = other_ca;
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_CA_MISMATCH);
	cert_free(c);
	cert_req_clear(&req);
}

static void test_line_round_trip(void **state)
{
	struct cert_req req;
	struct cert *c = NULL, *d = NULL;
	char *line = NULL;

	(void)state;
	std_req(&req);
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), 0);
	assert_int_equal(cert_to_line(c, "alice@bastion", &line), 0);
	assert_memory_equal(line, "ssh-ed25519-cert-v01@openssh.com AAAA", 37);
	assert_non_null(strstr(line, " alice@bastion"));
	assert_int_equal(cert_parse_line(line, strlen(line), &d), 0);
	assert_int_equal(d->blob_len, c->blob_len);
	assert_memory_equal(d->blob, c->blob, c->blob_len);
	cert_free(d);
	d = NULL;

	/* The text label must match the blob. */
	memcpy(line, "ssh-rsa", 7);
	assert_int_not_equal(cert_parse_line(line, strlen(line), &d), 0);
	assert_null(d);
	free(line);
	line = NULL;
	assert_int_equal(cert_to_line(c, "bad\ncomment", &line), JIT_ERR_BAD_CHARACTER);
	assert_null(line);
	cert_free(c);
	cert_req_clear(&req);
}

static void test_truncations_and_trailing(void **state)
{
	struct cert_req req;
	struct cert *c = NULL, *d = NULL;
	uint8_t *longer;
	size_t i;

	(void)state;
	std_req(&req);
	assert_int_equal(cert_build(&req, user_ed, ca_ed, &c), 0);
	/* Every proper prefix fails, none crashes. */
	for (i = 0; i < c->blob_len; i++) {
		assert_int_not_equal(cert_parse(c->blob, i, &d), 0);
		assert_null(d);
	}
	longer = malloc(c->blob_len + 1);
	assert_non_null(longer);
	memcpy(longer, c->blob, c->blob_len);
	longer[c->blob_len] = 0;
	assert_int_equal(cert_parse(longer, c->blob_len + 1, &d), JIT_ERR_TRAILING_DATA);
	/* One flipped bit of the key ID: structure intact, signature not. */
	memcpy(longer, c->blob, c->blob_len);
	for (i = 0; i + 5 < c->blob_len; i++)
		if (memcmp(longer + i, "alice ticket", 12) == 0)
			break;
	longer[i] ^= 0x01;
	assert_int_equal(cert_parse(longer, c->blob_len, &d), JIT_ERR_SIG_INVALID);
	assert_int_equal(cert_parse(c->blob, CERT_BLOB_MAX + 1, &d), JIT_ERR_NO_BUFFER_SPACE);
	/* Without the signature check the tampered certificate parses, fields and all... */
	assert_int_equal(cert_parse_unverified(longer, c->blob_len, &d), 0);
	assert_non_null(d);
	assert_int_equal(d->serial, c->serial);
	assert_string_equal(d->key_id, "`lice ticket=CHG-1001"); /* 'a' ^ 1 */
	cert_free(d);
	d = NULL;
	/* ...but its structure is checked as by cert_parse. */
	for (i = 0; i < c->blob_len; i++) {
		assert_int_not_equal(cert_parse_unverified(c->blob, i, &d), 0);
		assert_null(d);
	}
	memcpy(longer, c->blob, c->blob_len);
	longer[c->blob_len] = 0;
	assert_int_equal(cert_parse_unverified(longer, c->blob_len + 1, &d), JIT_ERR_TRAILING_DATA);
	assert_int_equal(cert_parse_unverified(c->blob, CERT_BLOB_MAX + 1, &d),
	                 JIT_ERR_NO_BUFFER_SPACE);
	free(longer);
	cert_free(c);
	cert_req_clear(&req);
}

/* Hand-crafted certificates: each field given raw, then signed for real. */
struct raw {
	const char *type;
	uint32_t cert_type;
	const uint8_t *key_id;
	size_t key_id_len;
	const char *const *principals;
	size_t nprincipals;
	uint64_t va, vb;
	const char *const *crit; /* name, value-or-NULL pairs, written in the order given */
	size_t ncrit;
	const char *const *ext;
	size_t next;
	const uint8_t *ca_blob; /* NULL: the CA's own */
	size_t ca_blob_len;
	const char *sig_alg; /* NULL: the real signature */
};

static void put_raw_opts(struct buf *b, const char *const *o, size_t n)
{
	struct buf *list = buf_new(4096), *data = buf_new(4096);
	size_t i;

	for (i = 0; i < n; i++) {
		buf_reset(data);
		if (o[2 * i + 1] != NULL)
			assert_int_equal(buf_put_cstring(data, o[2 * i + 1]), 0);
		assert_int_equal(buf_put_cstring(list, o[2 * i]), 0);
		assert_int_equal(buf_put_stringb(list, data), 0);
	}
	assert_int_equal(buf_put_stringb(b, list), 0);
	buf_free(list);
	buf_free(data);
}

static int raw_parse(const struct raw *r, struct cert **ret)
{
	struct buf *b = buf_new(CERT_BLOB_MAX), *pl = buf_new(4096), *sb;
	uint8_t nonce[32] = {1}, *sig = NULL;
	size_t fl, sl, i;
	const uint8_t *fields = key_fields(user_ed, &fl);
	int rc;

	assert_int_equal(buf_put_cstring(b, r->type ? r->type : "ssh-ed25519-cert-v01@openssh.com"),
	                 0);
	assert_int_equal(buf_put_string(b, nonce, sizeof(nonce)), 0);
	assert_int_equal(buf_put(b, fields, fl), 0);
	assert_int_equal(buf_put_u64(b, 1), 0);
	assert_int_equal(buf_put_u32(b, r->cert_type ? r->cert_type : CERT_TYPE_USER), 0);
	if (r->key_id != NULL)
		assert_int_equal(buf_put_string(b, r->key_id, r->key_id_len), 0);
	else
		assert_int_equal(buf_put_cstring(b, "raw"), 0);
	for (i = 0; i < r->nprincipals; i++)
		assert_int_equal(buf_put_cstring(pl, r->principals[i]), 0);
	assert_int_equal(buf_put_stringb(b, pl), 0);
	assert_int_equal(buf_put_u64(b, r->va ? r->va : T0), 0);
	assert_int_equal(buf_put_u64(b, r->vb ? r->vb : T0 + 60), 0);
	put_raw_opts(b, r->crit, r->ncrit);
	put_raw_opts(b, r->ext, r->next);
	assert_int_equal(buf_put_string(b, NULL, 0), 0);
	if (r->ca_blob != NULL)
		assert_int_equal(buf_put_string(b, r->ca_blob, r->ca_blob_len), 0);
	else
		assert_int_equal(buf_put_string(b, ca_ed->blob, ca_ed->blob_len), 0);
	assert_int_equal(key_sign(ca_ed, buf_ptr(b), buf_len(b), &sig, &sl), 0);
	if (r->sig_alg != NULL) {
		/* Same signature bytes under another algorithm's name. */
		struct buf *in = buf_from(sig, sl);
		const uint8_t *raw;
		size_t rawl;

		sb = buf_new(4096);
		assert_int_equal(buf_get_string_direct(in, NULL, NULL), 0);
		assert_int_equal(buf_get_string_direct(in, &raw, &rawl), 0);
		assert_int_equal(buf_put_cstring(sb, r->sig_alg), 0);
		assert_int_equal(buf_put_string(sb, raw, rawl), 0);
		assert_int_equal(buf_put_stringb(b, sb), 0);
		buf_free(sb);
		buf_free(in);
	} else {
		assert_int_equal(buf_put_string(b, sig, sl), 0);
	}
	rc = cert_parse(buf_ptr(b), buf_len(b), ret);
	free(sig);
	buf_free(b);
	buf_free(pl);
	return rc;
}

static void test_parser_rules(void **state)
{
	static const char *const one[] = {"alice"};
	static const char *const unsorted[] = {"permit-pty", NULL, "permit-X11-forwarding", NULL};
	static const char *const dup[] = {"permit-pty", NULL, "permit-pty", NULL};
	static const char *const unknown_crit[] = {"no-such-critical", NULL};
	static const char *const bad_sa[] = {"source-address", "10.0.0.1/8"};
	static const char *const vr_value[] = {"verify-required", "yes"};
	static const char *const custom_ext[] = {"anything-goes", NULL, "x@y.example", "v"};
	static const char *const ctl_ext[] = {"x@y.example", "a\x07"};
	struct cert_check chk = {.ca = NULL, .at = T0};
	struct cert *c = NULL;
	struct raw r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.principals = one;
	r.nprincipals = 1;
	assert_int_equal(raw_parse(&r, &c), 0);
	cert_free(c);
	c = NULL;

	r.ext = unsorted;
	r.next = 2;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_BAD_OPTION);
	r.ext = dup;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_BAD_OPTION);
	r.ext = custom_ext; /* unknown extensions are legal and kept (sshd ignores them) */
	assert_int_equal(raw_parse(&r, &c), 0);
	assert_int_equal(c->extensions.n, 2);
	cert_free(c);
	c = NULL;
	r.ext = ctl_ext;
	r.next = 1;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_BAD_CHARACTER);
	r.ext = NULL;
	r.next = 0;

	r.crit = unknown_crit;
	r.ncrit = 1;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_BAD_OPTION);
	r.crit = bad_sa;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_BAD_OPTION);
	r.crit = vr_value;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_BAD_OPTION);
	r.crit = NULL;
	r.ncrit = 0;

	r.va = T0 + 10;
	r.vb = T0 + 10;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_BAD_VALIDITY);
	r.va = r.vb = 0;

	r.key_id = (const uint8_t *)"a\0b";
	r.key_id_len = 3;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_EMBEDDED_NUL);
	r.key_id = (const uint8_t *)"a\x1b[2Jb";
	r.key_id_len = 6;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_BAD_CHARACTER);
	r.key_id = NULL;

	r.cert_type = 3;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_TYPE);
	r.cert_type = CERT_TYPE_HOST;
	assert_int_equal(raw_parse(&r, &c), 0);
	chk.ca = ca_ed;
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_TYPE);
	cert_free(c);
	c = NULL;
	r.cert_type = 0;

	r.type = "ssh-dss-cert-v01@openssh.com";
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_KEY_TYPE_UNKNOWN);
	r.type = "ssh-rsa-cert-v01@openssh.com"; /* label says RSA, fields are Ed25519 */
	assert_int_not_equal(raw_parse(&r, &c), 0);
	r.type = NULL;

	r.sig_alg = "rsa-sha2-512";
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_SIG_ALG_MISMATCH);
	r.sig_alg = NULL;

	/* Empty principals parse (inspect must show them) but never verify. */
	r.nprincipals = 0;
	assert_int_equal(raw_parse(&r, &c), 0);
	assert_int_equal(c->nprincipals, 0);
	assert_int_equal(cert_verify(c, &chk), JIT_ERR_CERT_NO_PRINCIPALS);
	cert_free(c);
	c = NULL;
	r.nprincipals = 1;

	assert_null(c);
}

static void test_ca_is_cert(void **state)
{
	struct cert_req req;
	struct cert *inner = NULL, *c = NULL;
	struct raw r;
	static const char *const one[] = {"alice"};

	(void)state;
	std_req(&req);
	assert_int_equal(cert_build(&req, ca_ed, other_ca, &inner), 0);
	memset(&r, 0, sizeof(r));
	r.principals = one;
	r.nprincipals = 1;
	r.ca_blob = inner->blob;
	r.ca_blob_len = inner->blob_len;
	assert_int_equal(raw_parse(&r, &c), JIT_ERR_CERT_CA_IS_CERT);
	assert_null(c);
	cert_free(inner);
	cert_req_clear(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_build_fields),
	        cmocka_unit_test(test_nonce_random),
	        cmocka_unit_test(test_every_ca_type),
	        cmocka_unit_test(test_build_refusals),
	        cmocka_unit_test(test_self_check),
	        cmocka_unit_test(test_check_size),
	        cmocka_unit_test(test_keygen_options),
	        cmocka_unit_test(test_verify_rules),
	        cmocka_unit_test(test_line_round_trip),
	        cmocka_unit_test(test_truncations_and_trailing),
	        cmocka_unit_test(test_parser_rules),
	        cmocka_unit_test(test_ca_is_cert),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
