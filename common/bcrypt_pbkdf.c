/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bcrypt_pbkdf over OpenSSL: SHA-512 through EVP, Blowfish's block
 * function through BF_encrypt on a state we build ourselves, since the
 * expensive key schedule ("EksBlowfish") is not something OpenSSL offers.
 */

/*
 * BF_encrypt is deprecated in OpenSSL 3 but still exported; this file alone
 * uses that API, and says so here instead of silencing the warning.
 */
#define OPENSSL_API_COMPAT 0x10100000L

#include <stdint.h>
#include <string.h>

#include <openssl/blowfish.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bcrypt_pbkdf.h"
#include "blowfish_init.h"
#include "err.h"

#define SHA512_LEN      64
#define BCRYPT_WORDS    8 /* the hash is 8 words: 32 bytes */
#define BCRYPT_HASH_LEN (BCRYPT_WORDS * 4)
#define BF_KEY_MAX      (18 * 4) /* bytes of key one pass over P takes */

/* 256 bits of text that bcrypt encrypts; no NUL. */
static const uint8_t bcrypt_text[BCRYPT_HASH_LEN] = {
        'O', 'x', 'y', 'c', 'h', 'r', 'o', 'm', 'a', 't', 'i', 'c', 'B', 'l', 'o', 'w',
        'f', 'i', 's', 'h', 'S', 'w', 'a', 't', 'D', 'y', 'n', 'a', 'm', 'i', 't', 'e',
};

/* The next big-endian word of data, wrapping around to its start. */
static uint32_t next_word(const uint8_t *data, size_t len, size_t *pos)
{
	uint32_t w = 0;
	int i;

	for (i = 0; i < 4; i++) {
		if (*pos >= len)
			*pos = 0;
		w = (w << 8) | data[(*pos)++];
	}
	return w;
}

static void bf_initial(BF_KEY *bf)
{
	size_t i;

	for (i = 0; i < BLOWFISH_INIT_P_WORDS; i++)
		bf->P[i] = blowfish_init_state[i];
	for (i = 0; i < BLOWFISH_INIT_S_WORDS; i++)
		bf->S[i] = blowfish_init_state[BLOWFISH_INIT_P_WORDS + i];
}

/* P ^= the key, repeated as often as needed to cover P's 18 words. */
static void bf_fold_key(BF_KEY *bf, const uint8_t *key, size_t len)
{
	size_t pos = 0, i;

	for (i = 0; i < BLOWFISH_INIT_P_WORDS; i++)
		bf->P[i] ^= next_word(key, len, &pos);
}

/*
 * Replaces P, then S, two words at a time by encrypting a running block
 * under the state as it stands. With salt, the salt (repeated) is mixed
 * into the block before each encryption: bcrypt's addition to Blowfish.
 */
static void bf_refill(BF_KEY *bf, const uint8_t *salt, size_t salt_len)
{
	BF_LONG block[2] = {0, 0};
	size_t pos = 0, i;

	for (i = 0; i < BCRYPT_BLOWFISH_WORDS; i += 2) {
		if (salt != NULL) {
			block[0] ^= next_word(salt, salt_len, &pos);
			block[1] ^= next_word(salt, salt_len, &pos);
		}
		BF_encrypt(block, bf);
		/* 18 is even: a pair never straddles P and S. */
		if (i < BLOWFISH_INIT_P_WORDS) {
			bf->P[i] = block[0];
			bf->P[i + 1] = block[1];
		} else {
			bf->S[i - BLOWFISH_INIT_P_WORDS] = block[0];
			bf->S[i - BLOWFISH_INIT_P_WORDS + 1] = block[1];
		}
	}
	OPENSSL_cleanse(block, sizeof(block));
}

int bcrypt_blowfish_schedule(const uint8_t *key, size_t key_len,
                             uint32_t ret_words[BCRYPT_BLOWFISH_WORDS])
{
	BF_KEY bf;
	size_t i;

	if (key == NULL || key_len == 0 || key_len > BF_KEY_MAX || ret_words == NULL)
		return JIT_ERR_INVALID_ARGUMENT;
	bf_initial(&bf);
	bf_fold_key(&bf, key, key_len);
	bf_refill(&bf, NULL, 0);
	for (i = 0; i < BLOWFISH_INIT_P_WORDS; i++)
		ret_words[i] = (uint32_t)bf.P[i];
	for (i = 0; i < BLOWFISH_INIT_S_WORDS; i++)
		ret_words[BLOWFISH_INIT_P_WORDS + i] = (uint32_t)bf.S[i];
	OPENSSL_cleanse(&bf, sizeof(bf));
	return 0;
}

/*
 * bcrypt's core on two digests: the expensive key setup (salt and password
 * folded in 1 + 2 x 64 times), then the fixed text encrypted 64 times. The
 * words come out little-endian, as OpenSSH's key files expect.
 */
static void bcrypt_hash(BF_KEY *bf, const uint8_t pass[SHA512_LEN], const uint8_t salt[SHA512_LEN],
                        uint8_t out[BCRYPT_HASH_LEN])
{
	BF_LONG text[BCRYPT_WORDS];
	size_t pos = 0, i, j;

	bf_initial(bf);
	bf_fold_key(bf, pass, SHA512_LEN);
	bf_refill(bf, salt, SHA512_LEN);
	for (i = 0; i < 64; i++) {
		bf_fold_key(bf, salt, SHA512_LEN);
		bf_refill(bf, NULL, 0);
		bf_fold_key(bf, pass, SHA512_LEN);
		bf_refill(bf, NULL, 0);
	}
	for (i = 0; i < BCRYPT_WORDS; i++)
		text[i] = next_word(bcrypt_text, sizeof(bcrypt_text), &pos);
	for (i = 0; i < 64; i++) {
		for (j = 0; j < BCRYPT_WORDS; j += 2)
			BF_encrypt(&text[j], bf);
	}
	for (i = 0; i < BCRYPT_WORDS; i++) {
		out[4 * i] = (uint8_t)(text[i] & 0xff);
		out[4 * i + 1] = (uint8_t)((text[i] >> 8) & 0xff);
		out[4 * i + 2] = (uint8_t)((text[i] >> 16) & 0xff);
		out[4 * i + 3] = (uint8_t)((text[i] >> 24) & 0xff);
	}
	OPENSSL_cleanse(text, sizeof(text));
}

/* SHA-512 of a || b (b may be empty). */
static int sha512(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t *a, size_t a_len,
                  const uint8_t *b, size_t b_len, uint8_t out[SHA512_LEN])
{
	unsigned int len = 0;

	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, a, a_len) != 1 ||
	    (b_len > 0 && EVP_DigestUpdate(ctx, b, b_len) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != SHA512_LEN)
		return JIT_ERR_LIBCRYPTO;
	return 0;
}

int bcrypt_pbkdf(const uint8_t *pass, size_t pass_len, const uint8_t *salt, size_t salt_len,
                 unsigned rounds, uint8_t *key, size_t key_len)
{
	uint8_t sha_pass[SHA512_LEN], sha_salt[SHA512_LEN];
	uint8_t block[BCRYPT_HASH_LEN], acc[BCRYPT_HASH_LEN], count_be[4];
	size_t stride, per_block, i, j, dest;
	EVP_MD_CTX *ctx = NULL;
	EVP_MD *md = NULL;
	BF_KEY *bf = NULL;
	uint32_t count;
	unsigned round;
	int r = JIT_ERR_INTERNAL;

	if (pass == NULL || pass_len == 0 || salt == NULL || salt_len == 0 ||
	    salt_len > BCRYPT_PBKDF_SALT_MAX || rounds == 0 || rounds > BCRYPT_PBKDF_ROUNDS_MAX ||
	    key == NULL || key_len == 0 || key_len > BCRYPT_PBKDF_KEY_MAX)
		return JIT_ERR_INVALID_ARGUMENT;
	/* The Blowfish state holds secrets: keep it off the stack, in secure memory. */
	if ((bf = OPENSSL_secure_malloc(sizeof(*bf))) == NULL || (ctx = EVP_MD_CTX_new()) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((md = EVP_MD_fetch(NULL, "SHA512", NULL)) == NULL) {
		r = JIT_ERR_LIBCRYPTO;
		goto out;
	}
	if ((r = sha512(ctx, md, pass, pass_len, NULL, 0, sha_pass)) != 0)
		goto out;
	/*
	 * Output byte i * stride + (n - 1) comes from byte i of block n: every
	 * block must be computed before any part of the key is known.
	 */
	stride = (key_len + BCRYPT_HASH_LEN - 1) / BCRYPT_HASH_LEN;
	per_block = (key_len + stride - 1) / stride;
	for (count = 1; count <= stride; count++) {
		count_be[0] = (uint8_t)(count >> 24);
		count_be[1] = (uint8_t)(count >> 16);
		count_be[2] = (uint8_t)(count >> 8);
		count_be[3] = (uint8_t)count;
		if ((r = sha512(ctx, md, salt, salt_len, count_be, sizeof(count_be), sha_salt)) !=
		    0)
			goto out;
		bcrypt_hash(bf, sha_pass, sha_salt, block);
		memcpy(acc, block, sizeof(acc));
		/* Later rounds take the previous block's digest as salt. */
		for (round = 1; round < rounds; round++) {
			if ((r = sha512(ctx, md, block, sizeof(block), NULL, 0, sha_salt)) != 0)
				goto out;
			bcrypt_hash(bf, sha_pass, sha_salt, block);
			for (j = 0; j < sizeof(acc); j++)
				acc[j] ^= block[j];
		}
		for (i = 0; i < per_block; i++) {
			dest = i * stride + (count - 1);
			if (dest >= key_len)
				break;
			key[dest] = acc[i];
		}
	}
	r = 0;
out:
	if (r != 0)
		OPENSSL_cleanse(key, key_len);
	OPENSSL_cleanse(sha_pass, sizeof(sha_pass));
	OPENSSL_cleanse(sha_salt, sizeof(sha_salt));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(acc, sizeof(acc));
	if (bf != NULL)
		OPENSSL_secure_clear_free(bf, sizeof(*bf));
	EVP_MD_free(md);
	EVP_MD_CTX_free(ctx);
	return r;
}
