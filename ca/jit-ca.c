/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca: the OpenSSH user-certificate CA. This file holds main(), the
 * command table, the top-level usage, the helpers the commands share, and
 * the one function that turns results into exit statuses.
 */
#define _GNU_SOURCE /* asprintf */
#include "build_config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "cmd.h"
#include "err.h"
#include "file.h"
#include "key.h"
#include "timefmt.h"

/* Standard input holding a certificate is bounded like a certificate file. */
#define STDIN_CERT_MAX 65536

static const char usage_text[] =
        "usage: jit-ca COMMAND [OPTIONS] [ARGUMENTS]\n"
        "       jit-ca -h | --help | --version\n"
        "\n"
        "Commands:\n"
        "  init     -f FILE [-t ed25519|ecdsa|rsa] [-b BITS] [-C COMMENT]\n"
        "  sign     -s CA_KEY -I KEY_ID -n PRINCIPALS -V VALIDITY [-z SERIAL]\n"
        "           [-O OPTION]... [-o OUT] [--passphrase-file FILE] KEY.pub\n"
        "  inspect  [--json] CERT...\n"
        "  verify   -c CA.pub [-n PRINCIPAL] [--at TIME] [--from ADDR] CERT\n"
        "  serve    [-c CONFIG] [--allow-root]\n"
        "  request  -c CONFIG -u USER -n PRINCIPALS (-t TICKET | --breakglass REASON)\n"
        "           [-V DURATION] [--session ID] [--source-address LIST] [-o OUT] KEY.pub\n"
        "  revoke   -c CONFIG (-z SERIAL | -I KEY_ID | -t TICKET)\n"
        "  krl      -c CONFIG -o FILE\n"
        "  audit    verify -c CONFIG\n"
        "  help     [COMMAND]\n"
        "\n"
        "\"jit-ca COMMAND --help\" shows a command's options; see jit-ca(1).\n"
        "\n"
        "Exit status: 0 success, 1 refused (certificate, audit chain, nothing found),\n"
        "2 usage error, 3 input error, 4 internal or system error.\n";

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
};

static const struct command commands[] = {
        {"init", cmd_init},     {"sign", cmd_sign},   {"inspect", cmd_inspect},
        {"verify", cmd_verify}, {"serve", cmd_serve}, {"request", cmd_request},
        {"revoke", cmd_revoke}, {"krl", cmd_krl},     {"audit", cmd_audit},
};

/* The one place where results become exit statuses. */
static int exit_status(int r, int sys_errno)
{
	if (r == 0)
		return CA_EXIT_OK;
	if (r == CMD_USAGE)
		return CA_EXIT_USAGE;
	if (r == CMD_REFUSED)
		return CA_EXIT_REFUSED;
	switch (r) {
	case JIT_ERR_SIG_INVALID:
	case JIT_ERR_SIG_ALG_MISMATCH:
	case JIT_ERR_CERT_TYPE:
	case JIT_ERR_CERT_NO_PRINCIPALS:
	case JIT_ERR_CERT_NOT_YET_VALID:
	case JIT_ERR_CERT_EXPIRED:
	case JIT_ERR_CERT_PRINCIPAL:
	case JIT_ERR_CERT_CA_MISMATCH:
	case JIT_ERR_CERT_SOURCE_ADDRESS:
		return CA_EXIT_REFUSED;
	case JIT_ERR_INTERNAL:
	case JIT_ERR_ALLOC:
	case JIT_ERR_LIBCRYPTO:
	case JIT_ERR_LIBSSH:
	case JIT_ERR_RANDOM:
	case JIT_ERR_AUDIT_WRITE:
		return CA_EXIT_INTERNAL;
	case JIT_ERR_SYSTEM:
		/* A path the user named that cannot be used is the user's input. */
		switch (sys_errno) {
		case ENOENT:
		case EACCES:
		case EPERM:
		case ENOTDIR:
		case EISDIR:
		case ELOOP:
		case ENAMETOOLONG:
		case EEXIST:
		case ENXIO:
		case ENODEV:
			return CA_EXIT_INPUT;
		default:
			return CA_EXIT_INTERNAL;
		}
	default:
		if (r < 0 && r >= JIT_ERR_MIN)
			return CA_EXIT_INPUT;
		return CA_EXIT_INTERNAL;
	}
}

static const char *reason(struct cli *cli, int r, int saved_errno)
{
	if (r == JIT_ERR_SYSTEM && saved_errno != 0) {
		cli->sys_errno = saved_errno;
		return strerror(saved_errno);
	}
	return jit_err(r);
}

int cli_fail(struct cli *cli, const char *what, int r)
{
	int saved_errno = errno;

	fputs("jit-ca: ", stderr);
	cli_put_safe(stderr, what);
	fprintf(stderr, ": %s\n", reason(cli, r, saved_errno));
	return r;
}

int cli_fail_value(struct cli *cli, const char *what, const char *value, int r)
{
	int saved_errno = errno;

	fprintf(stderr, "jit-ca: %s \"", what);
	cli_put_safe(stderr, value);
	fprintf(stderr, "\": %s\n", reason(cli, r, saved_errno));
	return r;
}

/* "jit-ca: " at the top level, "jit-ca CMD: " inside a command. */
static void usage_prefix(const struct cli *cli)
{
	if (cli->cmd != NULL)
		fprintf(stderr, "jit-ca %s: ", cli->cmd);
	else
		fputs("jit-ca: ", stderr);
}

int cli_usage_error(struct cli *cli, const char *usage, const char *fmt, ...)
{
	va_list ap;

	usage_prefix(cli);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return CMD_USAGE;
}

int cli_bad_option(struct cli *cli, const char *usage, int c, char **argv)
{
	/* getopt leaves the offending word just before optind. */
	const char *word = optind > 0 ? argv[optind - 1] : "";
	int is_long = strncmp(word, "--", 2) == 0;

	if (!is_long && optopt > 0x20 && optopt < 0x7f) {
		if (c == ':')
			return cli_usage_error(cli, usage, "option -%c needs an argument", optopt);
		return cli_usage_error(cli, usage, "unknown option -%c", optopt);
	}
	usage_prefix(cli);
	fputs(c == ':' ? "option \"" : "invalid option \"", stderr);
	cli_put_safe(stderr, word);
	fputs(c == ':' ? "\" needs an argument\n" : "\"\n", stderr);
	fputs(usage, stderr);
	return CMD_USAGE;
}

int cli_help(const char *usage)
{
	fputs(usage, stdout);
	return 0;
}

void cli_put_safe(FILE *f, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x20 && *p < 0x7f)
			fputc(*p, f);
		else
			fprintf(f, "\\x%02x", *p);
	}
}

const char *cli_key_label(enum key_type t, int cert)
{
	switch (t) {
	case KEY_ED25519:
		return cert ? "ED25519-CERT" : "ED25519";
	case KEY_ECDSA_P256:
	case KEY_ECDSA_P384:
	case KEY_ECDSA_P521:
		return cert ? "ECDSA-CERT" : "ECDSA";
	case KEY_RSA:
		return cert ? "RSA-CERT" : "RSA";
	case KEY_SK_ED25519:
		return cert ? "ED25519-SK-CERT" : "ED25519-SK";
	case KEY_SK_ECDSA_P256:
		return cert ? "ECDSA-SK-CERT" : "ECDSA-SK";
	case KEY_UNSPEC:
		break;
	}
	return "unknown";
}

/* One time as ssh-keygen prints it; beyond year 9999, the raw number. */
static void format_time(uint64_t t, char *out, size_t outlen)
{
	if (time_format_local(t, out, outlen) != 0)
		snprintf(out, outlen, "%llu", (unsigned long long)t);
}

int cli_format_validity(uint64_t after, uint64_t before, char *out, size_t outlen)
{
	char from[TIME_TEXT_MAX], to[TIME_TEXT_MAX];
	int n;

	if (outlen > 0)
		out[0] = '\0';
	if (after == 0 && before == TIME_FOREVER)
		n = snprintf(out, outlen, "forever");
	else {
		format_time(after, from, sizeof(from));
		format_time(before, to, sizeof(to));
		if (after == 0)
			n = snprintf(out, outlen, "before %s", to);
		else if (before == TIME_FOREVER)
			n = snprintf(out, outlen, "after %s", from);
		else
			n = snprintf(out, outlen, "from %s to %s", from, to);
	}
	if (n < 0 || (size_t)n >= outlen)
		return JIT_ERR_NO_BUFFER_SPACE;
	return 0;
}

/* Reads standard input whole, bounded. */
static int read_stdin(char **ret, size_t *ret_len)
{
	char *data = NULL;
	size_t len = 0, n;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_len = 0;
	if ((data = malloc(STDIN_CERT_MAX + 1)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	while ((n = fread(data + len, 1, STDIN_CERT_MAX + 1 - len, stdin)) > 0) {
		len += n;
		if (len > STDIN_CERT_MAX) {
			r = JIT_ERR_FILE_TOO_LARGE;
			goto out;
		}
	}
	if (ferror(stdin)) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	data[len] = '\0';
	*ret = data;
	*ret_len = len;
	data = NULL;
	r = 0;
out:
	free(data);
	return r;
}

int cli_cert_out_path(struct cli *cli, const char *out_arg, const char *key_path, char **ret)
{
	size_t len = strlen(key_path);
	int n;

	*ret = NULL;
	if (out_arg != NULL && strcmp(out_arg, "-") == 0)
		return 0;
	if (out_arg != NULL)
		n = (*ret = strdup(out_arg)) == NULL ? -1 : 0;
	else if (len > 4 && strcmp(key_path + len - 4, ".pub") == 0)
		n = asprintf(ret, "%.*s-cert.pub", (int)(len - 4), key_path);
	else
		n = asprintf(ret, "%s-cert.pub", key_path);
	if (n < 0) {
		*ret = NULL;
		return cli_fail(cli, key_path, JIT_ERR_ALLOC);
	}
	return 0;
}

int cli_write_cert(struct cli *cli, const struct cert *c, const char *comment, const char *key_path,
                   const char *out_path)
{
	char *line = NULL, *text = NULL;
	int n, r;

	if ((r = cert_to_line(c, comment, &line)) != 0)
		return cli_fail(cli, key_path, r);
	if ((n = asprintf(&text, "%s\n", line)) < 0) {
		free(line);
		return cli_fail(cli, key_path, JIT_ERR_ALLOC);
	}
	if (out_path == NULL) {
		if (fwrite(text, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0)
			r = cli_fail(cli, "standard output", JIT_ERR_SYSTEM);
	} else if ((r = file_write_atomic(out_path, text, (size_t)n, 0644)) != 0) {
		r = cli_fail(cli, out_path, r);
	}
	free(text);
	free(line);
	return r;
}

int cli_load_cert(const char *path, struct cert **ret, unsigned long *ret_line)
{
	struct cert *c = NULL;
	char *data = NULL, *line, *end, *next;
	size_t len = 0;
	unsigned long lnum = 0;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_line = 0;
	if (strcmp(path, "-") != 0) {
		if ((r = cert_load(path, &c)) != 0)
			goto out;
	} else {
		if ((r = read_stdin(&data, &len)) != 0)
			goto out;
		r = JIT_ERR_NOT_FOUND;
		for (line = data; line < data + len; line = next) {
			if ((end = memchr(line, '\n', (size_t)(data + len - line))) == NULL)
				end = data + len;
			next = end < data + len ? end + 1 : end;
			lnum++;
			if (end > line && end[-1] == '\r')
				end--;
			line += strspn(line, " \t");
			if (line >= end || *line == '#')
				continue;
			r = cert_parse_line(line, (size_t)(end - line), &c);
			break;
		}
		if (r != 0)
			goto out;
	}
	*ret = c;
	*ret_line = lnum;
	c = NULL;
	r = 0;
out:
	cert_free(c);
	free(data);
	return r;
}

static int run_command(const struct command *cmd, int argc, char **argv, int *ret_errno)
{
	struct cli cli = {.cmd = cmd->name, .sys_errno = 0};
	int r;

	*ret_errno = 0;
	/* Each command parses its own options from the start. */
	optind = 0;
	r = cmd->run(&cli, argc, argv);
	*ret_errno = cli.sys_errno;
	return r;
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	fputs("jit-ca: unknown command \"", stderr);
	cli_put_safe(stderr, name);
	fprintf(stderr, "\"\n%s", usage_text);
	return CMD_USAGE;
}

/* "jit-ca help [COMMAND]": the command's own --help. */
static int help_command(int argc, char **argv, int *ret_errno)
{
	const struct command *cmd;
	char *hargv[3];

	*ret_errno = 0;
	if (argc < 2)
		return cli_help(usage_text);
	if (argc > 2) {
		fprintf(stderr, "jit-ca help: too many arguments\n%s", usage_text);
		return CMD_USAGE;
	}
	if ((cmd = find_command(argv[1])) == NULL)
		return unknown_command(argv[1]);
	hargv[0] = argv[1];
	hargv[1] = (char *)"--help";
	hargv[2] = NULL;
	return run_command(cmd, 2, hargv, ret_errno);
}

static int run(int argc, char **argv, int *ret_errno)
{
	static const struct option longopts[] = {
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'v'},
	        {NULL, 0, NULL, 0},
	};
	const struct command *cmd;
	int c;

	*ret_errno = 0;
	opterr = 0;
	/* "+": stop at the command name; its options are the command's own. */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return cli_help(usage_text);
		case 'v':
			printf("jit-ca %s\n", PACKAGE_VERSION);
#if !JIT_SIGN_SELF_CHECK
			printf("measurement build: certificate signatures are not verified before "
			       "they are returned (-Dsign_self_check=false)\n");
#endif
			return 0;
		default: {
			struct cli top = {.cmd = NULL, .sys_errno = 0};

			return cli_bad_option(&top, usage_text, c, argv);
		}
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "jit-ca: no command given\n%s", usage_text);
		return CMD_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "help") == 0)
		return help_command(argc, argv, ret_errno);
	if ((cmd = find_command(argv[0])) == NULL)
		return unknown_command(argv[0]);
	return run_command(cmd, argc, argv, ret_errno);
}

int main(int argc, char **argv)
{
	int sys_errno = 0, r;

	r = run(argc, argv, &sys_errno);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int saved_errno = errno;

		fprintf(stderr, "jit-ca: standard output: %s\n", strerror(saved_errno));
		if (r == 0) {
			r = JIT_ERR_SYSTEM;
			sys_errno = saved_errno;
		}
	}
	return exit_status(r, sys_errno);
}
