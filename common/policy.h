/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The login decision of the PAM module: a ticket (or a break-glass reason)
 * against the user, their groups, the host, the time and the configured
 * windows. Pure: no logging, no global state, no TZ; the caller looks up
 * the ticket and the user's groups. Each outcome names the rule that
 * decided it, for the log, and a message for the engineer that holds
 * nothing about other users.
 *
 * Ticket rules, in order: the ticket exists ("ticket-unknown"), is
 * approved ("ticket-not-approved"), is assigned to the user or one of their
 * groups ("ticket-not-assigned"), names this host when it names hosts
 * ("ticket-host"), has opened ("ticket-not-yet-open": now >= not_before)
 * and not ended ("ticket-expired": now < not_after); when recurring windows
 * name the user or a group of theirs, now lies in one of those
 * ("outside-recurring-window": local time in the window's zone, weekday in
 * its days, start <= minute < end); now lies in no freeze window
 * ("freeze-window": start <= now < end). Then "approved".
 *
 * Break-glass: enabled ("breakglass-disabled"), the user is in its group
 * ("breakglass-not-in-group"), the reason is printable UTF-8 without control
 * characters ("breakglass-reason-invalid") and, trimmed of spaces, at least
 * min_reason bytes ("breakglass-reason-too-short"). Then
 * "breakglass-allowed". Windows do not apply to break-glass.
 */
#ifndef JIT_POLICY_H
#define JIT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define POLICY_MSG_MAX  256  /* bytes in a decision message */
#define POLICY_LINE_MAX 4096 /* bytes that always hold policy_log_line()'s line */

struct policy_request {
	const char *user;
	char *const *groups; /* the user's groups, resolved by the caller */
	size_t n_groups;
	const char *host;      /* this host, for tickets that name hosts */
	const char *ticket_id; /* as the engineer typed it; NULL for break-glass */
	uint64_t now;          /* seconds since the epoch */
};

struct policy_decision {
	int allow;
	int breakglass;               /* a break-glass decision, allowed or not */
	const char *rule;             /* static: "approved", "ticket-expired", ... */
	char message[POLICY_MSG_MAX]; /* for the engineer */
	/* Borrowed from the ticket or the config: valid while those live. */
	char *const *principals;
	size_t n_principals;
	/*
	 * The latest end of the access: ticket path: min(ticket not_after, end
	 * of the current recurring window occurrence, start of the next freeze
	 * window); break-glass: now + breakglass.validity. 0 on denial.
	 */
	uint64_t not_after;
	uint64_t validity; /* certificates.validity or breakglass.validity; 0 on denial */
};

/*
 * Decides a ticket login; t is NULL for an unknown ticket. A denial is a
 * decision (returns 0, allow 0). Returns JIT_ERR_INVALID_ARGUMENT for a
 * missing user or a config without CONFIG_WINDOWS and CONFIG_CERTIFICATES,
 * and tz_load()'s errors for a window's zone that cannot be read: the
 * caller denies. *ret is cleared first and filled on success.
 */
int policy_decide_ticket(const struct jit_config *cfg, const struct policy_request *req,
                         const struct ticket *t, struct policy_decision *ret);
/* Decides a break-glass login; the config must hold CONFIG_BREAKGLASS. */
int policy_decide_breakglass(const struct jit_config *cfg, const struct policy_request *req,
                             const char *reason, struct policy_decision *ret);
/*
 * One key=value line for the log: decision, rule, user, ticket or
 * breakglass, host, not_after, validity, principals, reason (break-glass)
 * and msg. Values other than [A-Za-z0-9._,:@/+-] are quoted, with '"' and
 * '\' escaped and other bytes outside printable ASCII as \xHH. Returns
 * JIT_ERR_NO_BUFFER_SPACE (out "") when outlen is too small;
 * POLICY_LINE_MAX bytes hold any line, with long values cut ("...").
 */
int policy_log_line(const struct policy_request *req, const char *reason,
                    const struct policy_decision *d, char *out, size_t outlen);

#endif
