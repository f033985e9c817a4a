/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <libssh/libssh.h>

#include "b64.h"
#include "bcrypt_pbkdf.h"
#include "buf.h"
#include "err.h"
#include "file.h"
#include "key.h"

struct key_info {
	enum key_type type;
	const char *name;
	const char *cert_name;
	const char *curve; /* SSH curve name (ECDSA) */
	const char *group; /* OpenSSL group name (ECDSA) */
	int nid;           /* curve (ECDSA) */
	size_t coord_len;  /* bytes of one coordinate (ECDSA), key bytes (Ed25519) */
	unsigned bits;     /* fixed size, 0 for RSA */
};

static const struct key_info key_infos[] = {
        {KEY_ED25519, "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", NULL, NULL, NID_undef, 32,
         256},
        {KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
         "nistp256", "prime256v1", NID_X9_62_prime256v1, 32, 256},
        {KEY_ECDSA_P384, "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
         "nistp384", "secp384r1", NID_secp384r1, 48, 384},
        {KEY_ECDSA_P521, "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
         "nistp521", "secp521r1", NID_secp521r1, 66, 521},
        {KEY_RSA, "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", NULL, NULL, NID_undef, 0, 0},
        {KEY_SK_ED25519, "sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com", NULL,
         NULL, NID_undef, 32, 256},
        {KEY_SK_ECDSA_P256, "sk-ecdsa-sha2-nistp256@openssh.com",
         "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "nistp256", "prime256v1",
         NID_X9_62_prime256v1, 32, 256},
};

#define KEY_NINFO (sizeof(key_infos) / sizeof(key_infos[0]))

/* Largest ECDSA coordinate (P-521) and a DER ECDSA signature on it. */
#define KEY_EC_COORD_MAX 66
#define KEY_EC_DER_MAX   160

static const char openssh_magic[] = "openssh-key-v1"; /* with its NUL: 15 bytes */
static const char openssh_begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
static const char openssh_end[] = "-----END OPENSSH PRIVATE KEY-----";
static const char *const pem_begins[] = {
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----",
};
static const char self_test_data[] = "pam_jit key self-test";

static const struct key_info *key_info_of(enum key_type t)
{
	size_t i;

	for (i = 0; i < KEY_NINFO; i++) {
		if (key_infos[i].type == t)
			return &key_infos[i];
	}
	return NULL;
}

const char *key_type_name(enum key_type t)
{
	const struct key_info *ki = key_info_of(t);

	return ki == NULL ? NULL : ki->name;
}

const char *key_cert_type_name(enum key_type t)
{
	const struct key_info *ki = key_info_of(t);

	return ki == NULL ? NULL : ki->cert_name;
}

enum key_type key_type_from_name(const char *name, size_t len)
{
	size_t i;

	if (name == NULL)
		return KEY_UNSPEC;
	for (i = 0; i < KEY_NINFO; i++) {
		if (strlen(key_infos[i].name) == len && memcmp(key_infos[i].name, name, len) == 0)
			return key_infos[i].type;
	}
	return KEY_UNSPEC;
}

enum key_type key_type_from_cert_name(const char *name, size_t len)
{
	size_t i;

	if (name == NULL)
		return KEY_UNSPEC;
	for (i = 0; i < KEY_NINFO; i++) {
		if (strlen(key_infos[i].cert_name) == len &&
		    memcmp(key_infos[i].cert_name, name, len) == 0)
			return key_infos[i].type;
	}
	return KEY_UNSPEC;
}

int key_type_can_sign(enum key_type t)
{
	switch (t) {
	case KEY_ED25519:
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
	case KEY_RSA:
		return 1;
	default:
		return 0;
	}
}

static int key_is_ecdsa(enum key_type t)
{
	return t == KEY_ECDSA_P256 || t == KEY_ECDSA_P384 || t == KEY_ECDSA_P521 ||
	       t == KEY_SK_ECDSA_P256;
}

void key_free(struct key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	EVP_PKEY_free(k->verify_pkey);
	free(k->blob);
	free(k->comment);
	free(k);
}

/* A comment or other text that may reach a log line: no control bytes. */
static int text_check(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return JIT_ERR_BAD_CHARACTER;
	}
	return 0;
}

static char *strndup_checked(const char *s, size_t len)
{
	char *c;

	if ((c = malloc(len + 1)) == NULL)
		return NULL;
	if (len > 0)
		memcpy(c, s, len);
	c[len] = '\0';
	return c;
}

/* ---- public key fields ---- */

/* Number of significant bits of a big-endian magnitude without leading zeros. */
static unsigned magnitude_bits(const uint8_t *p, size_t len)
{
	unsigned bits;
	uint8_t top;

	if (len == 0)
		return 0;
	top = p[0];
	bits = (unsigned)(len - 1) * 8;
	while (top != 0) {
		bits++;
		top >>= 1;
	}
	return bits;
}

static int rsa_check_public(const uint8_t *e, size_t elen, const uint8_t *n, size_t nlen)
{
	unsigned bits = magnitude_bits(n, nlen);

	if (bits < KEY_RSA_MIN_BITS)
		return JIT_ERR_RSA_TOO_SMALL;
	if (bits > KEY_RSA_MAX_BITS)
		return JIT_ERR_KEY_LENGTH;
	if ((n[nlen - 1] & 1) == 0)
		return JIT_ERR_KEY_INVALID;
	/* e odd and greater than 1, and not longer than n. */
	if (elen == 0 || elen > nlen || (e[elen - 1] & 1) == 0 || (elen == 1 && e[0] == 1))
		return JIT_ERR_KEY_INVALID;
	return 0;
}

/* Builds an EVP_PKEY from OSSL_PARAMs: selection is EVP_PKEY_PUBLIC_KEY or _KEYPAIR. */
static int pkey_fromdata(const char *alg, int selection, OSSL_PARAM *params, EVP_PKEY **ret)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r = JIT_ERR_LIBCRYPTO;

	*ret = NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1)
		goto out;
	if (EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1 || pkey == NULL) {
		r = JIT_ERR_KEY_INVALID;
		goto out;
	}
	*ret = pkey;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	if (r != 0)
		ERR_clear_error();
	return r;
}

static int rsa_pkey_public(const uint8_t *e, size_t elen, const uint8_t *n, size_t nlen,
                           EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	int r = JIT_ERR_LIBCRYPTO;

	*ret = NULL;
	if ((bn_n = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
	    (bn_e = BN_bin2bn(e, (int)elen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	r = pkey_fromdata("RSA", EVP_PKEY_PUBLIC_KEY, params, ret);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return r;
}

/*
 * An EC key from an uncompressed point q, and the private scalar d when
 * given; the point must lie on the curve.
 */
static int ec_pkey(const struct key_info *ki, const uint8_t *q, size_t qlen, const uint8_t *d,
                   size_t dlen, EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn_d = NULL;
	int r = JIT_ERR_LIBCRYPTO;

	*ret = NULL;
	/* Only the uncompressed form, as OpenSSH writes it: one encoding per key. */
	if (qlen != 1 + 2 * ki->coord_len || q[0] != 0x04) {
		r = JIT_ERR_EC_POINT_INVALID;
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ki->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q, qlen) != 1)
		goto out;
	if (d != NULL) {
		/* Secure BN: the parameter builder then wipes its copy. */
		if ((bn_d = BN_secure_new()) == NULL || BN_bin2bn(d, (int)dlen, bn_d) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn_d) != 1)
			goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((r = pkey_fromdata("EC", d != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params,
	                       &pkey)) != 0) {
		r = JIT_ERR_EC_POINT_INVALID;
		goto out;
	}
	r = JIT_ERR_LIBCRYPTO;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		goto out;
	if (EVP_PKEY_public_check(ctx) != 1) {
		r = JIT_ERR_EC_POINT_INVALID;
		goto out;
	}
	*ret = pkey;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(bn_d);
	if (r != 0)
		ERR_clear_error();
	return r;
}

/* The sk- application string: bounded text. */
static int sk_application(struct buf *b)
{
	const uint8_t *app;
	size_t len;
	int r;

	if ((r = buf_get_string_direct(b, &app, &len)) != 0)
		return r;
	if (len > KEY_SK_APP_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	if (len > 0 && memchr(app, '\0', len) != NULL)
		return JIT_ERR_EMBEDDED_NUL;
	return 0;
}

/*
 * Reads the public fields of ki's type from b, and into k->pkey those of
 * ECDSA and RSA keys (not Ed25519 or sk- keys: struct key).
 */
static int key_parse_fields(struct buf *b, const struct key_info *ki, struct key *k)
{
	const uint8_t *p, *q, *e, *n;
	size_t plen, qlen, elen, nlen;
	EVP_PKEY *pkey = NULL;
	int r = JIT_ERR_INTERNAL;

	switch (ki->type) {
	case KEY_ED25519:
	case KEY_SK_ED25519:
		if ((r = buf_get_string_direct(b, &p, &plen)) != 0)
			goto out;
		if (plen != ki->coord_len) {
			r = JIT_ERR_KEY_LENGTH;
			goto out;
		}
		/* Any 32 bytes; key_verify makes the EVP_PKEY when it needs one. */
		if (ki->type == KEY_SK_ED25519 && (r = sk_application(b)) != 0)
			goto out;
		break;
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
	case KEY_SK_ECDSA_P256:
		if ((r = buf_get_string_direct(b, &p, &plen)) != 0)
			goto out;
		if (plen != strlen(ki->curve) || memcmp(p, ki->curve, plen) != 0) {
			r = JIT_ERR_EC_CURVE_INVALID;
			goto out;
		}
		if ((r = buf_get_string_direct(b, &q, &qlen)) != 0 ||
		    (r = ec_pkey(ki, q, qlen, NULL, 0, &pkey)) != 0)
			goto out;
		if (ki->type == KEY_SK_ECDSA_P256) {
			/* Checked on the curve; sk- keys keep no EVP_PKEY. */
			EVP_PKEY_free(pkey);
			pkey = NULL;
			if ((r = sk_application(b)) != 0)
				goto out;
		}
		break;
	case KEY_RSA:
		/* Generous bound here; the size checks below give the precise error. */
		if ((r = buf_get_bignum2_bytes_direct(b, KEY_BLOB_MAX, &e, &elen)) != 0 ||
		    (r = buf_get_bignum2_bytes_direct(b, KEY_BLOB_MAX, &n, &nlen)) != 0 ||
		    (r = rsa_check_public(e, elen, n, nlen)) != 0 ||
		    (r = rsa_pkey_public(e, elen, n, nlen, &pkey)) != 0)
			goto out;
		break;
	default:
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	k->pkey = pkey;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	return r;
}

int key_from_fields(struct buf *b, enum key_type t, struct key **ret)
{
	const struct key_info *ki = key_info_of(t);
	struct buf *c = NULL, *blob = NULL;
	struct key *k = NULL;
	size_t avail, used;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (b == NULL || ki == NULL) {
		r = ki == NULL ? JIT_ERR_KEY_TYPE_UNKNOWN : JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	/* Parse a bounded copy so that b is untouched on failure. */
	avail = buf_len(b) > KEY_BLOB_MAX ? KEY_BLOB_MAX : buf_len(b);
	if ((c = buf_from(buf_ptr(b), avail)) == NULL || (k = calloc(1, sizeof(*k))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	k->type = t;
	if ((r = key_parse_fields(c, ki, k)) != 0)
		goto out;
	used = avail - buf_len(c);
	if ((blob = buf_new(KEY_BLOB_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_put_cstring(blob, ki->name)) != 0 ||
	    (r = buf_put(blob, buf_ptr(b), used)) != 0)
		goto out;
	if ((k->blob = malloc(buf_len(blob))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(k->blob, buf_ptr(blob), buf_len(blob));
	k->blob_len = buf_len(blob);
	if ((r = buf_consume(b, used)) != 0)
		goto out;
	*ret = k;
	k = NULL;
	r = 0;
out:
	key_free(k);
	buf_free(c);
	buf_free(blob);
	return r;
}

int key_from_blob(const uint8_t *blob, size_t len, struct key **ret)
{
	struct buf *b = NULL;
	struct key *k = NULL;
	const uint8_t *name;
	size_t name_len;
	enum key_type t;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (blob == NULL && len > 0) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (len > KEY_BLOB_MAX) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if ((b = buf_from(blob, len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_get_string_direct(b, &name, &name_len)) != 0)
		goto out;
	if ((t = key_type_from_name((const char *)name, name_len)) == KEY_UNSPEC) {
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if ((r = key_from_fields(b, t, &k)) != 0)
		goto out;
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	*ret = k;
	k = NULL;
	r = 0;
out:
	key_free(k);
	buf_free(b);
	return r;
}

const uint8_t *key_fields(const struct key *k, size_t *ret_len)
{
	size_t skip;

	*ret_len = 0;
	if (k == NULL || k->blob == NULL || k->blob_len < 4)
		return NULL;
	skip = 4 + strlen(key_type_name(k->type));
	if (skip > k->blob_len)
		return NULL;
	*ret_len = k->blob_len - skip;
	return k->blob + skip;
}

int key_equal_public(const struct key *a, const struct key *b)
{
	if (a == NULL || b == NULL || a->blob == NULL || b->blob == NULL)
		return 0;
	return a->type == b->type && a->blob_len == b->blob_len &&
	       CRYPTO_memcmp(a->blob, b->blob, a->blob_len) == 0;
}

size_t key_sig_max(const struct key *k)
{
	int size;

	if (k == NULL || !key_type_can_sign(k->type))
		return 0;
	if (k->type == KEY_ED25519)
		return 64;
	if (k->pkey == NULL || (size = EVP_PKEY_get_size(k->pkey)) <= 0)
		return 0;
	return (size_t)size;
}

unsigned key_bits(const struct key *k)
{
	const struct key_info *ki;
	int bits;

	if (k == NULL || (ki = key_info_of(k->type)) == NULL)
		return 0;
	if (k->type != KEY_RSA)
		return ki->bits;
	if (k->pkey == NULL || (bits = EVP_PKEY_get_bits(k->pkey)) <= 0)
		return 0;
	return (unsigned)bits;
}

/* ---- one-line form ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* The blob libssh makes of a base64 key: it must agree with our parse. */
static int libssh_pubkey_blob(const char *b64, enum key_type t, uint8_t **ret, size_t *ret_len)
{
	enum ssh_keytypes_e st;
	ssh_key sk = NULL;
	char *out = NULL;
	int r = JIT_ERR_LIBSSH;

	*ret = NULL;
	*ret_len = 0;
	if ((st = ssh_key_type_from_name(key_type_name(t))) == SSH_KEYTYPE_UNKNOWN ||
	    ssh_pki_import_pubkey_base64(b64, st, &sk) != SSH_OK || ssh_key_type(sk) != st ||
	    ssh_pki_export_pubkey_base64(sk, &out) != SSH_OK || out == NULL)
		goto out;
	if ((r = b64_decode(out, strlen(out), KEY_BLOB_MAX, ret, ret_len)) != 0)
		goto out;
	r = 0;
out:
	ssh_string_free_char(out);
	ssh_key_free(sk);
	return r;
}

int key_from_line(const char *line, size_t len, struct key **ret)
{
	const char *p, *end, *tok_type, *tok_b64, *comment = NULL;
	size_t type_len, b64_len, comment_len = 0, raw_len = 0, lib_len = 0;
	uint8_t *raw = NULL, *lib = NULL;
	char *b64 = NULL;
	struct key *k = NULL;
	enum key_type t;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (line == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (len > KEY_FILE_MAX) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if (len > 0 && memchr(line, '\0', len) != NULL) {
		r = JIT_ERR_EMBEDDED_NUL;
		goto out;
	}
	p = line;
	end = line + len;
	while (end > p && (is_space(end[-1]) || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	while (p < end && is_space(*p))
		p++;
	tok_type = p;
	while (p < end && !is_space(*p))
		p++;
	type_len = (size_t)(p - tok_type);
	while (p < end && is_space(*p))
		p++;
	tok_b64 = p;
	while (p < end && !is_space(*p))
		p++;
	b64_len = (size_t)(p - tok_b64);
	while (p < end && is_space(*p))
		p++;
	if (p < end) {
		comment = p;
		comment_len = (size_t)(end - p);
		if ((r = text_check(comment, comment_len)) != 0)
			goto out;
	}
	if ((t = key_type_from_name(tok_type, type_len)) == KEY_UNSPEC) {
		r = type_len == 0 ? JIT_ERR_INVALID_FORMAT : JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if (b64_len == 0) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	/* Our strict decode and parse give the precise error... */
	if ((r = b64_decode(tok_b64, b64_len, KEY_BLOB_MAX, &raw, &raw_len)) != 0 ||
	    (r = key_from_blob(raw, raw_len, &k)) != 0)
		goto out;
	if (k->type != t) {
		r = JIT_ERR_KEY_TYPE_MISMATCH;
		goto out;
	}
	/* ...and libssh, as ssh reads it, must see the very same key. */
	if ((b64 = strndup_checked(tok_b64, b64_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = libssh_pubkey_blob(b64, t, &lib, &lib_len)) != 0)
		goto out;
	if (lib_len != k->blob_len || memcmp(lib, k->blob, lib_len) != 0) {
		r = JIT_ERR_KEY_INVALID;
		goto out;
	}
	if (comment != NULL && (k->comment = strndup_checked(comment, comment_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	*ret = k;
	k = NULL;
	r = 0;
out:
	key_free(k);
	free(raw);
	free(lib);
	free(b64);
	return r;
}

int key_load_public(const char *path, struct key **ret)
{
	uint8_t *data = NULL;
	const char *p, *end, *nl;
	size_t len = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (path == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = file_read(path, KEY_FILE_MAX, 0, &data, &len)) != 0)
		goto out;
	p = (const char *)data;
	end = p + len;
	r = JIT_ERR_INVALID_FORMAT;
	/* The first line that is neither blank nor a comment. */
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		while (p < nl && (is_space(*p) || *p == '\r'))
			p++;
		if (p < nl && *p != '#') {
			r = key_from_line(p, (size_t)(nl - p), ret);
			goto out;
		}
		p = nl < end ? nl + 1 : end;
	}
out:
	free(data);
	return r;
}

int key_to_line(const struct key *k, const char *comment, char **ret)
{
	const char *name;
	char *b64 = NULL, *line = NULL;
	size_t len, clen = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (k == NULL || k->blob == NULL || (name = key_type_name(k->type)) == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (comment != NULL) {
		clen = strlen(comment);
		if ((r = text_check(comment, clen)) != 0)
			goto out;
	}
	if ((r = b64_encode(k->blob, k->blob_len, &b64)) != 0)
		goto out;
	len = strlen(name) + 1 + strlen(b64) + (clen > 0 ? 1 + clen : 0) + 1;
	if ((line = malloc(len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (clen > 0)
		snprintf(line, len, "%s %s %s", name, b64, comment);
	else
		snprintf(line, len, "%s %s", name, b64);
	*ret = line;
	line = NULL;
	r = 0;
out:
	free(b64);
	free(line);
	return r;
}

int key_fingerprint(const struct key *k, char **ret)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char *b64 = NULL, *fp = NULL;
	size_t n;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (k == NULL || k->blob == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (EVP_Digest(k->blob, k->blob_len, md, &md_len, EVP_sha256(), NULL) != 1) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	if ((r = b64_encode(md, md_len, &b64)) != 0)
		goto out;
	/* ssh-keygen prints it without padding. */
	n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	if ((fp = malloc(7 + n + 1)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(fp, "SHA256:", 7);
	memcpy(fp + 7, b64, n);
	fp[7 + n] = '\0';
	*ret = fp;
	fp = NULL;
	r = 0;
out:
	free(b64);
	free(fp);
	return r;
}

/* ---- private keys ---- */

static int bn_param(const EVP_PKEY *pkey, const char *name, BIGNUM **ret)
{
	*ret = NULL;
	if (EVP_PKEY_get_bn_param(pkey, name, ret) != 1 || *ret == NULL) {
		ERR_clear_error();
		return JIT_ERR_LIBCRYPTO;
	}
	return 0;
}

/* An mpint from a BIGNUM; the temporary copy is wiped (it may be secret). */
static int put_bn(struct buf *b, const BIGNUM *bn)
{
	uint8_t *tmp;
	size_t len = (size_t)BN_num_bytes(bn);
	int r;

	if ((tmp = malloc(len + 1)) == NULL)
		return JIT_ERR_ALLOC;
	BN_bn2bin(bn, tmp);
	r = buf_put_bignum2_bytes(b, tmp, len);
	OPENSSL_clear_free(tmp, len + 1);
	return r;
}

/* The uncompressed point of an EC key, whatever form it was loaded in. */
static int ec_point(const struct key_info *ki, const EVP_PKEY *pkey, uint8_t *q, size_t qlen)
{
	BIGNUM *x = NULL, *y = NULL;
	int r = JIT_ERR_INTERNAL;

	if (qlen != 1 + 2 * ki->coord_len)
		goto out;
	if ((r = bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x)) != 0 ||
	    (r = bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) != 0)
		goto out;
	q[0] = 0x04;
	if (BN_bn2binpad(x, q + 1, (int)ki->coord_len) < 0 ||
	    BN_bn2binpad(y, q + 1 + ki->coord_len, (int)ki->coord_len) < 0) {
		r = JIT_ERR_KEY_INVALID;
		goto out;
	}
	r = 0;
out:
	BN_free(x);
	BN_free(y);
	return r;
}

/* Which of our types an EVP_PKEY is; only CA-capable types are known. */
static int key_type_of_pkey(const EVP_PKEY *pkey, enum key_type *ret)
{
	char group[64];
	size_t glen = 0, i;
	int nid, bits;

	*ret = KEY_UNSPEC;
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*ret = KEY_ED25519;
		return 0;
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < KEY_RSA_MIN_BITS)
			return JIT_ERR_RSA_TOO_SMALL;
		if (bits > KEY_RSA_MAX_BITS)
			return JIT_ERR_KEY_LENGTH;
		*ret = KEY_RSA;
		return 0;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		/* Explicit curve parameters have no name and are refused. */
		if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1) {
			ERR_clear_error();
			return JIT_ERR_EC_CURVE_INVALID;
		}
		if ((nid = OBJ_sn2nid(group)) == NID_undef)
			nid = EC_curve_nist2nid(group);
		for (i = 0; i < KEY_NINFO; i++) {
			if (key_infos[i].nid == nid && key_type_can_sign(key_infos[i].type)) {
				*ret = key_infos[i].type;
				return 0;
			}
		}
		return JIT_ERR_EC_CURVE_INVALID;
	}
	return JIT_ERR_KEY_TYPE_UNKNOWN;
}

/* The public blob of a CA-capable EVP_PKEY. */
static int blob_of_pkey(enum key_type t, const EVP_PKEY *pkey, struct buf *b)
{
	const struct key_info *ki = key_info_of(t);
	uint8_t pk[32], q[1 + 2 * KEY_EC_COORD_MAX];
	size_t pklen = sizeof(pk);
	BIGNUM *n = NULL, *e = NULL;
	int r = JIT_ERR_INTERNAL;

	if (ki == NULL || (r = buf_put_cstring(b, ki->name)) != 0)
		goto out;
	switch (t) {
	case KEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(pkey, pk, &pklen) != 1 || pklen != sizeof(pk)) {
			r = JIT_ERR_LIBCRYPTO;
			goto out;
		}
		r = buf_put_string(b, pk, pklen);
		break;
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
		if ((r = ec_point(ki, pkey, q, 1 + 2 * ki->coord_len)) != 0 ||
		    (r = buf_put_cstring(b, ki->curve)) != 0)
			goto out;
		r = buf_put_string(b, q, 1 + 2 * ki->coord_len);
		break;
	case KEY_RSA:
		if ((r = bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n)) != 0 ||
		    (r = bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) != 0 || (r = put_bn(b, e)) != 0)
			goto out;
		r = put_bn(b, n);
		break;
	default:
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		break;
	}
out:
	BN_free(n);
	BN_free(e);
	return r;
}

/* An Ed25519 key's public EVP_PKEY, from the last 32 bytes of its blob (struct key). */
static EVP_PKEY *ed25519_public_pkey(const struct key *k)
{
	if (k->type != KEY_ED25519 || k->blob_len < 32)
		return NULL;
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->blob + k->blob_len - 32, 32);
}

/*
 * Wraps a private EVP_PKEY (reference taken on success) into a key: the
 * public half goes through key_from_blob like every other key and keeps a
 * public-only object made from that blob (verify_pkey), and a signature
 * made with the private object and checked with that one proves the
 * halves belong together.
 */
static int key_from_private_pkey(EVP_PKEY *pkey, const char *comment, size_t comment_len,
                                 struct key **ret)
{
	struct buf *b = NULL;
	struct key *k = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	enum key_type t;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if ((r = key_type_of_pkey(pkey, &t)) != 0)
		goto out;
	if ((b = buf_new(KEY_BLOB_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = blob_of_pkey(t, pkey, b)) != 0 ||
	    (r = key_from_blob(buf_ptr(b), buf_len(b), &k)) != 0)
		goto out;
	/* ECDSA and RSA: the object key_from_blob made; Ed25519: one from the blob's key. */
	if ((k->verify_pkey = k->pkey) == NULL && t == KEY_ED25519 &&
	    (k->verify_pkey = ed25519_public_pkey(k)) == NULL) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	k->pkey = NULL;
	if (k->verify_pkey == NULL || EVP_PKEY_up_ref(pkey) != 1) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	k->pkey = pkey;
	k->has_private = 1;
	if (comment != NULL && comment_len > 0 &&
	    (k->comment = strndup_checked(comment, comment_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	/* A key OpenSSL cannot sign with is as broken as one whose halves differ. */
	if ((r = key_sign(k, (const uint8_t *)self_test_data, sizeof(self_test_data) - 1, &sig,
	                  &sig_len)) != 0 ||
	    (r = key_verify_public(k, sig, sig_len, (const uint8_t *)self_test_data,
	                           sizeof(self_test_data) - 1)) != 0) {
		if (r != JIT_ERR_ALLOC)
			r = JIT_ERR_KEY_INVALID;
		goto out;
	}
	*ret = k;
	k = NULL;
	r = 0;
out:
	free(sig);
	key_free(k);
	buf_free(b);
	return r;
}

struct pem_pass {
	const char *passphrase;
	int asked;
};

/* OpenSSL asks here; never let it fall back to prompting on a terminal. */
static int pem_pass_cb(char *out, int size, int rwflag, void *u)
{
	struct pem_pass *pp = u;
	size_t len;

	(void)rwflag;
	pp->asked = 1;
	if (pp->passphrase == NULL || size <= 0)
		return -1;
	len = strlen(pp->passphrase);
	if (len > (size_t)size)
		return -1;
	memcpy(out, pp->passphrase, len);
	return (int)len;
}

static int pem_parse(const char *text, size_t len, const char *passphrase, struct key **ret)
{
	struct pem_pass pp = {passphrase, 0};
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if ((bio = BIO_new_mem_buf(text, (int)len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((pkey = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_cb, &pp)) == NULL) {
		if (pp.asked)
			r = passphrase == NULL ? JIT_ERR_KEY_ENCRYPTED
			                       : JIT_ERR_KEY_WRONG_PASSPHRASE;
		else
			r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	r = key_from_private_pkey(pkey, NULL, 0, ret);
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	ERR_clear_error();
	return r;
}

static BIGNUM *bn_secret(const uint8_t *p, size_t len)
{
	BIGNUM *bn;

	if ((bn = BN_secure_new()) == NULL)
		return NULL;
	BN_set_flags(bn, BN_FLG_CONSTTIME);
	if (BN_bin2bn(p, (int)len, bn) == NULL) {
		BN_clear_free(bn);
		return NULL;
	}
	return bn;
}

/* RSA private key from OpenSSH's n, e, d, iqmp, p, q; the CRT exponents are derived. */
static int rsa_pkey_private(struct buf *b, EVP_PKEY **ret)
{
	const uint8_t *v[6];
	size_t vlen[6], i;
	BIGNUM *bn[6] = {NULL}, *dmp1 = NULL, *dmq1 = NULL, *t = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BN_CTX *bnctx = NULL;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	for (i = 0; i < 6; i++) {
		if ((r = buf_get_bignum2_bytes_direct(b, KEY_BLOB_MAX, &v[i], &vlen[i])) != 0)
			goto out;
	}
	/* v: n, e, d, iqmp, p, q */
	if ((r = rsa_check_public(v[1], vlen[1], v[0], vlen[0])) != 0)
		goto out;
	r = JIT_ERR_LIBCRYPTO;
	for (i = 0; i < 6; i++) {
		if ((bn[i] = bn_secret(v[i], vlen[i])) == NULL)
			goto out;
	}
	if ((bnctx = BN_CTX_secure_new()) == NULL || (dmp1 = BN_secure_new()) == NULL ||
	    (dmq1 = BN_secure_new()) == NULL || (t = BN_secure_new()) == NULL)
		goto out;
	BN_set_flags(dmp1, BN_FLG_CONSTTIME);
	BN_set_flags(dmq1, BN_FLG_CONSTTIME);
	BN_set_flags(t, BN_FLG_CONSTTIME);
	if (BN_is_zero(bn[4]) || BN_is_zero(bn[5]) || BN_is_one(bn[4]) || BN_is_one(bn[5])) {
		r = JIT_ERR_KEY_INVALID;
		goto out;
	}
	if (BN_sub(t, bn[4], BN_value_one()) != 1 || BN_mod(dmp1, bn[2], t, bnctx) != 1 ||
	    BN_sub(t, bn[5], BN_value_one()) != 1 || BN_mod(dmq1, bn[2], t, bnctx) != 1)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn[0]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn[1]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bn[2]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, bn[4]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, bn[5]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bn[3]) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	r = pkey_fromdata("RSA", EVP_PKEY_KEYPAIR, params, ret);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(bnctx);
	for (i = 0; i < 6; i++)
		BN_clear_free(bn[i]);
	BN_clear_free(dmp1);
	BN_clear_free(dmq1);
	BN_clear_free(t);
	if (r != 0)
		ERR_clear_error();
	return r;
}

/* The private fields of one key in an openssh-key-v1 private section. */
static int openssh_private_fields(struct buf *b, const struct key_info *ki, EVP_PKEY **ret)
{
	const uint8_t *pk, *sk, *curve, *q, *d;
	uint8_t derived[32];
	size_t pklen, sklen, curve_len, qlen, dlen, derived_len = sizeof(derived);
	EVP_PKEY *pkey = NULL;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	switch (ki->type) {
	case KEY_ED25519:
		if ((r = buf_get_string_direct(b, &pk, &pklen)) != 0 ||
		    (r = buf_get_string_direct(b, &sk, &sklen)) != 0)
			goto out;
		/* sk is seed || pk */
		if (pklen != 32 || sklen != 64) {
			r = JIT_ERR_KEY_LENGTH;
			goto out;
		}
		if (memcmp(sk + 32, pk, 32) != 0) {
			r = JIT_ERR_KEY_INVALID;
			goto out;
		}
		if ((pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32)) == NULL ||
		    EVP_PKEY_get_raw_public_key(pkey, derived, &derived_len) != 1) {
			ERR_clear_error();
			r = JIT_ERR_LIBCRYPTO;
			goto out;
		}
		if (derived_len != 32 || memcmp(derived, pk, 32) != 0) {
			r = JIT_ERR_KEY_INVALID;
			goto out;
		}
		break;
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
		if ((r = buf_get_string_direct(b, &curve, &curve_len)) != 0)
			goto out;
		if (curve_len != strlen(ki->curve) || memcmp(curve, ki->curve, curve_len) != 0) {
			r = JIT_ERR_EC_CURVE_INVALID;
			goto out;
		}
		if ((r = buf_get_string_direct(b, &q, &qlen)) != 0 ||
		    (r = buf_get_bignum2_bytes_direct(b, ki->coord_len, &d, &dlen)) != 0)
			goto out;
		if (dlen == 0) {
			r = JIT_ERR_KEY_INVALID;
			goto out;
		}
		if ((r = ec_pkey(ki, q, qlen, d, dlen, &pkey)) != 0)
			goto out;
		break;
	case KEY_RSA:
		if ((r = rsa_pkey_private(b, &pkey)) != 0)
			goto out;
		break;
	default:
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	*ret = pkey;
	pkey = NULL;
	r = 0;
out:
	OPENSSL_cleanse(derived, sizeof(derived));
	EVP_PKEY_free(pkey);
	return r;
}

/*
 * The private section in the clear: check ints, one key, comment, padding.
 * Check ints that differ after decryption mean a wrong passphrase.
 */
static int openssh_private_section(const uint8_t *sec, size_t sec_len, const struct key *pub,
                                   int decrypted, struct key **ret)
{
	const struct key_info *ki;
	const uint8_t *name, *comment;
	size_t name_len, comment_len, i;
	uint32_t check1, check2;
	struct buf *b = NULL;
	EVP_PKEY *pkey = NULL;
	struct key *k = NULL;
	enum key_type t;
	uint8_t pad;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	/* Every cipher's block (8 for "none", 3des and chacha20, 16 for AES) is a multiple of 8. */
	if (sec_len < 8 || sec_len % 8 != 0) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((b = buf_from(sec, sec_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_get_u32(b, &check1)) != 0 || (r = buf_get_u32(b, &check2)) != 0)
		goto out;
	if (check1 != check2) {
		r = decrypted ? JIT_ERR_KEY_WRONG_PASSPHRASE : JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = buf_get_string_direct(b, &name, &name_len)) != 0)
		goto out;
	t = key_type_from_name((const char *)name, name_len);
	if (!key_type_can_sign(t) || (ki = key_info_of(t)) == NULL) {
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if (t != pub->type) {
		r = JIT_ERR_KEY_TYPE_MISMATCH;
		goto out;
	}
	if ((r = openssh_private_fields(b, ki, &pkey)) != 0 ||
	    (r = buf_get_string_direct(b, &comment, &comment_len)) != 0)
		goto out;
	if (comment_len > 0 && memchr(comment, '\0', comment_len) != NULL) {
		r = JIT_ERR_EMBEDDED_NUL;
		goto out;
	}
	/* Padding 1, 2, 3, ... to the cipher's block size (libssh pads to 16). */
	for (i = 0; buf_len(b) > 0; i++) {
		if ((r = buf_get_u8(b, &pad)) != 0)
			goto out;
		if (pad != (uint8_t)(i + 1) || i >= 15) {
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
	}
	if ((r = key_from_private_pkey(pkey, (const char *)comment, comment_len, &k)) != 0)
		goto out;
	if (!key_equal_public(k, pub)) {
		r = JIT_ERR_KEY_INVALID;
		goto out;
	}
	*ret = k;
	k = NULL;
	r = 0;
out:
	key_free(k);
	EVP_PKEY_free(pkey);
	buf_free(b);
	return r;
}

/*
 * The ciphers ssh-keygen encrypts key files with (ssh -Q cipher). The KDF
 * gives key_len bytes of key, then iv_len bytes of IV; an AEAD cipher's
 * tag follows the encrypted section in the file, outside its length.
 */
struct openssh_cipher {
	const char *name;
	const EVP_CIPHER *(*evp)(void); /* NULL: chacha20-poly1305, built below */
	size_t block_len, key_len, iv_len, tag_len;
};

static const struct openssh_cipher openssh_ciphers[] = {
        {"3des-cbc", EVP_des_ede3_cbc, 8, 24, 8, 0},
        {"aes128-cbc", EVP_aes_128_cbc, 16, 16, 16, 0},
        {"aes192-cbc", EVP_aes_192_cbc, 16, 24, 16, 0},
        {"aes256-cbc", EVP_aes_256_cbc, 16, 32, 16, 0},
        {"aes128-ctr", EVP_aes_128_ctr, 16, 16, 16, 0},
        {"aes192-ctr", EVP_aes_192_ctr, 16, 24, 16, 0},
        {"aes256-ctr", EVP_aes_256_ctr, 16, 32, 16, 0},
        {"aes128-gcm@openssh.com", EVP_aes_128_gcm, 16, 16, 12, 16},
        {"aes256-gcm@openssh.com", EVP_aes_256_gcm, 16, 32, 12, 16},
        /* Two ChaCha20 keys, as for SSH packets; a key file uses only the first. */
        {"chacha20-poly1305@openssh.com", NULL, 8, 64, 0, 16},
};

/* The longest key and IV any of them takes from the KDF. */
#define OPENSSH_KDF_OUT_MAX 64

static const struct openssh_cipher *openssh_cipher_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(openssh_ciphers) / sizeof(openssh_ciphers[0]); i++) {
		if (strcmp(name, openssh_ciphers[i].name) == 0)
			return &openssh_ciphers[i];
	}
	return NULL;
}

/*
 * AES and 3DES through EVP, without padding (the section is whole blocks).
 * GCM checks its tag in the final step; until that passes, what was
 * decrypted is not used.
 */
static int evp_decrypt(const struct openssh_cipher *c, const uint8_t *kiv, const uint8_t *in,
                       size_t len, const uint8_t *tag, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, fin = 0, r = JIT_ERR_LIBCRYPTO;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, c->evp(), NULL, NULL, NULL) != 1)
		goto out;
	if (EVP_CIPHER_CTX_get_key_length(ctx) != (int)c->key_len ||
	    EVP_CIPHER_CTX_get_iv_length(ctx) != (int)c->iv_len) {
		r = JIT_ERR_INTERNAL;
		goto out;
	}
	if (EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, kiv, kiv + c->key_len) != 1 ||
	    (c->tag_len > 0 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)c->tag_len, (void *)tag) != 1) ||
	    EVP_DecryptUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1) {
		/* Without padding, only a GCM tag can fail here. */
		if (c->tag_len > 0)
			r = JIT_ERR_KEY_WRONG_PASSPHRASE;
		goto out;
	}
	if ((size_t)n + (size_t)fin != len)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/*
 * chacha20-poly1305@openssh.com on a key file, which is packet number 0:
 * the nonce is 0, keystream block 0 keys Poly1305 over the ciphertext, and
 * the payload is encrypted from block 1 on. The tag is checked first.
 * OpenSSL's 16-byte ChaCha20 IV is the 32-bit block counter (little-endian)
 * then the nonce, so these IVs are 0 and 1 followed by zeros.
 */
static int chachapoly_decrypt(const uint8_t *key, const uint8_t *in, size_t len, const uint8_t *tag,
                              uint8_t *out)
{
	static const uint8_t zero[32];
	uint8_t iv[16] = {0}, poly_key[32], mac[16];
	EVP_CIPHER_CTX *ctx = NULL;
	EVP_MAC *poly = NULL;
	EVP_MAC_CTX *mctx = NULL;
	size_t mac_len = 0;
	int n = 0, r = JIT_ERR_LIBCRYPTO;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, poly_key, &n, zero, sizeof(zero)) != 1 || n != 32)
		goto out;
	if ((poly = EVP_MAC_fetch(NULL, "POLY1305", NULL)) == NULL ||
	    (mctx = EVP_MAC_CTX_new(poly)) == NULL ||
	    EVP_MAC_init(mctx, poly_key, sizeof(poly_key), NULL) != 1 ||
	    EVP_MAC_update(mctx, in, len) != 1 ||
	    EVP_MAC_final(mctx, mac, &mac_len, sizeof(mac)) != 1 || mac_len != sizeof(mac))
		goto out;
	if (CRYPTO_memcmp(mac, tag, sizeof(mac)) != 0) {
		r = JIT_ERR_KEY_WRONG_PASSPHRASE;
		goto out;
	}
	iv[0] = 1;
	if (EVP_DecryptInit_ex(ctx, EVP_chacha20(), NULL, key, iv) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &n, in, (int)len) != 1 || (size_t)n != len)
		goto out;
	r = 0;
out:
	OPENSSL_cleanse(poly_key, sizeof(poly_key));
	OPENSSL_cleanse(mac, sizeof(mac));
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(poly);
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/* bcrypt's kdfoptions: string salt, uint32 rounds, and nothing after. */
static int openssh_bcrypt_options(struct buf *b, const uint8_t **ret_salt, size_t *ret_salt_len,
                                  uint32_t *ret_rounds)
{
	const uint8_t *salt;
	size_t salt_len;
	uint32_t rounds;
	int r;

	*ret_salt = NULL;
	*ret_salt_len = 0;
	*ret_rounds = 0;
	if ((r = buf_get_string_direct(b, &salt, &salt_len)) != 0 ||
	    (r = buf_get_u32(b, &rounds)) != 0)
		return r;
	if (buf_len(b) != 0)
		return JIT_ERR_TRAILING_DATA;
	if (salt_len == 0 || salt_len > BCRYPT_PBKDF_SALT_MAX || rounds == 0)
		return JIT_ERR_INVALID_FORMAT;
	/* Valid but too slow to try: the CA would hang on it. */
	if (rounds > BCRYPT_PBKDF_ROUNDS_MAX)
		return JIT_ERR_KEY_UNSUPPORTED_CIPHER;
	*ret_salt = salt;
	*ret_salt_len = salt_len;
	*ret_rounds = rounds;
	return 0;
}

/* The encrypted private section (sec_len whole blocks) decrypted into a new buffer. */
static int openssh_decrypt(const struct openssh_cipher *c, const uint8_t *salt, size_t salt_len,
                           uint32_t rounds, const char *passphrase, const uint8_t *sec,
                           size_t sec_len, const uint8_t *tag, uint8_t **ret)
{
	uint8_t kiv[OPENSSH_KDF_OUT_MAX], *plain = NULL;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	/* ssh-keygen never encrypts with an empty passphrase, and bcrypt refuses one. */
	if (*passphrase == '\0') {
		r = JIT_ERR_KEY_WRONG_PASSPHRASE;
		goto out;
	}
	if (c->key_len + c->iv_len > sizeof(kiv))
		goto out;
	if ((plain = malloc(sec_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = bcrypt_pbkdf((const uint8_t *)passphrase, strlen(passphrase), salt, salt_len,
	                      rounds, kiv, c->key_len + c->iv_len)) != 0)
		goto out;
	if (c->evp == NULL)
		r = chachapoly_decrypt(kiv, sec, sec_len, tag, plain);
	else
		r = evp_decrypt(c, kiv, sec, sec_len, tag, plain);
	if (r != 0)
		goto out;
	*ret = plain;
	plain = NULL;
	r = 0;
out:
	OPENSSL_cleanse(kiv, sizeof(kiv));
	if (plain != NULL)
		OPENSSL_clear_free(plain, sec_len);
	return r;
}

/* The openssh-key-v1 container (decoded). */
static int openssh_container(const uint8_t *raw, size_t raw_len, const char *passphrase,
                             struct key **ret)
{
	const struct openssh_cipher *c = NULL;
	const uint8_t *kdfopts, *pubblob, *sec, *tag = NULL, *salt = NULL;
	size_t kdfopts_len, pub_len, sec_len, salt_len = 0;
	uint8_t *plain = NULL;
	char *cipher = NULL, *kdf = NULL;
	struct key *pub = NULL, *k = NULL;
	struct buf *b = NULL, *kb = NULL;
	uint32_t nkeys, rounds = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if ((b = buf_from(raw, raw_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (buf_len(b) < sizeof(openssh_magic) ||
	    memcmp(buf_ptr(b), openssh_magic, sizeof(openssh_magic)) != 0) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = buf_consume(b, sizeof(openssh_magic))) != 0 ||
	    (r = buf_get_cstring(b, &cipher, NULL)) != 0 ||
	    (r = buf_get_cstring(b, &kdf, NULL)) != 0 ||
	    (r = buf_get_string_direct(b, &kdfopts, &kdfopts_len)) != 0 ||
	    (r = buf_get_u32(b, &nkeys)) != 0)
		goto out;
	if (nkeys != 1) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = buf_get_string_direct(b, &pubblob, &pub_len)) != 0 ||
	    (r = buf_get_string_direct(b, &sec, &sec_len)) != 0)
		goto out;
	if (strcmp(cipher, "none") == 0) {
		if (strcmp(kdf, "none") != 0 || kdfopts_len != 0) {
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
	} else {
		/* All of the encryption is checked before a passphrase is asked for. */
		if ((c = openssh_cipher_find(cipher)) == NULL) {
			r = JIT_ERR_KEY_UNSUPPORTED_CIPHER;
			goto out;
		}
		if (strcmp(kdf, "bcrypt") != 0) {
			r = strcmp(kdf, "none") == 0 ? JIT_ERR_INVALID_FORMAT
			                             : JIT_ERR_KEY_UNSUPPORTED_CIPHER;
			goto out;
		}
		if ((kb = buf_from(kdfopts, kdfopts_len)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if ((r = openssh_bcrypt_options(kb, &salt, &salt_len, &rounds)) != 0)
			goto out;
		if (sec_len < c->block_len || sec_len % c->block_len != 0) {
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
		if (buf_len(b) < c->tag_len) {
			r = JIT_ERR_MESSAGE_INCOMPLETE;
			goto out;
		}
		tag = buf_ptr(b);
		if ((r = buf_consume(b, c->tag_len)) != 0)
			goto out;
	}
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	if ((r = key_from_blob(pubblob, pub_len, &pub)) != 0)
		goto out;
	if (!key_type_can_sign(pub->type)) {
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if (c != NULL) {
		if (passphrase == NULL) {
			r = JIT_ERR_KEY_ENCRYPTED;
			goto out;
		}
		if ((r = openssh_decrypt(c, salt, salt_len, rounds, passphrase, sec, sec_len, tag,
		                         &plain)) != 0)
			goto out;
		sec = plain;
	}
	if ((r = openssh_private_section(sec, sec_len, pub, c != NULL, &k)) != 0)
		goto out;
	*ret = k;
	k = NULL;
	r = 0;
out:
	if (plain != NULL)
		OPENSSL_clear_free(plain, sec_len);
	key_free(pub);
	key_free(k);
	free(cipher);
	free(kdf);
	buf_free(kb);
	buf_free(b);
	return r;
}

/* Base64 body between the OpenSSH armor lines, decoded. */
static int openssh_unarmor(const char *text, size_t len, uint8_t **ret, size_t *ret_len)
{
	const char *p = text + strlen(openssh_begin), *end = text + len, *stop;
	size_t n = 0, endlen = strlen(openssh_end);
	char *body = NULL;
	int r = JIT_ERR_INVALID_FORMAT;

	*ret = NULL;
	*ret_len = 0;
	if (p < end && *p == '\r')
		p++;
	if (p >= end || *p != '\n')
		goto out;
	p++;
	/* The end marker starts a line. */
	for (stop = p; stop < end; stop++) {
		if ((stop == p || stop[-1] == '\n') && (size_t)(end - stop) >= endlen &&
		    memcmp(stop, openssh_end, endlen) == 0)
			break;
	}
	if (stop >= end)
		goto out;
	/* Only line ends may follow. */
	for (end = stop + endlen; end < text + len; end++) {
		if (*end != '\n' && *end != '\r')
			goto out;
	}
	if ((body = malloc((size_t)(stop - p) + 1)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (; p < stop; p++) {
		if (*p != '\n' && *p != '\r')
			body[n++] = *p;
	}
	r = b64_decode(body, n, KEY_FILE_MAX, ret, ret_len);
out:
	if (body != NULL)
		OPENSSL_clear_free(body, n + 1);
	return r;
}

static int parse_private_text(const char *text, size_t len, const char *passphrase,
                              struct key **ret)
{
	uint8_t *raw = NULL;
	size_t raw_len = 0, i, skip = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (len > KEY_FILE_MAX) {
		r = JIT_ERR_FILE_TOO_LARGE;
		goto out;
	}
	if (len > 0 && memchr(text, '\0', len) != NULL) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	while (skip < len && (text[skip] == ' ' || text[skip] == '\t' || text[skip] == '\r' ||
	                      text[skip] == '\n'))
		skip++;
	text += skip;
	len -= skip;
	if (len >= strlen(openssh_begin) &&
	    memcmp(text, openssh_begin, strlen(openssh_begin)) == 0) {
		if ((r = openssh_unarmor(text, len, &raw, &raw_len)) != 0)
			goto out;
		r = openssh_container(raw, raw_len, passphrase, ret);
		goto out;
	}
	for (i = 0; i < sizeof(pem_begins) / sizeof(pem_begins[0]); i++) {
		if (len >= strlen(pem_begins[i]) &&
		    memcmp(text, pem_begins[i], strlen(pem_begins[i])) == 0) {
			r = pem_parse(text, len, passphrase, ret);
			goto out;
		}
	}
	r = (len > 11 && memcmp(text, "-----BEGIN ", 11) == 0) ? JIT_ERR_KEY_TYPE_UNKNOWN
	                                                       : JIT_ERR_INVALID_FORMAT;
out:
	if (raw != NULL)
		OPENSSL_clear_free(raw, raw_len);
	return r;
}

int key_parse_private(const uint8_t *data, size_t len, const char *passphrase, struct key **ret)
{
	*ret = NULL;
	if (data == NULL && len > 0)
		return JIT_ERR_INVALID_ARGUMENT;
	return parse_private_text((const char *)data, len, passphrase, ret);
}

int key_load_private(const char *path, const char *passphrase, struct key **ret)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (path == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = file_read(path, KEY_FILE_MAX, FILE_SECRET, &data, &len)) != 0)
		goto out;
	r = key_parse_private(data, len, passphrase, ret);
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	return r;
}

/* ---- generation and writing ---- */

int key_generate(enum key_type t, unsigned bits, struct key **ret)
{
	const struct key_info *ki = NULL;
	EVP_PKEY *pkey = NULL;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	switch (t) {
	case KEY_ED25519:
		if (bits != 0 && bits != 256) {
			r = JIT_ERR_KEY_LENGTH;
			goto out;
		}
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
		/* bits, when given, picks the curve (ssh-keygen -t ecdsa -b N). */
		ki = key_info_of(t);
		if (bits != 0) {
			for (ki = NULL, i = 0; i < KEY_NINFO; i++) {
				if (key_type_can_sign(key_infos[i].type) &&
				    key_is_ecdsa(key_infos[i].type) && key_infos[i].bits == bits)
					ki = &key_infos[i];
			}
		}
		if (ki == NULL) {
			r = JIT_ERR_KEY_LENGTH;
			goto out;
		}
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", ki->group);
		break;
	case KEY_RSA:
		if (bits == 0)
			bits = 3072;
		if (bits < KEY_RSA_MIN_BITS) {
			r = JIT_ERR_RSA_TOO_SMALL;
			goto out;
		}
		if (bits > KEY_RSA_MAX_BITS) {
			r = JIT_ERR_KEY_LENGTH;
			goto out;
		}
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
		break;
	default:
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if (pkey == NULL) {
		ERR_clear_error();
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	r = key_from_private_pkey(pkey, NULL, 0, ret);
out:
	EVP_PKEY_free(pkey);
	return r;
}

/* The private fields of k as the openssh-key-v1 private section holds them. */
static int openssh_put_private(struct buf *b, const struct key *k)
{
	const struct key_info *ki = key_info_of(k->type);
	uint8_t sk[64], q[1 + 2 * KEY_EC_COORD_MAX];
	size_t sklen = 32, pklen = 32;
	BIGNUM *bn[6] = {NULL};
	static const char *const rsa_params[6] = {
	        OSSL_PKEY_PARAM_RSA_N,       OSSL_PKEY_PARAM_RSA_E,
	        OSSL_PKEY_PARAM_RSA_D,       OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	        OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
	};
	size_t i;
	int r = JIT_ERR_INTERNAL;

	switch (k->type) {
	case KEY_ED25519:
		if (EVP_PKEY_get_raw_private_key(k->pkey, sk, &sklen) != 1 || sklen != 32 ||
		    EVP_PKEY_get_raw_public_key(k->pkey, sk + 32, &pklen) != 1 || pklen != 32) {
			r = JIT_ERR_LIBCRYPTO;
			goto out;
		}
		if ((r = buf_put_string(b, sk + 32, 32)) != 0 ||
		    (r = buf_put_string(b, sk, 64)) != 0)
			goto out;
		break;
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
		if ((r = ec_point(ki, k->pkey, q, 1 + 2 * ki->coord_len)) != 0 ||
		    (r = bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn[0])) != 0 ||
		    (r = buf_put_cstring(b, ki->curve)) != 0 ||
		    (r = buf_put_string(b, q, 1 + 2 * ki->coord_len)) != 0 ||
		    (r = put_bn(b, bn[0])) != 0)
			goto out;
		break;
	case KEY_RSA:
		/* n, e, d, iqmp, p, q; OpenSSL's coefficient is q^-1 mod p, as OpenSSH's. */
		for (i = 0; i < 6; i++) {
			if ((r = bn_param(k->pkey, rsa_params[i], &bn[i])) != 0 ||
			    (r = put_bn(b, bn[i])) != 0)
				goto out;
		}
		break;
	default:
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(sk, sizeof(sk));
	for (i = 0; i < 6; i++)
		BN_clear_free(bn[i]);
	return r;
}

/* An unencrypted openssh-key-v1 file, as ssh-keygen -N '' writes it. */
static int openssh_private_text(const struct key *k, const char *comment, struct buf *out)
{
	struct buf *sec = NULL, *outer = NULL;
	uint32_t check;
	char *b64 = NULL;
	size_t i, n;
	int r = JIT_ERR_INTERNAL;

	if ((sec = buf_new(KEY_FILE_MAX)) == NULL || (outer = buf_new(KEY_FILE_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (RAND_bytes((unsigned char *)&check, sizeof(check)) != 1) {
		r = JIT_ERR_RANDOM;
		goto out;
	}
	if ((r = buf_put_u32(sec, check)) != 0 || (r = buf_put_u32(sec, check)) != 0 ||
	    (r = buf_put_cstring(sec, key_type_name(k->type))) != 0 ||
	    (r = openssh_put_private(sec, k)) != 0 ||
	    (r = buf_put_cstring(sec, comment == NULL ? "" : comment)) != 0)
		goto out;
	for (i = 1; buf_len(sec) % 8 != 0; i++) {
		if ((r = buf_put_u8(sec, (uint8_t)i)) != 0)
			goto out;
	}
	if ((r = buf_put(outer, openssh_magic, sizeof(openssh_magic))) != 0 ||
	    (r = buf_put_cstring(outer, "none")) != 0 ||
	    (r = buf_put_cstring(outer, "none")) != 0 ||
	    (r = buf_put_string(outer, NULL, 0)) != 0 || (r = buf_put_u32(outer, 1)) != 0 ||
	    (r = buf_put_string(outer, k->blob, k->blob_len)) != 0 ||
	    (r = buf_put_stringb(outer, sec)) != 0)
		goto out;
	if ((r = b64_encode(buf_ptr(outer), buf_len(outer), &b64)) != 0)
		goto out;
	n = strlen(b64);
	if ((r = buf_put(out, openssh_begin, strlen(openssh_begin))) != 0 ||
	    (r = buf_put_u8(out, '\n')) != 0)
		goto out;
	/* 70 columns, as ssh-keygen wraps it. */
	for (i = 0; i < n; i += 70) {
		if ((r = buf_put(out, b64 + i, n - i > 70 ? 70 : n - i)) != 0 ||
		    (r = buf_put_u8(out, '\n')) != 0)
			goto out;
	}
	if ((r = buf_put(out, openssh_end, strlen(openssh_end))) != 0 ||
	    (r = buf_put_u8(out, '\n')) != 0)
		goto out;
	r = 0;
out:
	if (b64 != NULL)
		OPENSSL_clear_free(b64, strlen(b64));
	buf_free(sec);
	buf_free(outer);
	return r;
}

int key_write_pair(const struct key *k, const char *path, const char *comment)
{
	struct buf *priv = NULL;
	char *line = NULL, *pubpath = NULL, *pubtext = NULL;
	size_t plen;
	struct stat st;
	int created = 0, saved_errno;
	int r = JIT_ERR_INTERNAL;

	if (k == NULL || path == NULL || k->pkey == NULL || !k->has_private ||
	    !key_type_can_sign(k->type)) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (comment != NULL && (r = text_check(comment, strlen(comment))) != 0)
		goto out;
	plen = strlen(path) + 5;
	if ((pubpath = malloc(plen)) == NULL || (priv = buf_new(KEY_FILE_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	snprintf(pubpath, plen, "%s.pub", path);
	if ((r = key_to_line(k, comment, &line)) != 0 ||
	    (r = openssh_private_text(k, comment, priv)) != 0)
		goto out;
	/* The .pub line ends with a newline, as ssh-keygen writes it. */
	plen = strlen(line) + 2;
	if ((pubtext = malloc(plen)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	snprintf(pubtext, plen, "%s\n", line);
	/* Refuse early rather than leave a private key without its .pub. */
	if (lstat(pubpath, &st) == 0) {
		errno = EEXIST;
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((r = file_write_new(path, buf_ptr(priv), buf_len(priv), 0600)) != 0)
		goto out;
	created = 1;
	if ((r = file_write_new(pubpath, pubtext, strlen(pubtext), 0644)) != 0)
		goto out;
	created = 0;
	r = 0;
out:
	if (created) {
		saved_errno = errno;
		unlink(path);
		errno = saved_errno;
	}
	free(line);
	free(pubtext);
	free(pubpath);
	buf_free(priv);
	return r;
}

/* ---- signatures ---- */

static const EVP_MD *ecdsa_md(enum key_type t)
{
	switch (t) {
	case KEY_ECDSA_P256:
		return EVP_sha256();
	case KEY_ECDSA_P384:
		return EVP_sha384();
	case KEY_ECDSA_P521:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* An mpint straight from a BIGNUM into b (public values: no wiping needed). */
static int put_bn_public(struct buf *b, const BIGNUM *bn)
{
	uint8_t tmp[KEY_EC_COORD_MAX + 1];
	int len = BN_num_bytes(bn);

	if (len < 0 || (size_t)len > sizeof(tmp))
		return JIT_ERR_BIGNUM_TOO_LARGE;
	BN_bn2bin(bn, tmp);
	return buf_put_bignum2_bytes(b, tmp, (size_t)len);
}

int key_sign(const struct key *k, const uint8_t *data, size_t len, uint8_t **ret_sig,
             size_t *ret_sig_len)
{
	const struct key_info *ki;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	ECDSA_SIG *esig = NULL;
	struct buf *b = NULL, *inner = NULL;
	uint8_t der[KEY_EC_DER_MAX], *sig = NULL, *out = NULL;
	const unsigned char *dp;
	const char *alg;
	const EVP_MD *md = NULL;
	size_t sig_len = 0;
	int size, r = JIT_ERR_INTERNAL;

	*ret_sig = NULL;
	*ret_sig_len = 0;
	if (k == NULL || k->pkey == NULL || !k->has_private || (data == NULL && len > 0) ||
	    (ki = key_info_of(k->type)) == NULL || !key_type_can_sign(k->type)) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL || (b = buf_new(KEY_BLOB_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	alg = ki->name;
	if (key_is_ecdsa(k->type))
		md = ecdsa_md(k->type);
	else if (k->type == KEY_RSA) {
		md = EVP_sha512();
		alg = "rsa-sha2-512";
	}
	r = JIT_ERR_LIBCRYPTO;
	if (EVP_DigestSignInit(ctx, &pctx, md, NULL, k->pkey) != 1)
		goto out;
	if (k->type == KEY_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if ((size = EVP_PKEY_get_size(k->pkey)) <= 0)
		goto out;
	if (key_is_ecdsa(k->type)) {
		sig_len = sizeof(der);
		if ((size_t)size > sizeof(der) ||
		    EVP_DigestSign(ctx, der, &sig_len, data, len) != 1)
			goto out;
		dp = der;
		if ((esig = d2i_ECDSA_SIG(NULL, &dp, (long)sig_len)) == NULL)
			goto out;
		if ((inner = buf_new(KEY_BLOB_MAX)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if ((r = put_bn_public(inner, ECDSA_SIG_get0_r(esig))) != 0 ||
		    (r = put_bn_public(inner, ECDSA_SIG_get0_s(esig))) != 0 ||
		    (r = buf_put_cstring(b, alg)) != 0 || (r = buf_put_stringb(b, inner)) != 0)
			goto out;
	} else {
		sig_len = (size_t)size;
		if ((sig = malloc(sig_len)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if (EVP_DigestSign(ctx, sig, &sig_len, data, len) != 1)
			goto out;
		if ((r = buf_put_cstring(b, alg)) != 0 ||
		    (r = buf_put_string(b, sig, sig_len)) != 0)
			goto out;
	}
	if ((out = malloc(buf_len(b))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(out, buf_ptr(b), buf_len(b));
	*ret_sig = out;
	*ret_sig_len = buf_len(b);
	r = 0;
out:
	if (r != 0)
		ERR_clear_error();
	ECDSA_SIG_free(esig);
	EVP_MD_CTX_free(ctx);
	free(sig);
	buf_free(inner);
	buf_free(b);
	return r;
}

/* ECDSA (mpint r, mpint s) as the DER OpenSSL checks. */
static int ecdsa_sig_der(const struct key_info *ki, const uint8_t *sig, size_t sig_len,
                         unsigned char **ret, int *ret_len)
{
	const uint8_t *rp, *sp;
	size_t rlen, slen;
	struct buf *b = NULL;
	ECDSA_SIG *esig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int der_len, r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_len = 0;
	if ((b = buf_from(sig, sig_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_get_bignum2_bytes_direct(b, ki->coord_len, &rp, &rlen)) != 0 ||
	    (r = buf_get_bignum2_bytes_direct(b, ki->coord_len, &sp, &slen)) != 0)
		goto out;
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	if (rlen == 0 || slen == 0) {
		r = JIT_ERR_SIG_INVALID;
		goto out;
	}
	r = JIT_ERR_LIBCRYPTO;
	if ((esig = ECDSA_SIG_new()) == NULL || (br = BN_bin2bn(rp, (int)rlen, NULL)) == NULL ||
	    (bs = BN_bin2bn(sp, (int)slen, NULL)) == NULL || ECDSA_SIG_set0(esig, br, bs) != 1)
		goto out;
	br = bs = NULL;
	if ((der_len = i2d_ECDSA_SIG(esig, &der)) <= 0)
		goto out;
	*ret = der;
	*ret_len = der_len;
	der = NULL;
	r = 0;
out:
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(esig);
	buf_free(b);
	return r;
}

int key_verify_public(const struct key *k, const uint8_t *sig, size_t sig_len, const uint8_t *data,
                      size_t len)
{
	struct key v;

	if (k == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if (!k->has_private)
		return key_verify(k, sig, sig_len, data, len, NULL);
	if (k->verify_pkey == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	v = *k;
	v.pkey = k->verify_pkey;
	v.verify_pkey = NULL;
	v.has_private = 0;
	return key_verify(&v, sig, sig_len, data, len, NULL);
}

int key_verify(const struct key *k, const uint8_t *sig, size_t sig_len, const uint8_t *data,
               size_t len, char **ret_alg)
{
	const struct key_info *ki;
	struct buf *b = NULL;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey, *made = NULL;
	const EVP_MD *md = NULL;
	const uint8_t *s;
	unsigned char *der = NULL;
	uint8_t *padded = NULL;
	char *alg = NULL;
	size_t slen, alg_len, mod_len;
	int der_len = 0, size, r = JIT_ERR_INTERNAL;

	if (ret_alg != NULL)
		*ret_alg = NULL;
	if (k == NULL || (sig == NULL && sig_len > 0) || (data == NULL && len > 0) ||
	    (ki = key_info_of(k->type)) == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	/* sk- signatures carry flags and a counter; no CA or subject check needs them. */
	if (!key_type_can_sign(k->type)) {
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	/* An Ed25519 public key has no EVP_PKEY (see struct key): make one. */
	if ((pkey = k->pkey) == NULL && k->type == KEY_ED25519 &&
	    (pkey = made = ed25519_public_pkey(k)) == NULL) {
		ERR_clear_error();
		r = JIT_ERR_KEY_INVALID;
		goto out;
	}
	if (pkey == NULL) {
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if (sig_len > KEY_BLOB_MAX) {
		r = JIT_ERR_SIG_INVALID;
		goto out;
	}
	if ((b = buf_from(sig, sig_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_get_cstring(b, &alg, &alg_len)) != 0 ||
	    (r = buf_get_string_direct(b, &s, &slen)) != 0)
		goto out;
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	r = JIT_ERR_SIG_ALG_MISMATCH;
	switch (k->type) {
	case KEY_ED25519:
		if (strcmp(alg, ki->name) != 0)
			goto out;
		if (slen != 64) {
			r = JIT_ERR_SIG_INVALID;
			goto out;
		}
		break;
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
		if (strcmp(alg, ki->name) != 0)
			goto out;
		md = ecdsa_md(k->type);
		if ((r = ecdsa_sig_der(ki, s, slen, &der, &der_len)) != 0)
			goto out;
		s = der;
		slen = (size_t)der_len;
		break;
	case KEY_RSA:
		/* SHA-1 "ssh-rsa" is refused. */
		if (strcmp(alg, "rsa-sha2-256") == 0)
			md = EVP_sha256();
		else if (strcmp(alg, "rsa-sha2-512") == 0)
			md = EVP_sha512();
		else
			goto out;
		if ((size = EVP_PKEY_get_size(pkey)) <= 0) {
			r = JIT_ERR_LIBCRYPTO;
			goto out;
		}
		mod_len = (size_t)size;
		if (slen == 0 || slen > mod_len) {
			r = JIT_ERR_SIG_INVALID;
			goto out;
		}
		/* OpenSSH accepts signatures with leading zero bytes stripped. */
		if (slen < mod_len) {
			if ((padded = calloc(1, mod_len)) == NULL) {
				r = JIT_ERR_ALLOC;
				goto out;
			}
			memcpy(padded + (mod_len - slen), s, slen);
			s = padded;
			slen = mod_len;
		}
		break;
	default:
		r = JIT_ERR_KEY_TYPE_UNKNOWN;
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey) != 1 ||
	    (k->type == KEY_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	if (EVP_DigestVerify(ctx, s, slen, data, len) != 1) {
		r = JIT_ERR_SIG_INVALID;
		goto out;
	}
	if (ret_alg != NULL) {
		*ret_alg = alg;
		alg = NULL;
	}
	r = 0;
out:
	if (r != 0)
		ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(made);
	OPENSSL_free(der);
	free(padded);
	free(alg);
	buf_free(b);
	return r;
}
