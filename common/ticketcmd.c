/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The "command" ticket backend: runs a lookup program and parses its
 * key=value answer (docs/ticket-command.md).
 *
 * This runs inside sshd, so it must not disturb its host: no threads, no
 * signal handler, and only our own child is waited for (a pidfd tells when
 * it exits; without one we poll with WNOHANG). The program is checked and
 * executed through one descriptor, so the file checked is the file run.
 * The child gets its own process group, and the whole group is killed when
 * the leader exits or the deadline passes, so nothing it started outlives
 * the lookup.
 */
#define _GNU_SOURCE /* close_range, fexecve, pipe2, dup3 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "quote.h"
#include "ticketcmd.h"
#include "timefmt.h"

#define QUOTE_MAX     72   /* a value as shown in a message */
#define READ_CHUNK    4096 /* bytes per read() */
#define POLL_SLICE    10   /* ms between exit checks without a pidfd */
#define FD_FIRST_FREE 5    /* the child's descriptors: 0-2 stdio, 3 program, 4 exec status */

static void setmsg(char *msg, size_t msglen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void setmsg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

/*
 * The tickets file's value rules (common/config.c), which are not exported
 * from there; they must stay identical.
 */

/*
 * The answer.
 */

enum {
	F_ID,
	F_STATE,
	F_USERS,
	F_GROUPS,
	F_PRINCIPALS,
	F_NOT_BEFORE,
	F_NOT_AFTER,
	F_HOSTS,
	F_COUNT,
};

static const char *const field_names[F_COUNT] = {
        "id", "state", "users", "groups", "principals", "not_before", "not_after", "hosts",
};

/* In the order of TICKET_APPROVED .. TICKET_CLOSED. */
static const char *const state_names[] = {"approved", "pending", "rejected", "closed"};

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A comma list of names into a NULL-terminated vector; "" is the empty list. */
static int parse_names(char *v, unsigned line, const char *key, char ***ret, size_t *ret_n,
                       char *msg, size_t msglen)
{
	char q[QUOTE_MAX], **list = NULL, *p, *comma;
	size_t n = 1, i = 0, j;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_n = 0;
	if (*v == '\0')
		n = 0;
	for (p = v; *p != '\0'; p++)
		if (*p == ',')
			n++;
	if (n > CONFIG_PRINCIPALS_MAX) {
		setmsg(msg, msglen, "line %u: %s: has %zu entries, at most %d allowed", line, key,
		       n, CONFIG_PRINCIPALS_MAX);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((list = calloc(n + 1, sizeof(*list))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (p = v; i < n; i++) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma = '\0';
		if (!config_is_name(p)) {
			setmsg(msg, msglen,
			       "line %u: %s: %s is not a valid name (1 to %d printable ASCII "
			       "characters, no spaces or commas)",
			       line, key, quote(p, q, sizeof(q)), CONFIG_NAME_MAX);
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((list[i] = strdup(p)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if (comma != NULL)
			p = comma + 1;
	}
	*ret = list;
	*ret_n = n;
	list = NULL;
	r = 0;
out:
	for (j = 0; list != NULL && j < n; j++)
		free(list[j]);
	free(list);
	return r;
}

static int parse_time(const char *v, unsigned line, const char *key, uint64_t *ret, char *msg,
                      size_t msglen)
{
	char q[QUOTE_MAX];

	*ret = 0;
	if (strlen(v) > TIME_TEXT_MAX || time_parse_rfc3339(v, ret) != 0) {
		*ret = 0;
		setmsg(msg, msglen,
		       "line %u: %s: %s is not an RFC 3339 time (e.g. \"2026-11-23T08:00:00Z\")",
		       line, key, quote(v, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	}
	return 0;
}

/* One "key=value" line, NUL-terminated, into t. */
static int parse_line(char *s, unsigned line, const char *expect_id, unsigned *seen,
                      unsigned *seen_line, struct ticket *t, char *msg, size_t msglen)
{
	char q[QUOTE_MAX], q2[QUOTE_MAX], *v;
	size_t f, i;

	if (*s == '\0') {
		setmsg(msg, msglen, "line %u: empty line", line);
		return JIT_ERR_INVALID_FORMAT;
	}
	if ((v = strchr(s, '=')) == NULL) {
		setmsg(msg, msglen, "line %u: %s is not key=value", line, quote(s, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	}
	*v++ = '\0';
	for (f = 0; f < F_COUNT && strcmp(s, field_names[f]) != 0; f++)
		;
	if (f == F_COUNT) {
		setmsg(msg, msglen, "line %u: unknown key %s", line, quote(s, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	}
	if ((*seen & (1U << f)) != 0) {
		setmsg(msg, msglen, "line %u: duplicate key \"%s\" (first on line %u)", line, s,
		       seen_line[f]);
		return JIT_ERR_INVALID_FORMAT;
	}
	*seen |= 1U << f;
	seen_line[f] = line;
	switch (f) {
	case F_ID:
		if (!config_is_ticket_id(v)) {
			setmsg(msg, msglen,
			       "line %u: id: %s is not a ticket id (1 to %d of A-Z a-z 0-9 . _ -)",
			       line, quote(v, q, sizeof(q)), TICKET_ID_MAX);
			return JIT_ERR_INVALID_FORMAT;
		}
		if (expect_id != NULL && strcmp(v, expect_id) != 0) {
			setmsg(msg, msglen, "line %u: id: %s is not the ticket asked for (%s)",
			       line, quote(v, q, sizeof(q)), quote(expect_id, q2, sizeof(q2)));
			return JIT_ERR_INVALID_FORMAT;
		}
		if ((t->id = strdup(v)) == NULL)
			return JIT_ERR_ALLOC;
		return 0;
	case F_STATE:
		for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
			if (strcmp(v, state_names[i]) == 0) {
				t->state = (int)i + 1;
				return 0;
			}
		}
		setmsg(msg, msglen,
		       "line %u: state: %s is not a ticket state (use \"approved\", \"pending\", "
		       "\"rejected\" or \"closed\")",
		       line, quote(v, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	case F_USERS:
		return parse_names(v, line, s, &t->users, &t->n_users, msg, msglen);
	case F_GROUPS:
		return parse_names(v, line, s, &t->groups, &t->n_groups, msg, msglen);
	case F_PRINCIPALS:
		if (*v == '\0') {
			setmsg(msg, msglen, "line %u: principals: must not be empty", line);
			return JIT_ERR_INVALID_FORMAT;
		}
		return parse_names(v, line, s, &t->principals, &t->n_principals, msg, msglen);
	case F_NOT_BEFORE:
		return parse_time(v, line, s, &t->not_before, msg, msglen);
	case F_NOT_AFTER:
		return parse_time(v, line, s, &t->not_after, msg, msglen);
	case F_HOSTS:
		return parse_names(v, line, s, &t->hosts, &t->n_hosts, msg, msglen);
	default:
		return JIT_ERR_INTERNAL;
	}
}

int ticketcmd_parse(const char *text, size_t len, const char *expect_id, struct ticket **ret,
                    char *msg, size_t msglen)
{
	struct ticket *t = NULL;
	unsigned seen = 0, seen_line[F_COUNT] = {0}, line = 1;
	const unsigned char *u = (const unsigned char *)text;
	char *copy = NULL, *s, *nl;
	size_t i, n, f;
	int r = JIT_ERR_INTERNAL;

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	*ret = NULL;
	if ((text == NULL && len > 0) || (expect_id != NULL && !config_is_ticket_id(expect_id))) {
		setmsg(msg, msglen, "invalid argument");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if (len > TICKETCMD_OUTPUT_MAX) {
		setmsg(msg, msglen, "longer than %d bytes", TICKETCMD_OUTPUT_MAX);
		return JIT_ERR_NO_BUFFER_SPACE;
	}
	if (len == 0) {
		setmsg(msg, msglen, "empty answer");
		return JIT_ERR_INVALID_FORMAT;
	}
	/* Bytes first, so no later step sees a NUL, a control character or bad UTF-8. */
	for (i = 0; i < len; i += n) {
		n = 1;
		if (u[i] == '\n') {
			line++;
		} else if (u[i] == '\0') {
			setmsg(msg, msglen, "line %u: contains a NUL byte", line);
			r = JIT_ERR_EMBEDDED_NUL;
			goto out;
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			setmsg(msg, msglen, "line %u: contains a control character (0x%02x)", line,
			       u[i]);
			r = JIT_ERR_BAD_CHARACTER;
			goto out;
		} else if ((n = utf8_len(u + i, len - i)) == 0) {
			setmsg(msg, msglen, "line %u: not valid UTF-8", line);
			r = JIT_ERR_BAD_CHARACTER;
			goto out;
		}
	}
	if ((copy = malloc(len + 1)) == NULL || (t = calloc(1, sizeof(*t))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	/* A final newline ends the last line; it does not start an empty one. */
	if (copy[len - 1] == '\n')
		copy[len - 1] = '\0';
	for (s = copy, line = 1;; s = nl + 1, line++) {
		if ((nl = strchr(s, '\n')) != NULL)
			*nl = '\0';
		if ((r = parse_line(s, line, expect_id, &seen, seen_line, t, msg, msglen)) != 0)
			goto out;
		if (nl == NULL)
			break;
	}
	for (f = 0; f < F_COUNT; f++) {
		if (f != F_HOSTS && (seen & (1U << f)) == 0) {
			setmsg(msg, msglen, "missing required key \"%s\"", field_names[f]);
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
	}
	if (t->n_users + t->n_groups == 0) {
		setmsg(msg, msglen, "grants no one: set users or groups");
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if (t->not_before >= t->not_after) {
		setmsg(msg, msglen, "line %u: not_after: must be later than not_before",
		       seen_line[F_NOT_AFTER]);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	t->line = 0;
	*ret = t;
	t = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	r = 0;
out:
	ticket_free(t);
	free(copy);
	return r;
}

/*
 * Running the program.
 */

struct run {
	pid_t pid;
	int pidfd; /* -1: none, poll with WNOHANG */
	int out;   /* read ends, -1 once at EOF */
	int err;
	int status; /* exec status: EOF when exec succeeded, an errno when not */
	char *answer;
	size_t answer_len;
	char stderr_line[TICKETCMD_STDERR_MAX + 1];
	size_t stderr_len;
	bool stderr_done; /* the first line is complete */
	int exec_errno;
	bool exited; /* the leader is a zombie (or gone) */
	bool lost;   /* someone else reaped it */
	bool reaped;
	int wstatus;
	bool timed_out;
	bool too_large;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * Opens argv[0] for execution and checks it on that descriptor, by
 * file_read(FILE_TRUSTED)'s rule.
 */
static int open_program(const char *path, int *ret_fd, char *msg, size_t msglen)
{
	struct stat st;
	int fd = -1, r = JIT_ERR_INTERNAL, saved_errno = 0;

	*ret_fd = -1;
	/* O_PATH: fexecve needs no read permission; O_NOFOLLOW: a link is refused below. */
	if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		saved_errno = errno;
		setmsg(msg, msglen, "%s: %s", path, strerror(saved_errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		setmsg(msg, msglen, "%s: is a symbolic link", path);
		r = JIT_ERR_FILE_TYPE;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		setmsg(msg, msglen, "%s: not a regular file", path);
		r = JIT_ERR_FILE_TYPE;
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		setmsg(msg, msglen, "%s: owned by uid %u, not root", path, (unsigned)st.st_uid);
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		setmsg(msg, msglen, "%s: group or world writable (mode %04o)", path,
		       (unsigned)(st.st_mode & 07777));
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
		setmsg(msg, msglen, "%s: not executable (mode %04o)", path,
		       (unsigned)(st.st_mode & 07777));
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	*ret_fd = fd;
	fd = -1;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	if (saved_errno != 0)
		errno = saved_errno;
	return r;
}

/*
 * In the child, between fork and exec: async-signal-safe calls only. It
 * runs in "/", and its descriptors become 0 /dev/null, 1 and 2 the pipes, 3 the program, 4 the
 * exec status pipe (close-on-exec), and nothing else.
 */
static void child_exec(int src[5], int max_fd, char *const argv[], char *const envp[])
        __attribute__((noreturn));

static void child_exec(int src[5], int max_fd, char *const argv[], char *const envp[])
{
	struct sigaction sa;
	sigset_t none;
	int report = src[4], i, e;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			(void)sigaction(i, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, 0);
	if (chdir("/") == -1)
		goto fail;
	/* Above the targets first, so that no dup2 overwrites another source. */
	for (i = 0; i < 5; i++)
		if ((src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, FD_FIRST_FREE)) == -1)
			goto fail;
	report = src[4];
	for (i = 0; i < 4; i++)
		if (dup2(src[i], i) == -1)
			goto fail;
	if (dup3(src[4], 4, O_CLOEXEC) == -1)
		goto fail;
	report = 4;
	if (close_range(FD_FIRST_FREE, ~0U, 0) == -1)
		for (i = FD_FIRST_FREE; i < max_fd; i++)
			(void)close(i);
	/*
	 * A binary does not need descriptor 3; a script does (its interpreter
	 * opens /dev/fd/3, and exec fails with ENOENT when it is close-on-exec).
	 */
	if (fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
		goto fail;
	fexecve(3, argv, envp);
	if (errno == ENOENT && fcntl(3, F_SETFD, 0) != -1)
		fexecve(3, argv, envp);
fail:
	e = errno;
	while (write(report, &e, sizeof(e)) == -1 && errno == EINTR)
		;
	_exit(127);
}

static int pipe_nonblock_read(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	/* Only our end: the program gets an ordinary blocking pipe. */
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return 0;
}

static int spawn(int exe, char *const argv[], char *const envp[], struct run *rn)
{
	int null_fd = -1, out[2] = {-1, -1}, err[2] = {-1, -1}, st[2] = {-1, -1}, src[5];
	int max_fd = 1024, saved_errno = 0, r = JIT_ERR_SYSTEM;
	struct rlimit rl;
	sigset_t all, old;
	pid_t pid;

	/* Only for the close() loop when close_range() is missing. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		max_fd = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536
		                                                             : (int)rl.rlim_cur;
	if ((null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    pipe_nonblock_read(out) == -1 || pipe_nonblock_read(err) == -1 ||
	    pipe_nonblock_read(st) == -1) {
		saved_errno = errno;
		goto out;
	}
	src[0] = null_fd;
	src[1] = out[1];
	src[2] = err[1];
	src[3] = exe;
	src[4] = st[1];
	/* No handler of the host may run in the child before it resets them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(src, max_fd, argv, envp);
	saved_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1)
		goto out;
	saved_errno = 0;
	/* Also here, so that the group exists whichever side runs first. */
	(void)setpgid(pid, pid);
	rn->pid = pid;
#ifdef SYS_pidfd_open
	rn->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	rn->out = out[0];
	rn->err = err[0];
	rn->status = st[0];
	out[0] = err[0] = st[0] = -1;
	r = 0;
out:
	if (null_fd != -1)
		close(null_fd);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&st[0]);
	close_fd(&st[1]);
	if (saved_errno != 0)
		errno = saved_errno;
	return r;
}

/* Whether the leader has exited, leaving it unreaped (its pid stays ours). */
static void check_exit(struct run *rn)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)rn->pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1) {
		if (errno == ECHILD) {
			rn->exited = true;
			rn->lost = true;
		}
		return;
	}
	if (si.si_pid == rn->pid) {
		rn->exited = true;
		/* Whatever it left running in its group goes with it. */
		(void)kill(-rn->pid, SIGKILL);
	}
}

/* One read from a ready pipe; returns false on a fatal error (errno set). */
static bool drain(struct run *rn, int *fd)
{
	char buf[READ_CHUNK], *nl;
	size_t keep;
	ssize_t n;
	int e;

	n = read(*fd, buf, sizeof(buf));
	if (n == -1)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0) {
		close_fd(fd);
		return true;
	}
	if (fd == &rn->out) {
		if ((size_t)n > TICKETCMD_OUTPUT_MAX - rn->answer_len) {
			rn->too_large = true;
			return true;
		}
		memcpy(rn->answer + rn->answer_len, buf, (size_t)n);
		rn->answer_len += (size_t)n;
	} else if (fd == &rn->err) {
		if (rn->stderr_done)
			return true;
		keep = sizeof(rn->stderr_line) - 1 - rn->stderr_len;
		if ((size_t)n < keep)
			keep = (size_t)n;
		if ((nl = memchr(buf, '\n', keep)) != NULL) {
			keep = (size_t)(nl - buf);
			rn->stderr_done = true;
		}
		memcpy(rn->stderr_line + rn->stderr_len, buf, keep);
		rn->stderr_len += keep;
		if (rn->stderr_len == sizeof(rn->stderr_line) - 1)
			rn->stderr_done = true;
	} else if ((size_t)n >= sizeof(e)) {
		memcpy(&e, buf, sizeof(e));
		rn->exec_errno = e != 0 ? e : EIO;
	}
	return true;
}

/* Reads until the leader exited and both pipes are at EOF, or the deadline. */
static int collect(struct run *rn, uint64_t timeout_ms)
{
	struct pollfd pfd[4];
	int *which[4];
	uint64_t deadline = now_ms() + timeout_ms, now;
	bool check = rn->pidfd == -1;
	int k, i, n, wait_ms;

	for (;;) {
		if (!rn->exited && check)
			check_exit(rn);
		if (rn->exited && rn->out == -1 && rn->err == -1 && rn->status == -1)
			return 0;
		if ((now = now_ms()) >= deadline) {
			rn->timed_out = true;
			return 0;
		}
		wait_ms = (int)(deadline - now);
		k = 0;
		if (rn->out != -1) {
			pfd[k] = (struct pollfd){.fd = rn->out, .events = POLLIN};
			which[k++] = &rn->out;
		}
		if (rn->err != -1) {
			pfd[k] = (struct pollfd){.fd = rn->err, .events = POLLIN};
			which[k++] = &rn->err;
		}
		if (rn->status != -1) {
			pfd[k] = (struct pollfd){.fd = rn->status, .events = POLLIN};
			which[k++] = &rn->status;
		}
		if (!rn->exited && rn->pidfd != -1) {
			pfd[k] = (struct pollfd){.fd = rn->pidfd, .events = POLLIN};
			which[k++] = NULL;
		} else if (!rn->exited && wait_ms > POLL_SLICE) {
			wait_ms = POLL_SLICE;
		}
		check = rn->pidfd == -1;
		if ((n = poll(pfd, (nfds_t)k, wait_ms)) == -1) {
			if (errno == EINTR)
				continue;
			return JIT_ERR_SYSTEM;
		}
		for (i = 0; i < k && n > 0; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (which[i] == NULL) {
				check = true;
				continue;
			}
			if (!drain(rn, which[i]))
				return JIT_ERR_SYSTEM;
			if (rn->too_large)
				return 0;
		}
	}
}

/* Kills the group unless done, and reaps the leader within the margin. */
static void finish(struct run *rn)
{
	struct pollfd pfd;
	uint64_t deadline;
	pid_t w;

	if (rn->pid <= 0)
		return;
	if (!rn->exited) {
		(void)kill(-rn->pid, SIGKILL);
		(void)kill(rn->pid, SIGKILL);
	}
	deadline = now_ms() + TICKETCMD_REAP_MARGIN;
	for (;;) {
		w = waitpid(rn->pid, &rn->wstatus, WNOHANG);
		if (w == rn->pid) {
			rn->reaped = true;
			break;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			rn->lost = true;
			break;
		}
		if (now_ms() >= deadline)
			break; /* stuck in the kernel: leave it rather than block the login */
		if (rn->pidfd != -1) {
			pfd = (struct pollfd){.fd = rn->pidfd, .events = POLLIN};
			(void)poll(&pfd, 1, (int)(deadline - now_ms() + 1));
		} else {
			(void)poll(NULL, 0, POLL_SLICE);
		}
	}
}

/* ", stderr: \"...\"" from the first line of stderr, or "". */
static const char *stderr_note(struct run *rn, char *out, size_t outlen)
{
	char line[TICKETCMD_STDERR_MAX + 1];
	size_t i;

	if (rn->stderr_len == 0) {
		out[0] = '\0';
		return out;
	}
	/* Printable ASCII only: it ends up in a log line. */
	for (i = 0; i < rn->stderr_len; i++) {
		unsigned char c = (unsigned char)rn->stderr_line[i];

		line[i] = c < 0x20 || c >= 0x7f || c == '"' ? '?' : (char)c;
	}
	line[i] = '\0';
	snprintf(out, outlen, ", stderr: \"%s\"", line);
	return out;
}

static bool argv_ok(const char *const *argv, size_t *ret_n)
{
	size_t n;

	*ret_n = 0;
	if (argv == NULL || argv[0] == NULL)
		return false;
	for (n = 0; argv[n] != NULL; n++)
		if (n >= CONFIG_LIST_MAX)
			return false;
	*ret_n = n;
	return true;
}

int ticketcmd_lookup(const char *const *argv, uint64_t timeout_ms, const char *ticket_id,
                     const char *user, struct ticket **ret, char *msg, size_t msglen)
{
	static const char *const envp[] = {"PATH=" TICKETCMD_PATH, "LANG=C", NULL};
	struct run rn;
	const char **args = NULL;
	char q[QUOTE_MAX], note[TICKETCMD_STDERR_MAX + 32], pmsg[CONFIG_MSG_MAX];
	const char *prog;
	size_t n, i;
	int exe = -1, saved_errno = 0, code, r = JIT_ERR_INTERNAL;

	memset(&rn, 0, sizeof(rn));
	rn.pid = -1;
	rn.pidfd = rn.out = rn.err = rn.status = -1;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	*ret = NULL;
	if (!argv_ok(argv, &n)) {
		setmsg(msg, msglen, "ticket command: empty or more than %d arguments",
		       CONFIG_LIST_MAX);
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	prog = argv[0];
	for (i = 0; prog[i] != '\0' && (unsigned char)prog[i] >= 0x20 && prog[i] != 0x7f; i++)
		;
	/* Printable too: the path starts every message. */
	if (prog[0] != '/' || prog[i] != '\0') {
		setmsg(msg, msglen, "%s: not an absolute path", quote(prog, q, sizeof(q)));
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (timeout_ms == 0 || timeout_ms > TICKETCMD_TIMEOUT_MAX) {
		setmsg(msg, msglen, "%s: timeout %llu ms out of range (1 to %d)", prog,
		       (unsigned long long)timeout_ms, TICKETCMD_TIMEOUT_MAX);
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (ticket_id == NULL || !config_is_ticket_id(ticket_id)) {
		setmsg(msg, msglen, "%s is not a ticket id (1 to %d of A-Z a-z 0-9 . _ -)",
		       ticket_id != NULL ? quote(ticket_id, q, sizeof(q)) : "(null)",
		       TICKET_ID_MAX);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if (user == NULL || !config_is_name(user)) {
		setmsg(msg, msglen, "user %s is not a valid name",
		       user != NULL ? quote(user, q, sizeof(q)) : "(null)");
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = open_program(prog, &exe, msg, msglen)) != 0) {
		saved_errno = errno;
		goto out;
	}
	if ((args = calloc(n + 3, sizeof(*args))) == NULL ||
	    (rn.answer = malloc(TICKETCMD_OUTPUT_MAX)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < n; i++)
		args[i] = argv[i];
	args[n] = ticket_id;
	args[n + 1] = user;
	/* execve's prototype predates const; nothing is written through these. */
	if ((r = spawn(exe, (char *const *)args, (char *const *)envp, &rn)) != 0) {
		saved_errno = errno;
		setmsg(msg, msglen, "%s: cannot start: %s", prog, strerror(saved_errno));
		goto out;
	}
	close_fd(&exe);
	code = collect(&rn, timeout_ms);
	saved_errno = errno;
	finish(&rn);
	if (code != 0) {
		setmsg(msg, msglen, "%s: %s", prog, strerror(saved_errno));
		r = code;
		goto out;
	}
	saved_errno = 0;
	if (rn.exec_errno != 0) {
		saved_errno = rn.exec_errno;
		setmsg(msg, msglen, "%s: cannot execute: %s", prog, strerror(saved_errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (rn.too_large) {
		setmsg(msg, msglen, "%s: more than %d bytes of output (killed)", prog,
		       TICKETCMD_OUTPUT_MAX);
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if (rn.timed_out) {
		saved_errno = ETIMEDOUT;
		setmsg(msg, msglen, "%s: no answer within %llu ms (killed)%s", prog,
		       (unsigned long long)timeout_ms, stderr_note(&rn, note, sizeof(note)));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (!rn.reaped) {
		saved_errno = ECHILD;
		setmsg(msg, msglen, "%s: %s", prog,
		       rn.lost ? "exit status lost (reaped by another waiter)"
		               : "did not exit after SIGKILL");
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (WIFSIGNALED(rn.wstatus)) {
		setmsg(msg, msglen, "%s: killed by signal %d (%s)%s", prog, WTERMSIG(rn.wstatus),
		       strsignal(WTERMSIG(rn.wstatus)), stderr_note(&rn, note, sizeof(note)));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (WEXITSTATUS(rn.wstatus) == 1 && rn.answer_len == 0) {
		setmsg(msg, msglen, "%s: no ticket %s", prog, quote(ticket_id, q, sizeof(q)));
		r = JIT_ERR_NOT_FOUND;
		goto out;
	}
	if (WEXITSTATUS(rn.wstatus) == 1) {
		setmsg(msg, msglen, "%s: exit status 1 (not found) after printing an answer", prog);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if (WEXITSTATUS(rn.wstatus) != 0) {
		setmsg(msg, msglen, "%s: exit status %d%s", prog, WEXITSTATUS(rn.wstatus),
		       stderr_note(&rn, note, sizeof(note)));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((r = ticketcmd_parse(rn.answer, rn.answer_len, ticket_id, ret, pmsg, sizeof(pmsg))) !=
	    0) {
		setmsg(msg, msglen, "%s: bad answer: %s", prog, pmsg);
		goto out;
	}
	r = 0;
out:
	close_fd(&rn.out);
	close_fd(&rn.err);
	close_fd(&rn.status);
	close_fd(&rn.pidfd);
	close_fd(&exe);
	free(rn.answer);
	free(args);
	if (saved_errno != 0)
		errno = saved_errno;
	return r;
}
