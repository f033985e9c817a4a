/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit.conf and the tickets file: exact values and defaults, each kind of
 * refusal with its exact code and message (file:line: setting: why), the
 * file safety rules, "@include", and finding one ticket among 100,000.
 */
#define _GNU_SOURCE /* nftw flags */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/*
 * By path: the build directory's generated config.h (PACKAGE_VERSION)
 * comes first on the include path and has the same name.
 */
#include "config.h"
#include "err.h"

static char dir[] = "/tmp/test_config.XXXXXX";
static char conf[PATH_MAX];    /* dir/jit.conf */
static char tickets[PATH_MAX]; /* dir/tickets.conf */
static char srcdir[PATH_MAX];  /* the source tree, for the examples */

static void make_path(char *out, const char *name)
{
	assert_true((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	FILE *f;

	unlink(path);
	assert_non_null(f = fopen(path, "wx"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The source tree, from this file's name as compiled and the executable's place. */
static void find_srcdir(void)
{
	char exe[PATH_MAX], *p;
	const char *file = __FILE__, *tail = "tests/unit/test_config.c";
	ssize_t n;
	size_t fl = strlen(file), tl = strlen(tail);

	assert_true(fl >= tl && strcmp(file + fl - tl, tail) == 0);
	if (file[0] == '/') {
		assert_true((size_t)snprintf(srcdir, sizeof(srcdir), "%.*s", (int)(fl - tl), file) <
		            sizeof(srcdir));
		return;
	}
	/* Relative to the build directory: BUILD/tests/unit/test_config. */
	assert_true((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0);
	exe[n] = '\0';
	for (int i = 0; i < 3; i++) {
		assert_non_null(p = strrchr(exe, '/'));
		*p = '\0';
	}
	assert_true((size_t)snprintf(srcdir, sizeof(srcdir), "%s/%.*s", exe, (int)(fl - tl), file) <
	            sizeof(srcdir));
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(conf, sizeof(conf), "%s/jit.conf", dir);
	snprintf(tickets, sizeof(tickets), "%s/tickets.conf", dir);
	find_srcdir();
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to dir/jit.conf (0644) and loads it. */
static int load(const char *text, unsigned groups, struct jit_config **c, char *msg)
{
	write_file(conf, text, strlen(text), 0644);
	return config_load(conf, groups, c, msg, CONFIG_MSG_MAX);
}

/* msg is path followed by exactly rest. */
static void assert_msg(const char *msg, const char *path, const char *rest)
{
	size_t n = strlen(path);

	if (strncmp(msg, path, n) != 0 || strcmp(msg + n, rest) != 0)
		fail_msg("message \"%s\", expected \"%s%s\"", msg, path, rest);
}

/* Loads text expecting refusal with code and the message conf + rest. */
static void refused(const char *text, unsigned groups, int code, const char *rest)
{
	struct jit_config *c = (struct jit_config *)1;
	char msg[CONFIG_MSG_MAX];

	assert_int_equal(load(text, groups, &c, msg), code);
	assert_null(c);
	assert_msg(msg, conf, rest);
}

static const char full[] =
        "# every key, none at its default\n"
        "ca = {\n"
        "  endpoints = [ \"unix:/run/jit-ca/ca.sock\", \"tls://ca2.example.org:7443\",\n"
        "                \"tls://[2001:db8::1]:443\" ];\n"
        "  timeout = \"4s\";\n"
        "  client_tls = { cert = \"/etc/jit/tls/c.crt\"; key = \"/etc/jit/tls/c.key\";\n"
        "                 ca = \"/etc/jit/tls/ca.crt\"; };\n"
        "  key = \"/var/lib/jit-ca/ca_key\";\n"
        "  listen = [ \"unix:/run/jit-ca/ca.sock\", \"tls://0.0.0.0:7443\" ];\n"
        "  tls = { cert = \"/etc/jit-ca/s.crt\"; key = \"/etc/jit-ca/s.key\";\n"
        "          client_ca = \"/etc/jit-ca/clients.crt\"; };\n"
        "  state_dir = \"/srv/jit-ca\";\n"
        "  audit_log = \"/srv/jit-ca/audit.jsonl\";\n"
        "  audit_sync = \"syslog-only\";\n"
        "  max_validity = \"15m\";\n"
        "  breakglass_max_validity = \"3m\";\n"
        "  max_connections = 2048; request_timeout = \"7s\"; max_request = 131072;\n"
        "  requesters = (\n"
        "    { name = \"bastion-1\"; unix_users = [ \"root\", \"jit\" ];\n"
        "      unix_groups = [ \"jit-agents\" ]; tls_names = [ \"bastion-1.example.org\" ];\n"
        "      principals = [ \"*\" ]; max_validity = \"10m\"; breakglass_max_validity = \"2m\";\n"
        "      source_address = \"192.0.2.10/32,2001:db8::/64\";\n"
        "      extensions = [ \"permit-pty\", \"permit-port-forwarding\" ];\n"
        "      critical_options = [ \"source-address\", \"force-command\" ]; },\n"
        "    { name = \"bastion-2\"; tls_names = [ \"bastion-2.example.org\" ];\n"
        "      principals = [ \"deploy\" ]; }\n"
        "  );\n"
        "};\n"
        "tickets = { backend = \"command\"; file = \"/etc/jit/t.conf\";\n"
        "            command = [ \"/usr/libexec/jit/jira-lookup\", \"--project\", \"CHG\" ];\n"
        "            timeout = \"2s\"; };\n"
        "certificates = { validity = \"4m\"; extensions = [ ]; source_address = \"10.0.0.0/8\"; "
        "};\n"
        "windows = {\n"
        "  recurring = ( { groups = [ \"eng\" ]; users = [ ]; days = \"Mon-Fri\"; start = "
        "\"08:00\";\n"
        "                  end = \"18:00\"; tz = \"Europe/Berlin\"; },\n"
        "                { users = [ \"bob\" ]; days = \"Sat,Sun\"; start = \"10:00\"; end = "
        "\"24:00\"; } );\n"
        "  freeze = ( { start = \"2026-12-24T00:00:00Z\"; end = \"2026-12-27T00:00:00Z\";\n"
        "               reason = \"holidays\"; } );\n"
        "};\n"
        "breakglass = { keyword = \"EMERGENCY\"; group = \"jit-breakglass\"; validity = \"90s\";\n"
        "               min_reason = 30; principals = [ \"root\", \"admin\" ]; session_max = "
        "\"45m\";\n"
        "               notify = [ \"/usr/libexec/jit/notify\", \"--page\" ];\n"
        "               notify_timeout = \"10s\"; };\n";

static void assert_strv(char **v, size_t n, const char *const *want, size_t want_n)
{
	size_t i;

	assert_int_equal(n, want_n);
	assert_non_null(v);
	for (i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
	assert_null(v[n]);
}

#define STRV(v, n, ...)                                                                            \
	do {                                                                                       \
		static const char *const want_[] = {__VA_ARGS__};                                  \
		assert_strv(v, n, want_, sizeof(want_) / sizeof(want_[0]));                        \
	} while (0)

static void test_full(void **state)
{
	struct jit_config *c = NULL;
	const struct config_ca *ca;
	const struct config_requester *r;
	char msg[CONFIG_MSG_MAX];

	(void)state;
	assert_int_equal(load(full, CONFIG_ALL, &c, msg), 0);
	assert_string_equal(msg, "");
	assert_non_null(c);
	assert_int_equal(c->groups, CONFIG_ALL);
	ca = &c->ca;
	assert_int_equal(ca->n_endpoints, 3);
	assert_int_equal(ca->endpoints[0].type, CONFIG_ENDPOINT_UNIX);
	assert_string_equal(ca->endpoints[0].text, "unix:/run/jit-ca/ca.sock");
	assert_string_equal(ca->endpoints[0].path, "/run/jit-ca/ca.sock");
	assert_null(ca->endpoints[0].host);
	assert_int_equal(ca->endpoints[1].type, CONFIG_ENDPOINT_TLS);
	assert_string_equal(ca->endpoints[1].host, "ca2.example.org");
	assert_int_equal(ca->endpoints[1].port, 7443);
	assert_null(ca->endpoints[1].path);
	assert_int_equal(ca->endpoints[2].type, CONFIG_ENDPOINT_TLS);
	assert_string_equal(ca->endpoints[2].host, "2001:db8::1");
	assert_int_equal(ca->endpoints[2].port, 443);
	assert_int_equal(ca->timeout, 4);
	assert_string_equal(ca->client_tls.cert, "/etc/jit/tls/c.crt");
	assert_string_equal(ca->client_tls.key, "/etc/jit/tls/c.key");
	assert_string_equal(ca->client_tls.ca, "/etc/jit/tls/ca.crt");
	assert_string_equal(ca->key, "/var/lib/jit-ca/ca_key");
	assert_int_equal(ca->n_listen, 2);
	assert_string_equal(ca->listen[0].path, "/run/jit-ca/ca.sock");
	assert_string_equal(ca->listen[1].host, "0.0.0.0");
	assert_int_equal(ca->listen[1].port, 7443);
	assert_string_equal(ca->tls.cert, "/etc/jit-ca/s.crt");
	assert_string_equal(ca->tls.key, "/etc/jit-ca/s.key");
	assert_string_equal(ca->tls.ca, "/etc/jit-ca/clients.crt");
	assert_string_equal(ca->state_dir, "/srv/jit-ca");
	assert_string_equal(ca->audit_log, "/srv/jit-ca/audit.jsonl");
	assert_int_equal(ca->audit_sync, CONFIG_AUDIT_SYSLOG_ONLY);
	assert_int_equal(ca->max_validity, 900);
	assert_int_equal(ca->breakglass_max_validity, 180);
	assert_int_equal(ca->max_connections, 2048);
	assert_int_equal(ca->request_timeout, 7);
	assert_int_equal(ca->max_request, 131072);
	assert_int_equal(ca->n_requesters, 2);
	r = &ca->requesters[0];
	assert_string_equal(r->name, "bastion-1");
	STRV(r->unix_users, r->n_unix_users, "root", "jit");
	STRV(r->unix_groups, r->n_unix_groups, "jit-agents");
	STRV(r->tls_names, r->n_tls_names, "bastion-1.example.org");
	STRV(r->principals, r->n_principals, "*");
	assert_int_equal(r->max_validity, 600);
	assert_int_equal(r->breakglass_max_validity, 120);
	assert_string_equal(r->source_address, "192.0.2.10/32,2001:db8::/64");
	STRV(r->extensions, r->n_extensions, "permit-pty", "permit-port-forwarding");
	STRV(r->critical_options, r->n_critical_options, "source-address", "force-command");
	/* The second inherits the CA's caps and the default lists. */
	r = &ca->requesters[1];
	assert_string_equal(r->name, "bastion-2");
	assert_int_equal(r->n_unix_users, 0);
	assert_int_equal(r->n_unix_groups, 0);
	STRV(r->tls_names, r->n_tls_names, "bastion-2.example.org");
	STRV(r->principals, r->n_principals, "deploy");
	assert_int_equal(r->max_validity, 900);
	assert_int_equal(r->breakglass_max_validity, 180);
	assert_null(r->source_address);
	STRV(r->extensions, r->n_extensions, "permit-pty");
	STRV(r->critical_options, r->n_critical_options, "source-address");

	assert_int_equal(c->tickets.backend, CONFIG_TICKETS_COMMAND);
	assert_string_equal(c->tickets.file, "/etc/jit/t.conf");
	STRV(c->tickets.command, c->tickets.n_command, "/usr/libexec/jit/jira-lookup", "--project",
	     "CHG");
	assert_int_equal(c->tickets.timeout, 2);

	assert_int_equal(c->certificates.validity, 240);
	assert_int_equal(c->certificates.n_extensions, 0);
	assert_non_null(c->certificates.extensions);
	assert_null(c->certificates.extensions[0]);
	assert_string_equal(c->certificates.source_address, "10.0.0.0/8");

	assert_int_equal(c->windows.n_recurring, 2);
	STRV(c->windows.recurring[0].groups, c->windows.recurring[0].n_groups, "eng");
	assert_int_equal(c->windows.recurring[0].n_users, 0);
	assert_int_equal(c->windows.recurring[0].days, 0x3e); /* Mon..Fri: bits 1..5 */
	assert_int_equal(c->windows.recurring[0].start, 8 * 60);
	assert_int_equal(c->windows.recurring[0].end, 18 * 60);
	assert_string_equal(c->windows.recurring[0].tz, "Europe/Berlin");
	assert_int_equal(c->windows.recurring[1].n_groups, 0);
	STRV(c->windows.recurring[1].users, c->windows.recurring[1].n_users, "bob");
	assert_int_equal(c->windows.recurring[1].days, 0x41); /* Sun (0) and Sat (6) */
	assert_int_equal(c->windows.recurring[1].start, 10 * 60);
	assert_int_equal(c->windows.recurring[1].end, 24 * 60);
	assert_string_equal(c->windows.recurring[1].tz, "UTC");
	assert_int_equal(c->windows.n_freeze, 1);
	assert_int_equal(c->windows.freeze[0].start, 1798070400ULL);
	assert_int_equal(c->windows.freeze[0].end, 1798329600ULL);
	assert_string_equal(c->windows.freeze[0].reason, "holidays");

	assert_int_equal(c->breakglass.enabled, 1);
	assert_string_equal(c->breakglass.keyword, "EMERGENCY");
	assert_string_equal(c->breakglass.group, "jit-breakglass");
	assert_int_equal(c->breakglass.validity, 90);
	assert_int_equal(c->breakglass.min_reason, 30);
	STRV(c->breakglass.principals, c->breakglass.n_principals, "root", "admin");
	assert_int_equal(c->breakglass.session_max, 45 * 60);
	STRV(c->breakglass.notify, c->breakglass.n_notify, "/usr/libexec/jit/notify", "--page");
	assert_int_equal(c->breakglass.notify_timeout, 10);
	config_free(c);
}

static void test_defaults(void **state)
{
	struct jit_config *c = NULL;
	char msg[CONFIG_MSG_MAX];

	(void)state;
	/* A bastion's minimum: everything but the CA endpoint has a default. */
	assert_int_equal(load("ca = { endpoints = [ \"unix:/run/ca.sock\" ]; };\n",
	                      CONFIG_CA_CLIENT | CONFIG_TICKETS | CONFIG_CERTIFICATES |
	                              CONFIG_WINDOWS | CONFIG_BREAKGLASS,
	                      &c, msg),
	                 0);
	assert_int_equal(c->ca.n_endpoints, 1);
	assert_int_equal(c->ca.timeout, 3);
	assert_null(c->ca.client_tls.cert);
	assert_null(c->ca.key);
	assert_int_equal(c->ca.n_requesters, 0);
	assert_int_equal(c->tickets.backend, CONFIG_TICKETS_FILE);
	assert_string_equal(c->tickets.file, "/etc/jit/tickets.conf");
	assert_int_equal(c->tickets.n_command, 0);
	assert_null(c->tickets.command);
	assert_int_equal(c->tickets.timeout, 3);
	assert_int_equal(c->certificates.validity, 300);
	STRV(c->certificates.extensions, c->certificates.n_extensions, "permit-pty");
	assert_null(c->certificates.source_address);
	assert_int_equal(c->windows.n_recurring, 0);
	assert_int_equal(c->windows.n_freeze, 0);
	/* No breakglass group: break-glass is off, and that is no error. */
	assert_int_equal(c->breakglass.enabled, 0);
	assert_null(c->breakglass.group);
	config_free(c);

	/* The service's minimum. */
	assert_int_equal(load("ca = { key = \"/k\"; listen = [ \"unix:/s\" ];\n"
	                      "  requesters = ( { name = \"b\"; unix_users = [ \"root\" ];\n"
	                      "                   principals = [ \"*\" ]; } ); };\n",
	                      CONFIG_CA_SERVICE, &c, msg),
	                 0);
	assert_int_equal(c->ca.n_endpoints, 0);
	assert_string_equal(c->ca.state_dir, "/var/lib/jit-ca");
	assert_string_equal(c->ca.audit_log, "/var/log/jit-ca/audit.jsonl");
	assert_int_equal(c->ca.audit_sync, CONFIG_AUDIT_FSYNC);
	assert_int_equal(c->ca.max_validity, 600);
	assert_int_equal(c->ca.breakglass_max_validity, 120);
	assert_int_equal(c->ca.max_connections, 1024);
	assert_int_equal(c->ca.request_timeout, 5);
	assert_int_equal(c->ca.max_request, 65536);
	assert_int_equal(c->ca.requesters[0].max_validity, 600);
	assert_int_equal(c->ca.requesters[0].breakglass_max_validity, 120);
	STRV(c->ca.requesters[0].extensions, c->ca.requesters[0].n_extensions, "permit-pty");
	STRV(c->ca.requesters[0].critical_options, c->ca.requesters[0].n_critical_options,
	     "source-address");
	config_free(c);

	/* Break-glass present: its defaults. */
	assert_int_equal(load("breakglass = { group = \"g\"; principals = [ \"root\" ]; };\n",
	                      CONFIG_BREAKGLASS, &c, msg),
	                 0);
	assert_int_equal(c->breakglass.enabled, 1);
	assert_string_equal(c->breakglass.keyword, "BREAK-GLASS");
	assert_int_equal(c->breakglass.validity, 120);
	assert_int_equal(c->breakglass.min_reason, 20);
	assert_int_equal(c->breakglass.session_max, 1800);
	assert_int_equal(c->breakglass.n_notify, 0);
	assert_null(c->breakglass.notify);
	assert_int_equal(c->breakglass.notify_timeout, 5);
	config_free(c);

	/* An empty file is fine for a program needing only optional groups. */
	assert_int_equal(load("", CONFIG_TICKETS | CONFIG_WINDOWS, &c, msg), 0);
	assert_int_equal(c->tickets.timeout, 3);
	config_free(c);
}

/* The shipped examples load, whole. */
static void test_examples(void **state)
{
	char path[PATH_MAX * 2], msg[CONFIG_MSG_MAX];
	struct jit_config *c = NULL;
	struct tickets *t = NULL;
	struct ticket *one = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/config/jit.conf.example", srcdir);
	if (config_load(path, CONFIG_ALL, &c, msg, sizeof(msg)) != 0)
		fail_msg("%s", msg);
	assert_int_equal(c->ca.n_requesters, 1);
	assert_string_equal(c->ca.requesters[0].name, "bastion-1");
	assert_int_equal(c->breakglass.enabled, 1);
	config_free(c);
	snprintf(path, sizeof(path), "%s/config/tickets.conf.example", srcdir);
	if (tickets_load(path, &t, msg, sizeof(msg)) != 0)
		fail_msg("%s", msg);
	assert_int_equal(t->n, 2);
	tickets_free(t);
	assert_int_equal(tickets_lookup(path, "CHG-1002", &one, msg, sizeof(msg)), 0);
	assert_int_equal(one->state, TICKET_PENDING);
	STRV(one->hosts, one->n_hosts, "db1.example.org", "db2.example.org");
	assert_int_equal(one->not_before, 1795546800ULL); /* 20:00+01:00 */
	assert_int_equal(one->not_after, 1795557600ULL);
	ticket_free(one);
}

#define CLIENT "ca = { endpoints = [ \"unix:/s\" ]; };\n"

static void test_unknown(void **state)
{
	(void)state;
	refused(CLIENT "tickets = {\n  backend = \"file\";\n  bogus = 1;\n};\n",
	        CONFIG_CA_CLIENT | CONFIG_TICKETS, JIT_ERR_CONFIG_INVALID,
	        ":4: tickets.bogus: unknown setting");
	refused(CLIENT "ticket = { };\n", CONFIG_CA_CLIENT, JIT_ERR_CONFIG_INVALID,
	        ":2: ticket: unknown setting");
	/* Deep inside a list entry, and named by it. */
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ];\n"
	        "  requesters = ( { name = \"b1\"; unix_users = [ \"root\" ];\n"
	        "                   principals = [ \"*\" ]; },\n"
	        "                 { name = \"b2\"; unix_users = [ \"root\" ];\n"
	        "                   principal = [ \"*\" ]; } ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":5: ca.requesters[1].principal: unknown setting (requester \"b2\")");
	/* A long name is cut in the message, and marked. */
	{
		char text[400], expect[300];

		memset(text, 'a', 300);
		strcpy(text + 300, " = 1;\n");
		strcpy(expect, ":1: ");
		memset(expect + 4, 'a', 188);
		strcpy(expect + 4 + 188, "...: unknown setting");
		refused(text, 0, JIT_ERR_CONFIG_INVALID, expect);
	}
	/* In a group the caller did not ask for: still an error. */
	refused(CLIENT "breakglass = { group = \"g\"; principals = [ \"root\" ]; notfy = [ ]; };\n",
	        CONFIG_CA_CLIENT, JIT_ERR_CONFIG_INVALID, ":2: breakglass.notfy: unknown setting");
}

static void test_types(void **state)
{
	(void)state;
	refused("ca = {\n  endpoints = [ \"unix:/s\" ];\n  timeout = 3;\n};\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID, ":3: ca.timeout: expected a string, found an integer");
	refused(CLIENT "breakglass = { group = \"g\"; principals = [ \"root\" ];\n"
	               "  min_reason = \"20\"; };\n",
	        CONFIG_BREAKGLASS, JIT_ERR_CONFIG_INVALID,
	        ":3: breakglass.min_reason: expected an integer, found a string");
	refused(CLIENT "certificates = { extensions = \"permit-pty\"; };\n", CONFIG_CERTIFICATES,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.extensions: expected a list [ ... ], found a string");
	refused(CLIENT "certificates = { extensions = [ 1, 2 ]; };\n", CONFIG_CERTIFICATES,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.extensions[0]: expected a string, found an integer");
	refused(CLIENT "windows = { freeze = { start = \"x\"; }; };\n", CONFIG_WINDOWS,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: windows.freeze: expected a list ( { ... }, ... ), found a group { }");
	refused(CLIENT "windows = ( );\n", CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":2: windows: expected a group { ... }, found a list ( )");
	refused(CLIENT "certificates = { validity = 5.0; };\n", CONFIG_CERTIFICATES,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.validity: expected a string, found a floating-point number");
	refused(CLIENT "certificates = { validity = true; };\n", CONFIG_CERTIFICATES,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.validity: expected a string, found a boolean");
}

static void test_durations(void **state)
{
	(void)state;
	refused("ca = {\n  endpoints = [ \"unix:/s\" ];\n  max_validity = \"5x\";\n};\n",
	        CONFIG_CA_CLIENT, JIT_ERR_CONFIG_INVALID,
	        ":3: ca.max_validity: \"5x\" is not a duration (use e.g. \"90s\", \"5m\", \"2h\")");
	/* A bare number is refused in the config, whatever it would mean. */
	refused(CLIENT "certificates = { validity = \"300\"; };\n", CONFIG_CERTIFICATES,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.validity: \"300\" is not a duration (use e.g. \"90s\", \"5m\", "
	        "\"2h\")");
	refused(CLIENT "certificates = { validity = \"2d\"; };\n", CONFIG_CERTIFICATES,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.validity: \"2d\" is out of range (1s to 1d)");
	refused(CLIENT "certificates = { validity = \"0s\"; };\n", CONFIG_CERTIFICATES,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.validity: \"0s\" is out of range (1s to 1d)");
	refused("ca = { endpoints = [ \"unix:/s\" ]; timeout = \"2m\"; };\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID, ":1: ca.timeout: \"2m\" is out of range (1s to 1m)");
	refused(CLIENT "breakglass = { group = \"g\"; principals = [ \"root\" ];\n"
	               "  validity = \"40m\"; };\n",
	        CONFIG_BREAKGLASS, JIT_ERR_CONFIG_INVALID,
	        ":3: breakglass.validity: 40m exceeds breakglass.session_max (30m)");
	refused(CLIENT "breakglass = { group = \"g\"; principals = [ \"root\" ];\n"
	               "  min_reason = 0; };\n",
	        CONFIG_BREAKGLASS, JIT_ERR_CONFIG_INVALID,
	        ":3: breakglass.min_reason: 0 is out of range (1 to 1024)");
}

static void test_values(void **state)
{
	(void)state;
	refused(CLIENT "certificates = {\n  source_address = \"10.0.0.1/33\"; };\n",
	        CONFIG_CERTIFICATES, JIT_ERR_CONFIG_INVALID,
	        ":3: certificates.source_address: \"10.0.0.1/33\" is not a list of addresses or "
	        "CIDR blocks (e.g. \"10.0.0.0/8,192.0.2.1\")");
	refused(CLIENT "certificates = { source_address = \"10.0.0.1, 10.0.0.2\"; };\n",
	        CONFIG_CERTIFICATES, JIT_ERR_CONFIG_INVALID,
	        ":2: certificates.source_address: \"10.0.0.1, 10.0.0.2\" is not a list of "
	        "addresses "
	        "or CIDR blocks (e.g. \"10.0.0.0/8,192.0.2.1\")");
	refused("ca = { endpoints = [ \"unix:/s\", \"tcp://h:1\" ]; };\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID,
	        ":1: ca.endpoints[1]: \"tcp://h:1\" is not an endpoint (use "
	        "\"unix:/ABSOLUTE/PATH\" or \"tls://HOST:PORT\")");
	refused("ca = { endpoints = [ \"unix:run/ca.sock\" ]; };\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID,
	        ":1: ca.endpoints[0]: \"unix:run/ca.sock\" is not an endpoint (use "
	        "\"unix:/ABSOLUTE/PATH\" or \"tls://HOST:PORT\")");
	refused("ca = { endpoints = [ \"tls://ca.example.org\" ]; };\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID,
	        ":1: ca.endpoints[0]: \"tls://ca.example.org\" is not an endpoint (use "
	        "\"unix:/ABSOLUTE/PATH\" or \"tls://HOST:PORT\")");
	refused("ca = { endpoints = [ \"tls://ca:65536\" ]; };\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID,
	        ":1: ca.endpoints[0]: \"tls://ca:65536\" is not an endpoint (use "
	        "\"unix:/ABSOLUTE/PATH\" or \"tls://HOST:PORT\")");
	refused("ca = { endpoints = [ \"tls://[::1:443\" ]; };\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID,
	        ":1: ca.endpoints[0]: \"tls://[::1:443\" is not an endpoint (use "
	        "\"unix:/ABSOLUTE/PATH\" or \"tls://HOST:PORT\")");
	refused("ca = { endpoints = [ ]; };\n", CONFIG_CA_CLIENT, JIT_ERR_CONFIG_INVALID,
	        ":1: ca.endpoints: must not be empty");
	/* A tls:// endpoint needs the client's certificate. */
	refused("ca = {\n  endpoints = [ \"tls://ca:7443\" ];\n};\n", CONFIG_CA_CLIENT,
	        JIT_ERR_CONFIG_INVALID,
	        ":1: ca.client_tls: missing, required by \"tls://ca:7443\"");
	refused("ca = { endpoints = [ \"unix:/s\" ];\n  client_tls = { cert = \"/c\"; key = "
	        "\"/k\"; "
	        "}; };\n",
	        CONFIG_CA_CLIENT, JIT_ERR_CONFIG_INVALID,
	        ":2: ca.client_tls.ca: missing required setting");
	refused(CLIENT "tickets = { file = \"tickets.conf\"; };\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: tickets.file: \"tickets.conf\" is not an absolute path (must start with "
	        "\"/\", "
	        "no \"..\")");
	refused(CLIENT "tickets = { file = \"/etc/jit/../../tmp/t\"; };\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: tickets.file: \"/etc/jit/../../tmp/t\" is not an absolute path (must start "
	        "with \"/\", no \"..\")");
	refused(CLIENT "tickets = { backend = \"command\"; };\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: tickets.command: missing, required by backend = \"command\"");
	refused(CLIENT "tickets = { backend = \"command\"; command = [ \"jira-lookup\" ]; };\n",
	        CONFIG_TICKETS, JIT_ERR_CONFIG_INVALID,
	        ":2: tickets.command[0]: \"jira-lookup\" is not an absolute path (must start with "
	        "\"/\", no \"..\")");
	refused(CLIENT "tickets = { backend = \"ldap\"; };\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_INVALID,
	        ":2: tickets.backend: \"ldap\" is not a ticket backend (use \"file\" or "
	        "\"command\")");
	refused(CLIENT "breakglass = { group = \"jit breakglass\"; principals = [ \"root\" ]; };\n",
	        CONFIG_BREAKGLASS, JIT_ERR_CONFIG_INVALID,
	        ":2: breakglass.group: \"jit breakglass\" is not a valid name (1 to 256 printable "
	        "ASCII characters, no spaces or commas)");
	refused(CLIENT "breakglass = { group = \"g\"; principals = [ \"root,admin\" ]; };\n",
	        CONFIG_BREAKGLASS, JIT_ERR_CONFIG_INVALID,
	        ":2: breakglass.principals[0]: \"root,admin\" is not a valid name (1 to 256 "
	        "printable ASCII characters, no spaces or commas)");
	refused(CLIENT "breakglass = { group = \"g\"; principals = [ ]; };\n", CONFIG_BREAKGLASS,
	        JIT_ERR_CONFIG_INVALID, ":2: breakglass.principals: must not be empty");
	refused(CLIENT "windows = { freeze = ( { start = \"2026-12-24T00:00:00Z\";\n"
	               "  end = \"2026-12-24\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.freeze[0].end: \"2026-12-24\" is not an RFC 3339 time (e.g. "
	        "\"2026-11-23T08:00:00Z\")");
	refused(CLIENT "windows = { freeze = ( { start = \"2026-12-24T00:00:00Z\";\n"
	               "  end = \"2026-12-24T00:00:00Z\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.freeze[0].end: must be later than start");
	refused(CLIENT "windows = { freeze = ( { start = \"2026-12-24T00:00:00Z\";\n"
	               "  end = \"2026-12-25T00:00:00Z\"; reason = \"a\\tb\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.freeze[0].reason: \"a\\x09b\" contains a control character");
	/* Wrapped by libconfig 1.5 to 1024 if we let it through. */
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ];\n"
	        "  max_request = 4294968320;\n"
	        "  requesters = ( { name = \"b\"; unix_users = [ \"root\" ]; principals = [ \"*\" "
	        "]; "
	        "} ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":2: integer 4294968320 is out of range");
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ];\n"
	        "  max_request = 1023;\n"
	        "  requesters = ( { name = \"b\"; unix_users = [ \"root\" ]; principals = [ \"*\" "
	        "]; "
	        "} ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":2: ca.max_request: 1023 is out of range (1024 to 16777216)");
}

static void test_windows(void **state)
{
	(void)state;
	refused(CLIENT "windows = { recurring = (\n"
	               "  { groups = [ \"eng\" ]; days = \"Mon-Fri\"; start = \"08:00\";\n"
	               "    end = \"18:00\"; tz = \"Europe/Nowhere\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":4: windows.recurring[0].tz: \"Europe/Nowhere\" is not a time zone (no such zone "
	        "in /usr/share/zoneinfo/, e.g. \"Europe/Berlin\", \"UTC\")");
	refused(CLIENT
	        "windows = { recurring = ( { groups = [ \"eng\" ]; days = \"Mon\";\n"
	        "  start = \"08:00\"; end = \"18:00\"; tz = \"../../../etc/passwd\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0].tz: \"../../../etc/passwd\" is not a time zone (no such "
	        "zone in /usr/share/zoneinfo/, e.g. \"Europe/Berlin\", \"UTC\")");
	refused(CLIENT "windows = { recurring = ( { groups = [ \"eng\" ]; days = \"Mon\";\n"
	               "  start = \"08:00\"; end = \"18:00\"; tz = \"/etc/localtime\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0].tz: \"/etc/localtime\" is not a time zone (no such "
	        "zone in /usr/share/zoneinfo/, e.g. \"Europe/Berlin\", \"UTC\")");
	/* A file in the zone directory that is not a zone. */
	refused(CLIENT "windows = { recurring = ( { groups = [ \"eng\" ]; days = \"Mon\";\n"
	               "  start = \"08:00\"; end = \"18:00\"; tz = \"zone.tab\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0].tz: \"zone.tab\" is not a time zone (no such "
	        "zone in /usr/share/zoneinfo/, e.g. \"Europe/Berlin\", \"UTC\")");
	refused(CLIENT "windows = { recurring = ( { groups = [ \"eng\" ];\n"
	               "  days = \"Fri-Mon\"; start = \"08:00\"; end = \"18:00\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0].days: \"Fri-Mon\" is not a list of days (e.g. "
	        "\"Mon-Fri\", \"Sat,Sun\", \"Mon,Wed-Fri\"; weeks run Mon to Sun)");
	refused(CLIENT "windows = { recurring = ( { groups = [ \"eng\" ];\n"
	               "  days = \"Mon, Tue\"; start = \"08:00\"; end = \"18:00\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0].days: \"Mon, Tue\" is not a list of days (e.g. "
	        "\"Mon-Fri\", \"Sat,Sun\", \"Mon,Wed-Fri\"; weeks run Mon to Sun)");
	refused(CLIENT "windows = { recurring = ( { groups = [ \"eng\" ];\n"
	               "  days = \"Monday\"; start = \"08:00\"; end = \"18:00\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0].days: \"Monday\" is not a list of days (e.g. "
	        "\"Mon-Fri\", \"Sat,Sun\", \"Mon,Wed-Fri\"; weeks run Mon to Sun)");
	refused(CLIENT "windows = { recurring = ( { groups = [ \"eng\" ];\n"
	               "  days = \"Mon\"; start = \"8:00\"; end = \"18:00\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0].start: \"8:00\" is not a time of day (HH:MM, 00:00 to "
	        "24:00)");
	refused(CLIENT "windows = { recurring = ( { groups = [ \"eng\" ];\n"
	               "  days = \"Mon\"; start = \"18:00\";\n  end = \"08:00\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":4: windows.recurring[0].end: must be later than start (a window across "
	        "midnight is two entries)");
	refused(CLIENT "windows = { recurring = (\n  { days = \"Mon\"; start = \"08:00\"; end = "
	               "\"18:00\"; } ); };\n",
	        CONFIG_WINDOWS, JIT_ERR_CONFIG_INVALID,
	        ":3: windows.recurring[0]: applies to no one: set users or groups");

	/* Days: every form, as weekday bits of struct tm. */
	struct {
		const char *days;
		unsigned mask;
	} d[] = {{"Mon-Fri", 0x3e}, {"Sat,Sun", 0x41}, {"Mon,Wed-Fri", 0x3a},
	         {"Sun", 0x01},     {"mon-sun", 0x7f}, {"Tue-Tue", 0x04}};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		char text[512], msg[CONFIG_MSG_MAX];
		struct jit_config *c = NULL;

		snprintf(text, sizeof(text),
		         "windows = { recurring = ( { users = [ \"u\" ]; days = \"%s\";\n"
		         "  start = \"00:00\"; end = \"00:01\"; } ); };\n",
		         d[i].days);
		assert_int_equal(load(text, CONFIG_WINDOWS, &c, msg), 0);
		assert_int_equal(c->windows.recurring[0].days, d[i].mask);
		config_free(c);
	}
}

static void test_required(void **state)
{
	struct jit_config *c = NULL;
	char msg[CONFIG_MSG_MAX];

	(void)state;
	/* No ca group at all: there is no line to name. */
	refused("tickets = { };\n", CONFIG_CA_CLIENT, JIT_ERR_CONFIG_INVALID,
	        ": ca.endpoints: missing required setting");
	refused("ca = {\n  endpoints = [ \"unix:/s\" ];\n};\n", CONFIG_CA_SERVICE,
	        JIT_ERR_CONFIG_INVALID, ":1: ca.key: missing required setting");
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ]; };\n", CONFIG_CA_SERVICE,
	        JIT_ERR_CONFIG_INVALID, ":1: ca.requesters: missing required setting");
	refused("ca = { key = \"/k\"; listen = [ \"tls://[::]:7443\" ];\n"
	        "  requesters = ( { name = \"b\"; tls_names = [ \"b\" ]; principals = [ \"*\" ]; } "
	        "); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":1: ca.tls: missing, required by \"tls://[::]:7443\"");
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ]; requesters = (\n"
	        "  { name = \"b\"; unix_users = [ \"root\" ]; } ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":2: ca.requesters[0].principals: missing required setting (requester \"b\")");
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ]; requesters = (\n"
	        "  { name = \"b\"; principals = [ \"*\" ]; } ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":2: ca.requesters[0]: matches no caller: set unix_users, unix_groups or tls_names "
	        "(requester \"b\")");
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ]; requesters = (\n"
	        "  { name = \"b\"; unix_users = [ \"root\" ]; principals = [ \"*\" ];\n"
	        "    critical_options = [ \"no-touch-required\" ]; } ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":3: ca.requesters[0].critical_options[0]: \"no-touch-required\" is not a critical "
	        "option OpenSSH knows (force-command, source-address, verify-required) (requester "
	        "\"b\")");
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ]; requesters = (\n"
	        "  { name = \"b\"; unix_users = [ \"root\" ]; principals = [ \"*\" ];\n"
	        "    max_validity = \"11m\"; } ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":3: ca.requesters[0].max_validity: 11m exceeds ca.max_validity (10m)");
	refused("ca = { key = \"/k\"; listen = [ \"unix:/s\" ]; requesters = (\n"
	        "  { name = \"b\"; unix_users = [ \"root\" ]; principals = [ \"*\" ]; },\n"
	        "  { name = \"b\"; unix_users = [ \"jit\" ]; principals = [ \"*\" ]; } ); };\n",
	        CONFIG_CA_SERVICE, JIT_ERR_CONFIG_INVALID,
	        ":3: ca.requesters[1].name: \"b\" is also the name of requesters[0]");
	refused(CLIENT "breakglass = { principals = [ \"root\" ]; };\n", CONFIG_BREAKGLASS,
	        JIT_ERR_CONFIG_INVALID, ":2: breakglass.group: missing required setting");

	/* Keys required by groups not asked for are not required. */
	assert_int_equal(load("ca = { endpoints = [ \"unix:/s\" ]; };\n"
	                      "breakglass = { principals = [ \"root\" ]; };\n",
	                      CONFIG_CA_CLIENT, &c, msg),
	                 0);
	assert_int_equal(c->breakglass.enabled, 1);
	assert_null(c->breakglass.group);
	config_free(c);
	assert_int_equal(load("tickets = { };\n", CONFIG_TICKETS, &c, msg), 0);
	assert_int_equal(c->ca.n_endpoints, 0);
	config_free(c);
}

static void test_syntax(void **state)
{
	struct jit_config *c = (struct jit_config *)1;
	char msg[CONFIG_MSG_MAX];
	static const char nul[] = "ca = {\n endpoints = [ \"unix:/s\" ];\0 };\n";

	(void)state;
	refused(CLIENT "tickets = {\n  timeout = \"3s\"\n  file = ;\n};\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_SYNTAX, ":4: syntax error");
	refused(CLIENT "tickets = { timeout = \"3s\"; timeout = \"4s\"; };\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_SYNTAX, ":2: duplicate setting name");
	/* libconfig would end the file quietly at an open comment. */
	refused(CLIENT "/* tickets = { timeout = \"3s\"; };\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_SYNTAX, ":2: unterminated comment");
	refused(CLIENT "tickets = { file = \"/etc/jit/t.conf; };\n", CONFIG_TICKETS,
	        JIT_ERR_CONFIG_SYNTAX, ":2: unterminated string");
	refused(CLIENT "tickets = { file = \"/t\" $ };\n", CONFIG_TICKETS, JIT_ERR_CONFIG_SYNTAX,
	        ":2: syntax error: unexpected character 0x24");
	/* An embedded NUL would end libconfig's view of the text early. */
	assert_int_equal(config_parse_string("mem", nul, sizeof(nul) - 1, CONFIG_CA_CLIENT, &c, msg,
	                                     sizeof(msg)),
	                 JIT_ERR_CONFIG_SYNTAX);
	assert_null(c);
	assert_string_equal(msg, "mem:2: contains a NUL byte");
	/* From memory, the same rules. */
	assert_int_equal(config_parse_string("mem", CLIENT, strlen(CLIENT), CONFIG_CA_CLIENT, &c,
	                                     msg, sizeof(msg)),
	                 0);
	assert_string_equal(c->ca.endpoints[0].path, "/s");
	config_free(c);
	/* A small buffer gets a cut message, NUL-terminated; none at all is fine too. */
	assert_int_equal(config_parse_string("mem", "a = 1;", 6, 0, &c, msg, 12),
	                 JIT_ERR_CONFIG_INVALID);
	assert_string_equal(msg, "mem:1: a: u");
	assert_int_equal(config_parse_string("mem", "a = 1;", 6, 0, &c, NULL, 0),
	                 JIT_ERR_CONFIG_INVALID);
	assert_int_equal(config_parse_string("mem", "", 0, 0x40, &c, NULL, 0),
	                 JIT_ERR_INVALID_ARGUMENT);
}

static void test_include(void **state)
{
	char inc[PATH_MAX], text[PATH_MAX + 128];
	struct jit_config *c = NULL;
	char msg[CONFIG_MSG_MAX];

	(void)state;
	make_path(inc, "inc.conf");
	write_file(inc, CLIENT, strlen(CLIENT), 0644);
	/* libconfig 1.5 would open this path (absolute or relative to the cwd). */
	snprintf(text, sizeof(text), "# x\n@include \"%s\"\n", inc);
	refused(text, CONFIG_CA_CLIENT, JIT_ERR_CONFIG_SYNTAX,
	        ":2: @include is not allowed: the configuration is one file");
	snprintf(text, sizeof(text), "tickets = { };\n  \t@include \"%s\"\n", inc);
	refused(text, CONFIG_CA_CLIENT, JIT_ERR_CONFIG_SYNTAX,
	        ":2: @include is not allowed: the configuration is one file");
	/* In a string or a comment it is only text. */
	assert_int_equal(load(CLIENT "windows = { freeze = ( { start = \"2026-12-24T00:00:00Z\";\n"
	                             "  end = \"2026-12-25T00:00:00Z\";\n"
	                             "  reason = \"@include \\\"x\\\"\"; } ); };\n"
	                             "# @include \"x\"\n/*\n@include \"x\"\n*/\n",
	                      CONFIG_CA_CLIENT, &c, msg),
	                 0);
	assert_string_equal(c->windows.freeze[0].reason, "@include \"x\"");
	config_free(c);
}

static void test_file_safety(void **state)
{
	struct jit_config *c = (struct jit_config *)1;
	char msg[CONFIG_MSG_MAX], link[PATH_MAX], big_path[PATH_MAX], expect[PATH_MAX + 64];
	char *big;

	(void)state;
	write_file(conf, CLIENT, strlen(CLIENT), 0666);
	assert_int_equal(config_load(conf, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)),
	                 JIT_ERR_FILE_PERMISSIONS);
	assert_null(c);
	assert_msg(msg, conf, ": mode 0666 is group or world writable, must not be");
	assert_int_equal(chmod(conf, 0620), 0);
	assert_int_equal(config_load(conf, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)),
	                 JIT_ERR_FILE_PERMISSIONS);
	assert_msg(msg, conf, ": mode 0620 is group or world writable, must not be");
	/* Readable by all is fine: nothing in it is secret. */
	assert_int_equal(chmod(conf, 0644), 0);
	assert_int_equal(config_load(conf, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)), 0);
	config_free(c);

	if (geteuid() == 0) {
		assert_int_equal(chown(conf, 1000, 1000), 0);
		assert_int_equal(config_load(conf, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)),
		                 JIT_ERR_FILE_PERMISSIONS);
		assert_null(c);
		assert_msg(msg, conf, ": owned by uid 1000, must be root");
		assert_int_equal(chown(conf, 0, 0), 0);
	}

	make_path(link, "link.conf");
	unlink(link);
	assert_int_equal(symlink(conf, link), 0);
	assert_int_equal(config_load(link, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)),
	                 JIT_ERR_FILE_TYPE);
	assert_null(c);
	assert_msg(msg, link, ": is a symbolic link, refused: name the file itself");
	assert_int_equal(tickets_lookup(link, "CHG-1", (struct ticket **)&c, msg, sizeof(msg)),
	                 JIT_ERR_FILE_TYPE);

	assert_int_equal(config_load(dir, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)),
	                 JIT_ERR_FILE_TYPE);
	assert_msg(msg, dir, ": not a regular file");

	make_path(big_path, "missing.conf");
	assert_int_equal(config_load(big_path, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)),
	                 JIT_ERR_SYSTEM);
	assert_msg(msg, big_path, ": No such file or directory");

	make_path(big_path, "big.conf");
	assert_non_null(big = malloc(CONFIG_FILE_MAX + 1));
	memset(big, '#', CONFIG_FILE_MAX + 1);
	write_file(big_path, big, CONFIG_FILE_MAX + 1, 0644);
	free(big);
	assert_int_equal(config_load(big_path, CONFIG_CA_CLIENT, &c, msg, sizeof(msg)),
	                 JIT_ERR_FILE_TOO_LARGE);
	snprintf(expect, sizeof(expect), ": larger than %d bytes", CONFIG_FILE_MAX);
	assert_msg(msg, big_path, expect);
}

/*
 * Tickets.
 */

static const char ticket_file[] =
        "tickets = (\n"
        "  { id = \"CHG-1001\"; state = \"approved\"; users = [ \"alice\" ]; groups = [ ];\n"
        "    principals = [ \"alice\", \"deploy\" ];\n"
        "    not_before = \"2026-11-23T08:00:00Z\"; not_after = \"2026-11-23T12:00:00Z\"; },\n"
        "  { id = \"CHG-\" \"0900\"; state = \"closed\"; groups = [ \"dba\" ];\n"
        "    principals = [ \"postgres\" ]; hosts = [ \"db1\" ];\n"
        "    not_before = \"2026-11-24T20:00:00+01:00\"; not_after = "
        "\"2026-11-24T23:00:00+01:00\"; "
        "},\n"
        "  { id = \"a.b_c-9\"; state = \"rejected\"; users = [ \"bob\" ]; principals = [ \"bob\" "
        "];\n"
        "    not_before = \"2026-11-23T08:00:00Z\"; not_after = \"2026-11-23T12:00:00Z\"; }\n"
        ");\n";

static void test_tickets(void **state)
{
	struct tickets *t = (struct tickets *)1;
	struct ticket *one = (struct ticket *)1;
	const struct ticket *f;
	char msg[CONFIG_MSG_MAX];

	(void)state;
	write_file(tickets, ticket_file, strlen(ticket_file), 0644);
	assert_int_equal(tickets_load(tickets, &t, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_int_equal(t->n, 3);
	/* Sorted by id. */
	assert_string_equal(t->v[0].id, "CHG-0900");
	assert_string_equal(t->v[1].id, "CHG-1001");
	assert_string_equal(t->v[2].id, "a.b_c-9");
	assert_non_null(f = tickets_find(t, "CHG-1001"));
	assert_int_equal(f->state, TICKET_APPROVED);
	STRV(f->users, f->n_users, "alice");
	assert_int_equal(f->n_groups, 0);
	STRV(f->principals, f->n_principals, "alice", "deploy");
	assert_int_equal(f->not_before, 1795420800ULL);
	assert_int_equal(f->not_after, 1795435200ULL);
	assert_int_equal(f->n_hosts, 0);
	assert_int_equal(f->line, 2);
	assert_non_null(f = tickets_find(t, "CHG-0900"));
	assert_int_equal(f->state, TICKET_CLOSED);
	assert_int_equal(f->n_users, 0);
	STRV(f->groups, f->n_groups, "dba");
	STRV(f->hosts, f->n_hosts, "db1");
	assert_int_equal(f->not_before, 1795546800ULL);
	assert_int_equal(f->line, 5);
	assert_int_equal(tickets_find(t, "a.b_c-9")->state, TICKET_REJECTED);
	assert_null(tickets_find(t, "CHG-1"));
	assert_null(tickets_find(t, "CHG-10010"));
	tickets_free(t);

	/* The lookup gives the same, field for field. */
	assert_int_equal(tickets_lookup(tickets, "CHG-0900", &one, msg, sizeof(msg)), 0);
	assert_string_equal(one->id, "CHG-0900");
	assert_int_equal(one->state, TICKET_CLOSED);
	STRV(one->groups, one->n_groups, "dba");
	STRV(one->principals, one->n_principals, "postgres");
	STRV(one->hosts, one->n_hosts, "db1");
	assert_int_equal(one->not_before, 1795546800ULL);
	assert_int_equal(one->not_after, 1795557600ULL);
	assert_int_equal(one->line, 5);
	ticket_free(one);
	assert_int_equal(tickets_lookup(tickets, "CHG-1001", &one, msg, sizeof(msg)), 0);
	assert_int_equal(one->state, TICKET_APPROVED);
	STRV(one->users, one->n_users, "alice");
	ticket_free(one);

	one = (struct ticket *)1;
	assert_int_equal(tickets_lookup(tickets, "CHG-1", &one, msg, sizeof(msg)),
	                 JIT_ERR_NOT_FOUND);
	assert_null(one);
	assert_msg(msg, tickets, ": no ticket \"CHG-1\"");
	assert_int_equal(tickets_lookup(tickets, "CHG 1", &one, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_FORMAT);
	assert_string_equal(msg, "\"CHG 1\" is not a ticket id (1 to 64 of A-Z a-z 0-9 . _ -)");
	assert_int_equal(tickets_lookup(tickets, "", &one, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_FORMAT);
}

/* tickets_parse refuses text with code and message "t" + rest. */
static void tickets_refused(const char *text, int code, const char *rest)
{
	struct tickets *t = (struct tickets *)1;
	char msg[CONFIG_MSG_MAX];

	assert_int_equal(tickets_parse("t", text, strlen(text), &t, msg, sizeof(msg)), code);
	assert_null(t);
	assert_msg(msg, "t", rest);
}

/* tickets_lookup_string for id refuses text likewise. */
static void lookup_refused(const char *text, const char *id, int code, const char *rest)
{
	struct ticket *one = (struct ticket *)1;
	char msg[CONFIG_MSG_MAX];

	assert_int_equal(tickets_lookup_string("t", text, strlen(text), id, &one, msg, sizeof(msg)),
	                 code);
	assert_null(one);
	assert_msg(msg, "t", rest);
}

#define T_OK                                                                                       \
	"principals = [ \"p\" ]; not_before = \"2026-11-23T08:00:00Z\"; not_after = "              \
	"\"2026-11-23T12:00:00Z\";"

static void test_tickets_refused(void **state)
{
	static const char bad_state[] = "tickets = (\n"
	                                "  { id = \"CHG-1\"; state = \"approved\"; users = [ \"u\" "
	                                "]; " T_OK " },\n"
	                                "  { id = \"CHG-2\"; users = [ \"u\" ]; " T_OK "\n"
	                                "    state = \"open\"; }\n"
	                                ");\n";
	static const char dup[] =
	        "tickets = (\n"
	        "  { id = \"CHG-1\"; state = \"approved\"; users = [ \"u\" ]; " T_OK " },\n"
	        "  { id = \"CHG-2\"; state = \"approved\"; users = [ \"u\" ]; " T_OK " },\n"
	        "  { id = \"CHG-1\"; state = \"approved\"; users = [ \"u\" ]; " T_OK " }\n"
	        ");\n";
	struct ticket *one = NULL;
	char msg[CONFIG_MSG_MAX];

	(void)state;
	/* The message names the ticket. */
	tickets_refused(bad_state, JIT_ERR_CONFIG_INVALID,
	                ":4: tickets[1].state: \"open\" is not a ticket state (use \"approved\", "
	                "\"pending\", \"rejected\" or \"closed\") (ticket \"CHG-2\")");
	/* The lookup checks only the entry it returns, at the right line. */
	lookup_refused(bad_state, "CHG-2", JIT_ERR_CONFIG_INVALID,
	               ":4: tickets[1].state: \"open\" is not a ticket state (use \"approved\", "
	               "\"pending\", \"rejected\" or \"closed\") (ticket \"CHG-2\")");
	assert_int_equal(tickets_lookup_string("t", bad_state, strlen(bad_state), "CHG-1", &one,
	                                       msg, sizeof(msg)),
	                 0);
	assert_int_equal(one->state, TICKET_APPROVED);
	ticket_free(one);
	one = NULL;
	tickets_refused(dup, JIT_ERR_CONFIG_INVALID,
	                ":4: tickets: id \"CHG-1\" is used twice (lines 2 and 4)");
	lookup_refused(dup, "CHG-1", JIT_ERR_CONFIG_INVALID,
	               ":4: tickets: id \"CHG-1\" is used more than once (lines 2 and 4)");
	assert_int_equal(
	        tickets_lookup_string("t", dup, strlen(dup), "CHG-2", &one, msg, sizeof(msg)), 0);
	assert_int_equal(one->line, 3);
	ticket_free(one);

	tickets_refused(
	        "tickets = ( { id = \"CHG_#1\"; state = \"approved\"; users = [ \"u\" "
	        "]; " T_OK " } );\n",
	        JIT_ERR_CONFIG_INVALID,
	        ":1: tickets[0].id: \"CHG_#1\" is not a ticket id (1 to 64 of A-Z a-z 0-9 . "
	        "_ -) (ticket \"CHG_#1\")");
	tickets_refused("tickets = ( { id = "
	                "\"A2345678901234567890123456789012345678901234567890123456789012345\"; "
	                "state = \"approved\"; users = [ \"u\" ]; " T_OK " } );\n",
	                JIT_ERR_CONFIG_INVALID,
	                ":1: tickets[0].id: "
	                "\"A23456789012345678901234567890123456789012345678901234567890123...\" "
	                "is not a ticket id (1 to 64 of A-Z a-z 0-9 . _ -) (ticket "
	                "\"A23456789012345678901234567890123456789012345678901234567890123...\")");
	tickets_refused("tickets = ( { id = \"C\"; state = \"approved\"; users = [ \"u\" ];\n"
	                "  principals = [ \"p\" ]; not_before = \"2026-11-23T12:00:00Z\";\n"
	                "  not_after = \"2026-11-23T12:00:00Z\"; } );\n",
	                JIT_ERR_CONFIG_INVALID,
	                ":3: tickets[0].not_after: must be later than not_before (ticket \"C\")");
	tickets_refused("tickets = (\n { id = \"C\"; state = \"approved\"; " T_OK " } );\n",
	                JIT_ERR_CONFIG_INVALID,
	                ":2: tickets[0]: grants no one: set users or groups (ticket \"C\")");
	tickets_refused("tickets = ( { id = \"C\"; state = \"approved\"; users = [ \"u\" ]; "
	                "host = [ ];\n " T_OK " } );\n",
	                JIT_ERR_CONFIG_INVALID,
	                ":1: tickets[0].host: unknown setting (ticket \"C\")");
	tickets_refused("tickets = ( \"C\" );\n", JIT_ERR_CONFIG_INVALID,
	                ":1: tickets[0]: expected a group { ... }, found a string");
	tickets_refused("ticket = ( );\n", JIT_ERR_CONFIG_INVALID, ":1: ticket: unknown setting");
	tickets_refused("", JIT_ERR_CONFIG_INVALID, ": tickets: missing required setting");
	tickets_refused("@include \"/etc/jit/tickets.conf\"\n", JIT_ERR_CONFIG_SYNTAX,
	                ":1: @include is not allowed: the configuration is one file");

	/* What the lookup's own walk refuses, anywhere in the file. */
	lookup_refused("ticket = ( );\n", "C", JIT_ERR_CONFIG_INVALID,
	               ":1: ticket: unknown setting");
	lookup_refused("", "C", JIT_ERR_CONFIG_INVALID, ": tickets: missing required setting");
	lookup_refused("tickets = ( );\n", "C", JIT_ERR_NOT_FOUND, ": no ticket \"C\"");
	lookup_refused("tickets = [ ];\n", "C", JIT_ERR_NOT_FOUND, ": no ticket \"C\"");
	lookup_refused("tickets = ( \"C\" );\n", "C", JIT_ERR_CONFIG_INVALID,
	               ":1: tickets[0]: expected a group { ... }");
	lookup_refused("tickets = { };\n", "C", JIT_ERR_CONFIG_INVALID,
	               ":1: tickets: expected a list ( { ... }, ... )");
	lookup_refused("tickets = ( { id = \"C\"; state = \"approved\"; users = [ \"u\" ]; " T_OK
	               " },\n { id = \"D\"; users = [ \"u\" ] " T_OK " }\n",
	               "C", JIT_ERR_CONFIG_SYNTAX, ":3: syntax error");
	lookup_refused("tickets = ( { id = \"C\"; id = \"D\"; } );\n", "C", JIT_ERR_CONFIG_SYNTAX,
	               ":1: duplicate setting name");
	lookup_refused("tickets = ( { id = \"C\"; x = [ { } ]; } );\n", "C", JIT_ERR_CONFIG_SYNTAX,
	               ":1: syntax error");
	lookup_refused("tickets = ( { id = \"C\"; } );\n/* truncated", "C", JIT_ERR_CONFIG_SYNTAX,
	               ":2: unterminated comment");
	lookup_refused("tickets = ( { id = \"C\"; x = 99999999999; } );\n", "C",
	               JIT_ERR_CONFIG_INVALID, ":1: integer 99999999999 is out of range");
	/* Inside the entry found, libconfig's own rules: arrays of one type. */
	lookup_refused("tickets = (\n { id = \"C\"; users = [ \"u\", 1 ]; } );\n", "C",
	               JIT_ERR_CONFIG_SYNTAX, ":2: mismatched element type in array");
}

/* 100,000 tickets: one found fast, without building the others. */
static void test_tickets_100k(void **state)
{
	enum { N = 100000 };
	struct ticket *one = NULL;
	struct timespec a, b;
	char msg[CONFIG_MSG_MAX], *text;
	size_t cap = (size_t)N * 200 + 64, len = 0;
	double ms;

	(void)state;
	assert_non_null(text = malloc(cap));
	len += (size_t)snprintf(text + len, cap - len, "tickets = (\n");
	for (unsigned i = 0; i < N; i++)
		len += (size_t)snprintf(
		        text + len, cap - len,
		        "  { id = \"CHG-%06u\"; state = \"%s\"; users = [ \"user%u\" "
		        "]; groups = [ ];\n"
		        "    principals = [ \"user%u\", \"deploy\" ]; not_before = "
		        "\"2026-11-23T08:00:00Z\"; not_after = \"2026-11-23T12:00:00Z\"; "
		        "}%s\n",
		        i, i % 7 == 0 ? "pending" : "approved", i % 1000, i % 1000,
		        i + 1 < N ? "," : "");
	len += (size_t)snprintf(text + len, cap - len, ");\n");
	assert_true(len < cap);
	write_file(tickets, text, len, 0644);
	free(text);

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	assert_int_equal(tickets_lookup(tickets, "CHG-099999", &one, msg, sizeof(msg)), 0);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &b), 0);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("100,000 tickets: read and find the last one in %.1f ms\n", ms);
	assert_string_equal(one->id, "CHG-099999");
	assert_int_equal(one->state, TICKET_APPROVED);
	STRV(one->users, one->n_users, "user999");
	STRV(one->principals, one->n_principals, "user999", "deploy");
	assert_int_equal(one->line, 2 + 2 * 99999);
	ticket_free(one);
	assert_int_equal(tickets_lookup(tickets, "CHG-000007", &one, msg, sizeof(msg)), 0);
	assert_int_equal(one->state, TICKET_PENDING);
	assert_int_equal(one->line, 2 + 2 * 7);
	ticket_free(one);
	assert_int_equal(tickets_lookup(tickets, "CHG-100000", &one, msg, sizeof(msg)),
	                 JIT_ERR_NOT_FOUND);
	assert_null(one);
}

static void same_strv(char **a, size_t na, char **b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

/* a and b hold the same ticket, field for field. */
static void same_ticket(const struct ticket *a, const struct ticket *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->state, b->state);
	same_strv(a->users, a->n_users, b->users, b->n_users);
	same_strv(a->groups, a->n_groups, b->groups, b->n_groups);
	same_strv(a->principals, a->n_principals, b->principals, b->n_principals);
	same_strv(a->hosts, a->n_hosts, b->hosts, b->n_hosts);
	assert_int_equal(a->not_before, b->not_before);
	assert_int_equal(a->not_after, b->not_after);
	assert_int_equal(a->line, b->line);
}

/*
 * path holds text: looking id up there gives what the lookup in memory
 * gives (code, message, ticket); returns the code.
 */
static int same_answer(const char *path, const char *text, size_t len, const char *id)
{
	struct ticket *a = NULL, *b = NULL;
	char ma[CONFIG_MSG_MAX], mb[CONFIG_MSG_MAX];
	int ra, rb;

	ra = tickets_lookup(path, id, &a, ma, sizeof(ma));
	rb = tickets_lookup_string(path, text, len, id, &b, mb, sizeof(mb));
	if (ra != rb || strcmp(ma, mb) != 0)
		fail_msg("%s: file %d \"%s\", memory %d \"%s\"", id, ra, ma, rb, mb);
	assert_true((a != NULL) == (ra == 0) && (b != NULL) == (rb == 0));
	if (ra == 0)
		same_ticket(a, b);
	ticket_free(a);
	ticket_free(b);
	return ra;
}

#define T_WINDOW 65536 /* the tickets file's first read: T_WINDOW - 1 bytes */

/* A login reads the tickets file in windows: the same answers whatever falls on an edge. */
static void test_tickets_windows(void **state)
{
	static const char body[] =
	        "tickets = (\n"
	        "  { id = \"CHG-\" \"7\"; state = \"approved\"; /* a comment\n"
	        "  over two lines */ users = [ \"u\\x41\" ]; principals = [ \"p\" ]; # note\n"
	        "    not_before = \"2026-11-23T08:00:00Z\"; not_after = \"2026-11-23T12:00:00Z\"; "
	        "},\n"
	        "  { id = \"CHG-8\"; n = 12345; f = 1.5e3; b = true; s = \"a\\\"b\"; // x\n"
	        "    l = ( [ 1, 2 ], { } ); }\n"
	        ");\n";
	size_t bl = sizeof(body) - 1, len, d, cap = 5 * T_WINDOW;
	struct ticket *one = NULL;
	char *text, msg[CONFIG_MSG_MAX];

	(void)state;
	assert_non_null(text = malloc(cap));
	/* Blanks before the body put each of its bytes on the first edge once. */
	for (d = 0; d <= bl; d++) {
		len = T_WINDOW - 1 - d;
		memset(text, ' ', len);
		memcpy(text + len, body, bl + 1);
		len += bl;
		write_file(tickets, text, len, 0644);
		assert_int_equal(same_answer(tickets, text, len, "CHG-7"), 0);
		assert_int_equal(same_answer(tickets, text, len, "CHG-8"), JIT_ERR_CONFIG_INVALID);
		assert_int_equal(same_answer(tickets, text, len, "CHG-9"), JIT_ERR_NOT_FOUND);
	}
	assert_int_equal(tickets_lookup(tickets, "CHG-7", &one, msg, sizeof(msg)), 0);
	assert_string_equal(one->id, "CHG-7");
	assert_int_equal(one->state, TICKET_APPROVED);
	STRV(one->users, one->n_users, "uA");
	STRV(one->principals, one->n_principals, "p");
	assert_int_equal(one->not_before, 1795420800ULL);
	assert_int_equal(one->line, 2);
	ticket_free(one);
	one = NULL;
	assert_int_equal(tickets_lookup(tickets, "CHG-8", &one, msg, sizeof(msg)),
	                 JIT_ERR_CONFIG_INVALID);
	assert_msg(msg, tickets, ":5: tickets[1].n: unknown setting (ticket \"CHG-8\")");

	/* Entries larger than the window: a long string, a long comment in the one found. */
	len = (size_t)snprintf(text, cap, "tickets = (\n  { id = \"A\"; x = \"");
	memset(text + len, 'x', T_WINDOW * 2);
	len += T_WINDOW * 2;
	len += (size_t)snprintf(text + len, cap - len, "\"; },\n  { id = \"BIG\"; /* ");
	memset(text + len, 'y', T_WINDOW * 2);
	len += T_WINDOW * 2;
	len += (size_t)snprintf(
	        text + len, cap - len,
	        " */ state = \"pending\"; users = [ \"u\" ];\n"
	        "    principals = [ \"p\" ]; not_before = \"2026-11-23T08:00:00Z\";\n"
	        "    not_after = \"2026-11-23T12:00:00Z\"; }\n);\n");
	write_file(tickets, text, len, 0644);
	assert_int_equal(same_answer(tickets, text, len, "BIG"), 0);
	assert_int_equal(tickets_lookup(tickets, "BIG", &one, msg, sizeof(msg)), 0);
	assert_int_equal(one->state, TICKET_PENDING);
	assert_int_equal(one->line, 3);
	ticket_free(one);
	assert_int_equal(same_answer(tickets, text, len, "A"), JIT_ERR_CONFIG_INVALID);

	/* Refusals past the first window, at their lines. */
	memcpy(text, body, bl);
	memset(text + bl, ' ', T_WINDOW);
	memcpy(text + bl + T_WINDOW, "\n\n\0\n", 5);
	len = bl + T_WINDOW + 4;
	write_file(tickets, text, len, 0644);
	assert_int_equal(same_answer(tickets, text, len, "CHG-7"), JIT_ERR_CONFIG_SYNTAX);
	assert_int_equal(tickets_lookup(tickets, "CHG-7", &one, msg, sizeof(msg)),
	                 JIT_ERR_CONFIG_SYNTAX);
	assert_msg(msg, tickets, ":10: contains a NUL byte");
	memcpy(text + bl + T_WINDOW, "\n/* ", 5);
	len = bl + T_WINDOW + 4;
	write_file(tickets, text, len, 0644);
	assert_int_equal(same_answer(tickets, text, len, "CHG-7"), JIT_ERR_CONFIG_SYNTAX);
	assert_int_equal(tickets_lookup(tickets, "CHG-7", &one, msg, sizeof(msg)),
	                 JIT_ERR_CONFIG_SYNTAX);
	assert_msg(msg, tickets, ":9: unterminated comment");
	free(text);
}

/* The index beside a tickets file (PATH.index): a head, then records starting with a hash. */
#define IDX_HEAD 72
#define IDX_REC  32
#define IDX_MIN  (256 * 1024) /* smaller files have none */

/* Writes text and a comment after it, to IDX_MIN bytes: a file that gets an index. */
static void write_large(const char *path, const char *text)
{
	size_t n = strlen(text);
	char *big;

	assert_true(n + 2 < IDX_MIN);
	assert_non_null(big = malloc(IDX_MIN));
	memcpy(big, text, n);
	big[n] = '#';
	memset(big + n + 1, 'x', IDX_MIN - n - 2);
	big[IDX_MIN - 1] = '\n';
	write_file(path, big, IDX_MIN, 0644);
	free(big);
}

static size_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static void read_all(const char *path, uint8_t *buf, size_t n)
{
	FILE *f;

	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fread(buf, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Looks id up in path: code, then (when found) its state and line. */
static void lookup_is(const char *path, const char *id, int code, int st, unsigned line)
{
	struct ticket *one = NULL;
	char msg[CONFIG_MSG_MAX];

	assert_int_equal(tickets_lookup(path, id, &one, msg, sizeof(msg)), code);
	if (code != 0) {
		assert_null(one);
		return;
	}
	assert_string_equal(one->id, id);
	assert_int_equal(one->state, st);
	assert_int_equal(one->line, line);
	ticket_free(one);
}

/*
 * Once a tickets file is 2 s unchanged, a lookup leaves an index beside it
 * and later lookups read that instead of walking the file, with the same
 * answers; an index that does not match the file, or is not trusted like
 * it, is passed over.
 */
static void test_tickets_index(void **state)
{
	static const char dup[] =
	        "tickets = (\n"
	        "  { id = \"CHG-1\"; state = \"approved\"; users = [ \"u\" ]; " T_OK " },\n"
	        "  { id = \"CHG-2\"; state = \"approved\"; users = [ \"u\" ]; " T_OK " },\n"
	        "  { id = \"CHG\" \"-1\"; state = \"approved\"; users = [ \"u\" ]; " T_OK " }\n"
	        ");\n";
	static const char bad[] = "tickets = ( { id = \"C\"; } );\n/* truncated";
	enum { N = 100000 };
	char idx[PATH_MAX], dup_path[PATH_MAX], dup_idx[PATH_MAX], bad_path[PATH_MAX],
	        bad_idx[PATH_MAX], big_path[PATH_MAX], big_idx[PATH_MAX], tmp[PATH_MAX],
	        small[PATH_MAX], small_idx[PATH_MAX], msg[CONFIG_MSG_MAX], *text, *p;
	struct timespec a, b, pause = {2, 500000000};
	struct ticket *one = NULL;
	uint8_t good[IDX_HEAD + 3 * IDX_REC], forged[sizeof(good)];
	struct stat st;
	size_t cap = (size_t)N * 200 + 64, len = 0, i;
	uint64_t off0, off1;
	int fd;

	(void)state;
	assert_true((size_t)snprintf(idx, sizeof(idx), "%s.index", tickets) < sizeof(idx));
	make_path(dup_path, "dup.conf");
	make_path(dup_idx, "dup.conf.index");
	make_path(bad_path, "bad.conf");
	make_path(bad_idx, "bad.conf.index");
	make_path(big_path, "big.conf");
	make_path(big_idx, "big.conf.index");
	make_path(tmp, "tickets.new");
	write_large(tickets, ticket_file);
	write_large(dup_path, dup);
	write_large(bad_path, bad);
	make_path(small, "small.conf");
	write_file(small, ticket_file, strlen(ticket_file), 0644);
	assert_non_null(text = malloc(cap));
	len += (size_t)snprintf(text + len, cap - len, "tickets = (\n");
	for (i = 0; i < N; i++)
		len += (size_t)snprintf(
		        text + len, cap - len,
		        "  { id = \"CHG-%06zu\"; state = \"approved\"; users = [ "
		        "\"user%zu\" ];\n    principals = [ \"user%zu\" ]; not_before "
		        "= \"2026-11-23T08:00:00Z\"; not_after = "
		        "\"2026-11-23T12:00:00Z\"; }%s\n",
		        i, i % 1000, i % 1000, i + 1 < N ? "," : "");
	len += (size_t)snprintf(text + len, cap - len, ");\n");
	write_file(big_path, text, len, 0644);
	free(text);

	/* Just changed: no index yet (a change in the same clock tick would keep ctime). */
	lookup_is(tickets, "CHG-1001", 0, TICKET_APPROVED, 2);
	assert_int_equal(stat(idx, &st), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(nanosleep(&pause, NULL), 0);
	/* A small file is walked each time: no index. */
	lookup_is(small, "CHG-1001", 0, TICKET_APPROVED, 2);
	assert_true((size_t)snprintf(small_idx, sizeof(small_idx), "%s.index", small) <
	            sizeof(small_idx));
	assert_int_equal(stat(small_idx, &st), -1);
	assert_int_equal(errno, ENOENT);
	lookup_is(tickets, "CHG-1001", 0, TICKET_APPROVED, 2);
	assert_int_equal(stat(idx, &st), 0);
	assert_int_equal(st.st_size, sizeof(good));
	assert_int_equal(st.st_mode & 07777, 0644);
	read_all(idx, good, sizeof(good));
	assert_memory_equal(good, "JITTIX1\n", 8);
	/* Through the index, the answers of the walk (test_tickets). */
	lookup_is(tickets, "CHG-0900", 0, TICKET_CLOSED, 5);
	lookup_is(tickets, "a.b_c-9", 0, TICKET_REJECTED, 8);
	assert_int_equal(tickets_lookup(tickets, "CHG-1", &one, msg, sizeof(msg)),
	                 JIT_ERR_NOT_FOUND);
	assert_msg(msg, tickets, ": no ticket \"CHG-1\"");
	assert_int_equal(file_size(idx), sizeof(good));

	/* A duplicate is one in the index too: the same refusal, both times. */
	for (i = 0; i < 2; i++) {
		assert_int_equal(tickets_lookup(dup_path, "CHG-1", &one, msg, sizeof(msg)),
		                 JIT_ERR_CONFIG_INVALID);
		assert_msg(msg, dup_path,
		           ":4: tickets: id \"CHG-1\" is used more than once (lines 2 and 4)");
		assert_int_equal(file_size(dup_idx), IDX_HEAD + 3 * IDX_REC);
	}
	lookup_is(dup_path, "CHG-2", 0, TICKET_APPROVED, 3);
	/* A file that fails the walk gets no index: every lookup refuses it. */
	for (i = 0; i < 2; i++) {
		assert_int_equal(tickets_lookup(bad_path, "C", &one, msg, sizeof(msg)),
		                 JIT_ERR_CONFIG_SYNTAX);
		assert_msg(msg, bad_path, ":2: unterminated comment");
	}
	assert_int_equal(stat(bad_idx, &st), -1);

	/* 100,000 tickets: the walk once, then the index. */
	lookup_is(big_path, "CHG-099999", 0, TICKET_APPROVED, 2 + 2 * 99999);
	assert_int_equal(file_size(big_idx), IDX_HEAD + (size_t)N * IDX_REC);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	lookup_is(big_path, "CHG-099999", 0, TICKET_APPROVED, 2 + 2 * 99999);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &b), 0);
	print_message("100,000 tickets: the last one through the index in %.3f ms\n",
	              (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	lookup_is(big_path, "CHG-000000", 0, TICKET_APPROVED, 2);
	lookup_is(big_path, "CHG-100000", JIT_ERR_NOT_FOUND, 0, 0);

	/*
	 * The lookup reads the index: records naming no entry's hash hide every
	 * ticket. That is why it must be trusted like the file itself.
	 */
	memcpy(forged, good, sizeof(good));
	for (i = 0; i < 3; i++)
		memset(forged + IDX_HEAD + i * IDX_REC, 0, 8);
	write_file(idx, (const char *)forged, sizeof(forged), 0644);
	lookup_is(tickets, "CHG-1001", JIT_ERR_NOT_FOUND, 0, 0);
	/* Group writable, or a symbolic link: passed over (and written anew). */
	write_file(idx, (const char *)forged, sizeof(forged), 0664);
	lookup_is(tickets, "CHG-1001", 0, TICKET_APPROVED, 2);
	read_all(idx, forged, sizeof(forged));
	assert_memory_equal(forged, good, sizeof(good));
	assert_int_equal(file_size(idx), sizeof(good));
	for (i = 0; i < 3; i++)
		memset(forged + IDX_HEAD + i * IDX_REC, 0, 8);
	write_file(tmp, (const char *)forged, sizeof(forged), 0644);
	assert_int_equal(unlink(idx), 0);
	assert_int_equal(symlink(tmp, idx), 0);
	lookup_is(tickets, "CHG-1001", 0, TICKET_APPROVED, 2);
	assert_int_equal(lstat(idx, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* Records pointing at entries that are not theirs: checked, then the walk. */
	memcpy(forged, good, sizeof(good));
	memcpy(&off0, forged + IDX_HEAD + 8, 8);
	memcpy(&off1, forged + IDX_HEAD + IDX_REC + 8, 8);
	memcpy(forged + IDX_HEAD + 8, &off1, 8);
	memcpy(forged + IDX_HEAD + IDX_REC + 8, &off0, 8);
	write_file(idx, (const char *)forged, sizeof(forged), 0644);
	lookup_is(tickets, "CHG-1001", 0, TICKET_APPROVED, 2);
	lookup_is(tickets, "CHG-0900", 0, TICKET_CLOSED, 5);
	lookup_is(tickets, "a.b_c-9", 0, TICKET_REJECTED, 8);
	write_file(idx, (const char *)good, sizeof(good), 0644);

	/* Changed in place (same inode, same size): ctime moves, the index no longer applies. */
	assert_non_null(p = strstr(ticket_file, "approved"));
	assert_true((fd = open(tickets, O_WRONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(pwrite(fd, "rejected", 8, p - ticket_file), 8);
	assert_int_equal(close(fd), 0);
	lookup_is(tickets, "CHG-1001", 0, TICKET_REJECTED, 2);
	/* Replaced (another inode): likewise. */
	write_large(tmp, ticket_file);
	assert_int_equal(rename(tmp, tickets), 0);
	lookup_is(tickets, "CHG-1001", 0, TICKET_APPROVED, 2);
	lookup_is(tickets, "a.b_c-9", 0, TICKET_REJECTED, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_full),          cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_examples),      cmocka_unit_test(test_unknown),
	        cmocka_unit_test(test_types),         cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_values),        cmocka_unit_test(test_windows),
	        cmocka_unit_test(test_required),      cmocka_unit_test(test_syntax),
	        cmocka_unit_test(test_include),       cmocka_unit_test(test_file_safety),
	        cmocka_unit_test(test_tickets),       cmocka_unit_test(test_tickets_refused),
	        cmocka_unit_test(test_tickets_100k),  cmocka_unit_test(test_tickets_windows),
	        cmocka_unit_test(test_tickets_index),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
