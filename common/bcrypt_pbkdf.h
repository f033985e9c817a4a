/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bcrypt_pbkdf, the key derivation of OpenSSH's encrypted private key files
 * (kdf "bcrypt"): PBKDF2 in structure, with bcrypt's expensive Blowfish key
 * schedule over SHA-512 digests as the pseudo-random function, and the
 * output bytes spread across the blocks rather than laid end to end.
 */
#ifndef JIT_BCRYPT_PBKDF_H
#define JIT_BCRYPT_PBKDF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bounds. A round costs about 3 ms per 32 bytes of output (as much as in
 * ssh-keygen); ssh-keygen writes 16 rounds by default but accepts any
 * number up to 2^31, so a careless or hostile file could ask for days.
 * 1024 rounds for the 64 bytes of chacha20-poly1305 take about 7 s.
 */
#define BCRYPT_PBKDF_ROUNDS_MAX 1024
#define BCRYPT_PBKDF_SALT_MAX   1024 /* ssh-keygen writes 16 bytes */
#define BCRYPT_PBKDF_KEY_MAX    1024 /* 32 blocks of 32 bytes */

/* Blowfish state: the 18-word P-array, then the four 256-word S-boxes. */
#define BCRYPT_BLOWFISH_WORDS (18 + 4 * 256)

/*
 * Derives key_len bytes into key. pass and salt must not be empty; rounds
 * is 1..BCRYPT_PBKDF_ROUNDS_MAX, salt_len at most BCRYPT_PBKDF_SALT_MAX,
 * key_len 1..BCRYPT_PBKDF_KEY_MAX (otherwise JIT_ERR_INVALID_ARGUMENT and
 * key is untouched). On any failure key is wiped.
 */
int bcrypt_pbkdf(const uint8_t *pass, size_t pass_len, const uint8_t *salt, size_t salt_len,
                 unsigned rounds, uint8_t *key, size_t key_len);

/*
 * Plain Blowfish's key schedule done our way (initial state from pi, then
 * the key folded in and the state re-encrypted), for the test that checks
 * it word for word against OpenSSL's BF_set_key. key_len is 1..72.
 */
int bcrypt_blowfish_schedule(const uint8_t *key, size_t key_len,
                             uint32_t ret_words[BCRYPT_BLOWFISH_WORDS]);

#endif
