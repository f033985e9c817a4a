/* SPDX-License-Identifier: BSD-2-Clause */
/* jit-ca serve: run the signing service in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "err.h"
#include "serve.h"

static const char usage[] =
        "usage: jit-ca serve [-c CONFIG] [--allow-root]\n"
        "\n"
        "Runs the signing service in the foreground (logs to stderr and syslog)\n"
        "until SIGTERM or SIGINT. Reads the ca and certificates groups of CONFIG\n"
        "(default " CONFIG_PATH_DEFAULT ").\n"
        "  -c CONFIG     configuration file\n"
        "  --allow-root  run as root (refused by default: run as the CA account)\n";

#define OPT_ALLOW_ROOT 0x100

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"allow-root", no_argument, NULL, OPT_ALLOW_ROOT},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct serve_opts opts = {.config_path = CONFIG_PATH_DEFAULT, .allow_root = 0};
	struct jit_config *cfg = NULL;
	char msg[CONFIG_MSG_MAX];
	int c, have_config = 0, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (have_config)
				return cli_usage_error(cli, usage, "option -c given twice");
			opts.config_path = optarg;
			have_config = 1;
			break;
		case OPT_ALLOW_ROOT:
			opts.allow_root = 1;
			break;
		case 'h':
			return cli_help(usage);
		default:
			return cli_bad_option(cli, usage, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, usage, "unexpected argument \"%s\"", argv[optind]);
	if ((geteuid() == 0 || getuid() == 0) && !opts.allow_root) {
		fputs("jit-ca serve: refusing to run as root: run as the CA account "
		      "(or pass --allow-root)\n",
		      stderr);
		return JIT_ERR_FILE_PERMISSIONS;
	}
	r = config_load(opts.config_path, CONFIG_CA_SERVICE | CONFIG_CERTIFICATES, &cfg, msg,
	                sizeof(msg));
	if (r != 0) {
		if (r == JIT_ERR_SYSTEM)
			cli->sys_errno = errno;
		fputs("jit-ca serve: ", stderr);
		cli_put_safe(stderr, msg[0] != '\0' ? msg : jit_err(r));
		fputc('\n', stderr);
		goto out;
	}
	r = serve_run(&opts, cfg, opts.config_path);
	if (r == JIT_ERR_SYSTEM)
		cli->sys_errno = opts.sys_errno;
out:
	config_free(cfg);
	return r;
}
