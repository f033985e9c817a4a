/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The offline jit-ca commands and the helpers they share. A command returns
 * 0, a negative JIT_ERR_* code (already reported on stderr), or one of the
 * CMD_* results below; main() turns that into the exit status in one place.
 */
#ifndef JIT_CA_CMD_H
#define JIT_CA_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cert.h"
#include "key.h"

/* Exit statuses: documented in jit-ca(1) and in the usage text. */
#define CA_EXIT_OK       0
#define CA_EXIT_REFUSED  1 /* the certificate does not verify */
#define CA_EXIT_USAGE    2 /* bad command line */
#define CA_EXIT_INPUT    3 /* unreadable or malformed input, bad key or value */
#define CA_EXIT_INTERNAL 4 /* internal or system error */

/* Positive command results beside 0 and JIT_ERR_* (never library codes). */
#define CMD_USAGE   1 /* the command line was wrong; usage already printed */
#define CMD_REFUSED 3 /* the command ran and found a "no" (already reported) */

/* The longest passphrase read from a file or the terminal. */
#define CMD_PASSPHRASE_MAX 1024

struct cli {
	const char *cmd; /* the command's name for messages; NULL at the top level */
	int sys_errno;   /* errno behind the last JIT_ERR_SYSTEM reported */
};

int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_sign(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
/* The signing service and its client and state commands. */
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_request(struct cli *cli, int argc, char **argv);
int cmd_revoke(struct cli *cli, int argc, char **argv);
int cmd_krl(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);

/*
 * Reports "jit-ca: WHAT: REASON" on stderr (WHAT printed safely; the reason
 * is strerror(errno) for JIT_ERR_SYSTEM, else jit_err(r)) and returns r.
 */
int cli_fail(struct cli *cli, const char *what, int r);
/* The same with a quoted value: "jit-ca: WHAT \"VALUE\": REASON". */
int cli_fail_value(struct cli *cli, const char *what, const char *value, int r);
/*
 * Reports a command-line mistake ("jit-ca CMD: MESSAGE"), then the
 * command's usage, on stderr. Returns CMD_USAGE.
 */
int cli_usage_error(struct cli *cli, const char *usage, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/*
 * Turns getopt_long's '?' or ':' (optstring starting with ':') into a usage
 * error naming the option.
 */
int cli_bad_option(struct cli *cli, const char *usage, int c, char **argv);
/* Prints the usage to stdout for -h/--help. Returns 0. */
int cli_help(const char *usage);

/*
 * Writes s so that no control character or non-ASCII byte reaches a
 * terminal: printable ASCII as is, anything else as \xNN.
 */
void cli_put_safe(FILE *f, const char *s);

/* ssh-keygen's labels: "ED25519", "ECDSA", "RSA", "ED25519-SK", ... with "-CERT" for certificates.
 */
const char *cli_key_label(enum key_type t, int cert);

/*
 * A validity interval as ssh-keygen prints it: "forever", "from A to B",
 * "after A", "before B" with local times.
 */
int cli_format_validity(uint64_t after, uint64_t before, char *out, size_t outlen);

/*
 * Loads a certificate from path, or from standard input for "-" (the first
 * line that is neither blank nor a comment; *ret_line gets its number, 0
 * for a file).
 */
int cli_load_cert(const char *path, struct cert **ret, unsigned long *ret_line);

/*
 * Where a command writes a certificate for KEY.pub: -o OUT as given, NULL for
 * "-o -" (standard output), else KEY-cert.pub as ssh-keygen names it.
 */
int cli_cert_out_path(struct cli *cli, const char *out_arg, const char *key_path, char **ret);
/* Writes c as one line to out_path atomically (0644), or to standard output for NULL. */
int cli_write_cert(struct cli *cli, const struct cert *c, const char *comment, const char *key_path,
                   const char *out_path);

#endif
