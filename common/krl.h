/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * OpenSSH key revocation lists (PROTOCOL.krl), the file sshd's RevokedKeys
 * reads. sshd refuses every public key when it cannot load that file, so the
 * encoder writes only what every supported OpenSSH loads (no signature and no
 * extension sections) and krl_write replaces the file atomically.
 *
 * The encoder writes one certificates section for one CA: serial numbers
 * (as list, range or bitmap subsections, whichever is smaller) and key IDs.
 * The parser reads that back, and what `ssh-keygen -k` writes.
 */
#ifndef JIT_KRL_H
#define JIT_KRL_H

#include <stddef.h>
#include <stdint.h>

#include "key.h"

#define KRL_MAGIC          0x5353484b524c0a00ULL /* "SSHKRL\n\0" */
#define KRL_FORMAT_VERSION 1

#define KRL_SECTION_CERTIFICATES       1
#define KRL_SECTION_EXPLICIT_KEY       2
#define KRL_SECTION_FINGERPRINT_SHA1   3
#define KRL_SECTION_SIGNATURE          4
#define KRL_SECTION_FINGERPRINT_SHA256 5
#define KRL_SECTION_EXTENSION          255

#define KRL_SECTION_CERT_SERIAL_LIST   0x20
#define KRL_SECTION_CERT_SERIAL_RANGE  0x21
#define KRL_SECTION_CERT_SERIAL_BITMAP 0x22
#define KRL_SECTION_CERT_KEY_ID        0x23
#define KRL_SECTION_CERT_EXTENSION     0x39

/* Limits. A bitmap is an mpint; OpenSSH caps those at 2048 bytes. */
#define KRL_BITMAP_MAX_BYTES 2048
#define KRL_BITMAP_MAX_BITS  (KRL_BITMAP_MAX_BYTES * 8)
#define KRL_CAS_MAX          64        /* distinct CAs in a parsed KRL */
#define KRL_RANGES_MAX       (1 << 20) /* serial ranges in a parsed KRL, before merging */
#define KRL_KEY_IDS_MAX      (1 << 20) /* key IDs in a parsed KRL, before merging */

/* Serials lo..hi inclusive; a single serial is {n, n}. Serial 0 never is. */
struct krl_range {
	uint64_t lo;
	uint64_t hi;
};

struct krl_spec {
	uint64_t version;                /* increases with every KRL written */
	uint64_t date;                   /* generated date, seconds since the epoch */
	const char *comment;             /* may be NULL (empty) */
	const struct key *ca;            /* the CA whose certificates are revoked */
	const struct krl_range *serials; /* any order; may overlap */
	size_t nserials;
	const char *const *key_ids; /* any order; duplicates are fine */
	size_t nkey_ids;
};

/*
 * Encodes a KRL. Refuses (JIT_ERR_INVALID_ARGUMENT) a missing CA, a range
 * with lo == 0 or lo > hi, an empty key ID; and (JIT_ERR_BAD_CHARACTER) a
 * control character in a key ID or the comment. No revocations at all gives
 * a valid KRL that revokes nothing.
 */
int krl_encode(const struct krl_spec *s, uint8_t **ret, size_t *ret_len);

/* Encodes and replaces path atomically, mode 0644. On failure path is untouched. */
int krl_write(const struct krl_spec *s, const char *path);

/* What one or more certificates sections revoke for one CA. */
struct krl_certs {
	struct key *ca;            /* NULL: certificates from any CA */
	struct krl_range *serials; /* sorted, disjoint, not adjacent (merged) */
	size_t nserials;
	char **key_ids; /* sorted bytewise, unique */
	size_t nkey_ids;
};

struct krl {
	uint64_t version;
	uint64_t date;
	uint64_t flags;
	char *comment;
	struct krl_certs *certs; /* one per distinct CA, in order of first appearance */
	size_t ncerts;
	size_t nplain; /* plain-key entries (explicit keys, fingerprints): counted only */
};

/*
 * Parses a whole KRL (at most BUF_SIZE_MAX bytes). Structural errors are
 * JIT_ERR_KRL_INVALID: bad magic or format version, an unknown, signature or
 * extension section or subsection (OpenSSH 9.2 refuses extensions, 9.4+
 * signatures), serial 0, a range with lo > hi, a bitmap past 2^64-1, a
 * fingerprint of the wrong length. Leftover bytes inside a section are
 * JIT_ERR_TRAILING_DATA; short fields, bad mpints and NULs in key IDs give
 * the buffer's codes; a bad CA key gives the key parser's; more than
 * KRL_CAS_MAX CAs, KRL_RANGES_MAX ranges or KRL_KEY_IDS_MAX key IDs is
 * JIT_ERR_NO_BUFFER_SPACE. Overlapping and unsorted serials are allowed (the
 * format does not forbid them) and come back merged. Bitmaps must be minimal
 * mpints (OpenSSH writes them so).
 */
int krl_parse(const uint8_t *data, size_t len, struct krl **ret);
void krl_free(struct krl *k);

/*
 * 1 when a certificate signed by ca (NULL: unknown) with this serial and
 * key ID (NULL: none) is revoked, as OpenSSH decides it: by key ID, or by a
 * serial other than 0, in a section for that CA or for any CA. 0 otherwise.
 */
int krl_cert_revoked(const struct krl *k, const struct key *ca, uint64_t serial,
                     const char *key_id);

#endif
