/* SPDX-License-Identifier: BSD-2-Clause */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client.h"
#include "config.h"
#include "err.h"
#include "quote.h"
#include "file.h"
#include "proto.h"
#include "tls.h"

/* Bytes of /etc/hosts we read to resolve a TLS endpoint's host name. */
#define HOSTS_FILE_MAX (1024 * 1024)
#define HOSTS_PATH     "/etc/hosts"

uint64_t client_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux; a zero clock would only expire deadlines. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes (ETIMEDOUT). */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
	struct pollfd pfd;
	uint64_t now;
	int n;

	for (;;) {
		now = client_now_ms();
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
		if (n == 0)
			continue; /* the loop head decides whether time is up */
		/* Errors and hang-ups surface in the send or recv that follows. */
		return 0;
	}
}

static int send_all(int fd, SSL *ssl, const uint8_t *p, size_t len, uint64_t deadline_ms)
{
	ssize_t n;
	int r;

	if (ssl != NULL)
		return tls_write_all(ssl, p, len, deadline_ms);
	while (len > 0) {
		if ((r = wait_fd(fd, POLLOUT, deadline_ms)) != 0)
			return r;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return JIT_ERR_SYSTEM;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, SSL *ssl, uint8_t *p, size_t len, uint64_t deadline_ms)
{
	ssize_t n;
	int r;

	if (ssl != NULL)
		return tls_read_all(ssl, p, len, deadline_ms);
	while (len > 0) {
		if ((r = wait_fd(fd, POLLIN, deadline_ms)) != 0)
			return r;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return JIT_ERR_SYSTEM;
		}
		if (n == 0)
			return JIT_ERR_MESSAGE_INCOMPLETE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One frame over the socket, or over TLS on it when ssl is set. */
static int frame_write_io(int fd, SSL *ssl, const struct buf *payload, uint64_t deadline_ms)
{
	uint8_t hdr[4];
	size_t len;
	int r;

	if (fd < 0 || payload == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	len = buf_len(payload);
	if (len > PROTO_FRAME_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if ((r = send_all(fd, ssl, hdr, sizeof(hdr), deadline_ms)) != 0)
		return r;
	return send_all(fd, ssl, buf_ptr(payload), len, deadline_ms);
}

int frame_write(int fd, const struct buf *payload, uint64_t deadline_ms)
{
	return frame_write_io(fd, NULL, payload, deadline_ms);
}

static int frame_read_io(int fd, SSL *ssl, size_t max, uint64_t deadline_ms, struct buf **ret)
{
	uint8_t hdr[4], *data = NULL;
	size_t len = 0;
	struct buf *b = NULL;
	int r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (fd < 0 || ret == NULL || max == 0 || max > PROTO_FRAME_MAX)
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = recv_all(fd, ssl, hdr, sizeof(hdr), deadline_ms)) != 0)
		goto out;
	len = ((size_t)hdr[0] << 24) | ((size_t)hdr[1] << 16) | ((size_t)hdr[2] << 8) | hdr[3];
	if (len > max) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		len = 0;
		goto out;
	}
	if (len == 0) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((data = malloc(len)) == NULL) {
		r = JIT_ERR_ALLOC;
		len = 0;
		goto out;
	}
	if ((r = recv_all(fd, ssl, data, len, deadline_ms)) != 0)
		goto out;
	if ((b = buf_from(data, len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	*ret = b;
	b = NULL;
	r = 0;
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len);
	buf_free(b);
	return r;
}

int frame_read(int fd, size_t max, uint64_t deadline_ms, struct buf **ret)
{
	return frame_read_io(fd, NULL, max, deadline_ms, ret);
}

/* The reason behind r, with errno's text for system errors. */
static const char *reason(int r, int saved_errno, char *tmp, size_t tmplen)
{
	if (r == JIT_ERR_SYSTEM && saved_errno == ETIMEDOUT)
		return "timed out";
	if (r == JIT_ERR_SYSTEM && saved_errno != 0) {
		snprintf(tmp, tmplen, "%s", strerror(saved_errno));
		return tmp;
	}
	if (r == JIT_ERR_NO_BUFFER_SPACE)
		return "response frame too large";
	return jit_err(r);
}

/*
 * Connects a non-blocking stream socket to sa, waiting no later than the
 * deadline. A full Unix backlog (EAGAIN) is a busy endpoint: the caller tries
 * the next one.
 */
static int connect_addr(const struct sockaddr *sa, socklen_t salen, uint64_t deadline_ms,
                        int *ret_fd)
{
	socklen_t elen;
	int fd = -1, err = 0, saved_errno, r = JIT_ERR_INTERNAL;

	*ret_fd = -1;
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (connect(fd, sa, salen) != 0) {
		if (errno != EINPROGRESS) {
			r = JIT_ERR_SYSTEM;
			goto out;
		}
		if ((r = wait_fd(fd, POLLOUT, deadline_ms)) != 0)
			goto out;
		elen = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
			r = JIT_ERR_SYSTEM;
			goto out;
		}
		if (err != 0) {
			errno = err;
			r = JIT_ERR_SYSTEM;
			goto out;
		}
	}
	*ret_fd = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0) {
		saved_errno = errno;
		close(fd);
		errno = saved_errno;
	}
	return r;
}

/* Connects to a Unix socket, waiting no later than the deadline. */
static int connect_unix(const char *path, uint64_t deadline_ms, int *ret_fd)
{
	struct sockaddr_un sun;

	*ret_fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path))
		return JIT_ERR_INVALID_ARGUMENT;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	return connect_addr((const struct sockaddr *)&sun, sizeof(sun), deadline_ms, ret_fd);
}

/* A numeric address (no name service) with port into ss. */
static int numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
                        socklen_t *sslen)
{
	struct addrinfo hints, *ai = NULL;
	char portbuf[8];
	int r = JIT_ERR_NOT_FOUND;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)port);
	if (getaddrinfo(host, portbuf, &hints, &ai) != 0 || ai == NULL)
		goto out;
	if (ai->ai_addrlen > sizeof(*ss)) {
		r = JIT_ERR_INTERNAL;
		goto out;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = (socklen_t)ai->ai_addrlen;
	r = 0;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

/*
 * The first address /etc/hosts gives host. A DNS lookup cannot be bounded
 * by the request's deadline without a thread, so TLS endpoints name an
 * address or a host in /etc/hosts, nothing else (docs/protocol.md).
 */
static int hosts_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *sslen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	char *line, *next, *tok, *save, *addr;
	int r = JIT_ERR_NOT_FOUND;

	if ((r = file_read(HOSTS_PATH, HOSTS_FILE_MAX, FILE_TRUSTED, &data, &len)) != 0)
		return r;
	r = JIT_ERR_NOT_FOUND;
	for (line = (char *)data; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((tok = strchr(line, '#')) != NULL)
			*tok = '\0';
		if ((addr = strtok_r(line, " \t\r", &save)) == NULL)
			continue;
		while ((tok = strtok_r(NULL, " \t\r", &save)) != NULL) {
			if (strcasecmp(tok, host) == 0) {
				r = numeric_addr(addr, port, ss, sslen);
				goto out;
			}
		}
	}
out:
	free(data);
	return r;
}

/* "tls://HOST:PORT" or "tls://[V6]:PORT" into host (no brackets) and port. */
static int parse_tls_endpoint(const char *ep, char *host, size_t hostlen, uint16_t *port)
{
	const char *h = ep + 6, *end, *p;
	unsigned long v = 0;
	size_t n;

	if (*h == '[') {
		h++;
		if ((end = strchr(h, ']')) == NULL || end[1] != ':')
			return JIT_ERR_INVALID_FORMAT;
		p = end + 2;
	} else {
		if ((end = strrchr(h, ':')) == NULL)
			return JIT_ERR_INVALID_FORMAT;
		p = end + 1;
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= hostlen || *p == '\0' || strlen(p) > 5)
		return JIT_ERR_INVALID_FORMAT;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return JIT_ERR_INVALID_FORMAT;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return JIT_ERR_INVALID_FORMAT;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)v;
	return 0;
}

/*
 * A TLS endpoint: resolve (address or /etc/hosts), connect, handshake.
 * what and tmp describe a failure.
 */
static int open_tls(const char *endpoint, const struct config_tls *tls, uint64_t deadline,
                    int *ret_fd, SSL **ret_ssl, const char **what, char *tmp, size_t tmplen)
{
	char host[CONFIG_NAME_MAX + 1];
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	SSL_CTX *ctx = NULL;
	uint16_t port = 0;
	int r = JIT_ERR_INTERNAL;

	*ret_fd = -1;
	*ret_ssl = NULL;
	tmp[0] = '\0';
	*what = "endpoint";
	if ((r = parse_tls_endpoint(endpoint, host, sizeof(host), &port)) != 0) {
		snprintf(tmp, tmplen, "not tls://HOST:PORT");
		goto out;
	}
	*what = "tls";
	if (tls == NULL || tls->cert == NULL) {
		r = JIT_ERR_NOT_FOUND;
		snprintf(tmp, tmplen, "no client_tls settings");
		goto out;
	}
	if ((r = tls_client_ctx(tls, &ctx, tmp, tmplen)) != 0)
		goto out;
	*what = "resolve";
	if (numeric_addr(host, port, &ss, &sslen) != 0 &&
	    (r = hosts_addr(host, port, &ss, &sslen)) != 0) {
		snprintf(tmp, tmplen, "%.128s is not an address or a name in " HOSTS_PATH, host);
		goto out;
	}
	*what = "connect";
	errno = 0;
	if ((r = connect_addr((const struct sockaddr *)&ss, sslen, deadline, ret_fd)) != 0)
		goto out;
	*what = "tls";
	if ((r = tls_connect(ctx, *ret_fd, host, deadline, ret_ssl, tmp, tmplen)) != 0) {
		close(*ret_fd);
		*ret_fd = -1;
		goto out;
	}
	r = 0;
out:
	SSL_CTX_free(ctx);
	return r;
}

/*
 * One endpoint: connect, send the request, read and decode the answer.
 * msg gets the reason on failure.
 */
static int ask_endpoint(const char *endpoint, const struct config_tls *tls, uint64_t timeout_ms,
                        const struct buf *request, struct proto_response *ret, char *msg,
                        size_t msglen)
{
	char tmp[256];
	struct buf *answer = NULL;
	uint64_t deadline;
	const char *what = "connect";
	SSL *ssl = NULL;
	int fd = -1, saved_errno, r = JIT_ERR_INTERNAL;

	deadline = client_now_ms() + timeout_ms;
	tmp[0] = '\0';
	errno = 0;
	if (strncmp(endpoint, "tls://", 6) == 0) {
		if (tls == NULL) {
			msg_set(msg, msglen, "%s: tls endpoints are not supported yet", endpoint);
			return JIT_ERR_NOT_FOUND;
		}
		r = open_tls(endpoint, tls, deadline, &fd, &ssl, &what, tmp, sizeof(tmp));
	} else if (strncmp(endpoint, "unix:", 5) != 0) {
		msg_set(msg, msglen, "%s: not a unix: or tls:// endpoint", endpoint);
		return JIT_ERR_INVALID_ARGUMENT;
	} else
		r = connect_unix(endpoint + 5, deadline, &fd);
	if (r == 0) {
		what = "request";
		r = frame_write_io(fd, ssl, request, deadline);
	}
	if (r == 0) {
		what = "response";
		r = frame_read_io(fd, ssl, PROTO_FRAME_MAX, deadline, &answer);
	}
	if (r == 0)
		r = proto_response_decode(buf_ptr(answer), buf_len(answer), ret);
	saved_errno = errno;
	if (r != 0) {
		/* A TLS failure after the handshake: the alert or library reason. */
		if (r == JIT_ERR_LIBCRYPTO && ssl != NULL)
			tls_error_text(ssl, tmp, sizeof(tmp));
		if (tmp[0] != '\0' && !(r == JIT_ERR_SYSTEM && saved_errno == ETIMEDOUT))
			msg_set(msg, msglen, "%s: %s: %s", endpoint, what, tmp);
		else
			msg_set(msg, msglen, "%s: %s: %s", endpoint, what,
			        reason(r, saved_errno, tmp, sizeof(tmp)));
	}
	if (ssl != NULL && r == 0)
		(void)SSL_shutdown(ssl); /* best effort close_notify; we are done either way */
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	buf_free(answer);
	errno = saved_errno;
	return r;
}

int client_request(const char *const *endpoints, size_t n, uint64_t timeout_ms,
                   const struct proto_request *req, struct proto_response *ret, char *msg,
                   size_t msglen)
{
	return client_request_tls(endpoints, n, timeout_ms, NULL, req, ret, msg, msglen);
}

int client_request_tls(const char *const *endpoints, size_t n, uint64_t timeout_ms,
                       const struct config_tls *tls, const struct proto_request *req,
                       struct proto_response *ret, char *msg, size_t msglen)
{
	struct proto_response answer;
	struct buf *request = NULL;
	size_t i;
	int saved_errno = 0, r = JIT_ERR_INTERNAL;

	memset(&answer, 0, sizeof(answer));
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (ret != NULL)
		memset(ret, 0, sizeof(*ret));
	if (endpoints == NULL || n == 0 || req == NULL || ret == NULL) {
		msg_set(msg, msglen, "no CA endpoint configured");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if ((request = buf_new(PROTO_FRAME_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		msg_set(msg, msglen, "request: %s", jit_err(r));
		goto out;
	}
	if ((r = proto_request_encode(req, request)) != 0) {
		msg_set(msg, msglen, "request: %s", jit_err(r));
		goto out;
	}
	for (i = 0; i < n; i++) {
		proto_response_free(&answer);
		if (endpoints[i] == NULL) {
			r = JIT_ERR_INVALID_ARGUMENT;
			msg_set(msg, msglen, "endpoint %zu missing", i + 1);
			continue;
		}
		if ((r = ask_endpoint(endpoints[i], tls, timeout_ms, request, &answer, msg,
		                      msglen)) != 0) {
			saved_errno = errno;
			continue;
		}
		if (answer.status == PROTO_UNAVAILABLE || answer.status == PROTO_INTERNAL) {
			/* This replica cannot sign now; another may. */
			r = JIT_ERR_INTERNAL;
			saved_errno = 0;
			msg_set(msg, msglen, "%s: %s: %s", endpoints[i],
			        proto_status_name(answer.status), answer.message);
			continue;
		}
		msg_set(msg, msglen, "%s", endpoints[i]);
		*ret = answer;
		memset(&answer, 0, sizeof(answer));
		r = 0;
		goto out;
	}
out:
	proto_response_free(&answer);
	buf_free(request);
	errno = saved_errno;
	return r;
}
