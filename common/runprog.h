/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Runs an admin-configured program from inside a host process (sshd):
 * without a shell, with the environment it is given, stdin /dev/null, no
 * descriptors but its pipes, in its own process group, and killed with that
 * group at the deadline. No signal handler is installed and only that
 * child is waited for, so the host is not disturbed. Used by the ticket
 * command backend and the break-glass notify hook.
 */
#ifndef JIT_RUNPROG_H
#define JIT_RUNPROG_H

#include <stddef.h>
#include <stdint.h>

#define RUNPROG_STDERR_MAX  200             /* bytes of stderr's first line kept */
#define RUNPROG_TIMEOUT_MAX (3600 * 1000)   /* ms */
#define RUNPROG_REAP_MARGIN 1000            /* ms to wait for a killed child */
#define RUNPROG_PATH        "/usr/bin:/bin" /* PATH the programs get */
#define RUNPROG_ARGS_MAX    64              /* entries of argv (CONFIG_LIST_MAX) */

struct runprog_result {
	int exit_status; /* 0 .. 255 */
	char *out;       /* stdout, out_len bytes and a NUL; NULL when not kept */
	size_t out_len;
	char note[RUNPROG_STDERR_MAX + 16]; /* ", stderr: \"...\"" or "" */
};

/*
 * Runs argv[0] (absolute and printable; a regular file owned by root or the
 * effective user, not group or world writable, executable, not a symbolic
 * link; checked on the descriptor that is then executed) with argv[1..] and
 * then extra[0..] (NULL-terminated; extra may be NULL) as arguments, envp as
 * its whole environment, and waits at most timeout_ms (1 ..
 * RUNPROG_TIMEOUT_MAX). Up to out_max bytes of stdout are kept; with
 * out_max 0 stdout is read and dropped.
 *
 * 0 when it exited on its own within the time, whatever its status: *res
 * holds the status, the output and a note of its stderr; free it with
 * runprog_result_clear(). Otherwise *res is empty and msg (may be NULL)
 * starts with the program's path:
 *   JIT_ERR_INVALID_ARGUMENT  argv empty or longer than RUNPROG_ARGS_MAX
 *                             (msg starts with what), argv[0] not absolute,
 *                             timeout out of range
 *   JIT_ERR_FILE_PERMISSIONS  owner or mode of the program
 *   JIT_ERR_FILE_TYPE         not a regular file (or a symbolic link)
 *   JIT_ERR_NO_BUFFER_SPACE   more than out_max bytes of output (killed)
 *   JIT_ERR_SYSTEM            not run (errno says why), no exit in time
 *                             (errno ETIMEDOUT), killed by a signal, or its
 *                             status lost
 *   JIT_ERR_ALLOC
 */
int runprog_run(const char *what, const char *const *argv, const char *const *extra,
                const char *const *envp, uint64_t timeout_ms, size_t out_max,
                struct runprog_result *res, char *msg, size_t msglen);

/* Frees what runprog_run() left in res and empties it. */
void runprog_result_clear(struct runprog_result *res);

/*
 * Opens path (O_PATH, not following a link) for fexecve and checks it on
 * that descriptor, by file_read(FILE_TRUSTED)'s rule: a regular file owned
 * by root (or the caller), not group or world writable, executable. The
 * reason of a refusal is in msg.
 */
int runprog_open(const char *path, int *ret_fd, char *msg, size_t msglen);

#endif
