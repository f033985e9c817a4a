/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca serve: the signing service's parts. serve.c runs the network side
 * (listeners, socket activation, callers, policy, audit); signer.c the
 * privilege-separated processes that alone hold the CA key; serial.c the
 * crash-safe serial reservation; serve_policy.c the caps both sides check.
 */
#ifndef JIT_CA_SERVE_H
#define JIT_CA_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cert.h"
#include "config.h"
#include "key.h"

/* Certificates start valid this long before now, for clock skew. */
#define SERVE_BACKDATE 60

/* Extensions the service itself adds to every certificate. */
#define SERVE_EXT_TICKET     "ticket@pam-jit"
#define SERVE_EXT_BREAKGLASS "breakglass@pam-jit"
#define SERVE_EXT_SESSION    "session@pam-jit"

/* Options of serve_run. */
struct serve_opts {
	const char *config_path;
	int allow_root;
	int sys_errno; /* out: errno behind a JIT_ERR_SYSTEM result */
};

/* Runs the service until SIGTERM/SIGINT; 0 on a clean stop. */
int serve_run(struct serve_opts *opts, const struct jit_config *cfg, const char *cfg_path);

/* --- policy (serve_policy.c) --- */

/* 1 when name matches pattern ("*" any run, "?" one byte; nothing else is special). */
int policy_pattern_match(const char *pattern, const char *name);
/* 1 when the requester's principal patterns admit p. */
int policy_principal_allowed(const struct config_requester *rq, const char *p);
/* The requester named name, or NULL. */
const struct config_requester *policy_find_requester(const struct jit_config *cfg,
                                                     const char *name);
/* 1 when list (n entries) holds s. */
int policy_list_has(char *const *list, size_t n, const char *s);
/* 1 when extension name may appear in a certificate for rq (config or our own). */
int policy_extension_allowed(const struct jit_config *cfg, const struct config_requester *rq,
                             const char *name);

/*
 * The signer's own re-check of a complete certificate request: every
 * principal admitted; the interval around now, starting at most
 * SERVE_BACKDATE (and a few seconds of clock slack) before it, ending at
 * most the requester's cap (break-glass or not) after it, and spanning at
 * most cap + SERVE_BACKDATE; the required source-address present and
 * equal; only allowed options; break-glass marking as flagged. 0, or
 * JIT_ERR_INVALID_ARGUMENT with why filled.
 */
int policy_check_cert_req(const struct jit_config *cfg, const struct config_requester *rq,
                          int breakglass, const struct cert_req *req, uint64_t now, char *why,
                          size_t whylen);

/* --- signer (signer.c) --- */

struct signer;

/* Signer processes at most (one per CPU the service may run on, up to this). */
#define SIGNERS_MAX 4
/* Requests one signer may have waiting, sent and not yet answered. */
#define SIGNER_INFLIGHT 32
/* A signature takes well under a millisecond; a signer silent this long (s) is broken. */
#define SIGNER_TIMEOUT 10

/*
 * Forks signer index (0..count-1) of count, which keeps ca (the private
 * key) and cfg and signs only serials equal to index modulo count; the
 * parent gets a handle and should free its own copy of the private key
 * once every signer is started. The child never returns from this call.
 */
int signer_start(const struct jit_config *cfg, const struct key *ca, unsigned index, unsigned count,
                 struct signer **ret);
/*
 * Sends the signer one certificate request; its answer comes back through
 * signer_receive, answers in the order of the requests. JIT_ERR_SYSTEM:
 * the signer is gone (fatal).
 */
int signer_send(struct signer *s, const char *requester, int breakglass, const struct cert_req *req,
                const struct key *subject);
/*
 * Takes the next answer if one is there, never waiting: 0 with *ret_got 1
 * and the certificate in ret_blob, or with ret_blob NULL and the signer's
 * refusal in why; 0 with *ret_got 0 when no answer is there yet.
 * JIT_ERR_SYSTEM or JIT_ERR_MESSAGE_INCOMPLETE mean the signer is gone or
 * broken (fatal).
 */
int signer_receive(struct signer *s, int *ret_got, uint8_t **ret_blob, size_t *ret_len, char *why,
                   size_t whylen);
/* The socket to watch for the signer's death (POLLHUP). */
int signer_fd(const struct signer *s);
pid_t signer_pid(const struct signer *s);
/* Closes the channel and reaps the child. */
void signer_stop(struct signer *s);

/* --- serials (serial.c) --- */

/* Serials handed out per reservation written to disk. */
#define SERIAL_BLOCK 1024

struct serial_state;

/*
 * Reads state_dir/serial (the next unreserved serial; absent: 1) and at
 * once reserves a block beyond it, durably.
 */
int serial_open(const char *state_dir, int must_exist, struct serial_state **ret);
/* The next serial; reserves a new block first when the current one is spent. */
int serial_next(struct serial_state *s, uint64_t *ret);
void serial_close(struct serial_state *s);

#endif
