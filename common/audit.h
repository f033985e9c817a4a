/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The CA's append-only audit log: one JSON object per line, each carrying
 * the SHA-256 of the line before it, so that a deleted, altered, inserted or
 * reordered record breaks the chain at a named line. The format is in
 * docs/audit-format.md.
 *
 * Durability contract (group commit): audit_append writes a record into the
 * file, audit_sync makes every record appended since the previous
 * audit_sync durable. A decision may be acted on (a certificate returned)
 * only after the audit_sync that follows its audit_append returned 0. When
 * any append or sync of a batch failed, that audit_sync fails too and every
 * record of the batch must be treated as not written; the next append first
 * cuts the file back to the last durable record, so the chain stays whole
 * and writing resumes once the disk accepts data again.
 *
 * One writer per file (an exclusive flock), no threads.
 */
#ifndef JIT_AUDIT_H
#define JIT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

/* Longest record, its newline included. */
#define AUDIT_LINE_MAX 8192
/* Most event fields in one record. */
#define AUDIT_FIELDS_MAX 32
/* Longest event field name: [a-z][a-z0-9_]*, not seq, time or prev. */
#define AUDIT_KEY_MAX 32
/* SHA-256. */
#define AUDIT_HASH_LEN 32
/* A hash in lowercase hex, with its NUL. */
#define AUDIT_HASH_HEX_SIZE (2 * AUDIT_HASH_LEN + 1)
/* Room for audit_syslog_line's longest output (every byte escaped as \xNN). */
#define AUDIT_SYSLOG_MAX (4 * AUDIT_LINE_MAX)

enum audit_type {
	AUDIT_T_STR = 1, /* a JSON string */
	AUDIT_T_U64,     /* a JSON number, 0 .. 2^64-1 */
	AUDIT_T_BOOL,    /* true (u != 0) or false */
};

/*
 * One event field. Strings are NUL-terminated and may hold any other
 * bytes: invalid UTF-8 and control characters are escaped, never dropped.
 */
struct audit_field {
	const char *key;
	enum audit_type type;
	const char *s; /* AUDIT_T_STR */
	uint64_t u;    /* AUDIT_T_U64, AUDIT_T_BOOL */
};

/* Initialisers for arrays of fields: struct audit_field f[] = { AUDIT_STR("event", "sign"), }; */
#define AUDIT_STR(k, v)                                                                            \
	{                                                                                          \
		.key = (k), .type = AUDIT_T_STR, .s = (v)                                          \
	}
#define AUDIT_U64(k, v)                                                                            \
	{                                                                                          \
		.key = (k), .type = AUDIT_T_U64, .u = (v)                                          \
	}
#define AUDIT_BOOL(k, v)                                                                           \
	{                                                                                          \
		.key = (k), .type = AUDIT_T_BOOL, .u = (v) ? 1 : 0                                 \
	}

struct audit_log;

/*
 * Opens (creating it with mode 0640, and making its directory entry
 * durable) the log at path for appending; O_NOFOLLOW, a regular file, owned
 * by root or the effective user and not group or world writable
 * (JIT_ERR_FILE_TYPE, JIT_ERR_FILE_PERMISSIONS). Another writer holding the
 * file is JIT_ERR_SYSTEM with errno EWOULDBLOCK.
 *
 * The last line gives the next seq and prev hash. An unterminated last line
 * (a write cut short by a crash, never acknowledged) is cut away; how many
 * bytes that was goes to *ret_dropped (may be NULL) so that the caller can
 * report it. A last line that is not a record, or an unterminated tail that
 * is not the start of one, is JIT_ERR_AUDIT_CHAIN and nothing is changed.
 * Failing to truncate or sync is JIT_ERR_AUDIT_WRITE.
 */
int audit_open(const char *path, struct audit_log **ret, size_t *ret_dropped);
/* Closes without syncing. NULL is fine. */
void audit_close(struct audit_log *a);

/*
 * Formats the next record (time now, seconds since the epoch, and the
 * fields in the given order) and writes it to the file: written, not yet
 * durable. *ret_seq (may be NULL) gets its seq.
 *
 * Bad fields (key syntax, reserved or duplicate key, unknown type, NULL
 * string) are JIT_ERR_INVALID_ARGUMENT, a record over AUDIT_LINE_MAX is
 * JIT_ERR_NO_BUFFER_SPACE; neither touches the file or the batch. A failed
 * write is JIT_ERR_AUDIT_WRITE. JIT_ERR_AUDIT_CHAIN means the file changed
 * under us (another writer, or truncated below what we made durable): the
 * log stays unusable until reopened.
 */
int audit_append(struct audit_log *a, uint64_t now, const struct audit_field *fields, size_t n,
                 uint64_t *ret_seq);

/*
 * Makes every record appended since the last audit_sync durable
 * (fdatasync), or reports that they are not: JIT_ERR_AUDIT_WRITE (or
 * JIT_ERR_AUDIT_CHAIN as above) when this sync or any append since the last
 * audit_sync failed. Nothing appended is 0 without a system call.
 */
int audit_sync(struct audit_log *a);

/*
 * The seq of the last record appended (0 for an empty log); after a failed
 * append or sync, of the last durable one, which the next append follows.
 */
uint64_t audit_seq(const struct audit_log *a);

/*
 * The record last appended through a, as one syslog-friendly line
 * "seq=N time=T hash=H key=value ...": strings in double quotes with '"' and
 * '\' escaped by '\' and other bytes outside printable ASCII as \xNN. The
 * hash, sent to a remote log, anchors the chain's head. JIT_ERR_NOT_FOUND
 * before the first append.
 */
int audit_syslog_line(const struct audit_log *a, char *out, size_t outlen);

/*
 * Walks the whole file and checks every line: syntax, seq 1, 2, 3 ...
 * and prev equal to the hash of the line before it. 0 when all hold, with
 * *ret_records the number of records and msg "N records, head HASH".
 * JIT_ERR_AUDIT_CHAIN names the first broken record: *ret_bad_line (1-based;
 * equal to the seq it should carry), *ret_records the good records before
 * it, msg "line L: why". Other errors (JIT_ERR_SYSTEM, JIT_ERR_FILE_TYPE)
 * set no outputs and msg "". msg may be NULL.
 *
 * A change to the last record's event fields leaves the chain whole: compare
 * the head hash with one kept elsewhere (audit_syslog_line).
 */
int audit_verify(const char *path, uint64_t *ret_records, uint64_t *ret_bad_line, char *msg,
                 size_t msglen);

/* The chain state after a record: the first record expects {0, all zeros}. */
struct audit_chain {
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
};

/* Sets c to the state before the first record. */
void audit_chain_init(struct audit_chain *c);

/*
 * Checks one line (without its newline) against the chain state c and, if
 * it holds, advances c to it. A line that is not a well-formed record in
 * canonical form (the bytes audit_append would write for its fields) is
 * JIT_ERR_INVALID_FORMAT; a wrong seq or prev is JIT_ERR_AUDIT_CHAIN. why
 * (may be NULL) gets the reason, or "" on success. No I/O.
 */
int audit_chain_check(struct audit_chain *c, const char *line, size_t len, char *why,
                      size_t whylen);

/* A record read back: strings decoded, pointing into text. Do not copy the struct. */
struct audit_record {
	uint64_t seq;
	uint64_t time;
	uint8_t prev[AUDIT_HASH_LEN];
	size_t nfields;
	struct audit_field fields[AUDIT_FIELDS_MAX];
	char text[AUDIT_LINE_MAX];
};

/*
 * Parses one line (without its newline) that must be in canonical form.
 * JIT_ERR_INVALID_FORMAT otherwise; why as for audit_chain_check.
 */
int audit_record_parse(const char *line, size_t len, struct audit_record *rec, char *why,
                       size_t whylen);

/*
 * The canonical line for a record, without newline, NUL-terminated in out
 * (out holds at least AUDIT_LINE_MAX bytes to fit any record); *ret_len (may
 * be NULL) gets its length. Errors as for audit_append.
 */
int audit_record_format(uint64_t seq, uint64_t time, const uint8_t prev[AUDIT_HASH_LEN],
                        const struct audit_field *fields, size_t n, char *out, size_t outlen,
                        size_t *ret_len);

#endif
