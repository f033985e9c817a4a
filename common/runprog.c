/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Running an admin-configured program from inside sshd (runprog.h).
 *
 * The host must not be disturbed: no threads, no signal handler, and only
 * our own child is waited for (a pidfd tells when it exits; without one we
 * poll with WNOHANG). The program is checked and executed through one
 * descriptor, so the file checked is the file run. The child gets its own
 * process group, and the whole group is killed when the leader exits or
 * the deadline passes, so nothing it started outlives the call.
 */
#define _GNU_SOURCE /* close_range, fexecve, pipe2, dup3 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

#include "err.h"
#include "quote.h"
#include "runprog.h"

#define QUOTE_MAX     72   /* a value as shown in a message */
#define READ_CHUNK    4096 /* bytes per read() */
#define POLL_SLICE    10   /* ms between exit checks without a pidfd */
#define FD_FIRST_FREE 5    /* the child's descriptors: 0-2 stdio, 3 program, 4 exec status */

struct run {
	pid_t pid;
	int pidfd; /* -1: none, poll with WNOHANG */
	int out;   /* read ends, -1 once at EOF */
	int err;
	int status;   /* exec status: EOF when exec succeeded, an errno when not */
	char *answer; /* out_max bytes and a NUL; NULL: output dropped */
	size_t answer_len;
	size_t out_max;
	char stderr_line[RUNPROG_STDERR_MAX + 1];
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

int runprog_open(const char *path, int *ret_fd, char *msg, size_t msglen)
{
	struct stat st;
	int fd = -1, r = JIT_ERR_INTERNAL, saved_errno = 0;

	*ret_fd = -1;
	/* O_PATH: fexecve needs no read permission; O_NOFOLLOW: a link is refused below. */
	if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		saved_errno = errno;
		msg_set(msg, msglen, "%s: %s", path, strerror(saved_errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		msg_set(msg, msglen, "%s: is a symbolic link", path);
		r = JIT_ERR_FILE_TYPE;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		msg_set(msg, msglen, "%s: not a regular file", path);
		r = JIT_ERR_FILE_TYPE;
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		msg_set(msg, msglen, "%s: owned by uid %u, not root", path, (unsigned)st.st_uid);
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		msg_set(msg, msglen, "%s: group or world writable (mode %04o)", path,
		        (unsigned)(st.st_mode & 07777));
		r = JIT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
		msg_set(msg, msglen, "%s: not executable (mode %04o)", path,
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
		if (rn->answer == NULL)
			return true;
		if ((size_t)n > rn->out_max - rn->answer_len) {
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
	uint64_t deadline, now;
	pid_t w;

	if (rn->pid <= 0)
		return;
	if (!rn->exited) {
		(void)kill(-rn->pid, SIGKILL);
		(void)kill(rn->pid, SIGKILL);
	}
	deadline = now_ms() + RUNPROG_REAP_MARGIN;
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
		if ((now = now_ms()) >= deadline)
			break; /* stuck in the kernel: leave it rather than block the login */
		if (rn->pidfd != -1) {
			/* One clock reading: a second one past the deadline would wrap to -1. */
			pfd = (struct pollfd){.fd = rn->pidfd, .events = POLLIN};
			(void)poll(&pfd, 1, (int)(deadline - now + 1));
		} else {
			(void)poll(NULL, 0, POLL_SLICE);
		}
	}
}

/* ", stderr: \"...\"" from the first line of stderr, or "". */
static const char *stderr_note(struct run *rn, char *out, size_t outlen)
{
	char line[RUNPROG_STDERR_MAX + 1];
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
		if (n >= RUNPROG_ARGS_MAX)
			return false;
	*ret_n = n;
	return true;
}

void runprog_result_clear(struct runprog_result *res)
{
	if (res == NULL)
		return;
	free(res->out);
	memset(res, 0, sizeof(*res));
}

int runprog_run(const char *what, const char *const *argv, const char *const *extra,
                const char *const *envp, uint64_t timeout_ms, size_t out_max,
                struct runprog_result *res, char *msg, size_t msglen)
{
	struct run rn;
	const char **args = NULL;
	char q[QUOTE_MAX], note[sizeof(res->note)];
	const char *prog;
	size_t n, n_extra = 0, i;
	int exe = -1, saved_errno = 0, code, r = JIT_ERR_INTERNAL;

	memset(&rn, 0, sizeof(rn));
	rn.pid = -1;
	rn.pidfd = rn.out = rn.err = rn.status = -1;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (res == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	memset(res, 0, sizeof(*res));
	if (!argv_ok(argv, &n)) {
		msg_set(msg, msglen, "%s: empty or more than %d arguments", what, RUNPROG_ARGS_MAX);
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	while (extra != NULL && extra[n_extra] != NULL)
		n_extra++;
	prog = argv[0];
	for (i = 0; prog[i] != '\0' && (unsigned char)prog[i] >= 0x20 && prog[i] != 0x7f; i++)
		;
	/* Printable too: the path starts every message. */
	if (prog[0] != '/' || prog[i] != '\0') {
		msg_set(msg, msglen, "%s: not an absolute path", quote(prog, q, sizeof(q)));
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (timeout_ms == 0 || timeout_ms > RUNPROG_TIMEOUT_MAX) {
		msg_set(msg, msglen, "%s: timeout %llu ms out of range (1 to %d)", prog,
		        (unsigned long long)timeout_ms, RUNPROG_TIMEOUT_MAX);
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = runprog_open(prog, &exe, msg, msglen)) != 0) {
		saved_errno = errno;
		goto out;
	}
	rn.out_max = out_max;
	if ((args = calloc(n + n_extra + 1, sizeof(*args))) == NULL ||
	    (out_max > 0 && (rn.answer = malloc(out_max + 1)) == NULL)) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < n; i++)
		args[i] = argv[i];
	for (i = 0; i < n_extra; i++)
		args[n + i] = extra[i];
	/* execve's prototype predates const; nothing is written through these. */
	if ((r = spawn(exe, (char *const *)args, (char *const *)envp, &rn)) != 0) {
		saved_errno = errno;
		msg_set(msg, msglen, "%s: cannot start: %s", prog, strerror(saved_errno));
		goto out;
	}
	close_fd(&exe);
	code = collect(&rn, timeout_ms);
	saved_errno = errno;
	finish(&rn);
	if (code != 0) {
		msg_set(msg, msglen, "%s: %s", prog, strerror(saved_errno));
		r = code;
		goto out;
	}
	saved_errno = 0;
	if (rn.exec_errno != 0) {
		saved_errno = rn.exec_errno;
		msg_set(msg, msglen, "%s: cannot execute: %s", prog, strerror(saved_errno));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (rn.too_large) {
		msg_set(msg, msglen, "%s: more than %zu bytes of output (killed)", prog, out_max);
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if (rn.timed_out) {
		saved_errno = ETIMEDOUT;
		msg_set(msg, msglen, "%s: no answer within %llu ms (killed)%s", prog,
		        (unsigned long long)timeout_ms, stderr_note(&rn, note, sizeof(note)));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (!rn.reaped) {
		saved_errno = ECHILD;
		msg_set(msg, msglen, "%s: %s", prog,
		        rn.lost ? "exit status lost (reaped by another waiter)"
		                : "did not exit after SIGKILL");
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if (WIFSIGNALED(rn.wstatus)) {
		msg_set(msg, msglen, "%s: killed by signal %d (%s)%s", prog, WTERMSIG(rn.wstatus),
		        strsignal(WTERMSIG(rn.wstatus)), stderr_note(&rn, note, sizeof(note)));
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	res->exit_status = WEXITSTATUS(rn.wstatus);
	(void)stderr_note(&rn, res->note, sizeof(res->note));
	if (rn.answer != NULL) {
		rn.answer[rn.answer_len] = '\0';
		res->out = rn.answer;
		res->out_len = rn.answer_len;
		rn.answer = NULL;
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
