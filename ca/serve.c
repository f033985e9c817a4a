/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca serve: the network side of the signing service. One thread, one
 * poll() loop, non-blocking sockets; callers are authenticated with
 * SO_PEERCRED on Unix sockets, or by their client certificate over TLS 1.3
 * (common/tls.h), and mapped to a configured requester, whose caps decide
 * the certificate. The CA key lives only in the signer process (signer.c).
 *
 * Each loop iteration collects every request that is complete, decides and
 * signs them, appends one audit record each, syncs the audit log once, and
 * only then answers (group commit): no certificate leaves without its
 * record on disk.
 */
#define _GNU_SOURCE /* struct ucred, accept4, ppoll, SO_PEERGROUPS */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "audit.h"
#include "buf.h"
#include "cert.h"
#include "err.h"
#include "key.h"
#include "proto.h"
#include "revocation.h"
#include "serve.h"
#include "timefmt.h"
#include "tls.h"

/* Connections accepted per listener per loop iteration, so listeners cannot starve callers. */
#define ACCEPT_BURST 64
/* Pause accepting this long when the process is out of file descriptors. */
#define ACCEPT_PAUSE_MS 100
/* Longest text we put in a log line value before escaping. */
#define LOG_LINE_MAX AUDIT_SYSLOG_MAX
/* Bytes of a comma list of principals (PROTO_PRINCIPALS_MAX names of CERT_PRINCIPAL_MAX). */
#define PRINCIPALS_TEXT_MAX (PROTO_PRINCIPALS_MAX * (CERT_PRINCIPAL_MAX + 1) + 1)
/* Supplementary groups read for one caller (the kernel's NGROUPS_MAX). */
#define PEER_GROUPS_MAX 65536
/* Groups read without allocating; more need a second call. */
#define PEER_GROUPS_STACK 64
/* Largest buffer for one getpwnam_r/getgrnam_r at startup (huge groups). */
#define NSS_BUF_MAX (16 * 1024 * 1024)
/* A TLS handshake's own deadline (ms), at most request_timeout: idle TCP callers go soon. */
#define HANDSHAKE_TIMEOUT_MS 2000
/* Slots kept for Unix-socket callers: max_connections / 4, at least min(16, half). */
#define UNIX_RESERVE_MIN 16
/* A connection's first read buffer, in bytes. */
#define READ_BUF_MIN 512

/* "[v6 address]:port" */
#define PEER_ADDR_MAX (INET6_ADDRSTRLEN + 9)

enum conn_state {
	CONN_FREE = 0,
	CONN_HANDSHAKE, /* TLS: the handshake is under way */
	CONN_READ,      /* reading the request frame */
	CONN_READY,     /* a whole frame (or an oversized header) is in */
	CONN_WRITE,     /* sending the response */
};

struct conn {
	enum conn_state state;
	int fd;
	uint64_t accepted_ms, deadline_ms;
	struct ucred cred;
	const struct config_requester *unix_rq; /* matched at accept, by numbers */
	uint8_t hdr[4];
	size_t hdr_got;
	uint32_t frame_len;
	int too_large;
	uint8_t *in;
	size_t in_cap, in_got;
	uint8_t *out;
	size_t out_len, out_sent;
	/* TLS only */
	SSL *ssl;
	short want; /* the poll events the last SSL call waits for */
	char peer_addr[PEER_ADDR_MAX];
	char *peer_name; /* the certificate name that matched, else its first */
	const struct config_requester *tls_rq;
	int hs_failed;
	char hs_error[256];
};

struct listener {
	int fd;
	int tls;
	char *path; /* unix only */
	dev_t dev;  /* of the socket we made, so we unlink only ours */
	ino_t ino;
};

/* One decision: what the audit record, the log line and the response say. */
struct decision {
	struct conn *conn;
	const char *requester;
	struct proto_request req;
	int have_req;
	const char *context;
	uint8_t status;
	char message[PROTO_MESSAGE_MAX + 1];
	/* issued only */
	uint64_t serial;
	char *key_id;
	char *principals; /* comma list: issued, or asked for when refused */
	uint64_t valid_after, valid_before;
	const char *source_address;
	char *fingerprint;
	int clamped;
	uint8_t *cert;
	size_t cert_len;
	char *audit_line; /* the appended record as a syslog line */
	int appended;
};

/* A requester's unix_users or unix_groups entry, resolved to its number at startup. */
struct id_rule {
	unsigned id;
	const struct config_requester *rq;
};

struct server {
	const struct jit_config *cfg;
	struct id_rule *uids, *gids; /* in requester order */
	size_t nuids, ngids;
	size_t ntls, tls_max; /* TLS connections now, and their share of max_conns */
	/* The revocation store: its revoked tickets, and the file they came from. */
	char *store_path;
	struct revocations *revoked;
	struct stat store_st; /* st_ino 0: no file */
	struct listener *ls;
	size_t nls;
	struct conn *conns;
	size_t max_conns, nconns;
	struct audit_log *audit;
	struct serial_state *serial;
	struct signer *signer;
	struct key *ca_pub;
	SSL_CTX *tls_ctx;
	uint64_t accept_paused_until;
	uint64_t overload_count, overload_logged_at;
	char *line; /* LOG_LINE_MAX: the one buffer log and audit lines are formatted in */
	int fatal;
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One line to syslog and to stderr. */
static void slog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	fputs("jit-ca: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Appends s to out, quoted, with '"' and '\' escaped and other unprintable bytes as \xNN. */
static void put_quoted(char *out, size_t outlen, size_t *pos, const char *s)
{
	const unsigned char *p;
	int n;

	for (p = (const unsigned char *)"\""; *p != '\0'; p++)
		if (*pos + 1 < outlen)
			out[(*pos)++] = (char)*p;
	for (p = (const unsigned char *)s; *p != '\0' && *pos + 5 < outlen; p++) {
		if (*p == '"' || *p == '\\') {
			out[(*pos)++] = '\\';
			out[(*pos)++] = (char)*p;
		} else if (*p >= 0x20 && *p < 0x7f)
			out[(*pos)++] = (char)*p;
		else {
			n = snprintf(out + *pos, outlen - *pos, "\\x%02x", *p);
			if (n > 0)
				*pos += (size_t)n;
		}
	}
	if (*pos + 1 < outlen)
		out[(*pos)++] = '"';
	out[*pos < outlen ? *pos : outlen - 1] = '\0';
}

/* "key=value ..." from audit fields, as audit_syslog_line formats them. */
static void format_fields(const struct audit_field *f, size_t n, char *out, size_t outlen)
{
	size_t i, pos = 0;
	int k;

	out[0] = '\0';
	for (i = 0; i < n && pos + 1 < outlen; i++) {
		k = snprintf(out + pos, outlen - pos, "%s%s=", i > 0 ? " " : "", f[i].key);
		if (k < 0 || (size_t)k >= outlen - pos)
			break;
		pos += (size_t)k;
		switch (f[i].type) {
		case AUDIT_T_STR:
			put_quoted(out, outlen, &pos, f[i].s);
			break;
		case AUDIT_T_U64:
			k = snprintf(out + pos, outlen - pos, "%llu", (unsigned long long)f[i].u);
			if (k > 0)
				pos += (size_t)k < outlen - pos ? (size_t)k : outlen - pos - 1;
			break;
		case AUDIT_T_BOOL:
			k = snprintf(out + pos, outlen - pos, "%s", f[i].u ? "true" : "false");
			if (k > 0)
				pos += (size_t)k < outlen - pos ? (size_t)k : outlen - pos - 1;
			break;
		}
	}
}

/* "peer_uid=U peer_pid=P", or over TLS "peer_address=A peer_name=N", for log lines. */
static const char *peer_text(const struct conn *c, char *out, size_t outlen)
{
	size_t pos;

	if (c->ssl == NULL) {
		snprintf(out, outlen, "peer_uid=%u peer_pid=%d", (unsigned)c->cred.uid,
		         (int)c->cred.pid);
		return out;
	}
	pos = (size_t)snprintf(out, outlen, "peer_address=%s peer_name=", c->peer_addr);
	if (pos >= outlen)
		return out;
	put_quoted(out, outlen, &pos, c->peer_name != NULL ? c->peer_name : "");
	return out;
}

/* --- listeners --- */

/* A TCP listener on host (an address, or a name resolved once at startup) and port. */
static int listen_tcp(const char *host, uint16_t port, struct listener *l)
{
	struct addrinfo hints, *ai = NULL;
	char portbuf[8];
	int fd = -1, one = 1, r = JIT_ERR_INTERNAL, saved;

	l->fd = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)port);
	if ((r = getaddrinfo(host, portbuf, &hints, &ai)) != 0 || ai == NULL) {
		errno = r == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
		ai = NULL;
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	l->fd = fd;
	l->tls = 1;
	fd = -1;
	r = 0;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	errno = saved;
	return r;
}

static int listen_unix(const char *path, struct listener *l)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd = -1, r = JIT_ERR_INTERNAL;

	l->fd = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return JIT_ERR_SYSTEM;
	}
	memcpy(sa.sun_path, path, strlen(path));
	/* A stale socket from a previous run may go; anything else stays. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			return JIT_ERR_SYSTEM;
		}
		/* A socket someone still answers on is not stale. */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return JIT_ERR_SYSTEM;
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		fd = -1;
		if (r == 0) {
			errno = EADDRINUSE;
			return JIT_ERR_SYSTEM;
		}
		if (unlink(path) != 0)
			return JIT_ERR_SYSTEM;
	} else if (errno != ENOENT)
		return JIT_ERR_SYSTEM;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return JIT_ERR_SYSTEM;
	/* 0666: anyone may connect; SO_PEERCRED decides who is answered. */
	old = umask(0111);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || listen(fd, SOMAXCONN) != 0 || stat(path, &st) != 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	fd = -1;
	r = 0;
out:
	if (fd >= 0) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return r;
}

static void close_listeners(struct server *srv)
{
	struct stat st;
	size_t i;

	for (i = 0; i < srv->nls; i++) {
		if (srv->ls[i].fd < 0)
			continue;
		close(srv->ls[i].fd);
		srv->ls[i].fd = -1;
		if (srv->ls[i].path != NULL && lstat(srv->ls[i].path, &st) == 0 &&
		    S_ISSOCK(st.st_mode) && st.st_dev == srv->ls[i].dev &&
		    st.st_ino == srv->ls[i].ino)
			unlink(srv->ls[i].path);
	}
}

/* --- connections --- */

static void conn_close(struct server *srv, struct conn *c)
{
	if (c->state == CONN_FREE)
		return;
	if (c->ssl != NULL)
		srv->ntls--;
	SSL_free(c->ssl);
	free(c->peer_name);
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CONN_FREE;
	srv->nconns--;
}

/* The answer to a caller we cannot take: best effort, never blocking. */
static void refuse_overload(struct server *srv, int fd, int tls)
{
	static const char msg[] = "too many connections";
	struct proto_response resp;
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	uint8_t hdr[4];
	uint64_t t = now_ms();

	memset(&resp, 0, sizeof(resp));
	resp.status = PROTO_UNAVAILABLE;
	resp.message = (char *)msg;
	/* Over TLS a plain answer means nothing to the caller: just close. */
	if (!tls && b != NULL && proto_response_encode(&resp, b) == 0) {
		size_t len = buf_len(b);
		struct iovec iov[2];
		struct msghdr mh;

		hdr[0] = (uint8_t)(len >> 24);
		hdr[1] = (uint8_t)(len >> 16);
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		iov[0].iov_base = hdr;
		iov[0].iov_len = 4;
		iov[1].iov_base = (void *)buf_ptr(b);
		iov[1].iov_len = len;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		(void)sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	buf_free(b);
	close(fd);
	srv->overload_count++;
	/* One line a second at most: an overload must not also flood the log. */
	if (t - srv->overload_logged_at >= 1000 || srv->overload_logged_at == 0) {
		slog(LOG_WARNING,
		     "event=overload connections=%zu max_connections=%zu refused_total=%llu",
		     srv->nconns, srv->max_conns, (unsigned long long)srv->overload_count);
		srv->overload_logged_at = t;
	}
}

/* The TLS side of a new connection: its SSL object and the peer's address. */
static int tls_accepted(struct server *srv, struct conn *c, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char a[INET6_ADDRSTRLEN];
	unsigned port = 0;

	a[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
			port = ntohs(in->sin_port);
			snprintf(c->peer_addr, sizeof(c->peer_addr), "%s:%u", a, port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
			port = ntohs(in6->sin6_port);
			snprintf(c->peer_addr, sizeof(c->peer_addr), "[%s]:%u", a, port);
		}
	}
	if (c->peer_addr[0] == '\0')
		snprintf(c->peer_addr, sizeof(c->peer_addr), "unknown");
	ERR_clear_error();
	if ((c->ssl = SSL_new(srv->tls_ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return JIT_ERR_ALLOC;
	}
	c->want = POLLIN;
	return 0;
}

static const struct config_requester *authenticate(const struct server *srv, int fd,
                                                   const struct ucred *cred);

static void accept_all(struct server *srv, struct listener *l)
{
	struct ucred cred;
	socklen_t len;
	size_t i, k;
	int fd;

	for (k = 0; k < ACCEPT_BURST; k++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				slog(LOG_WARNING, "event=accept_paused error=\"%s\"",
				     strerror(errno));
				srv->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
			}
			return;
		}
		/* Unauthenticated until their handshake ends, TLS callers get only a share. */
		if (srv->nconns >= srv->max_conns || (l->tls && srv->ntls >= srv->tls_max)) {
			refuse_overload(srv, fd, l->tls);
			continue;
		}
		memset(&cred, 0, sizeof(cred));
		len = sizeof(cred);
		if (!l->tls && (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
		                len != sizeof(cred))) {
			slog(LOG_WARNING, "event=dropped reason=\"no peer credentials\"");
			close(fd);
			continue;
		}
		for (i = 0; i < srv->max_conns && srv->conns[i].state != CONN_FREE; i++)
			;
		if (i == srv->max_conns) {
			close(fd);
			continue;
		}
		memset(&srv->conns[i], 0, sizeof(srv->conns[i]));
		if (l->tls && tls_accepted(srv, &srv->conns[i], fd) != 0) {
			slog(LOG_ERR, "event=dropped reason=\"out of memory\"");
			close(fd);
			continue;
		}
		srv->conns[i].state = l->tls ? CONN_HANDSHAKE : CONN_READ;
		srv->conns[i].fd = fd;
		srv->conns[i].cred = cred;
		srv->conns[i].accepted_ms = now_ms();
		srv->conns[i].deadline_ms =
		        srv->conns[i].accepted_ms + srv->cfg->ca.request_timeout * 1000;
		if (l->tls) {
			/* The handshake has a shorter deadline of its own, within the request's. */
			if (srv->cfg->ca.request_timeout * 1000 > HANDSHAKE_TIMEOUT_MS)
				srv->conns[i].deadline_ms =
				        srv->conns[i].accepted_ms + HANDSHAKE_TIMEOUT_MS;
			srv->ntls++;
		} else
			srv->conns[i].unix_rq = authenticate(srv, fd, &cred);
		srv->nconns++;
	}
}

/* After a failed SSL read or write: read(2)/send(2) results, with EAGAIN for "retry". */
static ssize_t tls_io_result(struct conn *c, int rc)
{
	int e = SSL_get_error(c->ssl, rc);
	short ev = tls_want(c->ssl, rc);

	if (ev != 0) {
		c->want = ev;
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return errno == 0 ? 0 : -1;
	errno = EPROTO;
	return -1;
}

static ssize_t conn_recv(struct conn *c, void *p, size_t n)
{
	size_t got = 0;
	int rc;

	if (c->ssl == NULL)
		return read(c->fd, p, n);
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_read_ex(c->ssl, p, n, &got)) == 1)
		return (ssize_t)got;
	return tls_io_result(c, rc);
}

static ssize_t conn_send(struct conn *c, const void *p, size_t n)
{
	size_t done = 0;
	int rc;

	if (c->ssl == NULL)
		return send(c->fd, p, n, MSG_NOSIGNAL);
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_write_ex(c->ssl, p, n, &done)) == 1)
		return (ssize_t)done;
	return tls_io_result(c, rc);
}

/* Reads what is there; moves to CONN_READY when the frame is whole. */
static void conn_read(struct server *srv, struct conn *c)
{
	char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];
	size_t want, ncap;
	uint8_t *n;
	ssize_t got;

	for (;;) {
		if (c->hdr_got < sizeof(c->hdr)) {
			got = conn_recv(c, c->hdr + c->hdr_got, sizeof(c->hdr) - c->hdr_got);
		} else {
			want = c->frame_len - c->in_got;
			if (c->in_got == c->in_cap) {
				/*
				 * Grow with what arrives, not with what the header
				 * claims; start small, since a typical request is a
				 * few hundred bytes and a thousand may wait at once.
				 */
				ncap = c->in_cap < READ_BUF_MIN ? READ_BUF_MIN : c->in_cap * 2;
				if (ncap > c->frame_len)
					ncap = c->frame_len;
				if ((n = realloc(c->in, ncap)) == NULL) {
					slog(LOG_ERR, "event=dropped reason=\"out of memory\"");
					conn_close(srv, c);
					return;
				}
				c->in = n;
				c->in_cap = ncap;
			}
			if (want > c->in_cap - c->in_got)
				want = c->in_cap - c->in_got;
			got = conn_recv(c, c->in + c->in_got, want);
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (got <= 0) {
			/* The caller went away before finishing its request: nothing to decide. */
			slog(LOG_INFO, "event=dropped reason=\"%s\" %s",
			     got == 0 ? "closed before a whole request" : strerror(errno),
			     peer_text(c, ptext, sizeof(ptext)));
			conn_close(srv, c);
			return;
		}
		if (c->hdr_got < sizeof(c->hdr)) {
			c->hdr_got += (size_t)got;
			if (c->hdr_got < sizeof(c->hdr))
				continue;
			c->frame_len = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
			               (uint32_t)c->hdr[2] << 8 | (uint32_t)c->hdr[3];
			if (c->frame_len == 0 || c->frame_len > srv->cfg->ca.max_request ||
			    c->frame_len > PROTO_FRAME_MAX) {
				c->too_large = 1;
				c->state = CONN_READY;
				return;
			}
			continue;
		}
		c->in_got += (size_t)got;
		if (c->in_got == c->frame_len) {
			c->state = CONN_READY;
			return;
		}
	}
}

static void conn_write(struct server *srv, struct conn *c)
{
	char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];
	ssize_t n;

	while (c->out_sent < c->out_len) {
		n = conn_send(c, c->out + c->out_sent, c->out_len - c->out_sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			slog(LOG_INFO, "event=dropped reason=\"response not delivered: %s\" %s",
			     n < 0 ? strerror(errno) : "closed",
			     peer_text(c, ptext, sizeof(ptext)));
			conn_close(srv, c);
			return;
		}
		c->out_sent += (size_t)n;
	}
	/* Best effort close_notify: the answer is out, nothing waits for the peer's. */
	if (c->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
	}
	conn_close(srv, c);
}

/* The requester whose tls_names hold one of the certificate's names; sets c->peer_name. */
static int tls_identify(struct server *srv, struct conn *c)
{
	const struct config_ca *ca = &srv->cfg->ca;
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	char **names = NULL;
	size_t n = 0, i, k;
	int r = JIT_ERR_INTERNAL;

	c->tls_rq = NULL;
	if (peer == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = tls_cert_names(peer, &names, &n)) != 0)
		goto out;
	for (k = 0; k < n && c->tls_rq == NULL; k++) {
		for (i = 0; i < ca->n_requesters; i++) {
			if (policy_list_has(ca->requesters[i].tls_names,
			                    ca->requesters[i].n_tls_names, names[k])) {
				c->tls_rq = &ca->requesters[i];
				break;
			}
		}
	}
	if (n > 0 && (c->peer_name = strdup(names[c->tls_rq != NULL ? k - 1 : 0])) == NULL) {
		c->tls_rq = NULL;
		r = JIT_ERR_ALLOC;
		goto out;
	}
	r = 0;
out:
	tls_names_free(names, n);
	return r;
}

/*
 * Drives the handshake. A failure (no certificate, one from another CA, not
 * TLS 1.3) becomes a ready connection marked hs_failed, so that it is
 * decided and audited with the others and then closed without an answer.
 */
static void conn_handshake(struct server *srv, struct conn *c)
{
	char why[200];
	int rc, r;
	short ev;

	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_accept(c->ssl)) != 1) {
		if ((ev = tls_want(c->ssl, rc)) != 0) {
			c->want = ev;
			return;
		}
		tls_error_text(c->ssl, why, sizeof(why));
		snprintf(c->hs_error, sizeof(c->hs_error), "tls handshake failed: %s", why);
		ERR_clear_error();
		c->hs_failed = 1;
		c->state = CONN_READY;
		return;
	}
	if ((r = tls_identify(srv, c)) != 0) {
		snprintf(c->hs_error, sizeof(c->hs_error), "tls peer identity: %s", jit_err(r));
		c->hs_failed = 1;
		c->state = CONN_READY;
		return;
	}
	c->state = CONN_READ;
	c->want = POLLIN;
	c->deadline_ms = c->accepted_ms + srv->cfg->ca.request_timeout * 1000;
	/* The request may have come with the client's last handshake flight. */
	conn_read(srv, c);
}

/* Encodes the response into the connection's output and starts sending. */
static void conn_respond(struct server *srv, struct conn *c, const struct decision *d)
{
	struct proto_response resp;
	struct buf *b = NULL;
	size_t len;

	memset(&resp, 0, sizeof(resp));
	resp.status = d->status;
	resp.message = (char *)d->message;
	if (d->status == PROTO_OK) {
		resp.cert = d->cert;
		resp.cert_len = d->cert_len;
		resp.serial = d->serial;
		resp.clamped = d->clamped ? 1 : 0;
	}
	if ((b = buf_new(PROTO_FRAME_MAX)) == NULL || proto_response_encode(&resp, b) != 0 ||
	    (c->out = malloc(buf_len(b) + 4)) == NULL) {
		char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];

		slog(LOG_ERR, "event=dropped reason=\"response not encodable\" %s",
		     peer_text(c, ptext, sizeof(ptext)));
		buf_free(b);
		conn_close(srv, c);
		return;
	}
	len = buf_len(b);
	c->out[0] = (uint8_t)(len >> 24);
	c->out[1] = (uint8_t)(len >> 16);
	c->out[2] = (uint8_t)(len >> 8);
	c->out[3] = (uint8_t)len;
	memcpy(c->out + 4, buf_ptr(b), len);
	c->out_len = len + 4;
	c->out_sent = 0;
	buf_free(b);
	/* Nothing more is read: one request per connection. */
	free(c->in);
	c->in = NULL;
	c->in_cap = c->in_got = 0;
	c->state = CONN_WRITE;
	c->want = POLLOUT;
	conn_write(srv, c);
}

/* --- caller authentication --- */

/* The first rule (in requester order) for id, or NULL. */
static const struct config_requester *rule_find(const struct id_rule *v, size_t n, unsigned id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id == id)
			return v[i].rq;
	return NULL;
}

/*
 * The requester this peer is, by its uid or one of its groups; NULL if
 * none. Only numbers are compared (names were resolved at startup), so no
 * NSS lookup blocks the loop. The groups are the peer's gid from
 * SO_PEERCRED and its supplementary groups from SO_PEERGROUPS: both are
 * the kernel's snapshot taken at connect(), with no pid that could be
 * reused in between (as /proc/PID/status could be).
 */
static const struct config_requester *authenticate(const struct server *srv, int fd,
                                                   const struct ucred *cred)
{
	const struct config_requester *found = NULL;
	gid_t stack[PEER_GROUPS_STACK], *groups = stack, *big = NULL;
	socklen_t len = sizeof(stack);
	size_t i, n = 0;

	if ((found = rule_find(srv->uids, srv->nuids, (unsigned)cred->uid)) != NULL)
		goto out;
	if ((found = rule_find(srv->gids, srv->ngids, (unsigned)cred->gid)) != NULL ||
	    srv->ngids == 0)
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, stack, &len) != 0) {
		/* ERANGE sets len to what is needed; anything else leaves the gid alone. */
		if (errno != ERANGE || len > PEER_GROUPS_MAX * sizeof(gid_t) ||
		    (big = malloc(len)) == NULL ||
		    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, big, &len) != 0)
			goto out;
		groups = big;
	}
	n = len / sizeof(gid_t);
	for (i = 0; i < n && found == NULL; i++)
		found = rule_find(srv->gids, srv->ngids, (unsigned)groups[i]);
out:
	free(big);
	return found;
}

/* Grows an NSS buffer after ERANGE; 0, or JIT_ERR_NO_BUFFER_SPACE past NSS_BUF_MAX. */
static int nss_grow(char **buf, size_t *len)
{
	char *n;

	if (*len >= NSS_BUF_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((n = realloc(*buf, *len * 2)) == NULL)
		return JIT_ERR_ALLOC;
	*buf = n;
	*len *= 2;
	return 0;
}

/*
 * Resolves every requester's unix_users and unix_groups to numbers, once:
 * a name that does not resolve stops the start (fail closed), naming it.
 * Changes to users or groups take effect at the next start.
 */
static int resolve_requesters(struct server *srv)
{
	const struct config_ca *ca = &srv->cfg->ca;
	struct passwd pw, *pwp;
	struct group gr, *grp;
	size_t i, j, nu = 0, ng = 0, len = 16384;
	char *buf = NULL;
	int e, r = JIT_ERR_INTERNAL;

	for (i = 0; i < ca->n_requesters; i++) {
		nu += ca->requesters[i].n_unix_users;
		ng += ca->requesters[i].n_unix_groups;
	}
	if ((buf = malloc(len)) == NULL ||
	    (nu > 0 && (srv->uids = calloc(nu, sizeof(*srv->uids))) == NULL) ||
	    (ng > 0 && (srv->gids = calloc(ng, sizeof(*srv->gids))) == NULL)) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < ca->n_requesters; i++) {
		const struct config_requester *rq = &ca->requesters[i];

		for (j = 0; j < rq->n_unix_users; j++) {
			while ((e = getpwnam_r(rq->unix_users[j], &pw, buf, len, &pwp)) == ERANGE)
				if ((r = nss_grow(&buf, &len)) != 0)
					break;
			if (e != 0 || pwp == NULL) {
				slog(LOG_ERR,
				     "event=fatal what=requester requester=%s unix_user=\"%s\" "
				     "error=\"%s\"",
				     rq->name, rq->unix_users[j],
				     e == ERANGE ? "entry too large"
				     : e != 0    ? strerror(e)
				                 : "no such user");
				r = JIT_ERR_CONFIG_INVALID;
				goto out;
			}
			srv->uids[srv->nuids].id = (unsigned)pw.pw_uid;
			srv->uids[srv->nuids++].rq = rq;
		}
		for (j = 0; j < rq->n_unix_groups; j++) {
			while ((e = getgrnam_r(rq->unix_groups[j], &gr, buf, len, &grp)) == ERANGE)
				if ((r = nss_grow(&buf, &len)) != 0)
					break;
			if (e != 0 || grp == NULL) {
				slog(LOG_ERR,
				     "event=fatal what=requester requester=%s unix_group=\"%s\" "
				     "error=\"%s\"",
				     rq->name, rq->unix_groups[j],
				     e == ERANGE ? "entry too large"
				     : e != 0    ? strerror(e)
				                 : "no such group");
				r = JIT_ERR_CONFIG_INVALID;
				goto out;
			}
			srv->gids[srv->ngids].id = (unsigned)gr.gr_gid;
			srv->gids[srv->ngids++].rq = rq;
		}
	}
	r = 0;
out:
	free(buf);
	return r;
}

/* --- decisions --- */

static void decision_free(struct decision *d)
{
	if (d->have_req)
		proto_request_free(&d->req);
	free(d->key_id);
	free(d->principals);
	free(d->fingerprint);
	free(d->cert);
	free(d->audit_line);
	memset(d, 0, sizeof(*d));
}

static void refuse(struct decision *d, uint8_t status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void refuse(struct decision *d, uint8_t status, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	d->status = status;
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
	/* The message goes back to the caller as printable text. */
	for (i = 0; d->message[i] != '\0'; i++)
		if ((unsigned char)d->message[i] < 0x20 || (unsigned char)d->message[i] >= 0x7f)
			d->message[i] = '?';
	free(d->cert);
	d->cert = NULL;
	d->cert_len = 0;
}

/* The comma list, sized to its content: decisions of a whole loop are held at once. */
static char *join_principals(char *const *p, size_t n)
{
	char *out;
	size_t i, pos = 0, len, total = 1;

	for (i = 0; i < n; i++) {
		len = strlen(p[i]);
		if (total + len + 1 > PRINCIPALS_TEXT_MAX)
			break;
		total += len + 1;
	}
	if ((out = malloc(total)) == NULL)
		return NULL;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		len = strlen(p[i]);
		if (pos + len + 2 > total)
			break;
		if (i > 0)
			out[pos++] = ',';
		memcpy(out + pos, p[i], len);
		pos += len;
		out[pos] = '\0';
	}
	return out;
}

/* 1 when the certificate the signer returned is exactly what we asked, under our CA. */
static int cert_matches(const struct server *srv, const uint8_t *blob, size_t len,
                        const struct cert_req *req, const struct key *subject)
{
	struct cert *c = NULL;
	size_t i;
	int ok = 0;

	if (cert_parse(blob, len, &c) != 0)
		goto out;
	if (!key_equal_public(c->ca, srv->ca_pub) || !key_equal_public(c->subject, subject) ||
	    c->cert_type != CERT_TYPE_USER || c->serial != req->serial ||
	    strcmp(c->key_id, req->key_id) != 0 || c->valid_after != req->valid_after ||
	    c->valid_before != req->valid_before || c->nprincipals != req->nprincipals ||
	    c->critical.n != req->critical.n || c->extensions.n != req->extensions.n)
		goto out;
	for (i = 0; i < req->nprincipals; i++)
		if (strcmp(c->principals[i], req->principals[i]) != 0)
			goto out;
	for (i = 0; i < c->critical.n; i++) {
		const struct cert_opt *o = cert_opts_find(&req->critical, c->critical.v[i].name);

		if (o == NULL || (o->value == NULL) != (c->critical.v[i].value == NULL) ||
		    (o->value != NULL && strcmp(o->value, c->critical.v[i].value) != 0))
			goto out;
	}
	for (i = 0; i < c->extensions.n; i++) {
		const struct cert_opt *o =
		        cert_opts_find(&req->extensions, c->extensions.v[i].name);

		if (o == NULL || (o->value == NULL) != (c->extensions.v[i].value == NULL) ||
		    (o->value != NULL && strcmp(o->value, c->extensions.v[i].value) != 0))
			goto out;
	}
	ok = 1;
out:
	cert_free(c);
	return ok;
}

/*
 * Decides one complete request: authenticates, decodes, applies the
 * requester's caps, and has the signer sign. Fills d; sets srv->fatal when
 * the signer is gone or misbehaves.
 */
static void decide(struct server *srv, struct conn *c, struct decision *d)
{
	const struct jit_config *cfg = srv->cfg;
	const struct config_requester *rq;
	struct proto_request *q = &d->req;
	struct key *subject = NULL;
	struct cert_req creq;
	uint64_t now = (uint64_t)time(NULL), validity, cap;
	const char *cap_name;
	char why[256], vtext[TIME_TEXT_MAX];
	int breakglass, r;
	size_t i;

	cert_req_init(&creq);
	d->conn = c;
	d->requester = "";
	d->context = "";
	d->source_address = "";
	d->status = PROTO_INTERNAL;
	if (c->ssl != NULL) {
		if (c->hs_failed) {
			refuse(d, PROTO_UNAUTHENTICATED, "%s", c->hs_error);
			goto out;
		}
		if ((rq = c->tls_rq) == NULL) {
			refuse(d, PROTO_UNAUTHENTICATED,
			       "client certificate \"%s\" is not an allowed requester",
			       c->peer_name != NULL ? c->peer_name : "");
			goto out;
		}
	} else if ((rq = c->unix_rq) == NULL) {
		refuse(d, PROTO_UNAUTHENTICATED, "caller uid %u is not an allowed requester",
		       (unsigned)c->cred.uid);
		goto out;
	}
	d->requester = rq->name;
	if (c->too_large) {
		refuse(d, PROTO_BAD_REQUEST, "request frame of %u bytes refused (1..%u allowed)",
		       (unsigned)c->frame_len,
		       (unsigned)(cfg->ca.max_request < PROTO_FRAME_MAX ? cfg->ca.max_request
		                                                        : PROTO_FRAME_MAX));
		goto out;
	}
	if ((r = proto_request_decode(c->in, c->in_got, q)) != 0) {
		refuse(d, PROTO_BAD_REQUEST, "malformed request: %s", jit_err(r));
		goto out;
	}
	d->have_req = 1;
	breakglass = q->context == PROTO_CTX_BREAKGLASS;
	d->context = breakglass ? "breakglass" : "ticket";
	if ((d->principals = join_principals(q->principals, q->nprincipals)) == NULL) {
		refuse(d, PROTO_INTERNAL, "out of memory");
		goto out;
	}
	if (breakglass && (q->reason == NULL || q->reason[0] == '\0')) {
		refuse(d, PROTO_BAD_REQUEST, "break-glass requires a reason");
		goto out;
	}
	if (!breakglass && (q->ticket == NULL || q->ticket[0] == '\0')) {
		refuse(d, PROTO_BAD_REQUEST, "a ticket is required");
		goto out;
	}
	if (!breakglass && revocation_has_ticket(srv->revoked, q->ticket)) {
		refuse(d, PROTO_DENIED, "ticket %s is revoked", q->ticket);
		goto out;
	}
	if (q->nprincipals == 0) {
		refuse(d, PROTO_BAD_REQUEST, "no principals requested");
		goto out;
	}
	for (i = 0; i < q->nprincipals; i++) {
		if (!policy_principal_allowed(rq, q->principals[i])) {
			refuse(d, PROTO_DENIED, "principal \"%s\" not allowed for requester %s",
			       q->principals[i], rq->name);
			goto out;
		}
	}
	/* The requester's source-address is a binding, not a default. */
	if (rq->source_address != NULL) {
		if (q->source_address != NULL && q->source_address[0] != '\0' &&
		    strcmp(q->source_address, rq->source_address) != 0) {
			refuse(d, PROTO_DENIED,
			       "source-address \"%s\" not allowed: requester %s is bound to \"%s\"",
			       q->source_address, rq->name, rq->source_address);
			goto out;
		}
		d->source_address = rq->source_address;
	} else if (q->source_address != NULL && q->source_address[0] != '\0') {
		if (addr_list_validate(q->source_address) != 0) {
			refuse(d, PROTO_BAD_REQUEST, "source-address is not a valid address list");
			goto out;
		}
		d->source_address = q->source_address;
	} else if (cfg->certificates.source_address != NULL) {
		/* Nobody named an address: the site default binds it, never "anywhere". */
		d->source_address = cfg->certificates.source_address;
	}
	if (d->source_address[0] != '\0' &&
	    !policy_list_has(rq->critical_options, rq->n_critical_options, "source-address")) {
		refuse(d, PROTO_DENIED,
		       "critical option source-address not allowed for requester %s", rq->name);
		goto out;
	}
	/* Validity: the smallest of what was asked, the caps, and the hard end. */
	validity = q->validity != 0 ? q->validity : cfg->certificates.validity;
	cap = rq->max_validity;
	cap_name = "max_validity";
	if (breakglass && rq->breakglass_max_validity < cap) {
		cap = rq->breakglass_max_validity;
		cap_name = "break-glass cap";
	}
	if (q->not_after != 0) {
		if (q->not_after <= now) {
			refuse(d, PROTO_DENIED, "not_after is in the past");
			goto out;
		}
		if (q->not_after - now < cap) {
			cap = q->not_after - now;
			cap_name = "not_after";
		}
	}
	if (validity > cap) {
		validity = cap;
		d->clamped = 1;
		time_format_duration(validity, vtext, sizeof(vtext));
		snprintf(d->message, sizeof(d->message), "validity clamped to %s (%s)", vtext,
		         cap_name);
	}
	if ((r = key_from_blob(q->pubkey, q->pubkey_len, &subject)) != 0) {
		refuse(d, PROTO_BAD_REQUEST, "invalid public key: %s", jit_err(r));
		goto out;
	}
	if ((r = key_fingerprint(subject, &d->fingerprint)) != 0) {
		refuse(d, PROTO_INTERNAL, "fingerprint: %s", jit_err(r));
		goto out;
	}
	if ((r = serial_next(srv->serial, &d->serial)) != 0) {
		slog(LOG_ERR, "event=error what=serial error=\"%s\"",
		     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		refuse(d, PROTO_UNAVAILABLE, "serial state unavailable");
		d->serial = 0;
		goto out;
	}
	if (breakglass)
		r = asprintf(&d->key_id, "user=%s breakglass=1 session=%s requester=%s serial=%llu",
		             q->user, q->session, rq->name, (unsigned long long)d->serial);
	else
		r = asprintf(&d->key_id, "user=%s ticket=%s session=%s requester=%s serial=%llu",
		             q->user, q->ticket, q->session, rq->name,
		             (unsigned long long)d->serial);
	if (r < 0) {
		d->key_id = NULL;
		refuse(d, PROTO_INTERNAL, "out of memory");
		goto out;
	}
	d->valid_after = now - SERVE_BACKDATE;
	d->valid_before = now + validity;
	creq.serial = d->serial;
	creq.valid_after = d->valid_after;
	creq.valid_before = d->valid_before;
	if ((r = cert_req_set_key_id(&creq, d->key_id)) != 0 ||
	    (d->source_address[0] != '\0' &&
	     (r = cert_req_set_option(&creq, 1, "source-address", d->source_address)) != 0) ||
	    (r = cert_req_set_option(&creq, 0, breakglass ? SERVE_EXT_BREAKGLASS : SERVE_EXT_TICKET,
	                             breakglass ? NULL : q->ticket)) != 0 ||
	    (r = cert_req_set_option(&creq, 0, SERVE_EXT_SESSION, q->session)) != 0) {
		refuse(d, PROTO_BAD_REQUEST, "certificate request: %s", jit_err(r));
		goto out;
	}
	for (i = 0; i < q->nprincipals; i++) {
		if ((r = cert_req_add_principal(&creq, q->principals[i])) != 0) {
			refuse(d, PROTO_BAD_REQUEST, "principal \"%s\": %s", q->principals[i],
			       jit_err(r));
			goto out;
		}
	}
	for (i = 0; i < cfg->certificates.n_extensions; i++) {
		if (!policy_list_has(rq->extensions, rq->n_extensions,
		                     cfg->certificates.extensions[i]))
			continue;
		if ((r = cert_req_set_option(&creq, 0, cfg->certificates.extensions[i], NULL)) !=
		    0) {
			refuse(d, PROTO_INTERNAL, "extension \"%s\": %s",
			       cfg->certificates.extensions[i], jit_err(r));
			goto out;
		}
	}
	r = signer_sign(srv->signer, rq->name, breakglass, &creq, subject, &d->cert, &d->cert_len,
	                why, sizeof(why));
	if (r == JIT_ERR_INVALID_ARGUMENT) {
		slog(LOG_ERR, "event=signer_refused requester=%s serial=%llu why=\"%s\"", rq->name,
		     (unsigned long long)d->serial, why);
		refuse(d, PROTO_INTERNAL, "signer refused: %s", why);
		goto out;
	}
	if (r != 0) {
		slog(LOG_CRIT, "event=fatal what=signer error=\"%s\"",
		     r == JIT_ERR_SYSTEM ? strerror(errno) : "signer gone or broken");
		srv->fatal = 1;
		refuse(d, PROTO_UNAVAILABLE, "signer unavailable");
		goto out;
	}
	if (!cert_matches(srv, d->cert, d->cert_len, &creq, subject)) {
		slog(LOG_CRIT,
		     "event=fatal what=signer error=\"certificate does not match the "
		     "request\" serial=%llu",
		     (unsigned long long)d->serial);
		srv->fatal = 1;
		refuse(d, PROTO_INTERNAL, "signer returned a wrong certificate");
		goto out;
	}
	free(d->principals);
	if ((d->principals = join_principals(creq.principals, creq.nprincipals)) == NULL) {
		refuse(d, PROTO_INTERNAL, "out of memory");
		goto out;
	}
	d->status = PROTO_OK;
out:
	key_free(subject);
	cert_req_clear(&creq);
}

/* The audit fields of a decision; returns how many. */
static size_t decision_fields(const struct decision *d, struct audit_field *f, size_t max)
{
	const struct proto_request *q = &d->req;
	int ok = d->status == PROTO_OK;
	size_t n = 0;

#define ADD(x)                                                                                     \
	do {                                                                                       \
		if (n < max)                                                                       \
			f[n++] = (struct audit_field)x;                                            \
	} while (0)
	ADD(AUDIT_STR("event", ok ? "issued" : "refused"));
	ADD(AUDIT_STR("requester", d->requester));
	if (d->conn->ssl != NULL) {
		ADD(AUDIT_STR("peer_address", d->conn->peer_addr));
		ADD(AUDIT_STR("peer_name", d->conn->peer_name != NULL ? d->conn->peer_name : ""));
	} else {
		ADD(AUDIT_U64("peer_uid", d->conn->cred.uid));
		ADD(AUDIT_U64("peer_pid", (uint64_t)d->conn->cred.pid));
	}
	ADD(AUDIT_STR("user", d->have_req ? q->user : ""));
	ADD(AUDIT_STR("context", d->context));
	ADD(AUDIT_STR("ticket", d->have_req && q->ticket != NULL ? q->ticket : ""));
	ADD(AUDIT_STR("reason", d->have_req && q->reason != NULL ? q->reason : ""));
	ADD(AUDIT_STR("session", d->have_req && q->session != NULL ? q->session : ""));
	ADD(AUDIT_STR("status", proto_status_name(d->status)));
	ADD(AUDIT_STR("message", d->message));
	ADD(AUDIT_STR("principals", d->principals != NULL ? d->principals : ""));
	if (ok) {
		ADD(AUDIT_U64("serial", d->serial));
		ADD(AUDIT_STR("key_id", d->key_id));
		ADD(AUDIT_U64("valid_after", d->valid_after));
		ADD(AUDIT_U64("valid_before", d->valid_before));
		ADD(AUDIT_STR("source_address", d->source_address));
		ADD(AUDIT_STR("fingerprint", d->fingerprint));
		ADD(AUDIT_BOOL("clamped", d->clamped));
	}
#undef ADD
	return n;
}

/* Appends the decision's record; on a record too large, refuses and records that instead. */
static int audit_decision(struct server *srv, struct decision *d, uint64_t now)
{
	struct audit_field f[AUDIT_FIELDS_MAX];
	size_t n;
	int r;

	if (srv->audit == NULL)
		return 0;
	n = decision_fields(d, f, AUDIT_FIELDS_MAX);
	r = audit_append(srv->audit, now, f, n, NULL);
	if (r == JIT_ERR_NO_BUFFER_SPACE || r == JIT_ERR_INVALID_ARGUMENT) {
		/* Nothing was written: a shorter refusal takes its place. */
		refuse(d, PROTO_INTERNAL, "audit record too large");
		free(d->principals);
		d->principals = NULL;
		n = decision_fields(d, f, AUDIT_FIELDS_MAX);
		r = audit_append(srv->audit, now, f, n, NULL);
	}
	if (r != 0)
		return r;
	d->appended = 1;
	/* Formatted in the loop's one buffer, kept at its own length until logged. */
	if (srv->line != NULL && audit_syslog_line(srv->audit, srv->line, AUDIT_SYSLOG_MAX) == 0)
		d->audit_line = strdup(srv->line);
	return 0;
}

static void log_decision(struct server *srv, const struct decision *d)
{
	struct audit_field f[AUDIT_FIELDS_MAX];
	int prio;
	size_t n;

	if (d->status == PROTO_OK)
		prio = strcmp(d->context, "breakglass") == 0 ? LOG_ALERT : LOG_INFO;
	else
		prio = d->status == PROTO_UNAVAILABLE || d->status == PROTO_INTERNAL ? LOG_ERR
		                                                                     : LOG_NOTICE;
	if (d->audit_line != NULL) {
		slog(prio, "%s", d->audit_line);
		return;
	}
	n = decision_fields(d, f, AUDIT_FIELDS_MAX);
	if (srv->line == NULL) {
		slog(prio, "event=%s status=%s", d->status == PROTO_OK ? "issued" : "refused",
		     proto_status_name(d->status));
		return;
	}
	format_fields(f, n, srv->line, LOG_LINE_MAX);
	slog(prio, "%s", srv->line);
}

/* 1 when the store file changed (or appeared, or went) since st. */
static int store_changed(const struct stat *old, const struct stat *st)
{
	return old->st_ino != st->st_ino || old->st_dev != st->st_dev ||
	       old->st_size != st->st_size || old->st_mtim.tv_sec != st->st_mtim.tv_sec ||
	       old->st_mtim.tv_nsec != st->st_mtim.tv_nsec;
}

/*
 * Reads the revocation store again when it changed. At startup (initial)
 * any failure is fatal; later a store that cannot be read or parsed keeps
 * the last good set (never none: that would fail open) and is logged once
 * per change. A store that vanished keeps the last set too.
 */
static int store_reload(struct server *srv, int initial)
{
	struct revocations *rv = NULL;
	struct stat st, again;
	unsigned long line = 0;
	char why[REVOCATION_WHY_MAX], qwhy[REVOCATION_WHY_MAX * 4 + 3];
	size_t pos = 0;
	int r;

	if (stat(srv->store_path, &st) != 0) {
		if (errno == ENOENT && srv->store_st.st_ino == 0 && srv->revoked != NULL)
			return 0;
		if (errno != ENOENT || !initial) {
			if (!initial && srv->store_st.st_ino == 0)
				return 0; /* already logged */
			slog(LOG_ERR,
			     "event=error what=revocation_store path=\"%s\" error=\"%s\" "
			     "kept_tickets=%zu",
			     srv->store_path, strerror(errno),
			     srv->revoked != NULL ? srv->revoked->ntickets : 0);
			memset(&srv->store_st, 0, sizeof(srv->store_st));
			return initial ? JIT_ERR_SYSTEM : 0;
		}
		memset(&st, 0, sizeof(st));
	} else if (srv->revoked != NULL && !store_changed(&srv->store_st, &st))
		return 0;
	r = revocation_load(srv->store_path, &rv, &line, why, sizeof(why));
	if (r != 0) {
		put_quoted(qwhy, sizeof(qwhy), &pos,
		           why[0] != '\0'        ? why
		           : r == JIT_ERR_SYSTEM ? strerror(errno)
		                                 : jit_err(r));
		slog(LOG_ERR,
		     "event=error what=revocation_store path=\"%s\" line=%lu error=%s "
		     "kept_tickets=%zu",
		     srv->store_path, line, qwhy,
		     srv->revoked != NULL ? srv->revoked->ntickets : 0);
		/* Logged once: the next change of the file tries again. */
		srv->store_st = st;
		return initial ? r : 0;
	}
	/* Gone between stat and read: read as empty, which must not clear the set. */
	if (!initial && st.st_ino != 0 && stat(srv->store_path, &again) != 0) {
		revocation_free(rv);
		return 0;
	}
	revocation_free(srv->revoked);
	srv->revoked = rv;
	srv->store_st = st;
	if (!initial)
		slog(LOG_NOTICE, "event=revocation_store path=\"%s\" revoked_tickets=%zu",
		     srv->store_path, rv->ntickets);
	return 0;
}

/* Decides, records, syncs, then answers every complete request (group commit). */
static void process_ready(struct server *srv)
{
	struct decision *ds = NULL;
	uint64_t now = (uint64_t)time(NULL);
	size_t i, n = 0;
	int r, sync_failed = 0, append_failed = 0;

	for (i = 0; i < srv->max_conns; i++)
		if (srv->conns[i].state == CONN_READY)
			n++;
	if (n == 0)
		return;
	/* Once per batch: a ticket revoked a moment ago is refused from now on. */
	(void)store_reload(srv, 0);
	if ((ds = calloc(n, sizeof(*ds))) == NULL) {
		slog(LOG_ERR, "event=error what=\"out of memory\"");
		return; /* the requests stay ready; their deadline ends them */
	}
	n = 0;
	for (i = 0; i < srv->max_conns; i++) {
		if (srv->conns[i].state != CONN_READY)
			continue;
		decide(srv, &srv->conns[i], &ds[n]);
		if ((r = audit_decision(srv, &ds[n], now)) != 0) {
			append_failed = 1;
			slog(LOG_ERR, "event=error what=audit_append error=\"%s\"",
			     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		}
		n++;
		if (srv->fatal)
			break;
	}
	if (srv->audit != NULL && (r = audit_sync(srv->audit)) != 0) {
		sync_failed = 1;
		slog(LOG_ERR, "event=error what=audit_sync error=\"%s\"", jit_err(r));
	}
	for (i = 0; i < n; i++) {
		struct decision *d = &ds[i];

		if ((sync_failed || append_failed) && d->status == PROTO_OK) {
			free(d->audit_line);
			d->audit_line = NULL;
			refuse(d, PROTO_UNAVAILABLE, "audit log unavailable");
		} else if (sync_failed && d->audit_line != NULL) {
			/* Not durable: the log line must not claim a record that may vanish. */
			free(d->audit_line);
			d->audit_line = NULL;
		}
		log_decision(srv, d);
		/* A failed handshake leaves no channel to answer on. */
		if (d->conn->hs_failed)
			conn_close(srv, d->conn);
		else
			conn_respond(srv, d->conn, d);
		decision_free(d);
	}
	free(ds);
}

static void expire(struct server *srv, uint64_t t)
{
	char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];
	size_t i;

	for (i = 0; i < srv->max_conns; i++) {
		struct conn *c = &srv->conns[i];

		if (c->state == CONN_FREE || t < c->deadline_ms)
			continue;
		slog(LOG_NOTICE, "event=dropped reason=timeout %s state=%s",
		     peer_text(c, ptext, sizeof(ptext)),
		     c->state == CONN_WRITE       ? "writing"
		     : c->state == CONN_HANDSHAKE ? "handshake"
		                                  : "reading");
		conn_close(srv, c);
	}
}

static int loop(struct server *srv)
{
	struct pollfd *pfd = NULL;
	struct conn **owner = NULL;
	sigset_t block, orig;
	struct timespec ts;
	uint64_t t, next;
	size_t i, np, total = srv->nls + srv->max_conns + 1;
	int stopping = 0, r = JIT_ERR_INTERNAL, pr;

	if ((pfd = calloc(total, sizeof(*pfd))) == NULL ||
	    (owner = calloc(total, sizeof(*owner))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);
	for (;;) {
		if (stop_signal != 0 && !stopping) {
			slog(LOG_NOTICE, "event=stopping signal=%d connections=%zu",
			     (int)stop_signal, srv->nconns);
			stopping = 1;
			close_listeners(srv);
		}
		if (stopping && srv->nconns == 0)
			break;
		t = now_ms();
		np = 0;
		/* The signer's end: POLLHUP when it dies. */
		pfd[np].fd = signer_fd(srv->signer);
		pfd[np].events = 0;
		owner[np++] = NULL;
		for (i = 0; i < srv->nls; i++) {
			if (srv->ls[i].fd < 0 || t < srv->accept_paused_until)
				continue;
			pfd[np].fd = srv->ls[i].fd;
			pfd[np].events = POLLIN;
			owner[np++] = NULL;
		}
		next = t + 1000;
		if (srv->accept_paused_until > t && srv->accept_paused_until < next)
			next = srv->accept_paused_until;
		for (i = 0; i < srv->max_conns; i++) {
			struct conn *c = &srv->conns[i];

			if (c->state == CONN_FREE)
				continue;
			pfd[np].fd = c->fd;
			if (c->ssl != NULL)
				pfd[np].events = c->want;
			else
				pfd[np].events = c->state == CONN_WRITE ? POLLOUT : POLLIN;
			owner[np++] = c;
			if (c->deadline_ms < next)
				next = c->deadline_ms;
		}
		ts.tv_sec = (time_t)((next > t ? next - t : 0) / 1000);
		ts.tv_nsec = (long)((next > t ? next - t : 0) % 1000) * 1000000L;
		pr = ppoll(pfd, np, &ts, &orig);
		if (pr < 0 && errno != EINTR) {
			slog(LOG_ERR, "event=fatal what=poll error=\"%s\"", strerror(errno));
			r = JIT_ERR_SYSTEM;
			goto out;
		}
		if (pr > 0) {
			if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
				slog(LOG_CRIT,
				     "event=fatal what=signer error=\"signer process (pid "
				     "%d) is gone\"",
				     (int)signer_pid(srv->signer));
				r = JIT_ERR_INTERNAL;
				goto out;
			}
			for (i = 1; i < np; i++) {
				if (pfd[i].revents == 0)
					continue;
				if (owner[i] == NULL) {
					size_t k;

					for (k = 0; k < srv->nls; k++)
						if (srv->ls[k].fd == pfd[i].fd)
							accept_all(srv, &srv->ls[k]);
				} else if (owner[i]->state == CONN_HANDSHAKE)
					conn_handshake(srv, owner[i]);
				else if (owner[i]->state == CONN_READ)
					conn_read(srv, owner[i]);
				else if (owner[i]->state == CONN_WRITE)
					conn_write(srv, owner[i]);
			}
		}
		process_ready(srv);
		if (srv->fatal) {
			r = JIT_ERR_INTERNAL;
			goto out;
		}
		expire(srv, now_ms());
	}
	r = 0;
out:
	free(owner);
	free(pfd);
	return r;
}

int serve_run(struct serve_opts *opts, const struct jit_config *cfg, const char *cfg_path)
{
	struct server srv;
	struct key *ca = NULL;
	struct sigaction sa;
	size_t i, dropped = 0;
	char msg[512];
	int need_tls = 0, r = JIT_ERR_INTERNAL;

	opts->sys_errno = 0;
	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	openlog("jit-ca", LOG_PID, LOG_AUTHPRIV);
	if ((r = resolve_requesters(&srv)) != 0)
		goto out;
	/* Revoked tickets are refused from the start: an unreadable store stops it. */
	if (asprintf(&srv.store_path, "%s/%s", cfg->ca.state_dir, REVOCATION_FILE) < 0) {
		srv.store_path = NULL;
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = store_reload(&srv, 1)) != 0) {
		if (r == JIT_ERR_SYSTEM)
			r = JIT_ERR_CONFIG_INVALID;
		goto out;
	}
	if ((r = key_load_private(cfg->ca.key, NULL, &ca)) != 0) {
		slog(LOG_ERR, "event=fatal what=ca_key path=\"%s\" error=\"%s\"", cfg->ca.key,
		     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	}
	if ((r = key_from_blob(ca->blob, ca->blob_len, &srv.ca_pub)) != 0) {
		slog(LOG_ERR, "event=fatal what=ca_key error=\"%s\"", jit_err(r));
		goto out;
	}
	if ((r = signer_start(cfg, ca, &srv.signer)) != 0) {
		slog(LOG_ERR, "event=fatal what=signer error=\"%s\"",
		     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	}
	/* From here on only the signer holds the private key. */
	key_free(ca);
	ca = NULL;
	/* The TLS key is the network side's own; the signer never sees it. */
	for (i = 0; i < cfg->ca.n_listen; i++)
		if (cfg->ca.listen[i].type == CONFIG_ENDPOINT_TLS)
			need_tls = 1;
	if (need_tls && (r = tls_server_ctx(&cfg->ca.tls, &srv.tls_ctx, msg, sizeof(msg))) != 0) {
		slog(LOG_ERR, "event=fatal what=tls error=\"%s\"", msg);
		if (r == JIT_ERR_SYSTEM)
			r = JIT_ERR_CONFIG_INVALID;
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* A file size limit must fail the audit write, not kill the service. */
	sigaction(SIGXFSZ, &sa, NULL);
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (cfg->ca.audit_sync == CONFIG_AUDIT_SYSLOG_ONLY) {
		slog(LOG_WARNING, "event=audit mode=syslog-only warning=\"audit records go to "
		                  "syslog only and are not durable\"");
	} else if ((r = audit_open(cfg->ca.audit_log, &srv.audit, &dropped)) != 0) {
		slog(LOG_ERR, "event=fatal what=audit_log path=\"%s\" error=\"%s\"",
		     cfg->ca.audit_log, r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	} else if (dropped > 0)
		slog(LOG_WARNING, "event=audit_recovered path=\"%s\" dropped_bytes=%zu",
		     cfg->ca.audit_log, dropped);
	/*
	 * A lost serial file must not restart serials at 1 while the audit log
	 * shows certificates were issued: that would reuse serials.
	 */
	if ((r = serial_open(cfg->ca.state_dir, srv.audit != NULL && audit_seq(srv.audit) > 0,
	                     &srv.serial)) != 0) {
		if (r == JIT_ERR_NOT_FOUND)
			slog(LOG_ERR,
			     "event=fatal what=serial state_dir=\"%s\" error=\"serial file "
			     "missing but the audit log holds records: restore it, or write a "
			     "number above every serial issued into it\"",
			     cfg->ca.state_dir);
		else
			slog(LOG_ERR, "event=fatal what=serial state_dir=\"%s\" error=\"%s\"",
			     cfg->ca.state_dir, r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	}
	srv.max_conns = cfg->ca.max_connections;
	/*
	 * With a Unix listener too, TLS callers (unauthenticated until their
	 * handshake ends) may not take the slots local callers need.
	 */
	srv.tls_max = srv.max_conns;
	for (i = 0; i < cfg->ca.n_listen; i++) {
		if (cfg->ca.listen[i].type != CONFIG_ENDPOINT_TLS) {
			size_t reserve = srv.max_conns / 4, floor = srv.max_conns / 2;

			if (floor > UNIX_RESERVE_MIN)
				floor = UNIX_RESERVE_MIN;
			if (reserve < floor)
				reserve = floor;
			srv.tls_max = srv.max_conns - reserve;
			break;
		}
	}
	if ((srv.line = malloc(LOG_LINE_MAX)) == NULL ||
	    (srv.conns = calloc(srv.max_conns, sizeof(*srv.conns))) == NULL ||
	    (srv.ls = calloc(cfg->ca.n_listen, sizeof(*srv.ls))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < srv.max_conns; i++)
		srv.conns[i].fd = -1;
	for (i = 0; i < cfg->ca.n_listen; i++) {
		srv.ls[i].fd = -1;
		srv.nls++;
		if (cfg->ca.listen[i].type == CONFIG_ENDPOINT_TLS) {
			if ((r = listen_tcp(cfg->ca.listen[i].host, cfg->ca.listen[i].port,
			                    &srv.ls[i])) != 0) {
				slog(LOG_ERR, "event=fatal what=listen listen=\"%s\" error=\"%s\"",
				     cfg->ca.listen[i].text, strerror(errno));
				goto out;
			}
			continue;
		}
		srv.ls[i].path = cfg->ca.listen[i].path;
		if ((r = listen_unix(cfg->ca.listen[i].path, &srv.ls[i])) != 0) {
			slog(LOG_ERR, "event=fatal what=listen path=\"%s\" error=\"%s\"",
			     cfg->ca.listen[i].path, strerror(errno));
			goto out;
		}
	}
	slog(LOG_NOTICE,
	     "event=started config=\"%s\" pid=%d signer_pid=%d listeners=%zu audit=%s "
	     "max_connections=%u tls_connections=%zu request_timeout=%llu",
	     cfg_path, (int)getpid(), (int)signer_pid(srv.signer), srv.nls,
	     srv.audit != NULL ? "fsync" : "syslog-only", cfg->ca.max_connections, srv.tls_max,
	     (unsigned long long)cfg->ca.request_timeout);
	r = loop(&srv);
	if (r == 0)
		slog(LOG_NOTICE, "event=stopped");
out:
	if (r == JIT_ERR_SYSTEM)
		opts->sys_errno = errno;
	for (i = 0; i < srv.max_conns && srv.conns != NULL; i++)
		conn_close(&srv, &srv.conns[i]);
	if (srv.ls != NULL)
		close_listeners(&srv);
	free(srv.ls);
	free(srv.conns);
	free(srv.line);
	free(srv.uids);
	free(srv.gids);
	free(srv.store_path);
	revocation_free(srv.revoked);
	serial_close(srv.serial);
	audit_close(srv.audit);
	signer_stop(srv.signer);
	key_free(srv.ca_pub);
	key_free(ca);
	SSL_CTX_free(srv.tls_ctx);
	closelog();
	return r;
}
