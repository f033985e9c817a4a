/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The signer: a child process that alone holds the CA private key (the
 * OpenSSH monitor's shape). The network side sends it one narrow, typed
 * message per certificate over a SOCK_SEQPACKET socketpair:
 *
 *   u8 SIGNER_MSG_SIGN, cstring requester, u8 breakglass, u64 serial,
 *   cstring key_id, u32 n + n cstring principals, u64 valid_after,
 *   u64 valid_before, u32 n + n (cstring name, cstring value) critical
 *   options, the same for extensions, string subject public key blob
 *
 * and gets back u8 0 + string certificate blob, or u8 1 + cstring reason,
 * one answer per message, in order. The network side may send several
 * before reading the answers (it keeps at most SIGNER_INFLIGHT waiting, far
 * below what the socket buffers hold, so neither side ever blocks on a
 * full channel).
 *
 * The signer checks the requester's caps itself from its own copy of the
 * configuration and refuses anything else. Serials only grow, and with
 * several signers each signs only its own residue class (serial modulo
 * the number of signers): while the service runs no serial is signed
 * twice, whatever the network side asks. It is not dumpable, dies with its parent, and exits
 * when the channel closes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "cert.h"
#include "err.h"
#include "quote.h"
#include "serve.h"

#define SIGNER_MSG_SIGN  1
#define SIGNER_MSG_MAX   (128 * 1024)
#define SIGNER_REPLY_OK  0
#define SIGNER_REPLY_ERR 1

struct signer {
	int fd;
	pid_t pid;
	struct buf *msg; /* the request being sent */
	uint8_t *answer; /* SIGNER_MSG_MAX: the answer being read */
};

/* The signer's end of the channel, in the child; every higher descriptor is closed. */
#define SIGNER_CHANNEL_FD 3

/* Closes every descriptor from fd up. */
static void close_from(int fd)
{
	long max, i;

	if (close_range((unsigned)fd, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9: one by one, up to the limit. */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (i = fd; i < max; i++)
		close((int)i);
}

static int put_opts(struct buf *b, const struct cert_opts *o)
{
	size_t i;
	int r;

	if ((r = buf_put_u32(b, (uint32_t)o->n)) != 0)
		return r;
	for (i = 0; i < o->n; i++) {
		if ((r = buf_put_cstring(b, o->v[i].name)) != 0 ||
		    (r = buf_put_cstring(b, o->v[i].value != NULL ? o->v[i].value : "")) != 0)
			return r;
	}
	return 0;
}

static int get_opts(struct buf *b, struct cert_req *req, int critical)
{
	char *name = NULL, *value = NULL;
	uint32_t n, i;
	int r;

	if ((r = buf_get_u32(b, &n)) != 0)
		return r;
	if (n > CERT_OPTIONS_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	for (i = 0; i < n; i++) {
		if ((r = buf_get_cstring(b, &name, NULL)) != 0 ||
		    (r = buf_get_cstring(b, &value, NULL)) != 0)
			goto fail;
		/* A duplicate would silently replace: refuse it. */
		if (cert_opts_find(critical ? &req->critical : &req->extensions, name) != NULL) {
			r = JIT_ERR_CERT_BAD_OPTION;
			goto fail;
		}
		if ((r = cert_req_set_option(req, critical, name, value)) != 0)
			goto fail;
		free(name);
		free(value);
		name = value = NULL;
	}
	return 0;
fail:
	free(name);
	free(value);
	return r;
}

/* Parses a sign message into its parts; the caller frees them. */
static int parse_sign(struct buf *b, char **ret_requester, int *ret_breakglass,
                      struct cert_req *req, struct key **ret_subject)
{
	char *requester = NULL, *s = NULL;
	const uint8_t *blob;
	size_t blob_len;
	uint8_t type, bg;
	uint32_t n, i;
	int r;

	*ret_requester = NULL;
	*ret_breakglass = 0;
	*ret_subject = NULL;
	if ((r = buf_get_u8(b, &type)) != 0)
		goto out;
	if (type != SIGNER_MSG_SIGN) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = buf_get_cstring(b, &requester, NULL)) != 0 || (r = buf_get_u8(b, &bg)) != 0 ||
	    (r = buf_get_u64(b, &req->serial)) != 0 || (r = buf_get_cstring(b, &s, NULL)) != 0 ||
	    (r = cert_req_set_key_id(req, s)) != 0 || (r = buf_get_u32(b, &n)) != 0)
		goto out;
	if (n > CERT_PRINCIPALS_MAX) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	for (i = 0; i < n; i++) {
		free(s);
		s = NULL;
		if ((r = buf_get_cstring(b, &s, NULL)) != 0 ||
		    (r = cert_req_add_principal(req, s)) != 0)
			goto out;
	}
	if ((r = buf_get_u64(b, &req->valid_after)) != 0 ||
	    (r = buf_get_u64(b, &req->valid_before)) != 0 || (r = get_opts(b, req, 1)) != 0 ||
	    (r = get_opts(b, req, 0)) != 0 || (r = buf_get_string_direct(b, &blob, &blob_len)) != 0)
		goto out;
	if (buf_len(b) != 0) {
		r = JIT_ERR_TRAILING_DATA;
		goto out;
	}
	if ((r = key_from_blob(blob, blob_len, ret_subject)) != 0)
		goto out;
	if (bg > 1) {
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	*ret_breakglass = bg;
	*ret_requester = requester;
	requester = NULL;
	r = 0;
out:
	free(requester);
	free(s);
	return r;
}

/* Handles one message; fills reply with the answer. */
static void signer_handle(const struct jit_config *cfg, const struct key *ca, unsigned index,
                          unsigned count, const uint8_t *msg, size_t len, uint64_t *last_serial,
                          struct buf *reply)
{
	char qid[CERT_KEY_ID_MAX + 8], qrq[128];
	struct buf *b = NULL;
	struct cert_req req;
	struct key *subject = NULL;
	struct cert *c = NULL;
	const struct config_requester *rq;
	char *requester = NULL, why[256];
	int breakglass = 0, r;

	cert_req_init(&req);
	why[0] = '\0';
	buf_reset(reply);
	if ((b = buf_from(msg, len)) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto refuse;
	}
	if ((r = parse_sign(b, &requester, &breakglass, &req, &subject)) != 0) {
		snprintf(why, sizeof(why), "malformed message: %s", jit_err(r));
		goto refuse;
	}
	if ((rq = policy_find_requester(cfg, requester)) == NULL) {
		snprintf(why, sizeof(why), "unknown requester");
		goto refuse;
	}
	if (policy_check_cert_req(cfg, rq, breakglass, &req, (uint64_t)time(NULL), why,
	                          sizeof(why)) != 0)
		goto refuse;
	/* Serials only grow: a parent replaying or reusing one is refused. */
	if (req.serial <= *last_serial) {
		snprintf(why, sizeof(why), "serial %llu not above the last signed (%llu)",
		         (unsigned long long)req.serial, (unsigned long long)*last_serial);
		goto refuse;
	}
	/* Nor can another signer sign it: each has its own residue class. */
	if (req.serial % count != index) {
		snprintf(why, sizeof(why), "serial %llu is not for signer %u of %u",
		         (unsigned long long)req.serial, index, count);
		goto refuse;
	}
	if ((r = cert_build(&req, subject, ca, &c)) != 0) {
		snprintf(why, sizeof(why), "signing failed: %s", jit_err(r));
		goto refuse;
	}
	if (buf_put_u8(reply, SIGNER_REPLY_OK) != 0 ||
	    buf_put_string(reply, c->blob, c->blob_len) != 0) {
		snprintf(why, sizeof(why), "reply too large");
		goto refuse;
	}
	*last_serial = req.serial;
	/* The signer's own record of every signature, whatever the parent does with it. */
	syslog(breakglass ? LOG_ALERT : LOG_INFO,
	       "signer: signed requester=%s serial=%llu key_id=%s breakglass=%d",
	       quote(requester, qrq, sizeof(qrq)), (unsigned long long)req.serial,
	       quote(c->key_id, qid, sizeof(qid)), breakglass);
	goto out;
refuse:
	syslog(LOG_ERR, "signer: refused requester=\"%s\" serial=%llu why=\"%s\"",
	       requester != NULL ? requester : "", (unsigned long long)req.serial, why);
	buf_reset(reply);
	if (buf_put_u8(reply, SIGNER_REPLY_ERR) != 0 || buf_put_cstring(reply, why) != 0)
		buf_reset(reply);
out:
	cert_free(c);
	key_free(subject);
	cert_req_clear(&req);
	free(requester);
	buf_free(b);
}

static void signer_main(int fd, const struct jit_config *cfg, const struct key *ca, unsigned index,
                        unsigned count)
{
	uint64_t last_serial = 0;
	uint8_t *msg;
	struct buf *reply;
	ssize_t n;

	if ((msg = malloc(SIGNER_MSG_MAX)) == NULL || (reply = buf_new(SIGNER_MSG_MAX)) == NULL)
		_exit(1);
	for (;;) {
		n = recv(fd, msg, SIGNER_MSG_MAX, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the parent closed the channel or is gone */
		if ((size_t)n > SIGNER_MSG_MAX) {
			buf_reset(reply);
			if (buf_put_u8(reply, SIGNER_REPLY_ERR) != 0 ||
			    buf_put_cstring(reply, "message too large") != 0)
				break;
		} else
			signer_handle(cfg, ca, index, count, msg, (size_t)n, &last_serial, reply);
		if (buf_len(reply) == 0 || send(fd, buf_ptr(reply), buf_len(reply), MSG_NOSIGNAL) !=
		                                   (ssize_t)buf_len(reply))
			break;
		explicit_bzero(msg, (size_t)n > SIGNER_MSG_MAX ? SIGNER_MSG_MAX : (size_t)n);
	}
	buf_free(reply);
	free(msg);
	/* The key and config are the parent's allocations; the process ends here. */
	_exit(0);
}

int signer_start(const struct jit_config *cfg, const struct key *ca, unsigned index, unsigned count,
                 struct signer **ret)
{
	struct signer *s = NULL;
	struct timeval tv = {.tv_sec = SIGNER_TIMEOUT, .tv_usec = 0};
	int sp[2] = {-1, -1};
	pid_t parent = getpid(), pid;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (count == 0 || index >= count) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->msg = buf_new(SIGNER_MSG_MAX)) == NULL ||
	    (s->answer = malloc(SIGNER_MSG_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	s->fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (pid == 0) {
		struct sigaction sa;

		close(sp[0]);
		/*
		 * Keep nothing but the channel: no listening socket (socket
		 * activation passes them before we fork), no syslog socket.
		 */
		closelog();
		if (sp[1] != SIGNER_CHANNEL_FD &&
		    dup2(sp[1], SIGNER_CHANNEL_FD) != SIGNER_CHANNEL_FD)
			_exit(1);
		close_from(SIGNER_CHANNEL_FD + 1);
		sp[1] = SIGNER_CHANNEL_FD;
		/* Die with the parent; never leave a core or ptrace handle with the key. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent ||
		    prctl(PR_SET_DUMPABLE, 0) != 0)
			_exit(1);
		/* Stopping is the parent's decision: it closes the channel. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		signer_main(sp[1], cfg, ca, index, count);
		_exit(1);
	}
	close(sp[1]);
	sp[1] = -1;
	if (setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(sp[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	s->fd = sp[0];
	s->pid = pid;
	sp[0] = -1;
	*ret = s;
	s = NULL;
	r = 0;
out:
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (s != NULL) {
		buf_free(s->msg);
		free(s->answer);
		free(s);
	}
	return r;
}

int signer_send(struct signer *s, const char *requester, int breakglass, const struct cert_req *req,
                const struct key *subject)
{
	struct buf *b = s->msg;
	size_t i;
	ssize_t n;
	int r = JIT_ERR_INTERNAL;

	buf_reset(b);
	if ((r = buf_put_u8(b, SIGNER_MSG_SIGN)) != 0 || (r = buf_put_cstring(b, requester)) != 0 ||
	    (r = buf_put_u8(b, breakglass ? 1 : 0)) != 0 ||
	    (r = buf_put_u64(b, req->serial)) != 0 || (r = buf_put_cstring(b, req->key_id)) != 0 ||
	    (r = buf_put_u32(b, (uint32_t)req->nprincipals)) != 0)
		goto out;
	for (i = 0; i < req->nprincipals; i++)
		if ((r = buf_put_cstring(b, req->principals[i])) != 0)
			goto out;
	if ((r = buf_put_u64(b, req->valid_after)) != 0 ||
	    (r = buf_put_u64(b, req->valid_before)) != 0 ||
	    (r = put_opts(b, &req->critical)) != 0 || (r = put_opts(b, &req->extensions)) != 0 ||
	    (r = buf_put_string(b, subject->blob, subject->blob_len)) != 0)
		goto out;
	/* Blocking (SO_SNDTIMEO): with at most SIGNER_INFLIGHT waiting it never waits long. */
	do
		n = send(s->fd, buf_ptr(b), buf_len(b), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)buf_len(b)) {
		if (n >= 0)
			errno = EMSGSIZE;
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	r = 0;
out:
	buf_reset(b);
	return r;
}

int signer_receive(struct signer *s, int *ret_got, uint8_t **ret_blob, size_t *ret_len, char *why,
                   size_t whylen)
{
	struct buf *rb = NULL;
	uint8_t status;
	const uint8_t *blob;
	char *text = NULL;
	size_t blob_len;
	ssize_t n;
	int r = JIT_ERR_INTERNAL;

	*ret_got = 0;
	*ret_blob = NULL;
	*ret_len = 0;
	if (whylen > 0)
		why[0] = '\0';
	do
		n = recv(s->fd, s->answer, SIGNER_MSG_MAX, MSG_TRUNC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (n == 0 || (size_t)n > SIGNER_MSG_MAX) {
		r = JIT_ERR_MESSAGE_INCOMPLETE;
		goto out;
	}
	if ((rb = buf_from(s->answer, (size_t)n)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = buf_get_u8(rb, &status)) != 0)
		goto bad;
	if (status == SIGNER_REPLY_ERR) {
		if ((r = buf_get_cstring(rb, &text, NULL)) != 0 || buf_len(rb) != 0)
			goto bad;
		snprintf(why, whylen, "%s", text);
		*ret_got = 1;
		r = 0;
		goto out;
	}
	if (status != SIGNER_REPLY_OK || (r = buf_get_string_direct(rb, &blob, &blob_len)) != 0 ||
	    buf_len(rb) != 0)
		goto bad;
	if ((*ret_blob = malloc(blob_len == 0 ? 1 : blob_len)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(*ret_blob, blob, blob_len);
	*ret_len = blob_len;
	*ret_got = 1;
	r = 0;
	goto out;
bad:
	/* A signer that answers nonsense is as good as gone. */
	r = JIT_ERR_MESSAGE_INCOMPLETE;
out:
	free(text);
	buf_free(rb);
	return r;
}

int signer_fd(const struct signer *s)
{
	return s->fd;
}

pid_t signer_pid(const struct signer *s)
{
	return s->pid;
}

void signer_stop(struct signer *s)
{
	if (s == NULL)
		return;
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
	int i;

	if (s->fd >= 0)
		close(s->fd);
	/* A closed channel ends the signer; one that hangs is killed, never waited for. */
	for (i = 0; s->pid > 0 && i < 100; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) != 0)
			goto out;
		nanosleep(&pause, NULL);
	}
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
out:
	buf_free(s->msg);
	free(s->answer);
	free(s);
}
