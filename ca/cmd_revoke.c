/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca revoke, krl and audit verify: offline commands on the CA host that
 * work on the service's state (ca.state_dir, ca.audit_log, ca.key) without
 * the service running.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cmd.h"
#include "config.h"
#include "err.h"
#include "file.h"
#include "key.h"
#include "krl.h"
#include "revocation.h"
#include "serve.h"

static const char usage_revoke[] =
        "usage: jit-ca revoke -c CONFIG (-z SERIAL | -I KEY_ID | -t TICKET)\n"
        "\n"
        "Adds to the revocation store in ca.state_dir; \"jit-ca krl\" then writes the KRL.\n"
        "  -c CONFIG     the service's configuration (jit.conf)\n"
        "  -z SERIAL     a certificate serial number, or a range N-M\n"
        "  -I KEY_ID     every certificate with exactly this key ID\n"
        "  -t TICKET     the ticket itself (the service issues no more for it), then\n"
        "                every certificate the audit log says was issued for it\n";

static const char usage_krl[] =
        "usage: jit-ca krl -c CONFIG -o FILE\n"
        "\n"
        "Writes the KRL (sshd's RevokedKeys) for the CA key ca.key from the revocation\n"
        "store, replacing FILE atomically.\n"
        "  -c CONFIG     the service's configuration (jit.conf)\n"
        "  -o FILE       the KRL to write\n";

static const char usage_audit[] = "usage: jit-ca audit verify -c CONFIG\n"
                                  "\n"
                                  "Checks the hash chain of the audit log ca.audit_log.\n"
                                  "  -c CONFIG     the service's configuration (jit.conf)\n";

/* The KRL version counter's name inside ca.state_dir, and its lock. */
#define KRL_VERSION_FILE "krl_version"
#define STATE_LOCK_FILE  "revoked.lock"
#define KRL_VERSION_MAX  64 /* bytes in the counter file */
/* The lock jit-ca serve holds while it runs (serial.c). */
#define SERVICE_LOCK_FILE "lock"
/*
 * How long after a ticket is blocked (seconds) jit-ca serve may still
 * append an "issued" record for it: a request decided before the service
 * re-read the store is at a signer, which answers within SIGNER_TIMEOUT or
 * stops the service, and is then committed; the rest is for that commit.
 */
#define SETTLE_SECONDS (SIGNER_TIMEOUT + 2)

/* Reports "jit-ca: TEXT" with TEXT printed safely (config and parse messages). */
static void say_error(const char *text)
{
	fputs("jit-ca: ", stderr);
	cli_put_safe(stderr, text);
	fputc('\n', stderr);
}

/* "jit-ca: PATH:LINE: WHY" for a bad line in a file we parse. */
static void say_line_error(const char *path, unsigned long line, const char *why)
{
	fputs("jit-ca: ", stderr);
	cli_put_safe(stderr, path);
	fprintf(stderr, ":%lu: ", line);
	cli_put_safe(stderr, why);
	fputc('\n', stderr);
}

/* The service's configuration: these commands read what the service writes. */
static int load_config(struct cli *cli, const char *path, struct jit_config **ret)
{
	char msg[CONFIG_MSG_MAX];
	int r;

	*ret = NULL;
	msg[0] = '\0';
	if ((r = config_load(path, CONFIG_CA_SERVICE, ret, msg, sizeof(msg))) == 0)
		return 0;
	if (msg[0] != '\0') {
		say_error(msg);
		return r;
	}
	return cli_fail(cli, path, r);
}

static int state_path(const char *dir, const char *name, char **ret)
{
	if (asprintf(ret, "%s/%s", dir, name) < 0) {
		*ret = NULL;
		return JIT_ERR_ALLOC;
	}
	return 0;
}

/* The owner of ca.state_dir, whose files root's runs give back to it. */
static int state_owner(struct cli *cli, const char *state_dir, struct state_owner *ret)
{
	int r;

	if ((r = revocation_state_owner(state_dir, ret)) != 0)
		return cli_fail(cli, state_dir, r);
	return 0;
}

/*
 * Serialises the read-modify-write of the store and the counter between
 * runs, of root and of the state directory's owner alike: flock needs only
 * a read-only descriptor, and a lock file root made (now, or by an older
 * version) is given to that owner so that it can open it too.
 */
static int lock_state(struct cli *cli, const char *state_dir, const struct state_owner *owner,
                      int *ret_fd)
{
	struct stat st;
	char *path = NULL;
	int fd = -1, r = JIT_ERR_INTERNAL;

	*ret_fd = -1;
	if ((r = state_path(state_dir, STATE_LOCK_FILE, &path)) != 0) {
		r = cli_fail(cli, state_dir, r);
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	               0640)) == -1) {
		r = cli_fail(cli, path, errno == ELOOP ? JIT_ERR_FILE_TYPE : JIT_ERR_SYSTEM);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = cli_fail(cli, path, JIT_ERR_SYSTEM);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = cli_fail(cli, path, JIT_ERR_FILE_TYPE);
		goto out;
	}
	/* Root's own file with one link only: never a file linked here from elsewhere. */
	if (geteuid() == 0 && st.st_uid == 0 && st.st_nlink == 1 &&
	    (st.st_uid != owner->uid || st.st_gid != owner->gid) &&
	    fchown(fd, owner->uid, owner->gid) != 0) {
		r = cli_fail(cli, path, JIT_ERR_SYSTEM);
		goto out;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			r = cli_fail(cli, path, JIT_ERR_SYSTEM);
			goto out;
		}
	}
	*ret_fd = fd;
	fd = -1;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	free(path);
	return r;
}

static int load_store(struct cli *cli, const char *path, const struct state_owner *owner,
                      struct revocations **ret)
{
	char why[REVOCATION_WHY_MAX];
	unsigned long line = 0;
	int r;

	if ((r = revocation_load(path, owner, ret, &line, why, sizeof(why))) == 0)
		return 0;
	if (line > 0) {
		say_line_error(path, line, why);
		return r;
	}
	return cli_fail(cli, path, r);
}

/* Decimal 1 .. 2^64-1, no sign or leading zero; *ret 0 when the text was "0". */
static int parse_serial(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;

	*ret = 0;
	if (len == 0 || (s[0] == '0' && len > 1))
		return JIT_ERR_INVALID_FORMAT;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return JIT_ERR_INVALID_FORMAT;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return JIT_ERR_INVALID_FORMAT;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* "N" or "N-M" with 1 <= N <= M. */
static int parse_serial_arg(struct cli *cli, const char *text, uint64_t *ret_lo, uint64_t *ret_hi)
{
	const char *dash = strchr(text, '-');
	uint64_t lo = 0, hi = 0;
	int r;

	*ret_lo = *ret_hi = 0;
	if (dash == NULL)
		r = parse_serial(text, strlen(text), &lo);
	else if ((r = parse_serial(text, (size_t)(dash - text), &lo)) == 0)
		r = parse_serial(dash + 1, strlen(dash + 1), &hi);
	if (dash == NULL)
		hi = lo;
	if (r != 0)
		return cli_fail_value(cli, "serial", text, r);
	if (lo == 0 || hi == 0) {
		/* A KRL cannot name serial 0: it is what certificates without a serial carry. */
		fputs("jit-ca: serial \"", stderr);
		cli_put_safe(stderr, text);
		fputs("\": serial 0 cannot be revoked; revoke by key ID (-I) instead\n", stderr);
		return JIT_ERR_INVALID_ARGUMENT;
	}
	if (lo > hi) {
		fputs("jit-ca: serial \"", stderr);
		cli_put_safe(stderr, text);
		fputs("\": range N-M with N > M\n", stderr);
		return JIT_ERR_INVALID_ARGUMENT;
	}
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
}

/* A ticket ID as config.h defines it: 1..TICKET_ID_MAX of [A-Za-z0-9._-]. */
static int check_ticket(const char *t)
{
	size_t len = strlen(t);

	if (len == 0 || len > TICKET_ID_MAX)
		return JIT_ERR_INVALID_FORMAT;
	if (strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len)
		return JIT_ERR_BAD_CHARACTER;
	return 0;
}

static const struct audit_field *record_field(const struct audit_record *rec, const char *key)
{
	size_t i;

	for (i = 0; i < rec->nfields; i++)
		if (strcmp(rec->fields[i].key, key) == 0)
			return &rec->fields[i];
	return NULL;
}

/*
 * Checks one audit record: when it says a certificate was issued for
 * ticket, appends its serial to *serials. why gets the reason for an error.
 */
static int match_issued(const struct audit_record *rec, const char *ticket, uint64_t **serials,
                        size_t *n, char *why, size_t whylen)
{
	const struct audit_field *ev, *tk, *sn;
	uint64_t *v;

	ev = record_field(rec, "event");
	tk = record_field(rec, "ticket");
	if (ev == NULL || ev->type != AUDIT_T_STR || strcmp(ev->s, "issued") != 0 || tk == NULL ||
	    tk->type != AUDIT_T_STR || strcmp(tk->s, ticket) != 0)
		return 0;
	sn = record_field(rec, "serial");
	if (sn == NULL || sn->type != AUDIT_T_U64 || sn->u == 0) {
		snprintf(why, whylen, "an \"issued\" record without a serial number");
		return JIT_ERR_INVALID_FORMAT;
	}
	if (*n >= REVOCATION_ENTRIES_MAX) {
		snprintf(why, whylen, "more than %d certificates for one ticket",
		         REVOCATION_ENTRIES_MAX);
		return JIT_ERR_NO_BUFFER_SPACE;
	}
	if ((v = reallocarray(*serials, *n + 1, sizeof(*v))) == NULL)
		return JIT_ERR_ALLOC;
	*serials = v;
	v[(*n)++] = sn->u;
	return 0;
}

/*
 * The serials of every certificate the audit log at path records as issued
 * for ticket, in log order. Each line is parsed by the audit module (the
 * chain itself is "jit-ca audit verify"'s business); a line that is not a
 * record stops the scan, since it might have been one for this ticket. An
 * unterminated last line is a write the service never acknowledged.
 */
static int scan_audit(struct cli *cli, const char *path, const char *ticket, uint64_t **ret,
                      size_t *ret_n)
{
	struct audit_record *rec = NULL;
	char why[256];
	char *line = NULL;
	uint64_t *serials = NULL;
	size_t n = 0, len = 0;
	unsigned long lnum = 0;
	FILE *f = NULL;
	int fd = -1, c, r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_n = 0;
	why[0] = '\0';
	if ((rec = calloc(1, sizeof(*rec))) == NULL || (line = malloc(AUDIT_LINE_MAX)) == NULL) {
		r = cli_fail(cli, path, JIT_ERR_ALLOC);
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) == -1) {
		r = cli_fail(cli, path, errno == ELOOP ? JIT_ERR_FILE_TYPE : JIT_ERR_SYSTEM);
		goto out;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		r = cli_fail(cli, path, JIT_ERR_SYSTEM);
		goto out;
	}
	fd = -1;
	while ((c = getc(f)) != EOF) {
		if (c != '\n') {
			/* A record is at most AUDIT_LINE_MAX - 1 bytes before its newline. */
			if (len >= AUDIT_LINE_MAX - 1) {
				say_line_error(path, lnum + 1, "record too long");
				r = JIT_ERR_NO_BUFFER_SPACE;
				goto out;
			}
			line[len++] = (char)c;
			continue;
		}
		lnum++;
		if ((r = audit_record_parse(line, len, rec, why, sizeof(why))) != 0 ||
		    (r = match_issued(rec, ticket, &serials, &n, why, sizeof(why))) != 0) {
			if (r == JIT_ERR_ALLOC)
				r = cli_fail(cli, path, r);
			else
				say_line_error(path, lnum, why);
			goto out;
		}
		len = 0;
	}
	if (ferror(f)) {
		r = cli_fail(cli, path, JIT_ERR_SYSTEM);
		goto out;
	}
	*ret = serials;
	*ret_n = n;
	serials = NULL;
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	if (fd != -1)
		close(fd);
	free(serials);
	free(line);
	free(rec);
	return r;
}

static void print_serials(uint64_t lo, uint64_t hi, int added)
{
	if (lo == hi)
		printf(added ? "revoked serial %llu\n" : "serial %llu was already revoked\n",
		       (unsigned long long)lo);
	else
		printf(added ? "revoked serials %llu-%llu\n"
		             : "serials %llu-%llu were already revoked\n",
		       (unsigned long long)lo, (unsigned long long)hi);
}

/*
 * 0 when jit-ca serve is not running on this state directory: the lock it
 * holds while it runs is free (taken shared and let go at once). 1 when it
 * runs, or when that cannot be told (no lock file, no access).
 */
static int service_running(const char *state_dir)
{
	char *path = NULL;
	int fd = -1, running = 1;

	if (state_path(state_dir, SERVICE_LOCK_FILE, &path) != 0)
		goto out;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1)
		goto out;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		(void)flock(fd, LOCK_UN);
		running = 0;
	}
out:
	if (fd != -1)
		close(fd);
	free(path);
	return running;
}

/*
 * Adds the ticket to the store, under the lock. *ret_since is when the
 * block took effect: now when it is new, else when the store was last
 * written (its modification time; later writes only move that on).
 */
static int block_ticket(struct cli *cli, const char *state_dir, const char *store,
                        const struct state_owner *owner, const char *ticket, int *ret_added,
                        struct timespec *ret_since)
{
	struct revocations *rv = NULL;
	struct timespec since;
	struct stat st;
	int lock_fd = -1, added = 0, r = JIT_ERR_INTERNAL;

	*ret_added = 0;
	memset(ret_since, 0, sizeof(*ret_since));
	if ((r = lock_state(cli, state_dir, owner, &lock_fd)) != 0 ||
	    (r = load_store(cli, store, owner, &rv)) != 0)
		goto out;
	if ((r = revocation_add_ticket(rv, ticket, &added)) != 0 ||
	    (added && (r = revocation_save(rv, store, owner)) != 0)) {
		r = cli_fail(cli, store, r);
		goto out;
	}
	if (added ? clock_gettime(CLOCK_REALTIME, &since) != 0 : stat(store, &st) != 0) {
		r = cli_fail(cli, added ? "clock" : store, JIT_ERR_SYSTEM);
		goto out;
	}
	*ret_since = added ? since : st.st_mtim;
	*ret_added = added;
	r = 0;
out:
	if (lock_fd != -1)
		close(lock_fd);
	revocation_free(rv);
	return r;
}

/* Revokes n serials under the lock; fresh[i] says whether serials[i] was new. */
static int revoke_serials(struct cli *cli, const char *state_dir, const char *store,
                          const struct state_owner *owner, const uint64_t *serials, size_t n,
                          uint8_t *fresh, size_t *ret_added)
{
	struct revocations *rv = NULL;
	size_t i, nadded = 0;
	int lock_fd = -1, added, r = JIT_ERR_INTERNAL;

	*ret_added = 0;
	if (n == 0)
		return 0;
	if ((r = lock_state(cli, state_dir, owner, &lock_fd)) != 0 ||
	    (r = load_store(cli, store, owner, &rv)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = revocation_add_serials(rv, serials[i], serials[i], &added)) != 0) {
			r = cli_fail(cli, store, r);
			goto out;
		}
		fresh[i] = (uint8_t)added;
		nadded += (size_t)added;
	}
	if (nadded > 0 && (r = revocation_save(rv, store, owner)) != 0) {
		r = cli_fail(cli, store, r);
		goto out;
	}
	*ret_added = nadded;
	r = 0;
out:
	if (lock_fd != -1)
		close(lock_fd);
	revocation_free(rv);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Drops from v (n, in order) the serials that are in seen (nseen, sorted). */
static size_t drop_seen(uint64_t *v, size_t n, const uint64_t *seen, size_t nseen)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (nseen == 0 || bsearch(&v[i], seen, nseen, sizeof(*seen), cmp_u64) == NULL)
			v[k++] = v[i];
	return k;
}

/*
 * Scans the audit log for the ticket's serials, leaves out those in seen
 * (nseen, sorted), revokes the others and prints a line for each.
 */
static int revoke_issued(struct cli *cli, const struct jit_config *cfg, const char *store,
                         const struct state_owner *owner, const char *ticket, const uint64_t *seen,
                         size_t nseen, uint64_t **ret_serials, size_t *ret_n, size_t *ret_added)
{
	uint64_t *serials = NULL;
	uint8_t *fresh = NULL;
	size_t n = 0, i, nadded = 0;
	int r = JIT_ERR_INTERNAL;

	*ret_serials = NULL;
	*ret_n = 0;
	*ret_added = 0;
	if ((r = scan_audit(cli, cfg->ca.audit_log, ticket, &serials, &n)) != 0)
		goto out;
	n = drop_seen(serials, n, seen, nseen);
	if (n > 0 && (fresh = calloc(n, 1)) == NULL) {
		r = cli_fail(cli, store, JIT_ERR_ALLOC);
		goto out;
	}
	if ((r = revoke_serials(cli, cfg->ca.state_dir, store, owner, serials, n, fresh,
	                        &nadded)) != 0)
		goto out;
	/* In log order; a serial logged twice is new only the first time. */
	for (i = 0; i < n; i++)
		print_serials(serials[i], serials[i], fresh[i]);
	*ret_serials = serials;
	*ret_n = n;
	*ret_added = nadded;
	serials = NULL;
	r = 0;
out:
	free(fresh);
	free(serials);
	return r;
}

/*
 * Nanoseconds left until SETTLE_SECONDS after since (wall clock), 0 when
 * past; at most SETTLE_SECONDS, should the clock have been set back.
 */
static int64_t settle_left(const struct timespec *since)
{
	const int64_t max = (int64_t)SETTLE_SECONDS * 1000000000;
	struct timespec now;
	int64_t left;

	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		return max;
	left = ((int64_t)since->tv_sec - (int64_t)now.tv_sec) * 1000000000 +
	       ((int64_t)since->tv_nsec - (int64_t)now.tv_nsec) + max;
	return left < 0 ? 0 : left > max ? max : left;
}

static void sleep_ns(int64_t ns)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ns / 1000000000);
	until.tv_nsec += (long)(ns % 1000000000);
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

/*
 * revoke -t: blocks the ticket first, so that the service issues nothing
 * more for it once it has re-read the store, then revokes what the audit
 * log says was issued for it. A request the service decided before that
 * re-read may still be committed for SETTLE_SECONDS: while the service
 * runs, it waits that long after the block and reads the log again.
 */
static int revoke_ticket(struct cli *cli, const struct jit_config *cfg, const char *store,
                         const struct state_owner *owner, const char *ticket, size_t *ret_added)
{
	struct timespec since;
	uint64_t *first = NULL, *later = NULL;
	size_t nfirst = 0, nlater = 0, added = 0, nadded = 0;
	int64_t left;
	int ticket_added = 0, r = JIT_ERR_INTERNAL;

	*ret_added = 0;
	if ((r = block_ticket(cli, cfg->ca.state_dir, store, owner, ticket, &ticket_added,
	                      &since)) != 0)
		return r;
	if ((r = revoke_issued(cli, cfg, store, owner, ticket, NULL, 0, &first, &nfirst,
	                       &nadded)) != 0)
		goto out;
	if (service_running(cfg->ca.state_dir) && (left = settle_left(&since)) > 0) {
		printf("waiting for certificates the service decided before the block"
		       " (until %d seconds after it)\n",
		       SETTLE_SECONDS);
		fflush(stdout);
		sleep_ns(left);
		/* The second scan reports only what the first did not see. */
		if (nfirst > 0)
			qsort(first, nfirst, sizeof(*first), cmp_u64);
		if ((r = revoke_issued(cli, cfg, store, owner, ticket, first, nfirst, &later,
		                       &nlater, &added)) != 0)
			goto out;
		nadded += added;
	}
	r = 0;
out:
	/* The ticket passed check_ticket: printable as is. */
	if (r == 0 && nfirst + nlater == 0)
		printf("ticket %s: no certificates issued\n", ticket);
	else if (r == 0)
		printf("ticket %s: %zu certificate%s issued, %zu newly revoked\n", ticket,
		       nfirst + nlater, nfirst + nlater == 1 ? "" : "s", nadded);
	printf(ticket_added ? "ticket %s is blocked for future certificates\n"
	                    : "ticket %s was already blocked for future certificates\n",
	       ticket);
	if (r != 0)
		fprintf(stderr,
		        "jit-ca: ticket %s is blocked, but not every certificate issued for it is "
		        "revoked\n",
		        ticket);
	else
		*ret_added = nadded;
	free(first);
	free(later);
	return r;
}

int cmd_revoke(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *serial_text = NULL, *key_id = NULL, *ticket = NULL;
	struct jit_config *cfg = NULL;
	struct revocations *rv = NULL;
	struct state_owner owner;
	char *store = NULL;
	uint64_t lo = 0, hi = 0;
	size_t nadded = 0;
	int c, added = 0, lock_fd = -1, nsel, r = JIT_ERR_INTERNAL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:z:I:t:h", longopts, NULL)) != -1) {
		const char **slot;

		switch (c) {
		case 'c':
			slot = &config_path;
			break;
		case 'z':
			slot = &serial_text;
			break;
		case 'I':
			slot = &key_id;
			break;
		case 't':
			slot = &ticket;
			break;
		case 'h':
			r = cli_help(usage_revoke);
			goto out;
		default:
			r = cli_bad_option(cli, usage_revoke, c, argv);
			goto out;
		}
		if (*slot != NULL) {
			r = cli_usage_error(cli, usage_revoke, "option -%c given twice", c);
			goto out;
		}
		*slot = optarg;
	}
	nsel = (serial_text != NULL) + (key_id != NULL) + (ticket != NULL);
	r = CMD_USAGE;
	if (config_path == NULL)
		r = cli_usage_error(cli, usage_revoke, "-c CONFIG is required");
	else if (nsel == 0)
		r = cli_usage_error(cli, usage_revoke,
		                    "one of -z SERIAL, -I KEY_ID or -t TICKET is required");
	else if (nsel > 1)
		r = cli_usage_error(cli, usage_revoke, "only one of -z, -I and -t at a time");
	else if (optind < argc)
		r = cli_usage_error(cli, usage_revoke, "unexpected argument \"%s\"", argv[optind]);
	else if (*config_path == '\0')
		r = cli_usage_error(cli, usage_revoke, "empty file name");
	else
		r = 0;
	if (r != 0)
		goto out;

	/* What the user typed is checked before anything is read. */
	if (serial_text != NULL && (r = parse_serial_arg(cli, serial_text, &lo, &hi)) != 0)
		goto out;
	if (ticket != NULL && (r = check_ticket(ticket)) != 0) {
		r = cli_fail_value(cli, "ticket", ticket, r);
		goto out;
	}
	if (key_id != NULL && (r = revocation_check_key_id(key_id)) != 0) {
		r = cli_fail_value(cli, "key ID", key_id, r);
		goto out;
	}

	if ((r = load_config(cli, config_path, &cfg)) != 0 ||
	    (r = state_owner(cli, cfg->ca.state_dir, &owner)) != 0)
		goto out;
	if ((r = state_path(cfg->ca.state_dir, REVOCATION_FILE, &store)) != 0) {
		r = cli_fail(cli, cfg->ca.state_dir, r);
		goto out;
	}
	if (ticket != NULL) {
		if ((r = revoke_ticket(cli, cfg, store, &owner, ticket, &nadded)) != 0)
			goto out;
	} else {
		if ((r = lock_state(cli, cfg->ca.state_dir, &owner, &lock_fd)) != 0 ||
		    (r = load_store(cli, store, &owner, &rv)) != 0)
			goto out;
		if (serial_text != NULL)
			r = revocation_add_serials(rv, lo, hi, &added);
		else
			r = revocation_add_key_id(rv, key_id, &added);
		if (r != 0 || (added && (r = revocation_save(rv, store, &owner)) != 0)) {
			r = cli_fail(cli, store, r);
			goto out;
		}
		nadded = (size_t)added;
		if (serial_text != NULL)
			print_serials(lo, hi, added);
		else {
			fputs(added ? "revoked key ID \"" : "key ID \"", stdout);
			cli_put_safe(stdout, key_id);
			fputs(added ? "\"\n" : "\" was already revoked\n", stdout);
		}
	}
	if (nadded > 0)
		fputs("run \"jit-ca krl -c CONFIG -o FILE\" to update the KRL that sshd reads\n",
		      stdout);
	r = 0;
out:
	if (lock_fd != -1)
		close(lock_fd);
	revocation_free(rv);
	free(store);
	config_free(cfg);
	return r;
}

/*
 * The CA's public key: ca.key + ".pub"; without that file, the public half
 * of the private key (which must then be unencrypted).
 */
static int load_ca_public(struct cli *cli, const char *key_path, struct key **ret)
{
	char *pub = NULL;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if (asprintf(&pub, "%s.pub", key_path) < 0) {
		pub = NULL;
		r = cli_fail(cli, key_path, JIT_ERR_ALLOC);
		goto out;
	}
	r = key_load_public(pub, ret);
	if (r == JIT_ERR_SYSTEM && errno == ENOENT) {
		r = key_load_private(key_path, NULL, ret);
		if (r == JIT_ERR_KEY_ENCRYPTED) {
			fputs("jit-ca: ", stderr);
			cli_put_safe(stderr, key_path);
			fputs(": encrypted, and no ", stderr);
			cli_put_safe(stderr, pub);
			fputs(" beside it to take the public key from\n", stderr);
			goto out;
		}
		if (r != 0) {
			r = cli_fail(cli, key_path, r);
			goto out;
		}
	} else if (r != 0) {
		r = cli_fail(cli, pub, r);
		goto out;
	}
	r = 0;
out:
	free(pub);
	return r;
}

/* The next KRL version: one more than the counter in the state directory. */
static int next_krl_version(struct cli *cli, const char *state_dir, const struct state_owner *owner,
                            uint64_t *ret)
{
	char *path = NULL, text[32];
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t v = 0;
	int n, r = JIT_ERR_INTERNAL;

	*ret = 0;
	if ((r = state_path(state_dir, KRL_VERSION_FILE, &path)) != 0) {
		r = cli_fail(cli, state_dir, r);
		goto out;
	}
	r = revocation_file_read(path, KRL_VERSION_MAX, owner, &data, &len);
	if (r == 0) {
		if (len == 0 || data[len - 1] != '\n' ||
		    parse_serial((const char *)data, len - 1, &v) != 0 || v == UINT64_MAX) {
			say_line_error(path, 1, "not a version number");
			r = JIT_ERR_INVALID_FORMAT;
			goto out;
		}
	} else if (!(r == JIT_ERR_SYSTEM && errno == ENOENT)) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	v++;
	n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);
	if ((r = revocation_file_write(path, text, (size_t)n, owner)) != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	*ret = v;
	r = 0;
out:
	free(data);
	free(path);
	return r;
}

int cmd_krl(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *out_path = NULL;
	struct jit_config *cfg = NULL;
	struct revocations *rv = NULL;
	struct key *ca = NULL;
	struct krl_spec spec;
	struct state_owner owner;
	char *store = NULL;
	time_t now;
	int c, lock_fd = -1, r = JIT_ERR_INTERNAL;

	memset(&spec, 0, sizeof(spec));
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:o:h", longopts, NULL)) != -1) {
		const char **slot;

		switch (c) {
		case 'c':
			slot = &config_path;
			break;
		case 'o':
			slot = &out_path;
			break;
		case 'h':
			r = cli_help(usage_krl);
			goto out;
		default:
			r = cli_bad_option(cli, usage_krl, c, argv);
			goto out;
		}
		if (*slot != NULL) {
			r = cli_usage_error(cli, usage_krl, "option -%c given twice", c);
			goto out;
		}
		*slot = optarg;
	}
	r = CMD_USAGE;
	if (config_path == NULL)
		r = cli_usage_error(cli, usage_krl, "-c CONFIG is required");
	else if (out_path == NULL)
		r = cli_usage_error(cli, usage_krl, "-o FILE is required");
	else if (optind < argc)
		r = cli_usage_error(cli, usage_krl, "unexpected argument \"%s\"", argv[optind]);
	else if (*config_path == '\0' || *out_path == '\0')
		r = cli_usage_error(cli, usage_krl, "empty file name");
	else
		r = 0;
	if (r != 0)
		goto out;

	if ((now = time(NULL)) == (time_t)-1) {
		r = cli_fail(cli, "clock", JIT_ERR_SYSTEM);
		goto out;
	}
	if ((r = load_config(cli, config_path, &cfg)) != 0 ||
	    (r = load_ca_public(cli, cfg->ca.key, &ca)) != 0)
		goto out;
	if ((r = state_path(cfg->ca.state_dir, REVOCATION_FILE, &store)) != 0) {
		r = cli_fail(cli, cfg->ca.state_dir, r);
		goto out;
	}
	if ((r = state_owner(cli, cfg->ca.state_dir, &owner)) != 0 ||
	    (r = lock_state(cli, cfg->ca.state_dir, &owner, &lock_fd)) != 0 ||
	    (r = load_store(cli, store, &owner, &rv)) != 0 ||
	    (r = next_krl_version(cli, cfg->ca.state_dir, &owner, &spec.version)) != 0)
		goto out;
	spec.date = (uint64_t)now;
	spec.comment = "jit-ca";
	spec.ca = ca;
	spec.serials = rv->serials;
	spec.nserials = rv->nserials;
	spec.key_ids = (const char *const *)rv->key_ids;
	spec.nkey_ids = rv->nkey_ids;
	/* krl_write replaces the file atomically: sshd never sees a partial KRL. */
	if ((r = krl_write(&spec, out_path)) != 0) {
		r = cli_fail(cli, out_path, r);
		goto out;
	}
	fputs("wrote ", stdout);
	cli_put_safe(stdout, out_path);
	printf(": %zu serial range%s, %zu key ID%s\n", rv->nserials, rv->nserials == 1 ? "" : "s",
	       rv->nkey_ids, rv->nkey_ids == 1 ? "" : "s");
	r = 0;
out:
	if (lock_fd != -1)
		close(lock_fd);
	revocation_free(rv);
	key_free(ca);
	free(store);
	config_free(cfg);
	return r;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *head;
	struct jit_config *cfg = NULL;
	char msg[256];
	uint64_t records = 0, bad_line = 0;
	int c, r = JIT_ERR_INTERNAL;

	opterr = 0;
	/* GNU getopt moves the subcommand word after the options. */
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (config_path != NULL) {
				r = cli_usage_error(cli, usage_audit, "option -c given twice");
				goto out;
			}
			config_path = optarg;
			break;
		case 'h':
			r = cli_help(usage_audit);
			goto out;
		default:
			r = cli_bad_option(cli, usage_audit, c, argv);
			goto out;
		}
	}
	r = CMD_USAGE;
	if (optind >= argc)
		r = cli_usage_error(cli, usage_audit, "a subcommand is required: verify");
	else if (strcmp(argv[optind], "verify") != 0)
		r = cli_usage_error(cli, usage_audit, "unknown subcommand \"%s\"", argv[optind]);
	else if (argc - optind > 1)
		r = cli_usage_error(cli, usage_audit, "unexpected argument \"%s\"",
		                    argv[optind + 1]);
	else if (config_path == NULL)
		r = cli_usage_error(cli, usage_audit, "-c CONFIG is required");
	else if (*config_path == '\0')
		r = cli_usage_error(cli, usage_audit, "empty file name");
	else
		r = 0;
	if (r != 0)
		goto out;

	if ((r = load_config(cli, config_path, &cfg)) != 0)
		goto out;
	msg[0] = '\0';
	r = audit_verify(cfg->ca.audit_log, &records, &bad_line, msg, sizeof(msg));
	if (r == JIT_ERR_AUDIT_CHAIN) {
		/* msg is "line L: why". */
		fputs("jit-ca: ", stderr);
		cli_put_safe(stderr, cfg->ca.audit_log);
		fputs(": ", stderr);
		cli_put_safe(stderr, msg);
		fprintf(stderr, " (%llu good records before it)\n", (unsigned long long)records);
		r = CMD_REFUSED;
		goto out;
	}
	if (r != 0) {
		r = cli_fail(cli, cfg->ca.audit_log, r);
		goto out;
	}
	/* msg is "N records, head HASH". */
	head = strstr(msg, ", head ");
	cli_put_safe(stdout, cfg->ca.audit_log);
	printf(": %llu record%s, chain intact, head %s\n", (unsigned long long)records,
	       records == 1 ? "" : "s", head != NULL ? head + 7 : "?");
	r = 0;
out:
	config_free(cfg);
	return r;
}
