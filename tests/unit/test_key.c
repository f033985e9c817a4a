/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Key I/O against the real ssh-keygen: keys are generated at test time in a
 * temporary directory that the group teardown removes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "b64.h"
#include "bcrypt_pbkdf.h"
#include "buf.h"
#include "err.h"
#include "key.h"

static char tmpdir[] = "/tmp/jit-test-key.XXXXXX";
static int tmpdir_made;

struct tkey {
	const char *name;
	enum key_type type;
	unsigned bits;
	const char *sig_alg;
	size_t sig_len; /* exact signature blob length, 0 when it varies (ECDSA) */
};

static const struct tkey tkeys[] = {
        {"ed25519", KEY_ED25519, 256, "ssh-ed25519", 4 + 11 + 4 + 64},
        {"ecdsa256", KEY_ECDSA_P256, 256, "ecdsa-sha2-nistp256", 0},
        {"ecdsa384", KEY_ECDSA_P384, 384, "ecdsa-sha2-nistp384", 0},
        {"ecdsa521", KEY_ECDSA_P521, 521, "ecdsa-sha2-nistp521", 0},
        {"rsa2048", KEY_RSA, 2048, "rsa-sha2-512", 4 + 12 + 4 + 256},
        {"rsa3072", KEY_RSA, 3072, "rsa-sha2-512", 4 + 12 + 4 + 384},
};
#define NTKEYS (sizeof(tkeys) / sizeof(tkeys[0]))

#define PASS "secret-pass"

static const uint8_t msg[] = "certificate body to sign";

/* ---- helpers ---- */

static const char *tpath(const char *name, const char *suffix)
{
	static char p[4][PATH_MAX];
	static int n;
	char *s = p[n++ % 4];

	snprintf(s, PATH_MAX, "%s/%s%s", tmpdir, name, suffix == NULL ? "" : suffix);
	return s;
}

/* The same into a caller's buffer, for paths kept across other tpath() calls. */
static const char *tpath_to(char *out, const char *name, const char *suffix)
{
	snprintf(out, PATH_MAX, "%s/%s%s", tmpdir, name, suffix == NULL ? "" : suffix);
	return out;
}

/* Runs argv with stdin from in_path (or /dev/null); stdout into out. Exit status or -1. */
static int run(const char *const argv[], const char *in_path, char *out, size_t out_size)
{
	int pfd[2], status, fd;
	size_t len = 0;
	ssize_t n;
	char drain[256];
	pid_t pid;

	if (pipe(pfd) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		fd = open(in_path != NULL ? in_path : "/dev/null", O_RDONLY);
		if (fd == -1 || dup2(fd, 0) == -1 || dup2(pfd[1], 1) == -1)
			_exit(126);
		if ((fd = open("/dev/null", O_WRONLY)) == -1 || dup2(fd, 2) == -1)
			_exit(126);
		close(pfd[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		if (out != NULL && len + 1 < out_size)
			n = read(pfd[0], out + len, out_size - 1 - len);
		else
			n = read(pfd[0], drain, sizeof(drain));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && len + 1 < out_size)
			len += (size_t)n;
	}
	if (out != NULL)
		out[len] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static uint8_t *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d;
	size_t n;

	assert_non_null(f);
	d = malloc(KEY_FILE_MAX + 1);
	assert_non_null(d);
	n = fread(d, 1, KEY_FILE_MAX, f);
	fclose(f);
	d[n] = '\0';
	*ret_len = n;
	return d;
}

static void spit(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len;
	uint8_t *d = slurp(from, &len);

	spit(to, d, len, mode);
	free(d);
}

/* "SHA256:..." from ssh-keygen -lf. */
static void keygen_fingerprint(const char *path, char *fp, size_t fp_size)
{
	const char *argv[] = {"ssh-keygen", "-lf", path, NULL};
	char out[1024], *sp, *end;

	assert_int_equal(run(argv, NULL, out, sizeof(out)), 0);
	sp = strchr(out, ' ');
	assert_non_null(sp);
	end = strchr(sp + 1, ' ');
	assert_non_null(end);
	*end = '\0';
	snprintf(fp, fp_size, "%s", sp + 1);
}

static struct key *load_ok(const char *path, const char *pass)
{
	struct key *k = NULL;

	assert_int_equal(key_load_private(path, pass, &k), 0);
	assert_non_null(k);
	return k;
}

static struct key *pub_ok(const char *name)
{
	struct key *k = NULL;

	assert_int_equal(key_load_public(tpath(name, ".pub"), &k), 0);
	assert_non_null(k);
	return k;
}

static uint8_t *blob_from(struct buf *b, size_t *len)
{
	uint8_t *d = malloc(buf_len(b) + 1);

	assert_non_null(d);
	memcpy(d, buf_ptr(b), buf_len(b));
	*len = buf_len(b);
	return d;
}

/* The same private key: identical DER from OpenSSL. */
static void assert_same_private(const struct key *a, const struct key *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la, lb;

	la = i2d_PrivateKey(a->pkey, &da);
	lb = i2d_PrivateKey(b->pkey, &db);
	assert_true(la > 0);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, (size_t)la);
	OPENSSL_clear_free(da, (size_t)la);
	OPENSSL_clear_free(db, (size_t)lb);
}

/* The decoded body of an OPENSSH PRIVATE KEY file. */
static uint8_t *armor_decode(const char *path, size_t *ret_len)
{
	uint8_t *file, *raw = NULL;
	size_t file_len, n = 0, i;
	char *body, *p;

	file = slurp(path, &file_len);
	body = malloc(file_len + 1);
	assert_non_null(body);
	p = strchr((char *)file, '\n');
	assert_non_null(p);
	for (p++, i = 0; p[i] != '\0' && p[i] != '-'; i++) {
		if (p[i] != '\n')
			body[n++] = p[i];
	}
	assert_int_equal(b64_decode(body, n, KEY_FILE_MAX, &raw, ret_len), 0);
	free(body);
	free(file);
	return raw;
}

/* raw in OPENSSH PRIVATE KEY armor. */
static char *armor(const uint8_t *raw, size_t len)
{
	char *b64, *text;
	size_t n;

	assert_int_equal(b64_encode(raw, len, &b64), 0);
	n = strlen(b64) + 128;
	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n,
	         "-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----\n",
	         b64);
	free(b64);
	return text;
}

/* Where the private section's bytes are in a container (after its length). */
static void section_find(const uint8_t *raw, size_t raw_len, size_t *ret_off, size_t *ret_len)
{
	struct buf *b = buf_from(raw, raw_len);
	const uint8_t *s;
	size_t i;

	assert_non_null(b);
	assert_int_equal(buf_consume(b, 15), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0);
	assert_int_equal(buf_consume(b, 4), 0);
	assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0);
	assert_int_equal(buf_get_string_direct(b, &s, ret_len), 0);
	*ret_off = raw_len - buf_len(b) - *ret_len;
	buf_free(b);
}

/* ---- group setup: keys from ssh-keygen ---- */

static int keygen(const char *name, const char *type, const char *bits)
{
	char comment[64];
	const char *argv[] = {"ssh-keygen", "-q", "-t",    type, "-b", bits, "-N",
	                      "",           "-C", comment, "-f", NULL, NULL};

	snprintf(comment, sizeof(comment), "test %s", name);
	argv[11] = tpath(name, NULL);
	return run(argv, NULL, NULL, 0);
}

/* A copy of name in another format or with a passphrase (ssh-keygen -p). */
static int convert(const char *name, const char *suffix, const char *format, const char *pass)
{
	const char *argv[] = {"ssh-keygen", "-q", "-p", "-P", "",   "-N",
	                      pass,         "-f", NULL, NULL, NULL, NULL};

	copy_file(tpath(name, NULL), tpath(name, suffix), 0600);
	argv[8] = tpath(name, suffix);
	if (format != NULL) {
		argv[9] = "-m";
		argv[10] = format;
	}
	return run(argv, NULL, NULL, 0);
}

static int group_setup(void **state)
{
	static const char *const types[NTKEYS][2] = {
	        {"ed25519", "256"}, {"ecdsa", "256"}, {"ecdsa", "384"},
	        {"ecdsa", "521"},   {"rsa", "2048"},  {"rsa", "3072"},
	};
	size_t i;

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	tmpdir_made = 1;
	for (i = 0; i < NTKEYS; i++) {
		if (keygen(tkeys[i].name, types[i][0], types[i][1]) != 0 ||
		    convert(tkeys[i].name, "_enc", NULL, PASS) != 0)
			return -1;
		/* ssh-keygen writes Ed25519 keys only in its own format. */
		if (tkeys[i].type == KEY_ED25519)
			continue;
		if (convert(tkeys[i].name, "_pem", "PEM", "") != 0 ||
		    convert(tkeys[i].name, "_pkcs8", "PKCS8", "") != 0 ||
		    convert(tkeys[i].name, "_pem_enc", "PEM", PASS) != 0 ||
		    convert(tkeys[i].name, "_pkcs8_enc", "PKCS8", PASS) != 0)
			return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	const char *argv[] = {"rm", "-rf", tmpdir, NULL};

	(void)state;
	if (tmpdir_made)
		return run(argv, NULL, NULL, 0) == 0 ? 0 : -1;
	return 0;
}

/* ---- base64 ---- */

static void test_b64(void **state)
{
	static const char *const vec[][2] = {
	        {"", ""},
	        {"f", "Zg=="},
	        {"fo", "Zm8="},
	        {"foo", "Zm9v"},
	        {"foob", "Zm9vYg=="},
	        {"fooba", "Zm9vYmE="},
	        {"foobar", "Zm9vYmFy"},
	};
	static const char *const bad[] = {
	        "Zg=",  "Zm9v\n", " Zm9", "Zm9v Zm9v", "Zg=a", "Z===", "====",
	        "Zh==", "Zm9=",   "Zm=v", "Zm9*",      "Zm9-", "Zm9_", "=Zm9",
	};
	uint8_t *d = NULL;
	char *s = NULL;
	size_t i, len = 1;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(b64_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), &s), 0);
		assert_string_equal(s, vec[i][1]);
		free(s);
		assert_int_equal(b64_decode(vec[i][1], strlen(vec[i][1]), 64, &d, &len), 0);
		assert_int_equal(len, strlen(vec[i][0]));
		assert_memory_equal(d, vec[i][0], len);
		free(d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = (uint8_t *)1;
		len = 1;
		assert_int_equal(b64_decode(bad[i], strlen(bad[i]), 64, &d, &len),
		                 JIT_ERR_INVALID_FORMAT);
		assert_null(d);
		assert_int_equal(len, 0);
	}
	/* Exactly len characters: the NUL terminator is not consulted. */
	assert_int_equal(b64_decode("Zm9vYmFyXX", 8, 64, &d, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(d, "foobar", 6);
	free(d);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, 5, &d, &len), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, 6, &d, &len), 0);
	free(d);
}

/* ---- names ---- */

static void test_type_names(void **state)
{
	static const struct {
		enum key_type t;
		const char *name, *cert, *can;
	} v[] = {
	        {KEY_ED25519, "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "y"},
	        {KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
	         "y"},
	        {KEY_ECDSA_P384, "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
	         "y"},
	        {KEY_ECDSA_P521, "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
	         "y"},
	        {KEY_RSA, "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "y"},
	        {KEY_SK_ED25519, "sk-ssh-ed25519@openssh.com",
	         "sk-ssh-ed25519-cert-v01@openssh.com", ""},
	        {KEY_SK_ECDSA_P256, "sk-ecdsa-sha2-nistp256@openssh.com",
	         "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_string_equal(key_type_name(v[i].t), v[i].name);
		assert_string_equal(key_cert_type_name(v[i].t), v[i].cert);
		assert_int_equal(key_type_from_name(v[i].name, strlen(v[i].name)), v[i].t);
		assert_int_equal(key_type_from_cert_name(v[i].cert, strlen(v[i].cert)), v[i].t);
		assert_int_equal(key_type_from_name(v[i].cert, strlen(v[i].cert)), KEY_UNSPEC);
		assert_int_equal(key_type_can_sign(v[i].t), v[i].can[0] == 'y');
	}
	assert_null(key_type_name(KEY_UNSPEC));
	assert_null(key_cert_type_name(KEY_UNSPEC));
	assert_int_equal(key_type_can_sign(KEY_UNSPEC), 0);
	/* Exact length: neither a prefix nor a longer name matches. */
	assert_int_equal(key_type_from_name("ssh-ed25519", 10), KEY_UNSPEC);
	assert_int_equal(key_type_from_name("ssh-ed25519x", 12), KEY_UNSPEC);
	assert_int_equal(key_type_from_name("ssh-dss", 7), KEY_UNSPEC);
	assert_int_equal(key_type_from_name("rsa-sha2-512", 12), KEY_UNSPEC);
}

/* ---- loading what ssh-keygen wrote ---- */

static void test_load_openssh(void **state)
{
	struct key *k, *pub;
	char fp_keygen[128], *fp = NULL, *line = NULL, comment[64];
	uint8_t *pubfile;
	size_t i, len;

	(void)state;
	for (i = 0; i < NTKEYS; i++) {
		k = load_ok(tpath(tkeys[i].name, NULL), NULL);
		pub = pub_ok(tkeys[i].name);
		snprintf(comment, sizeof(comment), "test %s", tkeys[i].name);
		assert_int_equal(k->type, tkeys[i].type);
		assert_int_equal(key_bits(k), tkeys[i].bits);
		assert_int_equal(key_bits(pub), tkeys[i].bits);
		assert_int_equal(k->has_private, 1);
		assert_int_equal(pub->has_private, 0);
		assert_int_equal(key_sig_max(pub), key_sig_max(k));
		assert_int_equal(key_sig_max(k), tkeys[i].type == KEY_ED25519 ? 64
		                                 : tkeys[i].type == KEY_RSA   ? tkeys[i].bits / 8
		                                 : tkeys[i].type == KEY_ECDSA_P256 ? 72
		                                 : tkeys[i].type == KEY_ECDSA_P384 ? 104
		                                                                   : 139);
		/* An Ed25519 public key gets its EVP_PKEY only to verify (key.h). */
		if (tkeys[i].type == KEY_ED25519)
			assert_null(pub->pkey);
		else
			assert_non_null(pub->pkey);
		assert_true(key_equal_public(k, pub));
		assert_string_equal(k->comment, comment);
		assert_string_equal(pub->comment, comment);
		/* The one-line form is byte for byte what ssh-keygen wrote. */
		assert_int_equal(key_to_line(pub, pub->comment, &line), 0);
		pubfile = slurp(tpath(tkeys[i].name, ".pub"), &len);
		assert_int_equal(strlen(line) + 1, len);
		assert_memory_equal(line, pubfile, len - 1);
		free(pubfile);
		free(line);
		keygen_fingerprint(tpath(tkeys[i].name, ".pub"), fp_keygen, sizeof(fp_keygen));
		assert_int_equal(key_fingerprint(k, &fp), 0);
		assert_string_equal(fp, fp_keygen);
		assert_int_equal(strlen(fp), 7 + 43);
		free(fp);
		key_free(k);
		key_free(pub);
	}
}

static void test_load_openssh_encrypted(void **state)
{
	struct key *k, *pub, *plain;
	size_t i;

	(void)state;
	for (i = 0; i < NTKEYS; i++) {
		char p[PATH_MAX];

		tpath_to(p, tkeys[i].name, "_enc");

		k = (struct key *)1;
		assert_int_equal(key_load_private(p, NULL, &k), JIT_ERR_KEY_ENCRYPTED);
		assert_null(k);
		assert_int_equal(key_load_private(p, "wrong", &k), JIT_ERR_KEY_WRONG_PASSPHRASE);
		assert_null(k);
		assert_int_equal(key_load_private(p, "", &k), JIT_ERR_KEY_WRONG_PASSPHRASE);
		assert_null(k);
		k = load_ok(p, PASS);
		pub = pub_ok(tkeys[i].name);
		plain = load_ok(tpath(tkeys[i].name, NULL), NULL);
		assert_int_equal(k->type, tkeys[i].type);
		assert_int_equal(k->has_private, 1);
		assert_true(key_equal_public(k, pub));
		assert_same_private(k, plain);
		key_free(plain);
		key_free(k);
		key_free(pub);
	}
}

/* Every cipher ssh-keygen encrypts key files with (ssh -Q cipher). */
static const char *const keygen_ciphers[] = {
        "3des-cbc",
        "aes128-cbc",
        "aes192-cbc",
        "aes256-cbc",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
};
#define NCIPHERS (sizeof(keygen_ciphers) / sizeof(keygen_ciphers[0]))

static int cipher_is_aead(const char *cipher)
{
	return strstr(cipher, "@openssh.com") != NULL;
}

/* If OpenSSH ever offers another cipher, this list (and key.c) must learn it. */
static void test_keygen_cipher_list(void **state)
{
	const char *argv[] = {"ssh", "-Q", "cipher", NULL};
	char out[4096], *line, *save = NULL;
	size_t i, n = 0;

	(void)state;
	assert_int_equal(run(argv, NULL, out, sizeof(out)), 0);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		for (i = 0; i < NCIPHERS; i++) {
			if (strcmp(line, keygen_ciphers[i]) == 0)
				break;
		}
		if (i == NCIPHERS)
			fail_msg("ssh -Q cipher offers %s, which the test does not know", line);
		n++;
	}
	assert_int_equal(n, NCIPHERS);
}

/*
 * Keys that ssh-keygen encrypts with each cipher, of each type, load and
 * are exactly the key ssh-keygen itself decrypts (-p -N '' on a copy).
 */
static void test_load_openssh_ciphers(void **state)
{
	static const char *const types[][3] = {
	        {"ed25519", "256", "ed25519"}, {"ecdsa", "384", "ecdsa"}, {"rsa", "2048", "rsa"}};
	const char *gen[] = {"ssh-keygen", "-q", "-t", NULL, "-b", NULL, "-N", PASS, "-Z",
	                     NULL,         "-a", NULL, "-C", NULL, "-f", NULL, NULL};
	const char *decrypt[] = {"ssh-keygen", "-q", "-p", "-P", PASS, "-N", "", "-f", NULL, NULL};
	char p[PATH_MAX], p_plain[PATH_MAX], name[64], comment[96], rounds[16];
	struct key *k, *plain;
	uint8_t *raw;
	size_t i, j, raw_len, clen;

	(void)state;
	for (i = 0; i < NCIPHERS; i++) {
		for (j = 0; j < sizeof(types) / sizeof(types[0]); j++) {
			snprintf(name, sizeof(name), "cipher%zu_%s", i, types[j][2]);
			snprintf(comment, sizeof(comment), "%s %s", keygen_ciphers[i], types[j][0]);
			/* Rounds 1 to 3: the KDF's cost is not what is tested here. */
			snprintf(rounds, sizeof(rounds), "%zu", 1 + (i + j) % 3);
			tpath_to(p, name, NULL);
			tpath_to(p_plain, name, "_plain");
			gen[3] = types[j][0];
			gen[5] = types[j][1];
			gen[9] = keygen_ciphers[i];
			gen[11] = rounds;
			gen[13] = comment;
			gen[15] = p;
			assert_int_equal(run(gen, NULL, NULL, 0), 0);
			/* ssh-keygen wrote the cipher we asked for. */
			raw = armor_decode(p, &raw_len);
			clen = strlen(keygen_ciphers[i]);
			assert_true(raw_len > 15 + 4 + clen);
			assert_int_equal(raw[15 + 3], clen);
			assert_memory_equal(raw + 15 + 4, keygen_ciphers[i], clen);
			free(raw);

			copy_file(p, p_plain, 0600);
			decrypt[8] = p_plain;
			assert_int_equal(run(decrypt, NULL, NULL, 0), 0);

			k = (struct key *)1;
			assert_int_equal(key_load_private(p, NULL, &k), JIT_ERR_KEY_ENCRYPTED);
			assert_null(k);
			assert_int_equal(key_load_private(p, "wrong", &k),
			                 JIT_ERR_KEY_WRONG_PASSPHRASE);
			assert_null(k);
			assert_int_equal(key_load_private(p, "", &k), JIT_ERR_KEY_WRONG_PASSPHRASE);
			assert_null(k);

			k = load_ok(p, PASS);
			plain = load_ok(p_plain, NULL);
			assert_int_equal(k->type, plain->type);
			assert_true(key_equal_public(k, plain));
			assert_same_private(k, plain);
			assert_string_equal(k->comment, comment);
			assert_string_equal(plain->comment, comment);
			key_free(k);
			key_free(plain);
		}
	}
}

/* Loads raw (re-armored) with PASS and expects code. */
static void expect_raw(const uint8_t *raw, size_t len, int code)
{
	char *text = armor(raw, len);
	struct key *k = (struct key *)1;

	assert_int_equal(key_parse_private((const uint8_t *)text, strlen(text), PASS, &k), code);
	if (code == 0)
		key_free(k);
	else
		assert_null(k);
	free(text);
}

/*
 * ssh-keygen's encrypted Ed25519 keys, altered: the AEAD ciphers refuse any
 * change to ciphertext or tag; the others notice a changed first block by
 * its check ints.
 */
static void test_encrypted_tampered(void **state)
{
	const char *gen[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", PASS, "-Z",
	                     NULL,         "-a", "1",  "-f",      NULL, NULL};
	uint8_t *raw, *t;
	size_t i, raw_len, sec_off, sec_len, tag_len;
	char p[PATH_MAX], name[32];

	(void)state;
	for (i = 0; i < NCIPHERS; i++) {
		snprintf(name, sizeof(name), "tamper%zu", i);
		gen[7] = keygen_ciphers[i];
		gen[11] = tpath_to(p, name, NULL);
		assert_int_equal(run(gen, NULL, NULL, 0), 0);
		raw = armor_decode(p, &raw_len);
		section_find(raw, raw_len, &sec_off, &sec_len);
		tag_len = cipher_is_aead(keygen_ciphers[i]) ? 16 : 0;
		assert_int_equal(sec_off + sec_len + tag_len, raw_len);
		expect_raw(raw, raw_len, 0);

		t = malloc(raw_len + 1);
		assert_non_null(t);
		/* First byte of the ciphertext. */
		memcpy(t, raw, raw_len);
		t[sec_off] ^= 0x01;
		expect_raw(t, raw_len, JIT_ERR_KEY_WRONG_PASSPHRASE);
		/* Last byte of the ciphertext: the padding (CTR shows it as it is). */
		memcpy(t, raw, raw_len);
		t[sec_off + sec_len - 1] ^= 0x80;
		if (tag_len > 0)
			expect_raw(t, raw_len, JIT_ERR_KEY_WRONG_PASSPHRASE);
		else if (strstr(keygen_ciphers[i], "-ctr") != NULL)
			expect_raw(t, raw_len, JIT_ERR_INVALID_FORMAT);
		if (tag_len > 0) {
			/* First and last byte of the tag. */
			memcpy(t, raw, raw_len);
			t[raw_len - tag_len] ^= 0x01;
			expect_raw(t, raw_len, JIT_ERR_KEY_WRONG_PASSPHRASE);
			memcpy(t, raw, raw_len);
			t[raw_len - 1] ^= 0x80;
			expect_raw(t, raw_len, JIT_ERR_KEY_WRONG_PASSPHRASE);
		}
		/* A byte short (of the tag, or of the section), a byte more. */
		expect_raw(raw, raw_len - 1, JIT_ERR_MESSAGE_INCOMPLETE);
		memcpy(t, raw, raw_len);
		t[raw_len] = 0;
		expect_raw(t, raw_len + 1, JIT_ERR_TRAILING_DATA);
		free(t);
		free(raw);
	}
}

static void test_load_pem(void **state)
{
	static const char *const plain[] = {"_pem", "_pkcs8"};
	static const char *const enc[] = {"_pem_enc", "_pkcs8_enc"};
	struct key *k, *pub;
	size_t i, j;

	(void)state;
	for (i = 0; i < NTKEYS; i++) {
		if (tkeys[i].type == KEY_ED25519)
			continue;
		pub = pub_ok(tkeys[i].name);
		for (j = 0; j < 2; j++) {
			k = load_ok(tpath(tkeys[i].name, plain[j]), NULL);
			assert_int_equal(k->type, tkeys[i].type);
			assert_true(key_equal_public(k, pub));
			assert_null(k->comment);
			key_free(k);

			k = (struct key *)1;
			assert_int_equal(key_load_private(tpath(tkeys[i].name, enc[j]), NULL, &k),
			                 JIT_ERR_KEY_ENCRYPTED);
			assert_null(k);
			assert_int_equal(
			        key_load_private(tpath(tkeys[i].name, enc[j]), "wrong", &k),
			        JIT_ERR_KEY_WRONG_PASSPHRASE);
			assert_null(k);
			k = load_ok(tpath(tkeys[i].name, enc[j]), PASS);
			assert_true(key_equal_public(k, pub));
			key_free(k);
		}
		key_free(pub);
	}
}

/* ssh-keygen does not write Ed25519 as PKCS#8; OpenSSL does. */
static void test_load_ed25519_pkcs8(void **state)
{
	struct key *k, *pem = NULL;
	BIO *bio;
	char *data;
	long len;

	(void)state;
	k = load_ok(tpath("ed25519", NULL), NULL);

	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(bio, &data);
	assert_int_equal(key_parse_private((uint8_t *)data, (size_t)len, NULL, &pem), 0);
	assert_int_equal(pem->type, KEY_ED25519);
	assert_true(key_equal_public(k, pem));
	key_free(pem);
	BIO_free(bio);

	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, k->pkey, EVP_aes_256_cbc(), NULL, 0, NULL,
	                                          (void *)PASS),
	                 1);
	len = BIO_get_mem_data(bio, &data);
	assert_int_equal(key_parse_private((uint8_t *)data, (size_t)len, NULL, &pem),
	                 JIT_ERR_KEY_ENCRYPTED);
	assert_int_equal(key_parse_private((uint8_t *)data, (size_t)len, "wrong", &pem),
	                 JIT_ERR_KEY_WRONG_PASSPHRASE);
	assert_null(pem);
	assert_int_equal(key_parse_private((uint8_t *)data, (size_t)len, PASS, &pem), 0);
	assert_true(key_equal_public(k, pem));
	key_free(pem);
	BIO_free(bio);
	key_free(k);
}

static void test_load_file_checks(void **state)
{
	struct key *k = NULL;
	char p[PATH_MAX];

	(void)state;
	tpath_to(p, "perm", NULL);
	copy_file(tpath("ed25519", NULL), p, 0640);
	assert_int_equal(key_load_private(p, NULL, &k), JIT_ERR_FILE_PERMISSIONS);
	assert_null(k);
	assert_int_equal(chmod(p, 0604), 0);
	assert_int_equal(key_load_private(p, NULL, &k), JIT_ERR_FILE_PERMISSIONS);
	assert_int_equal(chmod(p, 0400), 0);
	k = load_ok(p, NULL);
	key_free(k);
	k = NULL;

	/* A symlink to a good key is refused. */
	assert_int_equal(symlink(tpath("ed25519", NULL), tpath("link", NULL)), 0);
	assert_int_equal(key_load_private(tpath("link", NULL), NULL, &k), JIT_ERR_FILE_TYPE);
	assert_null(k);
	/* Not a regular file. */
	assert_int_equal(mkdir(tpath("dir", NULL), 0700), 0);
	assert_int_equal(key_load_private(tpath("dir", NULL), NULL, &k), JIT_ERR_FILE_TYPE);
	assert_int_equal(mkfifo(tpath("fifo", NULL), 0600), 0);
	assert_int_equal(key_load_private(tpath("fifo", NULL), NULL, &k), JIT_ERR_FILE_TYPE);
	errno = 0;
	assert_int_equal(key_load_private(tpath("missing", NULL), NULL, &k), JIT_ERR_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_null(k);
}

/* ---- signatures ---- */

/* Flips one bit of byte i of a copy of sig and expects code. */
static void expect_tampered(const struct key *k, const uint8_t *sig, size_t len, size_t i, int code)
{
	uint8_t *t = malloc(len);

	assert_non_null(t);
	memcpy(t, sig, len);
	t[i] ^= 0x01;
	assert_int_equal(key_verify(k, t, len, msg, sizeof(msg), NULL), code);
	free(t);
}

static void test_sign_verify(void **state)
{
	struct key *k, *pub;
	uint8_t *sig = NULL, *longer;
	size_t i, sig_len = 0;
	char *alg = NULL;

	(void)state;
	for (i = 0; i < NTKEYS; i++) {
		k = load_ok(tpath(tkeys[i].name, NULL), NULL);
		pub = pub_ok(tkeys[i].name);
		assert_int_equal(key_sign(k, msg, sizeof(msg), &sig, &sig_len), 0);
		if (tkeys[i].sig_len != 0)
			assert_int_equal(sig_len, tkeys[i].sig_len);
		/* string alg first */
		assert_int_equal(sig[3], strlen(tkeys[i].sig_alg));
		assert_memory_equal(sig + 4, tkeys[i].sig_alg, strlen(tkeys[i].sig_alg));

		assert_int_equal(key_verify(pub, sig, sig_len, msg, sizeof(msg), &alg), 0);
		assert_string_equal(alg, tkeys[i].sig_alg);
		free(alg);
		assert_int_equal(key_verify(k, sig, sig_len, msg, sizeof(msg), NULL), 0);
		/* Other data, a flipped bit in the signature, trailing bytes. */
		alg = (char *)1;
		assert_int_equal(key_verify(pub, sig, sig_len, msg, sizeof(msg) - 1, &alg),
		                 JIT_ERR_SIG_INVALID);
		assert_null(alg);
		expect_tampered(pub, sig, sig_len, sig_len - 1, JIT_ERR_SIG_INVALID);
		expect_tampered(pub, sig, sig_len, sig_len - 20, JIT_ERR_SIG_INVALID);
		longer = malloc(sig_len + 1);
		memcpy(longer, sig, sig_len);
		longer[sig_len] = 0;
		assert_int_equal(key_verify(pub, longer, sig_len + 1, msg, sizeof(msg), NULL),
		                 JIT_ERR_TRAILING_DATA);
		assert_int_equal(key_verify(pub, sig, sig_len - 1, msg, sizeof(msg), NULL),
		                 JIT_ERR_MESSAGE_INCOMPLETE);
		free(longer);
		free(sig);
		sig = NULL;
		/* Public keys cannot sign. */
		assert_int_equal(key_sign(pub, msg, sizeof(msg), &sig, &sig_len),
		                 JIT_ERR_INVALID_ARGUMENT);
		assert_null(sig);
		assert_int_equal(sig_len, 0);
		key_free(k);
		key_free(pub);
	}
}

/*
 * key_verify_public checks with the public object made from the blob at
 * load, never the signing object: a key whose private object is another
 * key's verifies its own signatures with key_verify, not with this.
 */
static void test_verify_public(void **state)
{
	struct key *k, *other, *pub, mixed;
	uint8_t *sig = NULL;
	size_t i, sig_len = 0;

	(void)state;
	for (i = 0; i < NTKEYS; i++) {
		k = load_ok(tpath(tkeys[i].name, NULL), NULL);
		pub = pub_ok(tkeys[i].name);
		assert_int_equal(key_generate(tkeys[i].type, tkeys[i].bits, &other), 0);
		assert_non_null(k->verify_pkey);
		assert_null(pub->verify_pkey);
		assert_int_equal(key_sign(k, msg, sizeof(msg), &sig, &sig_len), 0);
		assert_int_equal(key_verify_public(k, sig, sig_len, msg, sizeof(msg)), 0);
		assert_int_equal(key_verify_public(pub, sig, sig_len, msg, sizeof(msg)), 0);
		assert_int_equal(key_verify_public(pub, sig, sig_len, msg, sizeof(msg) - 1),
		                 JIT_ERR_SIG_INVALID);
		free(sig);
		sig = NULL;
		mixed = *k;
		mixed.pkey = other->pkey;
		assert_int_equal(key_sign(&mixed, msg, sizeof(msg), &sig, &sig_len), 0);
		assert_int_equal(key_verify(&mixed, sig, sig_len, msg, sizeof(msg), NULL), 0);
		assert_int_equal(key_verify_public(&mixed, sig, sig_len, msg, sizeof(msg)),
		                 JIT_ERR_SIG_INVALID);
		free(sig);
		sig = NULL;
		key_free(other);
		key_free(pub);
		key_free(k);
	}
	assert_int_equal(key_verify_public(NULL, msg, 1, msg, 1), JIT_ERR_INVALID_ARGUMENT);
}

static uint8_t *sig_blob(const char *alg, const uint8_t *s, size_t slen, size_t *len)
{
	struct buf *b = buf_new(KEY_BLOB_MAX);
	uint8_t *d;

	assert_non_null(b);
	assert_int_equal(buf_put_cstring(b, alg), 0);
	assert_int_equal(buf_put_string(b, s, slen), 0);
	d = blob_from(b, len);
	buf_free(b);
	return d;
}

/* An RSA signature made with OpenSSL directly, with any digest. */
static uint8_t *rsa_raw_sign(const struct key *k, const EVP_MD *md, size_t *len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *s = malloc(1024);

	*len = 1024;
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, k->pkey), 1);
	assert_int_equal(EVP_DigestSign(ctx, s, len, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(ctx);
	return s;
}

static void test_sig_alg(void **state)
{
	struct key *ed, *p256, *p384, *rsa;
	uint8_t *sig, *raw, *blob;
	size_t sig_len, raw_len, blob_len, inner_len;
	char *alg = NULL;

	(void)state;
	ed = load_ok(tpath("ed25519", NULL), NULL);
	p256 = load_ok(tpath("ecdsa256", NULL), NULL);
	p384 = load_ok(tpath("ecdsa384", NULL), NULL);
	rsa = load_ok(tpath("rsa2048", NULL), NULL);

	/* An Ed25519 signature relabelled, checked by the wrong keys. */
	assert_int_equal(key_sign(ed, msg, sizeof(msg), &sig, &sig_len), 0);
	assert_int_equal(key_verify(p256, sig, sig_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_SIG_ALG_MISMATCH);
	assert_int_equal(key_verify(rsa, sig, sig_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_SIG_ALG_MISMATCH);
	blob = sig_blob("ssh-ed25519", sig + 19, 63, &blob_len);
	assert_int_equal(key_verify(ed, blob, blob_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_SIG_INVALID);
	free(blob);
	free(sig);

	/* A P-384 signature for a P-256 key, and the P-384 body under the P-256 name. */
	assert_int_equal(key_sign(p384, msg, sizeof(msg), &sig, &sig_len), 0);
	assert_int_equal(key_verify(p256, sig, sig_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_SIG_ALG_MISMATCH);
	inner_len = sig_len - (4 + 19 + 4);
	blob = sig_blob("ecdsa-sha2-nistp256", sig + 4 + 19 + 4, inner_len, &blob_len);
	assert_int_equal(key_verify(p256, blob, blob_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_BIGNUM_TOO_LARGE);
	free(blob);
	blob = sig_blob("ecdsa-sha2-nistp384", NULL, 0, &blob_len);
	assert_int_equal(key_verify(p384, blob, blob_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_MESSAGE_INCOMPLETE);
	free(blob);
	free(sig);

	/* RSA: SHA-1 "ssh-rsa" is refused even when the signature is good. */
	raw = rsa_raw_sign(rsa, EVP_sha1(), &raw_len);
	blob = sig_blob("ssh-rsa", raw, raw_len, &blob_len);
	assert_int_equal(key_verify(rsa, blob, blob_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_SIG_ALG_MISMATCH);
	free(blob);
	free(raw);
	raw = rsa_raw_sign(rsa, EVP_sha256(), &raw_len);
	blob = sig_blob("rsa-sha2-256", raw, raw_len, &blob_len);
	assert_int_equal(key_verify(rsa, blob, blob_len, msg, sizeof(msg), &alg), 0);
	assert_string_equal(alg, "rsa-sha2-256");
	free(alg);
	free(blob);
	/* The same SHA-256 signature labelled SHA-512. */
	blob = sig_blob("rsa-sha2-512", raw, raw_len, &blob_len);
	assert_int_equal(key_verify(rsa, blob, blob_len, msg, sizeof(msg), NULL),
	                 JIT_ERR_SIG_INVALID);
	free(blob);
	free(raw);
	/* An sk- key verifies nothing here. */
	{
		struct key *sk = NULL;
		static const char line[] = "sk-ssh-ed25519@openssh.com "
		                           "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAAB"
		                           "AgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAABHNzaDo=";

		assert_int_equal(key_from_line(line, strlen(line), &sk), 0);
		assert_int_equal(key_sign(ed, msg, sizeof(msg), &sig, &sig_len), 0);
		assert_int_equal(key_verify(sk, sig, sig_len, msg, sizeof(msg), NULL),
		                 JIT_ERR_KEY_TYPE_UNKNOWN);
		free(sig);
		key_free(sk);
	}
	key_free(ed);
	key_free(p256);
	key_free(p384);
	key_free(rsa);
}

/*
 * OpenSSH as the independent judge: our signature wrapped as an SSHSIG
 * must pass `ssh-keygen -Y check-novalidate`, and what `ssh-keygen -Y sign`
 * makes must pass key_verify.
 */
static void sshsig_signed_data(const char *ns, const uint8_t *m, size_t mlen, uint8_t **ret,
                               size_t *ret_len)
{
	unsigned char h[64];
	unsigned int hlen = 0;
	struct buf *b = buf_new(4096);

	assert_int_equal(EVP_Digest(m, mlen, h, &hlen, EVP_sha512(), NULL), 1);
	assert_int_equal(buf_put(b, "SSHSIG", 6), 0);
	assert_int_equal(buf_put_cstring(b, ns), 0);
	assert_int_equal(buf_put_cstring(b, ""), 0);
	assert_int_equal(buf_put_cstring(b, "sha512"), 0);
	assert_int_equal(buf_put_string(b, h, hlen), 0);
	*ret = blob_from(b, ret_len);
	buf_free(b);
}

static void test_sshsig_interop(void **state)
{
	static const uint8_t m[] = "message for ssh-keygen -Y\n";
	char msgpath[PATH_MAX], sigpath[PATH_MAX];
	const char *check[] = {"ssh-keygen", "-Y", "check-novalidate", "-n", "jit-test", "-s",
	                       sigpath,      NULL};
	const char *sign[] = {"ssh-keygen", "-q", "-Y", "sign",  "-n",
	                      "jit-test",   "-f", NULL, msgpath, NULL};
	struct key *k, *pub;
	struct buf *b;
	uint8_t *sig, *data, *file, *raw;
	const uint8_t *s, *pk;
	size_t i, sig_len, data_len, file_len, raw_len, s_len, pk_len, n, j;
	char *b64, *text, *body;
	uint32_t version;

	(void)state;
	tpath_to(msgpath, "sshsig_msg", NULL);
	tpath_to(sigpath, "sshsig_msg", ".sig");
	spit(msgpath, m, sizeof(m) - 1, 0644);
	for (i = 0; i < NTKEYS; i++) {
		k = load_ok(tpath(tkeys[i].name, NULL), NULL);
		pub = pub_ok(tkeys[i].name);

		/* Ours, checked by ssh-keygen. */
		sshsig_signed_data("jit-test", m, sizeof(m) - 1, &data, &data_len);
		assert_int_equal(key_sign(k, data, data_len, &sig, &sig_len), 0);
		b = buf_new(16384);
		assert_int_equal(buf_put(b, "SSHSIG", 6), 0);
		assert_int_equal(buf_put_u32(b, 1), 0);
		assert_int_equal(buf_put_string(b, k->blob, k->blob_len), 0);
		assert_int_equal(buf_put_cstring(b, "jit-test"), 0);
		assert_int_equal(buf_put_cstring(b, ""), 0);
		assert_int_equal(buf_put_cstring(b, "sha512"), 0);
		assert_int_equal(buf_put_string(b, sig, sig_len), 0);
		assert_int_equal(b64_encode(buf_ptr(b), buf_len(b), &b64), 0);
		n = strlen(b64) + 128;
		text = malloc(n);
		snprintf(text, n,
		         "-----BEGIN SSH SIGNATURE-----\n%s\n-----END SSH SIGNATURE-----\n", b64);
		unlink(sigpath);
		spit(sigpath, text, strlen(text), 0644);
		assert_int_equal(run(check, msgpath, NULL, 0), 0);
		/* And ssh-keygen refuses it over other data. */
		assert_int_equal(run(check, tpath(tkeys[i].name, ".pub"), NULL, 0), 255);
		free(text);
		free(b64);
		buf_free(b);
		free(sig);

		/* ssh-keygen's, checked by us. */
		unlink(sigpath);
		sign[7] = tpath(tkeys[i].name, NULL);
		assert_int_equal(run(sign, NULL, NULL, 0), 0);
		file = slurp(sigpath, &file_len);
		body = malloc(file_len + 1);
		n = 0;
		text = strchr((char *)file, '\n') + 1;
		for (j = 0; text[j] != '\0' && text[j] != '-'; j++) {
			if (text[j] != '\n')
				body[n++] = text[j];
		}
		assert_int_equal(b64_decode(body, n, 16384, &raw, &raw_len), 0);
		b = buf_from(raw, raw_len);
		assert_memory_equal(buf_ptr(b), "SSHSIG", 6);
		assert_int_equal(buf_consume(b, 6), 0);
		assert_int_equal(buf_get_u32(b, &version), 0);
		assert_int_equal(version, 1);
		assert_int_equal(buf_get_string_direct(b, &pk, &pk_len), 0);
		assert_int_equal(pk_len, pub->blob_len);
		assert_memory_equal(pk, pub->blob, pk_len);
		assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0); /* namespace */
		assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0); /* reserved */
		assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0); /* hash */
		assert_int_equal(buf_get_string_direct(b, &s, &s_len), 0);
		assert_int_equal(buf_len(b), 0);
		assert_int_equal(key_verify(pub, s, s_len, data, data_len, NULL), 0);
		assert_int_equal(key_verify(pub, s, s_len, data, data_len - 1, NULL),
		                 JIT_ERR_SIG_INVALID);
		buf_free(b);
		free(raw);
		free(body);
		free(file);
		free(data);
		key_free(k);
		key_free(pub);
	}
}

/* ---- public key blobs ---- */

static uint8_t *ec_blob(const char *name, const char *curve, const uint8_t *q, size_t qlen,
                        size_t *len)
{
	struct buf *b = buf_new(KEY_BLOB_MAX);
	uint8_t *d;

	assert_int_equal(buf_put_cstring(b, name), 0);
	assert_int_equal(buf_put_cstring(b, curve), 0);
	assert_int_equal(buf_put_string(b, q, qlen), 0);
	d = blob_from(b, len);
	buf_free(b);
	return d;
}

static uint8_t *rsa_blob(const uint8_t *e, size_t elen, const uint8_t *n, size_t nlen, size_t *len)
{
	struct buf *b = buf_new(KEY_BLOB_MAX);
	uint8_t *d;

	assert_int_equal(buf_put_cstring(b, "ssh-rsa"), 0);
	assert_int_equal(buf_put_bignum2_bytes(b, e, elen), 0);
	assert_int_equal(buf_put_bignum2_bytes(b, n, nlen), 0);
	d = blob_from(b, len);
	buf_free(b);
	return d;
}

static void expect_blob(const uint8_t *blob, size_t len, int code)
{
	struct key *k = (struct key *)1;

	assert_int_equal(key_from_blob(blob, len, &k), code);
	if (code != 0)
		assert_null(k);
	key_free(code == 0 ? k : NULL);
}

static void test_blob_errors(void **state)
{
	static const uint8_t e65537[] = {0x01, 0x00, 0x01}, e_even[] = {0x01, 0x00, 0x00},
	                     e_one[] = {0x01};
	struct key *ed, *p256, *rsa, *k;
	uint8_t *blob, *longer, q[65], n[2050];
	const uint8_t *f;
	size_t i, len, flen;
	struct buf *b;

	(void)state;
	ed = pub_ok("ed25519");
	p256 = pub_ok("ecdsa256");
	rsa = pub_ok("rsa2048");

	/* Every public blob round-trips and every proper prefix is truncated. */
	for (i = 0; i <= ed->blob_len; i++)
		expect_blob(ed->blob, i, i == ed->blob_len ? 0 : JIT_ERR_MESSAGE_INCOMPLETE);
	for (i = 0; i <= p256->blob_len; i++)
		expect_blob(p256->blob, i, i == p256->blob_len ? 0 : JIT_ERR_MESSAGE_INCOMPLETE);
	for (i = 0; i <= rsa->blob_len; i += 7)
		expect_blob(rsa->blob, i, JIT_ERR_MESSAGE_INCOMPLETE);
	expect_blob(rsa->blob, rsa->blob_len, 0);

	/* Trailing bytes. */
	longer = malloc(ed->blob_len + 1);
	memcpy(longer, ed->blob, ed->blob_len);
	longer[ed->blob_len] = 0;
	expect_blob(longer, ed->blob_len + 1, JIT_ERR_TRAILING_DATA);
	free(longer);

	/* ECDSA: the curve must match the type; the point must be on it. */
	f = key_fields(p256, &flen);
	assert_int_equal(flen, 4 + 8 + 4 + 65);
	assert_memory_equal(f + 4, "nistp256", 8);
	memcpy(q, f + 4 + 8 + 4, 65);
	blob = ec_blob("ecdsa-sha2-nistp256", "nistp384", q, 65, &len);
	expect_blob(blob, len, JIT_ERR_EC_CURVE_INVALID);
	free(blob);
	blob = ec_blob("ecdsa-sha2-nistp384", "nistp256", q, 65, &len);
	expect_blob(blob, len, JIT_ERR_EC_CURVE_INVALID);
	free(blob);
	blob = ec_blob("ecdsa-sha2-nistp256", "nistp256", q, 65, &len);
	expect_blob(blob, len, 0);
	free(blob);
	q[64] ^= 0x01;
	blob = ec_blob("ecdsa-sha2-nistp256", "nistp256", q, 65, &len);
	expect_blob(blob, len, JIT_ERR_EC_POINT_INVALID);
	free(blob);
	q[64] ^= 0x01;
	q[0] = 0x02; /* a compressed point is refused */
	blob = ec_blob("ecdsa-sha2-nistp256", "nistp256", q, 33, &len);
	expect_blob(blob, len, JIT_ERR_EC_POINT_INVALID);
	free(blob);
	memset(q, 0, sizeof(q));
	q[0] = 0x04;
	blob = ec_blob("ecdsa-sha2-nistp256", "nistp256", q, 65, &len);
	expect_blob(blob, len, JIT_ERR_EC_POINT_INVALID);
	free(blob);
	blob = ec_blob("ecdsa-sha2-nistp256", "nistp256", q, 1, &len);
	expect_blob(blob, len, JIT_ERR_EC_POINT_INVALID);
	free(blob);

	/* RSA sizes and exponents. */
	memset(n, 0xc5, sizeof(n));
	blob = rsa_blob(e65537, 3, n, 128, &len); /* 1024 bits */
	expect_blob(blob, len, JIT_ERR_RSA_TOO_SMALL);
	free(blob);
	n[0] = 0x45;
	blob = rsa_blob(e65537, 3, n, 256, &len); /* 2047 bits */
	expect_blob(blob, len, JIT_ERR_RSA_TOO_SMALL);
	free(blob);
	n[0] = 0xc5;
	blob = rsa_blob(e65537, 3, n, 256, &len); /* 2048 bits */
	assert_int_equal(key_from_blob(blob, len, &k), 0);
	assert_int_equal(key_bits(k), 2048);
	key_free(k);
	free(blob);
	blob = rsa_blob(e65537, 3, n, 2048, &len); /* 16384 bits */
	expect_blob(blob, len, 0);
	free(blob);
	blob = rsa_blob(e65537, 3, n, 2049, &len); /* 16392 bits */
	expect_blob(blob, len, JIT_ERR_KEY_LENGTH);
	free(blob);
	blob = rsa_blob(e_even, 3, n, 256, &len);
	expect_blob(blob, len, JIT_ERR_KEY_INVALID);
	free(blob);
	blob = rsa_blob(e_one, 1, n, 256, &len);
	expect_blob(blob, len, JIT_ERR_KEY_INVALID);
	free(blob);
	n[255] = 0xc4; /* even modulus */
	blob = rsa_blob(e65537, 3, n, 256, &len);
	expect_blob(blob, len, JIT_ERR_KEY_INVALID);
	free(blob);
	/* A negative mpint. */
	b = buf_new(KEY_BLOB_MAX);
	assert_int_equal(buf_put_cstring(b, "ssh-rsa"), 0);
	assert_int_equal(buf_put_string(b, "\x81\x01", 2), 0);
	assert_int_equal(buf_put_bignum2_bytes(b, n, 256), 0);
	blob = blob_from(b, &len);
	expect_blob(blob, len, JIT_ERR_BIGNUM_INVALID);
	free(blob);
	buf_free(b);

	/* Unknown types, certificate types, wrong Ed25519 length. */
	b = buf_new(KEY_BLOB_MAX);
	assert_int_equal(buf_put_cstring(b, "ssh-dss"), 0);
	assert_int_equal(buf_put_string(b, n, 64), 0);
	blob = blob_from(b, &len);
	expect_blob(blob, len, JIT_ERR_KEY_TYPE_UNKNOWN);
	free(blob);
	buf_reset(b);
	assert_int_equal(buf_put_cstring(b, "ssh-ed25519-cert-v01@openssh.com"), 0);
	assert_int_equal(buf_put_string(b, n, 32), 0);
	blob = blob_from(b, &len);
	expect_blob(blob, len, JIT_ERR_KEY_TYPE_UNKNOWN);
	free(blob);
	buf_reset(b);
	assert_int_equal(buf_put_cstring(b, "ssh-ed25519"), 0);
	assert_int_equal(buf_put_string(b, n, 31), 0);
	blob = blob_from(b, &len);
	expect_blob(blob, len, JIT_ERR_KEY_LENGTH);
	free(blob);
	buf_free(b);
	blob = malloc(KEY_BLOB_MAX + 1);
	memset(blob, 0, KEY_BLOB_MAX + 1);
	expect_blob(blob, KEY_BLOB_MAX + 1, JIT_ERR_NO_BUFFER_SPACE);
	free(blob);

	key_free(ed);
	key_free(p256);
	key_free(rsa);
}

static void test_from_fields(void **state)
{
	struct key *ed, *k = NULL;
	const uint8_t *f;
	size_t flen;
	struct buf *b;

	(void)state;
	ed = pub_ok("ed25519");
	f = key_fields(ed, &flen);
	assert_int_equal(flen, 4 + 32);
	assert_ptr_equal(f, ed->blob + 4 + 11);

	/* Exactly the fields are consumed; what follows stays. */
	b = buf_new(256);
	assert_int_equal(buf_put(b, f, flen), 0);
	assert_int_equal(buf_put_u64(b, 42), 0);
	assert_int_equal(key_from_fields(b, KEY_ED25519, &k), 0);
	assert_true(key_equal_public(k, ed));
	assert_int_equal(buf_len(b), 8);
	key_free(k);
	k = NULL;

	/* On failure the buffer is untouched. */
	assert_int_equal(key_from_fields(b, KEY_ED25519, &k), JIT_ERR_KEY_LENGTH);
	assert_null(k);
	assert_int_equal(buf_len(b), 8);
	buf_reset(b);
	assert_int_equal(buf_put(b, f, flen), 0);
	assert_int_equal(key_from_fields(b, KEY_ECDSA_P256, &k), JIT_ERR_EC_CURVE_INVALID);
	assert_int_equal(buf_len(b), flen);
	assert_int_equal(key_from_fields(b, KEY_UNSPEC, &k), JIT_ERR_KEY_TYPE_UNKNOWN);
	assert_int_equal(buf_len(b), flen);
	buf_free(b);
	key_free(ed);
}

/* ---- one-line form ---- */

static char *b64_of(const uint8_t *d, size_t len)
{
	char *s = NULL;

	assert_int_equal(b64_encode(d, len, &s), 0);
	return s;
}

static void expect_line(const char *line, int code)
{
	struct key *k = (struct key *)1;

	assert_int_equal(key_from_line(line, strlen(line), &k), code);
	if (code != 0)
		assert_null(k);
	key_free(code == 0 ? k : NULL);
}

static void test_lines(void **state)
{
	static const char sk_fp[] = "SHA256:/p0CbeE3dk2SyW1OXXsThGc12ezDVD8eGw2/vtztDfk";
	struct key *ed, *p256, *k = NULL;
	struct buf *b;
	uint8_t pk[32], *blob;
	const uint8_t *f;
	size_t i, len, flen;
	char line[2048], *b64, *fp, fp_keygen[128], *out;

	(void)state;
	/* sk-ssh-ed25519 by hand; the fingerprint as ssh-keygen printed it. */
	for (i = 0; i < 32; i++)
		pk[i] = (uint8_t)i;
	b = buf_new(KEY_BLOB_MAX);
	assert_int_equal(buf_put_cstring(b, "sk-ssh-ed25519@openssh.com"), 0);
	assert_int_equal(buf_put_string(b, pk, 32), 0);
	assert_int_equal(buf_put_cstring(b, "ssh:"), 0);
	blob = blob_from(b, &len);
	b64 = b64_of(blob, len);
	snprintf(line, sizeof(line), "sk-ssh-ed25519@openssh.com %s security key\n", b64);
	assert_int_equal(key_from_line(line, strlen(line), &k), 0);
	assert_int_equal(k->type, KEY_SK_ED25519);
	assert_null(k->pkey);
	assert_string_equal(k->comment, "security key");
	assert_int_equal(k->blob_len, len);
	assert_memory_equal(k->blob, blob, len);
	assert_int_equal(key_bits(k), 256);
	assert_int_equal(key_fingerprint(k, &fp), 0);
	assert_string_equal(fp, sk_fp);
	spit(tpath("sk_ed", ".pub"), line, strlen(line), 0644);
	keygen_fingerprint(tpath("sk_ed", ".pub"), fp_keygen, sizeof(fp_keygen));
	assert_string_equal(fp, fp_keygen);
	free(fp);
	key_free(k);
	free(b64);
	free(blob);

	/* sk-ecdsa with a real P-256 point. */
	p256 = pub_ok("ecdsa256");
	f = key_fields(p256, &flen);
	buf_reset(b);
	assert_int_equal(buf_put_cstring(b, "sk-ecdsa-sha2-nistp256@openssh.com"), 0);
	assert_int_equal(buf_put(b, f, flen), 0);
	assert_int_equal(buf_put_cstring(b, "ssh:"), 0);
	blob = blob_from(b, &len);
	b64 = b64_of(blob, len);
	snprintf(line, sizeof(line), "sk-ecdsa-sha2-nistp256@openssh.com %s", b64);
	assert_int_equal(key_from_line(line, strlen(line), &k), 0);
	assert_int_equal(k->type, KEY_SK_ECDSA_P256);
	assert_null(k->pkey);
	assert_null(k->comment);
	assert_int_equal(key_to_line(k, NULL, &out), 0);
	assert_string_equal(out, line);
	free(out);
	spit(tpath("sk_ec", ".pub"), line, strlen(line), 0644);
	keygen_fingerprint(tpath("sk_ec", ".pub"), fp_keygen, sizeof(fp_keygen));
	assert_int_equal(key_fingerprint(k, &fp), 0);
	assert_string_equal(fp, fp_keygen);
	free(fp);
	key_free(k);
	free(b64);
	free(blob);
	buf_free(b);

	/* The named type must be the blob's. */
	ed = pub_ok("ed25519");
	b64 = b64_of(ed->blob, ed->blob_len);
	snprintf(line, sizeof(line), "ssh-rsa %s", b64);
	expect_line(line, JIT_ERR_KEY_TYPE_MISMATCH);
	snprintf(line, sizeof(line), "  ssh-ed25519\t%s  two  words \r\n", b64);
	assert_int_equal(key_from_line(line, strlen(line), &k), 0);
	assert_string_equal(k->comment, "two  words");
	assert_true(key_equal_public(k, ed));
	assert_int_equal(key_to_line(k, "a\nb", &out), JIT_ERR_BAD_CHARACTER);
	assert_null(out);
	key_free(k);
	snprintf(line, sizeof(line), "ssh-ed25519 %s bad\x01comment", b64);
	expect_line(line, JIT_ERR_BAD_CHARACTER);
	snprintf(line, sizeof(line), "ssh-ed25519 %s=", b64);
	expect_line(line, JIT_ERR_INVALID_FORMAT);
	/* Only the given length counts: a NUL inside is refused. */
	snprintf(line, sizeof(line), "ssh-ed25519 %s", b64);
	assert_int_equal(key_from_line(line, strlen(line) + 1, &k), JIT_ERR_EMBEDDED_NUL);
	free(b64);
	expect_line("", JIT_ERR_INVALID_FORMAT);
	expect_line("ssh-ed25519", JIT_ERR_INVALID_FORMAT);
	expect_line("ssh-ed25519 AAAA", JIT_ERR_MESSAGE_INCOMPLETE);
	expect_line("ssh-ed25519 AAAA*AAA", JIT_ERR_INVALID_FORMAT);
	expect_line("ssh-foo AAAA", JIT_ERR_KEY_TYPE_UNKNOWN);
	expect_line("ssh-ed25519-cert-v01@openssh.com AAAA", JIT_ERR_KEY_TYPE_UNKNOWN);

	/* A file: comments and blank lines before the first key. */
	assert_int_equal(key_to_line(ed, "in file", &out), 0);
	snprintf(line, sizeof(line), "# a comment\n\n   \n%s\n", out);
	free(out);
	spit(tpath("pubfile", NULL), line, strlen(line), 0644);
	assert_int_equal(key_load_public(tpath("pubfile", NULL), &k), 0);
	assert_true(key_equal_public(k, ed));
	assert_string_equal(k->comment, "in file");
	key_free(k);
	spit(tpath("pubfile", NULL), "# nothing\n", 10, 0644);
	assert_int_equal(key_load_public(tpath("pubfile", NULL), &k), JIT_ERR_INVALID_FORMAT);
	assert_null(k);
	key_free(ed);
	key_free(p256);
}

/* ---- generation and writing ---- */

static void test_generate_write(void **state)
{
	static const struct {
		const char *name;
		enum key_type t, want;
		unsigned bits, want_bits;
	} g[] = {
	        {"gen_ed25519", KEY_ED25519, KEY_ED25519, 0, 256},
	        {"gen_p256", KEY_ECDSA_P256, KEY_ECDSA_P256, 0, 256},
	        {"gen_p384", KEY_ECDSA_P256, KEY_ECDSA_P384, 384, 384},
	        {"gen_p521", KEY_ECDSA_P521, KEY_ECDSA_P521, 521, 521},
	        {"gen_rsa", KEY_RSA, KEY_RSA, 2048, 2048},
	};
	struct key *k, *again, *pub;
	struct stat st;
	char out[4096], comment[64], fp_keygen[128], *fp;
	uint8_t *pubfile;
	size_t i, len;
	const char *argv[] = {"ssh-keygen", "-y", "-f", NULL, NULL};

	(void)state;
	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		char p[PATH_MAX];

		tpath_to(p, g[i].name, NULL);

		snprintf(comment, sizeof(comment), "made by %s", g[i].name);
		assert_int_equal(key_generate(g[i].t, g[i].bits, &k), 0);
		assert_int_equal(k->type, g[i].want);
		assert_int_equal(key_bits(k), g[i].want_bits);
		assert_int_equal(k->has_private, 1);
		assert_int_equal(key_write_pair(k, p, comment), 0);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(stat(tpath(g[i].name, ".pub"), &st), 0);
		assert_int_equal(st.st_mode & 07777, 0644);

		/* OpenSSH reads the private key and derives the same public line. */
		argv[3] = p;
		assert_int_equal(run(argv, NULL, out, sizeof(out)), 0);
		pubfile = slurp(tpath(g[i].name, ".pub"), &len);
		assert_string_equal(out, (char *)pubfile);
		free(pubfile);
		keygen_fingerprint(tpath(g[i].name, ".pub"), fp_keygen, sizeof(fp_keygen));
		assert_int_equal(key_fingerprint(k, &fp), 0);
		assert_string_equal(fp, fp_keygen);
		free(fp);

		again = load_ok(p, NULL);
		assert_true(key_equal_public(k, again));
		assert_string_equal(again->comment, comment);
		pub = pub_ok(g[i].name);
		assert_true(key_equal_public(k, pub));
		key_free(again);
		key_free(pub);

		/* Never overwrite. */
		errno = 0;
		assert_int_equal(key_write_pair(k, p, comment), JIT_ERR_SYSTEM);
		assert_int_equal(errno, EEXIST);
		unlink(p);
		errno = 0;
		assert_int_equal(key_write_pair(k, p, comment), JIT_ERR_SYSTEM);
		assert_int_equal(errno, EEXIST);
		assert_int_equal(access(p, F_OK), -1);
		key_free(k);
	}

	k = (struct key *)1;
	assert_int_equal(key_generate(KEY_RSA, 1024, &k), JIT_ERR_RSA_TOO_SMALL);
	assert_null(k);
	assert_int_equal(key_generate(KEY_RSA, 16392, &k), JIT_ERR_KEY_LENGTH);
	assert_int_equal(key_generate(KEY_ECDSA_P256, 255, &k), JIT_ERR_KEY_LENGTH);
	assert_int_equal(key_generate(KEY_ED25519, 255, &k), JIT_ERR_KEY_LENGTH);
	assert_int_equal(key_generate(KEY_SK_ED25519, 0, &k), JIT_ERR_KEY_TYPE_UNKNOWN);
	assert_int_equal(key_generate(KEY_UNSPEC, 0, &k), JIT_ERR_KEY_TYPE_UNKNOWN);
	assert_null(k);
	pub = pub_ok("ed25519");
	assert_int_equal(key_write_pair(pub, tpath("pubonly", NULL), NULL),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(access(tpath("pubonly", NULL), F_OK), -1);
	key_free(pub);
}

/* ---- openssh-key-v1 containers, altered ---- */

struct container {
	uint8_t *pub, *sec;
	size_t pub_len, sec_len;
};

/* Splits an unencrypted ssh-keygen key file into its public blob and private section. */
static void container_read(const char *path, struct container *c)
{
	uint8_t *raw;
	size_t raw_len, off, i;
	struct buf *b;
	const uint8_t *s;
	size_t s_len;
	uint32_t nkeys;

	raw = armor_decode(path, &raw_len);
	b = buf_from(raw, raw_len);
	assert_int_equal(buf_consume(b, 15), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0);
	assert_int_equal(buf_get_u32(b, &nkeys), 0);
	assert_int_equal(nkeys, 1);
	assert_int_equal(buf_get_string_direct(b, &s, &s_len), 0);
	c->pub = malloc(s_len);
	memcpy(c->pub, s, s_len);
	c->pub_len = s_len;
	section_find(raw, raw_len, &off, &c->sec_len);
	assert_int_equal(off + c->sec_len, raw_len);
	c->sec = malloc(c->sec_len);
	memcpy(c->sec, raw + off, c->sec_len);
	buf_free(b);
	free(raw);
}

/* Armored container with the given KDF, its options, and bytes after the section. */
static char *container_text_kdf(const char *cipher, const char *kdf, const void *opts,
                                size_t opts_len, uint32_t nkeys, const uint8_t *pub, size_t pub_len,
                                const uint8_t *sec, size_t sec_len, const void *after,
                                size_t after_len)
{
	struct buf *b = buf_new(KEY_FILE_MAX);
	char *text;

	assert_int_equal(buf_put(b, "openssh-key-v1", 15), 0);
	assert_int_equal(buf_put_cstring(b, cipher), 0);
	assert_int_equal(buf_put_cstring(b, kdf), 0);
	assert_int_equal(buf_put_string(b, opts, opts_len), 0);
	assert_int_equal(buf_put_u32(b, nkeys), 0);
	assert_int_equal(buf_put_string(b, pub, pub_len), 0);
	assert_int_equal(buf_put_string(b, sec, sec_len), 0);
	if (after_len > 0)
		assert_int_equal(buf_put(b, after, after_len), 0);
	text = armor(buf_ptr(b), buf_len(b));
	buf_free(b);
	return text;
}

/* The bcrypt options ssh-keygen writes: a 16-byte salt and 16 rounds. */
static const char bcrypt_opts16[] = "\0\0\0\x10saltsaltsaltsalt\0\0\0\x10";

/* Armored container; cipher "none" unless given (then bcrypt, 16 rounds). */
static char *container_text(const char *cipher, uint32_t nkeys, const uint8_t *pub, size_t pub_len,
                            const uint8_t *sec, size_t sec_len, int trailing)
{
	int none = strcmp(cipher, "none") == 0;

	return container_text_kdf(cipher, none ? "none" : "bcrypt", none ? NULL : bcrypt_opts16,
	                          none ? 0 : sizeof(bcrypt_opts16) - 1, nkeys, pub, pub_len, sec,
	                          sec_len, "", trailing ? 1 : 0);
}

static void expect_container(const char *cipher, uint32_t nkeys, const uint8_t *pub, size_t pub_len,
                             const uint8_t *sec, size_t sec_len, int trailing, const char *pass,
                             int code)
{
	char *text = container_text(cipher, nkeys, pub, pub_len, sec, sec_len, trailing);
	struct key *k = (struct key *)1;

	assert_int_equal(key_parse_private((uint8_t *)text, strlen(text), pass, &k), code);
	if (code != 0)
		assert_null(k);
	else
		key_free(k);
	free(text);
}

/* An encrypted container with these bcrypt options (or KDF) and tag bytes; pass PASS. */
static void expect_kdf(const char *cipher, const char *kdf, const void *opts, size_t opts_len,
                       const struct container *c, size_t tag_len, const char *pass, int code)
{
	uint8_t tag[32] = {0};
	char *text;
	struct key *k = (struct key *)1;

	assert_true(tag_len <= sizeof(tag));
	text = container_text_kdf(cipher, kdf, opts, opts_len, 1, c->pub, c->pub_len, c->sec,
	                          c->sec_len, tag, tag_len);
	assert_int_equal(key_parse_private((uint8_t *)text, strlen(text), pass, &k), code);
	assert_null(k);
	free(text);
}

/* bcrypt options: a salt of salt_len bytes, then rounds, then extra bytes. */
static size_t bcrypt_opts(uint8_t *out, size_t size, size_t salt_len, uint32_t rounds, size_t extra)
{
	struct buf *b = buf_new(size);
	uint8_t *salt = calloc(1, salt_len + 1);
	size_t n;

	assert_non_null(salt);
	memset(salt, 's', salt_len);
	assert_int_equal(buf_put_string(b, salt, salt_len), 0);
	assert_int_equal(buf_put_u32(b, rounds), 0);
	for (n = 0; n < extra; n++)
		assert_int_equal(buf_put_u8(b, 0), 0);
	n = buf_len(b);
	memcpy(out, buf_ptr(b), n);
	buf_free(b);
	free(salt);
	return n;
}

/* Encryption parameters are checked before anyone is asked for a passphrase. */
static void test_kdf_options(void **state)
{
	uint8_t opts[BCRYPT_PBKDF_SALT_MAX + 64];
	struct container ed;
	size_t n, i;
	const char *pass;

	(void)state;
	container_read(tpath("ed25519", NULL), &ed);
	for (i = 0; i < 2; i++) {
		pass = i == 0 ? NULL : PASS;
		/* Unknown cipher or KDF; a KDF of "none" with a cipher is malformed. */
		expect_kdf("blowfish-cbc", "bcrypt", bcrypt_opts16, sizeof(bcrypt_opts16) - 1, &ed,
		           0, pass, JIT_ERR_KEY_UNSUPPORTED_CIPHER);
		expect_kdf("aes256-ctr", "scrypt", bcrypt_opts16, sizeof(bcrypt_opts16) - 1, &ed, 0,
		           pass, JIT_ERR_KEY_UNSUPPORTED_CIPHER);
		expect_kdf("aes256-ctr", "none", NULL, 0, &ed, 0, pass, JIT_ERR_INVALID_FORMAT);
		/* Rounds: 0 is malformed; past the cap, valid but refused (and quickly). */
		n = bcrypt_opts(opts, sizeof(opts), 16, 0, 0);
		expect_kdf("aes256-ctr", "bcrypt", opts, n, &ed, 0, pass, JIT_ERR_INVALID_FORMAT);
		n = bcrypt_opts(opts, sizeof(opts), 16, BCRYPT_PBKDF_ROUNDS_MAX + 1, 0);
		expect_kdf("aes256-ctr", "bcrypt", opts, n, &ed, 0, pass,
		           JIT_ERR_KEY_UNSUPPORTED_CIPHER);
		n = bcrypt_opts(opts, sizeof(opts), 16, UINT32_MAX, 0);
		expect_kdf("chacha20-poly1305@openssh.com", "bcrypt", opts, n, &ed, 16, pass,
		           JIT_ERR_KEY_UNSUPPORTED_CIPHER);
		/* Salt: empty or longer than the cap. */
		n = bcrypt_opts(opts, sizeof(opts), 0, 16, 0);
		expect_kdf("aes256-ctr", "bcrypt", opts, n, &ed, 0, pass, JIT_ERR_INVALID_FORMAT);
		n = bcrypt_opts(opts, sizeof(opts), BCRYPT_PBKDF_SALT_MAX + 1, 16, 0);
		expect_kdf("aes256-ctr", "bcrypt", opts, n, &ed, 0, pass, JIT_ERR_INVALID_FORMAT);
		/* Options truncated, or with bytes after them. */
		n = bcrypt_opts(opts, sizeof(opts), 16, 16, 0);
		expect_kdf("aes256-ctr", "bcrypt", opts, n - 1, &ed, 0, pass,
		           JIT_ERR_MESSAGE_INCOMPLETE);
		expect_kdf("aes256-ctr", "bcrypt", NULL, 0, &ed, 0, pass,
		           JIT_ERR_MESSAGE_INCOMPLETE);
		n = bcrypt_opts(opts, sizeof(opts), 16, 16, 1);
		expect_kdf("aes256-ctr", "bcrypt", opts, n, &ed, 0, pass, JIT_ERR_TRAILING_DATA);
		/* The section must be whole blocks of the cipher (16 for AES, 8 for 3DES). */
		ed.sec_len -= 8;
		expect_kdf("aes256-ctr", "bcrypt", bcrypt_opts16, sizeof(bcrypt_opts16) - 1, &ed, 0,
		           pass, JIT_ERR_INVALID_FORMAT);
		expect_kdf("aes128-gcm@openssh.com", "bcrypt", bcrypt_opts16,
		           sizeof(bcrypt_opts16) - 1, &ed, 16, pass, JIT_ERR_INVALID_FORMAT);
		ed.sec_len += 8;
		/* AEAD: the tag follows the section, 16 bytes exactly. */
		expect_kdf("aes256-gcm@openssh.com", "bcrypt", bcrypt_opts16,
		           sizeof(bcrypt_opts16) - 1, &ed, 0, pass, JIT_ERR_MESSAGE_INCOMPLETE);
		expect_kdf("chacha20-poly1305@openssh.com", "bcrypt", bcrypt_opts16,
		           sizeof(bcrypt_opts16) - 1, &ed, 15, pass, JIT_ERR_MESSAGE_INCOMPLETE);
		expect_kdf("chacha20-poly1305@openssh.com", "bcrypt", bcrypt_opts16,
		           sizeof(bcrypt_opts16) - 1, &ed, 17, pass, JIT_ERR_TRAILING_DATA);
	}
	/* All of that in order, the passphrase is what is missing, or wrong. */
	expect_kdf("aes256-gcm@openssh.com", "bcrypt", bcrypt_opts16, sizeof(bcrypt_opts16) - 1,
	           &ed, 16, NULL, JIT_ERR_KEY_ENCRYPTED);
	expect_kdf("aes256-gcm@openssh.com", "bcrypt", bcrypt_opts16, sizeof(bcrypt_opts16) - 1,
	           &ed, 16, PASS, JIT_ERR_KEY_WRONG_PASSPHRASE);
	expect_kdf("3des-cbc", "bcrypt", bcrypt_opts16, sizeof(bcrypt_opts16) - 1, &ed, 0, PASS,
	           JIT_ERR_KEY_WRONG_PASSPHRASE);
	free(ed.pub);
	free(ed.sec);
}

static void expect_private(const char *text, int code)
{
	struct key *k = (struct key *)1;

	assert_int_equal(key_parse_private((const uint8_t *)text, strlen(text), NULL, &k), code);
	assert_null(k);
}

static void test_private_errors(void **state)
{
	struct container ed, ec;
	struct key *other;
	uint8_t *sec;
	size_t i;

	(void)state;
	container_read(tpath("ed25519", NULL), &ed);
	container_read(tpath("ecdsa256", NULL), &ec);
	/* The comment "test ed25519" leaves one byte of padding. */
	assert_int_equal(ed.sec_len, 144);
	assert_int_equal(ed.sec[143], 1);

	expect_container("none", 1, ed.pub, ed.pub_len, ed.sec, ed.sec_len, 0, NULL, 0);
	expect_container("none", 1, ec.pub, ec.pub_len, ec.sec, ec.sec_len, 0, NULL, 0);
	expect_container("none", 2, ed.pub, ed.pub_len, ed.sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_INVALID_FORMAT);
	expect_container("none", 1, ed.pub, ed.pub_len, ed.sec, ed.sec_len, 1, NULL,
	                 JIT_ERR_TRAILING_DATA);
	/* Truncated private section (no longer a multiple of 8), and a short one. */
	expect_container("none", 1, ed.pub, ed.pub_len, ed.sec, ed.sec_len - 1, 0, NULL,
	                 JIT_ERR_INVALID_FORMAT);
	expect_container("none", 1, ed.pub, ed.pub_len, ed.sec, 64, 0, NULL,
	                 JIT_ERR_MESSAGE_INCOMPLETE);
	sec = malloc(ed.sec_len + 16);
	/* Check ints differ. */
	memcpy(sec, ed.sec, ed.sec_len);
	sec[0] ^= 1;
	expect_container("none", 1, ed.pub, ed.pub_len, sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_INVALID_FORMAT);
	/* Bad padding byte; padding beyond a block. */
	memcpy(sec, ed.sec, ed.sec_len);
	sec[143] = 2;
	expect_container("none", 1, ed.pub, ed.pub_len, sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_INVALID_FORMAT);
	memcpy(sec, ed.sec, ed.sec_len);
	for (i = 0; i < 16; i++)
		sec[ed.sec_len + i] = (uint8_t)(i + 2);
	expect_container("none", 1, ed.pub, ed.pub_len, sec, ed.sec_len + 16, 0, NULL,
	                 JIT_ERR_INVALID_FORMAT);
	/* The private half of one key under another public key. */
	assert_int_equal(key_generate(KEY_ED25519, 0, &other), 0);
	expect_container("none", 1, other->blob, other->blob_len, ed.sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_KEY_INVALID);
	key_free(other);
	expect_container("none", 1, ec.pub, ec.pub_len, ed.sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_KEY_TYPE_MISMATCH);
	/* Ed25519 sk whose second half is not pk. */
	memcpy(sec, ed.sec, ed.sec_len);
	sec[8 + 15 + 36 + 4 + 40] ^= 1;
	expect_container("none", 1, ed.pub, ed.pub_len, sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_KEY_INVALID);
	/* A seed that does not give pk. */
	memcpy(sec, ed.sec, ed.sec_len);
	sec[8 + 15 + 36 + 4] ^= 1;
	expect_container("none", 1, ed.pub, ed.pub_len, sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_KEY_INVALID);
	free(sec);
	/* Encryption we do not handle, and a missing passphrase. */
	expect_container("blowfish-cbc", 1, ed.pub, ed.pub_len, ed.sec, ed.sec_len, 0, PASS,
	                 JIT_ERR_KEY_UNSUPPORTED_CIPHER);
	expect_container("aes256-ctr", 1, ed.pub, ed.pub_len, ed.sec, ed.sec_len, 0, NULL,
	                 JIT_ERR_KEY_ENCRYPTED);

	/* Armor and format. */
	expect_private("", JIT_ERR_INVALID_FORMAT);
	expect_private("garbage", JIT_ERR_INVALID_FORMAT);
	expect_private("-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n",
	               JIT_ERR_KEY_TYPE_UNKNOWN);
	expect_private("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", JIT_ERR_INVALID_FORMAT);
	expect_private("-----BEGIN OPENSSH PRIVATE KEY-----\nAA AA\n"
	               "-----END OPENSSH PRIVATE KEY-----\n",
	               JIT_ERR_INVALID_FORMAT);
	expect_private("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"
	               "-----END OPENSSH PRIVATE KEY-----\nmore\n",
	               JIT_ERR_INVALID_FORMAT);
	expect_private("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"
	               "-----END OPENSSH PRIVATE KEY-----\n",
	               JIT_ERR_MESSAGE_INCOMPLETE);
	expect_private("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjIA\n"
	               "-----END OPENSSH PRIVATE KEY-----\n",
	               JIT_ERR_INVALID_FORMAT);
	expect_private("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	               JIT_ERR_INVALID_FORMAT);

	free(ed.pub);
	free(ed.sec);
	free(ec.pub);
	free(ec.sec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_b64),
	        cmocka_unit_test(test_type_names),
	        cmocka_unit_test(test_load_openssh),
	        cmocka_unit_test(test_load_openssh_encrypted),
	        cmocka_unit_test(test_keygen_cipher_list),
	        cmocka_unit_test(test_load_openssh_ciphers),
	        cmocka_unit_test(test_encrypted_tampered),
	        cmocka_unit_test(test_load_pem),
	        cmocka_unit_test(test_load_ed25519_pkcs8),
	        cmocka_unit_test(test_load_file_checks),
	        cmocka_unit_test(test_sign_verify),
	        cmocka_unit_test(test_verify_public),
	        cmocka_unit_test(test_sig_alg),
	        cmocka_unit_test(test_sshsig_interop),
	        cmocka_unit_test(test_blob_errors),
	        cmocka_unit_test(test_from_fields),
	        cmocka_unit_test(test_lines),
	        cmocka_unit_test(test_generate_write),
	        cmocka_unit_test(test_private_errors),
	        cmocka_unit_test(test_kdf_options),
	};

	return cmocka_run_group_tests_name("key", tests, group_setup, group_teardown);
}
