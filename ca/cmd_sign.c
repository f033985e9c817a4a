/* SPDX-License-Identifier: BSD-2-Clause */
/* jit-ca sign: sign a user public key, as "ssh-keygen -s" does. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cert.h"
#include "cmd.h"
#include "err.h"
#include "file.h"
#include "key.h"
#include "timefmt.h"

static const char usage[] =
        "usage: jit-ca sign -s CA_KEY -I KEY_ID -n PRINCIPALS -V VALIDITY [-z SERIAL]\n"
        "                   [-O OPTION]... [-o OUT] [--passphrase-file FILE] KEY.pub\n"
        "\n"
        "Signs KEY.pub and writes KEY-cert.pub (or OUT; \"-o -\" for standard output).\n"
        "  -s CA_KEY               CA private key (OpenSSH or PEM, maybe encrypted)\n"
        "  -I KEY_ID               key identity recorded in the certificate\n"
        "  -n PRINCIPALS           comma-separated user names\n"
        "  -V VALIDITY             as ssh-keygen: +5m, -1m:+5m, 20261123:20261124,\n"
        "                          always:forever, RFC 3339 times\n"
        "  -z SERIAL               serial number (default 0)\n"
        "  -O OPTION               as ssh-keygen: clear, force-command=CMD,\n"
        "                          source-address=CIDR,..., no-pty, permit-pty, ...,\n"
        "                          critical:NAME[=VALUE] (force-command, source-address,\n"
        "                          verify-required), extension:NAME[=VALUE] (standard\n"
        "                          names or NAME@DOMAIN)\n"
        "  --passphrase-file FILE  passphrase of CA_KEY (first line; mode 0600)\n";

/* Long-only options get values outside the byte range. */
#define OPT_PASSPHRASE_FILE 0x100

/* A file holding the passphrase (not more than this, newline included). */
#define PASSPHRASE_FILE_MAX 4096

/* Unsigned decimal that fits 64 bits; nothing else. */
static int parse_serial(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned d;

	*ret = 0;
	if (*s == '\0')
		return JIT_ERR_INVALID_FORMAT;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return JIT_ERR_INVALID_FORMAT;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return JIT_ERR_INVALID_FORMAT;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* The first line of a private file (no newline), into buf. */
static int read_passphrase_file(const char *path, char *buf, size_t size)
{
	uint8_t *data = NULL;
	size_t len = 0, n;
	const uint8_t *nl;
	int r = JIT_ERR_INTERNAL;

	buf[0] = '\0';
	if ((r = file_read(path, PASSPHRASE_FILE_MAX, FILE_SECRET, &data, &len)) != 0)
		goto out;
	n = (nl = memchr(data, '\n', len)) != NULL ? (size_t)(nl - data) : len;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if (memchr(data, '\0', n) != NULL) {
		r = JIT_ERR_EMBEDDED_NUL;
		goto out;
	}
	if (n >= size) {
		r = JIT_ERR_STRING_TOO_LARGE;
		goto out;
	}
	memcpy(buf, data, n);
	buf[n] = '\0';
	r = 0;
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	return r;
}

static int is_cc(const struct termios *t, int which, unsigned char ch)
{
	return t->c_cc[which] != _POSIX_VDISABLE && t->c_cc[which] == ch;
}

/*
 * Prompts on the controlling terminal with echo off. Signals from the
 * keyboard are read as characters (interrupt and end-of-file abort) so
 * that the terminal is always restored, with no signal handler.
 */
static int read_passphrase_tty(const char *prompt, char *buf, size_t size)
{
	struct termios saved, raw;
	size_t len = 0;
	unsigned char ch = 0;
	int fd, overflow = 0, done = 0, r = JIT_ERR_KEY_ENCRYPTED;
	ssize_t n;

	buf[0] = '\0';
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return JIT_ERR_KEY_ENCRYPTED;
	if (tcgetattr(fd, &saved) != 0) {
		close(fd);
		return JIT_ERR_KEY_ENCRYPTED;
	}
	raw = saved;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSAFLUSH, &raw) != 0) {
		close(fd);
		return JIT_ERR_KEY_ENCRYPTED;
	}
	if (write(fd, prompt, strlen(prompt)) < 0)
		goto restore;
	while (!done) {
		if ((n = read(fd, &ch, 1)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto restore;
		if (ch == '\n' || ch == '\r')
			done = 1;
		else if (is_cc(&saved, VINTR, ch) || is_cc(&saved, VQUIT, ch) ||
		         (is_cc(&saved, VEOF, ch) && len == 0))
			goto restore;
		else if (is_cc(&saved, VERASE, ch) || ch == 0x7f || ch == 0x08) {
			if (len > 0)
				buf[--len] = '\0';
		} else if (is_cc(&saved, VKILL, ch))
			len = 0;
		else if (len + 1 < size)
			buf[len++] = (char)ch;
		else
			overflow = 1;
	}
	buf[len] = '\0';
	r = overflow ? JIT_ERR_STRING_TOO_LARGE : 0;
restore:
	(void)tcsetattr(fd, TCSAFLUSH, &saved);
	/* The newline the user typed was not echoed; nothing to do if this fails. */
	if (write(fd, "\n", 1) < 0)
		errno = 0;
	close(fd);
	OPENSSL_cleanse(&ch, sizeof(ch));
	if (r != 0)
		OPENSSL_cleanse(buf, size);
	return r;
}

/*
 * The CA key: with the passphrase file's first line, or unencrypted, or
 * with a passphrase typed on the terminal.
 */
static int load_ca_key(struct cli *cli, const char *path, const char *pass_file, struct key **ret)
{
	char pass[CMD_PASSPHRASE_MAX + 1];
	struct key *k = NULL;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	pass[0] = '\0';
	if (pass_file != NULL) {
		if ((r = read_passphrase_file(pass_file, pass, sizeof(pass))) != 0) {
			r = cli_fail(cli, pass_file, r);
			goto out;
		}
		r = key_load_private(path, pass, &k);
	} else {
		r = key_load_private(path, NULL, &k);
		if (r == JIT_ERR_KEY_ENCRYPTED &&
		    read_passphrase_tty("Enter passphrase for the CA key: ", pass, sizeof(pass)) ==
		            0)
			r = key_load_private(path, pass, &k);
	}
	if (r != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	*ret = k;
	k = NULL;
	r = 0;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	key_free(k);
	return r;
}

/* What ssh-keygen says after signing, on stderr. */
static void report_signed(const struct cert *c, const char *out)
{
	char valid[2 * TIME_TEXT_MAX + 16];
	size_t i;

	if (cli_format_validity(c->valid_after, c->valid_before, valid, sizeof(valid)) != 0)
		valid[0] = '\0';
	fputs("Signed user key ", stderr);
	cli_put_safe(stderr, out);
	fputs(": id \"", stderr);
	cli_put_safe(stderr, c->key_id);
	fprintf(stderr, "\" serial %llu", (unsigned long long)c->serial);
	for (i = 0; i < c->nprincipals; i++) {
		fputs(i == 0 ? " for " : ",", stderr);
		cli_put_safe(stderr, c->principals[i]);
	}
	fprintf(stderr, " valid %s\n", valid);
}

int cmd_sign(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *ca_path = NULL, *key_id = NULL, *principals = NULL, *validity = NULL;
	const char *serial_text = NULL, *out_arg = NULL, *pass_file = NULL, *key_path;
	const char **options = NULL;
	size_t noptions = 0, i;
	struct cert_req req;
	struct key *subject = NULL, *ca = NULL;
	struct cert *cert = NULL;
	char *out_path = NULL;
	time_t now;
	int c, r = JIT_ERR_INTERNAL;

	cert_req_init(&req);
	/* argc bounds the number of -O options. */
	if ((options = calloc((size_t)argc + 1, sizeof(*options))) == NULL) {
		r = cli_fail(cli, "sign", JIT_ERR_ALLOC);
		goto out;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:I:n:V:z:O:o:h", longopts, NULL)) != -1) {
		const char **slot;

		switch (c) {
		case 's':
			slot = &ca_path;
			break;
		case 'I':
			slot = &key_id;
			break;
		case 'n':
			slot = &principals;
			break;
		case 'V':
			slot = &validity;
			break;
		case 'z':
			slot = &serial_text;
			break;
		case 'o':
			slot = &out_arg;
			break;
		case OPT_PASSPHRASE_FILE:
			slot = &pass_file;
			break;
		case 'O':
			options[noptions++] = optarg;
			continue;
		case 'h':
			r = cli_help(usage);
			goto out;
		default:
			r = cli_bad_option(cli, usage, c, argv);
			goto out;
		}
		if (*slot != NULL) {
			if (c == OPT_PASSPHRASE_FILE)
				r = cli_usage_error(cli, usage,
				                    "option --passphrase-file given twice");
			else
				r = cli_usage_error(cli, usage, "option -%c given twice", c);
			goto out;
		}
		*slot = optarg;
	}
	r = CMD_USAGE;
	if (ca_path == NULL)
		r = cli_usage_error(cli, usage, "-s CA_KEY is required");
	else if (key_id == NULL)
		r = cli_usage_error(cli, usage, "-I KEY_ID is required");
	else if (principals == NULL)
		r = cli_usage_error(cli, usage, "-n PRINCIPALS is required");
	else if (validity == NULL)
		r = cli_usage_error(cli, usage, "-V VALIDITY is required");
	else if (optind >= argc)
		r = cli_usage_error(cli, usage, "KEY.pub is required");
	else if (argc - optind > 1)
		r = cli_usage_error(cli, usage, "one KEY.pub at a time");
	else if (*ca_path == '\0' || (out_arg != NULL && *out_arg == '\0') ||
	         (pass_file != NULL && *pass_file == '\0'))
		r = cli_usage_error(cli, usage, "empty file name");
	else
		r = 0;
	if (r != 0)
		goto out;
	key_path = argv[optind];

	/* Everything the user typed is checked before a passphrase is asked for. */
	if ((now = time(NULL)) == (time_t)-1) {
		r = cli_fail(cli, "clock", JIT_ERR_SYSTEM);
		goto out;
	}
	if ((r = time_parse_validity(validity, (uint64_t)now, &req.valid_after,
	                             &req.valid_before)) != 0) {
		r = cli_fail_value(cli, "validity", validity, r);
		goto out;
	}
	if (serial_text != NULL && (r = parse_serial(serial_text, &req.serial)) != 0) {
		r = cli_fail_value(cli, "serial", serial_text, r);
		goto out;
	}
	if ((r = cert_req_set_key_id(&req, key_id)) != 0) {
		r = cli_fail_value(cli, "key ID", key_id, r);
		goto out;
	}
	if ((r = cert_req_add_principals(&req, principals)) != 0) {
		r = cli_fail_value(cli, "principals", principals, r);
		goto out;
	}
	if ((r = cert_req_default_extensions(&req)) != 0) {
		r = cli_fail(cli, "default extensions", r);
		goto out;
	}
	for (i = 0; i < noptions; i++) {
		if ((r = cert_req_apply_keygen_option(&req, options[i])) != 0) {
			r = cli_fail_value(cli, "option", options[i], r);
			goto out;
		}
	}
	if ((r = cli_cert_out_path(cli, out_arg, key_path, &out_path)) != 0)
		goto out;

	if ((r = key_load_public(key_path, &subject)) != 0) {
		r = cli_fail(cli, key_path, r);
		goto out;
	}
	if ((r = load_ca_key(cli, ca_path, pass_file, &ca)) != 0)
		goto out;
	if ((r = cert_build(&req, subject, ca, &cert)) != 0) {
		r = cli_fail(cli, ca_path, r);
		goto out;
	}
	if ((r = cli_write_cert(cli, cert, subject->comment, key_path, out_path)) != 0)
		goto out;
	report_signed(cert, out_path != NULL ? out_path : "(stdout)");
	r = 0;
out:
	free(out_path);
	cert_free(cert);
	key_free(ca);
	key_free(subject);
	cert_req_clear(&req);
	free(options);
	return r;
}
