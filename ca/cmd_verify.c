/* SPDX-License-Identifier: BSD-2-Clause */
/* jit-ca verify: decide about a certificate as sshd would. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "cert.h"
#include "cmd.h"
#include "err.h"
#include "key.h"
#include "timefmt.h"

static const char usage[] =
        "usage: jit-ca verify -c CA.pub [-n PRINCIPAL] [--at TIME] [--from ADDR] CERT\n"
        "\n"
        "Exits 0 only when CERT is a user certificate signed by the key in CA.pub,\n"
        "valid at TIME (default now: RFC 3339, YYYYMMDD[HHMM[SS]][Z], +/-DURATION,\n"
        "\"now\"), naming PRINCIPAL (if given), with a source-address admitting\n"
        "ADDR (if given). \"-\" reads CERT from standard input.\n";

#define OPT_AT   0x100
#define OPT_FROM 0x101

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"at", required_argument, NULL, OPT_AT},
	        {"from", required_argument, NULL, OPT_FROM},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *ca_path = NULL, *principal = NULL, *at_text = NULL, *from = NULL, *path;
	struct cert_check check;
	struct key *ca = NULL;
	struct cert *c = NULL;
	unsigned long line = 0;
	time_t now;
	uint64_t at;
	int opt, r = JIT_ERR_INTERNAL;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:n:h", longopts, NULL)) != -1) {
		const char **slot;
		const char *name;

		switch (opt) {
		case 'c':
			slot = &ca_path;
			name = "-c";
			break;
		case 'n':
			slot = &principal;
			name = "-n";
			break;
		case OPT_AT:
			slot = &at_text;
			name = "--at";
			break;
		case OPT_FROM:
			slot = &from;
			name = "--from";
			break;
		case 'h':
			return cli_help(usage);
		default:
			return cli_bad_option(cli, usage, opt, argv);
		}
		if (*slot != NULL)
			return cli_usage_error(cli, usage, "option %s given twice", name);
		*slot = optarg;
	}
	if (ca_path == NULL)
		return cli_usage_error(cli, usage, "-c CA.pub is required");
	if (optind >= argc)
		return cli_usage_error(cli, usage, "CERT is required");
	if (argc - optind > 1)
		return cli_usage_error(cli, usage, "one CERT at a time");
	path = argv[optind];

	if ((now = time(NULL)) == (time_t)-1)
		return cli_fail(cli, "clock", JIT_ERR_SYSTEM);
	at = (uint64_t)now;
	if (at_text != NULL && (r = time_parse_point(at_text, (uint64_t)now, &at)) != 0)
		return cli_fail_value(cli, "time", at_text, r);
	/* A malformed address is the caller's mistake, not the certificate's. */
	if (from != NULL && (r = addr_list_match("0.0.0.0/0,::/0", from)) != 1)
		return cli_fail_value(cli, "address", from, r < 0 ? r : JIT_ERR_INVALID_FORMAT);

	if ((r = key_load_public(ca_path, &ca)) != 0) {
		r = cli_fail(cli, ca_path, r);
		goto out;
	}
	if ((r = cli_load_cert(path, &c, &line)) != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	memset(&check, 0, sizeof(check));
	check.ca = ca;
	check.principal = principal;
	check.at = at;
	check.from = from;
	if ((r = cert_verify(c, &check)) != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	cli_put_safe(stdout, path);
	fputs(": ok\n", stdout);
	r = 0;
out:
	cert_free(c);
	key_free(ca);
	return r;
}
