/* SPDX-License-Identifier: BSD-2-Clause */
/* jit-ca init: generate a CA key pair. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "err.h"
#include "key.h"

static const char usage[] =
        "usage: jit-ca init -f FILE [-t ed25519|ecdsa|rsa] [-b BITS] [-C COMMENT]\n"
        "\n"
        "Generates a CA key: FILE (private, mode 0600) and FILE.pub. Existing\n"
        "files are never overwritten. Default type ed25519; -b: ecdsa 256, 384\n"
        "or 521 (default 256), rsa 2048..16384 (default 3072).\n";

/* A decimal number of bits, nothing else. */
static int parse_bits(const char *s, unsigned *ret)
{
	unsigned long v = 0;

	*ret = 0;
	if (*s == '\0' || strlen(s) > 5)
		return JIT_ERR_KEY_LENGTH;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return JIT_ERR_KEY_LENGTH;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0)
		return JIT_ERR_KEY_LENGTH;
	*ret = (unsigned)v;
	return 0;
}

/* The key type for -t and -b; bits 0 means the type's default. */
static int pick_type(const char *name, unsigned bits, enum key_type *ret)
{
	*ret = KEY_UNSPEC;
	if (strcmp(name, "ed25519") == 0) {
		if (bits != 0 && bits != 256)
			return JIT_ERR_KEY_LENGTH;
		*ret = KEY_ED25519;
	} else if (strcmp(name, "ecdsa") == 0) {
		if (bits == 0 || bits == 256)
			*ret = KEY_ECDSA_P256;
		else if (bits == 384)
			*ret = KEY_ECDSA_P384;
		else if (bits == 521)
			*ret = KEY_ECDSA_P521;
		else
			return JIT_ERR_KEY_LENGTH;
	} else if (strcmp(name, "rsa") == 0) {
		if (bits != 0 && (bits < KEY_RSA_MIN_BITS || bits > KEY_RSA_MAX_BITS))
			return bits < KEY_RSA_MIN_BITS ? JIT_ERR_RSA_TOO_SMALL : JIT_ERR_KEY_LENGTH;
		*ret = KEY_RSA;
	} else
		return JIT_ERR_KEY_TYPE_UNKNOWN;
	return 0;
}

/* Fails early, before a slow key generation, when a file is in the way. */
static int refuse_existing(struct cli *cli, const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		errno = EEXIST;
		return cli_fail(cli, path, JIT_ERR_SYSTEM);
	}
	if (errno != ENOENT)
		return cli_fail(cli, path, JIT_ERR_SYSTEM);
	return 0;
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *path = NULL, *type_name = NULL, *bits_text = NULL, *comment = NULL;
	char *pub_path = NULL, *fp = NULL;
	struct key *k = NULL;
	enum key_type t;
	unsigned bits = 0;
	int c, r = JIT_ERR_INTERNAL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:t:b:C:h", longopts, NULL)) != -1) {
		const char **slot;

		switch (c) {
		case 'f':
			slot = &path;
			break;
		case 't':
			slot = &type_name;
			break;
		case 'b':
			slot = &bits_text;
			break;
		case 'C':
			slot = &comment;
			break;
		case 'h':
			return cli_help(usage);
		default:
			return cli_bad_option(cli, usage, c, argv);
		}
		if (*slot != NULL)
			return cli_usage_error(cli, usage, "option -%c given twice", c);
		*slot = optarg;
	}
	if (optind < argc)
		return cli_usage_error(cli, usage, "unexpected argument \"%s\"", argv[optind]);
	if (path == NULL)
		return cli_usage_error(cli, usage, "-f FILE is required");
	if (*path == '\0')
		return cli_usage_error(cli, usage, "-f needs a file name");

	if (bits_text != NULL && (r = parse_bits(bits_text, &bits)) != 0)
		return cli_fail_value(cli, "-b", bits_text, r);
	if (type_name == NULL)
		type_name = "ed25519";
	if ((r = pick_type(type_name, bits, &t)) != 0) {
		if (r == JIT_ERR_KEY_TYPE_UNKNOWN)
			return cli_fail_value(cli, "-t", type_name, r);
		return cli_fail_value(cli, "-b", bits_text != NULL ? bits_text : "", r);
	}
	if (asprintf(&pub_path, "%s.pub", path) < 0) {
		pub_path = NULL;
		r = cli_fail(cli, path, JIT_ERR_ALLOC);
		goto out;
	}
	if ((r = refuse_existing(cli, path)) != 0 || (r = refuse_existing(cli, pub_path)) != 0)
		goto out;

	if ((r = key_generate(t, bits, &k)) != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	if ((r = key_write_pair(k, path, comment)) != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	if ((r = key_fingerprint(k, &fp)) != 0) {
		r = cli_fail(cli, pub_path, r);
		goto out;
	}
	/* The line "ssh-keygen -l -f FILE.pub" prints. */
	printf("%u %s ", key_bits(k), fp);
	cli_put_safe(stdout, comment != NULL && *comment != '\0' ? comment : "no comment");
	printf(" (%s)\n", cli_key_label(k->type, 0));
	r = 0;
out:
	free(fp);
	free(pub_path);
	key_free(k);
	return r;
}
