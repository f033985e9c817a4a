/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The index of a tickets file (PATH.index) and the windowed file reader.
 * Once per process a private directory gets a valid tickets file of more
 * than 256 KiB; once it is 2 s unchanged (the index is only written for a
 * settled file, and ctime cannot be set back), a lookup writes its index,
 * whose head (the file's identity) and records are kept. Each input then
 * becomes PATH.index: that head, with records taken from the valid ones,
 * edited, or raw, and sometimes a wrong count, size or identity, and a few
 * ids are looked up through it.
 *
 * The answer must be the walk's (tickets_lookup_string() over the same
 * text), except what an index written by someone else can do by design,
 * since it is trusted like the file (see "The index of a tickets file" in
 * common/config.c): hide entries (records missing or with another hash),
 * so a ticket is absent, or one of two entries with the same id is found;
 * repeat a record, so an id reads as duplicate; give any line. It must
 * never yield a ticket that is not an entry of the file with that id, nor
 * another error, and when the lookup walked the file (it then writes a new
 * index: another inode), the walk's answer exactly. The file has no
 * entry-like text in its comments: a forged record pointing there would
 * yield it, and the walk not.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Which check failed, for whoever reads the crash. */
#define DIE() die(__LINE__)

static void __attribute__((noreturn)) die(int line)
{
	fprintf(stderr, "fuzz_tickets_index.c:%d: check failed\n", line);
	abort();
}

/* The index's layout, as tests/unit/test_config.c knows it: checked at init. */
#define HEAD     72
#define REC      32
#define COUNT_AT 64 /* the head's record count */
#define REC_OFF  8  /* a record's offset, after its hash */
#define REC_LEN  16 /* its length */

#define N_PLAIN   1500 /* generated entries, besides the special ones */
#define MAX_RECS  512  /* in one input's index */
#define CACHE_CAP 8192 /* walk answers kept, by id */

static const char known_id[] = "known.ticket";
static const char absent_id[] = "absent.ticket";
static const char dup_id[] = "dup-pair";
static const char big_id[] = "big.entry";
static const char split_id[] = "split-id";

struct entry {
	char id[TICKET_ID_MAX + 1]; /* "" when it has no ticket id */
	uint64_t off;               /* of its "{" */
	uint64_t len;               /* to after its "}" */
};

struct answer {
	char *id;
	int r;
	struct ticket *t;
};

static struct {
	bool ready;
	char dir[256];
	char path[288];
	char ipath[304];
	char *text;
	size_t len, cap;
	struct entry *e;
	size_t n, ecap;
	uint8_t head[HEAD];
	uint8_t *recs; /* the valid index's records, sorted by hash */
	size_t nrecs;
	size_t *rec_entry;      /* entry of each record */
	uint64_t *open, *close; /* where the text has "{" and "}" */
	size_t nopen, nclose;
	size_t special[5]; /* records of known, dup (2), big, split */
	size_t nspecial;
	struct ticket *dup_t[2]; /* each entry of dup_id, parsed alone */
	struct answer cache[CACHE_CAP];
	size_t ncache;
	ino_t ino; /* of PATH.index as last written here */
} g;

static void cleanup(void)
{
	char p[sizeof(g.dir) + 300];
	struct dirent *de;
	DIR *d;
	size_t i;

	if (g.dir[0] != '\0' && (d = opendir(g.dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' &&
			    (size_t)snprintf(p, sizeof(p), "%s/%s", g.dir, de->d_name) < sizeof(p))
				unlink(p);
		closedir(d);
		rmdir(g.dir);
	}
	for (i = 0; i < g.ncache; i++) {
		free(g.cache[i].id);
		ticket_free(g.cache[i].t);
	}
	ticket_free(g.dup_t[0]);
	ticket_free(g.dup_t[1]);
	free(g.text);
	free(g.e);
	free(g.recs);
	free(g.rec_entry);
	free(g.open);
	free(g.close);
	memset(&g, 0, sizeof(g));
}

static void append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void append(const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(g.text + g.len, g.cap - g.len, fmt, ap);
		va_end(ap);
		if (k < 0)
			DIE();
		if ((size_t)k < g.cap - g.len)
			break;
		g.cap = g.cap * 2 + (size_t)k;
		if ((g.text = realloc(g.text, g.cap)) == NULL)
			DIE();
	}
	g.len += (size_t)k;
}

/* Notes the entry whose "{" comes next; end_entry() ends it after its "}". */
static void begin_entry(const char *id)
{
	if (g.n == g.ecap) {
		g.ecap = g.ecap == 0 ? 1024 : g.ecap * 2;
		if ((g.e = reallocarray(g.e, g.ecap, sizeof(*g.e))) == NULL)
			DIE();
	}
	memset(&g.e[g.n], 0, sizeof(g.e[g.n]));
	if (id != NULL)
		snprintf(g.e[g.n].id, sizeof(g.e[g.n].id), "%s", id);
	g.e[g.n].off = g.len;
}

static void end_entry(void)
{
	while (g.text[g.e[g.n].off] != '{')
		g.e[g.n].off++;
	if (g.text[g.len - 1] != '}')
		DIE();
	g.e[g.n].len = g.len - g.e[g.n].off;
	g.n++;
}

#define TIMES "not_before = \"2026-11-23T08:00:00Z\"; not_after = \"2026-11-23T12:00:00Z\";"

/* A valid tickets file of some 300 KiB, every shape of entry the walk meets. */
static void generate(void)
{
	static const char *const states[] = {"approved", "pending", "rejected", "closed"};
	char id[32];
	size_t i, k;

	g.cap = 512 * 1024;
	if ((g.text = malloc(g.cap)) == NULL)
		DIE();
	append("# Generated by fuzz_tickets_index. Braces in comments: {ops}\ntickets = (\n");
	for (i = 0; i < N_PLAIN; i++) {
		if (i % 97 == 5)
			append("  # owner {team-%zu}; was { and }\n", i);
		snprintf(id, sizeof(id), "t%05zu", i);
		begin_entry(id);
		if (i % 50 == 7) /* adjacent strings are one id */
			append("  { id = \"t%03zu\" \"%02zu\";", i / 100, i % 100);
		else
			append("  { id = \"%s\";", id);
		append(" state = \"%s\"; %s = [ \"u%zu\" ];\n", states[i % 4],
		       i % 3 == 0 ? "groups" : "users", i % 41);
		append("    principals = [ \"p%zu\", \"deploy\" ]; %s", i % 13,
		       i % 7 == 0 ? "hosts = [ \"db1\", \"db2\" ]; " : "");
		append("/* {x} */ " TIMES " }");
		end_entry();
		append(",\n");
		if (i == N_PLAIN / 2) {
			begin_entry(known_id);
			append("  { id = \"%s\"; state = \"approved\"; users = [ \"alice\" ]; "
			       "principals = [ \"alice\", \"root\" ]; " TIMES " }",
			       known_id);
			end_entry();
			append(",\n");
		}
		if (i == 100 || i == N_PLAIN - 100) {
			begin_entry(dup_id);
			append("  { id = \"%s\"; state = \"approved\"; users = [ \"dup%zu\" ]; "
			       "principals = [ \"dup%zu\" ]; " TIMES " }",
			       dup_id, i, i);
			end_entry();
			append(",\n");
		}
		if (i == 300) {
			/* Larger than the reader's 64 KiB window. */
			begin_entry(big_id);
			append("  { id = \"%s\"; state = \"closed\"; groups = [ \"g\" ];\n    /*",
			       big_id);
			for (k = 0; k < 1200; k++)
				append(" %05zu: a comment longer than the window {}%s", k,
				       k % 2 == 0 ? "\n" : "");
			append(" */\n    principals = [ \"big\" ]; " TIMES " }");
			end_entry();
			append(",\n");
		}
		if (i == 400) {
			begin_entry(split_id);
			append("  { id = \"split\"\n    \"-id\"; state = \"pending\"; users = [ "
			       "\"s\" ]; principals = [ \"s\" ]; " TIMES " }");
			end_entry();
			append(",\n");
			/* Entries the index leaves out: no ticket id. */
			begin_entry(NULL);
			append("  { id = \"not an id\"; state = \"approved\"; users = [ \"x\" ]; "
			       "principals = [ \"x\" ]; " TIMES " }");
			end_entry();
			append(",\n");
			begin_entry(NULL);
			append("  { id = 5; state = \"approved\"; users = [ \"x\" ]; "
			       "principals = [ \"x\" ]; " TIMES " }");
			end_entry();
			append(",\n");
		}
	}
	begin_entry("last");
	append("  { id = \"last\"; state = \"approved\"; users = [ \"z\" ];\n"
	       "    principals = [ \"z\" ]; " TIMES " }");
	end_entry();
	append("\n);\n# end {}\n");
}

static void write_file(const char *path, const void *data, size_t n)
{
	struct stat st;
	int fd;

	/* The same inode when it exists: only the walk replaces it (by rename). */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) == -1 ||
	    fchmod(fd, 0644) != 0 || (n > 0 && write(fd, data, n) != (ssize_t)n) ||
	    fstat(fd, &st) != 0)
		DIE();
	close(fd);
	g.ino = st.st_ino;
}

static uint8_t *read_file(const char *path, size_t *ret_n)
{
	struct stat st;
	uint8_t *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) != 0 ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL ||
	    read(fd, buf, (size_t)st.st_size) != st.st_size)
		DIE();
	close(fd);
	*ret_n = (size_t)st.st_size;
	return buf;
}

/* Whether the last lookup walked the file: it then wrote the index anew. */
static bool walked(void)
{
	struct stat st;

	return stat(g.ipath, &st) != 0 || st.st_ino != g.ino;
}

/* A message must be set, terminated, and free of control characters. */
static void check_msg(int r, const char *msg)
{
	size_t n = strnlen(msg, CONFIG_MSG_MAX), i;

	if (n == CONFIG_MSG_MAX || (r != 0 && n == 0) || (r == 0 && n != 0))
		DIE();
	for (i = 0; i < n; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			DIE();
}

static bool same_strv(char **a, size_t na, char **b, size_t nb)
{
	size_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* The same ticket; not its line, which a lookup through the index takes from the index. */
static bool same_ticket(const struct ticket *a, const struct ticket *b)
{
	return a != NULL && b != NULL && strcmp(a->id, b->id) == 0 && a->state == b->state &&
	       a->not_before == b->not_before && a->not_after == b->not_after &&
	       same_strv(a->users, a->n_users, b->users, b->n_users) &&
	       same_strv(a->groups, a->n_groups, b->groups, b->n_groups) &&
	       same_strv(a->principals, a->n_principals, b->principals, b->n_principals) &&
	       same_strv(a->hosts, a->n_hosts, b->hosts, b->n_hosts);
}

/* The walk's answer for id, kept for the next time while there is room. */
static const struct answer *walk_answer(const char *id, struct answer *tmp)
{
	char msg[CONFIG_MSG_MAX];
	size_t i;

	memset(tmp, 0, sizeof(*tmp));
	for (i = 0; i < g.ncache; i++)
		if (strcmp(g.cache[i].id, id) == 0)
			return &g.cache[i];
	tmp->r = tickets_lookup_string("walk", g.text, g.len, id, &tmp->t, msg, sizeof(msg));
	check_msg(tmp->r, msg);
	if ((tmp->r == 0) != (tmp->t != NULL))
		DIE();
	if (g.ncache == CACHE_CAP)
		return tmp;
	if ((tmp->id = strdup(id)) == NULL)
		DIE();
	g.cache[g.ncache] = *tmp;
	memset(tmp, 0, sizeof(*tmp));
	return &g.cache[g.ncache++];
}

/*
 * Looks id up with idx[0, n) as PATH.index (written first: a walk replaces
 * it). exact: idx is the index the code wrote, which must answer, as the
 * walk does, line included.
 */
static void check(const char *id, const uint8_t *idx, size_t n, bool exact)
{
	const struct answer *w;
	struct answer tmp;
	struct ticket *t = NULL;
	char msg[CONFIG_MSG_MAX];
	bool ok;
	int r;

	write_file(g.ipath, idx, n);
	r = tickets_lookup(g.path, id, &t, msg, sizeof(msg));
	check_msg(r, msg);
	if ((r == 0) != (t != NULL))
		DIE();
	w = walk_answer(id, &tmp);
	if (exact)
		ok = !walked() && r == w->r &&
		     (r != 0 || (same_ticket(t, w->t) && t->line == w->t->line));
	else if (r == w->r)
		ok = r != 0 || (same_ticket(t, w->t) && (!walked() || t->line == w->t->line));
	else if (walked() || !config_is_ticket_id(id))
		ok = false;
	else if (r == JIT_ERR_NOT_FOUND)
		/* Hidden by the index: a ticket, or both entries of a duplicate. */
		ok = w->r == 0 || w->r == JIT_ERR_CONFIG_INVALID;
	else if (r == JIT_ERR_CONFIG_INVALID)
		/* A record repeated. */
		ok = w->r == 0 && strstr(msg, "is used more than once") != NULL;
	else if (r == 0)
		/* One of a duplicate's entries hidden: the other, as it stands. */
		ok = w->r == JIT_ERR_CONFIG_INVALID && strcmp(id, dup_id) == 0 &&
		     (same_ticket(t, g.dup_t[0]) || same_ticket(t, g.dup_t[1]));
	else
		ok = false;
	if (!ok)
		DIE();
	ticket_free(t);
	free(tmp.id);
	ticket_free(tmp.t);
}

/* Waits until the file's last change is more than 2 s old, as an index requires. */
static void settle(void)
{
	struct timespec now, pause;
	struct stat st;
	int64_t wait_ns;

	if (stat(g.path, &st) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0)
		DIE();
	wait_ns = (int64_t)(st.st_ctim.tv_sec + 2 - now.tv_sec) * 1000000000 +
	          (st.st_ctim.tv_nsec - now.tv_nsec) + 100000000;
	if (wait_ns > 0) {
		pause.tv_sec = (time_t)(wait_ns / 1000000000);
		pause.tv_nsec = (long)(wait_ns % 1000000000);
		while (nanosleep(&pause, &pause) != 0)
			;
	}
}

static size_t entry_at(uint64_t off, uint64_t len)
{
	size_t lo = 0, hi = g.n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (g.e[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == g.n || g.e[lo].off != off || g.e[lo].len != len || g.e[lo].id[0] == '\0')
		DIE();
	return lo;
}

/* An entry of dup_id alone in a tickets file: what a lookup finds when the other is hidden. */
static struct ticket *dup_alone(size_t which)
{
	struct ticket *t = NULL;
	char msg[CONFIG_MSG_MAX], *text;
	size_t i, seen = 0;
	int k;

	for (i = 0; i < g.n; i++)
		if (strcmp(g.e[i].id, dup_id) == 0 && seen++ == which)
			break;
	if (i == g.n ||
	    (k = asprintf(&text, "tickets = ( %.*s );", (int)g.e[i].len, g.text + g.e[i].off)) < 0)
		DIE();
	if (tickets_lookup_string("dup", text, (size_t)k, dup_id, &t, msg, sizeof(msg)) != 0)
		DIE();
	free(text);
	return t;
}

static void init(void)
{
	static const char *const specials[] = {known_id, dup_id, big_id, split_id};
	const char *tmpdir = getenv("TMPDIR");
	struct ticket *t = NULL;
	char msg[CONFIG_MSG_MAX];
	uint8_t *idx;
	uint64_t count, off;
	uint32_t len;
	size_t n, i, k, want;

	if (tmpdir == NULL || tmpdir[0] == '\0' || strlen(tmpdir) > 200)
		tmpdir = "/tmp";
	snprintf(g.dir, sizeof(g.dir), "%s/fuzz-tickets-index.XXXXXX", tmpdir);
	if (mkdtemp(g.dir) == NULL)
		DIE();
	atexit(cleanup);
	snprintf(g.path, sizeof(g.path), "%s/tickets.conf", g.dir);
	snprintf(g.ipath, sizeof(g.ipath), "%s.index", g.path);
	generate();
	if (g.len < 256 * 1024)
		DIE();
	for (i = 0; i < g.len; i++) {
		g.nopen += g.text[i] == '{';
		g.nclose += g.text[i] == '}';
	}
	if ((g.open = calloc(g.nopen, sizeof(*g.open))) == NULL ||
	    (g.close = calloc(g.nclose, sizeof(*g.close))) == NULL)
		DIE();
	g.nopen = g.nclose = 0;
	for (i = 0; i < g.len; i++) {
		if (g.text[i] == '{')
			g.open[g.nopen++] = i;
		else if (g.text[i] == '}')
			g.close[g.nclose++] = i;
	}
	write_file(g.path, g.text, g.len);
	settle();
	if (tickets_lookup(g.path, known_id, &t, msg, sizeof(msg)) != 0)
		DIE();
	ticket_free(t);

	/* The index as the code writes it, checked against what was generated. */
	idx = read_file(g.ipath, &n);
	for (i = 0, want = 0; i < g.n; i++)
		want += g.e[i].id[0] != '\0';
	memcpy(&count, idx + COUNT_AT, sizeof(count));
	if (n < HEAD || memcmp(idx, "JITTIX1\n", 8) != 0 || count != want ||
	    n != HEAD + count * REC)
		DIE();
	memcpy(g.head, idx, HEAD);
	g.nrecs = (size_t)count;
	if ((g.recs = malloc(g.nrecs * REC)) == NULL ||
	    (g.rec_entry = calloc(g.nrecs, sizeof(*g.rec_entry))) == NULL)
		DIE();
	memcpy(g.recs, idx + HEAD, g.nrecs * REC);
	free(idx);
	for (i = 0; i < g.nrecs; i++) {
		memcpy(&off, g.recs + i * REC + REC_OFF, 8);
		memcpy(&len, g.recs + i * REC + REC_LEN, sizeof(len));
		g.rec_entry[i] = entry_at(off, len);
		for (k = 0; k < sizeof(specials) / sizeof(specials[0]); k++)
			if (strcmp(g.e[g.rec_entry[i]].id, specials[k]) == 0 && g.nspecial < 5)
				g.special[g.nspecial++] = i;
	}
	if (g.nspecial != 5)
		DIE();
	g.dup_t[0] = dup_alone(0);
	g.dup_t[1] = dup_alone(1);
	if (same_ticket(g.dup_t[0], g.dup_t[1]))
		DIE();

	/* The valid index answers (no walk), as the walk would. */
	idx = malloc(HEAD + g.nrecs * REC);
	if (idx == NULL)
		DIE();
	memcpy(idx, g.head, HEAD);
	memcpy(idx + HEAD, g.recs, g.nrecs * REC);
	for (i = 0; i < sizeof(specials) / sizeof(specials[0]); i++)
		check(specials[i], idx, HEAD + g.nrecs * REC, true);
	check(absent_id, idx, HEAD + g.nrecs * REC, true);
	free(idx);
	g.ready = true;
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

static int rec_cmp(const void *a, const void *b)
{
	uint64_t x, y;

	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	return x < y ? -1 : x > y;
}

/* The first of v[0, n) (ascending) that is at least x; n when none is. */
static size_t lower_bound(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Points a record from a "{" to a "}" of the text: from the first "{" at or
 * after its offset, value[0] - 128 of them on (around the text), to the
 * value[1] % 8-th "}" after. Within an entry, across entries, into comments:
 * the text an index can name that begins and ends as an entry does.
 */
static void snap(uint8_t *r, const uint8_t *v)
{
	uint64_t off;
	uint32_t len;
	long long i;
	size_t j;

	memcpy(&off, r + REC_OFF, 8);
	i = (long long)lower_bound(g.open, g.nopen, off) + v[0] - 128;
	i %= (long long)g.nopen;
	if (i < 0)
		i += (long long)g.nopen;
	off = g.open[i];
	j = lower_bound(g.close, g.nclose, off) + v[1] % 8;
	if (j >= g.nclose)
		j = g.nclose - 1;
	len = g.close[j] >= off ? (uint32_t)(g.close[j] + 1 - off) : 0;
	memcpy(r + REC_OFF, &off, 8);
	memcpy(r + REC_LEN, &len, 4);
}

/*
 * One edit of a record, 10 bytes: the record; the field (bits 0-4: its
 * byte in the record, bit 7: 8 bytes wide, else 4) and what to do (bits
 * 5-6: set to the value, add the value, copy that field of record value[0],
 * with bit 7 copy the whole of record value[0], else snap()); an 8-byte
 * value.
 */
static void edit(uint8_t *recs, size_t n, const uint8_t *ed)
{
	size_t w = (ed[1] & 0x80) != 0 ? 8 : 4, at = ed[1] & 0x1f, op = (ed[1] >> 5) & 3;
	uint8_t *r = recs + (ed[0] % n) * REC, *src = recs + (ed[2] % n) * REC;
	uint64_t v = get_le(ed + 2, 8), cur = 0;

	if (at + w > REC)
		at = REC - w;
	switch (op) {
	case 0:
		memcpy(r + at, &v, w);
		break;
	case 1:
		memcpy(&cur, r + at, w);
		cur += v;
		memcpy(r + at, &cur, w);
		break;
	case 2:
		memmove(r + at, src + at, w);
		break;
	default:
		if ((ed[1] & 0x80) != 0)
			memmove(r, src, REC);
		else
			snap(r, ed + 2);
		break;
	}
}

/*
 * The input: flags; the first valid record (2 bytes) and how many (0-63)
 * go in; a record whose id is looked up; edits (low 4 bits) and a count
 * delta (high 4); the looked-up id's length when taken raw from the input's
 * end; an argument for the count; edits; the rest, raw records.
 * Flags: bits 0-1 the count (0, 1: right; 2: off by the delta; 3: wrapping
 * at 32 bytes a record, or the file cut inside its head); bit 2 a bit of the
 * identity flipped; bit 3 records sorted after the edits; bits 4-5 the id
 * looked up besides the known and an absent one (that of the record, among
 * those copied from the valid index, raw from the input, an entry's, a
 * special one's); bit 6 the duplicate id looked up too;
 * bit 7 the special entries' records put in.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const specials[] = {dup_id, big_id, split_id, known_id};
	uint8_t in[8] = {0}, *idx = NULL, *recs;
	size_t m, nr = 0, i, k, nedits, nraw, n, cut, of[64 + 5];
	uint64_t count;
	char id[TICKET_ID_MAX + 8];

	if (!g.ready)
		init();
	memcpy(in, data, size < sizeof(in) ? size : sizeof(in));
	data += size < sizeof(in) ? size : sizeof(in);
	size -= size < sizeof(in) ? size : sizeof(in);
	m = in[3] % 64;
	nedits = in[5] & 0x0f;
	if (nedits * 10 > size)
		nedits = size / 10;
	nraw = (size - nedits * 10) / REC;
	if (nraw > MAX_RECS - 64 - 5)
		nraw = MAX_RECS - 64 - 5;
	if ((idx = calloc(1, HEAD + MAX_RECS * REC)) == NULL)
		DIE();
	recs = idx + HEAD;
	k = (size_t)get_le(in + 1, 2);
	/* of[]: the valid record each of the first ones is a copy of. */
	for (i = 0; i < m; i++)
		of[nr++] = (k + i) % g.nrecs;
	if ((in[0] & 0x80) != 0)
		for (i = 0; i < g.nspecial; i++)
			of[nr++] = g.special[i];
	for (i = 0; i < nr; i++)
		memcpy(recs + i * REC, g.recs + of[i] * REC, REC);
	memcpy(recs + nr * REC, data + nedits * 10, nraw * REC);
	nr += nraw;
	for (i = 0; i < nedits && nr > 0; i++)
		edit(recs, nr, data + i * 10);
	if ((in[0] & 0x08) != 0)
		qsort(recs, nr, REC, rec_cmp);

	memcpy(idx, g.head, HEAD);
	count = nr;
	n = HEAD + nr * REC;
	switch (in[0] & 3) {
	case 2:
		count += (uint64_t)(in[5] >> 4) - 8;
		break;
	case 3:
		if ((in[7] & 0x80) != 0)
			n = in[7] % HEAD;
		else if ((in[7] & 0x40) != 0)
			count += (uint64_t)(in[7] & 0x1f) << 59;
		else
			count = (uint64_t)TICKETS_MAX + 1 + (in[7] & 0x3f);
		break;
	default:
		break;
	}
	memcpy(idx + COUNT_AT, &count, sizeof(count));
	if ((in[0] & 0x04) != 0)
		idx[8 + in[7] % (COUNT_AT - 8)] ^= (uint8_t)(1u << (in[6] % 8));

	check(known_id, idx, n, false);
	/* A head that does not fit means the walk for every id: fewer of them. */
	if ((in[0] & 3) < 2 && (in[0] & 0x04) == 0)
		check(absent_id, idx, n, false);
	switch ((in[0] >> 4) & 3) {
	case 0:
		/* A record copied from the valid index, as it was before the edits. */
		i = nr > nraw ? of[in[4] % (nr - nraw)] : in[4] % g.nrecs;
		snprintf(id, sizeof(id), "%s", g.e[g.rec_entry[i]].id);
		break;
	case 1:
		cut = in[6] % (TICKET_ID_MAX + 2);
		if (cut > size)
			cut = size;
		memcpy(id, data + size - cut, cut);
		id[cut] = '\0';
		break;
	case 2:
		snprintf(id, sizeof(id), "%s", g.e[(in[4] | (size_t)in[6] << 8) % g.n].id);
		break;
	default:
		snprintf(id, sizeof(id), "%s", specials[in[4] % 4]);
		break;
	}
	check(id, idx, n, false);
	if ((in[0] & 0x40) != 0)
		check(dup_id, idx, n, false);
	free(idx);
	return 0;
}
