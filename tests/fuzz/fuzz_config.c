/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit.conf and tickets-file parsing from memory (nothing is written). The
 * input is parsed as a configuration with every group asked for, as a
 * tickets file, and searched for one ticket; where the whole file parses,
 * the single-ticket lookup must agree with it (the lookup has its own
 * grammar walk, so this checks the two against each other).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A message must be set, terminated, and free of control characters. */
static void check_msg(int r, const char *msg)
{
	size_t n = strnlen(msg, CONFIG_MSG_MAX), i;

	if (n == CONFIG_MSG_MAX || (r != 0 && n == 0) || (r == 0 && n != 0))
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			abort();
}

static void same_strv(char **a, size_t na, char **b, size_t nb)
{
	size_t i;

	if (na != nb)
		abort();
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			abort();
}

/* The lookup of id agrees with the whole file's parse t. */
static void agree(const struct tickets *t, const char *text, size_t len, const char *id)
{
	const struct ticket *w = tickets_find(t, id);
	struct ticket *one = NULL;
	char msg[CONFIG_MSG_MAX];
	int r;

	r = tickets_lookup_string("fuzz", text, len, id, &one, msg, sizeof(msg));
	check_msg(r, msg);
	if (w == NULL) {
		if (r != JIT_ERR_NOT_FOUND || one != NULL)
			abort();
		return;
	}
	if (r != 0 || one == NULL || strcmp(one->id, w->id) != 0 || one->state != w->state ||
	    one->not_before != w->not_before || one->not_after != w->not_after ||
	    one->line != w->line)
		abort();
	same_strv(one->users, one->n_users, w->users, w->n_users);
	same_strv(one->groups, one->n_groups, w->groups, w->n_groups);
	same_strv(one->principals, one->n_principals, w->principals, w->n_principals);
	same_strv(one->hosts, one->n_hosts, w->hosts, w->n_hosts);
	ticket_free(one);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jit_config *c = NULL;
	struct tickets *t = NULL;
	struct ticket *one = NULL;
	char msg[CONFIG_MSG_MAX], *text;
	int r;

	if (size > CONFIG_FILE_MAX)
		return 0;
	/* A bounded, NUL-terminated copy, as file_read() gives. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	r = config_parse_string("fuzz", text, size, CONFIG_ALL, &c, msg, sizeof(msg));
	check_msg(r, msg);
	if ((r == 0) != (c != NULL))
		abort();
	config_free(c);
	c = NULL;
	r = config_parse_string("fuzz", text, size, CONFIG_CA_CLIENT, &c, msg, sizeof(msg));
	check_msg(r, msg);
	config_free(c);

	r = tickets_parse("fuzz", text, size, &t, msg, sizeof(msg));
	check_msg(r, msg);
	if (r == 0) {
		agree(t, text, size, "CHG-1001");
		if (t->n > 0) {
			agree(t, text, size, t->v[0].id);
			agree(t, text, size, t->v[t->n - 1].id);
		}
	} else {
		r = tickets_lookup_string("fuzz", text, size, "CHG-1001", &one, msg, sizeof(msg));
		check_msg(r, msg);
		ticket_free(one);
	}
	tickets_free(t);
	free(text);
	return 0;
}
