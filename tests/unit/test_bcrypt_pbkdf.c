/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bcrypt_pbkdf: the Blowfish table against OpenSSL's own key schedule, the
 * KDF against OpenBSD's published vectors, its output layout and bounds.
 * Keys that ssh-keygen encrypts are decrypted in test_key.
 */

/* BF_set_key, to check our table with; deprecated in OpenSSL 3 but exported. */
#define OPENSSL_API_COMPAT 0x10100000L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/blowfish.h>

#include "bcrypt_pbkdf.h"
#include "err.h"

/*
 * OpenSSL's BF_set_key starts from its own copy of pi's digits and folds
 * the key in exactly as our schedule does: any wrong word in our table
 * changes every word after the first encryption.
 */
static void test_table_matches_openssl(void **state)
{
	static const size_t lens[] = {1, 3, 4, 5, 16, 32, 56, 71, 72};
	uint32_t ours[BCRYPT_BLOWFISH_WORDS];
	uint8_t key[72];
	BF_KEY bf;
	size_t i, j, differ;

	(void)state;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x5a ^ (i * 37));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(ours, 0, sizeof(ours));
		assert_int_equal(bcrypt_blowfish_schedule(key, lens[i], ours), 0);
		BF_set_key(&bf, (int)lens[i], key);
		for (j = 0; j < 18; j++)
			assert_int_equal(ours[j], bf.P[j]);
		for (j = 0; j < 4 * 256; j++)
			assert_int_equal(ours[18 + j], bf.S[j]);
	}
	/* The comparison can fail: one key byte changes (nearly) every word. */
	assert_int_equal(bcrypt_blowfish_schedule(key, 16, ours), 0);
	key[15] ^= 1;
	BF_set_key(&bf, 16, key);
	for (differ = 0, j = 0; j < 18; j++)
		differ += ours[j] != bf.P[j];
	for (j = 0; j < 4 * 256; j++)
		differ += ours[18 + j] != bf.S[j];
	assert_true(differ > 1000);
	/* The empty key and one longer than P are not Blowfish keys. */
	assert_int_equal(bcrypt_blowfish_schedule(key, 0, ours), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_blowfish_schedule(key, 73, ours), JIT_ERR_INVALID_ARGUMENT);
}

struct vector {
	const char *pass;
	size_t pass_len;
	const char *salt;
	size_t salt_len;
	unsigned rounds;
	const char *hex; /* expected key, its length gives key_len */
};

/* OpenBSD's regress vectors for bcrypt_pbkdf (as other implementations also publish them). */
static const struct vector vectors[] = {
        {"password", 8, "salt", 4, 4,
         "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9"},
        {"password", 8, "\0", 1, 4, "c12b566235eee04c212598970a579a67"},
        {"\0", 1, "salt", 4, 4, "6051be18c2f4f82cbf0efee5471b4bb9"},
        {"password\0", 9, "salt\0", 5, 4,
         "7410e44cf4fa07bfaac8a928b1727fac001375e7bf7384370f48efd121743050"},
        {"pass\0wor", 8, "sa\0l", 4, 4, "c2bffd9db38f6569efef4372f4de83c0"},
        {"pass\0word", 9, "sa\0lt", 5, 4, "4ba4ac3925c0e8d7f0cdb6bb1684a56f"},
        {"password", 8, "salt", 4, 8,
         "e1367ec5151a33faac4cc1c144cd23fa15d5548493ecc99b9b5d9c0d3b27bec7"
         "6227ea66088b849b20ab7aa478010246e74bba51723fefa9f9474d6508845e8d"},
        {"password", 8, "salt", 4, 42, "833cf0dcf56db65608e8f0dc0ce882bd"},
};

static size_t unhex(const char *hex, uint8_t *out, size_t size)
{
	size_t n = strlen(hex) / 2, i;
	unsigned v;

	assert_true(n <= size);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_vectors(void **state)
{
	uint8_t want[64], got[64 + 1];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		n = unhex(vectors[i].hex, want, sizeof(want));
		memset(got, 0xee, sizeof(got));
		assert_int_equal(bcrypt_pbkdf((const uint8_t *)vectors[i].pass, vectors[i].pass_len,
		                              (const uint8_t *)vectors[i].salt, vectors[i].salt_len,
		                              vectors[i].rounds, got, n),
		                 0);
		assert_memory_equal(got, want, n);
		/* Nothing written past key_len. */
		assert_int_equal(got[n], 0xee);
	}
}

/*
 * Past 32 bytes the output is interleaved: byte i of block n lands at
 * i * stride + n - 1. A 32-byte key is block 1 whole, so it is every
 * stride-th byte of a longer key, from the start.
 */
static void test_output_layout(void **state)
{
	static const size_t lens[] = {33, 40, 44, 48, 64, 65, 100};
	static const uint8_t pass[] = "layout", salt[] = "0123456789abcdef";
	uint8_t first[32], got[100];
	size_t i, j, stride;

	(void)state;
	assert_int_equal(bcrypt_pbkdf(pass, sizeof(pass) - 1, salt, 16, 1, first, 32), 0);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		stride = (lens[i] + 31) / 32;
		assert_int_equal(bcrypt_pbkdf(pass, sizeof(pass) - 1, salt, 16, 1, got, lens[i]),
		                 0);
		for (j = 0; j * stride < lens[i]; j++)
			assert_int_equal(got[j * stride], first[j]);
		/* And the other blocks are not block 1 again. */
		assert_memory_not_equal(got, first, 32);
	}
	/* A key shorter than a block is a prefix of the 32-byte one. */
	assert_int_equal(bcrypt_pbkdf(pass, sizeof(pass) - 1, salt, 16, 1, got, 20), 0);
	assert_memory_equal(got, first, 20);
}

static void test_bounds(void **state)
{
	static const uint8_t pass[] = "p";
	uint8_t salt[BCRYPT_PBKDF_SALT_MAX + 1], key[BCRYPT_PBKDF_KEY_MAX + 1];
	uint8_t other[BCRYPT_PBKDF_KEY_MAX + 1];
	size_t i;

	(void)state;
	memset(salt, 's', sizeof(salt));
	memset(key, 0xaa, sizeof(key));
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 16, 0, key, 32), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 16, BCRYPT_PBKDF_ROUNDS_MAX + 1, key, 32),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(pass, 0, salt, 16, 1, key, 32), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(NULL, 1, salt, 16, 1, key, 32), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 0, 1, key, 32), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, BCRYPT_PBKDF_SALT_MAX + 1, 1, key, 32),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 16, 1, key, 0), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 16, 1, key, BCRYPT_PBKDF_KEY_MAX + 1),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 16, 1, NULL, 32), JIT_ERR_INVALID_ARGUMENT);
	/* Refused arguments leave the key as it was. */
	for (i = 0; i < sizeof(key); i++)
		assert_int_equal(key[i], 0xaa);
	/* The limits themselves are accepted. */
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, BCRYPT_PBKDF_SALT_MAX, 1, key, 16), 0);
	/* Every byte of the longest key is written, whatever was there before. */
	memset(other, 0x55, sizeof(other));
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 1, 1, key, BCRYPT_PBKDF_KEY_MAX), 0);
	assert_int_equal(bcrypt_pbkdf(pass, 1, salt, 1, 1, other, BCRYPT_PBKDF_KEY_MAX), 0);
	assert_memory_equal(key, other, BCRYPT_PBKDF_KEY_MAX);
	assert_int_equal(key[BCRYPT_PBKDF_KEY_MAX], 0xaa);
	assert_int_equal(other[BCRYPT_PBKDF_KEY_MAX], 0x55);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table_matches_openssl),
	        cmocka_unit_test(test_vectors),
	        cmocka_unit_test(test_output_layout),
	        cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests_name("bcrypt_pbkdf", tests, NULL, NULL);
}
