/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What pam_jit.c (auth, account) and session.c (session) share inside the
 * module. Nothing here is exported: the version script keeps only pam_sm_*.
 */
#ifndef PAM_JIT_MODULE_H
#define PAM_JIT_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <security/pam_modules.h>

#include "proto.h"

#define PAM_JIT_EXPORT __attribute__((visibility("default")))

#ifndef JIT_AGENT_PATH
#define JIT_AGENT_PATH "/usr/local/libexec/jit/jit-agent"
#endif

/*
 * Longest break-glass reason: what the CA protocol carries, so that a
 * reason accepted at auth is never refused by the agent at the session.
 */
#define REASON_MAX PROTO_REASON_MAX

#define ENV_CONTEXT "JIT_CONTEXT"
#define ENV_TICKET  "JIT_TICKET"
#define ENV_REASON  "JIT_REASON"

enum stage {
	STAGE_AUTH,
	STAGE_ACCOUNT,
	STAGE_SESSION,
};

/* What a stage ended with; pam_code() alone turns it into a PAM code. */
enum result {
	RES_ALLOW,
	RES_DENY,   /* a decision: a rule said no (session: no agent) */
	RES_CONFIG, /* the configuration cannot be used */
	RES_CONV,   /* the conversation failed */
	RES_ALLOC,  /* out of memory */
	RES_USER,   /* no such user */
	RES_SYSTEM, /* anything else that stops a decision */
};

struct args {
	const char *config;
	const char *agent;
	bool debug;
};

const char *stage_name(enum stage s);
int pam_code(enum stage s, enum result res);
void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a);
/* A log value: as is when plain, else quoted and escaped. */
const char *log_value(const char *v, char *out, size_t outlen);
/* The user's uid and primary gid (JIT_ERR_NOT_FOUND for an unknown user). */
int user_ids(const char *user, uid_t *ret_uid, gid_t *ret_gid);

#endif
