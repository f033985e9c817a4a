/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * SSH keys: public keys in OpenSSH's wire and one-line forms, CA private
 * keys (OpenSSH format with or without passphrase, PEM/PKCS#8), key
 * generation, and SSH signatures made and checked with OpenSSL EVP.
 */
#ifndef JIT_KEY_H
#define JIT_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"

enum key_type {
	KEY_UNSPEC = 0,
	KEY_ED25519,
	KEY_ECDSA_P256,
	KEY_ECDSA_P384,
	KEY_ECDSA_P521,
	KEY_RSA,
	KEY_SK_ED25519,    /* sk-ssh-ed25519@openssh.com (subject keys only) */
	KEY_SK_ECDSA_P256, /* sk-ecdsa-sha2-nistp256@openssh.com (subject keys only) */
};

/* Limits that bound every key parser. */
#define KEY_RSA_MIN_BITS   2048
#define KEY_RSA_MAX_BITS   16384
#define KEY_BLOB_MAX       4096  /* a public key blob (RSA 16384 fits) */
#define KEY_FILE_MAX       65536 /* a key file on disk */
#define KEY_SK_APP_MAX     256   /* sk- application string */

struct key {
	enum key_type type;
	uint8_t *blob;    /* public key blob: string(type name) + type-specific fields */
	size_t blob_len;
	/*
	 * Holds the private half when loaded as private. NULL for sk- keys and
	 * for Ed25519 public keys: OpenSSL checks nothing in those 32 bytes,
	 * and making an EVP_PKEY costs more than the rest of a parse, so
	 * key_verify makes one from the blob when it needs it.
	 */
	EVP_PKEY *pkey;
	/*
	 * Private keys only: a public-only object made from blob when the key
	 * is loaded, with which its own signatures are checked
	 * (key_verify_public), never with the object that signs.
	 */
	EVP_PKEY *verify_pkey;
	int has_private;
	char *comment;    /* from a one-line or private key file; may be NULL */
};

/* "ssh-ed25519", ... or NULL for KEY_UNSPEC. */
const char *key_type_name(enum key_type t);
/* "ssh-ed25519-cert-v01@openssh.com", ... or NULL. */
const char *key_cert_type_name(enum key_type t);
/* Exact match of len bytes of name; KEY_UNSPEC if unknown. */
enum key_type key_type_from_name(const char *name, size_t len);
enum key_type key_type_from_cert_name(const char *name, size_t len);
/* 1 for key types that can sign as a CA (Ed25519, ECDSA, RSA). */
int key_type_can_sign(enum key_type t);

void key_free(struct key *k);

/*
 * Parses a public key blob (string type + fields), the whole of blob/len.
 * Validates sizes, curve points and RSA length (2048..16384 bits).
 */
int key_from_blob(const uint8_t *blob, size_t len, struct key **ret);
/*
 * Parses the type-specific public fields of a key of type t from b (as they
 * stand inside a certificate after the nonce), consuming exactly them.
 */
int key_from_fields(struct buf *b, enum key_type t, struct key **ret);
/* The fields part of the blob (the blob without its leading type string). */
const uint8_t *key_fields(const struct key *k, size_t *ret_len);
/* 1 when the public halves are the same key. */
int key_equal_public(const struct key *a, const struct key *b);
/* Key size in bits (256 for Ed25519, the curve for ECDSA, modulus for RSA). */
unsigned key_bits(const struct key *k);
/* Most bytes one raw signature by this key takes (before SSH encoding); 0 if it cannot sign. */
size_t key_sig_max(const struct key *k);

/* "ssh-ed25519 AAAA... comment" (OpenSSH one-line form; parsed with libssh). */
int key_from_line(const char *line, size_t len, struct key **ret);
/* Reads a one-line public key file (bounded, first key line). */
int key_load_public(const char *path, struct key **ret);
/* "TYPE BASE64[ COMMENT]" with no newline. */
int key_to_line(const struct key *k, const char *comment, char **ret);
/* "SHA256:..." as ssh-keygen -l prints it. */
int key_fingerprint(const struct key *k, char **ret);

/*
 * Loads a CA private key: OpenSSH format (unencrypted, or encrypted with
 * passphrase), or PEM/PKCS#8 (optionally encrypted). passphrase may be NULL:
 * an encrypted key then fails with JIT_ERR_KEY_ENCRYPTED. The file must be a
 * regular file not readable by group or others (JIT_ERR_FILE_PERMISSIONS),
 * at most KEY_FILE_MAX bytes. Only key types that can sign are accepted.
 * Encrypted OpenSSH keys: every cipher ssh-keygen offers, KDF bcrypt with
 * at most BCRYPT_PBKDF_ROUNDS_MAX rounds (otherwise, or for another cipher
 * or KDF, JIT_ERR_KEY_UNSUPPORTED_CIPHER); a wrong passphrase or a
 * corrupt encrypted section gives JIT_ERR_KEY_WRONG_PASSPHRASE.
 */
int key_load_private(const char *path, const char *passphrase, struct key **ret);
/* The same from memory (the file's bytes). */
int key_parse_private(const uint8_t *data, size_t len, const char *passphrase, struct key **ret);

/*
 * Generates a key. bits: 0 for the default (ECDSA 256, RSA 3072); ECDSA
 * takes 256, 384 or 521; RSA 2048..16384.
 */
int key_generate(enum key_type t, unsigned bits, struct key **ret);
/*
 * Writes a private key to path (created new with mode 0600, refusing to
 * overwrite) in a format ssh-keygen reads, and path.pub in one-line form.
 */
int key_write_pair(const struct key *k, const char *path, const char *comment);

/*
 * Signs data with a private key, producing an SSH signature blob:
 * string(algorithm) + string(signature). Ed25519 "ssh-ed25519"; ECDSA
 * "ecdsa-sha2-nistpNNN" with string(mpint r, mpint s); RSA "rsa-sha2-512".
 */
int key_sign(const struct key *k, const uint8_t *data, size_t len, uint8_t **ret_sig,
	     size_t *ret_sig_len);
/*
 * Checks an SSH signature blob over data. The algorithm must match the key
 * type (RSA: rsa-sha2-256 or rsa-sha2-512; SHA-1 "ssh-rsa" is refused with
 * JIT_ERR_SIG_ALG_MISMATCH). Trailing bytes in the blob are an error.
 * ret_alg (may be NULL) gets a copy of the algorithm name on success.
 */
int key_verify(const struct key *k, const uint8_t *sig, size_t sig_len, const uint8_t *data,
	       size_t len, char **ret_alg);
/*
 * key_verify against the public half as the blob has it: for a private
 * key its verify_pkey, never the signing object, so that a key object
 * whose halves disagree fails.
 */
int key_verify_public(const struct key *k, const uint8_t *sig, size_t sig_len, const uint8_t *data,
		      size_t len);

#endif
