/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client.h"
#include "err.h"
#include "proto.h"

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

static int send_all(int fd, const uint8_t *p, size_t len, uint64_t deadline_ms)
{
	ssize_t n;
	int r;

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

static int recv_all(int fd, uint8_t *p, size_t len, uint64_t deadline_ms)
{
	ssize_t n;
	int r;

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

int frame_write(int fd, const struct buf *payload, uint64_t deadline_ms)
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
	if ((r = send_all(fd, hdr, sizeof(hdr), deadline_ms)) != 0)
		return r;
	return send_all(fd, buf_ptr(payload), len, deadline_ms);
}

int frame_read(int fd, size_t max, uint64_t deadline_ms, struct buf **ret)
{
	uint8_t hdr[4], *data = NULL;
	size_t len = 0;
	struct buf *b = NULL;
	int r = JIT_ERR_INTERNAL;

	if (ret != NULL)
		*ret = NULL;
	if (fd < 0 || ret == NULL || max == 0 || max > PROTO_FRAME_MAX)
		return JIT_ERR_INVALID_ARGUMENT;
	if ((r = recv_all(fd, hdr, sizeof(hdr), deadline_ms)) != 0)
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
	if ((r = recv_all(fd, data, len, deadline_ms)) != 0)
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

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || msglen == 0)
		return;
	va_start(ap, fmt);
	/* A long endpoint name is cut; the message stays a string. */
	if (vsnprintf(msg, msglen, fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
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

/* Connects to a Unix socket, waiting no later than the deadline. */
static int connect_unix(const char *path, uint64_t deadline_ms, int *ret_fd)
{
	struct sockaddr_un sun;
	socklen_t elen;
	int fd = -1, err = 0, saved_errno, r = JIT_ERR_INTERNAL;

	*ret_fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path))
		return JIT_ERR_INVALID_ARGUMENT;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) != 0) {
		/* A full backlog (EAGAIN) is a busy endpoint: try the next one. */
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

/*
 * One endpoint: connect, send the request, read and decode the answer.
 * msg gets the reason on failure.
 */
static int ask_endpoint(const char *endpoint, uint64_t timeout_ms, const struct buf *request,
                        struct proto_response *ret, char *msg, size_t msglen)
{
	char tmp[128];
	struct buf *answer = NULL;
	uint64_t deadline;
	const char *what = "connect";
	int fd = -1, saved_errno, r = JIT_ERR_INTERNAL;

	deadline = client_now_ms() + timeout_ms;
	if (strncmp(endpoint, "tls://", 6) == 0) {
		set_msg(msg, msglen, "%s: tls endpoints are not supported yet", endpoint);
		return JIT_ERR_NOT_FOUND;
	}
	if (strncmp(endpoint, "unix:", 5) != 0) {
		set_msg(msg, msglen, "%s: not a unix: or tls:// endpoint", endpoint);
		return JIT_ERR_INVALID_ARGUMENT;
	}
	errno = 0;
	if ((r = connect_unix(endpoint + 5, deadline, &fd)) == 0) {
		what = "request";
		r = frame_write(fd, request, deadline);
	}
	if (r == 0) {
		what = "response";
		r = frame_read(fd, PROTO_FRAME_MAX, deadline, &answer);
	}
	if (r == 0)
		r = proto_response_decode(buf_ptr(answer), buf_len(answer), ret);
	saved_errno = errno;
	if (r != 0)
		set_msg(msg, msglen, "%s: %s: %s", endpoint, what,
		        reason(r, saved_errno, tmp, sizeof(tmp)));
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
		set_msg(msg, msglen, "no CA endpoint configured");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if ((request = buf_new(PROTO_FRAME_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		set_msg(msg, msglen, "request: %s", jit_err(r));
		goto out;
	}
	if ((r = proto_request_encode(req, request)) != 0) {
		set_msg(msg, msglen, "request: %s", jit_err(r));
		goto out;
	}
	for (i = 0; i < n; i++) {
		proto_response_free(&answer);
		if (endpoints[i] == NULL) {
			r = JIT_ERR_INVALID_ARGUMENT;
			set_msg(msg, msglen, "endpoint %zu missing", i + 1);
			continue;
		}
		if ((r = ask_endpoint(endpoints[i], timeout_ms, request, &answer, msg, msglen)) !=
		    0) {
			saved_errno = errno;
			continue;
		}
		if (answer.status == PROTO_UNAVAILABLE || answer.status == PROTO_INTERNAL) {
			/* This replica cannot sign now; another may. */
			r = JIT_ERR_INTERNAL;
			saved_errno = 0;
			set_msg(msg, msglen, "%s: %s: %s", endpoints[i],
			        proto_status_name(answer.status), answer.message);
			continue;
		}
		set_msg(msg, msglen, "%s", endpoints[i]);
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
