/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "err.h"
#include "tls.h"

/* A certificate (unsigned: names are all tls_cert_names reads) with these names. */
static X509 *make_cert(const char *const *cns, size_t ncn, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	size_t i;

	assert_non_null(x);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	                                            (const unsigned char *)"Example", -1, -1, 0),
	                 1);
	for (i = 0; i < ncn; i++)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		                                            (const unsigned char *)cns[i], -1, -1,
		                                            0),
		                 1);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	return x;
}

static void test_names_cn_then_dns(void **state)
{
	static const char *const cns[] = {"bastion-1", "second"};
	X509 *x = make_cert(cns, 2, "IP:127.0.0.1,DNS:a.example,email:x@example.org,DNS:b.example");
	char **names = NULL;
	size_t n = 99;

	assert_int_equal(tls_cert_names(x, &names, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(names[0], "bastion-1");
	assert_string_equal(names[1], "second");
	assert_string_equal(names[2], "a.example");
	assert_string_equal(names[3], "b.example");
	tls_names_free(names, n);
	X509_free(x);
}

static void test_names_none(void **state)
{
	X509 *x = make_cert(NULL, 0, NULL);
	char **names = NULL;
	size_t n = 99;

	assert_int_equal(tls_cert_names(x, &names, &n), 0);
	assert_int_equal(n, 0);
	assert_non_null(names);
	tls_names_free(names, n);
	X509_free(x);
}

/* A name that could not be a configured name is skipped, not matched in part. */
static void test_names_skipped(void **state)
{
	static const char *const cns[] = {"has space", "tab\there", "del\x7f", "ok-name"};
	char longname[TLS_NAME_MAX + 2], san[TLS_NAME_MAX + 64];
	char **names = NULL;
	size_t n = 0;
	X509 *x;

	memset(longname, 'a', TLS_NAME_MAX + 1);
	longname[TLS_NAME_MAX + 1] = '\0';
	snprintf(san, sizeof(san), "DNS:%s", longname);
	x = make_cert(cns, 4, san);
	assert_int_equal(tls_cert_names(x, &names, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "ok-name");
	tls_names_free(names, n);
	X509_free(x);

	/* Exactly TLS_NAME_MAX bytes is kept. */
	longname[TLS_NAME_MAX] = '\0';
	snprintf(san, sizeof(san), "DNS:%s", longname);
	x = make_cert(NULL, 0, san);
	assert_int_equal(tls_cert_names(x, &names, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(strlen(names[0]), TLS_NAME_MAX);
	tls_names_free(names, n);
	X509_free(x);
}

static void test_names_capped(void **state)
{
	char san[TLS_NAMES_MAX * 16 + 64];
	char **names = NULL;
	size_t n = 0, pos = 0;
	X509 *x;
	int i;

	for (i = 0; i < TLS_NAMES_MAX + 5; i++)
		pos += (size_t)snprintf(san + pos, sizeof(san) - pos, "%sDNS:n%d", i ? "," : "", i);
	x = make_cert(NULL, 0, san);
	assert_int_equal(tls_cert_names(x, &names, &n), 0);
	assert_int_equal(n, TLS_NAMES_MAX);
	assert_string_equal(names[0], "n0");
	assert_string_equal(names[TLS_NAMES_MAX - 1], "n63");
	tls_names_free(names, n);
	X509_free(x);
}

static void test_names_arguments(void **state)
{
	char **names = (char **)1;
	size_t n = 7;

	assert_int_equal(tls_cert_names(NULL, &names, &n), JIT_ERR_INVALID_ARGUMENT);
	assert_null(names);
	assert_int_equal(n, 0);
}

static void test_ctx_errors(void **state)
{
	struct config_tls cfg = {.cert = (char *)"/nonexistent/c.pem",
	                         .key = (char *)"/nonexistent/k.pem",
	                         .ca = (char *)"/nonexistent/ca.pem"};
	struct config_tls partial = {.cert = (char *)"/c.pem", .key = NULL, .ca = NULL};
	SSL_CTX *ctx = (SSL_CTX *)1;
	char msg[256];

	assert_int_equal(tls_server_ctx(&cfg, &ctx, msg, sizeof(msg)), JIT_ERR_SYSTEM);
	assert_null(ctx);
	assert_string_equal(msg, "cert /nonexistent/c.pem: No such file or directory");
	ctx = (SSL_CTX *)1;
	assert_int_equal(tls_client_ctx(&partial, &ctx, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_null(ctx);
	assert_string_equal(msg, "tls settings missing");
	assert_int_equal(tls_client_ctx(NULL, NULL, msg, sizeof(msg)), JIT_ERR_INVALID_ARGUMENT);
}

/*
 * A peer that has gone: writes fail with EPIPE instead of raising SIGPIPE
 * (left at its default here, so SSL_set_fd's socket would kill the test).
 */
static void test_socket_no_sigpipe(void **state)
{
	SSL_CTX *ctx;
	SSL *ssl;
	int sv[2];

	(void)state;
	assert_true(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
	assert_non_null(ctx = SSL_CTX_new(TLS_client_method()));
	assert_non_null(ssl = SSL_new(ctx));
	assert_int_equal(tls_set_socket(NULL, 0), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(tls_set_socket(ssl, -1), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(tls_set_socket(ssl, sv[0]), 0);
	assert_int_equal(SSL_get_fd(ssl), sv[0]);
	errno = 0;
	assert_int_equal(BIO_write(SSL_get_wbio(ssl), "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	assert_false(BIO_should_retry(SSL_get_wbio(ssl)));
	/* The handshake's first flight meets the same: an error, not a signal. */
	assert_int_equal(SSL_connect(ssl), -1);
	assert_int_equal(SSL_get_error(ssl, -1), SSL_ERROR_SYSCALL);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_names_cn_then_dns), cmocka_unit_test(test_names_none),
	        cmocka_unit_test(test_names_skipped),     cmocka_unit_test(test_names_capped),
	        cmocka_unit_test(test_names_arguments),   cmocka_unit_test(test_ctx_errors),
	        cmocka_unit_test(test_socket_no_sigpipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
