/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The CA's revocation store: a text file in ca.state_dir listing what the
 * KRL revokes, one entry per line:
 *
 *   serial N        one serial number (1 .. 2^64-1, decimal)
 *   serial N-M      serials N to M inclusive, N <= M
 *   id KEYID        every certificate with exactly this key ID
 *   ticket ID       no new certificate for this ticket (the service refuses it)
 *   # ...           a comment
 *
 * Anything else is an error naming the line. The store is written back
 * sorted and merged (ranges joined, key IDs and tickets unique),
 * atomically. Ticket entries are not in the KRL: they stop the service from
 * issuing, while serials and key IDs stop sshd from accepting.
 */
#ifndef JIT_CA_REVOCATION_H
#define JIT_CA_REVOCATION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "krl.h"

/* The store's name inside ca.state_dir. */
#define REVOCATION_FILE "revoked"
/* Bounds: bytes in the file, entries (lines before merging, or after adding). */
#define REVOCATION_FILE_MAX    (8 * 1024 * 1024)
#define REVOCATION_ENTRIES_MAX 100000
/* Room for any reason revocation_parse gives. */
#define REVOCATION_WHY_MAX 128

struct revocations {
	struct krl_range *serials; /* sorted, disjoint, not adjacent */
	size_t nserials;
	char **key_ids; /* sorted bytewise, unique; printable ASCII */
	size_t nkey_ids;
	char **tickets; /* sorted bytewise, unique; ticket IDs (config_is_ticket_id) */
	size_t ntickets;
};

/* An empty store. */
int revocation_new(struct revocations **ret);
void revocation_free(struct revocations *rv);

/*
 * Parses a store's text (len bytes). A bad line is JIT_ERR_INVALID_FORMAT
 * (or JIT_ERR_BAD_CHARACTER, JIT_ERR_STRING_TOO_LARGE), with its number in
 * *ret_line and the reason in why; too many entries JIT_ERR_NO_BUFFER_SPACE.
 */
int revocation_parse(const char *text, size_t len, struct revocations **ret,
                     unsigned long *ret_line, char *why, size_t whylen);
/*
 * Whom the files in ca.state_dir belong to: the directory's owner (the
 * service's account) and group. Its owner can replace any file in it
 * anyway, so files owned by it are trusted like root's.
 */
struct state_owner {
	uid_t uid;
	gid_t gid;
};

/* The owner and group of the directory dir. */
int revocation_state_owner(const char *dir, struct state_owner *ret);

/*
 * Reads a file of the state directory whole, NUL-terminated: a regular
 * file (not a symlink: JIT_ERR_FILE_TYPE) of at most max bytes
 * (JIT_ERR_FILE_TOO_LARGE), owned by root, owner->uid or us and not
 * group/world writable (JIT_ERR_FILE_PERMISSIONS). A system error leaves
 * errno set and returns JIT_ERR_SYSTEM.
 */
int revocation_file_read(const char *path, size_t max, const struct state_owner *owner,
                         uint8_t **ret, size_t *ret_len);
/*
 * Replaces path atomically (temporary file, fsync, rename, fsync of the
 * directory) with mode 0640. Run as root, the temporary file is given to
 * owner before the rename: nobody ever sees the new file with another
 * owner, group or mode.
 */
int revocation_file_write(const char *path, const void *data, size_t len,
                          const struct state_owner *owner);

/*
 * Reads the store at path (as revocation_file_read); a missing file is an
 * empty store. Errors as revocation_parse and revocation_file_read.
 */
int revocation_load(const char *path, const struct state_owner *owner, struct revocations **ret,
                    unsigned long *ret_line, char *why, size_t whylen);

/*
 * Adds serials lo..hi (1 <= lo <= hi, else JIT_ERR_INVALID_ARGUMENT).
 * *ret_added is 1 when some serial in it was not revoked before.
 */
int revocation_add_serials(struct revocations *rv, uint64_t lo, uint64_t hi, int *ret_added);
/*
 * Adds a key ID: 1..CERT_KEY_ID_MAX bytes of printable ASCII (else
 * JIT_ERR_INVALID_ARGUMENT, JIT_ERR_BAD_CHARACTER, JIT_ERR_STRING_TOO_LARGE).
 * *ret_added is 0 when it was already there.
 */
int revocation_add_key_id(struct revocations *rv, const char *key_id, int *ret_added);

/*
 * Adds a ticket ID (config_is_ticket_id, else JIT_ERR_INVALID_FORMAT).
 * *ret_added is 0 when it was already there.
 */
int revocation_add_ticket(struct revocations *rv, const char *ticket, int *ret_added);
/* 1 when the ticket is revoked. */
int revocation_has_ticket(const struct revocations *rv, const char *ticket);

/* Checks a key ID as revocation_add_key_id does, without adding it. */
int revocation_check_key_id(const char *key_id);

/* The store's text, canonical, NUL-terminated. */
int revocation_format(const struct revocations *rv, char **ret, size_t *ret_len);
/* Replaces path with the canonical text, as revocation_file_write. */
int revocation_save(const struct revocations *rv, const char *path,
                    const struct state_owner *owner);

#endif
