/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The "command" ticket backend: runs a lookup program and parses its
 * key=value answer (docs/ticket-command.md). runprog.c runs it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "quote.h"
#include "runprog.h"
#include "ticketcmd.h"
#include "timefmt.h"

#define QUOTE_MAX 72 /* a value as shown in a message */

/* ticketcmd.h promises CONFIG_LIST_MAX arguments; runprog checks its own limit. */
_Static_assert(RUNPROG_ARGS_MAX == CONFIG_LIST_MAX, "argv limits differ");

/*
 * The answer.
 */

enum {
	F_ID,
	F_STATE,
	F_USERS,
	F_GROUPS,
	F_PRINCIPALS,
	F_NOT_BEFORE,
	F_NOT_AFTER,
	F_HOSTS,
	F_COUNT,
};

static const char *const field_names[F_COUNT] = {
        "id", "state", "users", "groups", "principals", "not_before", "not_after", "hosts",
};

/* In the order of TICKET_APPROVED .. TICKET_CLOSED. */
static const char *const state_names[] = {"approved", "pending", "rejected", "closed"};

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A comma list of names into a NULL-terminated vector; "" is the empty list. */
static int parse_names(char *v, unsigned line, const char *key, char ***ret, size_t *ret_n,
                       char *msg, size_t msglen)
{
	char q[QUOTE_MAX], **list = NULL, *p, *comma;
	size_t n = 1, i = 0, j;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_n = 0;
	if (*v == '\0')
		n = 0;
	for (p = v; *p != '\0'; p++)
		if (*p == ',')
			n++;
	if (n > CONFIG_PRINCIPALS_MAX) {
		msg_set(msg, msglen, "line %u: %s: has %zu entries, at most %d allowed", line, key,
		        n, CONFIG_PRINCIPALS_MAX);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((list = calloc(n + 1, sizeof(*list))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (p = v; i < n; i++) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma = '\0';
		if (!config_is_name(p)) {
			msg_set(msg, msglen,
			        "line %u: %s: %s is not a valid name (1 to %d printable ASCII "
			        "characters, no spaces or commas)",
			        line, key, quote(p, q, sizeof(q)), CONFIG_NAME_MAX);
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((list[i] = strdup(p)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		if (comma != NULL)
			p = comma + 1;
	}
	*ret = list;
	*ret_n = n;
	list = NULL;
	r = 0;
out:
	for (j = 0; list != NULL && j < n; j++)
		free(list[j]);
	free(list);
	return r;
}

static int parse_time(const char *v, unsigned line, const char *key, uint64_t *ret, char *msg,
                      size_t msglen)
{
	char q[QUOTE_MAX];

	*ret = 0;
	if (strlen(v) > TIME_TEXT_MAX || time_parse_rfc3339(v, ret) != 0) {
		*ret = 0;
		msg_set(msg, msglen,
		        "line %u: %s: %s is not an RFC 3339 time (e.g. \"2026-11-23T08:00:00Z\")",
		        line, key, quote(v, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	}
	return 0;
}

/* One "key=value" line, NUL-terminated, into t. */
static int parse_line(char *s, unsigned line, const char *expect_id, unsigned *seen,
                      unsigned *seen_line, struct ticket *t, char *msg, size_t msglen)
{
	char q[QUOTE_MAX], q2[QUOTE_MAX], *v;
	size_t f, i;

	if (*s == '\0') {
		msg_set(msg, msglen, "line %u: empty line", line);
		return JIT_ERR_INVALID_FORMAT;
	}
	if ((v = strchr(s, '=')) == NULL) {
		msg_set(msg, msglen, "line %u: %s is not key=value", line, quote(s, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	}
	*v++ = '\0';
	for (f = 0; f < F_COUNT && strcmp(s, field_names[f]) != 0; f++)
		;
	if (f == F_COUNT) {
		msg_set(msg, msglen, "line %u: unknown key %s", line, quote(s, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	}
	if ((*seen & (1U << f)) != 0) {
		msg_set(msg, msglen, "line %u: duplicate key \"%s\" (first on line %u)", line, s,
		        seen_line[f]);
		return JIT_ERR_INVALID_FORMAT;
	}
	*seen |= 1U << f;
	seen_line[f] = line;
	switch (f) {
	case F_ID:
		if (!config_is_ticket_id(v)) {
			msg_set(msg, msglen,
			        "line %u: id: %s is not a ticket id (1 to %d of A-Z a-z 0-9 . _ -)",
			        line, quote(v, q, sizeof(q)), TICKET_ID_MAX);
			return JIT_ERR_INVALID_FORMAT;
		}
		if (expect_id != NULL && strcmp(v, expect_id) != 0) {
			msg_set(msg, msglen, "line %u: id: %s is not the ticket asked for (%s)",
			        line, quote(v, q, sizeof(q)), quote(expect_id, q2, sizeof(q2)));
			return JIT_ERR_INVALID_FORMAT;
		}
		if ((t->id = strdup(v)) == NULL)
			return JIT_ERR_ALLOC;
		return 0;
	case F_STATE:
		for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
			if (strcmp(v, state_names[i]) == 0) {
				t->state = (int)i + 1;
				return 0;
			}
		}
		msg_set(msg, msglen,
		        "line %u: state: %s is not a ticket state (use \"approved\", \"pending\", "
		        "\"rejected\" or \"closed\")",
		        line, quote(v, q, sizeof(q)));
		return JIT_ERR_INVALID_FORMAT;
	case F_USERS:
		return parse_names(v, line, s, &t->users, &t->n_users, msg, msglen);
	case F_GROUPS:
		return parse_names(v, line, s, &t->groups, &t->n_groups, msg, msglen);
	case F_PRINCIPALS:
		if (*v == '\0') {
			msg_set(msg, msglen, "line %u: principals: must not be empty", line);
			return JIT_ERR_INVALID_FORMAT;
		}
		return parse_names(v, line, s, &t->principals, &t->n_principals, msg, msglen);
	case F_NOT_BEFORE:
		return parse_time(v, line, s, &t->not_before, msg, msglen);
	case F_NOT_AFTER:
		return parse_time(v, line, s, &t->not_after, msg, msglen);
	case F_HOSTS:
		return parse_names(v, line, s, &t->hosts, &t->n_hosts, msg, msglen);
	default:
		return JIT_ERR_INTERNAL;
	}
}

int ticketcmd_parse(const char *text, size_t len, const char *expect_id, struct ticket **ret,
                    char *msg, size_t msglen)
{
	struct ticket *t = NULL;
	unsigned seen = 0, seen_line[F_COUNT] = {0}, line = 1;
	const unsigned char *u = (const unsigned char *)text;
	char *copy = NULL, *s, *nl;
	size_t i, n, f;
	int r = JIT_ERR_INTERNAL;

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	*ret = NULL;
	if ((text == NULL && len > 0) || (expect_id != NULL && !config_is_ticket_id(expect_id))) {
		msg_set(msg, msglen, "invalid argument");
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if (len > TICKETCMD_OUTPUT_MAX) {
		msg_set(msg, msglen, "longer than %d bytes", TICKETCMD_OUTPUT_MAX);
		return JIT_ERR_NO_BUFFER_SPACE;
	}
	if (len == 0) {
		msg_set(msg, msglen, "empty answer");
		return JIT_ERR_INVALID_FORMAT;
	}
	/* Bytes first, so no later step sees a NUL, a control character or bad UTF-8. */
	for (i = 0; i < len; i += n) {
		n = 1;
		if (u[i] == '\n') {
			line++;
		} else if (u[i] == '\0') {
			msg_set(msg, msglen, "line %u: contains a NUL byte", line);
			r = JIT_ERR_EMBEDDED_NUL;
			goto out;
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			msg_set(msg, msglen, "line %u: contains a control character (0x%02x)", line,
			        u[i]);
			r = JIT_ERR_BAD_CHARACTER;
			goto out;
		} else if ((n = utf8_len(u + i, len - i)) == 0) {
			msg_set(msg, msglen, "line %u: not valid UTF-8", line);
			r = JIT_ERR_BAD_CHARACTER;
			goto out;
		}
	}
	if ((copy = malloc(len + 1)) == NULL || (t = calloc(1, sizeof(*t))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	/* A final newline ends the last line; it does not start an empty one. */
	if (copy[len - 1] == '\n')
		copy[len - 1] = '\0';
	for (s = copy, line = 1;; s = nl + 1, line++) {
		if ((nl = strchr(s, '\n')) != NULL)
			*nl = '\0';
		if ((r = parse_line(s, line, expect_id, &seen, seen_line, t, msg, msglen)) != 0)
			goto out;
		if (nl == NULL)
			break;
	}
	for (f = 0; f < F_COUNT; f++) {
		if (f != F_HOSTS && (seen & (1U << f)) == 0) {
			msg_set(msg, msglen, "missing required key \"%s\"", field_names[f]);
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
	}
	if (t->n_users + t->n_groups == 0) {
		msg_set(msg, msglen, "grants no one: set users or groups");
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if (t->not_before >= t->not_after) {
		msg_set(msg, msglen, "line %u: not_after: must be later than not_before",
		        seen_line[F_NOT_AFTER]);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	t->line = 0;
	*ret = t;
	t = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	r = 0;
out:
	ticket_free(t);
	free(copy);
	return r;
}

int ticketcmd_lookup(const char *const *argv, uint64_t timeout_ms, const char *ticket_id,
                     const char *user, struct ticket **ret, char *msg, size_t msglen)
{
	static const char *const envp[] = {"PATH=" RUNPROG_PATH, "LANG=C", NULL};
	struct runprog_result res;
	const char *extra[3];
	char q[QUOTE_MAX], pmsg[CONFIG_MSG_MAX];
	int r = JIT_ERR_INTERNAL;

	memset(&res, 0, sizeof(res));
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (ret == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	*ret = NULL;
	if (ticket_id == NULL || !config_is_ticket_id(ticket_id)) {
		msg_set(msg, msglen, "%s is not a ticket id (1 to %d of A-Z a-z 0-9 . _ -)",
		        ticket_id != NULL ? quote(ticket_id, q, sizeof(q)) : "(null)",
		        TICKET_ID_MAX);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if (user == NULL || !config_is_name(user)) {
		msg_set(msg, msglen, "user %s is not a valid name",
		        user != NULL ? quote(user, q, sizeof(q)) : "(null)");
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	extra[0] = ticket_id;
	extra[1] = user;
	extra[2] = NULL;
	if ((r = runprog_run("ticket command", argv, extra, envp, timeout_ms, TICKETCMD_OUTPUT_MAX,
	                     &res, msg, msglen)) != 0)
		goto out;
	if (res.exit_status == 1 && res.out_len == 0) {
		msg_set(msg, msglen, "%s: no ticket %s", argv[0], quote(ticket_id, q, sizeof(q)));
		r = JIT_ERR_NOT_FOUND;
		goto out;
	}
	if (res.exit_status == 1) {
		msg_set(msg, msglen, "%s: exit status 1 (not found) after printing an answer",
		        argv[0]);
		r = JIT_ERR_INVALID_FORMAT;
		goto out;
	}
	if (res.exit_status != 0) {
		msg_set(msg, msglen, "%s: exit status %d%s", argv[0], res.exit_status, res.note);
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((r = ticketcmd_parse(res.out, res.out_len, ticket_id, ret, pmsg, sizeof(pmsg))) != 0) {
		msg_set(msg, msglen, "%s: bad answer: %s", argv[0], pmsg);
		goto out;
	}
	r = 0;
out:
	runprog_result_clear(&res);
	return r;
}
