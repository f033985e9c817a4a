/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The module exports the PAM entry points it implements and nothing else:
 * the common library linked into it stays hidden.
 */
#include <dlfcn.h>
#include <stdio.h>

static const char *const exported[] = {
        "pam_sm_authenticate", "pam_sm_setcred",       "pam_sm_acct_mgmt",
        "pam_sm_open_session", "pam_sm_close_session",
};

/* Not implemented (password changes), and internal symbols. */
static const char *const hidden[] = {
        "pam_sm_chauthtok", "policy_decide_ticket", "policy_decide_breakglass",
        "policy_log_line",  "config_load",          "config_free",
        "tickets_lookup",   "ticketcmd_lookup",     "quote",
        "jit_err",          "authenticate",         "account",
        "pam_code",         "parse_args",           "log_value",
        "stage_name",       "open_session",         "close_session",
};

int main(int argc, char **argv)
{
	void *h;
	size_t i;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s MODULE\n", argv[0]);
		return 2;
	}
	if ((h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	for (i = 0; i < sizeof(exported) / sizeof(exported[0]); i++) {
		if (dlsym(h, exported[i]) == NULL) {
			fprintf(stderr, "not exported: %s\n", exported[i]);
			bad = 1;
		}
	}
	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (dlsym(h, hidden[i]) != NULL) {
			fprintf(stderr, "exported but must not be: %s\n", hidden[i]);
			bad = 1;
		}
	}
	dlclose(h);
	return bad;
}
