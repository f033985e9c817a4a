/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ticket command's answer (key=value lines), parsed as an answer for
 * "CHG-1001" and for any id. A ticket that comes back must satisfy every
 * rule the parser promises; a refusal must come with a clean message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "ticketcmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A message must be set on refusal, empty on success, terminated, printable. */
static void check_msg(int r, const char *msg)
{
	size_t n = strnlen(msg, CONFIG_MSG_MAX), i;

	if (n == CONFIG_MSG_MAX || (r != 0 && n == 0) || (r == 0 && n != 0))
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
			abort();
}

static void check_names(char **v, size_t n, int may_be_null)
{
	size_t i, j, len;

	if (v == NULL) {
		if (!may_be_null || n != 0)
			abort();
		return;
	}
	if (n > CONFIG_PRINCIPALS_MAX || v[n] != NULL)
		abort();
	for (i = 0; i < n; i++) {
		len = strlen(v[i]);
		if (len == 0 || len > CONFIG_NAME_MAX)
			abort();
		for (j = 0; j < len; j++)
			if ((unsigned char)v[i][j] <= 0x20 || (unsigned char)v[i][j] >= 0x7f ||
			    v[i][j] == ',')
				abort();
	}
}

static void check_ticket(const struct ticket *t, const char *expect_id)
{
	if (t->id == NULL || strlen(t->id) == 0 || strlen(t->id) > TICKET_ID_MAX)
		abort();
	if (expect_id != NULL && strcmp(t->id, expect_id) != 0)
		abort();
	if (t->state < TICKET_APPROVED || t->state > TICKET_CLOSED)
		abort();
	check_names(t->users, t->n_users, 0);
	check_names(t->groups, t->n_groups, 0);
	check_names(t->principals, t->n_principals, 0);
	check_names(t->hosts, t->n_hosts, 1);
	if (t->n_principals == 0 || t->n_users + t->n_groups == 0 ||
	    t->not_before >= t->not_after || t->line != 0)
		abort();
}

static void one(const uint8_t *data, size_t size, const char *expect_id)
{
	struct ticket *t = NULL;
	char msg[CONFIG_MSG_MAX];
	int r;

	r = ticketcmd_parse((const char *)data, size, expect_id, &t, msg, sizeof(msg));
	check_msg(r, msg);
	if ((r == 0) != (t != NULL) || r > 0 || r < JIT_ERR_MIN)
		abort();
	if (t != NULL)
		check_ticket(t, expect_id);
	ticket_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, "CHG-1001");
	one(data, size, NULL);
	return 0;
}
