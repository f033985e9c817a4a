/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pam_jit.so: the authentication and account stages (session.c holds the
 * session stage). Authentication asks for a change ticket (or the
 * break-glass keyword and a reason), decides with common/policy and passes
 * the outcome on through the PAM environment (sshd runs
 * keyboard-interactive authentication in a child that loses pam_set_data).
 * The account stage trusts none of that environment: it looks the ticket
 * up and decides again.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "module.h"
#include "err.h"
#include "policy.h"
#include "quote.h"
#include "runprog.h"
#include "ticketcmd.h"
#include "timefmt.h"

/* Most supplementary groups read for a user. */
#define GROUPS_MAX 65536
/* Bytes of a getpwnam_r/getgrgid_r scratch buffer, grown up to the cap. */
#define NSS_BUF_MIN 1024
#define NSS_BUF_MAX (1024 * 1024)

#define MSG_CONFIG  "pam_jit: configuration error, access denied"
#define MSG_BACKEND "ticket system unavailable, access denied"
#define MSG_SYSTEM  "pam_jit: internal error, access denied"

struct login {
	pam_handle_t *pamh;
	enum stage stage;
	int flags;
	struct args args;
	const char *user;
	char host[HOST_NAME_MAX + 1];
	bool have_host;
	char **groups;
	size_t n_groups;
	struct jit_config *cfg;
};

const char *stage_name(enum stage s)
{
	switch (s) {
	case STAGE_AUTH:
		return "auth";
	case STAGE_ACCOUNT:
		return "account";
	case STAGE_SESSION:
		break;
	}
	return "session";
}

int pam_code(enum stage s, enum result res)
{
	switch (res) {
	case RES_ALLOW:
		return PAM_SUCCESS;
	case RES_DENY:
		if (s == STAGE_SESSION)
			return PAM_SESSION_ERR;
		return s == STAGE_AUTH ? PAM_AUTH_ERR : PAM_PERM_DENIED;
	case RES_CONFIG:
		return PAM_SERVICE_ERR;
	case RES_CONV:
		return PAM_CONV_ERR;
	case RES_ALLOC:
		return PAM_BUF_ERR;
	case RES_USER:
		return PAM_USER_UNKNOWN;
	case RES_SYSTEM:
		break;
	}
	return PAM_SYSTEM_ERR;
}

void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a)
{
	int i;

	a->config = CONFIG_PATH_DEFAULT;
	a->agent = JIT_AGENT_PATH;
	a->debug = false;
	/* config= first, so that the other arguments may refer to it. */
	for (i = 0; i < argc; i++)
		if (strncmp(argv[i], "config=", 7) == 0)
			a->config = argv[i] + 7;
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "config=", 7) == 0)
			continue;
		if (strcmp(argv[i], "debug") == 0)
			a->debug = true;
		else if (strncmp(argv[i], "agent=", 6) == 0)
			a->agent = argv[i] + 6;
		else
			pam_syslog(pamh, LOG_WARNING, "unknown argument ignored: %s", argv[i]);
	}
}

static void tell(struct login *l, int style, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void tell(struct login *l, int style, const char *fmt, ...)
{
	char text[PAM_MAX_MSG_SIZE];
	va_list ap;

	if ((l->flags & PAM_SILENT) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)pam_prompt(l->pamh, style, NULL, "%s", text);
}

/* As policy_log_line quotes. */
const char *log_value(const char *v, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || strchr("._,:@/+-", v[i]) != NULL))
			break;
	if (i > 0 && v[i] == '\0' && i < outlen) {
		memcpy(out, v, i + 1);
		return out;
	}
	return quote(v, out, outlen);
}

/* A denial decided here rather than by the policy, as one key=value line. */
static void log_local(struct login *l, int prio, const char *rule, const char *msg)
{
	char qu[CONFIG_NAME_MAX + 8], qm[CONFIG_MSG_MAX + 8];

	pam_syslog(l->pamh, prio, "stage=%s decision=deny rule=%s user=%s msg=%s",
	           stage_name(l->stage), rule,
	           log_value(l->user != NULL ? l->user : "", qu, sizeof(qu)),
	           log_value(msg, qm, sizeof(qm)));
}

static void log_decision(struct login *l, const struct policy_request *req, const char *reason,
                         const struct policy_decision *d)
{
	char line[POLICY_LINE_MAX];
	int prio;

	if (policy_log_line(req, reason, d, line, sizeof(line)) != 0)
		snprintf(line, sizeof(line), "decision=%s rule=%s", d->allow ? "allow" : "deny",
		         d->rule);
	if (!d->allow)
		prio = LOG_WARNING;
	else if (d->breakglass && l->stage == STAGE_AUTH)
		prio = LOG_ALERT;
	else
		prio = LOG_NOTICE;
	pam_syslog(l->pamh, prio, "stage=%s %s", stage_name(l->stage), line);
}

/* Frees a string that held what the engineer typed. */
static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void free_groups(char **g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(g[i]);
	free(g);
}

/* The user's uid and primary gid; the scratch buffer grows while NSS says ERANGE. */
int user_ids(const char *user, uid_t *ret_uid, gid_t *ret_gid)
{
	struct passwd pw, *res = NULL;
	size_t len = NSS_BUF_MIN;
	char *buf = NULL, *nbuf;
	int e, r = JIT_ERR_INTERNAL;

	*ret_uid = 0;
	*ret_gid = 0;
	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		buf = nbuf;
		e = getpwnam_r(user, &pw, buf, len, &res);
		if (e != ERANGE || len >= NSS_BUF_MAX)
			break;
		len *= 2;
	}
	if (res == NULL) {
		r = e == 0 ? JIT_ERR_NOT_FOUND : JIT_ERR_SYSTEM;
		goto out;
	}
	*ret_uid = pw.pw_uid;
	*ret_gid = pw.pw_gid;
	r = 0;
out:
	free(buf);
	return r;
}

static int group_name(gid_t gid, char **ret)
{
	struct group gr, *res = NULL;
	size_t len = NSS_BUF_MIN;
	char *buf = NULL, *nbuf;
	int e, r = JIT_ERR_INTERNAL;

	*ret = NULL;
	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		buf = nbuf;
		e = getgrgid_r(gid, &gr, buf, len, &res);
		if (e != ERANGE || len >= NSS_BUF_MAX)
			break;
		len *= 2;
	}
	if (res == NULL) {
		r = e == 0 ? JIT_ERR_NOT_FOUND : JIT_ERR_SYSTEM;
		goto out;
	}
	if ((*ret = strdup(gr.gr_name)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	r = 0;
out:
	free(buf);
	return r;
}

/* The names of the user's groups (primary and supplementary); gids without a name are skipped. */
static int user_groups(const char *user, gid_t gid, char ***ret, size_t *ret_n)
{
	gid_t *gids = NULL, *ngids;
	char **names = NULL;
	int ng = 64, i, r = JIT_ERR_INTERNAL;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	for (;;) {
		int want = ng;

		if ((ngids = realloc(gids, (size_t)ng * sizeof(*gids))) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		gids = ngids;
		if (getgrouplist(user, gid, gids, &ng) >= 0)
			break;
		if (ng <= want)
			ng = want * 2;
		if (ng > GROUPS_MAX) {
			r = JIT_ERR_NO_BUFFER_SPACE;
			goto out;
		}
	}
	if ((names = calloc((size_t)ng + 1, sizeof(*names))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < ng; i++) {
		r = group_name(gids[i], &names[n]);
		if (r == JIT_ERR_NOT_FOUND)
			continue;
		if (r != 0)
			goto out;
		n++;
	}
	*ret = names;
	*ret_n = n;
	names = NULL;
	n = 0;
	r = 0;
out:
	if (names != NULL)
		free_groups(names, n);
	free(gids);
	return r;
}

/* The user, host and groups; the configuration. Logs and tells what fails. */
static enum result login_start(struct login *l)
{
	char msg[CONFIG_MSG_MAX];
	const char *user = NULL;
	uid_t uid;
	gid_t gid;
	int r;

	if (pam_get_user(l->pamh, &user, NULL) != PAM_SUCCESS || user == NULL) {
		log_local(l, LOG_ERR, "user-unknown", "no user name");
		return RES_USER;
	}
	if (!config_is_name(user)) {
		log_local(l, LOG_WARNING, "user-unknown", "invalid user name");
		return RES_USER;
	}
	/* The CA protocol carries no longer name: refused here, not at the session. */
	if (strlen(user) > PROTO_USER_MAX) {
		log_local(l, LOG_WARNING, "user-unknown", "user name longer than 64 bytes");
		return RES_USER;
	}
	l->user = user;
	if ((r = user_ids(user, &uid, &gid)) != 0) {
		log_local(l, LOG_WARNING, "user-unknown", jit_err(r));
		return r == JIT_ERR_ALLOC ? RES_ALLOC : RES_USER;
	}
	if ((r = user_groups(user, gid, &l->groups, &l->n_groups)) != 0) {
		log_local(l, LOG_ERR, "system-error", jit_err(r));
		return r == JIT_ERR_ALLOC ? RES_ALLOC : RES_SYSTEM;
	}
	if (gethostname(l->host, sizeof(l->host)) == 0) {
		l->host[sizeof(l->host) - 1] = '\0';
		l->have_host = true;
	}
	r = config_load(l->args.config,
	                CONFIG_TICKETS | CONFIG_WINDOWS | CONFIG_BREAKGLASS | CONFIG_CERTIFICATES,
	                &l->cfg, msg, sizeof(msg));
	if (r != 0) {
		log_local(l, LOG_ERR, "config-error", msg[0] != '\0' ? msg : jit_err(r));
		tell(l, PAM_ERROR_MSG, "%s", MSG_CONFIG);
		return r == JIT_ERR_ALLOC ? RES_ALLOC : RES_CONFIG;
	}
	if (l->args.debug)
		pam_syslog(l->pamh, LOG_DEBUG, "stage=%s config=%s backend=%s groups=%zu",
		           stage_name(l->stage), l->args.config,
		           l->cfg->tickets.backend == CONFIG_TICKETS_COMMAND ? "command" : "file",
		           l->n_groups);
	return RES_ALLOW;
}

static void login_end(struct login *l)
{
	config_free(l->cfg);
	l->cfg = NULL;
	free_groups(l->groups, l->n_groups);
	l->groups = NULL;
	l->n_groups = 0;
}

static void request_init(struct login *l, const char *ticket_id, struct policy_request *req)
{
	memset(req, 0, sizeof(*req));
	req->user = l->user;
	req->groups = l->groups;
	req->n_groups = l->n_groups;
	req->host = l->have_host ? l->host : NULL;
	req->ticket_id = ticket_id;
	req->now = (uint64_t)time(NULL);
}

/*
 * Looks the ticket up and decides; *ret is the decision when RES_ALLOW or
 * RES_DENY come back, and borrows from *ret_t (the caller frees it with
 * ticket_free). Logs the outcome and tells the engineer of a refusal.
 */
static enum result decide_ticket(struct login *l, const char *id, struct policy_decision *ret,
                                 struct ticket **ret_t)
{
	const struct config_tickets *ct = &l->cfg->tickets;
	struct policy_request req;
	struct ticket *t = NULL;
	char msg[CONFIG_MSG_MAX];
	uint64_t ms;
	enum result res = RES_SYSTEM;
	int r;

	memset(ret, 0, sizeof(*ret));
	*ret_t = NULL;
	request_init(l, id, &req);
	msg[0] = '\0';
	if (ct->backend == CONFIG_TICKETS_COMMAND) {
		ms = ct->timeout > TICKETCMD_TIMEOUT_MAX / 1000 ? TICKETCMD_TIMEOUT_MAX
		                                                : ct->timeout * 1000;
		r = ticketcmd_lookup((const char *const *)ct->command, ms, id, l->user, &t, msg,
		                     sizeof(msg));
	} else {
		r = tickets_lookup(ct->file, id, &t, msg, sizeof(msg));
	}
	if (r == JIT_ERR_ALLOC) {
		res = RES_ALLOC;
		goto out;
	}
	if (r != 0 && r != JIT_ERR_NOT_FOUND) {
		log_local(l, LOG_ERR, "ticket-backend-error", msg[0] != '\0' ? msg : jit_err(r));
		tell(l, PAM_ERROR_MSG, "%s", MSG_BACKEND);
		res = RES_DENY;
		goto out;
	}
	*ret_t = t;
	t = NULL;
	if ((r = policy_decide_ticket(l->cfg, &req, *ret_t, ret)) != 0) {
		log_local(l, LOG_ERR, "policy-error", jit_err(r));
		tell(l, PAM_ERROR_MSG, "%s", MSG_SYSTEM);
		res = r == JIT_ERR_ALLOC ? RES_ALLOC : RES_SYSTEM;
		goto out;
	}
	log_decision(l, &req, NULL, ret);
	if (!ret->allow) {
		tell(l, PAM_ERROR_MSG, "Access denied: %s", ret->message);
		res = RES_DENY;
		goto out;
	}
	res = RES_ALLOW;
out:
	ticket_free(t);
	return res;
}

static enum result decide_breakglass(struct login *l, const char *reason,
                                     struct policy_decision *ret)
{
	struct policy_request req;
	int r;

	memset(ret, 0, sizeof(*ret));
	request_init(l, NULL, &req);
	if ((r = policy_decide_breakglass(l->cfg, &req, reason, ret)) != 0) {
		log_local(l, LOG_ERR, "policy-error", jit_err(r));
		tell(l, PAM_ERROR_MSG, "%s", MSG_SYSTEM);
		return r == JIT_ERR_ALLOC ? RES_ALLOC : RES_SYSTEM;
	}
	log_decision(l, &req, reason, ret);
	if (!ret->allow) {
		tell(l, PAM_ERROR_MSG, "Access denied: %s", ret->message);
		return RES_DENY;
	}
	return RES_ALLOW;
}

#define RHOST_MAX 1025 /* NI_MAXHOST */

/*
 * A PAM item for the notify hook's environment, or "" when unset, of max
 * bytes or more, or holding a control character: the application (or a
 * resolver) chose it, and the hook may put it in a message or a log.
 */
static const char *notify_item(pam_handle_t *pamh, int type, size_t max)
{
	const void *item = NULL;
	const char *s;
	size_t i;

	if (pam_get_item(pamh, type, &item) != PAM_SUCCESS || item == NULL)
		return "";
	s = item;
	for (i = 0; i < max && s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "";
	return i < max ? s : "";
}

/*
 * Runs breakglass.notify, if set, once a break-glass login is granted. It
 * learns the event from its environment (pam_jit(8)). Its failure is logged
 * loudly but does not deny: an emergency login must not depend on a pager.
 */
static void notify_breakglass(struct login *l, const char *reason)
{
	const struct config_breakglass *bg = &l->cfg->breakglass;
	struct runprog_result res;
	char e_user[16 + CONFIG_NAME_MAX], e_reason[16 + REASON_MAX], e_rhost[16 + RHOST_MAX];
	char e_service[16 + CONFIG_NAME_MAX], e_host[16 + HOST_NAME_MAX], e_time[40], when[32];
	char msg[CONFIG_MSG_MAX], qp[CONFIG_MSG_MAX + 8], qu[CONFIG_NAME_MAX + 8];
	const char *envp[10], *rhost, *service;
	int r;

	memset(&res, 0, sizeof(res));
	if (bg->notify == NULL)
		return;
	rhost = notify_item(l->pamh, PAM_RHOST, RHOST_MAX);
	service = notify_item(l->pamh, PAM_SERVICE, CONFIG_NAME_MAX);
	if (time_format_rfc3339((uint64_t)time(NULL), when, sizeof(when)) != 0)
		when[0] = '\0';
	snprintf(e_user, sizeof(e_user), "JIT_USER=%s", l->user);
	snprintf(e_reason, sizeof(e_reason), "JIT_REASON=%s", reason);
	snprintf(e_rhost, sizeof(e_rhost), "JIT_RHOST=%s", rhost);
	snprintf(e_service, sizeof(e_service), "JIT_SERVICE=%s", service);
	snprintf(e_host, sizeof(e_host), "JIT_HOST=%s", l->have_host ? l->host : "");
	snprintf(e_time, sizeof(e_time), "JIT_TIME=%s", when);
	envp[0] = "PATH=" RUNPROG_PATH;
	envp[1] = "LANG=C";
	envp[2] = "JIT_EVENT=breakglass";
	envp[3] = e_user;
	envp[4] = e_reason;
	envp[5] = e_rhost;
	envp[6] = e_service;
	envp[7] = e_host;
	envp[8] = e_time;
	envp[9] = NULL;
	r = runprog_run("breakglass.notify", (const char *const *)bg->notify, NULL, envp,
	                bg->notify_timeout * 1000, 0, &res, msg, sizeof(msg));
	if (r == 0 && res.exit_status != 0)
		snprintf(msg, sizeof(msg), "%s: exit status %d%s", bg->notify[0], res.exit_status,
		         res.note);
	if (r == 0 && res.exit_status == 0)
		pam_syslog(l->pamh, LOG_NOTICE,
		           "stage=auth event=notify result=ok user=%s program=%s",
		           log_value(l->user, qu, sizeof(qu)),
		           log_value(bg->notify[0], qp, sizeof(qp)));
	else
		pam_syslog(l->pamh, LOG_ALERT,
		           "stage=auth event=notify result=failed user=%s msg=%s",
		           log_value(l->user, qu, sizeof(qu)),
		           log_value(msg[0] != '\0' ? msg : jit_err(r), qp, sizeof(qp)));
	explicit_bzero(e_reason, sizeof(e_reason));
	runprog_result_clear(&res);
}

/* Asks with echo on; *ret (to be freed with wipe_free) is at most max bytes. */
static enum result ask(struct login *l, const char *prompt, size_t max, char **ret, bool *too_long)
{
	char *resp = NULL;
	int pr;

	*ret = NULL;
	*too_long = false;
	pr = pam_prompt(l->pamh, PAM_PROMPT_ECHO_ON, &resp, "%s", prompt);
	if (pr == PAM_BUF_ERR)
		return RES_ALLOC;
	if (pr != PAM_SUCCESS) {
		wipe_free(resp);
		return RES_CONV;
	}
	/* A missing reply counts as empty: the caller refuses it. */
	if (resp != NULL && strnlen(resp, max + 1) > max) {
		*too_long = true;
		wipe_free(resp);
		return RES_ALLOW;
	}
	*ret = resp;
	return RES_ALLOW;
}

static void principals_text(const struct policy_decision *d, char *out, size_t outlen)
{
	size_t i, o = 0, n;

	out[0] = '\0';
	for (i = 0; i < d->n_principals && d->principals[i] != NULL; i++) {
		n = strlen(d->principals[i]);
		if (o + n + 4 >= outlen) {
			memcpy(out + o, "...", 4);
			return;
		}
		if (i > 0)
			out[o++] = ',';
		memcpy(out + o, d->principals[i], n);
		o += n;
		out[o] = '\0';
	}
}

static void tell_granted(struct login *l, const char *id, const struct policy_decision *d)
{
	char princ[512], dur[32], until[32];

	principals_text(d, princ, sizeof(princ));
	if (time_format_duration(d->validity, dur, sizeof(dur)) != 0)
		snprintf(dur, sizeof(dur), "%" PRIu64 "s", d->validity);
	if (time_format_rfc3339(d->not_after, until, sizeof(until)) != 0)
		snprintf(until, sizeof(until), "@%" PRIu64, d->not_after);
	if (id != NULL)
		tell(l, PAM_TEXT_INFO,
		     "Access granted for ticket %s: principals %s, certificates of %s, until %s",
		     id, princ, dur, until);
	else
		tell(l, PAM_TEXT_INFO,
		     "Break-glass access granted: principals %s, certificates of %s, until %s; "
		     "this is audited",
		     princ, dur, until);
}

static enum result put_env(pam_handle_t *pamh, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s;
	int pr;

	if ((s = malloc(n)) == NULL)
		return RES_ALLOC;
	snprintf(s, n, "%s=%s", name, value);
	pr = pam_putenv(pamh, s);
	explicit_bzero(s, n);
	free(s);
	if (pr == PAM_BUF_ERR)
		return RES_ALLOC;
	return pr == PAM_SUCCESS ? RES_ALLOW : RES_SYSTEM;
}

static void clear_env(pam_handle_t *pamh)
{
	static const char *const names[] = {ENV_CONTEXT, ENV_TICKET, ENV_REASON};
	size_t i;

	/* Linux-PAM logs an error for deleting an absent variable. */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (pam_getenv(pamh, names[i]) != NULL)
			(void)pam_putenv(pamh, names[i]);
}

static enum result authenticate(struct login *l)
{
	const struct config_breakglass *bg;
	struct policy_decision d;
	struct ticket *t = NULL;
	char *reply = NULL, *reason = NULL;
	size_t max;
	bool too_long;
	enum result res;

	clear_env(l->pamh);
	if ((res = login_start(l)) != RES_ALLOW)
		goto out;
	bg = &l->cfg->breakglass;
	max = TICKET_ID_MAX;
	if (bg->keyword != NULL && strlen(bg->keyword) > max)
		max = strlen(bg->keyword);
	if ((res = ask(l, "Ticket: ", max, &reply, &too_long)) != RES_ALLOW)
		goto out;
	if (bg->keyword != NULL && reply != NULL && strcmp(reply, bg->keyword) == 0) {
		if (bg->enabled) {
			if ((res = ask(l, "Reason: ", REASON_MAX, &reason, &too_long)) != RES_ALLOW)
				goto out;
			if (too_long) {
				log_local(l, LOG_WARNING, "breakglass-reason-invalid",
				          "the reason is too long");
				tell(l, PAM_ERROR_MSG, "Access denied: the reason is too long");
				res = RES_DENY;
				goto out;
			}
		}
		if ((res = decide_breakglass(l, reason != NULL ? reason : "", &d)) != RES_ALLOW)
			goto out;
		if ((res = put_env(l->pamh, ENV_CONTEXT, "breakglass")) != RES_ALLOW ||
		    (res = put_env(l->pamh, ENV_REASON, reason)) != RES_ALLOW)
			goto out;
		notify_breakglass(l, reason != NULL ? reason : "");
		tell_granted(l, NULL, &d);
		res = RES_ALLOW;
		goto out;
	}
	if (too_long || reply == NULL || !config_is_ticket_id(reply)) {
		/* Not logged: it may be a password typed at the wrong prompt. */
		log_local(l, LOG_WARNING, "ticket-malformed", "the ticket id is malformed");
		tell(l, PAM_ERROR_MSG, "Access denied: a ticket id is 1 to %d of A-Z a-z 0-9 . _ -",
		     TICKET_ID_MAX);
		res = RES_DENY;
		goto out;
	}
	if ((res = decide_ticket(l, reply, &d, &t)) != RES_ALLOW)
		goto out;
	if ((res = put_env(l->pamh, ENV_CONTEXT, "ticket")) != RES_ALLOW ||
	    (res = put_env(l->pamh, ENV_TICKET, reply)) != RES_ALLOW)
		goto out;
	tell_granted(l, reply, &d);
	res = RES_ALLOW;
out:
	if (res != RES_ALLOW)
		clear_env(l->pamh);
	ticket_free(t);
	wipe_free(reply);
	wipe_free(reason);
	return res;
}

static enum result account(struct login *l)
{
	struct policy_decision d;
	struct ticket *t = NULL;
	const char *ctx, *id, *reason;
	enum result res;

	if ((res = login_start(l)) != RES_ALLOW)
		return res;
	ctx = pam_getenv(l->pamh, ENV_CONTEXT);
	if (ctx == NULL) {
		log_local(l, LOG_WARNING, "no-context",
		          "no pam_jit authentication in this session");
		tell(l, PAM_ERROR_MSG, "Access denied: no ticket was given");
		return RES_DENY;
	}
	if (strcmp(ctx, "ticket") == 0) {
		id = pam_getenv(l->pamh, ENV_TICKET);
		if (id == NULL || !config_is_ticket_id(id)) {
			log_local(l, LOG_WARNING, "context-invalid", "bad or missing " ENV_TICKET);
			tell(l, PAM_ERROR_MSG, "Access denied: no valid ticket was given");
			return RES_DENY;
		}
		res = decide_ticket(l, id, &d, &t);
		ticket_free(t);
		return res;
	}
	if (strcmp(ctx, "breakglass") == 0) {
		reason = pam_getenv(l->pamh, ENV_REASON);
		if (reason == NULL || strnlen(reason, REASON_MAX + 1) > REASON_MAX) {
			log_local(l, LOG_WARNING, "context-invalid", "bad or missing " ENV_REASON);
			tell(l, PAM_ERROR_MSG, "Access denied: no valid reason was given");
			return RES_DENY;
		}
		return decide_breakglass(l, reason, &d);
	}
	log_local(l, LOG_WARNING, "context-invalid", "unknown " ENV_CONTEXT);
	tell(l, PAM_ERROR_MSG, "Access denied: no valid ticket was given");
	return RES_DENY;
}

PAM_JIT_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv);
PAM_JIT_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv);
PAM_JIT_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv);

PAM_JIT_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct login l;
	enum result res;

	memset(&l, 0, sizeof(l));
	l.pamh = pamh;
	l.stage = STAGE_AUTH;
	l.flags = flags;
	parse_args(pamh, argc, argv, &l.args);
	res = authenticate(&l);
	login_end(&l);
	return pam_code(STAGE_AUTH, res);
}

PAM_JIT_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	/* Nothing to establish: the session stage obtains the certificate. */
	return PAM_SUCCESS;
}

PAM_JIT_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct login l;
	enum result res;

	memset(&l, 0, sizeof(l));
	l.pamh = pamh;
	l.stage = STAGE_ACCOUNT;
	l.flags = flags;
	parse_args(pamh, argc, argv, &l.args);
	res = account(&l);
	login_end(&l);
	return pam_code(STAGE_ACCOUNT, res);
}
