/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pam_jit.so under pam_wrapper and libpamtest: one case per decision path,
 * each asserting the PAM return code, the rule in the logged decision line
 * and what the engineer is told.
 *
 * pam_wrapper copies its service directory when it is loaded, so this
 * program runs twice: first as a launcher that writes the service files
 * (naming the module given as argv[1] by absolute path) into a fresh
 * directory and re-executes itself with pam_wrapper preloaded, then as the
 * test proper. The launcher removes the directory and pam_wrapper's
 * runtime directory afterwards.
 */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpamtest.h>
#include <security/pam_appl.h>

#define ENV_DIR    "JIT_PAMTEST_DIR"
#define ENV_AGENT  "JIT_PAMTEST_AGENT"
#define CAPTURE    4096
#define TEXT_MAX   65536
#define HUGE_REPLY 70000

static char dir[256];
static char user[256];
static char agent_path[512]; /* the built jit-agent, "" when not given */

/* ------------------------------------------------------------------ */
/* Files */

static void write_file(const char *name, mode_t mode, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void write_file(const char *name, mode_t mode, const char *fmt, ...)
{
	char path[512], *text;
	va_list ap;
	int fd, n;

	text = malloc(TEXT_MAX);
	assert_non_null(text);
	va_start(ap, fmt);
	n = vsnprintf(text, TEXT_MAX, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && n < TEXT_MAX);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, (size_t)n), n);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	free(text);
}

static void rfc3339(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	assert_non_null(gmtime_r(&t, &tm));
	assert_true(strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
}

/* One ticket entry of the tickets file, its window relative to now. */
static void ticket_entry(char *out, size_t outlen, const char *id, const char *state,
                         const char *users, long from, long to)
{
	char nb[32], na[32];
	time_t now = time(NULL);

	rfc3339(now + from, nb, sizeof(nb));
	rfc3339(now + to, na, sizeof(na));
	snprintf(out, outlen,
	         "{ id = \"%s\"; state = \"%s\"; users = [ %s ]; groups = [ ];\n"
	         "  principals = [ \"alice\", \"deploy\" ];\n"
	         "  not_before = \"%s\"; not_after = \"%s\"; }",
	         id, state, users, nb, na);
}

/* The usual tickets: one of each kind, for the current user. */
static void write_tickets(void)
{
	char a[1024], b[1024], c[1024], d[1024], e[1024], u[300];

	snprintf(u, sizeof(u), "\"%s\"", user);
	ticket_entry(a, sizeof(a), "CHG-1001", "approved", u, -3600, 3600);
	ticket_entry(b, sizeof(b), "CHG-1002", "closed", u, -3600, 3600);
	ticket_entry(c, sizeof(c), "CHG-1003", "approved", "\"someone-else\"", -3600, 3600);
	ticket_entry(d, sizeof(d), "CHG-1004", "approved", u, 3600, 7200);
	ticket_entry(e, sizeof(e), "CHG-1005", "approved", u, -7200, -3600);
	write_file("tickets.conf", 0644, "tickets = (\n%s,\n%s,\n%s,\n%s,\n%s\n);\n", a, b, c, d,
	           e);
}

/* jit.conf for the file backend, with extra groups appended. */
static void write_config(const char *extra)
{
	write_file("jit.conf", 0644,
	           "tickets = { backend = \"file\"; file = \"%s/tickets.conf\"; };\n"
	           "certificates = { validity = \"5m\"; };\n"
	           "breakglass = { keyword = \"BREAK-GLASS\"; group = \"%s\"; validity = \"2m\";\n"
	           "  min_reason = 20; principals = [ \"root\" ]; session_max = \"30m\"; };\n"
	           "%s\n",
	           dir, "pamtest-bg", extra != NULL ? extra : "");
}

/* The same, with the break-glass group the current user's primary group. */
static void write_config_bg(const char *bg_extra)
{
	struct passwd *pw = getpwnam(user);
	struct group *gr;

	assert_non_null(pw);
	gr = getgrgid(pw->pw_gid);
	assert_non_null(gr);
	write_file("jit.conf", 0644,
	           "tickets = { backend = \"file\"; file = \"%s/tickets.conf\"; };\n"
	           "breakglass = { keyword = \"BREAK-GLASS\"; group = \"%s\"; validity = \"2m\";\n"
	           "  min_reason = 20; principals = [ \"root\" ]; session_max = \"30m\";\n"
	           "  %s };\n",
	           dir, gr->gr_name, bg_extra);
}

static void write_config_bg_member(void)
{
	write_config_bg("");
}

/* ------------------------------------------------------------------ */
/* The conversation and the captured log */

struct conv {
	const char *replies[4];
	size_t n_replies, next;
	char prompts[CAPTURE];
	char info[CAPTURE];
	char err[CAPTURE];
};

static void append(char *buf, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, CAPTURE - n, "%s\n", s);
}

static int conv_fn(int num_msg, const struct pam_message **msg, struct pam_response **resp,
                   void *appdata)
{
	struct conv *c = appdata;
	struct pam_response *r;
	int i;

	r = calloc((size_t)num_msg, sizeof(*r));
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < num_msg; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_ON:
		case PAM_PROMPT_ECHO_OFF:
			append(c->prompts, msg[i]->msg);
			if (c->next >= c->n_replies)
				goto fail;
			r[i].resp = strdup(c->replies[c->next++]);
			if (r[i].resp == NULL)
				goto fail;
			break;
		case PAM_TEXT_INFO:
			append(c->info, msg[i]->msg);
			break;
		case PAM_ERROR_MSG:
			append(c->err, msg[i]->msg);
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < num_msg; i++)
		free(r[i].resp);
	free(r);
	return PAM_CONV_ERR;
}

static int saved_stderr = -1;

static void capture_start(void)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/stderr.log", dir);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

/* Ends the capture, echoes it to the real stderr and returns it (static). */
static const char *capture_end(void)
{
	static char log[CAPTURE * 4];
	char path[512];
	ssize_t n;
	int fd;

	fflush(stderr);
	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	saved_stderr = -1;
	snprintf(path, sizeof(path), "%s/stderr.log", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, log, sizeof(log) - 1);
	assert_true(n >= 0);
	log[n] = '\0';
	close(fd);
	fputs(log, stderr);
	return log;
}

/* The log holds a decision line of this stage with this rule. */
static void assert_logged(const char *log, const char *stage, const char *decision,
                          const char *rule)
{
	char want[256];

	snprintf(want, sizeof(want), "stage=%s decision=%s rule=%s ", stage, decision, rule);
	if (strstr(log, want) == NULL)
		fail_msg("log lacks \"%s\":\n%s", want, log);
}

/* Runs authentication (and the account stage when acct_rv is not -1) with these replies. */
static void run(const char *service, struct conv *c, int auth_rv, int acct_rv, const char **log)
{
	struct pam_testcase two[] = {
	        pam_test(PAMTEST_AUTHENTICATE, auth_rv),
	        pam_test(PAMTEST_ACCOUNT, acct_rv),
	};
	enum pamtest_err perr;

	capture_start();
	perr = _pamtest_conv(service, user, conv_fn, c, two, acct_rv == -1 ? 1 : 2, NULL);
	*log = capture_end();
	if (perr != PAMTEST_ERR_OK) {
		const struct pam_testcase *f = _pamtest_failed_case(two, acct_rv == -1 ? 1 : 2);

		fail_msg("%s: case %d returned %d (%s)", pamtest_strerror(perr),
		         f != NULL ? (int)f->pam_operation : -1, f != NULL ? f->op_rv : -1,
		         f != NULL ? pam_strerror(NULL, f->op_rv) : "");
	}
}

static void auth_ticket(const char *service, const char *reply, int rv, const char *decision,
                        const char *rule, struct conv *c)
{
	const char *log;

	memset(c, 0, sizeof(*c));
	c->replies[0] = reply;
	c->n_replies = 1;
	run(service, c, rv, -1, &log);
	assert_logged(log, "auth", decision, rule);
}

/* ------------------------------------------------------------------ */
/* Cases */

static int setup(void **state)
{
	write_config(NULL);
	write_tickets();
	return 0;
}

static void test_approved(void **state)
{
	struct conv c;
	char want[256], until[32];

	auth_ticket("jit", "CHG-1001", PAM_SUCCESS, "allow", "approved", &c);
	assert_string_equal(c.prompts, "Ticket: \n");
	rfc3339(time(NULL) + 3600, until, sizeof(until));
	/* The end is the ticket's, computed a moment ago: compare up to the minute. */
	snprintf(want, sizeof(want),
	         "Access granted for ticket CHG-1001: principals alice,deploy, certificates of 5m, "
	         "until %.16s",
	         until);
	assert_non_null(strstr(c.info, want));
	assert_string_equal(c.err, "");
}

static void test_unknown(void **state)
{
	struct conv c;

	auth_ticket("jit", "CHG-9999", PAM_AUTH_ERR, "deny", "ticket-unknown", &c);
	assert_string_equal(c.err, "Access denied: ticket CHG-9999 is not known\n");
	assert_string_equal(c.info, "");
}

static void test_closed(void **state)
{
	struct conv c;

	auth_ticket("jit", "CHG-1002", PAM_AUTH_ERR, "deny", "ticket-not-approved", &c);
	assert_string_equal(c.err, "Access denied: ticket CHG-1002 is not approved (closed)\n");
}

static void test_other_user(void **state)
{
	struct conv c;

	auth_ticket("jit", "CHG-1003", PAM_AUTH_ERR, "deny", "ticket-not-assigned", &c);
	assert_string_equal(c.err, "Access denied: ticket CHG-1003 is not assigned to you\n");
	assert_null(strstr(c.err, "someone-else"));
}

static void test_not_yet_open(void **state)
{
	struct conv c;

	auth_ticket("jit", "CHG-1004", PAM_AUTH_ERR, "deny", "ticket-not-yet-open", &c);
	assert_non_null(strstr(c.err, "Access denied: ticket CHG-1004 opens at "));
}

static void test_expired(void **state)
{
	struct conv c;

	auth_ticket("jit", "CHG-1005", PAM_AUTH_ERR, "deny", "ticket-expired", &c);
	assert_non_null(strstr(c.err, "Access denied: ticket CHG-1005 ended at "));
}

static void test_outside_recurring(void **state)
{
	struct conv c;
	char extra[512];
	time_t now = time(NULL);
	struct tm tm;

	assert_non_null(gmtime_r(&now, &tm));
	/* A window on the other half of the day from now, every day. */
	snprintf(extra, sizeof(extra),
	         "windows = { recurring = ( { users = [ \"%s\" ]; days = \"Mon-Sun\";\n"
	         "  start = \"%s\"; end = \"%s\"; tz = \"UTC\"; } ); };\n",
	         user, tm.tm_hour < 12 ? "18:00" : "00:00", tm.tm_hour < 12 ? "24:00" : "06:00");
	write_config(extra);
	auth_ticket("jit", "CHG-1001", PAM_AUTH_ERR, "deny", "outside-recurring-window", &c);
	assert_string_equal(c.err, "Access denied: now is outside your access windows\n");
}

static void test_inside_recurring(void **state)
{
	struct conv c;
	char extra[512];

	snprintf(extra, sizeof(extra),
	         "windows = { recurring = ( { users = [ \"%s\" ]; days = \"Mon-Sun\";\n"
	         "  start = \"00:00\"; end = \"24:00\"; tz = \"UTC\"; } ); };\n",
	         user);
	write_config(extra);
	auth_ticket("jit", "CHG-1001", PAM_SUCCESS, "allow", "approved", &c);
}

static void test_freeze(void **state)
{
	struct conv c;
	char extra[512], from[32], to[32];
	time_t now = time(NULL);

	rfc3339(now - 60, from, sizeof(from));
	rfc3339(now + 3600, to, sizeof(to));
	snprintf(
	        extra, sizeof(extra),
	        "windows = { freeze = ( { start = \"%s\"; end = \"%s\"; reason = \"release\"; } ); "
	        "};\n",
	        from, to);
	write_config(extra);
	auth_ticket("jit", "CHG-1001", PAM_AUTH_ERR, "deny", "freeze-window", &c);
	assert_non_null(strstr(c.err, "Access denied: change freeze until "));
	assert_non_null(strstr(c.err, ": release\n"));
}

static void test_malformed(void **state)
{
	struct conv c;
	const char *log;

	auth_ticket("jit", "CHG 1001;rm", PAM_AUTH_ERR, "deny", "ticket-malformed", &c);
	assert_string_equal(c.err, "Access denied: a ticket id is 1 to 64 of A-Z a-z 0-9 . _ -\n");
	/* What was typed is not logged. */
	memset(&c, 0, sizeof(c));
	c.replies[0] = "secret-password!";
	c.n_replies = 1;
	run("jit", &c, PAM_AUTH_ERR, -1, &log);
	assert_logged(log, "auth", "deny", "ticket-malformed");
	assert_null(strstr(log, "secret-password"));
	auth_ticket("jit", "", PAM_AUTH_ERR, "deny", "ticket-malformed", &c);
}

static void test_oversized(void **state)
{
	struct conv c;
	char id65[66], *huge;

	memset(id65, 'A', 65);
	id65[65] = '\0';
	auth_ticket("jit", id65, PAM_AUTH_ERR, "deny", "ticket-malformed", &c);
	huge = malloc(HUGE_REPLY + 1);
	assert_non_null(huge);
	memset(huge, 'B', HUGE_REPLY);
	huge[HUGE_REPLY] = '\0';
	auth_ticket("jit", huge, PAM_AUTH_ERR, "deny", "ticket-malformed", &c);
	free(huge);
}

static void bg_run(const char *reason, int rv, const char *decision, const char *rule,
                   struct conv *c, const char **log)
{
	memset(c, 0, sizeof(*c));
	c->replies[0] = "BREAK-GLASS";
	c->replies[1] = reason;
	c->n_replies = 2;
	run("jit", c, rv, -1, log);
	assert_logged(*log, "auth", decision, rule);
}

static void test_breakglass_allowed(void **state)
{
	struct conv c;
	const char *log;

	write_config_bg_member();
	bg_run("database on fire, paging on-call", PAM_SUCCESS, "allow", "breakglass-allowed", &c,
	       &log);
	assert_string_equal(c.prompts, "Ticket: \nReason: \n");
	assert_non_null(strstr(c.info, "Break-glass access granted: principals root, "
	                               "certificates of 2m, until "));
	assert_non_null(strstr(log, "breakglass=1"));
	assert_non_null(strstr(log, "reason=\"database on fire, paging on-call\""));
	/* LOG_ALERT: pam_wrapper prints it as an error-level SYSLOG(1). */
	assert_non_null(strstr(log, "SYSLOG(1): "));
}

static double now_s(void);

/* What the notify program saw: its arguments, then the JIT_* and other variables, sorted. */
static void write_notify(const char *name, const char *tail)
{
	write_file(name, 0700,
	           "#!/bin/sh\n"
	           "{ echo \"args: $*\"; env | grep -v '^PWD=' | sort; } > %s/notified\n%s",
	           dir, tail);
}

static char *read_notified(void)
{
	static char text[CAPTURE];
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/notified", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	n = read(fd, text, sizeof(text) - 1);
	assert_true(n >= 0);
	text[n] = '\0';
	close(fd);
	return text;
}

static void test_breakglass_notify(void **state)
{
	struct conv c;
	const char *log;
	char extra[1024], want[2048], host[256], *got, path[512];

	write_notify("notify.sh", "");
	snprintf(extra, sizeof(extra),
	         "notify = [ \"%s/notify.sh\", \"--page\", \"on call\" ]; notify_timeout = \"2s\";",
	         dir);
	write_config_bg(extra);
	snprintf(path, sizeof(path), "%s/notified", dir);
	(void)unlink(path);
	bg_run("database on fire, paging on-call", PAM_SUCCESS, "allow", "breakglass-allowed", &c,
	       &log);
	assert_non_null(got = read_notified());
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	/* The time is the only field not known in advance: check its shape, then drop it. */
	{
		char *t = strstr(got, "JIT_TIME=");

		assert_non_null(t);
		assert_int_equal(strlen(t), strlen("JIT_TIME=2026-11-23T20:00:00Z\n") +
		                                    strlen(strchr(t, '\n') + 1));
		assert_true(t[13] == '-' && t[28] == 'Z' && t[29] == '\n');
		memmove(t, t + 30, strlen(t + 30) + 1);
	}
	snprintf(want, sizeof(want),
	         "args: --page on call\n"
	         "JIT_EVENT=breakglass\n"
	         "JIT_HOST=%s\n"
	         "JIT_REASON=database on fire, paging on-call\n"
	         "JIT_RHOST=\n"
	         "JIT_SERVICE=jit\n"
	         "JIT_USER=%s\n"
	         "LANG=C\n"
	         "PATH=/usr/bin:/bin\n",
	         host, user);
	assert_string_equal(got, want);
	assert_non_null(strstr(log, "stage=auth event=notify result=ok user="));

	/* Refused: not run. */
	(void)unlink(path);
	bg_run("too short", PAM_AUTH_ERR, "deny", "breakglass-reason-too-short", &c, &log);
	assert_null(read_notified());
	assert_null(strstr(log, "event=notify"));
}

static void test_breakglass_notify_fails(void **state)
{
	struct conv c;
	const char *log;
	char extra[1024];
	double t0, elapsed;

	/* A failing hook is logged at LOG_ALERT, and the emergency login still proceeds. */
	write_notify("notify.sh", "echo 'pager down' >&2\nexit 3\n");
	snprintf(extra, sizeof(extra), "notify = [ \"%s/notify.sh\" ];", dir);
	write_config_bg(extra);
	bg_run("database on fire, paging on-call", PAM_SUCCESS, "allow", "breakglass-allowed", &c,
	       &log);
	if (strstr(log, "SYSLOG(1): stage=auth event=notify result=failed user=") == NULL ||
	    strstr(log, "/notify.sh: exit status 3, stderr: \\\"pager down\\\"\"") == NULL)
		fail_msg("no failed notify line:\n%s", log);

	/* One that hangs is killed at notify_timeout. */
	write_notify("notify.sh", "sleep 30\n");
	snprintf(extra, sizeof(extra), "notify = [ \"%s/notify.sh\" ]; notify_timeout = \"1s\";",
	         dir);
	write_config_bg(extra);
	t0 = now_s();
	bg_run("database on fire, paging on-call", PAM_SUCCESS, "allow", "breakglass-allowed", &c,
	       &log);
	elapsed = now_s() - t0;
	assert_true(elapsed >= 0.9);
	assert_true(elapsed < 1.0 + 2.0);
	if (strstr(log, "/notify.sh: no answer within 1000 ms (killed)\"") == NULL)
		fail_msg("no timeout line:\n%s", log);

	/* One the module must not run: group-writable. */
	write_notify("notify.sh", "");
	snprintf(extra, sizeof(extra), "%s/notify.sh", dir);
	assert_int_equal(chmod(extra, 0770), 0);
	bg_run("database on fire, paging on-call", PAM_SUCCESS, "allow", "breakglass-allowed", &c,
	       &log);
	if (strstr(log, "/notify.sh: group or world writable (mode 0770)\"") == NULL)
		fail_msg("no permission line:\n%s", log);
}

/*
 * Break-glass authentication and the account stage in one handle, with
 * PAM_RHOST set as sshd sets it; returns the log.
 */
static const char *bg_with_rhost(const char *rhost)
{
	struct conv c;
	struct pam_conv pc = {conv_fn, &c};
	pam_handle_t *ph = NULL;
	const char *log;
	int r;

	memset(&c, 0, sizeof(c));
	c.replies[0] = "BREAK-GLASS";
	c.replies[1] = "database on fire, paging on-call";
	c.n_replies = 2;
	capture_start();
	r = pam_start("jit", user, &pc, &ph);
	if (r == PAM_SUCCESS)
		r = pam_set_item(ph, PAM_RHOST, rhost);
	if (r == PAM_SUCCESS)
		r = pam_authenticate(ph, 0);
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(ph, 0);
	if (ph != NULL)
		pam_end(ph, r);
	log = capture_end();
	assert_int_equal(r, PAM_SUCCESS);
	assert_logged(log, "account", "allow", "breakglass-allowed");
	return log;
}

/* The client's address reaches the hook, once per login; one with a control character does not. */
static void test_breakglass_notify_rhost(void **state)
{
	char extra[1024], path[512], *got, *long_host;

	write_file(
	        "notify.sh", 0700,
	        "#!/bin/sh\nprintf 'rhost=[%%s] service=[%%s]\\n' \"$JIT_RHOST\" \"$JIT_SERVICE\""
	        " >> %s/notified\n",
	        dir);
	snprintf(extra, sizeof(extra), "notify = [ \"%s/notify.sh\" ];", dir);
	write_config_bg(extra);
	snprintf(path, sizeof(path), "%s/notified", dir);

	(void)unlink(path);
	(void)bg_with_rhost("192.0.2.7");
	/* Not run again by the account stage. */
	assert_non_null(got = read_notified());
	assert_string_equal(got, "rhost=[192.0.2.7] service=[jit]\n");

	(void)unlink(path);
	(void)bg_with_rhost("evil.example\nJIT_USER=root");
	assert_non_null(got = read_notified());
	assert_string_equal(got, "rhost=[] service=[jit]\n");

	/* Longer than a host name can be (NI_MAXHOST). */
	long_host = malloc(1026);
	assert_non_null(long_host);
	memset(long_host, 'h', 1025);
	long_host[1025] = '\0';
	(void)unlink(path);
	(void)bg_with_rhost(long_host);
	free(long_host);
	assert_non_null(got = read_notified());
	assert_string_equal(got, "rhost=[] service=[jit]\n");
}

static void test_breakglass_not_in_group(void **state)
{
	struct conv c;
	const char *log;

	bg_run("database on fire, paging on-call", PAM_AUTH_ERR, "deny", "breakglass-not-in-group",
	       &c, &log);
	assert_string_equal(c.err, "Access denied: you are not in the break-glass group\n");
}

static void test_breakglass_reason(void **state)
{
	struct conv c;
	const char *log;
	char reason[1026];

	write_config_bg_member();
	bg_run("too short", PAM_AUTH_ERR, "deny", "breakglass-reason-too-short", &c, &log);
	assert_string_equal(c.err, "Access denied: the reason must be at least 20 characters\n");
	bg_run("", PAM_AUTH_ERR, "deny", "breakglass-reason-too-short", &c, &log);
	bg_run("                         ", PAM_AUTH_ERR, "deny", "breakglass-reason-too-short", &c,
	       &log);
	bg_run("line one is long enough\nline two", PAM_AUTH_ERR, "deny",
	       "breakglass-reason-invalid", &c, &log);

	/* The CA protocol carries 1024 bytes: one more is refused at auth, not at the session. */
	memset(reason, 'r', 1024);
	reason[1024] = '\0';
	bg_run(reason, PAM_SUCCESS, "allow", "breakglass-allowed", &c, &log);
	reason[1024] = 'r';
	reason[1025] = '\0';
	bg_run(reason, PAM_AUTH_ERR, "deny", "breakglass-reason-invalid", &c, &log);
	assert_string_equal(c.err, "Access denied: the reason is too long\n");
	assert_non_null(strstr(log, "msg=\"the reason is too long\""));
}

static void test_other_host(void **state)
{
	struct conv c;
	char nb[32], na[32];
	time_t now = time(NULL);

	rfc3339(now - 60, nb, sizeof(nb));
	rfc3339(now + 600, na, sizeof(na));
	write_file("tickets.conf", 0644,
	           "tickets = ( { id = \"CHG-3001\"; state = \"approved\"; users = [ \"%s\" ];\n"
	           "  principals = [ \"web\" ]; hosts = [ \"no-such-host.invalid\" ];\n"
	           "  not_before = \"%s\"; not_after = \"%s\"; } );\n",
	           user, nb, na);
	auth_ticket("jit", "CHG-3001", PAM_AUTH_ERR, "deny", "ticket-host", &c);
	assert_non_null(strstr(c.err, "Access denied: ticket CHG-3001 does not cover host "));
}

static void test_breakglass_disabled(void **state)
{
	struct conv c;
	const char *log;

	write_file("jit.conf", 0644,
	           "tickets = { backend = \"file\"; file = \"%s/tickets.conf\"; };\n", dir);
	memset(&c, 0, sizeof(c));
	c.replies[0] = "BREAK-GLASS";
	c.n_replies = 1;
	run("jit", &c, PAM_AUTH_ERR, -1, &log);
	/* Without the breakglass group there is no keyword: it is a ticket id like any other. */
	assert_logged(log, "auth", "deny", "ticket-unknown");
	assert_string_equal(c.prompts, "Ticket: \n");
	assert_string_equal(c.err, "Access denied: ticket BREAK-GLASS is not known\n");
}

/* No reply at all: the conversation fails and nothing is granted. */
static void test_no_reply(void **state)
{
	struct conv c;
	const char *log;

	memset(&c, 0, sizeof(c));
	run("jit", &c, PAM_CONV_ERR, -1, &log);
	assert_string_equal(c.prompts, "Ticket: \n");
}

static void test_unknown_user(void **state)
{
	struct pam_testcase t[] = {
	        pam_test(PAMTEST_AUTHENTICATE, PAM_USER_UNKNOWN),
	};
	struct conv c;
	const char *log;

	memset(&c, 0, sizeof(c));
	c.replies[0] = "CHG-1001";
	c.n_replies = 1;
	capture_start();
	assert_int_equal(_pamtest_conv("jit", "no-such-user-jit", conv_fn, &c, t, 1, NULL),
	                 PAMTEST_ERR_OK);
	log = capture_end();
	assert_non_null(
	        strstr(log, "stage=auth decision=deny rule=user-unknown user=no-such-user-jit "));
	assert_string_equal(c.prompts, "");
}

static void config_error(const char *service)
{
	struct conv c;
	const char *log;

	memset(&c, 0, sizeof(c));
	c.replies[0] = "CHG-1001";
	c.n_replies = 1;
	run(service, &c, PAM_SERVICE_ERR, -1, &log);
	assert_logged(log, "auth", "deny", "config-error");
	assert_string_equal(c.err, "pam_jit: configuration error, access denied\n");
	/* Refused before any prompt. */
	assert_string_equal(c.prompts, "");
}

static void test_config_missing(void **state)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	(void)unlink(path);
	config_error("jit-missing");
}

static void test_config_invalid(void **state)
{
	write_file("invalid.conf", 0644, "tickets = { backend = \"carrier-pigeon\"; };\n");
	config_error("jit-invalid");
	write_file("invalid.conf", 0644, "tickets = { backend = \"file\" \n");
	config_error("jit-invalid");
}

static void test_config_permissions(void **state)
{
	char path[512];

	write_file("perm.conf", 0666, "tickets = { backend = \"file\"; };\n");
	config_error("jit-perm");
	if (geteuid() == 0) {
		write_file("perm.conf", 0644, "tickets = { backend = \"file\"; };\n");
		snprintf(path, sizeof(path), "%s/perm.conf", dir);
		assert_int_equal(chown(path, 4242, 4242), 0);
		config_error("jit-perm");
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_command_timeout(void **state)
{
	struct conv c;
	double t0, elapsed;

	write_file("slow.sh", 0700, "#!/bin/sh\nsleep 30\n");
	write_file("cmd.conf", 0644,
	           "tickets = { backend = \"command\"; command = [ \"%s/slow.sh\" ]; "
	           "timeout = \"1s\"; };\n",
	           dir);
	t0 = now_s();
	auth_ticket("jit-cmd", "CHG-1001", PAM_AUTH_ERR, "deny", "ticket-backend-error", &c);
	elapsed = now_s() - t0;
	assert_true(elapsed >= 0.9);
	assert_true(elapsed < 2.0);
	assert_string_equal(c.err, "ticket system unavailable, access denied\n");
}

static void test_command_approved(void **state)
{
	struct conv c;
	char nb[32], na[32];
	time_t now = time(NULL);

	rfc3339(now - 60, nb, sizeof(nb));
	rfc3339(now + 600, na, sizeof(na));
	/* Answers for CHG-2001 only; the arguments are the ticket id and the user. */
	write_file("lookup.sh", 0700,
	           "#!/bin/sh\n"
	           "[ \"$1\" = CHG-2001 ] && [ \"$2\" = \"%s\" ] || exit 1\n"
	           "printf 'id=CHG-2001\\nstate=approved\\nusers=%s\\ngroups=\\n"
	           "principals=web\\nnot_before=%s\\nnot_after=%s\\n'\n",
	           user, user, nb, na);
	write_file("cmd.conf", 0644,
	           "tickets = { backend = \"command\"; command = [ \"%s/lookup.sh\" ]; "
	           "timeout = \"3s\"; };\n",
	           dir);
	auth_ticket("jit-cmd", "CHG-2001", PAM_SUCCESS, "allow", "approved", &c);
	assert_non_null(strstr(c.info, "Access granted for ticket CHG-2001: principals web, "));
	auth_ticket("jit-cmd", "CHG-2002", PAM_AUTH_ERR, "deny", "ticket-unknown", &c);
}

static void test_account_after_auth(void **state)
{
	struct conv c;
	const char *log;

	memset(&c, 0, sizeof(c));
	c.replies[0] = "CHG-1001";
	c.n_replies = 1;
	run("jit", &c, PAM_SUCCESS, PAM_SUCCESS, &log);
	assert_logged(log, "auth", "allow", "approved");
	assert_logged(log, "account", "allow", "approved");

	write_config_bg_member();
	memset(&c, 0, sizeof(c));
	c.replies[0] = "BREAK-GLASS";
	c.replies[1] = "database on fire, paging on-call";
	c.n_replies = 2;
	run("jit", &c, PAM_SUCCESS, PAM_SUCCESS, &log);
	assert_logged(log, "account", "allow", "breakglass-allowed");
}

/* The environment after a successful authentication. */
static void test_auth_env(void **state)
{
	struct pam_testcase t[] = {
	        pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	        pam_test(PAMTEST_GETENVLIST, PAM_SUCCESS),
	};
	struct conv c;
	char **env;
	size_t i, found = 0;

	memset(&c, 0, sizeof(c));
	c.replies[0] = "CHG-1001";
	c.n_replies = 1;
	capture_start();
	assert_int_equal(_pamtest_conv("jit", user, conv_fn, &c, t, 2, NULL), PAMTEST_ERR_OK);
	(void)capture_end();
	env = t[1].case_out.envlist;
	assert_non_null(env);
	for (i = 0; env[i] != NULL; i++) {
		if (strcmp(env[i], "JIT_CONTEXT=ticket") == 0 ||
		    strcmp(env[i], "JIT_TICKET=CHG-1001") == 0)
			found++;
		assert_null(strstr(env[i], "JIT_REASON"));
	}
	assert_int_equal(found, 2);
	pamtest_free_env(env);
}

/* The account stage alone, with this PAM environment set by the application. */
static void account_with_env(const char *const *env, int rv, const char *rule)
{
	struct conv c;
	struct pam_conv pc = {conv_fn, &c};
	pam_handle_t *ph = NULL;
	const char *log;
	size_t i;
	int r;

	memset(&c, 0, sizeof(c));
	capture_start();
	r = pam_start("jit", user, &pc, &ph);
	if (r == PAM_SUCCESS)
		for (i = 0; env[i] != NULL && r == PAM_SUCCESS; i++)
			r = pam_putenv(ph, env[i]);
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(ph, 0);
	if (ph != NULL)
		pam_end(ph, r);
	log = capture_end();
	assert_int_equal(r, rv);
	assert_logged(log, "account", "deny", rule);
}

static void test_account_forged(void **state)
{
	const char *forged[] = {"JIT_CONTEXT=ticket", "JIT_TICKET=CHG-1003", NULL};
	const char *expired[] = {"JIT_CONTEXT=ticket", "JIT_TICKET=CHG-1005", NULL};
	const char *bad[] = {"JIT_CONTEXT=ticket", "JIT_TICKET=../../etc", NULL};
	const char *bg[] = {"JIT_CONTEXT=breakglass", "JIT_REASON=database on fire, paging", NULL};
	const char *odd[] = {"JIT_CONTEXT=admin", NULL};

	account_with_env(forged, PAM_PERM_DENIED, "ticket-not-assigned");
	account_with_env(expired, PAM_PERM_DENIED, "ticket-expired");
	account_with_env(bad, PAM_PERM_DENIED, "context-invalid");
	/* Not in the break-glass group (the default config names another). */
	account_with_env(bg, PAM_PERM_DENIED, "breakglass-not-in-group");
	account_with_env(odd, PAM_PERM_DENIED, "context-invalid");
}

static void test_account_no_context(void **state)
{
	const char *none[] = {NULL};

	account_with_env(none, PAM_PERM_DENIED, "no-context");
}

/* A ticket closed between authentication and the account stage. */
static void test_account_rechecks(void **state)
{
	struct pam_testcase t[] = {
	        pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	        pam_test(PAMTEST_KEEPHANDLE, PAM_SUCCESS),
	};
	struct pam_testcase acct[] = {
	        pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED),
	};
	struct conv c;
	char a[1024], u[300];
	const char *log;
	pam_handle_t *ph;

	memset(&c, 0, sizeof(c));
	c.replies[0] = "CHG-1001";
	c.n_replies = 1;
	capture_start();
	assert_int_equal(_pamtest_conv("jit", user, conv_fn, &c, t, 2, NULL), PAMTEST_ERR_OK);
	(void)capture_end();
	ph = t[1].case_out.ph;
	assert_non_null(ph);
	snprintf(u, sizeof(u), "\"%s\"", user);
	ticket_entry(a, sizeof(a), "CHG-1001", "closed", u, -3600, 3600);
	write_file("tickets.conf", 0644, "tickets = (\n%s\n);\n", a);
	capture_start();
	assert_int_equal(_pamtest_conv("jit", user, conv_fn, &c, acct, 1, ph), PAMTEST_ERR_OK);
	log = capture_end();
	assert_logged(log, "account", "deny", "ticket-not-approved");
}

static void test_setcred(void **state)
{
	struct pam_testcase t[] = {
	        pam_test(PAMTEST_SETCRED, PAM_SUCCESS),
	};
	struct conv c;

	memset(&c, 0, sizeof(c));
	capture_start();
	assert_int_equal(_pamtest_conv("jit", user, conv_fn, &c, t, 1, NULL), PAMTEST_ERR_OK);
	(void)capture_end();
}

static void test_unknown_argument(void **state)
{
	struct conv c;
	const char *log;

	memset(&c, 0, sizeof(c));
	c.replies[0] = "CHG-1001";
	c.n_replies = 1;
	run("jit-args", &c, PAM_SUCCESS, -1, &log);
	assert_non_null(strstr(log, "unknown argument ignored: frobnicate"));
}

/* ------------------------------------------------------------------ */
/* The session stage */

/* sess.conf: jit.conf with a CA (a unix endpoint nobody serves, 1 s). */
static void write_session_config(void)
{
	write_file("sess.conf", 0644,
	           "tickets = { backend = \"file\"; file = \"%s/tickets.conf\"; };\n"
	           "certificates = { validity = \"5m\"; };\n"
	           "ca = { endpoints = [ \"unix:%s/dead.sock\" ]; timeout = \"1s\"; };\n",
	           dir, dir);
}

/*
 * The fake agents the session services name. Each copies its stdin to a
 * file and records its pid; "ok" then answers like jit-agent, closes
 * stdout and waits for SIGTERM, which it records.
 */
static void write_fake_agents(void)
{
	write_file("agent-ok.sh", 0755,
	           "#!/bin/sh\n"
	           "trap '/bin/kill $sp 2>/dev/null; echo term > %s/agent.term; exit 0' TERM\n"
	           "echo $$ > %s/agent.pid\n"
	           "/bin/cat > %s/agent.stdin\n"
	           "echo SSH_AUTH_SOCK=/tmp/x/agent.sock\n"
	           "exec >/dev/null\n"
	           "while :; do /bin/sleep 30 & sp=$!; wait $sp; done\n",
	           dir, dir, dir);
	write_file("agent-err.sh", 0755,
	           "#!/bin/sh\n"
	           "echo $$ > %s/agent.pid\n"
	           "/bin/cat > %s/agent.stdin\n"
	           "echo 'error=ca unreachable'\n"
	           "exit 1\n",
	           dir, dir);
	/* Its child is in its process group: both must go. */
	write_file("agent-sleep.sh", 0755,
	           "#!/bin/sh\n"
	           "echo $$ > %s/agent.pid\n"
	           "/bin/sleep 1000 &\n"
	           "echo $! > %s/agent.child\n"
	           "wait\n",
	           dir, dir);
	/* Answers, then ignores SIGTERM. */
	write_file("agent-stubborn.sh", 0755,
	           "#!/bin/sh\n"
	           "trap '' TERM\n"
	           "echo $$ > %s/agent.pid\n"
	           "/bin/cat >/dev/null\n"
	           "echo SSH_AUTH_SOCK=/tmp/x/agent.sock\n"
	           "exec /bin/sleep 1000 >/dev/null\n",
	           dir);
	write_file("agent-silent.sh", 0755,
	           "#!/bin/sh\n"
	           "echo $$ > %s/agent.pid\n"
	           "/bin/cat >/dev/null\n"
	           "exit 3\n",
	           dir);
}

static void remove_file(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) != 0)
		assert_int_equal(errno, ENOENT);
}

static int setup_session(void **state)
{
	write_config(NULL);
	write_tickets();
	write_session_config();
	write_fake_agents();
	remove_file("agent.pid");
	remove_file("agent.child");
	remove_file("agent.stdin");
	remove_file("agent.term");
	return 0;
}

/* The file's content (static), or NULL when absent. */
static const char *read_text(const char *name)
{
	static char text[CAPTURE];
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n >= 0);
	text[n] = '\0';
	return text;
}

static pid_t read_pid(const char *name)
{
	const char *t = read_text(name);
	long v;

	assert_non_null(t);
	v = strtol(t, NULL, 10);
	assert_true(v > 1);
	return (pid_t)v;
}

/* The process exists (a zombie counts: not reaped is not gone). */
static int process_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

/*
 * Running (not a zombie): for a process that is not ours to reap, whose
 * zombie waits for an init that may reap late.
 */
static int process_alive(pid_t pid)
{
	char path[64], st[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, st, sizeof(st) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	st[n] = '\0';
	p = strrchr(st, ')');
	return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static bool env_has(char **env, const char *entry)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		if (strcmp(env[i], entry) == 0)
			return true;
	return false;
}

static bool env_has_name(char **env, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; env != NULL && env[i] != NULL; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return true;
	return false;
}

/*
 * Authentication with CHG-1001, the account stage, open_session expecting
 * open_rv; the environment after it into *ret_env (pamtest_free_env) and
 * the handle kept into *ret_ph (pam_end by the caller).
 */
static void session_run(const char *service, int open_rv, struct conv *c, char ***ret_env,
                        pam_handle_t **ret_ph, const char **log)
{
	struct pam_testcase t[] = {
	        pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	        pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
	        pam_test(PAMTEST_OPEN_SESSION, open_rv),
	        pam_test(PAMTEST_GETENVLIST, PAM_SUCCESS),
	        pam_test(PAMTEST_KEEPHANDLE, PAM_SUCCESS),
	};
	enum pamtest_err perr;

	memset(c, 0, sizeof(*c));
	c->replies[0] = "CHG-1001";
	c->n_replies = 1;
	capture_start();
	perr = _pamtest_conv(service, user, conv_fn, c, t, 5, NULL);
	*log = capture_end();
	if (perr != PAMTEST_ERR_OK) {
		const struct pam_testcase *f = _pamtest_failed_case(t, 5);

		fail_msg("%s: case %d returned %d", pamtest_strerror(perr),
		         f != NULL ? (int)f->pam_operation : -1, f != NULL ? f->op_rv : -1);
	}
	*ret_env = t[3].case_out.envlist;
	*ret_ph = t[4].case_out.ph;
	assert_non_null(*ret_ph);
}

static void close_session_on(pam_handle_t *ph, const char **log)
{
	int r;

	capture_start();
	r = pam_close_session(ph, 0);
	*log = capture_end();
	assert_int_equal(r, PAM_SUCCESS);
}

static void end_handle(pam_handle_t *ph)
{
	capture_start();
	(void)pam_end(ph, PAM_SUCCESS);
	(void)capture_end();
}

static void test_session_agent_ready(void **state)
{
	struct conv c;
	struct passwd *pw = getpwnam(user);
	const char *log, *in;
	char want[512], sid[17];
	char **env = NULL;
	pam_handle_t *ph = NULL;
	pid_t apid;
	size_t i;

	assert_non_null(pw);
	session_run("jit-sess-ok", PAM_SUCCESS, &c, &env, &ph, &log);
	assert_true(env_has(env, "SSH_AUTH_SOCK=/tmp/x/agent.sock"));
	pamtest_free_env(env);
	assert_string_equal(c.err, "");
	assert_non_null(strstr(c.info, "pam_jit: your certificate agent is ready "
	                               "(SSH_AUTH_SOCK=/tmp/x/agent.sock)\n"));
	/* Exactly the contract's lines, in order. */
	in = read_text("agent.stdin");
	assert_non_null(in);
	snprintf(want, sizeof(want), "user=%s\nuid=%lu\ngid=%lu\nsession=", user,
	         (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid);
	assert_int_equal(strncmp(in, want, strlen(want)), 0);
	memcpy(sid, in + strlen(want), 16);
	sid[16] = '\0';
	for (i = 0; i < 16; i++)
		assert_non_null(strchr("0123456789abcdef", sid[i]));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
	         "%s\ncontext=ticket\nticket=CHG-1001\nwatch_pid=%ld\n", sid, (long)getpid());
	assert_string_equal(in, want);
	apid = read_pid("agent.pid");
	snprintf(want, sizeof(want),
	         "stage=session event=agent-started user=%s session=%s context=ticket "
	         "ticket=CHG-1001 agent_pid=%ld socket=/tmp/x/agent.sock",
	         user, sid, (long)apid);
	if (strstr(log, want) == NULL)
		fail_msg("log lacks \"%s\":\n%s", want, log);
	assert_true(process_exists(apid));
	assert_null(read_text("agent.term"));

	/* close_session: SIGTERM to the recorded pid, which is reaped. */
	close_session_on(ph, &log);
	in = read_text("agent.term");
	assert_non_null(in);
	assert_string_equal(in, "term\n");
	assert_false(process_exists(apid));
	snprintf(want, sizeof(want), "stage=session event=agent-stopped agent_pid=%ld how=sigterm",
	         (long)apid);
	if (strstr(log, want) == NULL)
		fail_msg("log lacks \"%s\":\n%s", want, log);
	/* Once stopped, nothing is recorded: a second close has nothing to stop. */
	close_session_on(ph, &log);
	assert_null(strstr(log, "agent-stopped"));
	end_handle(ph);
}

/* The same for break-glass: the reason goes to the agent, not to the log line. */
static void test_session_breakglass_context(void **state)
{
	const char *env_in[] = {"JIT_CONTEXT=breakglass",
	                        "JIT_REASON=database on fire, paging on-call", NULL};
	struct conv c;
	struct pam_conv pc = {conv_fn, &c};
	pam_handle_t *ph = NULL;
	const char *log, *in;
	size_t i;
	int r;

	memset(&c, 0, sizeof(c));
	capture_start();
	r = pam_start("jit-sess-ok", user, &pc, &ph);
	for (i = 0; env_in[i] != NULL && r == PAM_SUCCESS; i++)
		r = pam_putenv(ph, env_in[i]);
	if (r == PAM_SUCCESS)
		r = pam_open_session(ph, 0);
	log = capture_end();
	assert_int_equal(r, PAM_SUCCESS);
	in = read_text("agent.stdin");
	assert_non_null(in);
	assert_non_null(strstr(in, "\ncontext=breakglass\nreason=database on fire, paging "
	                           "on-call\nwatch_pid="));
	assert_null(strstr(in, "ticket="));
	assert_non_null(strstr(log, "stage=session event=agent-started "));
	assert_null(strstr(log, "database on fire"));
	close_session_on(ph, &log);
	assert_non_null(read_text("agent.term"));
	end_handle(ph);
}

static void test_session_agent_error(void **state)
{
	struct conv c;
	const char *log;
	char **env = NULL;
	pam_handle_t *ph = NULL;
	pid_t apid;

	session_run("jit-sess-err", PAM_SESSION_ERR, &c, &env, &ph, &log);
	assert_false(env_has_name(env, "SSH_AUTH_SOCK"));
	pamtest_free_env(env);
	assert_string_equal(c.err, "pam_jit: could not get a certificate: ca unreachable\n");
	assert_non_null(strstr(log, "stage=session event=agent-failed user="));
	assert_non_null(strstr(log, " error=agent msg=\"ca unreachable\""));
	apid = read_pid("agent.pid");
	assert_false(process_exists(apid));
	end_handle(ph);
}

/* The agent runs as root: one that others could change, or a relative path, never runs. */
static void test_session_agent_unsafe(void **state)
{
	struct conv c;
	const char *log;
	char **env = NULL, want[768];
	pam_handle_t *ph = NULL;

	write_file("agent-writable.sh", 0775, "#!/bin/sh\necho $$ > %s/agent.pid\n", dir);
	remove_file("agent.pid");
	session_run("jit-sess-writable", PAM_SYSTEM_ERR, &c, &env, &ph, &log);
	assert_false(env_has_name(env, "SSH_AUTH_SOCK"));
	pamtest_free_env(env);
	snprintf(want, sizeof(want),
	         "pam_jit: could not get a certificate: cannot start the agent: "
	         "%s/agent-writable.sh: group or world writable (mode 0775)\n",
	         dir);
	assert_string_equal(c.err, want);
	assert_non_null(strstr(log, " error=system msg=\"cannot start the agent: "));
	assert_null(read_text("agent.pid"));
	end_handle(ph);

	session_run("jit-sess-relative", PAM_SYSTEM_ERR, &c, &env, &ph, &log);
	pamtest_free_env(env);
	assert_string_equal(c.err, "pam_jit: could not get a certificate: cannot start the agent: "
	                           "agent-ok.sh: not an absolute path\n");
	assert_null(read_text("agent.pid"));
	end_handle(ph);
}

static void test_session_agent_timeout(void **state)
{
	struct conv c;
	const char *log;
	char **env = NULL;
	pam_handle_t *ph = NULL;
	double t0, elapsed;
	pid_t apid, child;

	t0 = now_s();
	session_run("jit-sess-sleep", PAM_SESSION_ERR, &c, &env, &ph, &log);
	elapsed = now_s() - t0;
	/* ca.timeout 1 s, one endpoint, file backend: 3 s. */
	assert_true(elapsed >= 2.9);
	assert_true(elapsed < 4.5);
	assert_false(env_has_name(env, "SSH_AUTH_SOCK"));
	pamtest_free_env(env);
	assert_string_equal(c.err, "pam_jit: could not get a certificate: no answer from the "
	                           "agent within 3000 ms\n");
	assert_non_null(
	        strstr(log, " error=agent msg=\"no answer from the agent within 3000 ms\""));
	apid = read_pid("agent.pid");
	child = read_pid("agent.child");
	assert_false(process_exists(apid));
	/* Killed with the agent's process group (not ours to reap). */
	for (int i = 0; i < 100 && process_alive(child); i++)
		usleep(10000);
	assert_false(process_alive(child));
	end_handle(ph);
}

static void test_session_agent_silent(void **state)
{
	struct conv c;
	const char *log;
	char **env = NULL;
	pam_handle_t *ph = NULL;

	session_run("jit-sess-silent", PAM_SESSION_ERR, &c, &env, &ph, &log);
	pamtest_free_env(env);
	assert_string_equal(c.err,
	                    "pam_jit: could not get a certificate: the agent exited without an "
	                    "answer\n");
	assert_non_null(strstr(log, " error=agent msg=\"the agent exited without an answer\""));
	assert_false(process_exists(read_pid("agent.pid")));
	end_handle(ph);
}

/* An agent that ignores SIGTERM is killed 2 s later. */
static void test_session_close_escalates(void **state)
{
	struct conv c;
	const char *log;
	char **env = NULL, want[256];
	pam_handle_t *ph = NULL;
	double t0, elapsed;
	pid_t apid;

	session_run("jit-sess-stubborn", PAM_SUCCESS, &c, &env, &ph, &log);
	pamtest_free_env(env);
	apid = read_pid("agent.pid");
	t0 = now_s();
	close_session_on(ph, &log);
	elapsed = now_s() - t0;
	assert_true(elapsed >= 1.9);
	assert_true(elapsed < 3.0);
	assert_false(process_exists(apid));
	snprintf(want, sizeof(want), "stage=session event=agent-stopped agent_pid=%ld how=sigkill",
	         (long)apid);
	if (strstr(log, want) == NULL)
		fail_msg("log lacks \"%s\":\n%s", want, log);
	end_handle(ph);
}

/* open_session alone, with this PAM environment; the agent must not start. */
static void session_refused(const char *const *env_in, const char *told)
{
	struct conv c;
	struct pam_conv pc = {conv_fn, &c};
	pam_handle_t *ph = NULL;
	const char *log;
	char want[256];
	size_t i;
	int r;

	memset(&c, 0, sizeof(c));
	capture_start();
	r = pam_start("jit-sess-ok", user, &pc, &ph);
	for (i = 0; env_in[i] != NULL && r == PAM_SUCCESS; i++)
		r = pam_putenv(ph, env_in[i]);
	if (r == PAM_SUCCESS)
		r = pam_open_session(ph, 0);
	if (ph != NULL)
		pam_end(ph, r);
	log = capture_end();
	assert_int_equal(r, PAM_SESSION_ERR);
	snprintf(want, sizeof(want), "pam_jit: could not get a certificate: %s\n", told);
	assert_string_equal(c.err, want);
	assert_non_null(strstr(log, "stage=session event=agent-failed "));
	assert_null(read_text("agent.pid"));
}

static void test_session_refuses_bad_context(void **state)
{
	const char *none[] = {NULL};
	const char *bad_ticket[] = {"JIT_CONTEXT=ticket", "JIT_TICKET=../../etc", NULL};
	const char *no_ticket[] = {"JIT_CONTEXT=ticket", NULL};
	const char *bad_reason[] = {"JIT_CONTEXT=breakglass", "JIT_REASON=line one\tsecond", NULL};
	const char *odd[] = {"JIT_CONTEXT=admin", NULL};

	session_refused(none, "no ticket was given");
	session_refused(bad_ticket, "no valid ticket was given");
	session_refused(no_ticket, "no valid ticket was given");
	session_refused(bad_reason, "no valid reason was given");
	session_refused(odd, "no valid ticket was given");
}

static void test_session_close_without_agent(void **state)
{
	struct pam_testcase t[] = {
	        pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS),
	};
	struct conv c;

	memset(&c, 0, sizeof(c));
	capture_start();
	assert_int_equal(_pamtest_conv("jit-sess-ok", user, conv_fn, &c, t, 1, NULL),
	                 PAMTEST_ERR_OK);
	(void)capture_end();
}

/* The real jit-agent with the CA down: its error reaches the engineer. */
static void test_session_real_agent_ca_down(void **state)
{
	struct conv c;
	const char *log;
	char **env = NULL;
	pam_handle_t *ph = NULL;
	char want[512];

	if (agent_path[0] == '\0')
		skip();
	session_run("jit-sess-real", PAM_SESSION_ERR, &c, &env, &ph, &log);
	assert_false(env_has_name(env, "SSH_AUTH_SOCK"));
	pamtest_free_env(env);
	snprintf(want, sizeof(want),
	         "pam_jit: could not get a certificate: CA unavailable: unix:%s/dead.sock: "
	         "connect: No such file or directory\n",
	         dir);
	assert_string_equal(c.err, want);
	assert_non_null(strstr(log, " error=agent msg=\"CA unavailable: unix:"));
	end_handle(ph);
}

static int run_all(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_approved, setup),
	        cmocka_unit_test_setup(test_unknown, setup),
	        cmocka_unit_test_setup(test_closed, setup),
	        cmocka_unit_test_setup(test_other_user, setup),
	        cmocka_unit_test_setup(test_not_yet_open, setup),
	        cmocka_unit_test_setup(test_expired, setup),
	        cmocka_unit_test_setup(test_outside_recurring, setup),
	        cmocka_unit_test_setup(test_inside_recurring, setup),
	        cmocka_unit_test_setup(test_freeze, setup),
	        cmocka_unit_test_setup(test_malformed, setup),
	        cmocka_unit_test_setup(test_oversized, setup),
	        cmocka_unit_test_setup(test_breakglass_allowed, setup),
	        cmocka_unit_test_setup(test_breakglass_notify, setup),
	        cmocka_unit_test_setup(test_breakglass_notify_fails, setup),
	        cmocka_unit_test_setup(test_breakglass_notify_rhost, setup),
	        cmocka_unit_test_setup(test_breakglass_not_in_group, setup),
	        cmocka_unit_test_setup(test_breakglass_reason, setup),
	        cmocka_unit_test_setup(test_other_host, setup),
	        cmocka_unit_test_setup(test_breakglass_disabled, setup),
	        cmocka_unit_test_setup(test_no_reply, setup),
	        cmocka_unit_test_setup(test_unknown_user, setup),
	        cmocka_unit_test_setup(test_config_missing, setup),
	        cmocka_unit_test_setup(test_config_invalid, setup),
	        cmocka_unit_test_setup(test_config_permissions, setup),
	        cmocka_unit_test_setup(test_command_timeout, setup),
	        cmocka_unit_test_setup(test_command_approved, setup),
	        cmocka_unit_test_setup(test_account_after_auth, setup),
	        cmocka_unit_test_setup(test_auth_env, setup),
	        cmocka_unit_test_setup(test_account_forged, setup),
	        cmocka_unit_test_setup(test_account_no_context, setup),
	        cmocka_unit_test_setup(test_account_rechecks, setup),
	        cmocka_unit_test_setup(test_setcred, setup),
	        cmocka_unit_test_setup(test_unknown_argument, setup),
	        cmocka_unit_test_setup(test_session_agent_ready, setup_session),
	        cmocka_unit_test_setup(test_session_breakglass_context, setup_session),
	        cmocka_unit_test_setup(test_session_agent_error, setup_session),
	        cmocka_unit_test_setup(test_session_agent_unsafe, setup_session),
	        cmocka_unit_test_setup(test_session_agent_timeout, setup_session),
	        cmocka_unit_test_setup(test_session_agent_silent, setup_session),
	        cmocka_unit_test_setup(test_session_close_escalates, setup_session),
	        cmocka_unit_test_setup(test_session_refuses_bad_context, setup_session),
	        cmocka_unit_test_setup(test_session_close_without_agent, setup_session),
	        cmocka_unit_test_setup(test_session_real_agent_ca_down, setup_session),
	};

	/* JIT_PAMTEST_FILTER=test_approved runs matching cases only. */
	if (getenv("JIT_PAMTEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("JIT_PAMTEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Launcher */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_tree(const char *path)
{
	(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_service(const char *name, const char *module, const char *args)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/services/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	if (strcmp(name, "other") == 0)
		fprintf(f, "auth required pam_deny.so\naccount required pam_deny.so\n"
		           "password required pam_deny.so\nsession required pam_deny.so\n");
	else
		fprintf(f, "auth required %s %s\naccount required %s %s\nsession required %s %s\n",
		        module, args, module, args, module, args);
	return fclose(f) == 0 ? 0 : -1;
}

static int launch(int argc, char **argv)
{
	char services[512], conf[4][512], args[600], runtime[512], line[512];
	const char *names[4] = {"jit", "jit-cmd", "jit-missing", "jit-invalid"};
	const char *files[4] = {"jit.conf", "cmd.conf", "missing.conf", "invalid.conf"};
	const char *preload;
	char *preload_all = NULL;
	pid_t pid;
	FILE *f;
	int st, i, rc = 1;

	if (argc < 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: %s /ABSOLUTE/PATH/pam_jit.so\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "/tmp/jit-pamtest.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(services, sizeof(services), "%s/services", dir);
	if (mkdir(services, 0700) != 0)
		goto out;
	for (i = 0; i < 4; i++) {
		snprintf(conf[i], sizeof(conf[i]), "config=%s/%s", dir, files[i]);
		if (write_service(names[i], argv[1], conf[i]) != 0)
			goto out;
	}
	snprintf(args, sizeof(args), "config=%s/perm.conf", dir);
	if (write_service("jit-perm", argv[1], args) != 0)
		goto out;
	snprintf(args, sizeof(args), "frobnicate config=%s/jit.conf debug", dir);
	if (write_service("jit-args", argv[1], args) != 0 || write_service("other", "", "") != 0)
		goto out;
	{
		const char *sess[5] = {"ok", "err", "sleep", "silent", "stubborn"};
		char name[64];

		for (i = 0; i < 5; i++) {
			snprintf(name, sizeof(name), "jit-sess-%s", sess[i]);
			snprintf(args, sizeof(args), "config=%s/sess.conf agent=%s/agent-%s.sh",
			         dir, dir, sess[i]);
			if (write_service(name, argv[1], args) != 0)
				goto out;
		}
		/* Agents that must not run: group-writable, and a relative path. */
		snprintf(args, sizeof(args), "config=%s/sess.conf agent=%s/agent-writable.sh", dir,
		         dir);
		if (write_service("jit-sess-writable", argv[1], args) != 0)
			goto out;
		snprintf(args, sizeof(args), "config=%s/sess.conf agent=agent-ok.sh", dir);
		if (write_service("jit-sess-relative", argv[1], args) != 0)
			goto out;
		/* The real agent, when given (argv[2]). */
		snprintf(args, sizeof(args), "config=%s/sess.conf agent=%s", dir,
		         argc > 2 ? argv[2] : "/nonexistent");
		if (write_service("jit-sess-real", argv[1], args) != 0)
			goto out;
	}
	/* Keep a sanitizer runtime first in the list. */
	preload = getenv("LD_PRELOAD");
	if (preload != NULL && preload[0] != '\0') {
		size_t n = strlen(preload) + sizeof(" libpam_wrapper.so");

		if ((preload_all = malloc(n)) == NULL)
			goto out;
		snprintf(preload_all, n, "%s libpam_wrapper.so", preload);
	}
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		setenv(ENV_DIR, dir, 1);
		if (argc > 2 && argv[2][0] == '/')
			setenv(ENV_AGENT, argv[2], 1);
		setenv("PAM_WRAPPER", "1", 1);
		setenv("PAM_WRAPPER_SERVICE_DIR", services, 1);
		setenv("LD_PRELOAD", preload_all != NULL ? preload_all : "libpam_wrapper.so", 1);
		if (getenv("PAM_WRAPPER_DEBUGLEVEL") == NULL)
			setenv("PAM_WRAPPER_DEBUGLEVEL", "2", 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		goto out;
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
out:
	/* pam_wrapper's own copy of the services, if it left it behind. */
	snprintf(runtime, sizeof(runtime), "%s/runtime_dir", dir);
	if ((f = fopen(runtime, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (strncmp(line, "/tmp/pam.", 9) == 0 && strchr(line + 9, '/') == NULL)
				rm_tree(line);
		}
		fclose(f);
	}
	rm_tree(dir);
	free(preload_all);
	return rc;
}

int main(int argc, char **argv)
{
	const char *d = getenv(ENV_DIR), *rt;
	struct passwd *pw;
	int rc;

	if (d == NULL)
		return launch(argc, argv);
	snprintf(dir, sizeof(dir), "%s", d);
	if (getenv(ENV_AGENT) != NULL)
		snprintf(agent_path, sizeof(agent_path), "%s", getenv(ENV_AGENT));
	pw = getpwuid(geteuid());
	if (pw == NULL) {
		fprintf(stderr, "no passwd entry for uid %u\n", (unsigned)geteuid());
		return 1;
	}
	snprintf(user, sizeof(user), "%s", pw->pw_name);
	/* Recorded first, for the launcher to remove even after a crash. */
	rt = getenv("PAM_WRAPPER_RUNTIME_DIR");
	if (rt != NULL) {
		char path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/runtime_dir", dir);
		if ((f = fopen(path, "w")) != NULL) {
			fprintf(f, "%s\n", rt);
			fclose(f);
		}
	}
	rc = run_all();
	return rc;
}
