/* SPDX-License-Identifier: BSD-2-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "err.h"
#include "file.h"
#include "tls.h"

static void set_msg(char *msg, size_t msglen, const char *what, const char *path, const char *why)
{
	if (msg == NULL || msglen == 0)
		return;
	snprintf(msg, msglen, "%s %s: %s", what, path, why);
}

/* The reason of the most recent OpenSSL error, or fallback. */
static const char *ossl_reason(const char *fallback)
{
	const char *s = ERR_reason_error_string(ERR_peek_last_error());

	return s != NULL ? s : fallback;
}

static uint64_t tls_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A whole PEM file through file_read; the caller frees with OPENSSL_clear_free(data, len + 1). */
static int read_pem(const char *path, int flags, uint8_t **data, size_t *len, const char *what,
                    char *msg, size_t msglen)
{
	int r;

	if ((r = file_read(path, TLS_FILE_MAX, flags, data, len)) != 0)
		set_msg(msg, msglen, what, path,
		        r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
	return r;
}

/* Every certificate of a PEM bundle: into the store, and (server) the acceptable-CA list. */
static int load_ca(SSL_CTX *ctx, const char *path, int server, char *msg, size_t msglen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	uint8_t *data = NULL;
	size_t len = 0, n = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	int r = JIT_ERR_INTERNAL;

	if ((r = read_pem(path, FILE_TRUSTED, &data, &len, "ca", msg, msglen)) != 0)
		return r;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(store, x) != 1 ||
		    (server && SSL_CTX_add_client_CA(ctx, x) != 1)) {
			r = JIT_ERR_LIBCRYPTO;
			set_msg(msg, msglen, "ca", path, ossl_reason("cannot add certificate"));
			goto out;
		}
		X509_free(x);
		x = NULL;
		n++;
	}
	/* The loop ends on "no start line" at the end of the data. */
	ERR_clear_error();
	if (n == 0) {
		r = JIT_ERR_INVALID_FORMAT;
		set_msg(msg, msglen, "ca", path, "no PEM certificate");
		goto out;
	}
	r = 0;
out:
	X509_free(x);
	BIO_free(bio);
	OPENSSL_clear_free(data, len + 1);
	return r;
}

/* The certificate chain (first the leaf) and its private key. */
static int load_identity(SSL_CTX *ctx, const struct config_tls *cfg, char *msg, size_t msglen)
{
	uint8_t *data = NULL;
	size_t len = 0, n = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *pkey = NULL;
	int r = JIT_ERR_INTERNAL;

	if ((r = read_pem(cfg->cert, FILE_TRUSTED, &data, &len, "cert", msg, msglen)) != 0)
		return r;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if ((n == 0 ? SSL_CTX_use_certificate(ctx, x) : SSL_CTX_add1_chain_cert(ctx, x)) !=
		    1) {
			r = JIT_ERR_LIBCRYPTO;
			set_msg(msg, msglen, "cert", cfg->cert,
			        ossl_reason("unusable certificate"));
			goto out;
		}
		X509_free(x);
		x = NULL;
		n++;
	}
	ERR_clear_error();
	if (n == 0) {
		r = JIT_ERR_INVALID_FORMAT;
		set_msg(msg, msglen, "cert", cfg->cert, "no PEM certificate");
		goto out;
	}
	BIO_free(bio);
	bio = NULL;
	OPENSSL_clear_free(data, len + 1);
	data = NULL;
	len = 0;

	if ((r = read_pem(cfg->key, FILE_TRUSTED | FILE_SECRET, &data, &len, "key", msg, msglen)) !=
	    0)
		goto out;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	/* No passphrase callback: an encrypted key fails instead of prompting. */
	if ((pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"")) == NULL) {
		r = JIT_ERR_KEY_INVALID;
		set_msg(msg, msglen, "key", cfg->key, ossl_reason("no PEM private key"));
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		r = JIT_ERR_KEY_TYPE_MISMATCH;
		set_msg(msg, msglen, "key", cfg->key, "does not match the certificate");
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_free(pkey);
	X509_free(x);
	BIO_free(bio);
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	return r;
}

static int new_ctx(const struct config_tls *cfg, int server, SSL_CTX **ret, char *msg,
                   size_t msglen)
{
	SSL_CTX *ctx = NULL;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (cfg == NULL || cfg->cert == NULL || cfg->key == NULL || cfg->ca == NULL) {
		if (msg != NULL && msglen > 0)
			snprintf(msg, msglen, "tls settings missing");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	/* One request per connection: nothing to resume, renegotiate or compress. */
	SSL_CTX_set_options(ctx,
	                    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (server && SSL_CTX_set_num_tickets(ctx, 0) != 1) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_verify(
	        ctx, server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
	        NULL);
	if ((r = load_identity(ctx, cfg, msg, msglen)) != 0 ||
	    (r = load_ca(ctx, cfg->ca, server, msg, msglen)) != 0)
		goto out;
	*ret = ctx;
	ctx = NULL;
	r = 0;
out:
	if (r == JIT_ERR_LIBCRYPTO && msg != NULL && msglen > 0 && msg[0] == '\0')
		snprintf(msg, msglen, "tls context: %s", ossl_reason("setup failed"));
	SSL_CTX_free(ctx);
	return r;
}

int tls_server_ctx(const struct config_tls *cfg, SSL_CTX **ret, char *msg, size_t msglen)
{
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	return new_ctx(cfg, 1, ret, msg, msglen);
}

int tls_client_ctx(const struct config_tls *cfg, SSL_CTX **ret, char *msg, size_t msglen)
{
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	return new_ctx(cfg, 0, ret, msg, msglen);
}

short tls_want(SSL *ssl, int rc)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		return 0;
	}
}

void tls_error_text(SSL *ssl, char *out, size_t outlen)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (out == NULL || outlen == 0)
		return;
	if (why == NULL)
		why = errno != 0 ? strerror(errno) : "connection closed";
	if (v != X509_V_OK)
		snprintf(out, outlen, "%s: %s", why, X509_verify_cert_error_string(v));
	else
		snprintf(out, outlen, "%s", why);
}

/* Polls fd for events until the deadline (ETIMEDOUT). */
static int wait_until(int fd, short events, uint64_t deadline_ms)
{
	struct pollfd pfd;
	uint64_t now;
	int n;

	for (;;) {
		now = tls_now_ms();
		if (now >= deadline_ms) {
			errno = ETIMEDOUT;
			return JIT_ERR_SYSTEM;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, deadline_ms - now > 60000 ? 60000 : (int)(deadline_ms - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return JIT_ERR_SYSTEM;
		if (n > 0)
			return 0;
	}
}

/* 1 when host is an IPv4 or IPv6 address. */
static int is_address(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* After rc from an SSL call: waits for what it wants, or classifies the failure. */
static int retry_or_fail(SSL *ssl, int rc, uint64_t deadline_ms)
{
	short ev;
	int e = SSL_get_error(ssl, rc);

	if ((ev = tls_want(ssl, rc)) != 0)
		return wait_until(SSL_get_fd(ssl), ev, deadline_ms);
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && (rc == 0 || errno == 0))) {
		return JIT_ERR_MESSAGE_INCOMPLETE;
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return JIT_ERR_SYSTEM;
	return JIT_ERR_LIBCRYPTO;
}

/*
 * OpenSSL's socket BIO writes with write(2): a peer that has gone raises
 * SIGPIPE, which kills a client that did not ignore it, before it can fail
 * over to the next endpoint. This one is the socket BIO but for its writes,
 * which use send(MSG_NOSIGNAL).
 */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *data, int len)
{
	int fd = -1;
	ssize_t n;

	if (data == NULL || len <= 0)
		return 0;
	if (BIO_get_fd(b, &fd) < 0 || fd < 0)
		return -1;
	do
		n = send(fd, data, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	BIO_clear_retry_flags(b);
	if (n <= 0 && BIO_sock_should_retry((int)n))
		BIO_set_retry_write(b);
	return (int)n;
}

static void nosig_init(void)
{
	const BIO_METHOD *sock = BIO_s_socket();
	BIO_METHOD *m;
	int type;

	if ((type = BIO_get_new_index()) == -1 ||
	    (m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "jit socket")) ==
	            NULL)
		return;
	if (BIO_meth_set_write(m, nosig_write) != 1 ||
	    BIO_meth_set_read(m, BIO_meth_get_read(sock)) != 1 ||
	    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) != 1 ||
	    BIO_meth_set_create(m, BIO_meth_get_create(sock)) != 1 ||
	    BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock)) != 1) {
		BIO_meth_free(m);
		return;
	}
	nosig_method = m;
}

int tls_set_socket(SSL *ssl, int fd)
{
	BIO *b;

	if (ssl == NULL || fd < 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (pthread_once(&nosig_once, nosig_init) != 0 || nosig_method == NULL ||
	    (b = BIO_new(nosig_method)) == NULL)
		return JIT_ERR_ALLOC;
	BIO_set_fd(b, fd, BIO_NOCLOSE);
	SSL_set_bio(ssl, b, b);
	return 0;
}

int tls_connect(SSL_CTX *ctx, int fd, const char *host, uint64_t deadline_ms, SSL **ret, char *msg,
                size_t msglen)
{
	SSL *ssl = NULL;
	int rc, r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (ctx == NULL || fd < 0 || host == NULL || ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = tls_set_socket(ssl, fd)) != 0)
		goto out;
	/* An address is checked against the IP SANs, a name against the DNS names. */
	if (is_address(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
			r = JIT_ERR_LIBCRYPTO;
			goto out;
		}
	} else if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((rc = SSL_connect(ssl)) == 1)
			break;
		if ((r = retry_or_fail(ssl, rc, deadline_ms)) != 0) {
			if (r != JIT_ERR_SYSTEM || errno != ETIMEDOUT) {
				if (r == JIT_ERR_MESSAGE_INCOMPLETE)
					r = JIT_ERR_LIBCRYPTO;
				if (msg != NULL && msglen > 0)
					tls_error_text(ssl, msg, msglen);
			}
			goto out;
		}
	}
	*ret = ssl;
	ssl = NULL;
	r = 0;
out:
	SSL_free(ssl);
	return r;
}

int tls_write_all(SSL *ssl, const uint8_t *p, size_t len, uint64_t deadline_ms)
{
	size_t done;
	int r;

	if (ssl == NULL || (p == NULL && len > 0))
		return JIT_ERR_INVALID_ARGUMENT;
	while (len > 0) {
		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(ssl, p, len, &done) == 1) {
			p += done;
			len -= done;
			continue;
		}
		if ((r = retry_or_fail(ssl, 0, deadline_ms)) != 0)
			return r;
	}
	return 0;
}

int tls_read_all(SSL *ssl, uint8_t *p, size_t len, uint64_t deadline_ms)
{
	size_t done;
	int r;

	if (ssl == NULL || (p == NULL && len > 0))
		return JIT_ERR_INVALID_ARGUMENT;
	while (len > 0) {
		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(ssl, p, len, &done) == 1) {
			p += done;
			len -= done;
			continue;
		}
		if ((r = retry_or_fail(ssl, 0, deadline_ms)) != 0)
			return r;
	}
	return 0;
}

/* Copies an ASN.1 string that is a usable name; NULL (not an error) when it is not. */
static int take_name(const ASN1_STRING *s, char **ret)
{
	const unsigned char *d;
	int len, i;

	*ret = NULL;
	if (s == NULL)
		return 0;
	d = ASN1_STRING_get0_data(s);
	len = ASN1_STRING_length(s);
	if (d == NULL || len <= 0 || len > TLS_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (d[i] <= 0x20 || d[i] >= 0x7f)
			return 0;
	if ((*ret = malloc((size_t)len + 1)) == NULL)
		return JIT_ERR_ALLOC;
	memcpy(*ret, d, (size_t)len);
	(*ret)[len] = '\0';
	return 0;
}

void tls_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int tls_cert_names(X509 *cert, char ***ret, size_t *ret_n)
{
	X509_NAME *subj;
	GENERAL_NAMES *alt = NULL;
	char **names = NULL, *name = NULL;
	size_t n = 0;
	int i = -1, k, r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (ret_n != NULL)
		*ret_n = 0;
	if (cert == NULL || ret == NULL || ret_n == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	if ((names = calloc(TLS_NAMES_MAX, sizeof(*names))) == NULL)
		return JIT_ERR_ALLOC;
	if ((subj = X509_get_subject_name(cert)) != NULL) {
		while (n < TLS_NAMES_MAX &&
		       (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0) {
			X509_NAME_ENTRY *e = X509_NAME_get_entry(subj, i);

			if ((r = take_name(X509_NAME_ENTRY_get_data(e), &name)) != 0)
				goto out;
			if (name != NULL) {
				names[n++] = name;
				name = NULL;
			}
		}
	}
	alt = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (k = 0; alt != NULL && k < sk_GENERAL_NAME_num(alt) && n < TLS_NAMES_MAX; k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(alt, k);

		if (g->type != GEN_DNS)
			continue;
		if ((r = take_name(g->d.dNSName, &name)) != 0)
			goto out;
		if (name != NULL) {
			names[n++] = name;
			name = NULL;
		}
	}
	*ret = names;
	*ret_n = n;
	names = NULL;
	n = 0;
	r = 0;
out:
	GENERAL_NAMES_free(alt);
	tls_names_free(names, n);
	return r;
}
