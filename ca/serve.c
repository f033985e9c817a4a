/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca serve: the network side of the signing service. One thread, one
 * poll() loop, non-blocking sockets; callers are authenticated with
 * SO_PEERCRED on Unix sockets, or by their client certificate over TLS 1.3
 * (common/tls.h), and mapped to a configured requester, whose caps decide
 * the certificate. The CA key lives only in the signer processes
 * (signer.c). Listening Unix sockets may come from systemd instead of the
 * configuration (socket activation).
 *
 * Each loop iteration decides every request that is complete and sends
 * those to sign to the signers (one per CPU, each with a queue of
 * requests), takes the signers' answers that have come back, appends one
 * audit record for each finished decision, syncs the audit log once, and
 * only then answers (group commit): no certificate leaves without its
 * record on disk. The signers sign while this side reads, syncs and
 * answers; the batch synced together is whatever finished meanwhile.
 * Refusals of callers that match no requester get records up to a rate
 * per source, and summary records for the rest (REFUSAL_RATE).
 */
#define _GNU_SOURCE /* struct ucred, accept4, ppoll, SO_PEERGROUPS */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "build_config.h"

#include "addr.h"
#include "audit.h"
#include "buf.h"
#include "cert.h"
#include "err.h"
#include "key.h"
#include "proto.h"
#include "quote.h"
#include "revocation.h"
#include "serve.h"
#include "timefmt.h"
#include "tls.h"

/* Connections accepted per listener per loop iteration, so listeners cannot starve callers. */
#define ACCEPT_BURST 64
/* Pause accepting this long when the process is out of file descriptors. */
#define ACCEPT_PAUSE_MS 100
/* Longest text we put in a log line value before escaping. */
#define LOG_LINE_MAX AUDIT_SYSLOG_MAX
/* Bytes of a comma list of principals (PROTO_PRINCIPALS_MAX names of CERT_PRINCIPAL_MAX). */
#define PRINCIPALS_TEXT_MAX (PROTO_PRINCIPALS_MAX * (CERT_PRINCIPAL_MAX + 1) + 1)
/*
 * Bytes of a request's principals, comma-joined: what an audit record
 * (AUDIT_LINE_MAX) holds beside the other fields, and far below what a
 * certificate holds. A longer list is the caller's error, recorded cut.
 */
#define PRINCIPALS_AUDITED_MAX  2048
#define PRINCIPALS_RECORDED_CUT 256
/* Supplementary groups read for one caller (the kernel's NGROUPS_MAX). */
#define PEER_GROUPS_MAX 65536
/* Groups read without allocating; more need a second call. */
#define PEER_GROUPS_STACK 64
/* Largest buffer for one getpwnam_r/getgrnam_r at startup (huge groups). */
#define NSS_BUF_MAX (16 * 1024 * 1024)
/* A TLS handshake's own deadline (ms), at most request_timeout: idle TCP callers go soon. */
#define HANDSHAKE_TIMEOUT_MS 2000
/*
 * Slots kept for Unix-socket callers that are requesters: max_connections /
 * 4, at least min(16, half). The others (TLS callers, unauthenticated until
 * their handshake ends, and Unix callers that match no requester) share the
 * rest.
 */
#define UNIX_RESERVE_MIN 16
/* Connections a Unix caller that matches no requester may hold at once, per uid. */
#define UNAUTH_UID_CONNS 8
/*
 * Group commit: finished decisions wait for the signers' other answers, at
 * most this long (microseconds), so that one sync covers them all; with
 * nothing more at the signers they are committed at once.
 */
#define COMMIT_WAIT_US 1000
/* A revocation store that cannot be read is tried again this often (ms), not per request. */
#define STORE_RETRY_MS 1000
/* A connection's first read buffer, in bytes. */
#define READ_BUF_MIN 512

/* "[v6 address]:port" */
#define PEER_ADDR_MAX (INET6_ADDRSTRLEN + 9)

/*
 * Anyone who can connect can be refused, and each refusal used to cost a
 * durable record: callers that match no requester are limited per source
 * (a Unix caller's uid; a TLS caller's IPv4 address, or IPv6 /64 since one
 * host holds a whole /64) to REFUSAL_RATE records a second, a bucket of
 * REFUSAL_RATE refilled at that rate, and all sources together to
 * REFUSAL_RATE_TOTAL. Beyond that they are answered as ever and counted;
 * one summary record per source carries the count, REFUSAL_SUMMARY_MS
 * after the first refusal it counts, or at the stop. Their log lines about
 * dropped connections are limited the same way. Requesters never are.
 */
#define REFUSAL_RATE       10
#define REFUSAL_RATE_TOTAL 100
#define REFUSAL_SUMMARY_MS 10000
/* Sources tracked at once; beyond them, the others share one more entry. */
#define REFUSAL_SOURCES 256
/* A summary that could not be written is tried again this much later. */
#define REFUSAL_RETRY_MS 1000
/* An IPv6 prefix as text: "address/64". */
#define SOURCE_TEXT_MAX (INET6_ADDRSTRLEN + 4)

enum source_kind {
	SOURCE_NONE = 0,
	SOURCE_UID,
	SOURCE_IPV4,
	SOURCE_IPV6,  /* its /64 */
	SOURCE_OTHER, /* unknown, or beyond the sources tracked */
};

/* What a refusal is counted against; compared with memcmp, so zeroed before it is set. */
struct source {
	uint32_t kind;
	uint32_t uid;
	uint8_t addr[16]; /* IPv4: 4 bytes; IPv6: the first 8 */
};

/* A token bucket, in thousandths of a record. */
struct bucket {
	uint64_t milli;
	uint64_t at_ms; /* when it was last refilled */
};

/* What was counted instead of written one by one, since the last summary. */
struct tally {
	uint64_t n;
	uint64_t first, last; /* seconds since the epoch */
};

/* How many unauthenticated connections a source holds now (an open-addressing table). */
struct held_source {
	struct source src; /* SOURCE_NONE: free */
	uint32_t n;
};

struct source_entry {
	struct source src; /* SOURCE_NONE: free */
	struct bucket bucket;
	uint64_t last_ms;     /* its last refusal or line: the least recent idle entry is reused */
	uint64_t due_ms;      /* when its summary is due, while anything is counted */
	struct tally refused; /* into a summary audit record */
	struct tally dropped; /* lines about dropped connections: into a summary log line */
	int appended;         /* its summary record is appended, not yet synced */
	char *audit_line;     /* that record as a syslog line */
};

enum conn_state {
	CONN_FREE = 0,
	CONN_HANDSHAKE, /* TLS: the handshake is under way */
	CONN_READ,      /* reading the request frame */
	CONN_READY,     /* a whole frame (or an oversized header) is in */
	CONN_SIGNING,   /* decided to issue: a signer has the request */
	CONN_DECIDED,   /* decided: its audit record and answer are due */
	CONN_WRITE,     /* sending the response */
};

struct decision;

struct conn {
	enum conn_state state;
	int fd;
	uint64_t accepted_ms, deadline_ms;
	struct ucred cred;
	const struct config_requester *unix_rq; /* matched at accept, by numbers */
	uint8_t hdr[4];
	size_t hdr_got;
	uint32_t frame_len;
	int too_large;
	uint8_t *in;
	size_t in_cap, in_got;
	uint8_t *out;
	size_t out_len, out_sent;
	/* TLS only */
	SSL *ssl;
	short want; /* the poll events the last SSL call waits for */
	char peer_addr[PEER_ADDR_MAX];
	char *peer_name; /* the certificate name that matched, else its first */
	const struct config_requester *tls_rq;
	int hs_failed;
	char hs_error[256];
	struct decision *d; /* from CONN_SIGNING until answered */
	struct source src;  /* whom its refusal is counted against */
	int counted;        /* its refusal was counted, not written: so are its other lines */
	uint64_t seq;       /* accept order: the oldest waiting connection gives way first */
	int shared;         /* in nshared: a TLS caller, or a Unix caller matching no requester */
	int held;           /* in its source's held_source: not (yet) a requester */
};

struct listener {
	int fd;
	int tls;
	char *path; /* unix sockets we made: unlinked at the end */
	dev_t dev;  /* of the socket we made, so we unlink only ours */
	ino_t ino;
};

/* The sd_listen_fds(3) protocol: passed descriptors start at 3. */
#define LISTEN_FDS_START 3
/* More passed sockets than this is a broken unit, not a configuration. */
#define LISTEN_FDS_MAX 16
/* Longest socket name we keep from LISTEN_FDNAMES (systemd allows 255). */
#define LISTEN_FDNAME_MAX 255
/* A socket's address as text: its path, "@name" when abstract. */
#define SOCK_ADDR_TEXT_MAX 110

/* The Unix listening sockets systemd passed (socket activation). */
struct activation {
	size_t n;
	int fd[LISTEN_FDS_MAX];
	char name[LISTEN_FDS_MAX][LISTEN_FDNAME_MAX + 1];
	char addr[LISTEN_FDS_MAX][SOCK_ADDR_TEXT_MAX];
};

/* One decision: what the audit record, the log line and the response say. */
struct decision {
	struct conn *conn;
	const char *requester;
	struct proto_request req;
	int have_req;
	const char *context;
	uint8_t status;
	char message[PROTO_MESSAGE_MAX + 1];
	/* issued only */
	uint64_t serial;
	char *key_id;
	char *principals; /* comma list: issued, or asked for when refused */
	uint64_t valid_after, valid_before;
	const char *source_address;
	char *fingerprint;
	int clamped;
	uint8_t *cert;
	size_t cert_len;
	char *audit_line; /* the appended record as a syslog line */
	int appended;
	/* while a signer has it: what was asked, to check the answer against */
	struct cert_req creq;
	struct key *subject;
	uint64_t sent_ms;
};

/* One signer process and the connections whose requests it has, oldest first. */
struct signer_queue {
	struct signer *s;
	struct conn *pending[SIGNER_INFLIGHT];
	size_t head, n;
};

/* A requester's unix_users or unix_groups entry, resolved to its number at startup. */
struct id_rule {
	unsigned id;
	const struct config_requester *rq;
};

struct server {
	const struct jit_config *cfg;
	struct id_rule *uids, *gids; /* in requester order */
	size_t nuids, ngids;
	/* Connections of TLS callers and Unix callers matching no requester, and their share. */
	size_t nshared, shared_max;
	/* Unauthenticated connections per source: held_mask + 1 entries, at least 2 * max_conns. */
	struct held_source *held;
	size_t held_mask;
	uint64_t held_seed, accept_seq;
	/* The revocation store: its revoked tickets, and the file they came from. */
	char *store_path;
	struct revocations *revoked;
	struct stat store_st;    /* st_ino 0: no file */
	int store_bad;           /* it exists but cannot be read: ticket requests are refused */
	uint64_t store_retry_ms; /* while bad, when to read it again */
	struct listener *ls;
	size_t nls;
	struct conn *conns;
	size_t max_conns, nconns;
	/* 1 + the highest slot in use: the loops over connections stop there. */
	size_t conn_hi;
	struct audit_log *audit;
	struct serial_state *serial;
	struct signer_queue signers[SIGNERS_MAX];
	size_t nsigners;
	struct conn **decided; /* max_conns: finished decisions, in order, awaiting commit */
	size_t ndecided;
	uint64_t decided_since_us; /* when the first of them finished */
	size_t next_ready;         /* where the next search for ready requests starts (fairness) */
	struct key *ca_pub;
	SSL_CTX *tls_ctx;
	uint64_t accept_paused_until;
	uint64_t overload_count, evicted_count, overload_logged_at;
	char *line; /* LOG_LINE_MAX: the one buffer log and audit lines are formatted in */
	int fatal;
	/* Refusals of unauthenticated callers: REFUSAL_SOURCES + 1, the last for the others. */
	struct source_entry *sources;
	struct bucket refusal_total;
	uint64_t summary_due_ms;   /* the earliest due_ms, 0 when nothing is counted */
	size_t summaries_appended; /* summary records awaiting their sync */
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One line to syslog and to stderr. */
static void slog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(int prio, const char *fmt, ...)
{
	/* One thread: one buffer, so that stderr gets each line in one write. */
	static char line[LOG_LINE_MAX + 16];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line + 8, sizeof(line) - 9, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(line) - 9) {
		syslog(prio, "%s", line + 8);
		memcpy(line, "jit-ca: ", 8);
		line[8 + n] = '\n';
		fwrite(line, 1, (size_t)n + 9, stderr);
		return;
	}
	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	fputs("jit-ca: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Appends s to out, quoted, with '"' and '\' escaped and other unprintable bytes as \xNN. */
static void put_quoted(char *out, size_t outlen, size_t *pos, const char *s)
{
	const unsigned char *p;
	int n;

	for (p = (const unsigned char *)"\""; *p != '\0'; p++)
		if (*pos + 1 < outlen)
			out[(*pos)++] = (char)*p;
	for (p = (const unsigned char *)s; *p != '\0' && *pos + 5 < outlen; p++) {
		if (*p == '"' || *p == '\\') {
			out[(*pos)++] = '\\';
			out[(*pos)++] = (char)*p;
		} else if (*p >= 0x20 && *p < 0x7f)
			out[(*pos)++] = (char)*p;
		else {
			n = snprintf(out + *pos, outlen - *pos, "\\x%02x", *p);
			if (n > 0)
				*pos += (size_t)n;
		}
	}
	if (*pos + 1 < outlen)
		out[(*pos)++] = '"';
	out[*pos < outlen ? *pos : outlen - 1] = '\0';
}

/* "key=value ..." from audit fields, as audit_syslog_line formats them. */
static void format_fields(const struct audit_field *f, size_t n, char *out, size_t outlen)
{
	size_t i, pos = 0;
	int k;

	out[0] = '\0';
	for (i = 0; i < n && pos + 1 < outlen; i++) {
		k = snprintf(out + pos, outlen - pos, "%s%s=", i > 0 ? " " : "", f[i].key);
		if (k < 0 || (size_t)k >= outlen - pos)
			break;
		pos += (size_t)k;
		switch (f[i].type) {
		case AUDIT_T_STR:
			put_quoted(out, outlen, &pos, f[i].s);
			break;
		case AUDIT_T_U64:
			k = snprintf(out + pos, outlen - pos, "%llu", (unsigned long long)f[i].u);
			if (k > 0)
				pos += (size_t)k < outlen - pos ? (size_t)k : outlen - pos - 1;
			break;
		case AUDIT_T_BOOL:
			k = snprintf(out + pos, outlen - pos, "%s", f[i].u ? "true" : "false");
			if (k > 0)
				pos += (size_t)k < outlen - pos ? (size_t)k : outlen - pos - 1;
			break;
		}
	}
}

/* "peer_uid=U peer_pid=P", or over TLS "peer_address=A peer_name=N", for log lines. */
static const char *peer_text(const struct conn *c, char *out, size_t outlen)
{
	size_t pos;

	if (c->ssl == NULL) {
		snprintf(out, outlen, "peer_uid=%u peer_pid=%d", (unsigned)c->cred.uid,
		         (int)c->cred.pid);
		return out;
	}
	pos = (size_t)snprintf(out, outlen, "peer_address=%s peer_name=", c->peer_addr);
	if (pos >= outlen)
		return out;
	put_quoted(out, outlen, &pos, c->peer_name != NULL ? c->peer_name : "");
	return out;
}

/* --- refusals of unauthenticated callers: a bound per source --- */

/* 1 for a caller that matched no requester (so far: a TLS handshake under way counts too). */
static int conn_unauthenticated(const struct conn *c)
{
	return c->ssl != NULL ? c->tls_rq == NULL : c->unix_rq == NULL;
}

static void bucket_refill(struct bucket *b, uint64_t rate, uint64_t t)
{
	uint64_t cap = rate * 1000, add;

	if (t <= b->at_ms)
		return;
	/* rate records a second are rate thousandths a millisecond. */
	add = (t - b->at_ms) * rate;
	b->milli = add >= cap - b->milli ? cap : b->milli + add;
	b->at_ms = t;
}

/*
 * 1 when the entry may go to another source: nothing counted, and a full
 * bucket (the bucket holds one second's worth), so that forgetting the
 * source changes nothing it would be allowed.
 */
static int source_idle(const struct source_entry *e, uint64_t t)
{
	return e->src.kind == SOURCE_NONE ||
	       (e->refused.n == 0 && e->dropped.n == 0 && !e->appended && t - e->last_ms >= 1000);
}

/* The entry of src: its own, a free or idle one (the least recent), else the shared last one. */
static struct source_entry *source_find(struct server *srv, const struct source *src, uint64_t t)
{
	struct source_entry *e, *reuse = NULL;
	size_t i;

	for (i = 0; i < REFUSAL_SOURCES && src->kind != SOURCE_OTHER; i++) {
		e = &srv->sources[i];
		if (memcmp(&e->src, src, sizeof(*src)) == 0)
			return e;
		if (source_idle(e, t) && (reuse == NULL || e->last_ms < reuse->last_ms))
			reuse = e;
	}
	if (reuse == NULL)
		return &srv->sources[REFUSAL_SOURCES];
	memset(reuse, 0, sizeof(*reuse));
	reuse->src = *src;
	reuse->bucket.milli = (uint64_t)REFUSAL_RATE * 1000;
	reuse->bucket.at_ms = t;
	return reuse;
}

/*
 * 1 when a refusal (refusal 1) or a log line about a dropped connection
 * (refusal 0) of an unauthenticated caller from src may be written; 0 when
 * it is only counted, for the source's summary.
 */
static int source_allow(struct server *srv, const struct source *src, int refusal)
{
	uint64_t t = now_ms();
	struct source_entry *e = source_find(srv, src, t);
	struct tally *ty = refusal ? &e->refused : &e->dropped;
	uint64_t now;

	e->last_ms = t;
	bucket_refill(&e->bucket, REFUSAL_RATE, t);
	bucket_refill(&srv->refusal_total, REFUSAL_RATE_TOTAL, t);
	if (e->bucket.milli >= 1000 && srv->refusal_total.milli >= 1000) {
		e->bucket.milli -= 1000;
		srv->refusal_total.milli -= 1000;
		return 1;
	}
	if (e->refused.n == 0 && e->dropped.n == 0) {
		e->due_ms = t + REFUSAL_SUMMARY_MS;
		if (srv->summary_due_ms == 0 || e->due_ms < srv->summary_due_ms)
			srv->summary_due_ms = e->due_ms;
	}
	now = (uint64_t)time(NULL);
	if (ty->n == 0)
		ty->first = now;
	ty->n++;
	ty->last = now;
	return 0;
}

/* 1 when a log line about c may be written (always for requesters); else it is counted. */
static int conn_may_log(struct server *srv, const struct conn *c)
{
	if (!conn_unauthenticated(c))
		return 1;
	if (c->counted)
		return 0;
	return source_allow(srv, &c->src, 0);
}

/* --- unauthenticated connections per source --- */

_Static_assert(sizeof(struct source) % sizeof(uint64_t) == 0, "source hashed by words");

/* The slot src hashes to; the seed is random, so that callers cannot aim at one chain. */
static size_t held_home(const struct server *srv, const struct source *src)
{
	uint64_t w[sizeof(*src) / sizeof(uint64_t)], h = srv->held_seed;
	size_t i;

	memcpy(w, src, sizeof(w));
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		h ^= w[i];
		h ^= h >> 30;
		h *= 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 27;
		h *= 0x94d049bb133111ebULL;
		h ^= h >> 31;
	}
	return (size_t)h & srv->held_mask;
}

/* The entry of src, or the free one where it would go (the table is never full). */
static struct held_source *held_find(const struct server *srv, const struct source *src)
{
	size_t i = held_home(srv, src);

	while (srv->held[i].src.kind != SOURCE_NONE &&
	       memcmp(&srv->held[i].src, src, sizeof(*src)) != 0)
		i = (i + 1) & srv->held_mask;
	return &srv->held[i];
}

static uint32_t held_count(const struct server *srv, const struct source *src)
{
	const struct held_source *e = held_find(srv, src);

	return e->src.kind == SOURCE_NONE ? 0 : e->n;
}

static void held_add(struct server *srv, struct conn *c)
{
	struct held_source *e = held_find(srv, &c->src);

	if (e->src.kind == SOURCE_NONE) {
		e->src = c->src;
		e->n = 0;
	}
	e->n++;
	c->held = 1;
}

/* Its source holds one connection less; a source with none leaves the table. */
static void held_remove(struct server *srv, struct conn *c)
{
	struct held_source *e;
	size_t i, j, mask = srv->held_mask;

	if (!c->held)
		return;
	c->held = 0;
	e = held_find(srv, &c->src);
	if (e->src.kind == SOURCE_NONE || --e->n > 0)
		return;
	/* Backward shift: a later entry moves into the gap unless its home lies after the gap. */
	i = (size_t)(e - srv->held);
	for (j = (i + 1) & mask; srv->held[j].src.kind != SOURCE_NONE; j = (j + 1) & mask) {
		if (((j - held_home(srv, &srv->held[j].src)) & mask) >= ((j - i) & mask)) {
			srv->held[i] = srv->held[j];
			i = j;
		}
	}
	memset(&srv->held[i], 0, sizeof(srv->held[i]));
}

/* An address source as text: "192.0.2.7", "2001:db8:1:2::/64". */
static const char *source_text(const struct source *src, char *out, size_t outlen)
{
	uint8_t a6[16];

	out[0] = '\0';
	if (src->kind == SOURCE_IPV4)
		inet_ntop(AF_INET, src->addr, out, (socklen_t)outlen);
	else if (src->kind == SOURCE_IPV6) {
		memset(a6, 0, sizeof(a6));
		memcpy(a6, src->addr, 8);
		if (inet_ntop(AF_INET6, a6, out, (socklen_t)outlen) != NULL &&
		    strlen(out) + 4 < outlen)
			strcat(out, "/64");
	}
	return out;
}

/* The fields of e's summary record; returns how many. */
static size_t summary_fields(const struct source_entry *e, struct audit_field *f, char *addr,
                             size_t addrlen, char *msg, size_t msglen)
{
	size_t n = 0;

	snprintf(msg, msglen, "%llu refusals over the rate limit, not recorded one by one",
	         (unsigned long long)e->refused.n);
	f[n++] = (struct audit_field)AUDIT_STR("event", "refused");
	f[n++] = (struct audit_field)AUDIT_STR("requester", "");
	if (e->src.kind == SOURCE_UID)
		f[n++] = (struct audit_field)AUDIT_U64("peer_uid", e->src.uid);
	else if (e->src.kind == SOURCE_IPV4 || e->src.kind == SOURCE_IPV6)
		f[n++] = (struct audit_field)AUDIT_STR("peer_address",
		                                       source_text(&e->src, addr, addrlen));
	f[n++] = (struct audit_field)AUDIT_STR("status", proto_status_name(PROTO_UNAUTHENTICATED));
	f[n++] = (struct audit_field)AUDIT_STR("message", msg);
	f[n++] = (struct audit_field)AUDIT_U64("suppressed", e->refused.n);
	f[n++] = (struct audit_field)AUDIT_U64("first", e->refused.first);
	f[n++] = (struct audit_field)AUDIT_U64("last", e->refused.last);
	return n;
}

/* Logs the summary record's fields without a record (syslog-only, or a record that failed). */
static void summary_log_fields(struct server *srv, const struct source_entry *e)
{
	struct audit_field f[AUDIT_FIELDS_MAX];
	char addr[SOURCE_TEXT_MAX], msg[128];
	size_t n = summary_fields(e, f, addr, sizeof(addr), msg, sizeof(msg));

	format_fields(f, n, srv->line, LOG_LINE_MAX);
	slog(LOG_NOTICE, "%s", srv->line);
}

/* Sets summary_due_ms to the earliest summary due, 0 when nothing is counted. */
static void summaries_reschedule(struct server *srv)
{
	size_t i;

	srv->summary_due_ms = 0;
	for (i = 0; i <= REFUSAL_SOURCES; i++) {
		const struct source_entry *e = &srv->sources[i];

		if ((e->refused.n > 0 || e->dropped.n > 0) &&
		    (srv->summary_due_ms == 0 || e->due_ms < srv->summary_due_ms))
			srv->summary_due_ms = e->due_ms;
	}
}

/* 1 when a summary is due at t. */
static int summaries_due(const struct server *srv, uint64_t t)
{
	return srv->summary_due_ms != 0 && t >= srv->summary_due_ms;
}

/*
 * Writes the summaries due at t (every one when all): the lines about
 * dropped connections at once, the refusals' records appended for the sync
 * that follows (summaries_finish), or logged at once without an audit file.
 */
static void summaries_append(struct server *srv, uint64_t t, int all)
{
	struct audit_field f[AUDIT_FIELDS_MAX];
	char addr[SOURCE_TEXT_MAX], msg[128], who[SOURCE_TEXT_MAX + 32];
	uint64_t now = (uint64_t)time(NULL);
	size_t i, n;
	int r;

	if (srv->sources == NULL || srv->summary_due_ms == 0 || (!all && t < srv->summary_due_ms))
		return;
	for (i = 0; i <= REFUSAL_SOURCES; i++) {
		struct source_entry *e = &srv->sources[i];

		if ((e->refused.n == 0 && e->dropped.n == 0) || (!all && t < e->due_ms))
			continue;
		if (e->dropped.n > 0) {
			who[0] = '\0';
			if (e->src.kind == SOURCE_UID)
				snprintf(who, sizeof(who), " peer_uid=%u", (unsigned)e->src.uid);
			else if (e->src.kind == SOURCE_IPV4 || e->src.kind == SOURCE_IPV6)
				snprintf(who, sizeof(who), " peer_address=%s",
				         source_text(&e->src, addr, sizeof(addr)));
			slog(LOG_INFO,
			     "event=dropped reason=\"over the rate limit\"%s suppressed=%llu "
			     "first=%llu last=%llu",
			     who, (unsigned long long)e->dropped.n,
			     (unsigned long long)e->dropped.first,
			     (unsigned long long)e->dropped.last);
			memset(&e->dropped, 0, sizeof(e->dropped));
		}
		if (e->refused.n == 0)
			continue;
		if (srv->audit == NULL) {
			summary_log_fields(srv, e);
			memset(&e->refused, 0, sizeof(e->refused));
			continue;
		}
		n = summary_fields(e, f, addr, sizeof(addr), msg, sizeof(msg));
		if ((r = audit_append(srv->audit, now, f, n, NULL)) != 0) {
			slog(LOG_ERR, "event=error what=audit_append error=\"%s\"",
			     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
			e->due_ms = t + REFUSAL_RETRY_MS;
			continue;
		}
		e->appended = 1;
		srv->summaries_appended++;
		if (audit_syslog_line(srv->audit, srv->line, AUDIT_SYSLOG_MAX) == 0)
			e->audit_line = strdup(srv->line);
	}
	summaries_reschedule(srv);
}

/*
 * After the sync of the summaries appended: durable, their counts start
 * again and their lines are logged; else they are kept for another try
 * (at the stop, final, logged without a record instead, not to be lost).
 */
static void summaries_finish(struct server *srv, int durable, uint64_t t, int final)
{
	size_t i;

	if (srv->sources == NULL || (srv->summaries_appended == 0 && !final))
		return;
	srv->summaries_appended = 0;
	for (i = 0; i <= REFUSAL_SOURCES; i++) {
		struct source_entry *e = &srv->sources[i];

		if (e->appended) {
			e->appended = 0;
			if (durable && e->audit_line != NULL)
				slog(LOG_NOTICE, "%s", e->audit_line);
			else if (durable || final)
				summary_log_fields(srv, e);
			if (durable || final)
				memset(&e->refused, 0, sizeof(e->refused));
			else
				e->due_ms = t + REFUSAL_RETRY_MS;
			free(e->audit_line);
			e->audit_line = NULL;
		} else if (final && e->refused.n > 0) {
			summary_log_fields(srv, e);
			memset(&e->refused, 0, sizeof(e->refused));
		}
	}
	summaries_reschedule(srv);
}

/* --- listeners --- */

/* A TCP listener on host (an address, or a name resolved once at startup) and port. */
static int listen_tcp(const char *host, uint16_t port, struct listener *l)
{
	struct addrinfo hints, *ai = NULL;
	char portbuf[8];
	int fd = -1, one = 1, r = JIT_ERR_INTERNAL, saved;

	l->fd = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)port);
	if ((r = getaddrinfo(host, portbuf, &hints, &ai)) != 0 || ai == NULL) {
		errno = r == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
		ai = NULL;
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	l->fd = fd;
	l->tls = 1;
	fd = -1;
	r = 0;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	errno = saved;
	return r;
}

static int listen_unix(const char *path, struct listener *l)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd = -1, r = JIT_ERR_INTERNAL;

	l->fd = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return JIT_ERR_SYSTEM;
	}
	memcpy(sa.sun_path, path, strlen(path));
	/* A stale socket from a previous run may go; anything else stays. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			return JIT_ERR_SYSTEM;
		}
		/* A socket someone still answers on is not stale. */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return JIT_ERR_SYSTEM;
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		fd = -1;
		if (r == 0) {
			errno = EADDRINUSE;
			return JIT_ERR_SYSTEM;
		}
		if (unlink(path) != 0)
			return JIT_ERR_SYSTEM;
	} else if (errno != ENOENT)
		return JIT_ERR_SYSTEM;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return JIT_ERR_SYSTEM;
	/* 0666: anyone may connect; SO_PEERCRED decides who is answered. */
	old = umask(0111);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || listen(fd, SOMAXCONN) != 0 || stat(path, &st) != 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	fd = -1;
	r = 0;
out:
	if (fd >= 0) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return r;
}

static void close_listeners(struct server *srv)
{
	struct stat st;
	size_t i;

	for (i = 0; i < srv->nls; i++) {
		if (srv->ls[i].fd < 0)
			continue;
		close(srv->ls[i].fd);
		srv->ls[i].fd = -1;
		if (srv->ls[i].path != NULL && lstat(srv->ls[i].path, &st) == 0 &&
		    S_ISSOCK(st.st_mode) && st.st_dev == srv->ls[i].dev &&
		    st.st_ino == srv->ls[i].ino)
			unlink(srv->ls[i].path);
	}
}

/* --- socket activation (the sd_listen_fds protocol, without libsystemd) --- */

/* A decimal number of 1..max with nothing around it, or 0. */
static unsigned long parse_env_number(const char *s, unsigned long max)
{
	unsigned long v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 20)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if (v > (max - (unsigned long)(s[i] - '0')) / 10)
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v;
}

static const char *file_kind(mode_t m)
{
	return S_ISREG(m)    ? "regular file"
	       : S_ISDIR(m)  ? "directory"
	       : S_ISCHR(m)  ? "character device"
	       : S_ISBLK(m)  ? "block device"
	       : S_ISFIFO(m) ? "pipe"
	       : S_ISLNK(m)  ? "symbolic link"
	                     : "unknown file type";
}

static const char *family_name(int af)
{
	return af == AF_INET      ? "AF_INET"
	       : af == AF_INET6   ? "AF_INET6"
	       : af == AF_NETLINK ? "AF_NETLINK"
	                          : "other";
}

static const char *socktype_name(int t)
{
	return t == SOCK_DGRAM       ? "SOCK_DGRAM"
	       : t == SOCK_SEQPACKET ? "SOCK_SEQPACKET"
	       : t == SOCK_RAW       ? "SOCK_RAW"
	                             : "other";
}

/*
 * Checks one passed descriptor: a listening AF_UNIX SOCK_STREAM socket.
 * Makes it close-on-exec and non-blocking, and notes its address.
 */
static int activation_take(int fd, char *addr, size_t addrlen, char *why, size_t whylen)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	int v, fl;

	if (fcntl(fd, F_GETFD) < 0 || fstat(fd, &st) != 0) {
		snprintf(why, whylen, "fd %d is not open", fd);
		return JIT_ERR_CONFIG_INVALID;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, whylen, "fd %d is not a socket (%s)", fd, file_kind(st.st_mode));
		return JIT_ERR_CONFIG_INVALID;
	}
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0 || v != AF_UNIX) {
		snprintf(why, whylen, "fd %d is not a Unix socket (%s)", fd,
		         len == sizeof(v) ? family_name(v) : strerror(errno));
		return JIT_ERR_CONFIG_INVALID;
	}
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) != 0 || v != SOCK_STREAM) {
		snprintf(why, whylen, "fd %d is not a stream socket (%s)", fd,
		         len == sizeof(v) ? socktype_name(v) : strerror(errno));
		return JIT_ERR_CONFIG_INVALID;
	}
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 || v != 1) {
		snprintf(why, whylen, "fd %d is not a listening socket", fd);
		return JIT_ERR_CONFIG_INVALID;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		snprintf(why, whylen, "fd %d: %s", fd, strerror(errno));
		return JIT_ERR_CONFIG_INVALID;
	}
	memset(&sa, 0, sizeof(sa));
	len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		snprintf(addr, addrlen, "(unnamed)");
	else if (sa.sun_path[0] == '\0')
		snprintf(addr, addrlen, "@%.*s",
		         (int)(len - offsetof(struct sockaddr_un, sun_path) - 1), sa.sun_path + 1);
	else
		snprintf(addr, addrlen, "%.*s", (int)sizeof(sa.sun_path), sa.sun_path);
	return 0;
}

/*
 * The sockets systemd (or systemd-socket-activate) passed: LISTEN_PID this
 * process, LISTEN_FDS of them from fd 3, LISTEN_FDNAMES optional. The three
 * variables are removed first, whatever follows, so that no child sees
 * them. Variables meant for another process leave act empty. A passed
 * descriptor that is not a listening Unix stream socket, or variables that
 * do not parse, fail the start (fail closed): why says what is wrong.
 */
static int activation_collect(struct activation *act, char *why, size_t whylen)
{
	char pid_text[32], fds_text[32], *names = NULL, *p, *sep;
	const char *v;
	unsigned long pid, n, i;
	int r = JIT_ERR_INTERNAL;

	memset(act, 0, sizeof(*act));
	why[0] = '\0';
	pid_text[0] = fds_text[0] = '\0';
	if ((v = getenv("LISTEN_PID")) != NULL)
		snprintf(pid_text, sizeof(pid_text), "%s", v);
	if ((v = getenv("LISTEN_FDS")) != NULL)
		snprintf(fds_text, sizeof(fds_text), "%s", v);
	if ((v = getenv("LISTEN_FDNAMES")) != NULL && (names = strdup(v)) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (pid_text[0] == '\0') {
		r = 0;
		goto out;
	}
	if ((pid = parse_env_number(pid_text, (unsigned long)INT_MAX)) == 0) {
		snprintf(why, whylen, "LISTEN_PID is not a process ID");
		r = JIT_ERR_CONFIG_INVALID;
		goto out;
	}
	if (pid != (unsigned long)getpid()) {
		/* Meant for another process (an inherited environment): not ours to take. */
		slog(LOG_NOTICE,
		     "event=socket_activation ignored=\"LISTEN_PID %lu is not this process\"", pid);
		r = 0;
		goto out;
	}
	if (fds_text[0] == '\0' || strcmp(fds_text, "0") == 0) {
		r = 0;
		goto out;
	}
	if ((n = parse_env_number(fds_text, LISTEN_FDS_MAX)) == 0) {
		snprintf(why, whylen, "LISTEN_FDS is not a number of sockets from 1 to %d",
		         LISTEN_FDS_MAX);
		r = JIT_ERR_CONFIG_INVALID;
		goto out;
	}
	for (i = 0, p = names; i < n; i++) {
		int fd = LISTEN_FDS_START + (int)i;

		if (p != NULL) {
			if ((sep = strchr(p, ':')) != NULL)
				*sep = '\0';
			snprintf(act->name[i], sizeof(act->name[i]), "%s", p);
			p = sep != NULL ? sep + 1 : NULL;
			if (p == NULL && i + 1 < n) {
				snprintf(why, whylen,
				         "LISTEN_FDNAMES names %lu sockets, LISTEN_FDS %lu", i + 1,
				         n);
				r = JIT_ERR_CONFIG_INVALID;
				goto out;
			}
		}
		if ((r = activation_take(fd, act->addr[i], sizeof(act->addr[i]), why, whylen)) != 0)
			goto out;
		act->fd[i] = fd;
		act->n = i + 1;
	}
	if (p != NULL) {
		snprintf(why, whylen, "LISTEN_FDNAMES names more sockets than LISTEN_FDS %lu", n);
		r = JIT_ERR_CONFIG_INVALID;
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		act->n = 0;
	free(names);
	return r;
}

/* --- connections --- */

static void decision_free(struct decision *d);

static void conn_close(struct server *srv, struct conn *c)
{
	if (c->state == CONN_FREE)
		return;
	if (c->d != NULL) {
		decision_free(c->d);
		free(c->d);
	}
	if (c->shared)
		srv->nshared--;
	held_remove(srv, c);
	SSL_free(c->ssl);
	free(c->peer_name);
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CONN_FREE;
	srv->nconns--;
	while (srv->conn_hi > 0 && srv->conns[srv->conn_hi - 1].state == CONN_FREE)
		srv->conn_hi--;
}

/* An "unavailable" answer to a Unix caller we do not take: best effort, never blocking. */
static void answer_unavailable(int fd, const char *msg)
{
	struct proto_response resp;
	struct buf *b = buf_new(PROTO_FRAME_MAX);
	struct iovec iov[2];
	struct msghdr mh;
	uint8_t hdr[4];
	size_t len;

	memset(&resp, 0, sizeof(resp));
	resp.status = PROTO_UNAVAILABLE;
	resp.message = (char *)msg;
	if (b != NULL && proto_response_encode(&resp, b) == 0) {
		len = buf_len(b);
		hdr[0] = (uint8_t)(len >> 24);
		hdr[1] = (uint8_t)(len >> 16);
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		iov[0].iov_base = hdr;
		iov[0].iov_len = 4;
		iov[1].iov_base = (void *)buf_ptr(b);
		iov[1].iov_len = len;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		(void)sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	buf_free(b);
}

/* One line a second at most: an overload must not also flood the log. */
static void log_overload(struct server *srv)
{
	uint64_t t = now_ms();

	if (t - srv->overload_logged_at < 1000 && srv->overload_logged_at != 0)
		return;
	slog(LOG_WARNING,
	     "event=overload connections=%zu max_connections=%zu refused_total=%llu "
	     "evicted_total=%llu",
	     srv->nconns, srv->max_conns, (unsigned long long)srv->overload_count,
	     (unsigned long long)srv->evicted_count);
	srv->overload_logged_at = t;
}

/* The answer to a caller we cannot take. */
static void refuse_overload(struct server *srv, int fd, int tls)
{
	/* Over TLS a plain answer means nothing to the caller: just close. */
	if (!tls)
		answer_unavailable(fd, "too many connections");
	close(fd);
	srv->overload_count++;
	log_overload(srv);
}

/* A Unix caller that matches no requester, over its uid's UNAUTH_UID_CONNS: not taken. */
static void refuse_uid(struct server *srv, int fd, const struct source *src,
                       const struct ucred *cred)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "too many connections from uid %u", (unsigned)cred->uid);
	answer_unavailable(fd, msg);
	close(fd);
	if (source_allow(srv, src, 0))
		slog(LOG_NOTICE,
		     "event=dropped reason=\"too many connections from this caller\" peer_uid=%u "
		     "peer_pid=%d limit=%d",
		     (unsigned)cred->uid, (int)cred->pid, UNAUTH_UID_CONNS);
}

/*
 * Makes room for a new connection from src (NULL: a requester) when none
 * is left, by closing a connection still in its handshake or before a
 * whole request, of a caller that is not a requester: the oldest of the
 * source holding the most such connections, if it holds more than src;
 * else src's own oldest. So idle callers cannot keep another source out,
 * and a source's own oldest idle connections give way to its new ones (a
 * requester's handshake behind a stranger's on one address). Returns 1
 * when one was closed. The slot closed may still be in this loop's poll
 * results: a call for it then finds nothing to do.
 */
static int evict_for(struct server *srv, const struct source *src)
{
	char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];
	struct conn *victim = NULL, *own = NULL;
	uint32_t n, most = 0, mine = src != NULL ? held_count(srv, src) : 0;
	size_t i;

	for (i = 0; i < srv->conn_hi; i++) {
		struct conn *c = &srv->conns[i];

		if (!c->held || (c->state != CONN_HANDSHAKE && c->state != CONN_READ))
			continue;
		if (src != NULL && memcmp(&c->src, src, sizeof(*src)) == 0) {
			if (own == NULL || c->seq < own->seq)
				own = c;
			continue;
		}
		n = held_count(srv, &c->src);
		if (victim == NULL || n > most || (n == most && c->seq < victim->seq)) {
			victim = c;
			most = n;
		}
	}
	if (victim == NULL || most <= mine)
		victim = own;
	if (victim == NULL)
		return 0;
	if (conn_may_log(srv, victim))
		slog(LOG_NOTICE,
		     "event=dropped reason=\"evicted for a new connection\" %s state=%s",
		     peer_text(victim, ptext, sizeof(ptext)),
		     victim->state == CONN_HANDSHAKE ? "handshake" : "reading");
	conn_close(srv, victim);
	srv->evicted_count++;
	log_overload(srv);
	return 1;
}

/* The TCP peer's address as text ("unknown" without one) and its source. */
static void peer_source(int fd, char *addr, size_t addrlen, struct source *src)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char a[INET6_ADDRSTRLEN];

	addr[0] = '\0';
	src->kind = SOURCE_OTHER;
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) != 0)
		goto out;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(addr, addrlen, "%s:%u", a, (unsigned)ntohs(in->sin_port));
		src->kind = SOURCE_IPV4;
		memcpy(src->addr, &in->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(addr, addrlen, "[%s]:%u", a, (unsigned)ntohs(in6->sin6_port));
		src->kind = SOURCE_IPV6;
		memcpy(src->addr, &in6->sin6_addr, 8);
	}
out:
	if (addr[0] == '\0') {
		snprintf(addr, addrlen, "unknown");
		src->kind = SOURCE_OTHER;
	}
}

static const struct config_requester *authenticate(const struct server *srv, int fd,
                                                   const struct ucred *cred);
static void conn_read(struct server *srv, struct conn *c);

static void accept_all(struct server *srv, struct listener *l)
{
	const struct config_requester *rq;
	char addr[PEER_ADDR_MAX];
	struct source src;
	struct ucred cred;
	struct conn *c;
	socklen_t len;
	size_t i, k;
	int fd, shared;

	for (k = 0; k < ACCEPT_BURST; k++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				slog(LOG_WARNING, "event=accept_paused error=\"%s\"",
				     strerror(errno));
				srv->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
			}
			return;
		}
		memset(&cred, 0, sizeof(cred));
		memset(&src, 0, sizeof(src));
		addr[0] = '\0';
		rq = NULL;
		if (l->tls)
			peer_source(fd, addr, sizeof(addr), &src);
		else {
			len = sizeof(cred);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
			    len != sizeof(cred)) {
				slog(LOG_WARNING, "event=dropped reason=\"no peer credentials\"");
				close(fd);
				continue;
			}
			src.kind = SOURCE_UID;
			src.uid = (uint32_t)cred.uid;
			rq = authenticate(srv, fd, &cred);
		}
		/*
		 * Unix requesters may take any slot; the others (TLS callers are
		 * unauthenticated until their handshake ends) share the rest.
		 */
		shared = l->tls || rq == NULL;
		if (!l->tls && rq == NULL && held_count(srv, &src) >= UNAUTH_UID_CONNS) {
			refuse_uid(srv, fd, &src, &cred);
			continue;
		}
		if ((srv->nconns >= srv->max_conns ||
		     (shared && srv->nshared >= srv->shared_max)) &&
		    !evict_for(srv, shared ? &src : NULL)) {
			refuse_overload(srv, fd, l->tls);
			continue;
		}
		for (i = 0; i < srv->max_conns && srv->conns[i].state != CONN_FREE; i++)
			;
		if (i == srv->max_conns) {
			close(fd);
			continue;
		}
		c = &srv->conns[i];
		memset(c, 0, sizeof(*c));
		c->fd = -1;
		if (l->tls) {
			snprintf(c->peer_addr, sizeof(c->peer_addr), "%s", addr);
			ERR_clear_error();
			if ((c->ssl = SSL_new(srv->tls_ctx)) == NULL ||
			    SSL_set_fd(c->ssl, fd) != 1) {
				SSL_free(c->ssl);
				c->ssl = NULL;
				slog(LOG_ERR, "event=dropped reason=\"out of memory\"");
				close(fd);
				continue;
			}
			c->want = POLLIN;
		}
		c->state = l->tls ? CONN_HANDSHAKE : CONN_READ;
		if (i + 1 > srv->conn_hi)
			srv->conn_hi = i + 1;
		c->fd = fd;
		c->cred = cred;
		c->src = src;
		c->unix_rq = rq;
		c->seq = ++srv->accept_seq;
		c->accepted_ms = now_ms();
		c->deadline_ms = c->accepted_ms + srv->cfg->ca.request_timeout * 1000;
		/* The handshake has a shorter deadline of its own, within the request's. */
		if (l->tls && srv->cfg->ca.request_timeout * 1000 > HANDSHAKE_TIMEOUT_MS)
			c->deadline_ms = c->accepted_ms + HANDSHAKE_TIMEOUT_MS;
		if (shared) {
			c->shared = 1;
			srv->nshared++;
			held_add(srv, c);
		}
		srv->nconns++;
		/* A local caller writes its request right after connecting: read it now. */
		if (!l->tls)
			conn_read(srv, c);
	}
}

/* After a failed SSL read or write: read(2)/send(2) results, with EAGAIN for "retry". */
static ssize_t tls_io_result(struct conn *c, int rc)
{
	int e = SSL_get_error(c->ssl, rc);
	short ev = tls_want(c->ssl, rc);

	if (ev != 0) {
		c->want = ev;
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return errno == 0 ? 0 : -1;
	errno = EPROTO;
	return -1;
}

static ssize_t conn_recv(struct conn *c, void *p, size_t n)
{
	size_t got = 0;
	int rc;

	if (c->ssl == NULL)
		return read(c->fd, p, n);
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_read_ex(c->ssl, p, n, &got)) == 1)
		return (ssize_t)got;
	return tls_io_result(c, rc);
}

static ssize_t conn_send(struct conn *c, const void *p, size_t n)
{
	size_t done = 0;
	int rc;

	if (c->ssl == NULL)
		return send(c->fd, p, n, MSG_NOSIGNAL);
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_write_ex(c->ssl, p, n, &done)) == 1)
		return (ssize_t)done;
	return tls_io_result(c, rc);
}

/* Reads what is there; moves to CONN_READY when the frame is whole. */
static void conn_read(struct server *srv, struct conn *c)
{
	char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];
	size_t want, ncap;
	uint8_t *n;
	ssize_t got;

	for (;;) {
		if (c->hdr_got < sizeof(c->hdr)) {
			got = conn_recv(c, c->hdr + c->hdr_got, sizeof(c->hdr) - c->hdr_got);
		} else {
			want = c->frame_len - c->in_got;
			if (c->in_got == c->in_cap) {
				/*
				 * Grow with what arrives, not with what the header
				 * claims; start small, since a typical request is a
				 * few hundred bytes and a thousand may wait at once.
				 */
				ncap = c->in_cap < READ_BUF_MIN ? READ_BUF_MIN : c->in_cap * 2;
				if (ncap > c->frame_len)
					ncap = c->frame_len;
				if ((n = realloc(c->in, ncap)) == NULL) {
					slog(LOG_ERR, "event=dropped reason=\"out of memory\"");
					conn_close(srv, c);
					return;
				}
				c->in = n;
				c->in_cap = ncap;
			}
			if (want > c->in_cap - c->in_got)
				want = c->in_cap - c->in_got;
			got = conn_recv(c, c->in + c->in_got, want);
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (got <= 0) {
			int e = errno;

			/* The caller went away before finishing its request: nothing to decide. */
			if (conn_may_log(srv, c))
				slog(LOG_INFO, "event=dropped reason=\"%s\" %s",
				     got == 0 ? "closed before a whole request" : strerror(e),
				     peer_text(c, ptext, sizeof(ptext)));
			conn_close(srv, c);
			return;
		}
		if (c->hdr_got < sizeof(c->hdr)) {
			c->hdr_got += (size_t)got;
			if (c->hdr_got < sizeof(c->hdr))
				continue;
			c->frame_len = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
			               (uint32_t)c->hdr[2] << 8 | (uint32_t)c->hdr[3];
			if (c->frame_len == 0 || c->frame_len > srv->cfg->ca.max_request ||
			    c->frame_len > PROTO_FRAME_MAX) {
				c->too_large = 1;
				c->state = CONN_READY;
				return;
			}
			continue;
		}
		c->in_got += (size_t)got;
		if (c->in_got == c->frame_len) {
			c->state = CONN_READY;
			return;
		}
	}
}

static void conn_write(struct server *srv, struct conn *c)
{
	char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];
	ssize_t n;

	while (c->out_sent < c->out_len) {
		n = conn_send(c, c->out + c->out_sent, c->out_len - c->out_sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			int e = errno;

			if (conn_may_log(srv, c))
				slog(LOG_INFO,
				     "event=dropped reason=\"response not delivered: %s\" %s",
				     n < 0 ? strerror(e) : "closed",
				     peer_text(c, ptext, sizeof(ptext)));
			conn_close(srv, c);
			return;
		}
		c->out_sent += (size_t)n;
	}
	/* Best effort close_notify: the answer is out, nothing waits for the peer's. */
	if (c->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
	}
	conn_close(srv, c);
}

/* The requester whose tls_names hold one of the certificate's names; sets c->peer_name. */
static int tls_identify(struct server *srv, struct conn *c)
{
	const struct config_ca *ca = &srv->cfg->ca;
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	char **names = NULL;
	size_t n = 0, i, k;
	int r = JIT_ERR_INTERNAL;

	c->tls_rq = NULL;
	if (peer == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = tls_cert_names(peer, &names, &n)) != 0)
		goto out;
	for (k = 0; k < n && c->tls_rq == NULL; k++) {
		for (i = 0; i < ca->n_requesters; i++) {
			if (policy_list_has(ca->requesters[i].tls_names,
			                    ca->requesters[i].n_tls_names, names[k])) {
				c->tls_rq = &ca->requesters[i];
				break;
			}
		}
	}
	if (n > 0 && (c->peer_name = strdup(names[c->tls_rq != NULL ? k - 1 : 0])) == NULL) {
		c->tls_rq = NULL;
		r = JIT_ERR_ALLOC;
		goto out;
	}
	r = 0;
out:
	tls_names_free(names, n);
	return r;
}

/*
 * Drives the handshake. A failure (no certificate, one from another CA, not
 * TLS 1.3) becomes a ready connection marked hs_failed, so that it is
 * decided and audited with the others and then closed without an answer.
 */
static void conn_handshake(struct server *srv, struct conn *c)
{
	char why[200];
	int rc, r;
	short ev;

	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_accept(c->ssl)) != 1) {
		if ((ev = tls_want(c->ssl, rc)) != 0) {
			c->want = ev;
			return;
		}
		tls_error_text(c->ssl, why, sizeof(why));
		snprintf(c->hs_error, sizeof(c->hs_error), "tls handshake failed: %s", why);
		ERR_clear_error();
		c->hs_failed = 1;
		c->state = CONN_READY;
		return;
	}
	if ((r = tls_identify(srv, c)) != 0) {
		snprintf(c->hs_error, sizeof(c->hs_error), "tls peer identity: %s", jit_err(r));
		c->hs_failed = 1;
		c->state = CONN_READY;
		return;
	}
	/* A requester now: no longer counted against its address. */
	if (c->tls_rq != NULL)
		held_remove(srv, c);
	c->state = CONN_READ;
	c->want = POLLIN;
	c->deadline_ms = c->accepted_ms + srv->cfg->ca.request_timeout * 1000;
	/* The request may have come with the client's last handshake flight. */
	conn_read(srv, c);
}

/* Encodes the response into the connection's output and starts sending. */
static void conn_respond(struct server *srv, struct conn *c, const struct decision *d)
{
	struct proto_response resp;
	struct buf *b = NULL;
	size_t len;

	memset(&resp, 0, sizeof(resp));
	resp.status = d->status;
	resp.message = (char *)d->message;
	if (d->status == PROTO_OK) {
		resp.cert = d->cert;
		resp.cert_len = d->cert_len;
		resp.serial = d->serial;
		resp.clamped = d->clamped ? 1 : 0;
	}
	if ((b = buf_new(PROTO_FRAME_MAX)) == NULL || proto_response_encode(&resp, b) != 0 ||
	    (c->out = malloc(buf_len(b) + 4)) == NULL) {
		char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];

		slog(LOG_ERR, "event=dropped reason=\"response not encodable\" %s",
		     peer_text(c, ptext, sizeof(ptext)));
		buf_free(b);
		conn_close(srv, c);
		return;
	}
	len = buf_len(b);
	c->out[0] = (uint8_t)(len >> 24);
	c->out[1] = (uint8_t)(len >> 16);
	c->out[2] = (uint8_t)(len >> 8);
	c->out[3] = (uint8_t)len;
	memcpy(c->out + 4, buf_ptr(b), len);
	c->out_len = len + 4;
	c->out_sent = 0;
	buf_free(b);
	/* Nothing more is read: one request per connection. */
	free(c->in);
	c->in = NULL;
	c->in_cap = c->in_got = 0;
	c->state = CONN_WRITE;
	c->want = POLLOUT;
	conn_write(srv, c);
}

/* --- caller authentication --- */

/* The first rule (in requester order) for id, or NULL. */
static const struct config_requester *rule_find(const struct id_rule *v, size_t n, unsigned id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id == id)
			return v[i].rq;
	return NULL;
}

/*
 * The requester this peer is: the first in the file's order that lists its
 * uid in unix_users, or its gid or one of its supplementary groups in
 * unix_groups; NULL if none. Only numbers are compared (names were
 * resolved at startup), so no NSS lookup blocks the loop. The groups are
 * the peer's gid from SO_PEERCRED and its supplementary groups from
 * SO_PEERGROUPS: both are the kernel's snapshot taken at connect(), with
 * no pid that could be reused in between (as /proc/PID/status could be).
 */
static const struct config_requester *authenticate(const struct server *srv, int fd,
                                                   const struct ucred *cred)
{
	const struct config_requester *found;
	gid_t stack[PEER_GROUPS_STACK], *groups = stack, *big = NULL;
	socklen_t len = sizeof(stack);
	size_t i, k, n = 0;

	/* Rules are in requester order: a group rule wins only for an earlier requester. */
	found = rule_find(srv->uids, srv->nuids, (unsigned)cred->uid);
	if (srv->ngids == 0 || (found != NULL && srv->gids[0].rq >= found))
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, stack, &len) == 0)
		n = len / sizeof(gid_t);
	else if (errno == ERANGE && len <= PEER_GROUPS_MAX * sizeof(gid_t) &&
	         (big = malloc(len)) != NULL &&
	         getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, big, &len) == 0) {
		/* ERANGE set len to what is needed. */
		groups = big;
		n = len / sizeof(gid_t);
	}
	/* Without the supplementary groups (any other failure), the gid alone is matched. */
	for (i = 0; i < srv->ngids && (found == NULL || srv->gids[i].rq < found); i++) {
		if (srv->gids[i].id == (unsigned)cred->gid) {
			found = srv->gids[i].rq;
			break;
		}
		for (k = 0; k < n && groups[k] != (gid_t)srv->gids[i].id; k++)
			;
		if (k < n) {
			found = srv->gids[i].rq;
			break;
		}
	}
out:
	free(big);
	return found;
}

/* Grows an NSS buffer after ERANGE; 0, or JIT_ERR_NO_BUFFER_SPACE past NSS_BUF_MAX. */
static int nss_grow(char **buf, size_t *len)
{
	char *n;

	if (*len >= NSS_BUF_MAX)
		return JIT_ERR_NO_BUFFER_SPACE;
	if ((n = realloc(*buf, *len * 2)) == NULL)
		return JIT_ERR_ALLOC;
	*buf = n;
	*len *= 2;
	return 0;
}

/*
 * Resolves every requester's unix_users and unix_groups to numbers, once:
 * a name that does not resolve stops the start (fail closed), naming it.
 * Changes to users or groups take effect at the next start.
 */
static int resolve_requesters(struct server *srv)
{
	const struct config_ca *ca = &srv->cfg->ca;
	struct passwd pw, *pwp;
	struct group gr, *grp;
	size_t i, j, nu = 0, ng = 0, len = 16384;
	char *buf = NULL;
	int e, r = JIT_ERR_INTERNAL;

	for (i = 0; i < ca->n_requesters; i++) {
		nu += ca->requesters[i].n_unix_users;
		ng += ca->requesters[i].n_unix_groups;
	}
	if ((buf = malloc(len)) == NULL ||
	    (nu > 0 && (srv->uids = calloc(nu, sizeof(*srv->uids))) == NULL) ||
	    (ng > 0 && (srv->gids = calloc(ng, sizeof(*srv->gids))) == NULL)) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < ca->n_requesters; i++) {
		const struct config_requester *rq = &ca->requesters[i];

		for (j = 0; j < rq->n_unix_users; j++) {
			while ((e = getpwnam_r(rq->unix_users[j], &pw, buf, len, &pwp)) == ERANGE)
				if ((r = nss_grow(&buf, &len)) != 0)
					break;
			if (e != 0 || pwp == NULL) {
				slog(LOG_ERR,
				     "event=fatal what=requester requester=%s unix_user=\"%s\" "
				     "error=\"%s\"",
				     rq->name, rq->unix_users[j],
				     e == ERANGE ? "entry too large"
				     : e != 0    ? strerror(e)
				                 : "no such user");
				r = JIT_ERR_CONFIG_INVALID;
				goto out;
			}
			srv->uids[srv->nuids].id = (unsigned)pw.pw_uid;
			srv->uids[srv->nuids++].rq = rq;
		}
		for (j = 0; j < rq->n_unix_groups; j++) {
			while ((e = getgrnam_r(rq->unix_groups[j], &gr, buf, len, &grp)) == ERANGE)
				if ((r = nss_grow(&buf, &len)) != 0)
					break;
			if (e != 0 || grp == NULL) {
				slog(LOG_ERR,
				     "event=fatal what=requester requester=%s unix_group=\"%s\" "
				     "error=\"%s\"",
				     rq->name, rq->unix_groups[j],
				     e == ERANGE ? "entry too large"
				     : e != 0    ? strerror(e)
				                 : "no such group");
				r = JIT_ERR_CONFIG_INVALID;
				goto out;
			}
			srv->gids[srv->ngids].id = (unsigned)gr.gr_gid;
			srv->gids[srv->ngids++].rq = rq;
		}
	}
	r = 0;
out:
	free(buf);
	return r;
}

/* --- decisions --- */

static void decision_free(struct decision *d)
{
	if (d->have_req)
		proto_request_free(&d->req);
	cert_req_clear(&d->creq);
	key_free(d->subject);
	free(d->key_id);
	free(d->principals);
	free(d->fingerprint);
	free(d->cert);
	free(d->audit_line);
	memset(d, 0, sizeof(*d));
}

static void refuse(struct decision *d, uint8_t status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void refuse(struct decision *d, uint8_t status, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	d->status = status;
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
	/* The message goes back to the caller as printable text. */
	for (i = 0; d->message[i] != '\0'; i++)
		if ((unsigned char)d->message[i] < 0x20 || (unsigned char)d->message[i] >= 0x7f)
			d->message[i] = '?';
	free(d->cert);
	d->cert = NULL;
	d->cert_len = 0;
}

/* The comma list, sized to its content: decisions of a whole loop are held at once. */
static char *join_principals(char *const *p, size_t n)
{
	char *out;
	size_t i, pos = 0, len, total = 1;

	for (i = 0; i < n; i++) {
		len = strlen(p[i]);
		if (total + len + 1 > PRINCIPALS_TEXT_MAX)
			break;
		total += len + 1;
	}
	if ((out = malloc(total)) == NULL)
		return NULL;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		len = strlen(p[i]);
		if (pos + len + 2 > total)
			break;
		if (i > 0)
			out[pos++] = ',';
		memcpy(out + pos, p[i], len);
		pos += len;
		out[pos] = '\0';
	}
	return out;
}

/*
 * 1 when the certificate the signer returned is exactly what we asked,
 * under our CA. Its signature is not checked again: the signer verified it
 * before answering (cert_build), and a second check here would cost more
 * than signing (an Ed25519 verification is about 2.5 signatures) while
 * guarding only against the signer, which holds the key anyway.
 */
static int cert_matches(const struct server *srv, const uint8_t *blob, size_t len,
                        const struct cert_req *req, const struct key *subject)
{
	struct cert *c = NULL;
	size_t i;
	int ok = 0;

	if (cert_parse_unverified(blob, len, &c) != 0)
		goto out;
	if (!key_equal_public(c->ca, srv->ca_pub) || !key_equal_public(c->subject, subject) ||
	    c->cert_type != CERT_TYPE_USER || c->serial != req->serial ||
	    strcmp(c->key_id, req->key_id) != 0 || c->valid_after != req->valid_after ||
	    c->valid_before != req->valid_before || c->nprincipals != req->nprincipals ||
	    c->critical.n != req->critical.n || c->extensions.n != req->extensions.n)
		goto out;
	for (i = 0; i < req->nprincipals; i++)
		if (strcmp(c->principals[i], req->principals[i]) != 0)
			goto out;
	for (i = 0; i < c->critical.n; i++) {
		const struct cert_opt *o = cert_opts_find(&req->critical, c->critical.v[i].name);

		if (o == NULL || (o->value == NULL) != (c->critical.v[i].value == NULL) ||
		    (o->value != NULL && strcmp(o->value, c->critical.v[i].value) != 0))
			goto out;
	}
	for (i = 0; i < c->extensions.n; i++) {
		const struct cert_opt *o =
		        cert_opts_find(&req->extensions, c->extensions.v[i].name);

		if (o == NULL || (o->value == NULL) != (c->extensions.v[i].value == NULL) ||
		    (o->value != NULL && strcmp(o->value, c->extensions.v[i].value) != 0))
			goto out;
	}
	ok = 1;
out:
	cert_free(c);
	return ok;
}

/*
 * Decides one complete request: authenticates, decodes, applies the
 * requester's caps and, to issue, sends the certificate request to the
 * signer its serial belongs to (every signer must have room). Returns 1
 * when a signer has it (decide_signed finishes it), 0 when d is final.
 * Sets srv->fatal when a signer is gone.
 */
static int decide(struct server *srv, struct conn *c, struct decision *d)
{
	const struct jit_config *cfg = srv->cfg;
	const struct config_requester *rq;
	struct proto_request *q = &d->req;
	struct cert_req *creq = &d->creq;
	struct signer_queue *sq;
	uint64_t now = (uint64_t)time(NULL), validity, cap;
	const char *cap_name;
	char vtext[TIME_TEXT_MAX];
	int breakglass, r, sent = 0;
	size_t i;

	cert_req_init(creq);
	d->conn = c;
	d->requester = "";
	d->context = "";
	d->source_address = "";
	d->status = PROTO_INTERNAL;
	if (c->ssl != NULL) {
		if (c->hs_failed) {
			refuse(d, PROTO_UNAUTHENTICATED, "%s", c->hs_error);
			goto out;
		}
		if ((rq = c->tls_rq) == NULL) {
			refuse(d, PROTO_UNAUTHENTICATED,
			       "client certificate \"%s\" is not an allowed requester",
			       c->peer_name != NULL ? c->peer_name : "");
			goto out;
		}
	} else if ((rq = c->unix_rq) == NULL) {
		refuse(d, PROTO_UNAUTHENTICATED, "caller uid %u is not an allowed requester",
		       (unsigned)c->cred.uid);
		goto out;
	}
	d->requester = rq->name;
	if (c->too_large) {
		refuse(d, PROTO_BAD_REQUEST, "request frame of %u bytes refused (1..%u allowed)",
		       (unsigned)c->frame_len,
		       (unsigned)(cfg->ca.max_request < PROTO_FRAME_MAX ? cfg->ca.max_request
		                                                        : PROTO_FRAME_MAX));
		goto out;
	}
	if ((r = proto_request_decode(c->in, c->in_got, q)) != 0) {
		if (r == JIT_ERR_PROTO_VERSION)
			refuse(d, PROTO_BAD_REQUEST,
			       "unsupported protocol version (this service speaks version %u)",
			       (unsigned)PROTO_VERSION);
		else
			refuse(d, PROTO_BAD_REQUEST, "malformed request: %s", jit_err(r));
		goto out;
	}
	d->have_req = 1;
	breakglass = q->context == PROTO_CTX_BREAKGLASS;
	d->context = breakglass ? "breakglass" : "ticket";
	if ((d->principals = join_principals(q->principals, q->nprincipals)) == NULL) {
		refuse(d, PROTO_INTERNAL, "out of memory");
		goto out;
	}
	if (strlen(d->principals) > PRINCIPALS_AUDITED_MAX) {
		refuse(d, PROTO_BAD_REQUEST, "principals: %zu bytes in all, at most %d",
		       strlen(d->principals), PRINCIPALS_AUDITED_MAX);
		/* The record keeps their start, marked as cut. */
		memcpy(d->principals + PRINCIPALS_RECORDED_CUT, "...", 4);
		goto out;
	}
	if (breakglass && (q->reason == NULL || q->reason[0] == '\0')) {
		refuse(d, PROTO_BAD_REQUEST, "break-glass requires a reason");
		goto out;
	}
	if (!breakglass && (q->ticket == NULL || q->ticket[0] == '\0')) {
		refuse(d, PROTO_BAD_REQUEST, "a ticket is required");
		goto out;
	}
	if (!breakglass && revocation_has_ticket(srv->revoked, q->ticket)) {
		refuse(d, PROTO_DENIED, "ticket %s is revoked", q->ticket);
		goto out;
	}
	/* Fail closed: a ticket revoked in a store we cannot read must not be issued. */
	if (!breakglass && srv->store_bad) {
		refuse(d, PROTO_UNAVAILABLE, "revocation store unreadable");
		goto out;
	}
	if (q->nprincipals == 0) {
		refuse(d, PROTO_BAD_REQUEST, "no principals requested");
		goto out;
	}
	for (i = 0; i < q->nprincipals; i++) {
		if (!policy_principal_allowed(rq, q->principals[i])) {
			refuse(d, PROTO_DENIED, "principal \"%s\" not allowed for requester %s",
			       q->principals[i], rq->name);
			goto out;
		}
	}
	/* The requester's source-address is a binding, not a default. */
	if (rq->source_address != NULL) {
		if (q->source_address != NULL && q->source_address[0] != '\0' &&
		    strcmp(q->source_address, rq->source_address) != 0) {
			refuse(d, PROTO_DENIED,
			       "source-address \"%s\" not allowed: requester %s is bound to \"%s\"",
			       q->source_address, rq->name, rq->source_address);
			goto out;
		}
		d->source_address = rq->source_address;
	} else if (q->source_address != NULL && q->source_address[0] != '\0') {
		if (addr_list_validate(q->source_address) != 0) {
			refuse(d, PROTO_BAD_REQUEST, "source-address is not a valid address list");
			goto out;
		}
		d->source_address = q->source_address;
	} else if (cfg->certificates.source_address != NULL) {
		/* Nobody named an address: the site default binds it, never "anywhere". */
		d->source_address = cfg->certificates.source_address;
	}
	if (d->source_address[0] != '\0' &&
	    !policy_list_has(rq->critical_options, rq->n_critical_options, "source-address")) {
		refuse(d, PROTO_DENIED,
		       "critical option source-address not allowed for requester %s", rq->name);
		goto out;
	}
	/* Validity: the smallest of what was asked, the caps, and the hard end. */
	validity = q->validity != 0 ? q->validity : cfg->certificates.validity;
	cap = rq->max_validity;
	cap_name = "max_validity";
	if (breakglass && rq->breakglass_max_validity < cap) {
		cap = rq->breakglass_max_validity;
		cap_name = "break-glass cap";
	}
	if (q->not_after != 0) {
		if (q->not_after <= now) {
			refuse(d, PROTO_DENIED, "not_after is in the past");
			goto out;
		}
		if (q->not_after - now < cap) {
			cap = q->not_after - now;
			cap_name = "not_after";
		}
	}
	if (validity > cap) {
		validity = cap;
		d->clamped = 1;
		time_format_duration(validity, vtext, sizeof(vtext));
		snprintf(d->message, sizeof(d->message), "validity clamped to %s (%s)", vtext,
		         cap_name);
	}
	if ((r = key_from_blob(q->pubkey, q->pubkey_len, &d->subject)) != 0) {
		refuse(d, PROTO_BAD_REQUEST, "invalid public key: %s", jit_err(r));
		goto out;
	}
	if ((r = key_fingerprint(d->subject, &d->fingerprint)) != 0) {
		refuse(d, PROTO_INTERNAL, "fingerprint: %s", jit_err(r));
		goto out;
	}
	if ((r = serial_next(srv->serial, &d->serial)) != 0) {
		slog(LOG_ERR, "event=error what=serial error=\"%s\"",
		     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		refuse(d, PROTO_UNAVAILABLE, "serial state unavailable");
		d->serial = 0;
		goto out;
	}
	if (breakglass)
		r = asprintf(&d->key_id, "user=%s breakglass=1 session=%s requester=%s serial=%llu",
		             q->user, q->session, rq->name, (unsigned long long)d->serial);
	else
		r = asprintf(&d->key_id, "user=%s ticket=%s session=%s requester=%s serial=%llu",
		             q->user, q->ticket, q->session, rq->name,
		             (unsigned long long)d->serial);
	if (r < 0) {
		d->key_id = NULL;
		refuse(d, PROTO_INTERNAL, "out of memory");
		goto out;
	}
	d->valid_after = now - SERVE_BACKDATE;
	d->valid_before = now + validity;
	creq->serial = d->serial;
	creq->valid_after = d->valid_after;
	creq->valid_before = d->valid_before;
	if ((r = cert_req_set_key_id(creq, d->key_id)) != 0 ||
	    (d->source_address[0] != '\0' &&
	     (r = cert_req_set_option(creq, 1, "source-address", d->source_address)) != 0) ||
	    (r = cert_req_set_option(creq, 0, breakglass ? SERVE_EXT_BREAKGLASS : SERVE_EXT_TICKET,
	                             breakglass ? NULL : q->ticket)) != 0 ||
	    (r = cert_req_set_option(creq, 0, SERVE_EXT_SESSION, q->session)) != 0) {
		refuse(d, PROTO_BAD_REQUEST, "certificate request: %s", jit_err(r));
		goto out;
	}
	for (i = 0; i < q->nprincipals; i++) {
		if ((r = cert_req_add_principal(creq, q->principals[i])) != 0) {
			refuse(d, PROTO_BAD_REQUEST, "principal \"%s\": %s", q->principals[i],
			       jit_err(r));
			goto out;
		}
	}
	for (i = 0; i < cfg->certificates.n_extensions; i++) {
		if (!policy_list_has(rq->extensions, rq->n_extensions,
		                     cfg->certificates.extensions[i]))
			continue;
		if ((r = cert_req_set_option(creq, 0, cfg->certificates.extensions[i], NULL)) !=
		    0) {
			refuse(d, PROTO_INTERNAL, "extension \"%s\": %s",
			       cfg->certificates.extensions[i], jit_err(r));
			goto out;
		}
	}
	/* A certificate too large to build is the caller's error, not the signer's. */
	if ((r = cert_check_size(creq, d->subject, srv->ca_pub)) == JIT_ERR_NO_BUFFER_SPACE) {
		refuse(d, PROTO_BAD_REQUEST,
		       "the certificate would exceed %u bytes: ask for fewer or shorter principals",
		       (unsigned)CERT_BLOB_MAX);
		goto out;
	} else if (r != 0) {
		refuse(d, PROTO_BAD_REQUEST, "certificate request: %s", jit_err(r));
		goto out;
	}
	/* The serial decides the signer: each signs only its own residue class. */
	sq = &srv->signers[d->serial % srv->nsigners];
	if ((r = signer_send(sq->s, rq->name, breakglass, creq, d->subject)) != 0) {
		slog(LOG_CRIT, "event=fatal what=signer error=\"%s\"",
		     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		srv->fatal = 1;
		refuse(d, PROTO_UNAVAILABLE, "signer unavailable");
		goto out;
	}
	sq->pending[(sq->head + sq->n) % SIGNER_INFLIGHT] = c;
	sq->n++;
	d->sent_ms = now_ms();
	sent = 1;
out:
	if (!sent) {
		key_free(d->subject);
		d->subject = NULL;
		cert_req_clear(creq);
	}
	return sent;
}

/*
 * Finishes a decision with the signer's answer: the certificate (checked
 * against what was asked) or its refusal. Sets srv->fatal when the signer
 * returned a wrong certificate.
 */
static void decide_signed(struct server *srv, struct decision *d, uint8_t *blob, size_t len,
                          const char *why)
{
	if (blob == NULL) {
		slog(LOG_ERR, "event=signer_refused requester=%s serial=%llu why=\"%s\"",
		     d->requester, (unsigned long long)d->serial, why);
		refuse(d, PROTO_INTERNAL, "signer refused: %s", why);
		goto out;
	}
	d->cert = blob;
	d->cert_len = len;
	if (!cert_matches(srv, d->cert, d->cert_len, &d->creq, d->subject)) {
		slog(LOG_CRIT,
		     "event=fatal what=signer error=\"certificate does not match the "
		     "request\" serial=%llu",
		     (unsigned long long)d->serial);
		srv->fatal = 1;
		refuse(d, PROTO_INTERNAL, "signer returned a wrong certificate");
		goto out;
	}
	free(d->principals);
	if ((d->principals = join_principals(d->creq.principals, d->creq.nprincipals)) == NULL) {
		refuse(d, PROTO_INTERNAL, "out of memory");
		goto out;
	}
	d->status = PROTO_OK;
out:
	key_free(d->subject);
	d->subject = NULL;
	cert_req_clear(&d->creq);
}

/* The audit fields of a decision; returns how many. */
static size_t decision_fields(const struct decision *d, struct audit_field *f, size_t max)
{
	const struct proto_request *q = &d->req;
	int ok = d->status == PROTO_OK;
	size_t n = 0;

#define ADD(x)                                                                                     \
	do {                                                                                       \
		if (n < max)                                                                       \
			f[n++] = (struct audit_field)x;                                            \
	} while (0)
	ADD(AUDIT_STR("event", ok ? "issued" : "refused"));
	ADD(AUDIT_STR("requester", d->requester));
	if (d->conn->ssl != NULL) {
		ADD(AUDIT_STR("peer_address", d->conn->peer_addr));
		ADD(AUDIT_STR("peer_name", d->conn->peer_name != NULL ? d->conn->peer_name : ""));
	} else {
		ADD(AUDIT_U64("peer_uid", d->conn->cred.uid));
		ADD(AUDIT_U64("peer_pid", (uint64_t)d->conn->cred.pid));
	}
	ADD(AUDIT_STR("user", d->have_req ? q->user : ""));
	ADD(AUDIT_STR("context", d->context));
	ADD(AUDIT_STR("ticket", d->have_req && q->ticket != NULL ? q->ticket : ""));
	ADD(AUDIT_STR("reason", d->have_req && q->reason != NULL ? q->reason : ""));
	ADD(AUDIT_STR("session", d->have_req && q->session != NULL ? q->session : ""));
	ADD(AUDIT_STR("status", proto_status_name(d->status)));
	ADD(AUDIT_STR("message", d->message));
	ADD(AUDIT_STR("principals", d->principals != NULL ? d->principals : ""));
	if (ok) {
		ADD(AUDIT_U64("serial", d->serial));
		ADD(AUDIT_STR("key_id", d->key_id));
		ADD(AUDIT_U64("valid_after", d->valid_after));
		ADD(AUDIT_U64("valid_before", d->valid_before));
		ADD(AUDIT_STR("source_address", d->source_address));
		ADD(AUDIT_STR("fingerprint", d->fingerprint));
		ADD(AUDIT_BOOL("clamped", d->clamped));
	}
#undef ADD
	return n;
}

/* Appends the decision's record; on a record too large, refuses and records that instead. */
static int audit_decision(struct server *srv, struct decision *d, uint64_t now)
{
	struct audit_field f[AUDIT_FIELDS_MAX];
	size_t n;
	int r;

	if (srv->audit == NULL)
		return 0;
	n = decision_fields(d, f, AUDIT_FIELDS_MAX);
	r = audit_append(srv->audit, now, f, n, NULL);
	if (r == JIT_ERR_NO_BUFFER_SPACE || r == JIT_ERR_INVALID_ARGUMENT) {
		/* Nothing was written: a shorter refusal takes its place. */
		refuse(d, PROTO_INTERNAL, "audit record too large");
		free(d->principals);
		d->principals = NULL;
		n = decision_fields(d, f, AUDIT_FIELDS_MAX);
		r = audit_append(srv->audit, now, f, n, NULL);
	}
	if (r != 0)
		return r;
	d->appended = 1;
	/* Formatted in the loop's one buffer, kept at its own length until logged. */
	if (srv->line != NULL && audit_syslog_line(srv->audit, srv->line, AUDIT_SYSLOG_MAX) == 0)
		d->audit_line = strdup(srv->line);
	return 0;
}

static void log_decision(struct server *srv, const struct decision *d)
{
	struct audit_field f[AUDIT_FIELDS_MAX];
	int prio;
	size_t n;

	if (d->status == PROTO_OK)
		prio = strcmp(d->context, "breakglass") == 0 ? LOG_ALERT : LOG_INFO;
	else
		prio = d->status == PROTO_UNAVAILABLE || d->status == PROTO_INTERNAL ? LOG_ERR
		                                                                     : LOG_NOTICE;
	if (d->audit_line != NULL) {
		slog(prio, "%s", d->audit_line);
		return;
	}
	n = decision_fields(d, f, AUDIT_FIELDS_MAX);
	if (srv->line == NULL) {
		slog(prio, "event=%s status=%s", d->status == PROTO_OK ? "issued" : "refused",
		     proto_status_name(d->status));
		return;
	}
	format_fields(f, n, srv->line, LOG_LINE_MAX);
	slog(prio, "%s", srv->line);
}

/*
 * 1 when the store file changed (or appeared, or went) since st. The
 * change time too: a chmod or chown that makes the file readable changes
 * nothing else.
 */
static int store_changed(const struct stat *old, const struct stat *st)
{
	return old->st_ino != st->st_ino || old->st_dev != st->st_dev ||
	       old->st_size != st->st_size || old->st_mtim.tv_sec != st->st_mtim.tv_sec ||
	       old->st_mtim.tv_nsec != st->st_mtim.tv_nsec ||
	       old->st_ctim.tv_sec != st->st_ctim.tv_sec ||
	       old->st_ctim.tv_nsec != st->st_ctim.tv_nsec;
}

/* The store cannot be read: logged when it goes bad, tried again STORE_RETRY_MS later. */
static void store_bad(struct server *srv, const char *why, unsigned long line)
{
	char qwhy[REVOCATION_WHY_MAX * 4 + 3];
	size_t pos = 0;

	if (!srv->store_bad) {
		put_quoted(qwhy, sizeof(qwhy), &pos, why);
		slog(LOG_ERR,
		     "event=error what=revocation_store path=\"%s\" line=%lu error=%s "
		     "kept_tickets=%zu",
		     srv->store_path, line, qwhy,
		     srv->revoked != NULL ? srv->revoked->ntickets : 0);
	}
	srv->store_bad = 1;
	srv->store_retry_ms = now_ms() + STORE_RETRY_MS;
}

/*
 * Reads the revocation store again when it changed. At startup (initial)
 * any failure is fatal. Later, a store that exists but cannot be read or
 * parsed fails closed: the last good set stays, and decide() refuses every
 * ticket request until a read succeeds, tried again every STORE_RETRY_MS
 * whatever the file looks like; logged when it goes bad and when it
 * recovers. A store that vanished keeps the last set, logged once.
 */
static int store_reload(struct server *srv, int initial)
{
	struct revocations *rv = NULL;
	struct state_owner owner;
	struct stat st, again;
	unsigned long line = 0;
	char why[REVOCATION_WHY_MAX];
	int r;

	if (!initial && srv->store_bad && now_ms() < srv->store_retry_ms)
		return 0;
	if (stat(srv->store_path, &st) != 0) {
		if (errno == ENOENT && initial) {
			memset(&st, 0, sizeof(st)); /* nothing revoked yet */
		} else if (errno != ENOENT && !initial) {
			/* It may be there, in a directory we cannot search. */
			store_bad(srv, strerror(errno), 0);
			return 0;
		} else {
			/* Logged once; a store that went keeps the last set, without refusing. */
			if (initial || srv->store_st.st_ino != 0 || srv->store_bad)
				slog(LOG_ERR,
				     "event=error what=revocation_store path=\"%s\" error=\"%s\" "
				     "kept_tickets=%zu",
				     srv->store_path, strerror(errno),
				     srv->revoked != NULL ? srv->revoked->ntickets : 0);
			memset(&srv->store_st, 0, sizeof(srv->store_st));
			srv->store_bad = 0;
			return initial ? JIT_ERR_SYSTEM : 0;
		}
	} else if (srv->revoked != NULL && !srv->store_bad && !store_changed(&srv->store_st, &st))
		return 0;
	why[0] = '\0';
	if ((r = revocation_state_owner(srv->cfg->ca.state_dir, &owner)) == 0)
		r = revocation_load(srv->store_path, &owner, &rv, &line, why, sizeof(why));
	if (r != 0) {
		const char *text = why[0] != '\0'        ? why
		                   : r == JIT_ERR_SYSTEM ? strerror(errno)
		                                         : jit_err(r);

		srv->store_st = st;
		store_bad(srv, text, line);
		return initial ? r : 0;
	}
	/* Gone between stat and read: read as empty, which must not clear the set. */
	if (!initial && st.st_ino != 0 && stat(srv->store_path, &again) != 0) {
		revocation_free(rv);
		return 0;
	}
	revocation_free(srv->revoked);
	srv->revoked = rv;
	srv->store_st = st;
	if (srv->store_bad)
		slog(LOG_NOTICE, "event=revocation_store_recovered path=\"%s\" revoked_tickets=%zu",
		     srv->store_path, rv->ntickets);
	else if (!initial)
		slog(LOG_NOTICE, "event=revocation_store path=\"%s\" revoked_tickets=%zu",
		     srv->store_path, rv->ntickets);
	srv->store_bad = 0;
	return 0;
}

/* Queues a finished decision for the next commit. */
static void decided_push(struct server *srv, struct conn *c)
{
	c->state = CONN_DECIDED;
	if (srv->ndecided == 0)
		srv->decided_since_us = now_us();
	srv->decided[srv->ndecided++] = c;
}

/* Requests the signers have and have not answered yet. */
static size_t signers_pending(const struct server *srv)
{
	size_t i, n = 0;

	for (i = 0; i < srv->nsigners; i++)
		n += srv->signers[i].n;
	return n;
}

/*
 * 1 when the finished decisions are to be committed now: without an audit
 * file (nothing to sync) always; else when they are at least as many as
 * the signers still have (so that the signers sign the rest while this
 * side syncs, and the callers answered come back with more), or the first
 * has waited COMMIT_WAIT_US, or the service is failing.
 */
static int commit_due(const struct server *srv, uint64_t t_us)
{
	return srv->ndecided > 0 &&
	       (srv->audit == NULL || srv->fatal || srv->ndecided >= signers_pending(srv) ||
	        t_us - srv->decided_since_us >= COMMIT_WAIT_US);
}

/* 1 when every signer can take one more request. */
static int signers_have_room(const struct server *srv)
{
	size_t i;

	for (i = 0; i < srv->nsigners; i++)
		if (srv->signers[i].n >= SIGNER_INFLIGHT)
			return 0;
	return 1;
}

/*
 * Decides the complete requests, oldest slot after the last one taken
 * first so that none waits forever, while every signer has room; those to
 * issue go to a signer, the others wait for the commit.
 */
static void dispatch_ready(struct server *srv)
{
	/*
	 * From the slot after the last one taken, over the slots in use (every
	 * slot from conn_hi up is free, so past it the search wraps to 0, as
	 * over all slots); moving the start within the pass would skip some.
	 */
	size_t k, i, n = srv->conn_hi, start = srv->next_ready < n ? srv->next_ready : 0;
	int reloaded = 0;

	for (k = 0; k < n && !srv->fatal; k++) {
		struct conn *c;

		i = (start + k) % n;
		c = &srv->conns[i];
		if (c->state != CONN_READY)
			continue;
		if (!signers_have_room(srv))
			break;
		/* Once per batch: a ticket revoked a moment ago is refused from now on. */
		if (!reloaded) {
			(void)store_reload(srv, 0);
			reloaded = 1;
		}
		if ((c->d = calloc(1, sizeof(*c->d))) == NULL) {
			slog(LOG_ERR, "event=error what=\"out of memory\"");
			break; /* the request stays ready; its deadline ends it */
		}
		if (decide(srv, c, c->d))
			c->state = CONN_SIGNING;
		else
			decided_push(srv, c);
		srv->next_ready = i + 1;
	}
}

/* Takes every answer the signers have ready; each finishes its decision. */
static void collect_signed(struct server *srv)
{
	uint8_t *blob;
	size_t i, len;
	char why[256];
	int got, r;

	for (i = 0; i < srv->nsigners && !srv->fatal; i++) {
		struct signer_queue *sq = &srv->signers[i];

		while (sq->n > 0) {
			struct conn *c;

			r = signer_receive(sq->s, &got, &blob, &len, why, sizeof(why));
			if (r != 0) {
				slog(LOG_CRIT, "event=fatal what=signer pid=%d error=\"%s\"",
				     (int)signer_pid(sq->s),
				     r == JIT_ERR_SYSTEM ? strerror(errno)
				                         : "signer gone or broken");
				srv->fatal = 1;
				return;
			}
			if (!got)
				break;
			c = sq->pending[sq->head];
			sq->pending[sq->head] = NULL;
			sq->head = (sq->head + 1) % SIGNER_INFLIGHT;
			sq->n--;
			decide_signed(srv, c->d, blob, len, why);
			decided_push(srv, c);
			if (srv->fatal)
				return;
		}
	}
}

/* A signer that has left a request unanswered for SIGNER_TIMEOUT is broken. */
static void check_signers(struct server *srv, uint64_t t)
{
	size_t i;

	for (i = 0; i < srv->nsigners; i++) {
		const struct signer_queue *sq = &srv->signers[i];

		if (sq->n == 0 || t - sq->pending[sq->head]->d->sent_ms < SIGNER_TIMEOUT * 1000)
			continue;
		slog(LOG_CRIT, "event=fatal what=signer pid=%d error=\"no answer in %d seconds\"",
		     (int)signer_pid(sq->s), SIGNER_TIMEOUT);
		srv->fatal = 1;
	}
}

/*
 * Records every finished decision (refusals of unauthenticated callers
 * over their source's rate only counted) and the summaries due, syncs
 * once, then answers them (group commit).
 */
static void commit_decided(struct server *srv)
{
	uint64_t now = (uint64_t)time(NULL), t = now_ms();
	size_t i, n = srv->ndecided;
	int r, sync_failed = 0, append_failed = 0;

	if (n == 0 && !summaries_due(srv, t))
		return;
	for (i = 0; i < n; i++) {
		struct conn *c = srv->decided[i];

		if (c->d->status == PROTO_UNAUTHENTICATED && conn_unauthenticated(c) &&
		    !source_allow(srv, &c->src, 1)) {
			c->counted = 1;
			continue;
		}
		if ((r = audit_decision(srv, c->d, now)) != 0) {
			append_failed = 1;
			slog(LOG_ERR, "event=error what=audit_append error=\"%s\"",
			     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		}
	}
	summaries_append(srv, t, 0);
	if (srv->audit != NULL && (r = audit_sync(srv->audit)) != 0) {
		sync_failed = 1;
		slog(LOG_ERR, "event=error what=audit_sync error=\"%s\"", jit_err(r));
	}
	summaries_finish(srv, !sync_failed, t, 0);
	for (i = 0; i < n; i++) {
		struct conn *c = srv->decided[i];
		struct decision *d = c->d;

		srv->decided[i] = NULL;
		/* The connection may close while answering: the decision is ours now. */
		c->d = NULL;
		if ((sync_failed || append_failed) && d->status == PROTO_OK) {
			free(d->audit_line);
			d->audit_line = NULL;
			refuse(d, PROTO_UNAVAILABLE, "audit log unavailable");
		} else if (sync_failed && d->audit_line != NULL) {
			/* Not durable: the log line must not claim a record that may vanish. */
			free(d->audit_line);
			d->audit_line = NULL;
		}
		if (!c->counted)
			log_decision(srv, d);
		/* A failed handshake leaves no channel to answer on. */
		if (c->hs_failed)
			conn_close(srv, c);
		else
			conn_respond(srv, c, d);
		decision_free(d);
		free(d);
	}
	srv->ndecided = 0;
}

static void expire(struct server *srv, uint64_t t)
{
	char ptext[PEER_ADDR_MAX + TLS_NAME_MAX * 4 + 64];
	size_t i;

	for (i = 0; i < srv->conn_hi; i++) {
		struct conn *c = &srv->conns[i];

		/* A decided request is answered; its signer's own deadline covers the wait. */
		if (c->state == CONN_FREE || c->state == CONN_SIGNING || c->state == CONN_DECIDED ||
		    t < c->deadline_ms)
			continue;
		if (conn_may_log(srv, c))
			slog(LOG_NOTICE, "event=dropped reason=timeout %s state=%s",
			     peer_text(c, ptext, sizeof(ptext)),
			     c->state == CONN_WRITE       ? "writing"
			     : c->state == CONN_HANDSHAKE ? "handshake"
			     : c->state == CONN_READY     ? "waiting"
			                                  : "reading");
		conn_close(srv, c);
	}
}

static int loop(struct server *srv)
{
	struct pollfd *pfd = NULL;
	struct conn **owner = NULL;
	sigset_t block, orig;
	struct timespec ts;
	uint64_t t, next, wait_us;
	size_t i, np, total = srv->nls + srv->max_conns + srv->nsigners;
	int stopping = 0, r = JIT_ERR_INTERNAL, pr;

	if ((pfd = calloc(total, sizeof(*pfd))) == NULL ||
	    (owner = calloc(total, sizeof(*owner))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);
	for (;;) {
		if (stop_signal != 0 && !stopping) {
			slog(LOG_NOTICE, "event=stopping signal=%d connections=%zu",
			     (int)stop_signal, srv->nconns);
			stopping = 1;
			close_listeners(srv);
		}
		if (stopping && srv->nconns == 0)
			break;
		t = now_ms();
		np = 0;
		next = t + 1000;
		/* The signers' ends: answers, and POLLHUP when one dies. */
		for (i = 0; i < srv->nsigners; i++) {
			const struct signer_queue *sq = &srv->signers[i];

			pfd[np].fd = signer_fd(sq->s);
			pfd[np].events = sq->n > 0 ? POLLIN : 0;
			owner[np++] = NULL;
			if (sq->n > 0 &&
			    sq->pending[sq->head]->d->sent_ms + SIGNER_TIMEOUT * 1000 < next)
				next = sq->pending[sq->head]->d->sent_ms + SIGNER_TIMEOUT * 1000;
		}
		for (i = 0; i < srv->nls; i++) {
			if (srv->ls[i].fd < 0 || t < srv->accept_paused_until)
				continue;
			pfd[np].fd = srv->ls[i].fd;
			pfd[np].events = POLLIN;
			owner[np++] = NULL;
		}
		if (srv->accept_paused_until > t && srv->accept_paused_until < next)
			next = srv->accept_paused_until;
		if (srv->summary_due_ms != 0 && srv->summary_due_ms < next)
			next = srv->summary_due_ms;
		for (i = 0; i < srv->conn_hi; i++) {
			struct conn *c = &srv->conns[i];

			/*
			 * Whole requests wait for room at the signers (still
			 * under their deadline), a signer or the commit, not
			 * for I/O.
			 */
			if (c->state == CONN_READY && c->deadline_ms < next)
				next = c->deadline_ms;
			if (c->state == CONN_FREE || c->state == CONN_READY ||
			    c->state == CONN_SIGNING || c->state == CONN_DECIDED)
				continue;
			pfd[np].fd = c->fd;
			if (c->ssl != NULL)
				pfd[np].events = c->want;
			else
				pfd[np].events = c->state == CONN_WRITE ? POLLOUT : POLLIN;
			owner[np++] = c;
			if (c->deadline_ms < next)
				next = c->deadline_ms;
		}
		wait_us = (next > t ? next - t : 0) * 1000;
		if (srv->ndecided > 0 && srv->audit != NULL) {
			uint64_t due = srv->decided_since_us + COMMIT_WAIT_US, tu = now_us();

			if (due <= tu)
				wait_us = 0;
			else if (due - tu < wait_us)
				wait_us = due - tu;
		}
		ts.tv_sec = (time_t)(wait_us / 1000000);
		ts.tv_nsec = (long)(wait_us % 1000000) * 1000L;
		pr = ppoll(pfd, np, &ts, &orig);
		if (pr < 0 && errno != EINTR) {
			slog(LOG_ERR, "event=fatal what=poll error=\"%s\"", strerror(errno));
			r = JIT_ERR_SYSTEM;
			goto out;
		}
		if (pr > 0) {
			for (i = 0; i < srv->nsigners; i++) {
				if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
					slog(LOG_CRIT,
					     "event=fatal what=signer error=\"signer process "
					     "(pid %d) is gone\"",
					     (int)signer_pid(srv->signers[i].s));
					r = JIT_ERR_INTERNAL;
					goto out;
				}
			}
			for (i = srv->nsigners; i < np; i++) {
				if (pfd[i].revents == 0)
					continue;
				if (owner[i] == NULL) {
					size_t k;

					for (k = 0; k < srv->nls; k++)
						if (srv->ls[k].fd == pfd[i].fd)
							accept_all(srv, &srv->ls[k]);
				} else if (owner[i]->state == CONN_HANDSHAKE)
					conn_handshake(srv, owner[i]);
				else if (owner[i]->state == CONN_READ)
					conn_read(srv, owner[i]);
				else if (owner[i]->state == CONN_WRITE)
					conn_write(srv, owner[i]);
			}
		}
		/*
		 * New requests to the signers first, so that they sign while
		 * this side syncs and answers; then what they have finished,
		 * and what that made room for; then the commit, when due.
		 */
		dispatch_ready(srv);
		collect_signed(srv);
		dispatch_ready(srv);
		if (commit_due(srv, now_us()) || summaries_due(srv, now_ms()))
			commit_decided(srv);
		if (!srv->fatal)
			check_signers(srv, now_ms());
		if (srv->fatal) {
			r = JIT_ERR_INTERNAL;
			goto out;
		}
		expire(srv, now_ms());
	}
	r = 0;
out:
	/* What was counted goes into its summaries now, not to be lost with the process. */
	t = now_ms();
	summaries_append(srv, t, 1);
	summaries_finish(srv, srv->audit == NULL || audit_sync(srv->audit) == 0, t, 1);
	free(owner);
	free(pfd);
	return r;
}

/* One signer per CPU this process may run on, 1..SIGNERS_MAX. */
static size_t signer_count(void)
{
	cpu_set_t set;
	int n;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) != 0 || (n = CPU_COUNT(&set)) < 1)
		return 1;
	return n > SIGNERS_MAX ? SIGNERS_MAX : (size_t)n;
}

int serve_run(struct serve_opts *opts, const struct jit_config *cfg, const char *cfg_path)
{
	struct server srv;
	struct activation act;
	struct key *ca = NULL;
	struct sigaction sa;
	size_t i, k, dropped = 0;
	char msg[512], q1[SOCK_ADDR_TEXT_MAX * 4 + 3], q2[LISTEN_FDNAME_MAX * 4 + 3];
	int need_tls = 0, have_unix = 0, r = JIT_ERR_INTERNAL;

	opts->sys_errno = 0;
	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	openlog("jit-ca", LOG_PID, LOG_AUTHPRIV);
	/* First: before anything else opens descriptors or forks the signers. */
	if ((r = activation_collect(&act, msg, sizeof(msg))) != 0) {
		char q[sizeof(msg) + 8];

		slog(LOG_ERR, "event=fatal what=socket_activation error=%s",
		     r == JIT_ERR_CONFIG_INVALID ? quote(msg, q, sizeof(q)) : jit_err(r));
		goto out;
	}
	if ((r = resolve_requesters(&srv)) != 0)
		goto out;
	/* Revoked tickets are refused from the start: an unreadable store stops it. */
	if (asprintf(&srv.store_path, "%s/%s", cfg->ca.state_dir, REVOCATION_FILE) < 0) {
		srv.store_path = NULL;
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((r = store_reload(&srv, 1)) != 0) {
		if (r == JIT_ERR_SYSTEM)
			r = JIT_ERR_CONFIG_INVALID;
		goto out;
	}
	if ((r = key_load_private(cfg->ca.key, NULL, &ca)) != 0) {
		slog(LOG_ERR, "event=fatal what=ca_key path=\"%s\" error=\"%s\"", cfg->ca.key,
		     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	}
	if ((r = key_from_blob(ca->blob, ca->blob_len, &srv.ca_pub)) != 0) {
		slog(LOG_ERR, "event=fatal what=ca_key error=\"%s\"", jit_err(r));
		goto out;
	}
	srv.nsigners = signer_count();
	for (i = 0; i < srv.nsigners; i++) {
		if ((r = signer_start(cfg, ca, (unsigned)i, (unsigned)srv.nsigners,
		                      &srv.signers[i].s)) != 0) {
			slog(LOG_ERR, "event=fatal what=signer error=\"%s\"",
			     r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
			goto out;
		}
	}
	/* From here on only the signers hold the private key. */
	key_free(ca);
	ca = NULL;
	/* The TLS key is the network side's own; the signer never sees it. */
	for (i = 0; i < cfg->ca.n_listen; i++)
		if (cfg->ca.listen[i].type == CONFIG_ENDPOINT_TLS)
			need_tls = 1;
	if (need_tls && (r = tls_server_ctx(&cfg->ca.tls, &srv.tls_ctx, msg, sizeof(msg))) != 0) {
		slog(LOG_ERR, "event=fatal what=tls error=\"%s\"", msg);
		if (r == JIT_ERR_SYSTEM)
			r = JIT_ERR_CONFIG_INVALID;
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* A file size limit must fail the audit write, not kill the service. */
	sigaction(SIGXFSZ, &sa, NULL);
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (cfg->ca.audit_sync == CONFIG_AUDIT_SYSLOG_ONLY) {
		slog(LOG_WARNING, "event=audit mode=syslog-only warning=\"audit records go to "
		                  "syslog only and are not durable\"");
	} else if ((r = audit_open(cfg->ca.audit_log, &srv.audit, &dropped)) != 0) {
		slog(LOG_ERR, "event=fatal what=audit_log path=\"%s\" error=\"%s\"",
		     cfg->ca.audit_log, r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	} else if (dropped > 0)
		slog(LOG_WARNING, "event=audit_recovered path=\"%s\" dropped_bytes=%zu",
		     cfg->ca.audit_log, dropped);
	/*
	 * A lost serial file must not restart serials at 1 while the audit log
	 * shows certificates were issued: that would reuse serials.
	 */
	if ((r = serial_open(cfg->ca.state_dir, srv.audit != NULL && audit_seq(srv.audit) > 0,
	                     &srv.serial)) != 0) {
		if (r == JIT_ERR_NOT_FOUND)
			slog(LOG_ERR,
			     "event=fatal what=serial state_dir=\"%s\" error=\"serial file "
			     "missing but the audit log holds records: restore it, or write a "
			     "number above every serial issued into it\"",
			     cfg->ca.state_dir);
		else
			slog(LOG_ERR, "event=fatal what=serial state_dir=\"%s\" error=\"%s\"",
			     cfg->ca.state_dir, r == JIT_ERR_SYSTEM ? strerror(errno) : jit_err(r));
		goto out;
	}
	srv.max_conns = cfg->ca.max_connections;
	/*
	 * TLS callers (unauthenticated until their handshake ends) and Unix
	 * callers that match no requester may not take the slots of Unix
	 * requesters, when there can be any.
	 */
	srv.shared_max = srv.max_conns;
	have_unix = act.n > 0;
	for (i = 0; i < cfg->ca.n_listen; i++)
		if (cfg->ca.listen[i].type != CONFIG_ENDPOINT_TLS)
			have_unix = 1;
	if (have_unix && srv.nuids + srv.ngids > 0) {
		size_t reserve = srv.max_conns / 4, floor = srv.max_conns / 2;

		if (floor > UNIX_RESERVE_MIN)
			floor = UNIX_RESERVE_MIN;
		if (reserve < floor)
			reserve = floor;
		srv.shared_max = srv.max_conns - reserve;
	}
	/* At most max_conns sources at once: the table stays at most half full. */
	for (k = 1; k < 2 * srv.max_conns; k *= 2)
		;
	srv.held_mask = k - 1;
	if (getrandom(&srv.held_seed, sizeof(srv.held_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(srv.held_seed))
		srv.held_seed = now_us() ^ ((uint64_t)getpid() << 32);
	if ((srv.line = malloc(LOG_LINE_MAX)) == NULL ||
	    (srv.held = calloc(srv.held_mask + 1, sizeof(*srv.held))) == NULL ||
	    (srv.sources = calloc(REFUSAL_SOURCES + 1, sizeof(*srv.sources))) == NULL ||
	    (srv.conns = calloc(srv.max_conns, sizeof(*srv.conns))) == NULL ||
	    (srv.decided = calloc(srv.max_conns, sizeof(*srv.decided))) == NULL ||
	    (srv.ls = calloc(cfg->ca.n_listen + act.n, sizeof(*srv.ls))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < srv.max_conns; i++)
		srv.conns[i].fd = -1;
	srv.sources[REFUSAL_SOURCES].src.kind = SOURCE_OTHER;
	srv.sources[REFUSAL_SOURCES].bucket.milli = (uint64_t)REFUSAL_RATE * 1000;
	srv.sources[REFUSAL_SOURCES].bucket.at_ms = now_ms();
	srv.refusal_total.milli = (uint64_t)REFUSAL_RATE_TOTAL * 1000;
	srv.refusal_total.at_ms = now_ms();
	/* Passed sockets are systemd's: used as they are, never unlinked. */
	for (i = 0; i < act.n; i++) {
		srv.ls[srv.nls].fd = act.fd[i];
		act.fd[i] = -1;
		srv.nls++;
		slog(LOG_NOTICE, "event=listen socket=inherited fd=%d name=%s path=%s",
		     LISTEN_FDS_START + (int)i, quote(act.name[i], q2, sizeof(q2)),
		     quote(act.addr[i], q1, sizeof(q1)));
	}
	for (i = 0; i < cfg->ca.n_listen; i++) {
		const struct config_endpoint *ep = &cfg->ca.listen[i];

		if (ep->type == CONFIG_ENDPOINT_TLS) {
			srv.ls[srv.nls].fd = -1;
			srv.nls++;
			if ((r = listen_tcp(ep->host, ep->port, &srv.ls[srv.nls - 1])) != 0) {
				slog(LOG_ERR, "event=fatal what=listen listen=\"%s\" error=\"%s\"",
				     ep->text, strerror(errno));
				goto out;
			}
			slog(LOG_NOTICE, "event=listen socket=created listen=\"%s\"", ep->text);
			continue;
		}
		if (act.n > 0) {
			/* Socket activation replaces the configured Unix sockets. */
			for (k = 0; k < act.n && strcmp(act.addr[k], ep->path) != 0; k++)
				;
			if (k == act.n)
				slog(LOG_WARNING,
				     "event=listen socket=not_created path=%s "
				     "warning=\"not served: systemd passed the Unix sockets "
				     "and none is bound to this path\"",
				     quote(ep->path, q1, sizeof(q1)));
			continue;
		}
		srv.ls[srv.nls].fd = -1;
		srv.ls[srv.nls].path = ep->path;
		srv.nls++;
		if ((r = listen_unix(ep->path, &srv.ls[srv.nls - 1])) != 0) {
			slog(LOG_ERR, "event=fatal what=listen path=\"%s\" error=\"%s\"", ep->path,
			     strerror(errno));
			goto out;
		}
		slog(LOG_NOTICE, "event=listen socket=created path=%s",
		     quote(ep->path, q1, sizeof(q1)));
	}
	slog(LOG_NOTICE,
	     "event=started config=\"%s\" pid=%d signer_pid=%d signers=%zu listeners=%zu audit=%s "
	     "max_connections=%u tls_connections=%zu request_timeout=%llu",
	     cfg_path, (int)getpid(), (int)signer_pid(srv.signers[0].s), srv.nsigners, srv.nls,
	     srv.audit != NULL ? "fsync" : "syslog-only", cfg->ca.max_connections, srv.shared_max,
	     (unsigned long long)cfg->ca.request_timeout);
#if !JIT_SIGN_SELF_CHECK
	slog(LOG_WARNING, "event=warning what=\"measurement build: signatures are not "
	                  "verified before they leave the signer (-Dsign_self_check=false)\"");
#endif
	r = loop(&srv);
	if (r == 0)
		slog(LOG_NOTICE, "event=stopped");
out:
	if (r == JIT_ERR_SYSTEM)
		opts->sys_errno = errno;
	for (i = 0; i < srv.max_conns && srv.conns != NULL; i++)
		conn_close(&srv, &srv.conns[i]);
	if (srv.ls != NULL)
		close_listeners(&srv);
	for (i = 0; i < act.n; i++)
		if (act.fd[i] >= 0)
			close(act.fd[i]);
	free(srv.ls);
	free(srv.conns);
	free(srv.held);
	for (i = 0; srv.sources != NULL && i <= REFUSAL_SOURCES; i++)
		free(srv.sources[i].audit_line);
	free(srv.sources);
	free(srv.line);
	free(srv.uids);
	free(srv.gids);
	free(srv.store_path);
	revocation_free(srv.revoked);
	serial_close(srv.serial);
	audit_close(srv.audit);
	for (i = 0; i < srv.nsigners; i++)
		signer_stop(srv.signers[i].s);
	free(srv.decided);
	key_free(srv.ca_pub);
	key_free(ca);
	SSL_CTX_free(srv.tls_ctx);
	closelog();
	return r;
}
