/* SPDX-License-Identifier: BSD-2-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config.h"
#include "err.h"
#include "policy.h"

/* 2026-11-23T08:00:00Z: Monday, 09:00 in Berlin. */
#define NOW ((uint64_t)1795420800)
#define H   ((uint64_t)3600)
/* 2026-11-23T16:00:00Z: 17:00 in Berlin, the end of the Mon-Fri window. */
#define WEND ((uint64_t)1795449600)
/* 2026-11-28T10:00:00Z: Saturday. */
#define SAT ((uint64_t)1795860000)

#define MON_FRI 0x3e
#define SAT_SUN 0x41
#define ALL     0x7f

static char *g_ops[] = {(char *)"ops", NULL};
static char *g_dba[] = {(char *)"dba", NULL};
static char *g_opsdba[] = {(char *)"ops", (char *)"dba", NULL};
static char *g_dev[] = {(char *)"dev", NULL};
static char *g_bg[] = {(char *)"dev", (char *)"breakglass", NULL};
static char *u_carol[] = {(char *)"carol", NULL};
static char *t_users[] = {(char *)"alice", (char *)"mallory", NULL};
static char *t_groups[] = {(char *)"dba", NULL};
static char *t_princ[] = {(char *)"root", (char *)"deploy", NULL};
static char *t_hosts[] = {(char *)"bastion1", (char *)"bastion2", NULL};
static char *bg_princ[] = {(char *)"breakglass-root", NULL};

struct fixture {
	struct config_recurring rec[4];
	struct config_freeze freeze[2];
	struct jit_config cfg;
	struct ticket t;
	struct policy_request req;
	struct policy_decision d;
};

static struct fixture fx;

/*
 * Ops (alice's group) may work Mon-Fri 09:00-17:00 Berlin time; carol alone
 * Sat-Sun 10:00-12:00 UTC. No freeze unless a case adds one. The ticket
 * runs from 07:00 to 10:00 UTC on Monday.
 */
static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.rec[0] = (struct config_recurring){.groups = g_ops,
	                                      .n_groups = 1,
	                                      .days = MON_FRI,
	                                      .start = 9 * 60,
	                                      .end = 17 * 60,
	                                      .tz = (char *)"Europe/Berlin"};
	fx.rec[1] = (struct config_recurring){.users = u_carol,
	                                      .n_users = 1,
	                                      .days = SAT_SUN,
	                                      .start = 600,
	                                      .end = 720,
	                                      .tz = (char *)"UTC"};
	fx.cfg.groups = CONFIG_ALL;
	fx.cfg.certificates.validity = 300;
	fx.cfg.windows.recurring = fx.rec;
	fx.cfg.windows.n_recurring = 2;
	fx.cfg.windows.freeze = fx.freeze;
	fx.cfg.windows.n_freeze = 0;
	fx.cfg.breakglass = (struct config_breakglass){.enabled = 1,
	                                               .keyword = (char *)"breakglass",
	                                               .group = (char *)"breakglass",
	                                               .validity = 900,
	                                               .min_reason = 20,
	                                               .principals = bg_princ,
	                                               .n_principals = 1,
	                                               .session_max = 3600};
	fx.t = (struct ticket){.id = (char *)"CHG-1",
	                       .state = TICKET_APPROVED,
	                       .users = t_users,
	                       .n_users = 2,
	                       .groups = t_groups,
	                       .n_groups = 1,
	                       .principals = t_princ,
	                       .n_principals = 2,
	                       .not_before = NOW - H,
	                       .not_after = NOW + 2 * H};
	fx.req = (struct policy_request){.user = "alice",
	                                 .groups = g_ops,
	                                 .n_groups = 1,
	                                 .host = "bastion1",
	                                 .ticket_id = "CHG-1",
	                                 .now = NOW};
	return 0;
}

static void decide(const struct ticket *t)
{
	memset(&fx.d, 0x5a, sizeof(fx.d));
	assert_int_equal(policy_decide_ticket(&fx.cfg, &fx.req, t, &fx.d), 0);
}

static void expect(int allow, const char *rule, const char *msg)
{
	assert_int_equal(fx.d.allow, allow);
	assert_string_equal(fx.d.rule, rule);
	assert_string_equal(fx.d.message, msg);
	/* Never another user's or group's name. */
	assert_null(strstr(fx.d.message, "mallory"));
	assert_null(strstr(fx.d.message, "dba"));
	assert_null(strstr(fx.d.message, "carol"));
	if (!allow) {
		assert_int_equal(fx.d.not_after, 0);
		assert_int_equal(fx.d.validity, 0);
		assert_null(fx.d.principals);
		assert_int_equal(fx.d.n_principals, 0);
	}
}

static void expect_allow(uint64_t not_after)
{
	assert_string_equal(fx.d.rule, "approved");
	assert_int_equal(fx.d.allow, 1);
	assert_int_equal(fx.d.breakglass, 0);
	if (fx.d.not_after != not_after)
		fail_msg("not_after %llu, expected %llu", (unsigned long long)fx.d.not_after,
		         (unsigned long long)not_after);
	assert_int_equal(fx.d.validity, 300);
	assert_ptr_equal(fx.d.principals, t_princ);
	assert_int_equal(fx.d.n_principals, 2);
}

static void test_approved(void **state)
{
	decide(&fx.t);
	expect(1, "approved", "access by ticket CHG-1 until 2026-11-23T10:00:00Z");
	expect_allow(NOW + 2 * H);
}

static void test_unknown(void **state)
{
	fx.req.ticket_id = "CHG-404";
	decide(NULL);
	expect(0, "ticket-unknown", "ticket CHG-404 is not known");
	/* What the engineer typed comes back printable and cut. */
	fx.req.ticket_id = "CHG\n\x1b[31m-1";
	decide(NULL);
	expect(0, "ticket-unknown", "ticket CHG??[31m-1 is not known");
	fx.req.ticket_id =
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	decide(NULL);
	expect(0, "ticket-unknown",
	       "ticket AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA is not "
	       "known");
}

static void test_not_approved(void **state)
{
	fx.t.state = TICKET_PENDING;
	decide(&fx.t);
	expect(0, "ticket-not-approved", "ticket CHG-1 is not approved (pending)");
	fx.t.state = TICKET_REJECTED;
	decide(&fx.t);
	expect(0, "ticket-not-approved", "ticket CHG-1 is not approved (rejected)");
	fx.t.state = TICKET_CLOSED;
	decide(&fx.t);
	expect(0, "ticket-not-approved", "ticket CHG-1 is not approved (closed)");
	fx.t.state = 0;
	decide(&fx.t);
	expect(0, "ticket-not-approved", "ticket CHG-1 is not approved (unknown state)");
}

static void test_assignment(void **state)
{
	fx.req.user = "eve";
	fx.req.groups = g_dev;
	decide(&fx.t);
	expect(0, "ticket-not-assigned", "ticket CHG-1 is not assigned to you");
	/* A user with no groups at all. */
	fx.req.groups = NULL;
	fx.req.n_groups = 0;
	decide(&fx.t);
	expect(0, "ticket-not-assigned", "ticket CHG-1 is not assigned to you");
	/* Assigned through a group; no recurring window names frank or dba. */
	fx.req.user = "frank";
	fx.req.groups = g_dba;
	fx.req.n_groups = 1;
	decide(&fx.t);
	expect_allow(NOW + 2 * H);
	/* A name that only shares a prefix does not match. */
	fx.req.user = "alic";
	fx.req.groups = g_dev;
	decide(&fx.t);
	expect(0, "ticket-not-assigned", "ticket CHG-1 is not assigned to you");
}

static void test_host(void **state)
{
	fx.t.hosts = t_hosts;
	fx.t.n_hosts = 2;
	fx.req.host = "bastion3";
	decide(&fx.t);
	expect(0, "ticket-host", "ticket CHG-1 does not cover host bastion3");
	fx.req.host = NULL;
	decide(&fx.t);
	expect(0, "ticket-host", "ticket CHG-1 does not cover host ");
	fx.req.host = "BASTION2";
	decide(&fx.t);
	expect_allow(NOW + 2 * H);
	/* No hosts: any host. */
	fx.t.n_hosts = 0;
	fx.req.host = "elsewhere";
	decide(&fx.t);
	expect_allow(NOW + 2 * H);
}

static void test_ticket_times(void **state)
{
	fx.req.now = fx.t.not_before - 1;
	decide(&fx.t);
	expect(0, "ticket-not-yet-open", "ticket CHG-1 opens at 2026-11-23T07:00:00Z");
	/* Inclusive start; the ticket starts before the window, so test as frank. */
	fx.req.user = "frank";
	fx.req.groups = g_dba;
	fx.req.now = fx.t.not_before;
	decide(&fx.t);
	expect_allow(NOW + 2 * H);
	fx.req.now = fx.t.not_after - 1;
	decide(&fx.t);
	expect_allow(NOW + 2 * H);
	/* Exclusive end. */
	fx.req.now = fx.t.not_after;
	decide(&fx.t);
	expect(0, "ticket-expired", "ticket CHG-1 ended at 2026-11-23T10:00:00Z");
}

static void test_recurring(void **state)
{
	fx.t.not_before = 0;
	fx.t.not_after = 2000000000;
	/* Mon-Fri window on a Saturday. */
	fx.req.now = SAT;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
	/* Monday 08:59:59 and 09:00:00 Berlin (CET). */
	fx.req.now = NOW - 1;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
	fx.req.now = NOW;
	decide(&fx.t);
	expect_allow(WEND);
	/* 16:59:59 inside, 17:00:00 outside. */
	fx.req.now = WEND - 1;
	decide(&fx.t);
	expect_allow(WEND);
	fx.req.now = WEND;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");

	/* carol's own window, by user name, in UTC. */
	fx.req.user = "carol";
	fx.req.groups = g_dba;
	fx.req.now = SAT;
	decide(&fx.t);
	expect_allow(SAT + 2 * H);
	fx.req.now = SAT - 1;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
	/* Both windows apply to carol in ops: either will do. */
	fx.req.groups = g_opsdba;
	fx.req.n_groups = 2;
	fx.req.now = NOW + H;
	decide(&fx.t);
	expect_allow(WEND);
	fx.req.now = SAT + H;
	decide(&fx.t);
	expect_allow(SAT + 2 * H);

	/* frank (dba) is named by no window: any time. */
	fx.req.user = "frank";
	fx.req.groups = g_dba;
	fx.req.n_groups = 1;
	fx.req.now = SAT;
	decide(&fx.t);
	expect_allow(2000000000);
}

/* Europe/Berlin across the 2026 changes: 03-29 01:00Z and 10-25 01:00Z. */
static void test_berlin_dst(void **state)
{
	fx.t.not_before = 0;
	fx.t.not_after = 2000000000;
	/* Friday before: 09:00 CET is 08:00Z. */
	fx.req.now = 1774598400 - 1;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
	fx.req.now = 1774598400;
	decide(&fx.t);
	expect_allow(1774598400 + 8 * H);
	/* Monday after: 09:00 CEST is 07:00Z, 17:00 CEST is 15:00Z. */
	fx.req.now = 1774854000 - 1;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
	fx.req.now = 1774854000;
	decide(&fx.t);
	expect_allow(1774882800);
	fx.req.now = 1774882800;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");

	/* Windows over the change itself, every day. */
	fx.rec[0].days = ALL;
	fx.rec[0].start = 60;
	fx.rec[0].end = 240;
	/* 01:30 CET; the window ends at 04:00 CEST = 02:00Z. */
	fx.req.now = 1774744200;
	decide(&fx.t);
	expect_allow(1774749600);
	/* Ending at 02:30, an hour that does not exist: it ends with the change at 01:00Z. */
	fx.rec[0].end = 150;
	decide(&fx.t);
	expect_allow(1774746000);
	/* 03:00 CEST, after the skipped hour: past 02:30. */
	fx.req.now = 1774746000;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
	/* Autumn: 01:30 CEST; 04:00 CET is 03:00Z. */
	fx.rec[0].end = 240;
	fx.req.now = 1792884600;
	decide(&fx.t);
	expect_allow(1792897200);
	/* The repeated hour: 02:15 CEST ends at 02:30 CEST, 02:15 CET at 02:30 CET. */
	fx.rec[0].start = 120;
	fx.rec[0].end = 150;
	fx.req.now = 1792887300;
	decide(&fx.t);
	expect_allow(1792888200);
	fx.req.now = 1792890900;
	decide(&fx.t);
	expect_allow(1792891800);
	/* Between the two: 02:30-02:59 CEST is outside. */
	fx.req.now = 1792888200;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
	/* A window to midnight ends at the next local midnight. */
	fx.rec[0].start = 0;
	fx.rec[0].end = 1440;
	fx.req.now = NOW;
	decide(&fx.t);
	expect_allow(NOW + 15 * H);
}

static void test_freeze(void **state)
{
	fx.freeze[0] = (struct config_freeze){
	        .start = NOW + H / 2, .end = NOW + H, .reason = (char *)"quarterly close"};
	fx.cfg.windows.n_freeze = 1;
	/* Allowed before it, until it starts. */
	fx.req.now = NOW + H / 2 - 1;
	decide(&fx.t);
	expect_allow(NOW + H / 2);
	fx.req.now = NOW + H / 2;
	decide(&fx.t);
	expect(0, "freeze-window", "change freeze until 2026-11-23T09:00:00Z: quarterly close");
	fx.req.now = NOW + H - 1;
	decide(&fx.t);
	expect(0, "freeze-window", "change freeze until 2026-11-23T09:00:00Z: quarterly close");
	fx.req.now = NOW + H;
	decide(&fx.t);
	expect_allow(NOW + 2 * H);
	fx.freeze[0].reason = NULL;
	fx.req.now = NOW + H / 2;
	decide(&fx.t);
	expect(0, "freeze-window", "change freeze until 2026-11-23T09:00:00Z");
	/* A recurring window is checked first. */
	fx.req.now = SAT;
	fx.freeze[0].start = SAT - H;
	fx.freeze[0].end = SAT + H;
	fx.t.not_after = SAT + 2 * H;
	decide(&fx.t);
	expect(0, "outside-recurring-window", "now is outside your access windows");
}

/* not_after is the least of the ticket's end, the window's end and the next freeze. */
static void test_not_after(void **state)
{
	fx.freeze[0] = (struct config_freeze){.start = NOW + 5 * H, .end = NOW + 6 * H};
	fx.freeze[1] = (struct config_freeze){.start = NOW - 5 * H, .end = NOW - 4 * H};
	fx.cfg.windows.n_freeze = 2;
	/* The ticket ends first (10:00Z). */
	decide(&fx.t);
	expect_allow(NOW + 2 * H);
	/* The freeze starts first (13:00Z); a past freeze does not count. */
	fx.t.not_after = NOW + 24 * H;
	decide(&fx.t);
	expect_allow(NOW + 5 * H);
	/* The window ends first (16:00Z). */
	fx.freeze[0].start = NOW + 12 * H;
	fx.freeze[0].end = NOW + 13 * H;
	decide(&fx.t);
	expect_allow(WEND);
	/* Two windows hold now: the later end counts. */
	fx.rec[2] = (struct config_recurring){.groups = g_ops,
	                                      .n_groups = 1,
	                                      .days = ALL,
	                                      .start = 8 * 60,
	                                      .end = 18 * 60 + 30,
	                                      .tz = (char *)"Europe/Berlin"};
	fx.cfg.windows.n_recurring = 3;
	decide(&fx.t);
	expect_allow(WEND + 90 * 60);
}

static void test_errors(void **state)
{
	struct policy_decision d;

	fx.rec[0].tz = (char *)"Nowhere/Zone";
	memset(&d, 0x5a, sizeof(d));
	assert_int_equal(policy_decide_ticket(&fx.cfg, &fx.req, &fx.t, &d), JIT_ERR_SYSTEM);
	assert_int_equal(d.allow, 0);
	assert_null(d.rule);
	fx.rec[0].tz = (char *)"../etc/passwd";
	assert_int_equal(policy_decide_ticket(&fx.cfg, &fx.req, &fx.t, &d),
	                 JIT_ERR_INVALID_ARGUMENT);
	fx.rec[0].tz = (char *)"Europe/Berlin";
	fx.req.user = NULL;
	assert_int_equal(policy_decide_ticket(&fx.cfg, &fx.req, &fx.t, &d),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(policy_decide_breakglass(&fx.cfg, &fx.req, "x", &d),
	                 JIT_ERR_INVALID_ARGUMENT);
	fx.req.user = "alice";
	fx.cfg.groups = CONFIG_TICKETS | CONFIG_WINDOWS;
	assert_int_equal(policy_decide_ticket(&fx.cfg, &fx.req, &fx.t, &d),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(policy_decide_breakglass(&fx.cfg, &fx.req, "x", &d),
	                 JIT_ERR_INVALID_ARGUMENT);
	fx.cfg.groups = CONFIG_ALL;
	assert_int_equal(policy_decide_breakglass(&fx.cfg, &fx.req, NULL, &d),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_null(d.rule);
}

static void breakglass(const char *reason)
{
	memset(&fx.d, 0x5a, sizeof(fx.d));
	assert_int_equal(policy_decide_breakglass(&fx.cfg, &fx.req, reason, &fx.d), 0);
	assert_int_equal(fx.d.breakglass, 1);
}

static void expect_breakglass(void)
{
	expect(1, "breakglass-allowed", "break-glass access for 15m; this is audited");
	assert_int_equal(fx.d.not_after, fx.req.now + 900);
	assert_int_equal(fx.d.validity, 900);
	assert_ptr_equal(fx.d.principals, bg_princ);
	assert_int_equal(fx.d.n_principals, 1);
}

static void test_breakglass(void **state)
{
	const char *ok = "database down, paging";

	fx.req.ticket_id = NULL;
	fx.req.user = "dave";
	fx.req.groups = g_dev;
	breakglass(ok);
	expect(0, "breakglass-not-in-group", "you are not in the break-glass group");
	fx.req.groups = g_bg;
	fx.req.n_groups = 2;
	breakglass(ok);
	expect_breakglass();
	/* Twenty bytes after trimming spaces, and nineteen. */
	breakglass("   12345678901234567890   ");
	expect_breakglass();
	breakglass("   1234567890123456789   ");
	expect(0, "breakglass-reason-too-short", "the reason must be at least 20 characters");
	breakglass("");
	expect(0, "breakglass-reason-too-short", "the reason must be at least 20 characters");
	/* Control characters and anything outside printable ASCII are refused. */
	breakglass("database down,\tpaging on-call");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("database down, paging\x1b[2J on-call");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("database down, paging \xc2\x85 on-call");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("database down, paging \xff on-call");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("database down, paging \xc0\xa0 on-call");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("database down, paging \xed\xa0\x80 on-call");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("Datenbank ausgefallen, St\xc3\xb6rung \xe2\x82\xac \xf0\x9f\x94\xa5");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	/* Seven zero-width spaces are 21 bytes and nothing to read. */
	breakglass("\xe2\x80\x8b\xe2\x80\x8b\xe2\x80\x8b\xe2\x80\x8b\xe2\x80\x8b\xe2\x80\x8b"
	           "\xe2\x80\x8b");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("database down, paging\xc2\xa0on-call");
	expect(0, "breakglass-reason-invalid",
	       "the reason must be printable ASCII text on one line");
	breakglass("Datenbank ausgefallen, Stoerung P1 ~ [x] {y} | `z`");
	expect_breakglass();
	/* Freeze windows and recurring windows do not block break-glass. */
	fx.freeze[0] = (struct config_freeze){.start = SAT - H, .end = SAT + H};
	fx.cfg.windows.n_freeze = 1;
	fx.req.now = SAT;
	fx.req.groups = g_bg;
	breakglass(ok);
	expect_breakglass();
	fx.cfg.breakglass.enabled = 0;
	breakglass(ok);
	expect(0, "breakglass-disabled", "break-glass is not enabled");
}

static void test_log_line(void **state)
{
	char line[POLICY_LINE_MAX], small[64];
	char longer[3000];
	size_t i;

	fx.req.now = fx.t.not_after;
	decide(&fx.t);
	assert_int_equal(policy_log_line(&fx.req, NULL, &fx.d, line, sizeof(line)), 0);
	assert_string_equal(line,
	                    "decision=deny rule=ticket-expired user=alice ticket=CHG-1 "
	                    "host=bastion1 msg=\"ticket CHG-1 ended at 2026-11-23T10:00:00Z\"");
	fx.req.now = NOW;
	decide(&fx.t);
	assert_int_equal(policy_log_line(&fx.req, NULL, &fx.d, line, sizeof(line)), 0);
	assert_string_equal(line, "decision=allow rule=approved user=alice ticket=CHG-1 "
	                          "host=bastion1 not_after=2026-11-23T10:00:00Z validity=300 "
	                          "principals=root,deploy msg=\"access by ticket CHG-1 until "
	                          "2026-11-23T10:00:00Z\"");
	/* Whatever the engineer typed is quoted and escaped. */
	fx.req.ticket_id = "CHG 1\" x=\\y\n\xc3\xb6";
	decide(NULL);
	assert_int_equal(policy_log_line(&fx.req, NULL, &fx.d, line, sizeof(line)), 0);
	assert_string_equal(line, "decision=deny rule=ticket-unknown user=alice "
	                          "ticket=\"CHG 1\\\" x=\\\\y\\x0a\\xc3\\xb6\" host=bastion1 "
	                          "msg=\"ticket CHG 1\\\" x=\\\\y??? is not known\"");
	/* Break-glass logs the reason. */
	fx.req.ticket_id = NULL;
	fx.req.groups = g_bg;
	fx.req.n_groups = 2;
	breakglass("disk full on db1, paging");
	assert_int_equal(
	        policy_log_line(&fx.req, "disk full on db1, paging", &fx.d, line, sizeof(line)), 0);
	assert_string_equal(line, "decision=allow rule=breakglass-allowed user=alice breakglass=1 "
	                          "host=bastion1 not_after=2026-11-23T08:15:00Z validity=900 "
	                          "principals=breakglass-root reason=\"disk full on db1, paging\" "
	                          "msg=\"break-glass access for 15m; this is audited\"");
	/* Too small a buffer: an error and an empty line. */
	assert_int_equal(policy_log_line(&fx.req, NULL, &fx.d, small, sizeof(small)),
	                 JIT_ERR_NO_BUFFER_SPACE);
	assert_string_equal(small, "");
	/* Long and hostile values are cut; the line fits and holds no control character. */
	memset(longer, '\n', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	fx.req.user = longer;
	fx.req.host = longer;
	assert_int_equal(policy_log_line(&fx.req, longer, &fx.d, line, sizeof(line)), 0);
	for (i = 0; line[i] != '\0'; i++)
		assert_true(line[i] >= 0x20 && line[i] < 0x7f);
	assert_non_null(strstr(line, "user=\"\\x0a\\x0a"));
	assert_non_null(strstr(line, "...\" breakglass=1"));
}

static void test_speed(void **state)
{
	struct timespec a, b;
	int i, n = 2000;
	double us;

	/* Two windows in two zones: two zone files read per decision. */
	fx.req.groups = g_ops;
	fx.rec[1].users = NULL;
	fx.rec[1].n_users = 0;
	fx.rec[1].groups = g_ops;
	fx.rec[1].n_groups = 1;
	fx.rec[1].days = ALL;
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	for (i = 0; i < n; i++)
		decide(&fx.t);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &b), 0);
	expect_allow(NOW + 2 * H);
	us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / n;
	print_message("policy_decide_ticket with two zones: %.1f us\n", us);
	assert_true(us < 1000.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_approved, setup),
	        cmocka_unit_test_setup(test_unknown, setup),
	        cmocka_unit_test_setup(test_not_approved, setup),
	        cmocka_unit_test_setup(test_assignment, setup),
	        cmocka_unit_test_setup(test_host, setup),
	        cmocka_unit_test_setup(test_ticket_times, setup),
	        cmocka_unit_test_setup(test_recurring, setup),
	        cmocka_unit_test_setup(test_berlin_dst, setup),
	        cmocka_unit_test_setup(test_freeze, setup),
	        cmocka_unit_test_setup(test_not_after, setup),
	        cmocka_unit_test_setup(test_errors, setup),
	        cmocka_unit_test_setup(test_breakglass, setup),
	        cmocka_unit_test_setup(test_log_line, setup),
	        cmocka_unit_test_setup(test_speed, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
