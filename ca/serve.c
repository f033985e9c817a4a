/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca serve: the network side of the signing service. One thread, one
 * poll() loop, non-blocking Unix sockets; callers are authenticated with
 * SO_PEERCRED and mapped to a configured requester, whose caps decide the
 * certificate. The CA key lives only in the signer process (signer.c).
 *
 * Each loop iteration collects every request that is complete, decides and
 * signs them, appends one audit record each, syncs the audit log once, and
 * only then answers (group commit): no certificate leaves without its
 * record on disk.
 */
#define _GNU_SOURCE /* struct ucred, accept4, ppoll */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
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

#include "addr.h"
#include "audit.h"
#include "buf.h"
#include "cert.h"
#include "err.h"
#include "key.h"
#include "proto.h"
#include "serve.h"
#include "timefmt.h"

/* Connections accepted per listener per loop iteration, so listeners cannot starve callers. */
#define ACCEPT_BURST 64
/* Pause accepting this long when the process is out of file descriptors. */
#define ACCEPT_PAUSE_MS 100
/* Longest text we put in a log line value before escaping. */
#define LOG_LINE_MAX AUDIT_SYSLOG_MAX
/* Bytes of a comma list of principals (PROTO_PRINCIPALS_MAX names of CERT_PRINCIPAL_MAX). */
#define PRINCIPALS_TEXT_MAX (PROTO_PRINCIPALS_MAX * (CERT_PRINCIPAL_MAX + 1) + 1)
/* Group names looked up for one caller. */
#define PEER_GROUPS_MAX 1024

enum conn_state {
	CONN_FREE = 0,
	CONN_READ,  /* reading the request frame */
	CONN_READY, /* a whole frame (or an oversized header) is in */
	CONN_WRITE, /* sending the response */
};

struct conn {
	enum conn_state state;
	int fd;
	uint64_t deadline_ms;
	struct ucred cred;
	uint8_t hdr[4];
	size_t hdr_got;
	uint32_t frame_len;
	int too_large;
	uint8_t *in;
	size_t in_cap, in_got;
	uint8_t *out;
	size_t out_len, out_sent;
};

struct listener {
	int fd;
	char *path;
	dev_t dev; /* of the socket we made, so we unlink only ours */
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

struct server {
	const struct jit_config *cfg;
	struct listener *ls;
	size_t nls;
	struct conn *conns;
	size_t max_conns, nconns;
	struct audit_log *audit;
	struct serial_state *serial;
	struct signer *signer;
	struct key *ca_pub;
	uint64_t accept_paused_until;
	uint64_t overload_count, overload_logged_at;
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

/* --- listeners --- */

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
		if (lstat(srv->ls[i].path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_dev == srv->ls[i].dev && st.st_ino == srv->ls[i].ino)
			unlink(srv->ls[i].path);
	}
}

/* --- connections --- */

static void conn_close(struct server *srv, struct conn *c)
{
	if (c->state == CONN_FREE)
		return;
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CONN_FREE;
	srv->nconns--;
}

/* The answer to a caller we cannot take: best effort, never blocking. */
static void refuse_overload(struct server *srv, int fd)
{
	static const char msg[] = "too many connections";
	struct proto_response resp;
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	uint8_t hdr[4];
	uint64_t t = now_ms();

	memset(&resp, 0, sizeof(resp));
	resp.status = PROTO_UNAVAILABLE;
	resp.message = (char *)msg;
	if (b != NULL && proto_response_encode(&resp, b) == 0) {
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
		if (srv->nconns >= srv->max_conns) {
			refuse_overload(srv, fd);
			continue;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
		    len != sizeof(cred)) {
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
		srv->conns[i].state = CONN_READ;
		srv->conns[i].fd = fd;
		srv->conns[i].cred = cred;
		srv->conns[i].deadline_ms = now_ms() + srv->cfg->ca.request_timeout * 1000;
		srv->nconns++;
	}
}

/* Reads what is there; moves to CONN_READY when the frame is whole. */
static void conn_read(struct server *srv, struct conn *c)
{
	size_t want, ncap;
	uint8_t *n;
	ssize_t got;

	for (;;) {
		if (c->hdr_got < sizeof(c->hdr)) {
			got = read(c->fd, c->hdr + c->hdr_got, sizeof(c->hdr) - c->hdr_got);
		} else {
			want = c->frame_len - c->in_got;
			if (c->in_got == c->in_cap) {
				/* Grow with what arrives, not with what the header claims. */
				ncap = c->in_cap < 4096 ? 4096 : c->in_cap * 2;
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
			got = read(c->fd, c->in + c->in_got, want);
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (got <= 0) {
			/* The caller went away before finishing its request: nothing to decide. */
			slog(LOG_INFO, "event=dropped reason=\"%s\" peer_uid=%u peer_pid=%d",
			     got == 0 ? "closed before a whole request" : strerror(errno),
			     (unsigned)c->cred.uid, (int)c->cred.pid);
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
	ssize_t n;

	while (c->out_sent < c->out_len) {
		n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			slog(LOG_INFO,
			     "event=dropped reason=\"response not delivered: %s\" "
			     "peer_uid=%u peer_pid=%d",
			     n < 0 ? strerror(errno) : "closed", (unsigned)c->cred.uid,
			     (int)c->cred.pid);
			conn_close(srv, c);
			return;
		}
		c->out_sent += (size_t)n;
	}
	conn_close(srv, c);
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
		slog(LOG_ERR, "event=dropped reason=\"response not encodable\" peer_pid=%d",
		     (int)c->cred.pid);
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
	conn_write(srv, c);
}

/* --- caller authentication --- */

/* The requester this peer is, by user name or by one of its groups; NULL if none. */
static const struct config_requester *authenticate(const struct server *srv,
                                                   const struct ucred *cred)
{
	const struct config_ca *ca = &srv->cfg->ca;
	const struct config_requester *found = NULL;
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	gid_t *groups = NULL;
	char *pwbuf = NULL, *grbuf = NULL;
	size_t pwlen = 16384, grlen = 65536, i, j;
	int ngroups = PEER_GROUPS_MAX, have_groups = 0;

	if ((pwbuf = malloc(pwlen)) == NULL || (grbuf = malloc(grlen)) == NULL ||
	    (groups = calloc(PEER_GROUPS_MAX, sizeof(*groups))) == NULL)
		goto out;
	if (getpwuid_r(cred->uid, &pw, pwbuf, pwlen, &pwp) != 0 || pwp == NULL)
		goto out;
	for (i = 0; i < ca->n_requesters; i++) {
		if (policy_list_has(ca->requesters[i].unix_users, ca->requesters[i].n_unix_users,
		                    pw.pw_name)) {
			found = &ca->requesters[i];
			goto out;
		}
	}
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ngroups) >= 0)
		have_groups = 1;
	/* The peer's own gid counts too (a process may run with another primary group). */
	for (j = 0; j <= (have_groups ? (size_t)ngroups : 0); j++) {
		gid_t g = j < (size_t)ngroups && have_groups ? groups[j] : cred->gid;

		if (getgrgid_r(g, &gr, grbuf, grlen, &grp) != 0 || grp == NULL)
			continue;
		for (i = 0; i < ca->n_requesters; i++) {
			if (policy_list_has(ca->requesters[i].unix_groups,
			                    ca->requesters[i].n_unix_groups, gr.gr_name)) {
				found = &ca->requesters[i];
				goto out;
			}
		}
	}
out:
	free(groups);
	free(grbuf);
	free(pwbuf);
	return found;
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

static char *join_principals(char *const *p, size_t n)
{
	char *out;
	size_t i, pos = 0, len;

	if ((out = malloc(PRINCIPALS_TEXT_MAX)) == NULL)
		return NULL;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		len = strlen(p[i]);
		if (pos + len + 2 > PRINCIPALS_TEXT_MAX)
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
	if ((rq = authenticate(srv, &c->cred)) == NULL) {
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
	ADD(AUDIT_U64("peer_uid", d->conn->cred.uid));
	ADD(AUDIT_U64("peer_pid", (uint64_t)d->conn->cred.pid));
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
	if ((d->audit_line = malloc(AUDIT_SYSLOG_MAX)) != NULL &&
	    audit_syslog_line(srv->audit, d->audit_line, AUDIT_SYSLOG_MAX) != 0) {
		free(d->audit_line);
		d->audit_line = NULL;
	}
	return 0;
}

static void log_decision(const struct decision *d)
{
	struct audit_field f[AUDIT_FIELDS_MAX];
	char *line = NULL;
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
	if ((line = malloc(LOG_LINE_MAX)) == NULL) {
		slog(prio, "event=%s status=%s", d->status == PROTO_OK ? "issued" : "refused",
		     proto_status_name(d->status));
		return;
	}
	format_fields(f, n, line, LOG_LINE_MAX);
	slog(prio, "%s", line);
	free(line);
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
		log_decision(d);
		conn_respond(srv, d->conn, d);
		decision_free(d);
	}
	free(ds);
}

static void expire(struct server *srv, uint64_t t)
{
	size_t i;

	for (i = 0; i < srv->max_conns; i++) {
		struct conn *c = &srv->conns[i];

		if (c->state == CONN_FREE || t < c->deadline_ms)
			continue;
		slog(LOG_NOTICE, "event=dropped reason=timeout peer_uid=%u peer_pid=%d state=%s",
		     (unsigned)c->cred.uid, (int)c->cred.pid,
		     c->state == CONN_WRITE ? "writing" : "reading");
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
				} else if (owner[i]->state == CONN_READ)
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
	int r = JIT_ERR_INTERNAL;

	opts->sys_errno = 0;
	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	openlog("jit-ca", LOG_PID, LOG_AUTHPRIV);
	for (i = 0; i < cfg->ca.n_listen; i++) {
		if (cfg->ca.listen[i].type != CONFIG_ENDPOINT_UNIX) {
			slog(LOG_ERR,
			     "event=fatal what=listen listen=\"%s\" error=\"tls listeners are "
			     "not supported yet\"",
			     cfg->ca.listen[i].text);
			r = JIT_ERR_CONFIG_INVALID;
			goto out;
		}
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
	if ((r = serial_open(cfg->ca.state_dir, &srv.serial)) != 0) {
		slog(LOG_ERR, "event=fatal what=serial state_dir=\"%s\" error=\"%s\"",
		     cfg->ca.state_dir, r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	}
	srv.max_conns = cfg->ca.max_connections;
	if ((srv.conns = calloc(srv.max_conns, sizeof(*srv.conns))) == NULL ||
	    (srv.ls = calloc(cfg->ca.n_listen, sizeof(*srv.ls))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < srv.max_conns; i++)
		srv.conns[i].fd = -1;
	for (i = 0; i < cfg->ca.n_listen; i++) {
		srv.ls[i].fd = -1;
		srv.ls[i].path = cfg->ca.listen[i].path;
		srv.nls++;
		if ((r = listen_unix(cfg->ca.listen[i].path, &srv.ls[i])) != 0) {
			slog(LOG_ERR, "event=fatal what=listen path=\"%s\" error=\"%s\"",
			     cfg->ca.listen[i].path, strerror(errno));
			goto out;
		}
	}
	slog(LOG_NOTICE,
	     "event=started config=\"%s\" pid=%d signer_pid=%d listeners=%zu audit=%s "
	     "max_connections=%u request_timeout=%llu",
	     cfg_path, (int)getpid(), (int)signer_pid(srv.signer), srv.nls,
	     srv.audit != NULL ? "fsync" : "syslog-only", cfg->ca.max_connections,
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
	serial_close(srv.serial);
	audit_close(srv.audit);
	signer_stop(srv.signer);
	key_free(srv.ca_pub);
	key_free(ca);
	closelog();
	return r;
}
