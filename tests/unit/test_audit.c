/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The audit log: exact record bytes and escaping, the hash chain and the
 * first broken record for each kind of tampering, torn tails, real write
 * failures (RLIMIT_FSIZE makes write() fail with EFBIG on a real file) and
 * the recovery after them, and the append + sync throughput.
 */
#define _GNU_SOURCE /* O_NOFOLLOW */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "audit.h"
#include "err.h"

#define T0      1900000000ULL /* 2030-03-17T17:46:40Z */
#define T0_TEXT "2030-03-17T17:46:40Z"
#define ZEROS   "0000000000000000000000000000000000000000000000000000000000000000"
#define N       10 /* records in the tampering tests */

static char dir[256], path[300];
static struct rlimit fsize_saved;

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/test_audit.XXXXXX", tmp) >= sizeof(dir) ||
	    mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	umask(022);
	return getrlimit(RLIMIT_FSIZE, &fsize_saved);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	(void)state;
	setrlimit(RLIMIT_FSIZE, &fsize_saved);
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole file, NUL-terminated. */
static char *slurp(const char *p, size_t *ret_len)
{
	struct stat st;
	char *d;
	FILE *f;

	assert_int_equal(stat(p, &st), 0);
	assert_non_null(d = malloc((size_t)st.st_size + 1));
	assert_non_null(f = fopen(p, "rb"));
	assert_int_equal(fread(d, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	d[st.st_size] = '\0';
	*ret_len = (size_t)st.st_size;
	return d;
}

/* Replaces the contents in place (same inode and mode). */
static void spit(const char *p, const void *d, size_t len)
{
	FILE *f;

	assert_non_null(f = fopen(p, "wb"));
	assert_int_equal(fwrite(d, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void add_bytes(const char *p, const void *d, size_t len)
{
	FILE *f;

	assert_non_null(f = fopen(p, "ab"));
	assert_int_equal(fwrite(d, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static off_t file_size(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

/* Offset of line k (1-based) in d; len when there is no such line. */
static size_t line_at(const char *d, size_t len, unsigned k)
{
	size_t off = 0;
	const char *nl;

	while (--k > 0) {
		assert_non_null(nl = memchr(d + off, '\n', len - off));
		off = (size_t)(nl - d) + 1;
	}
	return off;
}

static size_t line_len(const char *d, size_t len, unsigned k)
{
	size_t off = line_at(d, len, k);
	const char *nl = memchr(d + off, '\n', len - off);

	assert_non_null(nl);
	return (size_t)(nl - (d + off));
}

static void sha256_hex(const void *d, size_t len, char out[AUDIT_HASH_HEX_SIZE])
{
	static const char hx[] = "0123456789abcdef";
	uint8_t h[AUDIT_HASH_LEN];
	unsigned n = 0, i;

	assert_int_equal(EVP_Digest(d, len, h, &n, EVP_sha256(), NULL), 1);
	for (i = 0; i < AUDIT_HASH_LEN; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 0xf];
	}
	out[2 * AUDIT_HASH_LEN] = '\0';
}

/* Hash of line k of the file. */
static void line_hash(const char *p, unsigned k, char out[AUDIT_HASH_HEX_SIZE])
{
	size_t len;
	char *d = slurp(p, &len);

	sha256_hex(d + line_at(d, len, k), line_len(d, len, k), out);
	free(d);
}

/* Records of one fixed length: serials 1000..8999. */
static void append_std(struct audit_log *a, unsigned count)
{
	uint64_t seq, first = audit_seq(a) + 1;
	unsigned i;

	for (i = 0; i < count; i++) {
		struct audit_field f[] = {
		        AUDIT_STR("event", "sign"),
		        AUDIT_STR("user", "alice"),
		        AUDIT_STR("principals", "alice,deploy"),
		        AUDIT_U64("serial", 1000 + first + i),
		        AUDIT_BOOL("issued", 1),
		};
		assert_int_equal(audit_append(a, T0 + first + i, f, 5, &seq), 0);
		assert_int_equal(seq, first + i);
	}
}

/* A fresh log of count durable records, closed. */
static void make_log(unsigned count)
{
	struct audit_log *a = NULL;
	size_t dropped = 99;

	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_int_equal(dropped, 0);
	append_std(a, count);
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
}

static void expect_verify(int want_r, uint64_t want_records, uint64_t want_bad,
                          const char *want_msg)
{
	uint64_t records = 99, bad = 99;
	char msg[256];

	assert_int_equal(audit_verify(path, &records, &bad, msg, sizeof(msg)), want_r);
	assert_string_equal(msg, want_msg);
	assert_int_equal(records, want_records);
	assert_int_equal(bad, want_bad);
}

/* verify succeeds with count records and the head hash of line count. */
static void expect_verify_ok(uint64_t count)
{
	char head[AUDIT_HASH_HEX_SIZE], want[256];

	if (count == 0)
		strcpy(head, ZEROS);
	else
		line_hash(path, (unsigned)count, head);
	snprintf(want, sizeof(want), "%llu records, head %s", (unsigned long long)count, head);
	expect_verify(0, count, 0, want);
}

static void test_format_exact(void **state)
{
	static const uint8_t zero[AUDIT_HASH_LEN];
	uint8_t prev[AUDIT_HASH_LEN];
	struct audit_field f[] = {
	        AUDIT_STR("event", "sign"),   AUDIT_U64("serial", 42),
	        AUDIT_U64("max", UINT64_MAX), AUDIT_BOOL("issued", 1),
	        AUDIT_BOOL("breakglass", 0),  AUDIT_STR("reason", ""),
	};
	char out[AUDIT_LINE_MAX];
	size_t len = 99, i;

	(void)state;
	assert_int_equal(audit_record_format(1, T0, zero, f, 6, out, sizeof(out), &len), 0);
	assert_string_equal(out, "{\"seq\":1,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS
	                         "\",\"event\":\"sign\",\"serial\":42,\"max\":18446744073709551615,"
	                         "\"issued\":true,\"breakglass\":false,\"reason\":\"\"}");
	assert_int_equal(len, strlen(out));

	for (i = 0; i < AUDIT_HASH_LEN; i++)
		prev[i] = (uint8_t)(i * 8 + 7);
	assert_int_equal(audit_record_format(UINT64_MAX, 0, prev, NULL, 0, out, sizeof(out), &len),
	                 0);
	assert_string_equal(out, "{\"seq\":18446744073709551615,\"time\":\"1970-01-01T00:00:00Z\","
	                         "\"prev\":\"070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7"
	                         "dfe7eff7ff\"}");

	/* Too small an output buffer: an error and an empty string, never a cut record. */
	assert_int_equal(audit_record_format(1, T0, zero, f, 6, out, 50, &len),
	                 JIT_ERR_NO_BUFFER_SPACE);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	assert_int_equal(
	        audit_record_format(1, 253402300800ULL, zero, f, 1, out, sizeof(out), &len),
	        JIT_ERR_TIME_RANGE);
	assert_int_equal(audit_record_format(0, T0, zero, f, 1, out, sizeof(out), &len),
	                 JIT_ERR_INVALID_ARGUMENT);
}

/* Hostile bytes in, one canonical escaping out, and the same bytes back. */
static void test_escaping_exact(void **state)
{
	static const char hostile[] = "q\"b\\s\n\t\x01\x1f\x7f"
	                              "\xc3\xa9" /* é */
	                              "\xff"     /* never UTF-8 */
	                              "\xc3"     /* lead without continuation */
	                              "A"
	                              "\xc0\xaf"         /* overlong '/' */
	                              "\xed\xa0\x80"     /* surrogate */
	                              "\xf4\x8f\xbf\xbf" /* U+10FFFF */
	                              "\xf4\x90\x80\x80" /* above U+10FFFF */
	                              "\xe2\x80\xa8"     /* U+2028: valid JSON as is */
	                              "\xf0\x9f\x98\x80" /* 😀 */
	                              "\xe2\x82";        /* cut at the end */
	static const char escaped[] = "q\\\"b\\\\s\\u000a\\u0009\\u0001\\u001f\\u007f"
	                              "\xc3\xa9"
	                              "\\u00ff"
	                              "\\u00c3"
	                              "A"
	                              "\\u00c0\\u00af"
	                              "\\u00ed\\u00a0\\u0080"
	                              "\xf4\x8f\xbf\xbf"
	                              "\\u00f4\\u0090\\u0080\\u0080"
	                              "\xe2\x80\xa8"
	                              "\xf0\x9f\x98\x80"
	                              "\\u00e2\\u0082";
	static const uint8_t zero[AUDIT_HASH_LEN];
	static struct audit_record rec;
	struct audit_field f[] = {AUDIT_STR("v", hostile)};
	char out[AUDIT_LINE_MAX], want[AUDIT_LINE_MAX], why[128];
	size_t len;

	(void)state;
	assert_int_equal(audit_record_format(3, T0, zero, f, 1, out, sizeof(out), &len), 0);
	snprintf(want, sizeof(want),
	         "{\"seq\":3,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "\",\"v\":\"%s\"}",
	         escaped);
	assert_string_equal(out, want);
	assert_int_equal(audit_record_parse(out, len, &rec, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(rec.seq, 3);
	assert_int_equal(rec.time, T0);
	assert_int_equal(rec.nfields, 1);
	assert_string_equal(rec.fields[0].key, "v");
	assert_int_equal(rec.fields[0].type, AUDIT_T_STR);
	assert_string_equal(rec.fields[0].s, hostile);
}

static void test_field_errors(void **state)
{
	static const uint8_t zero[AUDIT_HASH_LEN];
	static const char *const bad_keys[] = {
	        "",
	        "Event",
	        "1st",
	        "_x",
	        "a-b",
	        "a b",
	        "\xc3\xa9",
	        "seq",
	        "time",
	        "prev",
	        "abcdefghijklmnopqrstuvwxyz0123456", /* 33 characters: one too many */
	};
	struct audit_field f[AUDIT_FIELDS_MAX + 1];
	char out[AUDIT_LINE_MAX], big[AUDIT_LINE_MAX + 16], key[8];
	size_t len, i, base;

	(void)state;
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		f[0] = (struct audit_field)AUDIT_STR(bad_keys[i], "x");
		if (audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &len) !=
		    JIT_ERR_INVALID_ARGUMENT)
			fail_msg("key \"%s\" accepted", bad_keys[i]);
	}
	/* 32 characters is the longest name. */
	f[0] = (struct audit_field)AUDIT_STR("abcdefghijklmnopqrstuvwxyz012345", "x");
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &len), 0);
	f[0] = (struct audit_field)AUDIT_STR(NULL, "x");
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &len),
	                 JIT_ERR_INVALID_ARGUMENT);
	f[0] = (struct audit_field)AUDIT_STR("user", NULL);
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &len),
	                 JIT_ERR_INVALID_ARGUMENT);
	f[0] = (struct audit_field)AUDIT_STR("user", "a");
	f[1] = (struct audit_field)AUDIT_U64("user", 1);
	assert_int_equal(audit_record_format(1, T0, zero, f, 2, out, sizeof(out), &len),
	                 JIT_ERR_INVALID_ARGUMENT);
	f[1] = (struct audit_field){.key = "n", .type = (enum audit_type)9};
	assert_int_equal(audit_record_format(1, T0, zero, f, 2, out, sizeof(out), &len),
	                 JIT_ERR_INVALID_ARGUMENT);
	f[1] = (struct audit_field){.key = "n", .type = AUDIT_T_BOOL, .u = 2};
	assert_int_equal(audit_record_format(1, T0, zero, f, 2, out, sizeof(out), &len),
	                 JIT_ERR_INVALID_ARGUMENT);

	/* AUDIT_FIELDS_MAX fields fit, one more does not. */
	for (i = 0; i <= AUDIT_FIELDS_MAX; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		f[i] = (struct audit_field)AUDIT_U64(strdup(key), i);
		assert_non_null(f[i].key);
	}
	assert_int_equal(
	        audit_record_format(1, T0, zero, f, AUDIT_FIELDS_MAX, out, sizeof(out), &len), 0);
	assert_int_equal(
	        audit_record_format(1, T0, zero, f, AUDIT_FIELDS_MAX + 1, out, sizeof(out), &len),
	        JIT_ERR_INVALID_ARGUMENT);
	for (i = 0; i <= AUDIT_FIELDS_MAX; i++)
		free((char *)f[i].key);

	/* The longest record is AUDIT_LINE_MAX - 1 bytes before its newline. */
	f[0] = (struct audit_field)AUDIT_STR("s", "");
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &base), 0);
	memset(big, 'a', sizeof(big));
	big[AUDIT_LINE_MAX - 1 - base] = '\0';
	f[0] = (struct audit_field)AUDIT_STR("s", big);
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &len), 0);
	assert_int_equal(len, AUDIT_LINE_MAX - 1);
	big[AUDIT_LINE_MAX - 1 - base] = 'a';
	big[AUDIT_LINE_MAX - base] = '\0';
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &len),
	                 JIT_ERR_NO_BUFFER_SPACE);
	/* Escaping counts: a control byte takes six. */
	memset(big, '\x01', (AUDIT_LINE_MAX - 1 - base) / 6 + 1);
	big[(AUDIT_LINE_MAX - 1 - base) / 6 + 1] = '\0';
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, out, sizeof(out), &len),
	                 JIT_ERR_NO_BUFFER_SPACE);
}

/* Bad fields and oversized records leave the log and the batch untouched. */
static void test_append_refusals_keep_log(void **state)
{
	struct audit_log *a = NULL;
	char big[AUDIT_LINE_MAX + 1];
	uint64_t seq = 99;
	struct audit_field bad[] = {AUDIT_STR("seq", "1")};
	struct audit_field huge[] = {AUDIT_STR("s", big)};

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(audit_open(path, &a, NULL), 0);
	append_std(a, 2);
	assert_int_equal(audit_append(a, T0, bad, 1, &seq), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(seq, 0);
	assert_int_equal(audit_append(a, T0, huge, 1, &seq), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(audit_append(a, T0, NULL, 1, &seq), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(audit_append(NULL, T0, bad, 1, &seq), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(audit_seq(a), 2);
	assert_int_equal(audit_sync(a), 0);
	append_std(a, 1);
	assert_int_equal(audit_sync(a), 0);
	/* Nothing appended: nothing to do. */
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
	expect_verify_ok(3);
}

static void test_chain_verifies(void **state)
{
	struct audit_chain c;
	struct stat st;
	char prevhex[AUDIT_HASH_HEX_SIZE], want[80], *d;
	size_t len, off;
	unsigned k;

	(void)state;
	expect_verify(JIT_ERR_SYSTEM, 0, 0, "");
	assert_int_equal(errno, ENOENT);
	make_log(100);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	expect_verify_ok(100);

	/* Each line: seq k and the hash of line k-1, checked here independently. */
	d = slurp(path, &len);
	audit_chain_init(&c);
	strcpy(prevhex, ZEROS);
	for (k = 1; k <= 100; k++) {
		off = line_at(d, len, k);
		snprintf(want, sizeof(want), "{\"seq\":%u,\"time\":\"", k);
		assert_memory_equal(d + off, want, strlen(want));
		snprintf(want, sizeof(want), "\"prev\":\"%s\"", prevhex);
		assert_non_null(memmem(d + off, line_len(d, len, k), want, strlen(want)));
		assert_int_equal(audit_chain_check(&c, d + off, line_len(d, len, k), NULL, 0), 0);
		assert_int_equal(c.seq, k);
		sha256_hex(d + off, line_len(d, len, k), prevhex);
	}
	assert_int_equal(line_at(d, len, 101), len);
	free(d);

	/* Reopening continues the chain. */
	make_log(0);
	{
		struct audit_log *a = NULL;
		size_t dropped = 99;

		assert_int_equal(audit_open(path, &a, &dropped), 0);
		assert_int_equal(dropped, 0);
		assert_int_equal(audit_seq(a), 100);
		append_std(a, 5);
		assert_int_equal(audit_sync(a), 0);
		audit_close(a);
	}
	expect_verify_ok(105);
}

static void test_verify_empty_and_bad_files(void **state)
{
	char big[AUDIT_LINE_MAX + 2];
	uint64_t records = 99, bad = 99;
	char msg[128], link[320];

	(void)state;
	spit(path, "", 0);
	expect_verify_ok(0);
	expect_verify(0, 0, 0, "0 records, head " ZEROS);

	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	spit(path, big, sizeof(big));
	expect_verify(JIT_ERR_AUDIT_CHAIN, 0, 1, "line 1: record longer than 8191 bytes");
	spit(path, big, sizeof(big) - 1);
	expect_verify(JIT_ERR_AUDIT_CHAIN, 0, 1, "line 1: record longer than 8191 bytes");
	spit(path, "\n", 1);
	expect_verify(JIT_ERR_AUDIT_CHAIN, 0, 1, "line 1: no seq");

	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(audit_verify(link, &records, &bad, msg, sizeof(msg)), JIT_ERR_FILE_TYPE);
	assert_int_equal(records, 0);
	assert_int_equal(bad, 0);
	assert_string_equal(msg, "");
	assert_int_equal(audit_verify(dir, &records, &bad, msg, sizeof(msg)), JIT_ERR_FILE_TYPE);
	assert_int_equal(audit_verify(NULL, &records, &bad, msg, sizeof(msg)),
	                 JIT_ERR_INVALID_ARGUMENT);
}

/* Changes byte c at the first occurrence of what in line k to to. */
static void tamper(unsigned k, const char *what, size_t at, char to)
{
	size_t len, off;
	char *d = slurp(path, &len), *p;

	off = line_at(d, len, k);
	assert_non_null(p = memmem(d + off, line_len(d, len, k), what, strlen(what)));
	p[at] = to;
	spit(path, d, len);
	free(d);
}

static void test_tamper_value(void **state)
{
	char head[AUDIT_HASH_HEX_SIZE], msg[256];
	unsigned k;

	(void)state;
	/*
	 * A record whose content is altered but still well formed is itself
	 * accepted: the first broken record is the next one, whose prev no
	 * longer matches.
	 */
	for (k = 1; k < N; k++) {
		make_log(N);
		tamper(k, "\"alice\"", 5, 'f'); /* "alicf" */
		snprintf(msg, sizeof(msg), "line %u: prev is not the hash of record %u", k + 1, k);
		expect_verify(JIT_ERR_AUDIT_CHAIN, k, k + 1, msg);
		assert_int_equal(unlink(path), 0);
	}
	/* The last record has no successor: only the head hash shows the change. */
	make_log(N);
	line_hash(path, N, head);
	tamper(N, "\"alice\"", 5, 'f');
	expect_verify_ok(N);
	snprintf(msg, sizeof(msg), "%u records, head %s", N, head);
	{
		uint64_t records, bad;
		char got[256];

		assert_int_equal(audit_verify(path, &records, &bad, got, sizeof(got)), 0);
		assert_string_not_equal(got, msg);
	}
}

static void test_tamper_fixed_fields(void **state)
{
	(void)state;
	/* seq 5 -> 6 in line 5. */
	make_log(N);
	tamper(5, "{\"seq\":5,", 7, '6');
	expect_verify(JIT_ERR_AUDIT_CHAIN, 4, 5, "line 5: seq 6, expected 5");
	assert_int_equal(unlink(path), 0);

	/* A prev digit of line 5. */
	make_log(N);
	tamper(5, "\"prev\":\"", 8, 'g');
	expect_verify(JIT_ERR_AUDIT_CHAIN, 4, 5, "line 5: bad prev");
	assert_int_equal(unlink(path), 0);
	{
		char prevhex[AUDIT_HASH_HEX_SIZE];

		make_log(N);
		line_hash(path, 4, prevhex);
		tamper(5, prevhex, 0, prevhex[0] == '0' ? '1' : '0');
		expect_verify(JIT_ERR_AUDIT_CHAIN, 4, 5,
		              "line 5: prev is not the hash of record 4");
		assert_int_equal(unlink(path), 0);

		/* The same hash in capitals is another byte string for the same record: refused. */
		make_log(N);
		line_hash(path, 4, prevhex);
		if (strpbrk(prevhex, "abcdef") != NULL) {
			size_t at = strcspn(prevhex, "abcdef");

			tamper(5, prevhex, at, (char)(prevhex[at] - 'a' + 'A'));
			expect_verify(JIT_ERR_AUDIT_CHAIN, 4, 5, "line 5: not in canonical form");
		}
		assert_int_equal(unlink(path), 0);
	}

	/* The first record's prev must be zeros. */
	make_log(N);
	tamper(1, ZEROS, 63, '1');
	expect_verify(JIT_ERR_AUDIT_CHAIN, 0, 1, "line 1: prev of the first record is not zero");
	assert_int_equal(unlink(path), 0);

	/* Structure: a quote becomes another byte. */
	make_log(N);
	tamper(7, "\"user\":", 5, 'x');
	expect_verify(JIT_ERR_AUDIT_CHAIN, 6, 7, "line 7: field 2: no ':'");
	assert_int_equal(unlink(path), 0);

	make_log(N);
	tamper(7, "true}", 4, ']');
	expect_verify(JIT_ERR_AUDIT_CHAIN, 6, 7, "line 7: after field 5: no ',' or '}'");
	assert_int_equal(unlink(path), 0);

	/* A raw newline inside a record splits it into two broken lines. */
	make_log(N);
	tamper(3, "alice,deploy", 5, '\n');
	expect_verify(JIT_ERR_AUDIT_CHAIN, 2, 3, "line 3: unterminated string");
}

static void remove_line(unsigned k)
{
	size_t len, off, ll;
	char *d = slurp(path, &len);

	off = line_at(d, len, k);
	ll = line_len(d, len, k) + 1;
	memmove(d + off, d + off + ll, len - off - ll);
	spit(path, d, len - ll);
	free(d);
}

static void test_delete_line(void **state)
{
	char msg[128];
	unsigned k;

	(void)state;
	for (k = 1; k < N; k++) {
		make_log(N);
		remove_line(k);
		snprintf(msg, sizeof(msg), "line %u: seq %u, expected %u", k, k + 1, k);
		expect_verify(JIT_ERR_AUDIT_CHAIN, k - 1, k, msg);
		assert_int_equal(unlink(path), 0);
	}
	/* Cutting the end of the log leaves a shorter valid chain: the head hash tells. */
	make_log(N);
	remove_line(N);
	expect_verify_ok(N - 1);
}

static void test_reorder_and_replay(void **state)
{
	size_t len, o4, l4, l5;
	char *d, *r;

	(void)state;
	/* Lines 4 and 5 swapped. */
	make_log(N);
	d = slurp(path, &len);
	o4 = line_at(d, len, 4);
	l4 = line_len(d, len, 4) + 1;
	l5 = line_len(d, len, 5) + 1;
	assert_non_null(r = malloc(len));
	memcpy(r, d, o4);
	memcpy(r + o4, d + o4 + l4, l5);
	memcpy(r + o4 + l5, d + o4, l4);
	memcpy(r + o4 + l4 + l5, d + o4 + l4 + l5, len - o4 - l4 - l5);
	spit(path, r, len);
	expect_verify(JIT_ERR_AUDIT_CHAIN, 3, 4, "line 4: seq 5, expected 4");

	/* Line 4 written twice. */
	free(r);
	assert_non_null(r = malloc(len + l4));
	memcpy(r, d, o4 + l4);
	memcpy(r + o4 + l4, d + o4, len - o4);
	spit(path, r, len + l4);
	expect_verify(JIT_ERR_AUDIT_CHAIN, 4, 5, "line 5: seq 4, expected 5");
	free(r);
	free(d);
}

/* The first bytes of what would be record 6. */
static void add_torn(size_t cut)
{
	size_t len;
	char *d = slurp(path, &len);

	add_bytes(path, d + line_at(d, len, 5), cut);
	free(d);
}

static void test_torn_tail(void **state)
{
	static const char zeros[100];
	struct audit_log *a = NULL;
	size_t dropped = 99;
	off_t size;

	(void)state;
	make_log(5);
	size = file_size(path);
	add_torn(30);
	expect_verify(JIT_ERR_AUDIT_CHAIN, 5, 6,
	              "line 6: no newline at the end (an unfinished write)");
	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_int_equal(dropped, 30);
	assert_int_equal(file_size(path), size);
	assert_int_equal(audit_seq(a), 5);
	append_std(a, 2);
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
	expect_verify_ok(7);

	/* A crash may leave zeros after the torn bytes, or only zeros. */
	size = file_size(path);
	add_bytes(path, "{\"se", 4);
	add_bytes(path, zeros, sizeof(zeros));
	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_int_equal(dropped, 104);
	assert_int_equal(file_size(path), size);
	audit_close(a);
	add_bytes(path, zeros, 7);
	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_int_equal(dropped, 7);
	audit_close(a);
	expect_verify_ok(7);

	/* A torn first record leaves an empty log. */
	assert_int_equal(unlink(path), 0);
	add_bytes(path, "{\"seq\":1,\"ti", 12);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_int_equal(dropped, 12);
	assert_int_equal(audit_seq(a), 0);
	append_std(a, 1);
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
	expect_verify_ok(1);
}

static void test_open_refusals(void **state)
{
	struct audit_log *a = NULL, *b = NULL;
	char other[320], big[AUDIT_LINE_MAX + 8];
	size_t dropped = 99, len, len2;
	char *before, *after;

	(void)state;
	/* An unterminated tail that is not the start of a record is not ours to cut. */
	make_log(3);
	add_bytes(path, "hello", 5);
	before = slurp(path, &len);
	assert_int_equal(audit_open(path, &a, &dropped), JIT_ERR_AUDIT_CHAIN);
	assert_null(a);
	assert_int_equal(dropped, 0);
	after = slurp(path, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(after, before, len);
	free(after);

	/* Nor is a record-like tail too long to be one torn record. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "{\"seq\":4", 8);
	spit(path, before, len - 5);
	add_bytes(path, big, AUDIT_LINE_MAX);
	assert_int_equal(audit_open(path, &a, &dropped), JIT_ERR_AUDIT_CHAIN);
	assert_int_equal(file_size(path), (off_t)(len - 5 + AUDIT_LINE_MAX));
	spit(path, before, len - 5);
	add_bytes(path, big, AUDIT_LINE_MAX - 1);
	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_int_equal(dropped, AUDIT_LINE_MAX - 1);
	audit_close(a);
	a = NULL;
	free(before);

	/* A last line that is not a record. */
	add_bytes(path, "garbage\n", 8);
	assert_int_equal(audit_open(path, &a, &dropped), JIT_ERR_AUDIT_CHAIN);
	assert_null(a);
	assert_int_equal(unlink(path), 0);

	/* Only a regular file, not through a symlink, not writable by others. */
	make_log(1);
	snprintf(other, sizeof(other), "%s/link", dir);
	assert_int_equal(symlink(path, other), 0);
	assert_int_equal(audit_open(other, &a, &dropped), JIT_ERR_FILE_TYPE);
	assert_int_equal(unlink(other), 0);
	assert_int_equal(audit_open(dir, &a, &dropped), JIT_ERR_FILE_TYPE);
	snprintf(other, sizeof(other), "%s/fifo", dir);
	assert_int_equal(mkfifo(other, 0600), 0);
	assert_int_equal(audit_open(other, &a, &dropped), JIT_ERR_FILE_TYPE);
	assert_int_equal(chmod(path, 0660), 0);
	assert_int_equal(audit_open(path, &a, &dropped), JIT_ERR_FILE_PERMISSIONS);
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(audit_open(path, &a, &dropped), JIT_ERR_FILE_PERMISSIONS);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(other, sizeof(other), "%s/missing/audit.jsonl", dir);
	assert_int_equal(audit_open(other, &a, &dropped), JIT_ERR_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(audit_open(NULL, &a, &dropped), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(audit_open("", &a, &dropped), JIT_ERR_INVALID_ARGUMENT);

	/* One writer at a time. */
	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_int_equal(audit_open(path, &b, &dropped), JIT_ERR_SYSTEM);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_null(b);
	audit_close(a);
	assert_int_equal(audit_open(path, &b, &dropped), 0);
	audit_close(b);
	audit_close(NULL);
}

/* Bytes that reach the file behind our back end the log's use. */
static void test_foreign_writer(void **state)
{
	struct audit_log *a = NULL;
	uint64_t seq = 99;
	int fd;

	(void)state;
	assert_int_equal(audit_open(path, &a, NULL), 0);
	append_std(a, 2);
	assert_int_equal(audit_sync(a), 0);
	assert_true((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0);
	assert_int_equal(write(fd, "foreign\n", 8), 8);
	close(fd);
	{
		struct audit_field f[] = {AUDIT_STR("event", "sign")};

		assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_CHAIN);
		assert_int_equal(seq, 0);
		assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_CHAIN);
		assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_CHAIN);
		assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_CHAIN);
	}
	audit_close(a);
	expect_verify(JIT_ERR_AUDIT_CHAIN, 2, 3, "line 3: no seq");
}

static void limit_file_size(off_t max)
{
	struct rlimit rl = fsize_saved;

	rl.rlim_cur = (rlim_t)max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void unlimit_file_size(void)
{
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &fsize_saved), 0);
}

/*
 * A real write failure: with RLIMIT_FSIZE the kernel stops the write at the
 * limit (a partial record on disk) and then fails it with EFBIG.
 */
static void test_write_failure_recovers(void **state)
{
	struct audit_log *a = NULL;
	uint64_t seq = 99;
	size_t len;
	off_t size;
	char *d;
	struct audit_field f[] = {AUDIT_STR("event", "sign")};

	(void)state;
	assert_true(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	assert_int_equal(audit_open(path, &a, NULL), 0);
	append_std(a, 3);
	assert_int_equal(audit_sync(a), 0);
	size = file_size(path);

	limit_file_size(size + 10);
	assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_WRITE);
	assert_int_equal(seq, 0);
	assert_int_equal(audit_seq(a), 3);
	assert_int_equal(file_size(path), size + 10);
	assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_WRITE);
	/* Still failing: the partial record is cut away and the write fails again. */
	assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_WRITE);
	assert_int_equal(file_size(path), size + 10);
	assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_WRITE);
	/* A sync alone retries the repair, and with nothing appended there is nothing to fail. */
	assert_int_equal(audit_sync(a), 0);
	assert_int_equal(file_size(path), size);

	limit_file_size(size + 5);
	assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_WRITE);
	assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_WRITE);
	unlimit_file_size();
	append_std(a, 1); /* seq 4 again */
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
	expect_verify_ok(4);
	d = slurp(path, &len);
	assert_int_equal((off_t)len, size + (off_t)line_len(d, len, 4) + 1);
	free(d);
}

/* Group commit: one failed append fails the batch, and all of it is cut away. */
static void test_write_failure_drops_batch(void **state)
{
	struct audit_log *a = NULL;
	uint64_t seq = 99;
	size_t len, rec;
	off_t size;
	char *d;

	(void)state;
	assert_true(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	assert_int_equal(audit_open(path, &a, NULL), 0);
	append_std(a, 3);
	assert_int_equal(audit_sync(a), 0);
	size = file_size(path);
	d = slurp(path, &len);
	rec = line_len(d, len, 3) + 1; /* every standard record has this length */
	free(d);

	limit_file_size(size + (off_t)rec + 10);
	append_std(a, 1); /* seq 4 written */
	{
		struct audit_field f[] = {AUDIT_STR("event", "sign"), AUDIT_STR("user", "bob")};

		assert_int_equal(audit_append(a, T0, f, 2, &seq), JIT_ERR_AUDIT_WRITE);
	}
	assert_int_equal(file_size(path), size + (off_t)rec + 10);
	assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_WRITE);
	unlimit_file_size();
	/* Record 4 went with its batch: the next record is 4 again. */
	append_std(a, 1);
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
	expect_verify_ok(4);
	assert_int_equal(file_size(path), size + (off_t)rec);
}

/*
 * A failed append, then one that fits, in the same batch: the batch fails,
 * and the record that was written must not become durable with the next.
 */
static void test_write_failure_then_success_in_batch(void **state)
{
	struct audit_log *a = NULL;
	uint64_t seq = 99;
	size_t len;
	off_t size;
	char big[2048], *d;
	struct audit_field f[] = {AUDIT_STR("event", "sign"), AUDIT_STR("user", big)};

	(void)state;
	assert_true(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	assert_int_equal(audit_open(path, &a, NULL), 0);
	append_std(a, 3);
	assert_int_equal(audit_sync(a), 0);
	size = file_size(path);
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	limit_file_size(size + 1024);
	assert_int_equal(audit_append(a, T0, f, 2, &seq), JIT_ERR_AUDIT_WRITE);
	append_std(a, 1); /* fits: written as seq 4 */
	assert_int_equal(audit_seq(a), 4);
	assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_WRITE);
	unlimit_file_size();
	/* The next batch starts from the durable end: seq 4 again, once. */
	append_std(a, 1);
	assert_int_equal(audit_seq(a), 4);
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
	expect_verify_ok(4);
	d = slurp(path, &len);
	assert_int_equal((off_t)len, size + (off_t)line_len(d, len, 4) + 1);
	free(d);
}

/* Before writing again the log re-reads its durable end: a change there stops it. */
static void test_recovery_checks_disk(void **state)
{
	struct audit_log *a = NULL;
	uint64_t seq = 99;
	off_t size;
	struct audit_field f[] = {AUDIT_STR("event", "sign")};

	(void)state;
	assert_true(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	assert_int_equal(audit_open(path, &a, NULL), 0);
	append_std(a, 3);
	assert_int_equal(audit_sync(a), 0);
	size = file_size(path);
	limit_file_size(size + 10);
	assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_WRITE);
	assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_WRITE);
	unlimit_file_size();
	tamper(3, "\"alice\"", 5, 'f');
	assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_CHAIN);
	assert_int_equal(audit_sync(a), JIT_ERR_AUDIT_CHAIN);
	assert_int_equal(audit_append(a, T0, f, 1, &seq), JIT_ERR_AUDIT_CHAIN);
	audit_close(a);
}

static void test_hostile_strings_json(void **state)
{
	static const char *const hostile[] = {
	        "plain",
	        "quote\"in\"side",
	        "back\\slash\\",
	        "new\nline",
	        "cr\r\nlf",
	        "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14"
	        "\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f",
	        "\xff\xfe\x80",
	        "lead\xc3",
	        "\xc0\xaf overlong",
	        "\xed\xa0\x80 surrogate",
	        "\xf4\x90\x80\x80 too high",
	        "\xc3\xbcn\xc3\xaf"
	        "c\xc3\xb8"
	        "d\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	        "\xe2\x80\xa8\xe2\x80\xa9",
	        "}\n{\"seq\":1,\"time\":\"x\"}",
	        "\\u0000 \\n \\\"",
	        "",
	};
	const size_t n = sizeof(hostile) / sizeof(hostile[0]);
	static struct audit_record rec;
	struct audit_log *a = NULL;
	char cmd[1024], *d;
	size_t i, len, lines = 0;
	int status;

	(void)state;
	assert_int_equal(audit_open(path, &a, NULL), 0);
	for (i = 0; i < n; i++) {
		struct audit_field f[] = {
		        AUDIT_STR("event", "refuse"),
		        AUDIT_STR("user", hostile[i]),
		        AUDIT_STR("reason", hostile[i]),
		};
		assert_int_equal(audit_append(a, T0, f, 3, NULL), 0);
	}
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
	expect_verify_ok(n);

	/* One record per line, and each parses back to the bytes given. */
	d = slurp(path, &len);
	for (i = 0; i < len; i++)
		if (d[i] == '\n')
			lines++;
	assert_int_equal(lines, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(audit_record_parse(d + line_at(d, len, (unsigned)i + 1),
		                                    line_len(d, len, (unsigned)i + 1), &rec, NULL,
		                                    0),
		                 0);
		assert_int_equal(rec.nfields, 3);
		assert_string_equal(rec.fields[1].s, hostile[i]);
		assert_string_equal(rec.fields[2].s, hostile[i]);
	}
	free(d);

	/* And a strict JSON parser (raw controls and invalid UTF-8 refused) reads every line. */
	assert_null(strchr(path, '\''));
	snprintf(cmd, sizeof(cmd),
	         "python3 -c 'import json,sys\n"
	         "ls = open(sys.argv[1], \"rb\").read().split(b\"\\n\")\n"
	         "assert ls[-1] == b\"\"\n"
	         "rs = [json.loads(l) for l in ls[:-1]]\n"
	         "assert len(rs) == int(sys.argv[2])\n"
	         "for i, r in enumerate(rs):\n"
	         "    assert list(r) == [\"seq\", \"time\", \"prev\", \"event\", \"user\", "
	         "\"reason\"]\n"
	         "    assert r[\"seq\"] == i + 1 and r[\"user\"] == r[\"reason\"]\n"
	         "assert rs[1][\"user\"] == \"quote\\\"in\\\"side\"\n"
	         "assert rs[3][\"user\"] == \"new\\nline\"\n"
	         "assert rs[11][\"user\"] == \"\\u00fcn\\u00efc\\u00f8d\\u00e9 \\u20ac "
	         "\\U0001f600\"\n"
	         "assert rs[13][\"user\"] == \"}\\n{\\\"seq\\\":1,\\\"time\\\":\\\"x\\\"}\"\n"
	         "' '%s' %zu",
	         path, n);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_syslog_line(void **state)
{
	struct audit_log *a = NULL;
	char out[AUDIT_SYSLOG_MAX], want[512], hash[AUDIT_HASH_HEX_SIZE];
	struct audit_field f[] = {
	        AUDIT_STR("event", "sign"),  AUDIT_STR("user", "a\"b\\c\n\xc3\xa9 d\x7f"),
	        AUDIT_U64("serial", 42),     AUDIT_BOOL("issued", 1),
	        AUDIT_BOOL("breakglass", 0),
	};

	(void)state;
	assert_int_equal(audit_open(path, &a, NULL), 0);
	assert_int_equal(audit_syslog_line(a, out, sizeof(out)), JIT_ERR_NOT_FOUND);
	assert_string_equal(out, "");
	assert_int_equal(audit_append(a, T0, f, 5, NULL), 0);
	line_hash(path, 1, hash);
	snprintf(
	        want, sizeof(want),
	        "seq=1 time=" T0_TEXT " hash=%s event=\"sign\" "
	        "user=\"a\\\"b\\\\c\\x0a\\xc3\\xa9 d\\x7f\" serial=42 issued=true breakglass=false",
	        hash);
	assert_int_equal(audit_syslog_line(a, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(audit_syslog_line(a, out, strlen(want)), JIT_ERR_NO_BUFFER_SPACE);
	assert_string_equal(out, "");
	assert_int_equal(audit_syslog_line(a, out, strlen(want) + 1), 0);
	assert_int_equal(audit_syslog_line(NULL, out, sizeof(out)), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
}

static void test_chain_check(void **state)
{
	static const uint8_t zero[AUDIT_HASH_LEN];
	struct audit_field f[] = {AUDIT_STR("event", "sign")};
	struct audit_chain c;
	char l1[AUDIT_LINE_MAX], l2[AUDIT_LINE_MAX], why[128];
	size_t n1, n2;

	(void)state;
	assert_int_equal(audit_record_format(1, T0, zero, f, 1, l1, sizeof(l1), &n1), 0);
	assert_int_equal(audit_record_format(2, T0, zero, f, 1, l2, sizeof(l2), &n2), 0);
	audit_chain_init(&c);
	assert_int_equal(audit_chain_check(&c, l2, n2, why, sizeof(why)), JIT_ERR_AUDIT_CHAIN);
	assert_string_equal(why, "seq 2, expected 1");
	assert_int_equal(audit_chain_check(&c, l1, n1, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(c.seq, 1);
	assert_int_equal(audit_chain_check(&c, l1, n1, why, sizeof(why)), JIT_ERR_AUDIT_CHAIN);
	assert_string_equal(why, "seq 1, expected 2");
	assert_int_equal(audit_chain_check(&c, l2, n2, why, sizeof(why)), JIT_ERR_AUDIT_CHAIN);
	assert_string_equal(why, "prev is not the hash of record 1");
	assert_int_equal(c.seq, 1);
	/* With the right prev it holds. */
	assert_int_equal(audit_record_format(2, T0, c.hash, f, 1, l2, sizeof(l2), &n2), 0);
	assert_int_equal(audit_chain_check(&c, l2, n2, why, sizeof(why)), 0);
	assert_int_equal(c.seq, 2);
	/* The newline is not part of the line. */
	l2[n2] = '\n';
	assert_int_equal(audit_chain_check(&c, l2, n2 + 1, why, sizeof(why)),
	                 JIT_ERR_INVALID_FORMAT);
	assert_string_equal(why, "data after '}'");
	assert_int_equal(audit_chain_check(NULL, l2, n2, why, sizeof(why)),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(audit_chain_check(&c, NULL, 1, why, sizeof(why)),
	                 JIT_ERR_INVALID_ARGUMENT);
}

struct parse_case {
	const char *tail; /* after the fixed fields of seq 1 */
	const char *why;  /* NULL: accepted */
};

#define FIXED "{\"seq\":1,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "\""

static void test_parse_rules(void **state)
{
	static const struct parse_case cases[] = {
	        {"}", NULL},
	        {",\"a\":\"x\",\"b\":0,\"c\":true,\"d\":false}", NULL},
	        {",\"a\":\"\xc3\xa9\"}", NULL},
	        {",\"a\":\"\\u00c3\"}", NULL},
	        {",\"a\":\"\\u007f\\u0001\\\"\\\\\"}", NULL},
	        {"", "after prev: no ',' or '}'"},
	        {",\"a\":\"x\"", "after field 1: no ',' or '}'"},
	        {",\"a\":1.5}", "after field 1: no ',' or '}'"},
	        {",\"a\":\"x\n\"}", "control character in a string"},
	        {",\"a\":\"x\t\"}", "control character in a string"},
	        {",\"a\":\"\\n\"}", "unsupported escape"},
	        {",\"a\":\"\\/\"}", "unsupported escape"},
	        {",\"a\":\"\\u0000\"}", "\\u escape out of range"},
	        {",\"a\":\"\\u0100\"}", "\\u escape out of range"},
	        {",\"a\":\"\\u00zz\"}", "bad \\u escape"},
	        {",\"a\":\"\\u00", "short \\u escape"},
	        {",\"a\":\"x", "unterminated string"},
	        {",\"a\":\"\\", "unterminated string"},
	        {",\"a\":\"\\u0041\"}", "not in canonical form"},
	        {",\"a\":\"\\u00C3\"}", "not in canonical form"},
	        {",\"a\":\"\\u00c3\\u00a9\"}", "not in canonical form"},
	        {",\"a\":\"\xff\"}", "not in canonical form"},
	        {",\"a\":\"\xc3\"}", "not in canonical form"},
	        {",\"a\":01}", "not in canonical form"},
	        {",\"a\":18446744073709551616}", "field 1: bad value"},
	        {",\"a\":-1}", "field 1: bad value"},
	        {",\"a\": 1}", "field 1: bad value"},
	        {",\"a\":tru}", "field 1: bad value"},
	        {",\"a\":null}", "field 1: bad value"},
	        {",\"a\":1,\"a\":2}", "field 2: duplicate name"},
	        {",\"seq\":1}", "field 1: bad name"},
	        {",\"A\":1}", "field 1: bad name"},
	        {",\"\":1}", "field 1: bad name"},
	        {",\"\\u0061\":1}", "not in canonical form"},
	        {",a:1}", "field 1: no name"},
	        {",\"a\"1}", "field 1: no ':'"},
	        {"} ", "data after '}'"},
	        {"}}", "data after '}'"},
	};
	static struct audit_record rec;
	char line[AUDIT_LINE_MAX + 8], why[128];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), FIXED "%s", cases[i].tail);
		r = audit_record_parse(line, strlen(line), &rec, why, sizeof(why));
		if (cases[i].why == NULL && r != 0)
			fail_msg("case %zu: refused: %s", i, why);
		if (cases[i].why != NULL &&
		    (r != JIT_ERR_INVALID_FORMAT || strcmp(why, cases[i].why) != 0))
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, why, cases[i].why);
	}

	/* The fixed fields. */
	static const struct parse_case fixed[] = {
	        {"{\"seq\":01,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "\"}",
	         "not in canonical form"},
	        {"{\"seq\":0,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "\"}", "seq 0"},
	        {"{\"seq\":18446744073709551616,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "\"}",
	         "no seq"},
	        {"{\"seq\": 1,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "\"}", "no seq"},
	        {"{ \"seq\":1,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "\"}", "no seq"},
	        {"{\"seq\":1,\"prev\":\"" ZEROS "\"}", "no time"},
	        {"{\"seq\":1,\"time\":\"2030-03-17T17:46:40+00:00\",\"prev\":\"" ZEROS "\"}",
	         "bad time"},
	        {"{\"seq\":1,\"time\":\"2030-02-30T00:00:00Z\",\"prev\":\"" ZEROS "\"}",
	         "bad time"},
	        {"{\"seq\":1,\"time\":\"2030-03-17T17:46:40z\",\"prev\":\"" ZEROS "\"}",
	         "not in canonical form"},
	        {"{\"seq\":1,\"time\":\"" T0_TEXT "\"}", "no prev"},
	        {"{\"seq\":1,\"time\":\"" T0_TEXT "\",\"prev\":\"00\"}", "no prev"},
	        {"{\"seq\":1,\"time\":\"" T0_TEXT "\",\"prev\":\"" ZEROS "0\"}", "bad prev"},
	        {"{\"seq\":1,\"time\":\"" T0_TEXT "\",\"prev\":\"x" ZEROS "\"}", "bad prev"},
	        {"", "no seq"},
	};
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		r = audit_record_parse(fixed[i].tail, strlen(fixed[i].tail), &rec, why,
		                       sizeof(why));
		if (r != JIT_ERR_INVALID_FORMAT || strcmp(why, fixed[i].why) != 0)
			fail_msg("fixed %zu: got %d \"%s\", want \"%s\"", i, r, why, fixed[i].why);
	}

	/* 33 fields. */
	{
		size_t off = (size_t)snprintf(line, sizeof(line), FIXED);

		for (i = 0; i <= AUDIT_FIELDS_MAX; i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, ",\"k%zu\":1", i);
		snprintf(line + off, sizeof(line) - off, "}");
		assert_int_equal(audit_record_parse(line, strlen(line), &rec, why, sizeof(why)),
		                 JIT_ERR_INVALID_FORMAT);
		assert_string_equal(why, "more than 32 fields");
	}
	memset(line, 'x', AUDIT_LINE_MAX);
	assert_int_equal(audit_record_parse(line, AUDIT_LINE_MAX, &rec, why, sizeof(why)),
	                 JIT_ERR_INVALID_FORMAT);
	assert_string_equal(why, "record longer than 8191 bytes");
	assert_int_equal(audit_record_parse(NULL, 0, &rec, why, sizeof(why)),
	                 JIT_ERR_INVALID_FORMAT);
	assert_int_equal(audit_record_parse(line, 1, NULL, why, sizeof(why)),
	                 JIT_ERR_INVALID_ARGUMENT);
}

/*
 * kill -9 under load: every record the writer had acknowledged (synced and
 * reported) is there afterwards, and the chain verifies once the log has been
 * reopened (which cuts a torn last record).
 */
static void test_kill_under_load(void **state)
{
	struct audit_log *a = NULL;
	uint64_t acked = 0, got, records = 0, bad = 0;
	struct timespec t0, t1;
	size_t dropped = 0;
	char msg[256];
	int p[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		uint64_t seq = 0;
		unsigned i;

		close(p[0]);
		alarm(60); /* never outlive a failed test */
		if (audit_open(path, &a, NULL) != 0)
			_exit(1);
		for (;;) {
			for (i = 0; i < 8; i++) {
				struct audit_field f[] = {
				        AUDIT_STR("event", "sign"),
				        AUDIT_STR("user", "alice"),
				        AUDIT_U64("serial", seq + 1),
				};
				if (audit_append(a, T0, f, 3, &seq) != 0)
					_exit(1);
			}
			if (audit_sync(a) != 0 || write(p[1], &seq, sizeof(seq)) != sizeof(seq))
				_exit(1);
		}
	}
	close(p[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		assert_int_equal(read(p[0], &got, sizeof(got)), sizeof(got));
		acked = got;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (acked < 400 && t1.tv_sec - t0.tv_sec < 20);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	while (read(p[0], &got, sizeof(got)) == sizeof(got))
		acked = got;
	close(p[0]);
	assert_true(acked >= 400);

	assert_int_equal(audit_open(path, &a, &dropped), 0);
	assert_true(audit_seq(a) >= acked);
	audit_close(a);
	assert_int_equal(audit_verify(path, &records, &bad, msg, sizeof(msg)), 0);
	assert_true(records >= acked);
	print_message("kill -9: %llu records acknowledged, %llu in the log, %zu torn bytes cut\n",
	              (unsigned long long)acked, (unsigned long long)records, dropped);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Appends in batches of group (0: never sync) for about a second; records per second. */
static double rate(struct audit_log *a, unsigned group)
{
	struct timespec t0;
	unsigned n = 0, i;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (i = 0; i < (group != 0 ? group : 256); i++) {
			struct audit_field f[] = {
			        AUDIT_STR("event", "sign"),
			        AUDIT_STR("requester", "bastion-1"),
			        AUDIT_STR("user", "alice"),
			        AUDIT_STR("principals", "alice,deploy"),
			        AUDIT_STR("ticket", "CHG-1001"),
			        AUDIT_STR("key_id", "alice ticket=CHG-1001 session=4242"),
			        AUDIT_U64("serial", audit_seq(a) + 1),
			        AUDIT_U64("valid_after", T0),
			        AUDIT_U64("valid_before", T0 + 300),
			        AUDIT_BOOL("breakglass", 0),
			        AUDIT_BOOL("issued", 1),
			};
			assert_int_equal(audit_append(a, T0, f, 11, NULL), 0);
		}
		n += i;
		if (group != 0)
			assert_int_equal(audit_sync(a), 0);
		s = seconds_since(&t0);
	} while (s < 1.0 && n < 1000000);
	return n / s;
}

static void test_throughput(void **state)
{
	struct audit_log *a = NULL;
	double none, one, eight, sixtyfour;

	(void)state;
	assert_int_equal(audit_open(path, &a, NULL), 0);
	none = rate(a, 0);
	assert_int_equal(audit_sync(a), 0);
	one = rate(a, 1);
	eight = rate(a, 8);
	sixtyfour = rate(a, 64);
	print_message("audit append: %.0f records/s without sync; with fdatasync: %.0f/s one "
	              "per record, %.0f/s per 8, %.0f/s per 64\n",
	              none, one, eight, sixtyfour);
	expect_verify_ok(audit_seq(a));
	audit_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_format_exact),
	        cmocka_unit_test(test_escaping_exact),
	        cmocka_unit_test(test_field_errors),
	        cmocka_unit_test(test_parse_rules),
	        cmocka_unit_test(test_chain_check),
	        cmocka_unit_test_setup_teardown(test_append_refusals_keep_log, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chain_verifies, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_verify_empty_and_bad_files, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tamper_value, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tamper_fixed_fields, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_delete_line, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reorder_and_replay, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_foreign_writer, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_failure_recovers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_failure_drops_batch, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_failure_then_success_in_batch, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_recovery_checks_disk, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hostile_strings_json, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syslog_line, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_kill_under_load, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
