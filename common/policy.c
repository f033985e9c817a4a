/* SPDX-License-Identifier: BSD-2-Clause */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "err.h"
#include "policy.h"
#include "timefmt.h"
#include "tz.h"

/* Bytes of user-typed text (a ticket id) repeated in a message. */
#define ECHO_MAX 64
/* Escaped bytes of one log value: short names, and long free text. */
#define LOG_NAME_MAX 128
#define LOG_TEXT_MAX 512

static bool list_has(char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] != NULL && strcmp(list[i], s) == 0)
			return true;
	return false;
}

static bool lists_meet(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	for (i = 0; i < na; i++)
		if (a[i] != NULL && list_has(b, nb, a[i]))
			return true;
	return false;
}

/* Printable ASCII only, cut to ECHO_MAX: text the engineer typed, shown back. */
static void echo(const char *s, char *out, size_t outlen)
{
	size_t i;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && i < ECHO_MAX && i + 1 < outlen; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[i] = '\0';
}

static void fmt_time(uint64_t t, char *out, size_t outlen)
{
	if (time_format_rfc3339(t, out, outlen) != 0)
		snprintf(out, outlen, "@%" PRIu64, t);
}

static const char *state_name(int state)
{
	switch (state) {
	case TICKET_PENDING:
		return "pending";
	case TICKET_REJECTED:
		return "rejected";
	case TICKET_CLOSED:
		return "closed";
	default:
		return "unknown state";
	}
}

static void decide(struct policy_decision *d, int allow, const char *rule, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void decide(struct policy_decision *d, int allow, const char *rule, const char *fmt, ...)
{
	va_list ap;

	d->allow = allow;
	d->rule = rule;
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
}

static bool recurring_applies(const struct config_recurring *w, const struct policy_request *req)
{
	return list_has(w->users, w->n_users, req->user) ||
	       lists_meet(req->groups, req->n_groups, w->groups, w->n_groups);
}

/*
 * The instant local wall time in z first reaches end_min after now, given
 * now's local time l on the same day. Across an offset change the wall time
 * is re-read with the new offset; when the end falls in a skipped hour the
 * window ends at the change itself.
 */
static int window_end(const struct tz *z, int64_t now, const struct tz_local *l, int end_min,
                      int64_t *ret)
{
	int64_t delta = (int64_t)end_min * 60 - ((int64_t)l->minute * 60 + l->second);
	int64_t t1 = now + delta, t2, lo, hi, mid;
	int32_t o1, o2, o;
	int r;

	*ret = 0;
	if ((r = tz_offset_at(z, t1, &o1)) != 0)
		return r;
	if (o1 == l->utoff) {
		*ret = t1;
		return 0;
	}
	t2 = t1 - (o1 - l->utoff);
	if ((r = tz_offset_at(z, t2, &o2)) != 0)
		return r;
	if (t2 > now && o2 == o1) {
		*ret = t2;
		return 0;
	}
	/* The first instant in (now, t1] with another offset. */
	lo = now;
	hi = t1;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if ((r = tz_offset_at(z, mid, &o)) != 0)
			return r;
		if (o == l->utoff)
			lo = mid;
		else
			hi = mid;
	}
	*ret = hi;
	return 0;
}

/*
 * Whether now lies in a recurring window that applies to the user, and the
 * latest end among those that hold now (*ret_end; 0 when none applies).
 * Zones are loaded once per name.
 */
static int check_recurring(const struct config_windows *w, const struct policy_request *req,
                           bool *ret_applies, bool *ret_inside, uint64_t *ret_end)
{
	struct tz *zones[CONFIG_LIST_MAX] = {NULL};
	struct tz_local l;
	int64_t now, end;
	uint64_t best = 0;
	bool applies = false, inside = false;
	size_t i, j, n = w->n_recurring;
	int r = JIT_ERR_INTERNAL;

	*ret_applies = false;
	*ret_inside = false;
	*ret_end = 0;
	if (n > CONFIG_LIST_MAX) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (req->now > (uint64_t)TZ_TIME_LIMIT) {
		r = JIT_ERR_TIME_RANGE;
		goto out;
	}
	now = (int64_t)req->now;
	for (i = 0; i < n; i++) {
		const struct config_recurring *e = &w->recurring[i];

		if (!recurring_applies(e, req))
			continue;
		applies = true;
		if (e->tz == NULL || e->end > 1440 || e->start >= e->end) {
			r = JIT_ERR_INVALID_ARGUMENT;
			goto out;
		}
		for (j = 0; j < i; j++)
			if (zones[j] != NULL && strcmp(w->recurring[j].tz, e->tz) == 0)
				break;
		if (j < i) {
			zones[i] = zones[j];
			zones[j] = NULL;
		} else if ((r = tz_load(e->tz, &zones[i])) != 0) {
			goto out;
		}
		if ((r = tz_local_time(zones[i], now, &l)) != 0)
			goto out;
		if (((e->days >> l.weekday) & 1) == 0 || l.minute < e->start || l.minute >= e->end)
			continue;
		if ((r = window_end(zones[i], now, &l, e->end, &end)) != 0)
			goto out;
		inside = true;
		if ((uint64_t)end > best)
			best = (uint64_t)end;
	}
	*ret_applies = applies;
	*ret_inside = inside;
	*ret_end = best;
	r = 0;
out:
	for (i = 0; i < n && i < CONFIG_LIST_MAX; i++)
		tz_free(zones[i]);
	return r;
}

int policy_decide_ticket(const struct jit_config *cfg, const struct policy_request *req,
                         const struct ticket *t, struct policy_decision *ret)
{
	struct policy_decision d;
	char id[ECHO_MAX + 1], when[32], q[ECHO_MAX + 1];
	uint64_t not_after, wend;
	bool applies, inside;
	size_t i;
	int r = JIT_ERR_INTERNAL;

	memset(ret, 0, sizeof(*ret));
	memset(&d, 0, sizeof(d));
	if (cfg == NULL || req == NULL || req->user == NULL ||
	    (req->groups == NULL && req->n_groups != 0) ||
	    (cfg->groups & (CONFIG_WINDOWS | CONFIG_CERTIFICATES)) !=
	            (CONFIG_WINDOWS | CONFIG_CERTIFICATES)) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	echo(t != NULL ? t->id : req->ticket_id, id, sizeof(id));
	if (t == NULL) {
		decide(&d, 0, "ticket-unknown", "ticket %s is not known", id);
		goto done;
	}
	if (t->state != TICKET_APPROVED) {
		decide(&d, 0, "ticket-not-approved", "ticket %s is not approved (%s)", id,
		       state_name(t->state));
		goto done;
	}
	if (!list_has(t->users, t->n_users, req->user) &&
	    !lists_meet(req->groups, req->n_groups, t->groups, t->n_groups)) {
		decide(&d, 0, "ticket-not-assigned", "ticket %s is not assigned to you", id);
		goto done;
	}
	if (t->n_hosts > 0) {
		for (i = 0; i < t->n_hosts; i++)
			if (req->host != NULL && t->hosts[i] != NULL &&
			    strcasecmp(t->hosts[i], req->host) == 0)
				break;
		if (i == t->n_hosts) {
			echo(req->host, q, sizeof(q));
			decide(&d, 0, "ticket-host", "ticket %s does not cover host %s", id, q);
			goto done;
		}
	}
	if (req->now < t->not_before) {
		fmt_time(t->not_before, when, sizeof(when));
		decide(&d, 0, "ticket-not-yet-open", "ticket %s opens at %s", id, when);
		goto done;
	}
	if (req->now >= t->not_after) {
		fmt_time(t->not_after, when, sizeof(when));
		decide(&d, 0, "ticket-expired", "ticket %s ended at %s", id, when);
		goto done;
	}
	not_after = t->not_after;
	if ((r = check_recurring(&cfg->windows, req, &applies, &inside, &wend)) != 0)
		goto out;
	if (applies && !inside) {
		decide(&d, 0, "outside-recurring-window", "now is outside your access windows");
		goto done;
	}
	if (applies && wend < not_after)
		not_after = wend;
	for (i = 0; i < cfg->windows.n_freeze; i++) {
		const struct config_freeze *f = &cfg->windows.freeze[i];

		if (req->now >= f->start && req->now < f->end) {
			fmt_time(f->end, when, sizeof(when));
			if (f->reason != NULL) {
				char reason[ECHO_MAX + 1];

				echo(f->reason, reason, sizeof(reason));
				decide(&d, 0, "freeze-window", "change freeze until %s: %s", when,
				       reason);
			} else {
				decide(&d, 0, "freeze-window", "change freeze until %s", when);
			}
			goto done;
		}
		if (f->start > req->now && f->start < not_after)
			not_after = f->start;
	}
	fmt_time(not_after, when, sizeof(when));
	decide(&d, 1, "approved", "access by ticket %s until %s", id, when);
	d.principals = t->principals;
	d.n_principals = t->n_principals;
	d.not_after = not_after;
	d.validity = cfg->certificates.validity;
done:
	*ret = d;
	r = 0;
out:
	return r;
}

/*
 * Printable ASCII: what the CA protocol, the key ID and every log line
 * carry, and what makes the length a count of visible characters (no
 * zero-width or no-break spaces standing in for a reason).
 */
static bool text_printable(const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

int policy_decide_breakglass(const struct jit_config *cfg, const struct policy_request *req,
                             const char *reason, struct policy_decision *ret)
{
	const struct config_breakglass *bg;
	struct policy_decision d;
	char dur[32];
	size_t n, a, b;
	int r = JIT_ERR_INTERNAL;

	memset(ret, 0, sizeof(*ret));
	memset(&d, 0, sizeof(d));
	if (cfg == NULL || req == NULL || req->user == NULL || reason == NULL ||
	    (req->groups == NULL && req->n_groups != 0) || (cfg->groups & CONFIG_BREAKGLASS) == 0) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	bg = &cfg->breakglass;
	d.breakglass = 1;
	if (!bg->enabled || bg->group == NULL) {
		decide(&d, 0, "breakglass-disabled", "break-glass is not enabled");
		goto done;
	}
	if (!list_has(req->groups, req->n_groups, bg->group)) {
		decide(&d, 0, "breakglass-not-in-group", "you are not in the break-glass group");
		goto done;
	}
	n = strlen(reason);
	if (!text_printable((const unsigned char *)reason, n)) {
		decide(&d, 0, "breakglass-reason-invalid",
		       "the reason must be printable ASCII text on one line");
		goto done;
	}
	for (a = 0; a < n && reason[a] == ' '; a++)
		;
	for (b = n; b > a && reason[b - 1] == ' '; b--)
		;
	if (b - a < bg->min_reason) {
		decide(&d, 0, "breakglass-reason-too-short",
		       "the reason must be at least %" PRIu32 " characters", bg->min_reason);
		goto done;
	}
	if (req->now > TIME_MAX || bg->validity > TIME_MAX - req->now) {
		r = JIT_ERR_TIME_RANGE;
		goto out;
	}
	if (time_format_duration(bg->validity, dur, sizeof(dur)) != 0)
		snprintf(dur, sizeof(dur), "%" PRIu64 "s", bg->validity);
	decide(&d, 1, "breakglass-allowed", "break-glass access for %s; this is audited", dur);
	d.principals = bg->principals;
	d.n_principals = bg->n_principals;
	d.not_after = req->now + bg->validity;
	d.validity = bg->validity;
done:
	*ret = d;
	r = 0;
out:
	return r;
}

struct line {
	char *s;
	size_t len, cap;
	bool full;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
	if (l->full || n >= l->cap - l->len) {
		l->full = true;
		return;
	}
	memcpy(l->s + l->len, s, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static bool bare_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._,:@/+-", c) != NULL;
}

/* " key=value", the value quoted and escaped unless plain, cut at max escaped bytes. */
static void put_kv(struct line *l, const char *key, const char *v, size_t max)
{
	char tmp[LOG_TEXT_MAX + 8], esc[8];
	size_t i, o = 0, e;
	bool bare = v[0] != '\0';

	for (i = 0; v[i] != '\0'; i++)
		if (!bare_char((unsigned char)v[i]))
			bare = false;
	if (max > LOG_TEXT_MAX)
		max = LOG_TEXT_MAX;
	if (!bare)
		tmp[o++] = '"';
	for (i = 0; v[i] != '\0'; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '"' || c == '\\')
			e = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			e = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			e = (size_t)snprintf(esc, sizeof(esc), "%c", c);
		if (o + e > max) {
			memcpy(tmp + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(tmp + o, esc, e);
		o += e;
	}
	if (!bare)
		tmp[o++] = '"';
	put_raw(l, " ", 1);
	put_raw(l, key, strlen(key));
	put_raw(l, "=", 1);
	put_raw(l, tmp, o);
}

int policy_log_line(const struct policy_request *req, const char *reason,
                    const struct policy_decision *d, char *out, size_t outlen)
{
	struct line l = {.s = out, .len = 0, .cap = outlen, .full = false};
	char num[32], list[LOG_TEXT_MAX + 1];
	size_t i, o = 0, n;
	int r = JIT_ERR_INTERNAL;

	if (out == NULL || outlen == 0) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	out[0] = '\0';
	if (req == NULL || d == NULL || d->rule == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	put_raw(&l, d->allow ? "decision=allow" : "decision=deny",
	        strlen(d->allow ? "decision=allow" : "decision=deny"));
	put_kv(&l, "rule", d->rule, LOG_NAME_MAX);
	put_kv(&l, "user", req->user != NULL ? req->user : "", LOG_NAME_MAX);
	if (d->breakglass)
		put_kv(&l, "breakglass", "1", LOG_NAME_MAX);
	else
		put_kv(&l, "ticket", req->ticket_id != NULL ? req->ticket_id : "", LOG_NAME_MAX);
	if (req->host != NULL)
		put_kv(&l, "host", req->host, LOG_NAME_MAX);
	if (d->allow) {
		fmt_time(d->not_after, num, sizeof(num));
		put_kv(&l, "not_after", num, LOG_NAME_MAX);
		snprintf(num, sizeof(num), "%" PRIu64, d->validity);
		put_kv(&l, "validity", num, LOG_NAME_MAX);
		list[0] = '\0';
		for (i = 0; i < d->n_principals && d->principals[i] != NULL; i++) {
			n = strlen(d->principals[i]);
			if (o + n + 1 >= sizeof(list))
				break;
			if (i > 0)
				list[o++] = ',';
			memcpy(list + o, d->principals[i], n);
			o += n;
			list[o] = '\0';
		}
		put_kv(&l, "principals", list, LOG_TEXT_MAX);
	}
	if (d->breakglass && reason != NULL)
		put_kv(&l, "reason", reason, LOG_TEXT_MAX);
	put_kv(&l, "msg", d->message, LOG_TEXT_MAX);
	if (l.full) {
		out[0] = '\0';
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	r = 0;
out:
	return r;
}
