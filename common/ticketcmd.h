/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The "command" ticket backend: an external program, named in jit.conf
 * (tickets.command), looks one ticket up and prints it as key=value lines
 * (docs/ticket-command.md). It runs without a shell, with an empty
 * environment but PATH and LANG, stdin /dev/null, no other descriptors, in
 * its own process group, killed with that group at the deadline. No
 * signal handler is installed and only that child is waited for, so the
 * host process (sshd) is not disturbed.
 */
#ifndef JIT_TICKETCMD_H
#define JIT_TICKETCMD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "runprog.h"

#define TICKETCMD_OUTPUT_MAX  (64 * 1024) /* bytes of an answer */
#define TICKETCMD_STDERR_MAX  RUNPROG_STDERR_MAX
#define TICKETCMD_TIMEOUT_MAX RUNPROG_TIMEOUT_MAX
#define TICKETCMD_REAP_MARGIN RUNPROG_REAP_MARGIN
#define TICKETCMD_PATH        RUNPROG_PATH

/*
 * Runs argv[0] (absolute; a regular file owned by root or the effective
 * user, not group or world writable, not a symbolic link; checked on the
 * descriptor that is then executed) with argv[1..], ticket_id and user as
 * arguments, and waits at most timeout_ms (1 .. TICKETCMD_TIMEOUT_MAX).
 *
 * Exit status 0: the answer is parsed by ticketcmd_parse() and returned.
 * Exit status 1 with no output: JIT_ERR_NOT_FOUND. Otherwise an error with
 * a message naming the program (msg may be NULL; CONFIG_MSG_MAX bytes
 * suffice but for very long paths, which are cut):
 *   JIT_ERR_INVALID_ARGUMENT  bad argv (empty, relative, more than
 *                             CONFIG_LIST_MAX entries), user or timeout
 *   JIT_ERR_INVALID_FORMAT    ticket_id is not a ticket id; a malformed
 *                             answer or a wrong id; output with exit 1
 *   JIT_ERR_EMBEDDED_NUL,
 *   JIT_ERR_BAD_CHARACTER     a NUL or control character in the answer
 *   JIT_ERR_FILE_PERMISSIONS  owner or mode of the program
 *   JIT_ERR_FILE_TYPE         not a regular file (or a symbolic link)
 *   JIT_ERR_NO_BUFFER_SPACE   more than TICKETCMD_OUTPUT_MAX bytes of output
 *   JIT_ERR_SYSTEM            no answer in time (errno ETIMEDOUT); it could
 *                             not be run (errno says why); it failed (exit
 *                             status other than 0 and 1, or a signal; the
 *                             first line of its stderr is in msg)
 * Free the result with ticket_free(); its line is 0.
 */
int ticketcmd_lookup(const char *const *argv, uint64_t timeout_ms, const char *ticket_id,
                     const char *user, struct ticket **ret, char *msg, size_t msglen);

/*
 * Parses an answer: text holds len bytes (at most TICKETCMD_OUTPUT_MAX; no
 * terminating NUL needed). The id must equal expect_id (any valid id when
 * NULL). Returns 0, JIT_ERR_INVALID_FORMAT, JIT_ERR_EMBEDDED_NUL,
 * JIT_ERR_BAD_CHARACTER, JIT_ERR_NO_BUFFER_SPACE or JIT_ERR_ALLOC, with
 * msg "line N: key: why" or "why" ("" on success).
 */
int ticketcmd_parse(const char *text, size_t len, const char *expect_id, struct ticket **ret,
                    char *msg, size_t msglen);

#endif
