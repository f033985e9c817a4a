/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-agent: the per-session ssh-agent of a bastion login
 * (docs/agent-contract.md). Started by pam_jit.so as root, it reads the
 * session's context on stdin, decides again from the configuration,
 * generates an Ed25519 key that never leaves its memory, obtains a
 * certificate from the CA, and serves the ssh-agent protocol on a socket
 * only the user (and root) may use. It renews the certificate on use while
 * the ticket and windows hold, and exits at SIGTERM, when the session's
 * process exits, or when the access ends.
 *
 * usage: jit-agent [--config PATH] [--foreground] [--runtime-dir DIR]
 *
 * --foreground keeps the terminal (no new session, stdio kept) and copies
 * log lines to stderr; --runtime-dir replaces /run/jit. Both exist for
 * tests; the PAM module passes neither.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "buf.h"
#include "cert.h"
#include "client.h"
#include "config.h"
#include "err.h"
#include "key.h"
#include "policy.h"
#include "proto.h"
#include "quote.h"
#include "ticketcmd.h"

#define RUNTIME_DIR_DEFAULT "/run/jit"
#define STDIN_MAX           4096 /* bytes of context on stdin */
#define MAX_CONNECTIONS     16
#define RENEW_MARGIN        30    /* s: renew a certificate this close to its end */
#define FRAME_TIMEOUT_MS    10000 /* a started request must arrive whole within this */
#define WATCH_POLL_MS       1000  /* kill(pid, 0) interval without pidfd_open */
#define GROUPS_MAX          1024
#define ERR_TEXT_MAX        512
#define SESSION_ID_MAX      64

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* The session as the module described it, every value checked. */
struct session {
	char user[PROTO_USER_MAX + 1];
	uid_t uid;
	gid_t gid;
	char id[SESSION_ID_MAX + 1];
	bool breakglass;
	char ticket[TICKET_ID_MAX + 1];
	char reason[PROTO_REASON_MAX + 1];
	pid_t watch_pid;
};

struct conn {
	int fd;
	uint8_t *in; /* received bytes, at most AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX */
	size_t in_len;
	size_t in_cap;
	struct buf *out;     /* answer not yet sent */
	uint64_t started_ms; /* first byte of an incomplete frame; 0: none */
};

struct agent {
	const char *config_path;
	const char *runtime_dir;
	bool foreground;
	struct session s;
	char **groups;
	size_t n_groups;
	char host[HOST_NAME_MAX + 1];
	struct key *key;
	struct cert *cert;
	uint64_t end;         /* epoch s: the access ends (exit) */
	uint64_t session_end; /* break-glass: start + session_max; else UINT64_MAX */
	int dirfd;            /* RUNTIME/UID */
	char sock_name[sizeof("agent.") + SESSION_ID_MAX];
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t sock_dev;
	ino_t sock_ino;
	int lfd;
	int sigfd;
	int pidfd;
	struct conn conns[MAX_CONNECTIONS];
};

static void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

/* snprintf for messages that may be cut. */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static uint64_t now_s(void)
{
	time_t t = time(NULL);

	return t < 0 ? 0 : (uint64_t)t;
}

/* Printable ASCII, no space: session ids. */
static bool is_session_id(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > SESSION_ID_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* A decimal number without sign or leading zeros, 0..max. */
static int parse_number(const char *v, uint64_t max, uint64_t *ret)
{
	uint64_t n = 0;
	size_t i;

	*ret = 0;
	if (v[0] == '\0' || (v[0] == '0' && v[1] != '\0') || strlen(v) > 20)
		return JIT_ERR_INVALID_FORMAT;
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9')
			return JIT_ERR_INVALID_FORMAT;
		if (n > (max - (uint64_t)(v[i] - '0')) / 10)
			return JIT_ERR_TIME_RANGE;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*ret = n;
	return 0;
}

/* Copies v into out (outlen bytes) if it fits. */
static int copy_value(char *out, size_t outlen, const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return JIT_ERR_INVALID_FORMAT;
	if (n >= outlen)
		return JIT_ERR_STRING_TOO_LARGE;
	memcpy(out, v, n + 1);
	return 0;
}

enum {
	F_USER = 1 << 0,
	F_UID = 1 << 1,
	F_GID = 1 << 2,
	F_SESSION = 1 << 3,
	F_CONTEXT = 1 << 4,
	F_TICKET = 1 << 5,
	F_REASON = 1 << 6,
	F_WATCH = 1 << 7,
};

/*
 * The context on stdin: key=value lines, each key once, nothing unknown.
 * err names the offending key.
 */
static int parse_context(char *text, size_t len, struct session *s, char *err, size_t errlen)
{
	unsigned seen = 0, f;
	uint64_t n;
	char *line = text, *nl, *eq, *v;
	int r = JIT_ERR_INTERNAL;

	memset(s, 0, sizeof(*s));
	if (memchr(text, '\0', len) != NULL) {
		seterr(err, errlen, "NUL byte in context");
		return JIT_ERR_EMBEDDED_NUL;
	}
	text[len] = '\0';
	while (*line != '\0') {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if ((eq = strchr(line, '=')) == NULL) {
			seterr(err, errlen, "context line without '='");
			return JIT_ERR_INVALID_FORMAT;
		}
		*eq = '\0';
		v = eq + 1;
		for (const char *p = v; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				seterr(err, errlen, "control character in context value");
				return JIT_ERR_BAD_CHARACTER;
			}
		}
		if (strcmp(line, "user") == 0) {
			f = F_USER;
			r = config_is_name(v) ? copy_value(s->user, sizeof(s->user), v)
			                      : JIT_ERR_INVALID_FORMAT;
		} else if (strcmp(line, "uid") == 0) {
			f = F_UID;
			if ((r = parse_number(v, UINT32_MAX - 1, &n)) == 0)
				s->uid = (uid_t)n;
		} else if (strcmp(line, "gid") == 0) {
			f = F_GID;
			if ((r = parse_number(v, UINT32_MAX - 1, &n)) == 0)
				s->gid = (gid_t)n;
		} else if (strcmp(line, "session") == 0) {
			f = F_SESSION;
			r = is_session_id(v) ? copy_value(s->id, sizeof(s->id), v)
			                     : JIT_ERR_INVALID_FORMAT;
		} else if (strcmp(line, "context") == 0) {
			f = F_CONTEXT;
			r = 0;
			if (strcmp(v, "breakglass") == 0)
				s->breakglass = true;
			else if (strcmp(v, "ticket") != 0)
				r = JIT_ERR_INVALID_FORMAT;
		} else if (strcmp(line, "ticket") == 0) {
			f = F_TICKET;
			r = config_is_ticket_id(v) ? copy_value(s->ticket, sizeof(s->ticket), v)
			                           : JIT_ERR_INVALID_FORMAT;
		} else if (strcmp(line, "reason") == 0) {
			f = F_REASON;
			r = copy_value(s->reason, sizeof(s->reason), v);
		} else if (strcmp(line, "watch_pid") == 0) {
			f = F_WATCH;
			if ((r = parse_number(v, INT32_MAX, &n)) == 0 && n < 2)
				r = JIT_ERR_INVALID_ARGUMENT; /* not init, not "any process" */
			if (r == 0)
				s->watch_pid = (pid_t)n;
		} else {
			seterr(err, errlen, "unknown context key");
			return JIT_ERR_INVALID_FORMAT;
		}
		if (seen & f) {
			seterr(err, errlen, "context key %s given twice", line);
			return JIT_ERR_INVALID_FORMAT;
		}
		if (r != 0) {
			seterr(err, errlen, "context %s: %s", line, jit_err(r));
			return r;
		}
		seen |= f;
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	f = F_USER | F_UID | F_GID | F_SESSION | F_CONTEXT | F_WATCH;
	if ((seen & f) != f) {
		seterr(err, errlen, "context incomplete");
		return JIT_ERR_INVALID_FORMAT;
	}
	f = s->breakglass ? F_REASON : F_TICKET;
	if ((seen & (F_TICKET | F_REASON)) != f) {
		seterr(err, errlen, "context %s needs %s alone",
		       s->breakglass ? "breakglass" : "ticket",
		       s->breakglass ? "reason" : "ticket");
		return JIT_ERR_INVALID_FORMAT;
	}
	return 0;
}

static int read_context(struct session *s, char *err, size_t errlen)
{
	char text[STDIN_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int r;

	for (;;) {
		n = read(STDIN_FILENO, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			seterr(err, errlen, "reading context: %s", strerror(errno));
			return JIT_ERR_SYSTEM;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(text)) {
			seterr(err, errlen, "context larger than %d bytes", STDIN_MAX);
			return JIT_ERR_NO_BUFFER_SPACE;
		}
	}
	r = parse_context(text, len, s, err, errlen);
	explicit_bzero(text, sizeof(text));
	return r;
}

static void groups_free(char **g, size_t n)
{
	for (size_t i = 0; g != NULL && i < n; i++)
		free(g[i]);
	free(g);
}

/* The user exists with this uid and gid; their groups' names. */
static int check_user(struct agent *a, char *err, size_t errlen)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char pbuf[16384], gbuf[16384];
	gid_t gids[GROUPS_MAX];
	int ng = GROUPS_MAX, i, e;
	char **names = NULL;
	size_t n = 0;
	int r = JIT_ERR_INTERNAL;

	if ((e = getpwnam_r(a->s.user, &pw, pbuf, sizeof(pbuf), &pwp)) != 0 || pwp == NULL) {
		seterr(err, errlen, "unknown user");
		r = JIT_ERR_NOT_FOUND;
		goto out;
	}
	if (pw.pw_uid != a->s.uid || pw.pw_gid != a->s.gid) {
		seterr(err, errlen, "uid or gid does not match the user");
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (getgrouplist(a->s.user, a->s.gid, gids, &ng) < 0) {
		seterr(err, errlen, "user in more than %d groups", GROUPS_MAX);
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if ((names = calloc((size_t)ng + 1, sizeof(*names))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < ng; i++) {
		if (getgrgid_r(gids[i], &gr, gbuf, sizeof(gbuf), &grp) != 0 || grp == NULL)
			continue; /* a gid without a name matches no configured group */
		if ((names[n] = strdup(gr.gr_name)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		n++;
	}
	groups_free(a->groups, a->n_groups);
	a->groups = names;
	a->n_groups = n;
	names = NULL;
	n = 0;
	r = 0;
out:
	if (r == JIT_ERR_ALLOC)
		seterr(err, errlen, "out of memory");
	groups_free(names, n);
	return r;
}

/*
 * Decides from scratch: the configuration and the ticket as they are now.
 * A denial is a decision (0, d->allow 0); an error denies too. The decision
 * is logged. *ret_cfg holds what d borrows.
 */
static int decide(struct agent *a, const char *event, struct jit_config **ret_cfg,
                  struct ticket **ret_t, struct policy_decision *d, char *err, size_t errlen)
{
	struct jit_config *cfg = NULL;
	struct ticket *t = NULL;
	struct policy_request req;
	char msg[CONFIG_MSG_MAX], line[POLICY_LINE_MAX], q[128];
	unsigned mask = CONFIG_CA_CLIENT | CONFIG_TICKETS | CONFIG_WINDOWS | CONFIG_CERTIFICATES;
	int r = JIT_ERR_INTERNAL;

	*ret_cfg = NULL;
	*ret_t = NULL;
	memset(d, 0, sizeof(*d));
	if (a->s.breakglass)
		mask |= CONFIG_BREAKGLASS;
	/* Groups as they are now: taken out of one, the user loses what it gave at the next
	 * renewal. */
	if ((r = check_user(a, msg, sizeof(msg))) != 0) {
		logmsg(LOG_ERR, "event=%s session=%s error=user msg=%s", event, a->s.id,
		       quote(msg, line, sizeof(line)));
		seterr(err, errlen, "user: %s", msg);
		goto out;
	}
	if ((r = config_load(a->config_path, mask, &cfg, msg, sizeof(msg))) != 0) {
		logmsg(LOG_ERR, "event=%s session=%s error=config msg=%s", event, a->s.id,
		       quote(msg, line, sizeof(line)));
		/* The details are in the log line above; the engineer sees this line. */
		seterr(err, errlen, "configuration error");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.user = a->s.user;
	req.groups = a->groups;
	req.n_groups = a->n_groups;
	req.host = a->host;
	req.now = now_s();
	if (a->s.breakglass) {
		r = policy_decide_breakglass(cfg, &req, a->s.reason, d);
	} else {
		req.ticket_id = a->s.ticket;
		if (cfg->tickets.backend == CONFIG_TICKETS_COMMAND)
			r = ticketcmd_lookup((const char *const *)cfg->tickets.command,
			                     cfg->tickets.timeout * 1000, a->s.ticket, a->s.user,
			                     &t, msg, sizeof(msg));
		else
			r = tickets_lookup(cfg->tickets.file, a->s.ticket, &t, msg, sizeof(msg));
		if (r == JIT_ERR_NOT_FOUND) {
			t = NULL;
			r = 0;
		}
		if (r != 0) {
			logmsg(LOG_ERR, "event=%s session=%s error=tickets ticket=%s msg=%s", event,
			       a->s.id, a->s.ticket, quote(msg, q, sizeof(q)));
			/* Not the details: a lookup's stderr may hold what the engineer must not
			 * see. */
			seterr(err, errlen, "ticket system unavailable");
			goto out;
		}
		r = policy_decide_ticket(cfg, &req, t, d);
	}
	if (r != 0) {
		logmsg(LOG_ERR, "event=%s session=%s error=policy msg=\"%s\"", event, a->s.id,
		       jit_err(r));
		seterr(err, errlen, "policy: %s", jit_err(r));
		goto out;
	}
	if (policy_log_line(&req, a->s.breakglass ? a->s.reason : NULL, d, line, sizeof(line)) == 0)
		logmsg(d->allow ? LOG_INFO : LOG_WARNING, "event=%s session=%s %s", event, a->s.id,
		       line);
	if (!d->allow)
		seterr(err, errlen, "%s: %s", d->rule, d->message);
	*ret_cfg = cfg;
	*ret_t = t;
	cfg = NULL;
	t = NULL;
	r = 0;
out:
	if (r != 0)
		memset(d, 0, sizeof(*d));
	ticket_free(t);
	config_free(cfg);
	return r;
}

/* Asks the CA for a certificate for our key as decision d allows. */
static int fetch_cert(struct agent *a, const struct jit_config *cfg,
                      const struct policy_decision *d, char *err, size_t errlen)
{
	struct proto_request req;
	struct proto_response resp;
	struct cert *c = NULL;
	const char **endpoints = NULL;
	char msg[CLIENT_MSG_MAX], q[CLIENT_MSG_MAX + 16];
	uint64_t not_after = d->not_after;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	if (not_after > a->session_end)
		not_after = a->session_end;
	if ((endpoints = calloc(cfg->ca.n_endpoints + 1, sizeof(*endpoints))) == NULL) {
		r = JIT_ERR_ALLOC;
		seterr(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < cfg->ca.n_endpoints; i++)
		endpoints[i] = cfg->ca.endpoints[i].text;
	/* Borrowed pointers: req is never freed with proto_request_free. */
	req.user = a->s.user;
	req.pubkey = a->key->blob;
	req.pubkey_len = a->key->blob_len;
	req.principals = (char **)d->principals;
	req.nprincipals = d->n_principals;
	req.validity = d->validity;
	req.not_after = not_after;
	req.context = a->s.breakglass ? PROTO_CTX_BREAKGLASS : PROTO_CTX_TICKET;
	req.ticket = a->s.breakglass ? (char *)"" : a->s.ticket;
	req.reason = a->s.breakglass ? a->s.reason : (char *)"";
	req.session = a->s.id;
	req.source_address = cfg->certificates.source_address != NULL
	                             ? cfg->certificates.source_address
	                             : (char *)"";
	r = client_request_tls(endpoints, cfg->ca.n_endpoints, cfg->ca.timeout * 1000,
	                       &cfg->ca.client_tls, &req, &resp, msg, sizeof(msg));
	if (r != 0) {
		logmsg(LOG_ERR, "event=certificate session=%s error=ca msg=%s", a->s.id,
		       quote(msg, q, sizeof(q)));
		seterr(err, errlen, "CA unavailable: %s", msg);
		goto out;
	}
	if (resp.status != PROTO_OK) {
		quote(resp.message != NULL ? resp.message : "", q, sizeof(q));
		logmsg(LOG_WARNING, "event=certificate session=%s error=refused status=%s msg=%s",
		       a->s.id, proto_status_name(resp.status), q);
		seterr(err, errlen, "CA refused: %s: %s", proto_status_name(resp.status), q);
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = cert_parse(resp.cert, resp.cert_len, &c)) != 0 || c->cert_type != CERT_TYPE_USER ||
	    !key_equal_public(c->subject, a->key) || c->valid_before <= now_s()) {
		if (r == 0)
			r = JIT_ERR_INVALID_ARGUMENT;
		logmsg(LOG_ERR, "event=certificate session=%s error=bad-certificate msg=\"%s\"",
		       a->s.id, jit_err(r));
		seterr(err, errlen, "CA answered an unusable certificate: %s", jit_err(r));
		goto out;
	}
	logmsg(LOG_INFO, "event=certificate session=%s serial=%llu valid_before=%llu", a->s.id,
	       (unsigned long long)c->serial, (unsigned long long)c->valid_before);
	cert_free(a->cert);
	a->cert = c;
	c = NULL;
	r = 0;
out:
	cert_free(c);
	free(endpoints);
	proto_response_free(&resp);
	return r;
}

/* The access's end after decision d. */
static void set_end(struct agent *a, const struct policy_decision *d)
{
	a->end = a->s.breakglass ? a->session_end : d->not_after;
}

/*
 * Before using a certificate that ends within RENEW_MARGIN: decide again
 * and, if still allowed, fetch a new one. Returns 0 when the key may be
 * used; JIT_ERR_INVALID_ARGUMENT when the decision refused. A CA failure
 * keeps the old certificate.
 */
static int maybe_renew(struct agent *a, const char *why)
{
	struct jit_config *cfg = NULL;
	struct ticket *t = NULL;
	struct policy_decision d;
	char err[ERR_TEXT_MAX];
	int r = JIT_ERR_INTERNAL;

	if (a->cert != NULL && a->cert->valid_before > now_s() + RENEW_MARGIN)
		return 0;
	if ((r = decide(a, "renewal", &cfg, &t, &d, err, sizeof(err))) != 0 || !d.allow) {
		logmsg(LOG_WARNING, "event=refused session=%s request=%s rule=%s", a->s.id, why,
		       r == 0 ? d.rule : "error");
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	set_end(a, &d);
	if (fetch_cert(a, cfg, &d, err, sizeof(err)) != 0)
		logmsg(LOG_WARNING, "event=renewal-failed session=%s request=%s", a->s.id, why);
	r = 0;
out:
	ticket_free(t);
	config_free(cfg);
	return r;
}

/* The blob names our key: the key itself or a certificate for it. */
static bool is_our_key(const struct agent *a, const uint8_t *blob, size_t len)
{
	struct cert *c = NULL;
	bool ok;

	if (len == a->key->blob_len && memcmp(blob, a->key->blob, len) == 0)
		return true;
	if (a->cert != NULL && len == a->cert->blob_len && memcmp(blob, a->cert->blob, len) == 0)
		return true;
	/* An earlier certificate of this session, listed before a renewal. */
	if (cert_parse(blob, len, &c) != 0)
		return false;
	ok = key_equal_public(c->subject, a->key);
	cert_free(c);
	return ok;
}

/* One request: one answer appended to out. */
static int answer(struct agent *a, const uint8_t *msg, size_t len, struct buf *out)
{
	struct agent_request q;
	struct agent_identity id;
	char comment[32 + TICKET_ID_MAX + SESSION_ID_MAX];
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int r;

	if (agentproto_parse(msg, len, &q) != 0)
		return agentproto_failure(out);
	switch (q.type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		if (maybe_renew(a, "identities") != 0 || a->cert == NULL ||
		    a->cert->valid_before <= now_s())
			return agentproto_identities_answer(out, NULL, 0);
		if (a->s.breakglass)
			snprintf(comment, sizeof(comment), "jit breakglass session=%s", a->s.id);
		else
			snprintf(comment, sizeof(comment), "jit %s session=%s", a->s.ticket,
			         a->s.id);
		id.blob = a->cert->blob;
		id.blob_len = a->cert->blob_len;
		id.comment = comment;
		return agentproto_identities_answer(out, &id, 1);
	case SSH_AGENTC_SIGN_REQUEST:
		if (!is_our_key(a, q.key_blob, q.key_blob_len) || maybe_renew(a, "sign") != 0 ||
		    key_sign(a->key, q.data, q.data_len, &sig, &sig_len) != 0)
			return agentproto_failure(out);
		r = agentproto_sign_response(out, sig, sig_len);
		free(sig);
		return r;
	default:
		/* Adding, removing, locking, extensions: nothing changes this agent. */
		return agentproto_failure(out);
	}
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->in != NULL) {
		explicit_bzero(c->in, c->in_cap);
		free(c->in);
	}
	buf_free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void accept_one(struct agent *a)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct conn *c = NULL;
	int fd;
	size_t i;

	fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cl != sizeof(cred) ||
	    (cred.uid != a->s.uid && cred.uid != 0)) {
		logmsg(LOG_WARNING, "event=peer-refused session=%s peer_uid=%ld", a->s.id,
		       cl == sizeof(cred) ? (long)cred.uid : -1L);
		close(fd);
		return;
	}
	for (i = 0; i < MAX_CONNECTIONS; i++) {
		if (a->conns[i].fd < 0) {
			c = &a->conns[i];
			break;
		}
	}
	if (c == NULL) {
		logmsg(LOG_WARNING, "event=busy session=%s connections=%d", a->s.id,
		       MAX_CONNECTIONS);
		close(fd);
		return;
	}
	c->fd = fd;
	if ((c->out = buf_new(AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX)) == NULL)
		conn_close(c);
}

/* Sends what is pending; closes on error. */
static void conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->fd >= 0 && buf_len(c->out) > 0) {
		n = send(c->fd, buf_ptr(c->out), buf_len(c->out), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || buf_consume(c->out, (size_t)n) != 0) {
			conn_close(c);
			return;
		}
	}
}

/* Reads what has arrived and answers whole frames, one at a time. */
static void conn_read(struct agent *a, struct conn *c)
{
	size_t need, mlen, flen;
	ssize_t n;
	uint8_t *p;
	int r;

	for (;;) {
		if (buf_len(c->out) > 0)
			return; /* the answer first: a client that does not read is not read */
		r = agentproto_frame_check(c->in, c->in_len, &mlen);
		if (r == 0) {
			flen = AGENTPROTO_HEADER_LEN + mlen;
			if (answer(a, c->in + AGENTPROTO_HEADER_LEN, mlen, c->out) != 0) {
				conn_close(c);
				return;
			}
			memmove(c->in, c->in + flen, c->in_len - flen);
			c->in_len -= flen;
			c->started_ms = c->in_len > 0 ? client_now_ms() : 0;
			conn_flush(c);
			if (c->fd < 0)
				return;
			continue;
		}
		if (r != JIT_ERR_MESSAGE_INCOMPLETE) {
			conn_close(c);
			return;
		}
		/* Room for the whole frame once the header says how long it is. */
		need = c->in_len < AGENTPROTO_HEADER_LEN
		               ? 1024
		               : AGENTPROTO_HEADER_LEN + ((size_t)c->in[0] << 24 |
		                                          (size_t)c->in[1] << 16 |
		                                          (size_t)c->in[2] << 8 | c->in[3]);
		if (need < 1024)
			need = 1024;
		if (need > c->in_cap) {
			if ((p = malloc(need)) == NULL) {
				conn_close(c);
				return;
			}
			if (c->in != NULL) {
				memcpy(p, c->in, c->in_len);
				explicit_bzero(c->in, c->in_cap);
				free(c->in);
			}
			c->in = p;
			c->in_cap = need;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		if (c->in_len == 0)
			c->started_ms = client_now_ms();
		c->in_len += (size_t)n;
	}
}

/* Creates RUNTIME/UID (0700, the user's) and opens it; refuses anything else there. */
static int open_user_dir(struct agent *a, char *err, size_t errlen)
{
	struct stat st;
	char uidname[32];
	int bfd = -1, dfd = -1, created = 0, created_base = 0;
	int r = JIT_ERR_INTERNAL;

	if (mkdir(a->runtime_dir, 0755) == 0)
		created_base = 1;
	else if (errno != EEXIST) {
		seterr(err, errlen, "cannot create %s: %s", a->runtime_dir, strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((bfd = open(a->runtime_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(bfd, &st) != 0) {
		seterr(err, errlen, "cannot open %s: %s", a->runtime_dir, strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	/* Users must be able to pass through it whatever the umask was. */
	if (created_base && (fchmod(bfd, 0755) != 0 || fstat(bfd, &st) != 0)) {
		seterr(err, errlen, "cannot set mode of %s: %s", a->runtime_dir, strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		seterr(err, errlen, "%s: bad owner or mode", a->runtime_dir);
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	snprintf(uidname, sizeof(uidname), "%lu", (unsigned long)a->s.uid);
	if (mkdirat(bfd, uidname, 0700) == 0)
		created = 1;
	else if (errno != EEXIST) {
		seterr(err, errlen, "cannot create %s/%s: %s", a->runtime_dir, uidname,
		       strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((dfd = openat(bfd, uidname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(dfd, &st) != 0) {
		seterr(err, errlen, "cannot open %s/%s: %s", a->runtime_dir, uidname,
		       strerror(errno));
		r = errno == ELOOP || errno == ENOTDIR ? JIT_ERR_FILE_TYPE : JIT_ERR_SYSTEM;
		goto out;
	}
	if (created && (fchown(dfd, a->s.uid, a->s.gid) != 0 || fchmod(dfd, 0700) != 0 ||
	                fstat(dfd, &st) != 0)) {
		seterr(err, errlen, "cannot set owner of %s/%s: %s", a->runtime_dir, uidname,
		       strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (st.st_uid != a->s.uid || (st.st_mode & 07777) != 0700) {
		seterr(err, errlen, "%s/%s: bad owner or mode", a->runtime_dir, uidname);
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	snprintf(a->sock_name, sizeof(a->sock_name), "agent.%s", a->s.id);
	if ((size_t)snprintf(a->sock_path, sizeof(a->sock_path), "%s/%s/%s", a->runtime_dir,
	                     uidname, a->sock_name) >= sizeof(a->sock_path)) {
		seterr(err, errlen, "socket path too long");
		r = JIT_ERR_STRING_TOO_LARGE;
		goto out;
	}
	a->dirfd = dfd;
	dfd = -1;
	r = 0;
out:
	if (dfd >= 0)
		close(dfd);
	if (bfd >= 0)
		close(bfd);
	return r;
}

/* The listening socket: 0600, the user's. */
static int listen_socket(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd = -1, e;
	int r = JIT_ERR_INTERNAL;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->sock_path, strlen(a->sock_path) + 1);
	/* A stale entry of the same session (the user's own directory). */
	if (unlinkat(a->dirfd, a->sock_name, 0) != 0 && errno != ENOENT) {
		seterr(err, errlen, "cannot remove %s: %s", a->sock_path, strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		seterr(err, errlen, "socket: %s", strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	old = umask(0177);
	e = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (e != 0 || listen(fd, MAX_CONNECTIONS) != 0 ||
	    fchownat(a->dirfd, a->sock_name, a->s.uid, a->s.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
	    fstatat(a->dirfd, a->sock_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		seterr(err, errlen, "%s: %s", a->sock_path, strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_uid != a->s.uid || (st.st_mode & 07777) != 0600) {
		seterr(err, errlen, "%s: bad owner or mode", a->sock_path);
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	a->sock_dev = st.st_dev;
	a->sock_ino = st.st_ino;
	a->lfd = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Removes our socket, and only ours. */
static void remove_socket(struct agent *a)
{
	struct stat st;

	if (a->dirfd < 0 || a->lfd < 0)
		return;
	if (fstatat(a->dirfd, a->sock_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == a->sock_dev && st.st_ino == a->sock_ino)
		(void)unlinkat(a->dirfd, a->sock_name, 0);
}

static int watch_start(struct agent *a, char *err, size_t errlen)
{
#ifdef SYS_pidfd_open
	a->pidfd = (int)syscall(SYS_pidfd_open, a->s.watch_pid, 0);
	if (a->pidfd >= 0) {
		(void)fcntl(a->pidfd, F_SETFD, FD_CLOEXEC);
		return 0;
	}
	if (errno == ESRCH) {
		seterr(err, errlen, "watch_pid %ld does not exist", (long)a->s.watch_pid);
		return JIT_ERR_NOT_FOUND;
	}
#endif
	a->pidfd = -1;
	if (kill(a->s.watch_pid, 0) != 0 && errno == ESRCH) {
		seterr(err, errlen, "watch_pid %ld does not exist", (long)a->s.watch_pid);
		return JIT_ERR_NOT_FOUND;
	}
	return 0;
}

static int signals_start(struct agent *a, char *err, size_t errlen)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		seterr(err, errlen, "signals: %s", strerror(errno));
		return JIT_ERR_SYSTEM;
	}
	return 0;
}

/* Serves until a reason to stop; returns it for the log. */
static const char *serve(struct agent *a)
{
	struct pollfd pfd[MAX_CONNECTIONS + 3];
	struct conn *map[MAX_CONNECTIONS + 3];
	struct signalfd_siginfo si;
	uint64_t now, mono;
	int timeout, n, i, nsig, nlis, npid;
	int64_t left;

	for (;;) {
		now = now_s();
		if (now >= a->end)
			return "end";
		if (a->pidfd < 0 && kill(a->s.watch_pid, 0) != 0 && errno == ESRCH)
			return "watch_pid";
		mono = client_now_ms();
		timeout = a->end - now > INT32_MAX / 1000 ? INT32_MAX : (int)(a->end - now) * 1000;
		if (a->pidfd < 0 && timeout > WATCH_POLL_MS)
			timeout = WATCH_POLL_MS;
		n = 0;
		pfd[n] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
		map[n] = NULL;
		nsig = n++;
		pfd[n] = (struct pollfd){.fd = a->lfd, .events = POLLIN};
		map[n] = NULL;
		nlis = n++;
		npid = -1;
		if (a->pidfd >= 0) {
			pfd[n] = (struct pollfd){.fd = a->pidfd, .events = POLLIN};
			map[n] = NULL;
			npid = n++;
		}
		for (i = 0; i < MAX_CONNECTIONS; i++) {
			struct conn *c = &a->conns[i];
			if (c->fd < 0)
				continue;
			if (c->started_ms != 0) {
				if (mono - c->started_ms >= FRAME_TIMEOUT_MS) {
					conn_close(c);
					continue;
				}
				left = (int64_t)(c->started_ms + FRAME_TIMEOUT_MS - mono);
				if (left < timeout)
					timeout = (int)left;
			}
			pfd[n] = (struct pollfd){.fd = c->fd,
			                         .events = buf_len(c->out) > 0 ? POLLOUT : POLLIN};
			map[n] = c;
			n++;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return "poll-error";
		}
		if (pfd[nsig].revents != 0 && read(a->sigfd, &si, sizeof(si)) == sizeof(si))
			return si.ssi_signo == SIGTERM ? "sigterm" : "signal";
		if (npid >= 0 && pfd[npid].revents != 0)
			return "watch_pid";
		for (i = nlis + 1; i < n; i++) {
			if (map[i] == NULL || pfd[i].revents == 0 || map[i]->fd != pfd[i].fd)
				continue;
			if (pfd[i].revents & POLLOUT)
				conn_flush(map[i]);
			if (map[i]->fd >= 0 && buf_len(map[i]->out) == 0)
				conn_read(a, map[i]);
		}
		if (pfd[nlis].revents & POLLIN)
			accept_one(a);
	}
}

/* An error line for the module: printable, one line. */
static void print_error(const char *err)
{
	char q[ERR_TEXT_MAX];
	size_t i;

	snprintf(q, sizeof(q), "%s", err);
	for (i = 0; q[i] != '\0'; i++)
		if ((unsigned char)q[i] < 0x20 || (unsigned char)q[i] > 0x7e)
			q[i] = '?';
	printf("error=%s\n", q);
	fflush(stdout);
}

static void detach(void)
{
	int fd;

	(void)setsid(); /* fails only for a group leader: then it stays in its group */
	if (chdir("/") != 0) {
		/* nothing depends on the working directory */
	}
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

#define USAGE "usage: jit-agent [--config PATH] [--foreground] [--runtime-dir DIR]\n"

static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}

static int help(void)
{
	fputs(USAGE "\n"
	      "The per-session ssh-agent that pam_jit.so starts: reads the session's\n"
	      "context on standard input, decides from the configuration, gets a\n"
	      "certificate for a key held in memory, answers SSH_AUTH_SOCK=PATH (or\n"
	      "error=REASON and exit 1) and serves until the session ends.\n"
	      "\n"
	      "  --config PATH       configuration (default " CONFIG_PATH_DEFAULT ")\n"
	      "  --foreground        tests only: do not detach, log to stderr too\n"
	      "  --runtime-dir DIR   tests only: instead of " RUNTIME_DIR_DEFAULT "\n"
	      "  --help              this text\n"
	      "\n"
	      "See jit-agent(8) and docs/agent-contract.md.\n",
	      stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct agent a;
	struct jit_config *cfg = NULL;
	struct ticket *t = NULL;
	struct policy_decision d;
	struct rlimit rl = {0, 0};
	char err[ERR_TEXT_MAX];
	const char *why = NULL;
	int i, r = JIT_ERR_INTERNAL;

	/* Before anything secret exists: no core, no ptrace by the user, no swap. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
#ifndef UNDER_ASAN
	(void)mlockall(MCL_CURRENT | MCL_FUTURE);
#endif

	memset(&a, 0, sizeof(a));
	a.config_path = CONFIG_PATH_DEFAULT;
	a.runtime_dir = RUNTIME_DIR_DEFAULT;
	a.dirfd = a.lfd = a.sigfd = a.pidfd = -1;
	a.session_end = UINT64_MAX;
	for (i = 0; i < MAX_CONNECTIONS; i++)
		a.conns[i].fd = -1;
	err[0] = '\0';
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			a.config_path = argv[++i];
		else if (strcmp(argv[i], "--runtime-dir") == 0 && i + 1 < argc)
			a.runtime_dir = argv[++i];
		else if (strcmp(argv[i], "--foreground") == 0)
			a.foreground = true;
		else if (strcmp(argv[i], "--help") == 0)
			return help();
		else
			return usage();
	}
	if (a.config_path[0] != '/' || a.runtime_dir[0] != '/') {
		fprintf(stderr, "jit-agent: --config and --runtime-dir need absolute paths\n");
		return 2;
	}
	openlog("jit-agent", LOG_PID | (a.foreground ? LOG_PERROR : 0), LOG_AUTHPRIV);

	if ((r = read_context(&a.s, err, sizeof(err))) != 0 ||
	    (r = check_user(&a, err, sizeof(err))) != 0 ||
	    (r = signals_start(&a, err, sizeof(err))) != 0 ||
	    (r = watch_start(&a, err, sizeof(err))) != 0)
		goto out;
	if (gethostname(a.host, sizeof(a.host) - 1) != 0)
		a.host[0] = '\0';
	if ((r = decide(&a, "start", &cfg, &t, &d, err, sizeof(err))) != 0)
		goto out;
	if (!d.allow) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (a.s.breakglass)
		a.session_end = now_s() + cfg->breakglass.session_max;
	set_end(&a, &d);
	if ((r = key_generate(KEY_ED25519, 0, &a.key)) != 0) {
		seterr(err, sizeof(err), "key generation: %s", jit_err(r));
		goto out;
	}
	if ((r = fetch_cert(&a, cfg, &d, err, sizeof(err))) != 0 ||
	    (r = open_user_dir(&a, err, sizeof(err))) != 0 ||
	    (r = listen_socket(&a, err, sizeof(err))) != 0)
		goto out;
	ticket_free(t);
	t = NULL;
	config_free(cfg);
	cfg = NULL;

	printf("SSH_AUTH_SOCK=%s\n", a.sock_path);
	if (fflush(stdout) != 0) {
		seterr(err, sizeof(err), "stdout: %s", strerror(errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	logmsg(LOG_INFO, "event=started session=%s user=%s uid=%lu socket=%s serial=%llu end=%llu",
	       a.s.id, a.s.user, (unsigned long)a.s.uid, a.sock_path,
	       (unsigned long long)a.cert->serial, (unsigned long long)a.end);
	if (!a.foreground)
		detach();
	why = serve(&a);
	logmsg(LOG_INFO, "event=exit session=%s reason=%s", a.s.id, why);
	r = 0;
out:
	if (r != 0) {
		logmsg(LOG_ERR, "event=failed session=%s error=%s", a.s.id[0] ? a.s.id : "-",
		       quote(err, (char[ERR_TEXT_MAX + 16]){0}, ERR_TEXT_MAX + 16));
		print_error(err[0] != '\0' ? err : jit_err(r));
	}
	for (i = 0; i < MAX_CONNECTIONS; i++)
		if (a.conns[i].fd >= 0)
			conn_close(&a.conns[i]);
	remove_socket(&a);
	if (a.lfd >= 0)
		close(a.lfd);
	if (a.dirfd >= 0)
		close(a.dirfd);
	if (a.pidfd >= 0)
		close(a.pidfd);
	if (a.sigfd >= 0)
		close(a.sigfd);
	ticket_free(t);
	config_free(cfg);
	cert_free(a.cert);
	key_free(a.key);
	groups_free(a.groups, a.n_groups);
	explicit_bzero(&a.s, sizeof(a.s));
	closelog();
	return r == 0 ? 0 : 1;
}
