/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pam_jit.so: the session stage (docs/agent-contract.md). open_session
 * starts jit-agent with the context authentication left in the PAM
 * environment and waits, bounded, for its one-line answer: the socket it
 * serves (exported as SSH_AUTH_SOCK) or why it got no certificate.
 * close_session stops it.
 *
 * The agent decides again from the configuration, so nothing is decided
 * here beyond refusing malformed input. No threads: fork/exec, a socket
 * for the agent's stdin (MSG_NOSIGNAL: an agent that died early cannot
 * raise SIGPIPE in the application) and poll on its stdout pipe.
 *
 * watch_pid is this process: sshd calls pam_open_session and
 * pam_close_session in the privileged process of the connection, which
 * lives until the connection ends, so the agent also ends when sshd never
 * reaches close_session (killed, crashed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "err.h"
#include "module.h"
#include "quote.h"
#include "runprog.h"

#define DATA_AGENT       "pam_jit:agent_pid"
#define SESSION_ID_BYTES 8    /* 16 hex characters */
#define CONTEXT_MAX      4096 /* the agent reads at most this much */
#define ANSWER_MAX       1024 /* one line: a socket path or an error */
#define GRACE_MS         2000 /* beyond the agent's own time limits */
#define STOP_MS          2000 /* SIGTERM to SIGKILL */
#define STOP_SLICE_MS    20
#define NSS_BUF_MIN      1024
#define NSS_BUF_MAX      (1024 * 1024)

#define MSG_CONFIG "pam_jit: configuration error, access denied"
#define MSG_FAILED "pam_jit: could not get a certificate: "

/* The running agent, kept with pam_set_data until close_session. */
struct agent_data {
	pid_t pid;
	int pidfd; /* -1: none; signals then go by pid */
};

struct sess {
	pam_handle_t *pamh;
	int flags;
	struct args args;
	const char *user;
	uid_t uid;
	gid_t gid;
	char id[2 * SESSION_ID_BYTES + 1];
	bool breakglass;
	const char *ticket;
	const char *reason;
};

static void tell(struct sess *s, int style, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void tell(struct sess *s, int style, const char *fmt, ...)
{
	char text[PAM_MAX_MSG_SIZE];
	va_list ap;

	if ((s->flags & PAM_SILENT) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)pam_prompt(s->pamh, style, NULL, "%s", text);
}

/* No agent for this session: one line for the log, one for the engineer. */
static void fail(struct sess *s, const char *error, const char *reason)
{
	char qu[CONFIG_NAME_MAX + 8], qr[ANSWER_MAX + 64];

	pam_syslog(s->pamh, LOG_ERR,
	           "stage=session event=agent-failed user=%s session=%s error=%s msg=%s",
	           log_value(s->user != NULL ? s->user : "", qu, sizeof(qu)),
	           s->id[0] != '\0' ? s->id : "-", error, log_value(reason, qr, sizeof(qr)));
	tell(s, PAM_ERROR_MSG, MSG_FAILED "%s", reason);
}

static int session_id(char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[SESSION_ID_BYTES];
	size_t got = 0, i;
	ssize_t n;

	if (outlen < 2 * sizeof(b) + 1)
		return JIT_ERR_INVALID_ARGUMENT;
	out[0] = '\0';
	while (got < sizeof(b)) {
		n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return JIT_ERR_RANDOM;
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 0x0f];
	}
	out[2 * sizeof(b)] = '\0';
	return 0;
}

/* Printable ASCII, spaces allowed: it must stay one line on the agent's stdin. */
static bool is_printable(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v > 0x7e)
			return false;
	return true;
}

/* What authentication left; refuses what the agent would refuse anyway. */
static enum result read_context(struct sess *s)
{
	const char *ctx = pam_getenv(s->pamh, ENV_CONTEXT);

	if (ctx == NULL) {
		fail(s, "no-context", "no ticket was given");
		return RES_DENY;
	}
	if (strcmp(ctx, "ticket") == 0) {
		s->ticket = pam_getenv(s->pamh, ENV_TICKET);
		if (s->ticket == NULL || !config_is_ticket_id(s->ticket)) {
			fail(s, "context-invalid", "no valid ticket was given");
			return RES_DENY;
		}
		return RES_ALLOW;
	}
	if (strcmp(ctx, "breakglass") == 0) {
		s->breakglass = true;
		s->reason = pam_getenv(s->pamh, ENV_REASON);
		if (s->reason == NULL || s->reason[0] == '\0' ||
		    strnlen(s->reason, REASON_MAX + 1) > REASON_MAX || !is_printable(s->reason)) {
			fail(s, "context-invalid", "no valid reason was given");
			return RES_DENY;
		}
		return RES_ALLOW;
	}
	fail(s, "context-invalid", "no valid ticket was given");
	return RES_DENY;
}

/* The agent's stdin (docs/agent-contract.md). */
static int context_text(const struct sess *s, char *out, size_t outlen, size_t *ret_len)
{
	int n;

	*ret_len = 0;
	n = snprintf(out, outlen,
	             "user=%s\nuid=%lu\ngid=%lu\nsession=%s\ncontext=%s\n%s=%s\nwatch_pid=%ld\n",
	             s->user, (unsigned long)s->uid, (unsigned long)s->gid, s->id,
	             s->breakglass ? "breakglass" : "ticket", s->breakglass ? "reason" : "ticket",
	             s->breakglass ? s->reason : s->ticket, (long)getpid());
	if (n < 0 || (size_t)n >= outlen)
		return JIT_ERR_STRING_TOO_LARGE;
	*ret_len = (size_t)n;
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int agent_signal(const struct agent_data *a, int sig)
{
#ifdef SYS_pidfd_send_signal
	if (a->pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, a->pidfd, sig, NULL, 0);
#endif
	return kill(a->pid, sig);
}

/*
 * Whether the agent has exited; reaps it when it is our child. Another
 * reaper (sshd collects its children) leaves the pidfd, or kill(pid, 0).
 */
static bool agent_gone(const struct agent_data *a)
{
	struct pollfd pfd;
	pid_t w;
	int st;

	w = waitpid(a->pid, &st, WNOHANG);
	if (w == a->pid)
		return true;
	if (w == 0)
		return false;
	if (a->pidfd >= 0) {
		pfd.fd = a->pidfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		return poll(&pfd, 1, 0) > 0;
	}
	return kill(a->pid, 0) != 0 && errno == ESRCH;
}

/* Waits up to ms for the agent to exit. */
static bool agent_wait(const struct agent_data *a, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;

	for (;;) {
		if (agent_gone(a))
			return true;
		if (mono_ms() >= end)
			return false;
		(void)poll(NULL, 0, STOP_SLICE_MS);
	}
}

/*
 * An agent that gave no usable answer: killed with its process group
 * (whatever it started there) and reaped. Not yet reaped, its pid and
 * group cannot name anything else. Before its setsid() the group does not
 * exist yet, and the pid alone is all there is.
 */
static void agent_kill(struct agent_data *a)
{
	if (a->pid > 0) {
		(void)kill(-a->pid, SIGKILL);
		(void)agent_signal(a, SIGKILL);
		(void)agent_wait(a, STOP_MS);
	}
	if (a->pidfd >= 0)
		close(a->pidfd);
	a->pidfd = -1;
	a->pid = 0;
}

/*
 * Forks and executes the agent with an empty environment; writes the
 * context to its stdin. *ret_out reads its stdout. The program runs as
 * root: it is checked on the descriptor it is executed from (root's alone
 * to change, not a link), as the lookup and notify programs are.
 */
static int agent_start(struct sess *s, const char *text, size_t len, struct agent_data *ret,
                       int *ret_out, char *msg, size_t msglen)
{
	char *const argv[] = {(char *)s->args.agent, (char *)"--config", (char *)s->args.config,
	                      NULL};
	char *const envp[] = {NULL};
	struct sigaction sa;
	sigset_t none;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, devnull = -1, prog = -1;
	size_t off = 0;
	ssize_t n;
	pid_t pid;
	int r = JIT_ERR_INTERNAL;

	ret->pid = 0;
	ret->pidfd = -1;
	*ret_out = -1;
	if (msglen > 0)
		msg[0] = '\0';
	if (s->args.agent[0] != '/') {
		msg_set(msg, msglen, "%s: not an absolute path", s->args.agent);
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if ((r = runprog_open(s->args.agent, &prog, msg, msglen)) != 0)
		return r;
	/* Above stderr, so that setting up the child's stdio cannot close it. */
	if (prog <= STDERR_FILENO) {
		int above = fcntl(prog, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);

		close(prog);
		if ((prog = above) < 0) {
			r = JIT_ERR_SYSTEM;
			goto out;
		}
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
	    pipe2(out, O_CLOEXEC) != 0 || (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	/* Prepared before fork: the child only makes async-signal-safe calls. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&none);
	pid = fork();
	if (pid < 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (pid == 0) {
		/* The application's signal setup is not the agent's. */
		(void)sigaction(SIGPIPE, &sa, NULL);
		(void)sigaction(SIGCHLD, &sa, NULL);
		(void)sigaction(SIGTERM, &sa, NULL);
		(void)sigaction(SIGHUP, &sa, NULL);
		(void)sigaction(SIGINT, &sa, NULL);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		/*
		 * Its own session and process group now, rather than when it
		 * detaches: a failure kills what it started too.
		 */
		(void)setsid();
		if (dup2(in[1], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
		    dup2(devnull, STDERR_FILENO) < 0 ||
		    (prog != STDERR_FILENO + 1 && dup2(prog, STDERR_FILENO + 1) < 0) ||
		    fcntl(STDERR_FILENO + 1, F_SETFD, 0) < 0)
			_exit(127);
		closefrom(STDERR_FILENO + 2);
		/*
		 * The file that was checked, not whatever the path names by now;
		 * left open on 3, since a script's interpreter reads /dev/fd/3.
		 */
		fexecve(STDERR_FILENO + 1, argv, envp);
		_exit(127);
	}
	ret->pid = pid;
#ifdef SYS_pidfd_open
	/* Signals by pidfd cannot reach another process that reuses the pid. */
	ret->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (ret->pidfd >= 0)
		(void)fcntl(ret->pidfd, F_SETFD, FD_CLOEXEC);
#endif
	close(in[1]);
	in[1] = -1;
	close(out[1]);
	out[1] = -1;
	/* The socket buffer holds the whole context; an agent that died already shows on stdout. */
	while (off < len) {
		n = send(in[0], text + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	*ret_out = out[0];
	out[0] = -1;
	r = 0;
out:
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (devnull >= 0)
		close(devnull);
	if (prog >= 0)
		close(prog);
	return r;
}

/*
 * Reads one line (without its newline) before timeout_ms. 0: a line;
 * JIT_ERR_SYSTEM with errno ETIMEDOUT: no line in time;
 * JIT_ERR_MESSAGE_INCOMPLETE: the agent closed stdout first;
 * JIT_ERR_STRING_TOO_LARGE: a line longer than linelen.
 */
static int agent_answer(int fd, uint64_t timeout_ms, char *line, size_t linelen)
{
	uint64_t end = mono_ms() + timeout_ms, now;
	struct pollfd pfd;
	size_t len = 0;
	ssize_t n;
	char *nl;
	int p;

	line[0] = '\0';
	for (;;) {
		now = mono_ms();
		if (now >= end) {
			errno = ETIMEDOUT;
			return JIT_ERR_SYSTEM;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		p = poll(&pfd, 1, (int)(end - now));
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			return JIT_ERR_SYSTEM;
		if (p == 0)
			continue;
		if (len + 1 >= linelen)
			return JIT_ERR_STRING_TOO_LARGE;
		n = read(fd, line + len, linelen - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return JIT_ERR_SYSTEM;
		if (n == 0)
			return JIT_ERR_MESSAGE_INCOMPLETE;
		len += (size_t)n;
		line[len] = '\0';
		if ((nl = memchr(line, '\n', len)) != NULL) {
			*nl = '\0';
			return memchr(line, '\0', (size_t)(nl - line)) != NULL
			               ? JIT_ERR_EMBEDDED_NUL
			               : 0;
		}
	}
}

/* A socket path the agent may have created: absolute, printable, fits sun_path. */
static bool is_socket_path(const char *v)
{
	const char *p;

	if (v[0] != '/' || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return false;
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p > 0x7e)
			return false;
	return true;
}

static void agent_data_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	struct agent_data *a = data;

	(void)pamh;
	(void)error_status;
	if (a == NULL)
		return;
	if (a->pidfd >= 0)
		close(a->pidfd);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/*
 * Bounds the wait: the agent may look the ticket up (command backend) and
 * try every CA endpoint, each with its own time limit, before it answers.
 */
static uint64_t answer_timeout_ms(const struct jit_config *cfg)
{
	uint64_t s = cfg->ca.timeout * (cfg->ca.n_endpoints > 0 ? cfg->ca.n_endpoints : 1);

	if (cfg->tickets.backend == CONFIG_TICKETS_COMMAND)
		s += cfg->tickets.timeout;
	return s * 1000 + GRACE_MS;
}

static enum result open_session(struct sess *s)
{
	struct jit_config *cfg = NULL;
	struct agent_data a = {0, -1}, *kept = NULL;
	char msg[CONFIG_MSG_MAX], text[CONTEXT_MAX], line[ANSWER_MAX], env[ANSWER_MAX + 16];
	char qu[CONFIG_NAME_MAX + 8], qs[ANSWER_MAX + 64], why[ANSWER_MAX + 64];
	const char *user = NULL;
	uint64_t timeout_ms;
	size_t len = 0;
	int fd = -1, r, pr;
	enum result res = RES_SYSTEM;

	text[0] = '\0';
	if (pam_get_user(s->pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    !config_is_name(user)) {
		fail(s, "user-unknown", "unknown user");
		res = RES_USER;
		goto out;
	}
	s->user = user;
	if ((r = user_ids(user, &s->uid, &s->gid)) != 0) {
		fail(s, "user-unknown", "unknown user");
		res = r == JIT_ERR_ALLOC ? RES_ALLOC : RES_USER;
		goto out;
	}
	if ((res = read_context(s)) != RES_ALLOW)
		goto out;
	res = RES_SYSTEM;
	r = config_load(s->args.config, CONFIG_CA_CLIENT | CONFIG_TICKETS, &cfg, msg, sizeof(msg));
	if (r != 0) {
		pam_syslog(s->pamh, LOG_ERR,
		           "stage=session event=agent-failed user=%s session=- error=config msg=%s",
		           log_value(user, qu, sizeof(qu)),
		           log_value(msg[0] != '\0' ? msg : jit_err(r), qs, sizeof(qs)));
		tell(s, PAM_ERROR_MSG, "%s", MSG_CONFIG);
		res = r == JIT_ERR_ALLOC ? RES_ALLOC : RES_CONFIG;
		goto out;
	}
	timeout_ms = answer_timeout_ms(cfg);
	if ((r = session_id(s->id, sizeof(s->id))) != 0 ||
	    (r = context_text(s, text, sizeof(text), &len)) != 0) {
		fail(s, "system", jit_err(r));
		goto out;
	}
	if ((r = agent_start(s, text, len, &a, &fd, msg, sizeof(msg))) != 0) {
		snprintf(why, sizeof(why), "cannot start the agent: %s",
		         msg[0] != '\0' ? msg : strerror(errno));
		fail(s, "system", why);
		goto out;
	}
	r = agent_answer(fd, timeout_ms, line, sizeof(line));
	if (r == 0 && strncmp(line, "error=", 6) == 0) {
		snprintf(why, sizeof(why), "%s", line + 6);
		if (why[0] == '\0' || !is_printable(why))
			snprintf(why, sizeof(why), "the agent failed");
		fail(s, "agent", why);
		res = RES_DENY;
		goto out;
	}
	if (r == 0 && (strncmp(line, "SSH_AUTH_SOCK=", 14) != 0 || !is_socket_path(line + 14)))
		r = JIT_ERR_INVALID_FORMAT;
	if (r != 0) {
		if (r == JIT_ERR_SYSTEM && errno == ETIMEDOUT)
			snprintf(why, sizeof(why), "no answer from the agent within %" PRIu64 " ms",
			         timeout_ms);
		else if (r == JIT_ERR_MESSAGE_INCOMPLETE)
			snprintf(why, sizeof(why), "the agent exited without an answer");
		else
			snprintf(why, sizeof(why), "malformed answer from the agent");
		fail(s, "agent", why);
		res = RES_DENY;
		goto out;
	}
	snprintf(env, sizeof(env), "%s", line);
	pr = pam_putenv(s->pamh, env);
	if (pr != PAM_SUCCESS) {
		fail(s, "system", "cannot set SSH_AUTH_SOCK");
		res = pr == PAM_BUF_ERR ? RES_ALLOC : RES_SYSTEM;
		goto out;
	}
	if ((kept = malloc(sizeof(*kept))) == NULL) {
		res = RES_ALLOC;
		goto out;
	}
	*kept = a;
	if ((pr = pam_set_data(s->pamh, DATA_AGENT, kept, agent_data_cleanup)) != PAM_SUCCESS) {
		free(kept);
		(void)pam_putenv(s->pamh, "SSH_AUTH_SOCK");
		fail(s, "system", "cannot record the agent");
		res = pr == PAM_BUF_ERR ? RES_ALLOC : RES_SYSTEM;
		goto out;
	}
	a.pid = 0; /* kept now: close_session stops it */
	a.pidfd = -1;
	pam_syslog(s->pamh, LOG_NOTICE,
	           "stage=session event=agent-started user=%s session=%s context=%s%s%s "
	           "agent_pid=%ld socket=%s",
	           log_value(user, qu, sizeof(qu)), s->id, s->breakglass ? "breakglass" : "ticket",
	           s->breakglass ? "" : " ticket=", s->breakglass ? "" : s->ticket, (long)kept->pid,
	           log_value(line + 14, qs, sizeof(qs)));
	tell(s, PAM_TEXT_INFO, "pam_jit: your certificate agent is ready (SSH_AUTH_SOCK=%s)",
	     line + 14);
	res = RES_ALLOW;
out:
	if (fd >= 0)
		close(fd);
	agent_kill(&a);
	explicit_bzero(text, sizeof(text));
	config_free(cfg);
	return res;
}

static enum result close_session(struct sess *s)
{
	const void *data = NULL;
	struct agent_data *a;
	const char *how;

	if (pam_get_data(s->pamh, DATA_AGENT, &data) != PAM_SUCCESS || data == NULL) {
		if (s->args.debug)
			pam_syslog(s->pamh, LOG_DEBUG, "stage=session event=no-agent");
		return RES_ALLOW;
	}
	a = (struct agent_data *)data;
	if (agent_gone(a)) {
		how = "already-gone";
	} else {
		(void)agent_signal(a, SIGTERM);
		how = "sigterm";
		if (!agent_wait(a, STOP_MS)) {
			(void)agent_signal(a, SIGKILL);
			(void)agent_wait(a, STOP_MS);
			how = "sigkill";
		}
	}
	pam_syslog(s->pamh, LOG_INFO, "stage=session event=agent-stopped agent_pid=%ld how=%s",
	           (long)a->pid, how);
	/* Stopped: nothing left for a second close_session or pam_end to do. */
	(void)pam_set_data(s->pamh, DATA_AGENT, NULL, NULL);
	return RES_ALLOW;
}

PAM_JIT_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv);
PAM_JIT_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv);

PAM_JIT_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct sess s;

	memset(&s, 0, sizeof(s));
	s.pamh = pamh;
	s.flags = flags;
	parse_args(pamh, argc, argv, &s.args);
	return pam_code(STAGE_SESSION, open_session(&s));
}

PAM_JIT_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct sess s;

	memset(&s, 0, sizeof(s));
	s.pamh = pamh;
	s.flags = flags;
	parse_args(pamh, argc, argv, &s.args);
	return pam_code(STAGE_SESSION, close_session(&s));
}
