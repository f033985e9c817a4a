/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The "command" ticket backend: the answer parser's every refusal with its
 * exact code and message, and real lookup programs written into a 0755
 * temporary directory: found, not found, failures with their stderr line,
 * the deadline (the whole process group gone, nothing left to reap), the
 * output cap, the program file checks, and what the program is given:
 * arguments, environment, descriptors, signal state.
 *
 * This executable doubles as a lookup program ("--report FILE ID USER"): a
 * copy of it reports what it was given without a shell in between.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "err.h"
#include "ticketcmd.h"

extern char **environ;

static char dir[] = "/tmp/test_ticketcmd.XXXXXX";
static char self[PATH_MAX]; /* dir/self: a copy of this executable */

#define T0 1795420800ULL /* 2026-11-23T08:00:00Z */
#define T1 1795435200ULL /* 2026-11-23T12:00:00Z */

static const char base[] = "id=CHG-1\n"
                           "state=approved\n"
                           "users=alice,bob\n"
                           "groups=ops\n"
                           "principals=root,deploy\n"
                           "not_before=2026-11-23T08:00:00Z\n"
                           "not_after=2026-11-23T12:00:00Z\n";

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

/* dir/name: "#!/bin/sh" and body, mode 0755. */
static void write_prog(char *path, const char *name, const char *body)
{
	char text[8192];

	make_path(path, name);
	assert_true((size_t)snprintf(text, sizeof(text), "#!/bin/sh\n%s", body) < sizeof(text));
	write_file(path, text, strlen(text), 0755);
}

static char *read_text(const char *path)
{
	static char buf[65536];
	FILE *f;
	size_t n;

	assert_non_null(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void assert_msg(const char *msg, const char *prefix, const char *rest)
{
	size_t n = strlen(prefix);

	if (strncmp(msg, prefix, n) != 0 || strcmp(msg + n, rest) != 0)
		fail_msg("message \"%s\", expected \"%s%s\"", msg, prefix, rest);
}

static int lookup1(const char *path, uint64_t ms, const char *id, struct ticket **t, char *msg)
{
	const char *argv[] = {path, NULL};

	return ticketcmd_lookup(argv, ms, id, "alice", t, msg, CONFIG_MSG_MAX);
}

/* The program at path is refused with code and "PATH" rest; no ticket. */
static void lookup_refused(const char *path, uint64_t ms, int code, const char *rest)
{
	struct ticket *t = (struct ticket *)1;
	char msg[CONFIG_MSG_MAX];

	assert_int_equal(lookup1(path, ms, "CHG-1", &t, msg), code);
	assert_null(t);
	assert_msg(msg, path, rest);
}

static int setup(void **state)
{
	char exe[PATH_MAX];
	uint8_t *data;
	size_t len;
	FILE *f;

	(void)state;
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) != 0)
		return -1;
	snprintf(self, sizeof(self), "%s/self", dir);
	/* A copy, so the file checked is ours whatever the build tree's modes. */
	if (readlink("/proc/self/exe", exe, sizeof(exe)) <= 0 ||
	    (f = fopen("/proc/self/exe", "rb")) == NULL)
		return -1;
	if ((data = malloc(64 * 1024 * 1024)) == NULL)
		return -1;
	len = fread(data, 1, 64 * 1024 * 1024, f);
	fclose(f);
	if ((f = fopen(self, "wx")) == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0 ||
	    chmod(self, 0755) != 0) {
		free(data);
		return -1;
	}
	free(data);
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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The parser.
 */

static void parse_ok(const char *text, struct ticket **t)
{
	char msg[CONFIG_MSG_MAX] = "x";

	*t = NULL;
	if (ticketcmd_parse(text, strlen(text), "CHG-1", t, msg, sizeof(msg)) != 0)
		fail_msg("refused: %s", msg);
	assert_non_null(*t);
	assert_string_equal(msg, "");
}

static void parse_refused_n(const char *text, size_t len, int code, const char *want)
{
	struct ticket *t = (struct ticket *)1;
	char msg[CONFIG_MSG_MAX];

	if (ticketcmd_parse(text, len, "CHG-1", &t, msg, sizeof(msg)) != code)
		fail_msg("\"%.*s\": %s, expected %s", (int)len, text, msg, want);
	assert_null(t);
	assert_msg(msg, "", want);
}

static void parse_refused(const char *text, int code, const char *want)
{
	parse_refused_n(text, strlen(text), code, want);
}

/* base with the line starting "key=" replaced by line (NULL: removed). */
static const char *with(const char *key, const char *line)
{
	static char out[2 * TICKETCMD_OUTPUT_MAX];
	const char *p = base, *nl;
	size_t o = 0, kl = strlen(key);

	for (; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			if (line != NULL)
				o += (size_t)snprintf(out + o, sizeof(out) - o, "%s\n", line);
		} else {
			memcpy(out + o, p, (size_t)(nl - p) + 1);
			o += (size_t)(nl - p) + 1;
		}
	}
	out[o] = '\0';
	return out;
}

static void test_parse_found(void **state)
{
	struct ticket *t;
	char text[1024];

	(void)state;
	parse_ok(base, &t);
	assert_string_equal(t->id, "CHG-1");
	assert_int_equal(t->state, TICKET_APPROVED);
	assert_int_equal(t->n_users, 2);
	assert_string_equal(t->users[0], "alice");
	assert_string_equal(t->users[1], "bob");
	assert_null(t->users[2]);
	assert_int_equal(t->n_groups, 1);
	assert_string_equal(t->groups[0], "ops");
	assert_null(t->groups[1]);
	assert_int_equal(t->n_principals, 2);
	assert_string_equal(t->principals[0], "root");
	assert_string_equal(t->principals[1], "deploy");
	assert_int_equal(t->not_before, T0);
	assert_int_equal(t->not_after, T1);
	assert_int_equal(t->n_hosts, 0);
	assert_null(t->hosts);
	assert_int_equal(t->line, 0);
	ticket_free(t);

	/* Any order, no final newline, hosts, empty users, every state. */
	parse_ok("hosts=web1.example.org,db-2\nnot_after=2026-11-23T13:00:00+01:00\n"
	         "principals=root\nusers=\ngroups=ops,dba\nnot_before=2026-11-23T08:00:00Z\n"
	         "state=closed\nid=CHG-1",
	         &t);
	assert_int_equal(t->state, TICKET_CLOSED);
	assert_int_equal(t->n_users, 0);
	assert_non_null(t->users);
	assert_null(t->users[0]);
	assert_int_equal(t->n_groups, 2);
	assert_string_equal(t->groups[1], "dba");
	assert_int_equal(t->n_hosts, 2);
	assert_string_equal(t->hosts[0], "web1.example.org");
	assert_string_equal(t->hosts[1], "db-2");
	assert_int_equal(t->not_after, T1);
	ticket_free(t);
	parse_ok(with("state", "state=pending"), &t);
	assert_int_equal(t->state, TICKET_PENDING);
	ticket_free(t);
	parse_ok(with("state", "state=rejected"), &t);
	assert_int_equal(t->state, TICKET_REJECTED);
	ticket_free(t);
	snprintf(text, sizeof(text), "%s%s", with("hosts", NULL), "hosts=\n");
	parse_ok(text, &t);
	assert_int_equal(t->n_hosts, 0);
	assert_non_null(t->hosts);
	ticket_free(t);

	/* expect_id NULL: any valid id. */
	assert_int_equal(ticketcmd_parse(base, strlen(base), NULL, &t, NULL, 0), 0);
	assert_string_equal(t->id, "CHG-1");
	ticket_free(t);
}

static void test_parse_refused(void **state)
{
	static const char name_rule[] =
	        " is not a valid name (1 to 256 printable ASCII characters, no spaces or commas)";
	char *big, text[4096], *p;
	int i;

	(void)state;
	parse_refused("", JIT_ERR_INVALID_FORMAT, "empty answer");
	parse_refused("\n", JIT_ERR_INVALID_FORMAT, "line 1: empty line");
	parse_refused("id=CHG-1\n\nstate=approved\n", JIT_ERR_INVALID_FORMAT, "line 2: empty line");
	snprintf(text, sizeof(text), "%s\n", base);
	parse_refused(text, JIT_ERR_INVALID_FORMAT, "line 8: empty line");
	parse_refused("id=CHG-1\nstate\n", JIT_ERR_INVALID_FORMAT,
	              "line 2: \"state\" is not key=value");
	parse_refused(with("groups", "colour=red"), JIT_ERR_INVALID_FORMAT,
	              "line 4: unknown key \"colour\"");
	parse_refused("=x\n", JIT_ERR_INVALID_FORMAT, "line 1: unknown key \"\"");
	parse_refused("ID=CHG-1\n", JIT_ERR_INVALID_FORMAT, "line 1: unknown key \"ID\"");
	parse_refused("id =CHG-1\n", JIT_ERR_INVALID_FORMAT, "line 1: unknown key \"id \"");
	snprintf(text, sizeof(text), "%sstate=approved\n", base);
	parse_refused(text, JIT_ERR_INVALID_FORMAT,
	              "line 8: duplicate key \"state\" (first on line 2)");
	parse_refused("id=CHG 1\n", JIT_ERR_INVALID_FORMAT,
	              "line 1: id: \"CHG 1\" is not a ticket id (1 to 64 of A-Z a-z 0-9 . _ -)");
	parse_refused("id=\n", JIT_ERR_INVALID_FORMAT,
	              "line 1: id: \"\" is not a ticket id (1 to 64 of A-Z a-z 0-9 . _ -)");
	parse_refused("id=CHG-2\n", JIT_ERR_INVALID_FORMAT,
	              "line 1: id: \"CHG-2\" is not the ticket asked for (\"CHG-1\")");
	parse_refused("id=chg-1\n", JIT_ERR_INVALID_FORMAT,
	              "line 1: id: \"chg-1\" is not the ticket asked for (\"CHG-1\")");
	parse_refused(with("state", "state=Approved"), JIT_ERR_INVALID_FORMAT,
	              "line 2: state: \"Approved\" is not a ticket state (use \"approved\", "
	              "\"pending\", \"rejected\" or \"closed\")");
	parse_refused(with("state", "state=approved "), JIT_ERR_INVALID_FORMAT,
	              "line 2: state: \"approved \" is not a ticket state (use \"approved\", "
	              "\"pending\", \"rejected\" or \"closed\")");
	snprintf(text, sizeof(text), "line 3: users: \"\"%s", name_rule);
	parse_refused(with("users", "users=alice,,bob"), JIT_ERR_INVALID_FORMAT, text);
	parse_refused(with("users", "users=alice,"), JIT_ERR_INVALID_FORMAT,
	              "line 3: users: \"\" is not a valid name (1 to 256 printable ASCII "
	              "characters, no spaces or commas)");
	parse_refused(with("groups", "groups=ops, dba"), JIT_ERR_INVALID_FORMAT,
	              "line 4: groups: \" dba\" is not a valid name (1 to 256 printable ASCII "
	              "characters, no spaces or commas)");
	/* Valid UTF-8, but names are ASCII as in the tickets file. */
	snprintf(text, sizeof(text), "line 5: principals: \"j\\xc3\\xb6rg\"%s", name_rule);
	parse_refused(with("principals", "principals=j\xc3\xb6rg"), JIT_ERR_INVALID_FORMAT, text);
	parse_refused(with("principals", "principals="), JIT_ERR_INVALID_FORMAT,
	              "line 5: principals: must not be empty");
	snprintf(text, sizeof(text), "%shosts=a,,b\n", base);
	parse_refused(text, JIT_ERR_INVALID_FORMAT,
	              "line 8: hosts: \"\" is not a valid name (1 to 256 printable ASCII "
	              "characters, no spaces or commas)");
	/* 256 entries pass, 257 do not; a name of 256 bytes passes, 257 do not. */
	p = text + snprintf(text, sizeof(text), "users=");
	for (i = 0; i < 257; i++)
		p += snprintf(p, 8, "%su%d", i == 0 ? "" : ",", i % 10);
	parse_refused(with("users", text), JIT_ERR_INVALID_FORMAT,
	              "line 3: users: has 257 entries, at most 256 allowed");
	*strrchr(text, ',') = '\0';
	{
		struct ticket *t;

		parse_ok(with("users", text), &t);
		assert_int_equal(t->n_users, 256);
		assert_string_equal(t->users[255], "u5");
		ticket_free(t);
		snprintf(text, sizeof(text), "groups=%0256d", 7);
		parse_ok(with("groups", text), &t);
		assert_int_equal(strlen(t->groups[0]), 256);
		ticket_free(t);
	}
	snprintf(text, sizeof(text), "groups=%0257d", 7);
	{
		char want[512], zeros[64];

		/* Shown cut to 63 bytes. */
		memset(zeros, '0', 63);
		zeros[63] = '\0';
		snprintf(want, sizeof(want), "line 4: groups: \"%s...\"%s", zeros, name_rule);
		parse_refused(with("groups", text), JIT_ERR_INVALID_FORMAT, want);
	}
	parse_refused(with("not_before", "not_before=yesterday"), JIT_ERR_INVALID_FORMAT,
	              "line 6: not_before: \"yesterday\" is not an RFC 3339 time (e.g. "
	              "\"2026-11-23T08:00:00Z\")");
	parse_refused(with("not_after", "not_after=2026-11-23T12:00:00.5Z"), JIT_ERR_INVALID_FORMAT,
	              "line 7: not_after: \"2026-11-23T12:00:00.5Z\" is not an RFC 3339 time (e.g. "
	              "\"2026-11-23T08:00:00Z\")");
	parse_refused(with("not_after", "not_after=2026-11-23T08:00:00Z"), JIT_ERR_INVALID_FORMAT,
	              "line 7: not_after: must be later than not_before");
	parse_refused(with("groups", NULL), JIT_ERR_INVALID_FORMAT,
	              "missing required key \"groups\"");
	parse_refused(with("users", NULL), JIT_ERR_INVALID_FORMAT,
	              "missing required key \"users\"");
	parse_refused("id=CHG-1\n", JIT_ERR_INVALID_FORMAT, "missing required key \"state\"");
	parse_refused("state=approved\n", JIT_ERR_INVALID_FORMAT, "missing required key \"id\"");
	parse_refused("id=CHG-1\nstate=approved\nusers=\ngroups=\nprincipals=root\n"
	              "not_before=2026-11-23T08:00:00Z\nnot_after=2026-11-23T12:00:00Z\n",
	              JIT_ERR_INVALID_FORMAT, "grants no one: set users or groups");

	/* Bytes. */
	parse_refused("id=CHG-1\r\nstate=approved\r\n", JIT_ERR_BAD_CHARACTER,
	              "line 1: contains a control character (0x0d)");
	parse_refused("id=CHG-1\nstate=app\troved\n", JIT_ERR_BAD_CHARACTER,
	              "line 2: contains a control character (0x09)");
	parse_refused("id=CHG-1\nstate=\x7f\n", JIT_ERR_BAD_CHARACTER,
	              "line 2: contains a control character (0x7f)");
	parse_refused_n("id=CHG-1\nstate=approved\0\n", 25, JIT_ERR_EMBEDDED_NUL,
	                "line 2: contains a NUL byte");
	parse_refused("id=CHG-1\nstate=approved\nusers=\xff\n", JIT_ERR_BAD_CHARACTER,
	              "line 3: not valid UTF-8");
	parse_refused("users=\xc0\xaf\n", JIT_ERR_BAD_CHARACTER, "line 1: not valid UTF-8");
	parse_refused("users=\xed\xa0\x80\n", JIT_ERR_BAD_CHARACTER, "line 1: not valid UTF-8");
	parse_refused("users=\xf4\x90\x80\x80\n", JIT_ERR_BAD_CHARACTER, "line 1: not valid UTF-8");
	parse_refused("users=\xe2\x82", JIT_ERR_BAD_CHARACTER, "line 1: not valid UTF-8");

	/* Size. */
	assert_non_null(big = malloc(TICKETCMD_OUTPUT_MAX + 1));
	memset(big, 'a', TICKETCMD_OUTPUT_MAX + 1);
	parse_refused_n(big, TICKETCMD_OUTPUT_MAX + 1, JIT_ERR_NO_BUFFER_SPACE,
	                "longer than 65536 bytes");
	parse_refused_n(
	        big, TICKETCMD_OUTPUT_MAX, JIT_ERR_INVALID_FORMAT,
	        "line 1: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""
	        " is not key=value");
	free(big);
}

static void test_parse_args(void **state)
{
	struct ticket *t = (struct ticket *)1;
	char msg[CONFIG_MSG_MAX];

	(void)state;
	assert_int_equal(ticketcmd_parse(base, strlen(base), "CHG 1", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_null(t);
	assert_int_equal(ticketcmd_parse(NULL, 1, "CHG-1", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(ticketcmd_parse(base, strlen(base), "CHG-1", NULL, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
}

/*
 * Programs.
 */

static void test_found(void **state)
{
	const char *argv[] = {NULL, "ops", NULL};
	struct ticket *t = NULL;
	char path[PATH_MAX], msg[CONFIG_MSG_MAX] = "x";

	(void)state;
	/* The configured arguments, then the ticket id, then the user. */
	write_prog(path, "found",
	           "[ $# -eq 3 ] || exit 9\n"
	           "printf 'id=%s\\nstate=approved\\nusers=%s,bob\\ngroups=%s\\n' \"$2\" \"$3\" "
	           "\"$1\"\n"
	           "echo principals=root,deploy\n"
	           "echo not_before=2026-11-23T08:00:00Z\n"
	           "echo not_after=2026-11-23T12:00:00Z\n"
	           "echo hosts=web1\n"
	           "echo 'some warning' >&2\n");
	argv[0] = path;
	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG-1", "carol", &t, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_non_null(t);
	assert_string_equal(t->id, "CHG-1");
	assert_int_equal(t->state, TICKET_APPROVED);
	assert_int_equal(t->n_users, 2);
	assert_string_equal(t->users[0], "carol");
	assert_string_equal(t->users[1], "bob");
	assert_int_equal(t->n_groups, 1);
	assert_string_equal(t->groups[0], "ops");
	assert_int_equal(t->n_principals, 2);
	assert_string_equal(t->principals[0], "root");
	assert_string_equal(t->principals[1], "deploy");
	assert_int_equal(t->not_before, T0);
	assert_int_equal(t->not_after, T1);
	assert_int_equal(t->n_hosts, 1);
	assert_string_equal(t->hosts[0], "web1");
	ticket_free(t);
	/* No zombie left behind. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_not_found(void **state)
{
	char path[PATH_MAX];

	(void)state;
	write_prog(path, "notfound", "exit 1\n");
	lookup_refused(path, 3000, JIT_ERR_NOT_FOUND, ": no ticket \"CHG-1\"");
	write_prog(path, "notfound-talks", "echo id=CHG-1\nexit 1\n");
	lookup_refused(path, 3000, JIT_ERR_INVALID_FORMAT,
	               ": exit status 1 (not found) after printing an answer");
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_bad_answer(void **state)
{
	char path[PATH_MAX];

	(void)state;
	write_prog(path, "mismatch",
	           "printf 'id=CHG-2\\nstate=approved\\nusers=a\\ngroups=\\nprincipals=root\\n'\n");
	lookup_refused(path, 3000, JIT_ERR_INVALID_FORMAT,
	               ": bad answer: line 1: id: \"CHG-2\" is not the ticket asked for "
	               "(\"CHG-1\")");
	write_prog(path, "unknown", "echo id=CHG-1\necho colour=red\n");
	lookup_refused(path, 3000, JIT_ERR_INVALID_FORMAT,
	               ": bad answer: line 2: unknown key \"colour\"");
	write_prog(path, "dup", "echo id=CHG-1\necho id=CHG-1\n");
	lookup_refused(path, 3000, JIT_ERR_INVALID_FORMAT,
	               ": bad answer: line 2: duplicate key \"id\" (first on line 1)");
	write_prog(path, "missing", "echo id=CHG-1\necho state=pending\n");
	lookup_refused(path, 3000, JIT_ERR_INVALID_FORMAT,
	               ": bad answer: missing required key \"users\"");
	write_prog(path, "empty", "exit 0\n");
	lookup_refused(path, 3000, JIT_ERR_INVALID_FORMAT, ": bad answer: empty answer");
	write_prog(path, "crlf", "printf 'id=CHG-1\\r\\n'\n");
	lookup_refused(path, 3000, JIT_ERR_BAD_CHARACTER,
	               ": bad answer: line 1: contains a control character (0x0d)");
	write_prog(path, "nul", "printf 'id=CHG-1\\nstate=a\\000\\n'\n");
	lookup_refused(path, 3000, JIT_ERR_EMBEDDED_NUL,
	               ": bad answer: line 2: contains a NUL byte");
}

static void test_failure(void **state)
{
	char path[PATH_MAX], rest[512];

	(void)state;
	write_prog(path, "exit3",
	           "echo 'jira: HTTP 503 from https://jira.example.org' >&2\n"
	           "echo 'second line' >&2\nexit 3\n");
	lookup_refused(path, 3000, JIT_ERR_SYSTEM,
	               ": exit status 3, stderr: \"jira: HTTP 503 from https://jira.example.org\"");
	write_prog(path, "exit2-quiet", "exit 2\n");
	lookup_refused(path, 3000, JIT_ERR_SYSTEM, ": exit status 2");
	/* Control characters and quotes from stderr never reach the message. */
	write_prog(path, "exit4-escape", "printf 'bad\\033[31m \"red\"\\tx' >&2\nexit 4\n");
	lookup_refused(path, 3000, JIT_ERR_SYSTEM, ": exit status 4, stderr: \"bad?[31m ?red??x\"");
	/* Only TICKETCMD_STDERR_MAX bytes of a long line. */
	write_prog(path, "exit5-long", "head -c 100000 /dev/zero | tr '\\000' e >&2\nexit 5\n");
	memset(rest, 'e', sizeof(rest));
	snprintf(rest, sizeof(rest), ": exit status 5, stderr: \"%.*s\"", TICKETCMD_STDERR_MAX,
	         "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	         "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	         "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	lookup_refused(path, 3000, JIT_ERR_SYSTEM, rest);
	write_prog(path, "signal", "echo dying >&2\nkill -TERM $$\n");
	lookup_refused(path, 3000, JIT_ERR_SYSTEM,
	               ": killed by signal 15 (Terminated), stderr: \"dying\"");
	/* exec itself fails: the reason comes back, not an exit status. */
	make_path(path, "badinterp");
	write_file(path, "#!/nonexistent/interpreter\n", 27, 0755);
	errno = 0;
	lookup_refused(path, 3000, JIT_ERR_SYSTEM, ": cannot execute: No such file or directory");
	assert_int_equal(errno, ENOENT);
	make_path(path, "garbage");
	write_file(path, "\x01\x02garbage\n", 10, 0755);
	lookup_refused(path, 3000, JIT_ERR_SYSTEM, ": cannot execute: Exec format error");
	assert_int_equal(errno, ENOEXEC);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

/* A process that is gone, or a zombie that is not ours (init reaps it). */
static void assert_dead(pid_t pid)
{
	char path[64], buf[512], *p;
	uint64_t until = now_ms() + 2000;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (;;) {
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return;
		if ((f = fopen(path, "r")) != NULL) {
			buf[0] = '\0';
			if (fgets(buf, sizeof(buf), f) == NULL)
				buf[0] = '\0';
			fclose(f);
			if ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z')
				return;
		}
		if (now_ms() > until)
			fail_msg("process %d still alive", (int)pid);
		usleep(10000);
	}
}

static pid_t read_pid(const char *name)
{
	char path[PATH_MAX];

	make_path(path, name);
	return (pid_t)atoi(read_text(path));
}

static void test_timeout(void **state)
{
	char path[PATH_MAX], body[1024];
	pid_t leader, grandchild;
	uint64_t t0, dt;

	(void)state;
	/* The program and a child of its own both hang; both must go. */
	snprintf(body, sizeof(body),
	         "echo $$ > %s/leader.pid\n"
	         "sleep 1000 &\n"
	         "echo $! > %s/grandchild.pid\n"
	         "echo 'looking it up' >&2\n"
	         "wait\n",
	         dir, dir);
	write_prog(path, "hang", body);
	t0 = now_ms();
	errno = 0;
	lookup_refused(path, 400, JIT_ERR_SYSTEM,
	               ": no answer within 400 ms (killed), stderr: \"looking it up\"");
	assert_int_equal(errno, ETIMEDOUT);
	dt = now_ms() - t0;
	assert_true(dt >= 400);
	assert_true(dt < 400 + TICKETCMD_REAP_MARGIN);
	leader = read_pid("leader.pid");
	grandchild = read_pid("grandchild.pid");
	assert_true(leader > 1);
	assert_true(grandchild > 1);
	/* The leader was reaped by the lookup: not even a zombie remains. */
	assert_int_equal(kill(leader, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_dead(grandchild);

	/* A program that ignores SIGTERM and never writes. */
	write_prog(path, "hang-trap", "trap '' TERM HUP INT\nwhile :; do :; done\n");
	t0 = now_ms();
	lookup_refused(path, 200, JIT_ERR_SYSTEM, ": no answer within 200 ms (killed)");
	assert_true(now_ms() - t0 < 200 + TICKETCMD_REAP_MARGIN);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);

	/*
	 * Answered, but left something running that holds stdout: the group is
	 * killed when the program exits, so the answer does not wait for it.
	 */
	snprintf(body, sizeof(body),
	         "sleep 1000 &\n"
	         "echo $! > %s/straggler.pid\n"
	         "printf '%%s' '%s'\n",
	         dir, base);
	write_prog(path, "straggler", body);
	{
		struct ticket *t = NULL;
		char msg[CONFIG_MSG_MAX];

		t0 = now_ms();
		assert_int_equal(lookup1(path, 5000, "CHG-1", &t, msg), 0);
		assert_true(now_ms() - t0 < 2000);
		assert_non_null(t);
		ticket_free(t);
	}
	assert_dead(read_pid("straggler.pid"));
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_too_large(void **state)
{
	char path[PATH_MAX];

	(void)state;
	write_prog(path, "big", "head -c 1048576 /dev/zero | tr '\\000' a\n");
	lookup_refused(path, 5000, JIT_ERR_NO_BUFFER_SPACE,
	               ": more than 65536 bytes of output (killed)");
	/* Exactly the limit is read whole (and then parsed). */
	write_prog(path, "limit", "head -c 65536 /dev/zero | tr '\\000' a\n");
	lookup_refused(path, 5000, JIT_ERR_INVALID_FORMAT,
	               ": bad answer: line 1: "
	               "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is "
	               "not key=value");
	write_prog(path, "endless", "exec yes id=CHG-1\n");
	lookup_refused(path, 5000, JIT_ERR_NO_BUFFER_SPACE,
	               ": more than 65536 bytes of output (killed)");
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_program_checks(void **state)
{
	char path[PATH_MAX], link[PATH_MAX], sub[PATH_MAX], msg[CONFIG_MSG_MAX];
	const char *argv[] = {"bin/lookup", NULL};
	const char *many[CONFIG_LIST_MAX + 2];
	struct ticket *t = (struct ticket *)1;
	int i;

	(void)state;
	write_prog(path, "checked", "exit 1\n");
	assert_int_equal(chmod(path, 0775), 0);
	lookup_refused(path, 3000, JIT_ERR_FILE_PERMISSIONS,
	               ": group or world writable (mode 0775)");
	assert_int_equal(chmod(path, 0757), 0);
	lookup_refused(path, 3000, JIT_ERR_FILE_PERMISSIONS,
	               ": group or world writable (mode 0757)");
	assert_int_equal(chmod(path, 0644), 0);
	lookup_refused(path, 3000, JIT_ERR_FILE_PERMISSIONS, ": not executable (mode 0644)");
	assert_int_equal(chmod(path, 0700), 0);
	lookup_refused(path, 3000, JIT_ERR_NOT_FOUND, ": no ticket \"CHG-1\"");
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 0), 0);
		lookup_refused(path, 3000, JIT_ERR_FILE_PERMISSIONS,
		               ": owned by uid 65534, not root");
		assert_int_equal(chown(path, 0, 0), 0);
	}
	make_path(link, "link");
	assert_int_equal(symlink(path, link), 0);
	lookup_refused(link, 3000, JIT_ERR_FILE_TYPE, ": is a symbolic link");
	make_path(sub, "subdir");
	assert_int_equal(mkdir(sub, 0755), 0);
	lookup_refused(sub, 3000, JIT_ERR_FILE_TYPE, ": not a regular file");
	make_path(path, "absent");
	errno = 0;
	lookup_refused(path, 3000, JIT_ERR_SYSTEM, ": No such file or directory");
	assert_int_equal(errno, ENOENT);

	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG-1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_null(t);
	assert_string_equal(msg, "\"bin/lookup\": not an absolute path");
	argv[0] = "/bin/tr\x01";
	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG-1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(msg, "\"/bin/tr\\x01\": not an absolute path");
	argv[0] = NULL;
	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG-1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(msg, "ticket command: empty or more than 64 arguments");
	make_path(path, "checked");
	for (i = 0; i < CONFIG_LIST_MAX + 1; i++)
		many[i] = path;
	many[CONFIG_LIST_MAX + 1] = NULL;
	assert_int_equal(ticketcmd_lookup(many, 3000, "CHG-1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	many[CONFIG_LIST_MAX] = NULL;
	assert_int_equal(ticketcmd_lookup(many, 3000, "CHG-1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_NOT_FOUND);

	argv[0] = path;
	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG 1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_FORMAT);
	assert_string_equal(msg, "\"CHG 1\" is not a ticket id (1 to 64 of A-Z a-z 0-9 . _ -)");
	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG-1", "al ice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(msg, "user \"al ice\" is not a valid name");
	assert_int_equal(ticketcmd_lookup(argv, 0, "CHG-1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_msg(msg, path, ": timeout 0 ms out of range (1 to 3600000)");
	assert_int_equal(ticketcmd_lookup(argv, 3600001, "CHG-1", "alice", &t, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_null(t);
	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG-1", "alice", NULL, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
	/* msg may be NULL. */
	assert_int_equal(ticketcmd_lookup(argv, 3000, "CHG-1", "alice", &t, NULL, 0),
	                 JIT_ERR_NOT_FOUND);
}

/* What this executable reports as a lookup program (see main). */
static int report_main(int argc, char **argv)
{
	char fds[4096], target[PATH_MAX], line[256], path[320];
	struct dirent *de;
	size_t o = 0;
	ssize_t n;
	DIR *d;
	FILE *f, *st;
	char **e;
	int i;

	if (argc != 5)
		return 9;
	/* The descriptors first, before this opens any of its own. */
	if ((d = opendir("/proc/self/fd")) == NULL)
		return 9;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
			return 9;
		target[n] = '\0';
		if (strncmp(target, "pipe:", 5) == 0)
			target[4] = '\0';
		o += (size_t)snprintf(fds + o, sizeof(fds) - o, "fd %s %s\n", de->d_name, target);
	}
	closedir(d);
	if ((f = fopen(argv[2], "w")) == NULL)
		return 9;
	fputs(fds, f);
	for (i = 0; i < argc; i++)
		fprintf(f, "arg%d %s\n", i, argv[i]);
	for (e = environ; *e != NULL; e++)
		fprintf(f, "env %s\n", *e);
	if ((st = fopen("/proc/self/status", "r")) == NULL)
		return 9;
	while (fgets(line, sizeof(line), st) != NULL)
		if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0)
			fputs(line, f);
	fclose(st);
	fprintf(f, "pgrp %s\n", getpgrp() == getpid() ? "own" : "shared");
	fprintf(f, "cwd %s\n", getcwd(target, sizeof(target)) != NULL ? target : "?");
	if (fclose(f) != 0)
		return 9;
	printf("id=%s\nstate=approved\nusers=%s\ngroups=\nprincipals=root\n"
	       "not_before=2026-11-23T08:00:00Z\nnot_after=2026-11-23T12:00:00Z\n",
	       argv[3], argv[4]);
	return 0;
}

static void test_child_state(void **state)
{
	char report[PATH_MAX], want[3 * PATH_MAX], msg[CONFIG_MSG_MAX];
	const char *argv[] = {self, "--report", report, NULL};
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_hup;
	struct ticket *t = NULL;
	sigset_t block, old_mask;
	int spare;

	(void)state;
	make_path(report, "report");
	/* Host state that must not leak: an ignored signal, a blocked one, an open fd. */
	assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	assert_int_equal(sigaction(SIGHUP, &ign, &old_hup), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old_mask), 0);
	assert_true((spare = open("/dev/null", O_RDONLY)) >= 0);
	assert_int_equal(setenv("JIT_SECRET", "must-not-leak", 1), 0);

	assert_int_equal(ticketcmd_lookup(argv, 5000, "CHG-1", "alice", &t, msg, sizeof(msg)), 0);

	unsetenv("JIT_SECRET");
	close(spare);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	assert_non_null(t);
	assert_string_equal(t->users[0], "alice");
	ticket_free(t);
	snprintf(want, sizeof(want),
	         "fd 0 /dev/null\n"
	         "fd 1 pipe\n"
	         "fd 2 pipe\n"
	         "arg0 %s\n"
	         "arg1 --report\n"
	         "arg2 %s\n"
	         "arg3 CHG-1\n"
	         "arg4 alice\n"
	         "env PATH=/usr/bin:/bin\n"
	         "env LANG=C\n"
	         "SigBlk:\t0000000000000000\n"
	         "SigIgn:\t0000000000000000\n"
	         "pgrp own\n"
	         "cwd /\n",
	         self, report);
	assert_string_equal(read_text(report), want);
}

/* A script keeps its own descriptor (its interpreter reads /dev/fd/3), and nothing else. */
static void test_script_fds(void **state)
{
	char path[PATH_MAX], report[PATH_MAX], body[2 * PATH_MAX], *p, *line, *arrow;
	bool seen[3] = {false, false, false};
	unsigned others = 0;
	int fd;

	(void)state;
	make_path(report, "fds");
	snprintf(body, sizeof(body),
	         "exec > %s\n"
	         "ls -l /proc/$$/fd\n"
	         "env\n"
	         "exit 1\n",
	         report);
	write_prog(path, "fds.sh", body);
	lookup_refused(path, 3000, JIT_ERR_NOT_FOUND, ": no ticket \"CHG-1\"");
	p = read_text(report);
	for (line = strtok(p, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strncmp(line, "total ", 6) == 0)
			continue;
		if ((arrow = strstr(line, " -> ")) != NULL) {
			*arrow = '\0';
			assert_non_null(strrchr(line, ' '));
			fd = atoi(strrchr(line, ' ') + 1);
			/* 1 is the report now; the binary's test sees the pipe. */
			if (fd == 0) {
				assert_string_equal(arrow + 4, "/dev/null");
			} else if (fd == 1) {
				assert_string_equal(arrow + 4, report);
			} else if (fd == 2) {
				assert_int_equal(strncmp(arrow + 4, "pipe:", 5), 0);
			} else {
				assert_string_equal(arrow + 4, path);
				others++;
			}
			if (fd < 3)
				seen[fd] = true;
			continue;
		}
		/* dash sets PWD itself (the program runs in "/"); nothing else but PATH and LANG.
		 */
		if (strcmp(line, "PATH=/usr/bin:/bin") != 0 && strcmp(line, "LANG=C") != 0 &&
		    strcmp(line, "PWD=/") != 0)
			fail_msg("unexpected line in the program's report: \"%s\"", line);
	}
	assert_true(seen[0] && seen[1] && seen[2]);
	assert_true(others >= 1);
}

/*
 * runprog_run() itself, as the break-glass notify hook calls it: any
 * environment, no extra arguments, stdout dropped (out_max 0) or kept.
 */
static void test_runprog(void **state)
{
	static const char *const envp[] = {"FOO=bar baz", NULL};
	const char *extra[] = {"x", NULL}, *none[] = {NULL};
	const char *argv[] = {NULL, "a", "b c", NULL};
	struct runprog_result res;
	char path[PATH_MAX], msg[CONFIG_MSG_MAX];

	(void)state;
	/* Far more than any kept output, then a failure: all read, none kept. */
	write_prog(path, "loud",
	           "head -c 300000 /dev/zero | tr '\\000' a\necho 'pager down' >&2\nexit 3\n");
	argv[0] = path;
	memset(&res, 0x55, sizeof(res));
	assert_int_equal(runprog_run("notify", argv, NULL, envp, 5000, 0, &res, msg, sizeof(msg)),
	                 0);
	assert_string_equal(msg, "");
	assert_int_equal(res.exit_status, 3);
	assert_null(res.out);
	assert_int_equal(res.out_len, 0);
	assert_string_equal(res.note, ", stderr: \"pager down\"");
	runprog_result_clear(&res);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);

	/* Arguments, then extra; envp is the whole environment; output NUL-terminated. */
	write_prog(path, "args", "printf '%s|%s|%s' \"$#\" \"$*\" \"$FOO\"\n");
	assert_int_equal(runprog_run("notify", argv, extra, envp, 5000, 64, &res, msg, sizeof(msg)),
	                 0);
	assert_int_equal(res.exit_status, 0);
	assert_int_equal(res.out_len, 17);
	assert_string_equal(res.out, "3|a b c x|bar baz");
	runprog_result_clear(&res);
	/* Exactly out_max bytes are kept. */
	assert_int_equal(runprog_run("notify", argv, none, envp, 5000, 15, &res, msg, sizeof(msg)),
	                 0);
	assert_int_equal(res.out_len, 15);
	assert_string_equal(res.out, "2|a b c|bar baz");
	runprog_result_clear(&res);

	/* One byte over out_max; res stays empty. */
	memset(&res, 0x55, sizeof(res));
	assert_int_equal(runprog_run("notify", argv, none, envp, 5000, 14, &res, msg, sizeof(msg)),
	                 JIT_ERR_NO_BUFFER_SPACE);
	assert_msg(msg, path, ": more than 14 bytes of output (killed)");
	assert_null(res.out);
	assert_int_equal(res.out_len, 0);
	assert_int_equal(res.exit_status, 0);
	assert_string_equal(res.note, "");
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);

	/* The caller's name for what it runs starts the argv message. */
	argv[0] = NULL;
	assert_int_equal(
	        runprog_run("breakglass.notify", argv, NULL, envp, 5000, 0, &res, msg, sizeof(msg)),
	        JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(msg, "breakglass.notify: empty or more than 64 arguments");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_found), cmocka_unit_test(test_parse_refused),
	        cmocka_unit_test(test_parse_args),  cmocka_unit_test(test_found),
	        cmocka_unit_test(test_not_found),   cmocka_unit_test(test_bad_answer),
	        cmocka_unit_test(test_failure),     cmocka_unit_test(test_timeout),
	        cmocka_unit_test(test_too_large),   cmocka_unit_test(test_program_checks),
	        cmocka_unit_test(test_child_state), cmocka_unit_test(test_script_fds),
	        cmocka_unit_test(test_runprog),
	};

	if (argc > 1 && strcmp(argv[1], "--report") == 0)
		return report_main(argc, argv);
	return cmocka_run_group_tests(tests, setup, teardown);
}
