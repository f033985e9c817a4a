/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * TLS between jit-ca request (or the PAM module) and jit-ca serve, with
 * OpenSSL: TLS 1.3 only, both sides authenticated by X.509 certificates,
 * no renegotiation, no compression, no session resumption. The contexts
 * read their files with file_read (keys FILE_SECRET) and parse them from
 * memory. The I/O helpers for the client poll until a deadline; the
 * service drives SSL objects from its own poll loop with tls_want().
 */
#ifndef JIT_TLS_H
#define JIT_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct config_tls;

/* Bytes of a PEM file we read (certificate chain, key, CA bundle). */
#define TLS_FILE_MAX (1024 * 1024)
/* Names taken from one peer certificate (CN and DNS SANs). */
#define TLS_NAMES_MAX 64
/* Bytes of one name, as config names (CONFIG_NAME_MAX). */
#define TLS_NAME_MAX 256

/*
 * The service's context: its certificate chain and key, client
 * certificates required and verified against the CA bundle. msg gets the
 * reason on failure ("cert /path: ...").
 */
int tls_server_ctx(const struct config_tls *cfg, SSL_CTX **ret, char *msg, size_t msglen);
/* The client's context: its certificate and key, the service verified against cfg->ca. */
int tls_client_ctx(const struct config_tls *cfg, SSL_CTX **ret, char *msg, size_t msglen);

/*
 * After an SSL_* call returned rc: POLLIN or POLLOUT when it must be
 * retried once the socket is ready, 0 when it failed for good.
 */
short tls_want(SSL *ssl, int rc);

/* The reason of the last failure on ssl, for messages ("certificate verify failed: ..."). */
void tls_error_text(SSL *ssl, char *out, size_t outlen);

/*
 * Puts the socket under ssl, as SSL_set_fd does, but writing with
 * MSG_NOSIGNAL: a peer that went away is an error (EPIPE), never SIGPIPE.
 */
int tls_set_socket(SSL *ssl, int fd);

/*
 * Client: TLS handshake on a connected socket, checking that the service's
 * certificate names host (a DNS name or an IP address). JIT_ERR_SYSTEM
 * with errno ETIMEDOUT when the deadline passes, JIT_ERR_LIBCRYPTO with
 * the reason in msg when the handshake fails.
 */
int tls_connect(SSL_CTX *ctx, int fd, const char *host, uint64_t deadline_ms, SSL **ret, char *msg,
                size_t msglen);
/*
 * All len bytes, before the deadline. Errors as frame_write/frame_read:
 * JIT_ERR_SYSTEM with ETIMEDOUT, JIT_ERR_MESSAGE_INCOMPLETE when the peer
 * closes, JIT_ERR_LIBCRYPTO on a TLS error (tls_error_text tells).
 */
int tls_write_all(SSL *ssl, const uint8_t *p, size_t len, uint64_t deadline_ms);
int tls_read_all(SSL *ssl, uint8_t *p, size_t len, uint64_t deadline_ms);

/*
 * The names a certificate claims: its subject's common names, then its DNS
 * subjectAltNames, as NUL-terminated strings; at most TLS_NAMES_MAX. A name
 * that is empty, longer than TLS_NAME_MAX, or holds a byte outside
 * printable ASCII is skipped (it can match no configured name). *ret_n may
 * be 0; free with tls_names_free.
 */
int tls_cert_names(X509 *cert, char ***ret, size_t *ret_n);
void tls_names_free(char **names, size_t n);

#endif
