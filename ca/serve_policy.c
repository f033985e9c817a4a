/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The CA's caps per requester, as both the network side (to decide) and
 * the signer (to refuse anything the network side should not have asked)
 * check them. The CA trusts no bastion blindly.
 */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "serve.h"

/* Seconds between the network side reading the clock and the signer reading it. */
#define POLICY_CLOCK_SLACK 10

int policy_pattern_match(const char *pattern, const char *name)
{
	const char *star = NULL, *retry = NULL;

	/* Iterative glob with backtracking to the last '*': linear, no recursion. */
	while (*name != '\0') {
		if (*pattern == '*') {
			star = ++pattern;
			retry = name;
		} else if (*pattern == '?' || *pattern == *name) {
			pattern++;
			name++;
		} else if (star != NULL) {
			pattern = star;
			name = ++retry;
		} else
			return 0;
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

int policy_principal_allowed(const struct config_requester *rq, const char *p)
{
	size_t i;

	for (i = 0; i < rq->n_principals; i++)
		if (policy_pattern_match(rq->principals[i], p))
			return 1;
	return 0;
}

const struct config_requester *policy_find_requester(const struct jit_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->ca.n_requesters; i++)
		if (strcmp(cfg->ca.requesters[i].name, name) == 0)
			return &cfg->ca.requesters[i];
	return NULL;
}

int policy_list_has(char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

int policy_extension_allowed(const struct jit_config *cfg, const struct config_requester *rq,
                             const char *name)
{
	if (strcmp(name, SERVE_EXT_TICKET) == 0 || strcmp(name, SERVE_EXT_BREAKGLASS) == 0 ||
	    strcmp(name, SERVE_EXT_SESSION) == 0)
		return 1;
	return policy_list_has(cfg->certificates.extensions, cfg->certificates.n_extensions,
	                       name) &&
	       policy_list_has(rq->extensions, rq->n_extensions, name);
}

int policy_check_cert_req(const struct jit_config *cfg, const struct config_requester *rq,
                          int breakglass, const struct cert_req *req, uint64_t now, char *why,
                          size_t whylen)
{
	const struct cert_opt *sa;
	/* Break-glass never gets more than an ordinary request either (the parent does the same).
	 */
	uint64_t cap = breakglass && rq->breakglass_max_validity < rq->max_validity
	                       ? rq->breakglass_max_validity
	                       : rq->max_validity;
	size_t i;
	int bg_ext, ticket_ext;

	if (whylen > 0)
		why[0] = '\0';
	if (req->serial == 0) {
		snprintf(why, whylen, "serial 0");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if (req->nprincipals == 0) {
		snprintf(why, whylen, "no principals");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	for (i = 0; i < req->nprincipals; i++) {
		if (!policy_principal_allowed(rq, req->principals[i])) {
			snprintf(why, whylen, "principal not allowed for requester");
			return JIT_ERR_INVALID_ARGUMENT;
		}
	}
	/*
	 * The interval must contain now, start at most SERVE_BACKDATE before
	 * the network side's clock reading (a few seconds ago, at most), span
	 * no more than the cap plus that backdate, and end within the cap.
	 */
	if (req->valid_after > now ||
	    now - req->valid_after > SERVE_BACKDATE + POLICY_CLOCK_SLACK ||
	    req->valid_before <= now || req->valid_before - now > cap ||
	    req->valid_before - req->valid_after > cap + SERVE_BACKDATE) {
		snprintf(why, whylen, "validity outside the requester's cap");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	for (i = 0; i < req->critical.n; i++) {
		if (strcmp(req->critical.v[i].name, "source-address") != 0 ||
		    !policy_list_has(rq->critical_options, rq->n_critical_options,
		                     "source-address")) {
			snprintf(why, whylen, "critical option not allowed");
			return JIT_ERR_INVALID_ARGUMENT;
		}
	}
	sa = cert_opts_find(&req->critical, "source-address");
	if (rq->source_address != NULL &&
	    (sa == NULL || sa->value == NULL || strcmp(sa->value, rq->source_address) != 0)) {
		snprintf(why, whylen, "required source-address missing");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	for (i = 0; i < req->extensions.n; i++) {
		if (!policy_extension_allowed(cfg, rq, req->extensions.v[i].name)) {
			snprintf(why, whylen, "extension not allowed");
			return JIT_ERR_INVALID_ARGUMENT;
		}
	}
	bg_ext = cert_opts_find(&req->extensions, SERVE_EXT_BREAKGLASS) != NULL;
	ticket_ext = cert_opts_find(&req->extensions, SERVE_EXT_TICKET) != NULL;
	/* A break-glass certificate must say so, and cannot pass for a ticket one. */
	if (breakglass ? (!bg_ext || ticket_ext) : bg_ext) {
		snprintf(why, whylen, "break-glass marking does not match");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if (req->key_id == NULL || req->key_id[0] == '\0') {
		snprintf(why, whylen, "empty key ID");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	for (i = 0; req->key_id[i] != '\0'; i++) {
		if ((unsigned char)req->key_id[i] < 0x20 || (unsigned char)req->key_id[i] >= 0x7f) {
			snprintf(why, whylen, "key ID not printable");
			return JIT_ERR_INVALID_ARGUMENT;
		}
	}
	return 0;
}
