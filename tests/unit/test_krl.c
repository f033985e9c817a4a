/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Key revocation lists, checked against OpenSSH itself: ssh-keygen -Q must
 * call exactly the revoked certificates REVOKED in the KRLs we write, its
 * listing (-Ql) must show exactly our serials, and the KRLs ssh-keygen -k
 * writes must parse back to the same sets. Keys and certificates are made
 * by ssh-keygen in a temporary directory removed at the end.
 */
#define _GNU_SOURCE /* nftw flags */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "file.h"
#include "key.h"
#include "krl.h"

#define T0      1900000000ULL /* 2030-03-17 17:46:40 UTC */
#define T0_TEXT "20300317T174640"
#define OUT_MAX (1024 * 1024)

static char dir[64];
static struct key *ca, *ca2;
static char *ca_fp;

/* Serials signed into test certificates, and the one signed with key ID "evil". */
static const uint64_t probe_serials[] = {4, 5, 6, 7, 8, 9, 10, 999, 1000, 1001};
#define EVIL_SERIAL 42

#define PATH_LEN 256

/* dir/name in one of a few rotating buffers: for arguments, not to keep. */
static char *path_of(const char *name)
{
	static char p[8][PATH_LEN];
	static unsigned next;
	char *s = p[next++ % 8];

	snprintf(s, PATH_LEN, "%s/%s", dir, name);
	return s;
}

/* dir/name into dst, which holds PATH_LEN bytes. */
static void path_to(char *dst, const char *name)
{
	snprintf(dst, PATH_LEN, "%s/%s", dir, name);
}

/* Runs argv with stdout and stderr captured in out; returns the exit status or -1. */
static int run(const char *const argv[], char *out, size_t outsz)
{
	char scratch[4096];
	size_t n = 0;
	ssize_t k;
	pid_t pid;
	int p[2], status, fd;

	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		setenv("TZ", "UTC", 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		if (n + 1 < outsz)
			k = read(p[0], out + n, outsz - 1 - n);
		else
			k = read(p[0], scratch, sizeof(scratch)); /* drain past the cap */
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (n + 1 < outsz)
			n += (size_t)k;
	}
	out[n] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void keygen(const char *const argv[])
{
	char out[4096];
	int st = run(argv, out, sizeof(out));

	if (st != 0)
		fprintf(stderr, "%s failed (%d): %s\n", argv[1], st, out);
	assert_int_equal(st, 0);
}

/* Signs a copy of user.pub with CA file caname as certificate "name-cert.pub". */
static void sign(const char *caname, const char *name, uint64_t serial, const char *id)
{
	char pub[64], zs[32], src[4096];
	FILE *f;
	size_t n;

	snprintf(pub, sizeof(pub), "%s.pub", name);
	snprintf(zs, sizeof(zs), "%" PRIu64, serial);
	assert_non_null(f = fopen(path_of("user.pub"), "r"));
	n = fread(src, 1, sizeof(src), f);
	fclose(f);
	assert_non_null(f = fopen(path_of(pub), "w"));
	assert_int_equal(fwrite(src, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	{
		const char *argv[] = {"ssh-keygen", "-q", "-s",    path_of(caname), "-I", id, "-z",
		                      zs,           "-n", "alice", path_of(pub),    NULL};
		keygen(argv);
	}
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	char name[32], id[32];
	size_t i;

	(void)state;
	strcpy(dir, "/tmp/test_krl.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	{
		const char *a1[] = {"ssh-keygen", "-q", "-t", "ed25519",     "-N", "",
		                    "-C",         "ca", "-f", path_of("ca"), NULL};
		const char *a2[] = {"ssh-keygen", "-q",  "-t", "ed25519",      "-N", "",
		                    "-C",         "ca2", "-f", path_of("ca2"), NULL};
		const char *a3[] = {"ssh-keygen", "-q",   "-t", "ed25519",       "-N", "",
		                    "-C",         "user", "-f", path_of("user"), NULL};
		keygen(a1);
		keygen(a2);
		keygen(a3);
	}
	for (i = 0; i < sizeof(probe_serials) / sizeof(probe_serials[0]); i++) {
		snprintf(name, sizeof(name), "s%" PRIu64, probe_serials[i]);
		snprintf(id, sizeof(id), "alice-%" PRIu64, probe_serials[i]);
		sign("ca", name, probe_serials[i], id);
	}
	sign("ca", "evil", EVIL_SERIAL, "evil");
	sign("ca2", "other5", 5, "alice-5"); /* serial 5 from another CA */
	if (key_load_public(path_of("ca.pub"), &ca) != 0 ||
	    key_load_public(path_of("ca2.pub"), &ca2) != 0 || key_fingerprint(ca, &ca_fp) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	key_free(ca);
	key_free(ca2);
	free(ca_fp);
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void read_all(const char *p, uint8_t **data, size_t *len)
{
	assert_int_equal(file_read(p, BUF_SIZE_MAX, 0, data, len), 0);
}

/* ssh-keygen -Q on one certificate: asserts the exact line and exit status. */
static void query(const char *krl, const char *cert, int revoked)
{
	char out[4096], want[1024];
	const char *argv[] = {"ssh-keygen", "-Q", "-f", krl, cert, NULL};

	snprintf(want, sizeof(want), "%s (user): %s\n", cert, revoked ? "REVOKED" : "ok");
	assert_int_equal(run(argv, out, sizeof(out)), revoked ? 1 : 0);
	assert_string_equal(out, want);
}

/* What ssh-keygen -Ql prints for a KRL with one CA section holding r and ids. */
static char *listing(uint64_t version, const char *date, const char *comment,
                     const struct krl_range *r, size_t n, const char *const *ids, size_t nids)
{
	char *s = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&s, &len);

	assert_non_null(f);
	fprintf(f, "# KRL version %" PRIu64 "\n# Generated at %s\n", version, date);
	if (comment != NULL && comment[0] != '\0')
		fprintf(f, "# Comment: %s\n", comment);
	fputc('\n', f);
	if (n > 0 || nids > 0) {
		fprintf(f, "\n# CA key ssh-ed25519 %s\n", ca_fp);
		for (i = 0; i < n; i++) {
			if (r[i].lo == r[i].hi)
				fprintf(f, "serial: %" PRIu64 "\n", r[i].lo);
			else
				fprintf(f, "serial: %" PRIu64 "-%" PRIu64 "\n", r[i].lo, r[i].hi);
		}
		for (i = 0; i < nids; i++)
			fprintf(f, "id: %s\n", ids[i]);
	}
	assert_int_equal(fclose(f), 0);
	return s;
}

static void assert_listing(const char *krl, const char *want)
{
	char *out = malloc(OUT_MAX);
	const char *argv[] = {"ssh-keygen", "-Q", "-l", "-f", krl, NULL};

	assert_non_null(out);
	assert_int_equal(run(argv, out, OUT_MAX), 0);
	assert_string_equal(out, want);
	free(out);
}

static void assert_ranges(const struct krl_certs *c, const struct krl_range *want, size_t n)
{
	size_t i;

	assert_int_equal(c->nserials, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(c->serials[i].lo, want[i].lo);
		assert_int_equal(c->serials[i].hi, want[i].hi);
	}
}

static const struct krl_range std_ranges[] = {{1000, 1000}, {7, 9}, {5, 5}};
static const struct krl_range std_merged[] = {{5, 5}, {7, 9}, {1000, 1000}};
static const char *const std_ids[] = {"evil"};

static void std_spec(struct krl_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->version = 7;
	s->date = T0;
	s->comment = "jit-ca test";
	s->ca = ca;
	s->serials = std_ranges;
	s->nserials = 3;
	s->key_ids = std_ids;
	s->nkey_ids = 1;
}

static struct buf *header(uint64_t version, const char *comment)
{
	struct buf *b = buf_new(BUF_SIZE_MAX);

	assert_non_null(b);
	assert_int_equal(buf_put_u64(b, KRL_MAGIC), 0);
	assert_int_equal(buf_put_u32(b, KRL_FORMAT_VERSION), 0);
	assert_int_equal(buf_put_u64(b, version), 0);
	assert_int_equal(buf_put_u64(b, T0), 0);
	assert_int_equal(buf_put_u64(b, 0), 0);
	assert_int_equal(buf_put_string(b, NULL, 0), 0);
	assert_int_equal(buf_put_cstring(b, comment), 0);
	return b;
}

/* Appends type + string(content) and frees content. */
static void section(struct buf *b, uint8_t type, struct buf *content)
{
	assert_int_equal(buf_put_u8(b, type), 0);
	assert_int_equal(buf_put_stringb(b, content), 0);
	buf_free(content);
}

/* The start of a certificates section for k (NULL: any CA). */
static struct buf *certs_start(const struct key *k)
{
	struct buf *b = buf_new(BUF_SIZE_MAX);

	assert_non_null(b);
	if (k == NULL)
		assert_int_equal(buf_put_string(b, NULL, 0), 0);
	else
		assert_int_equal(buf_put_string(b, k->blob, k->blob_len), 0);
	assert_int_equal(buf_put_string(b, NULL, 0), 0);
	return b;
}

static struct buf *u64s(size_t n, ...)
{
	struct buf *b = buf_new(BUF_SIZE_MAX);
	va_list ap;
	size_t i;

	assert_non_null(b);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_put_u64(b, va_arg(ap, uint64_t)), 0);
	va_end(ap);
	return b;
}

static struct buf *bitmap(uint64_t base, const uint8_t *mag, size_t len)
{
	struct buf *b = buf_new(BUF_SIZE_MAX);

	assert_non_null(b);
	assert_int_equal(buf_put_u64(b, base), 0);
	assert_int_equal(buf_put_bignum2_bytes(b, mag, len), 0);
	return b;
}

static int parse_buf(const struct buf *b, struct krl **k)
{
	return krl_parse(buf_ptr(b), buf_len(b), k);
}

/* Our KRL for {5, 7-9, 1000} and "evil": exact bytes, ssh-keygen -Q and -Ql. */
static void test_keygen_queries_ours(void **state)
{
	struct krl_spec s;
	struct buf *want, *sect, *sub;
	uint8_t *data = NULL, *file = NULL, mag = 0x1d; /* bits 0, 2, 3, 4: 5, 7, 8, 9 */
	size_t len = 0, flen = 0, i;
	char krl[PATH_LEN], name[32], *lst;

	(void)state;
	path_to(krl, "std.krl");
	std_spec(&s);
	assert_int_equal(krl_encode(&s, &data, &len), 0);

	/* One list (1000), one bitmap from 5, one key ID subsection. */
	want = header(7, "jit-ca test");
	sect = certs_start(ca);
	section(sect, KRL_SECTION_CERT_SERIAL_LIST, u64s(1, (uint64_t)1000));
	section(sect, KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(5, &mag, 1));
	assert_non_null(sub = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_cstring(sub, "evil"), 0);
	section(sect, KRL_SECTION_CERT_KEY_ID, sub);
	section(want, KRL_SECTION_CERTIFICATES, sect);
	assert_int_equal(len, buf_len(want));
	assert_memory_equal(data, buf_ptr(want), len);
	buf_free(want);

	assert_int_equal(krl_write(&s, krl), 0);
	read_all(krl, &file, &flen);
	assert_int_equal(flen, len);
	assert_memory_equal(file, data, len);

	for (i = 0; i < sizeof(probe_serials) / sizeof(probe_serials[0]); i++) {
		uint64_t z = probe_serials[i];

		snprintf(name, sizeof(name), "s%" PRIu64 "-cert.pub", z);
		query(krl, path_of(name), z == 5 || (z >= 7 && z <= 9) || z == 1000);
	}
	query(krl, path_of("evil-cert.pub"), 1);
	query(krl, path_of("other5-cert.pub"), 0);

	lst = listing(7, T0_TEXT, "jit-ca test", std_merged, 3, std_ids, 1);
	assert_listing(krl, lst);
	free(lst);
	free(data);
	free(file);
}

/* ssh-keygen -k output for the same revocations parses to the same sets. */
static void test_keygen_made_parses(void **state)
{
	const char *spec = "serial: 5\nserial: 7-9\nserial: 1000\nid: evil\n";
	char krl[PATH_LEN], specp[PATH_LEN], capub[PATH_LEN];
	const char *argv[] = {"ssh-keygen", "-k", "-f", krl, "-s", capub, specp, NULL};
	struct krl *k = NULL;
	uint8_t *data = NULL;
	size_t len = 0, i;
	FILE *f;

	(void)state;
	path_to(krl, "kg.krl");
	path_to(specp, "kg.spec");
	path_to(capub, "ca.pub");
	assert_non_null(f = fopen(specp, "w"));
	fputs(spec, f);
	assert_int_equal(fclose(f), 0);
	keygen(argv);
	read_all(krl, &data, &len);
	assert_int_equal(krl_parse(data, len, &k), 0);
	assert_int_equal(k->version, 0);
	assert_string_equal(k->comment, "");
	assert_int_equal(k->flags, 0);
	assert_int_equal(k->nplain, 0);
	assert_int_equal(k->ncerts, 1);
	assert_true(key_equal_public(k->certs[0].ca, ca));
	assert_ranges(&k->certs[0], std_merged, 3);
	assert_int_equal(k->certs[0].nkey_ids, 1);
	assert_string_equal(k->certs[0].key_ids[0], "evil");

	/* The lookup agrees with what ssh-keygen -Q said of our KRL. */
	for (i = 0; i < sizeof(probe_serials) / sizeof(probe_serials[0]); i++) {
		uint64_t z = probe_serials[i];

		assert_int_equal(krl_cert_revoked(k, ca, z, "alice"),
		                 z == 5 || (z >= 7 && z <= 9) || z == 1000);
	}
	assert_int_equal(krl_cert_revoked(k, ca, EVIL_SERIAL, "evil"), 1);
	assert_int_equal(krl_cert_revoked(k, ca2, 5, "evil"), 0);
	krl_free(k);
	free(data);
}

/* ssh-keygen's range and bitmap subsections, and its plain-key sections. */
static void test_keygen_made_sections(void **state)
{
	char krl[PATH_LEN], specp[PATH_LEN], capub[PATH_LEN];
	const char *argv[] = {"ssh-keygen", "-k", "-f", krl, "-s", capub, specp, NULL};
	struct krl_range want[100];
	struct krl *k = NULL;
	uint8_t *data = NULL, *pub = NULL;
	size_t len = 0, plen = 0, n = 0, i;
	char *fp2 = NULL;
	FILE *f;

	(void)state;
	path_to(krl, "kg2.krl");
	path_to(specp, "kg2.spec");
	path_to(capub, "ca.pub");
	read_all(path_of("user.pub"), &pub, &plen);
	assert_non_null(f = fopen(specp, "w"));
	fprintf(f, "serial: 1-100000\nserial: 100002\nid: b\nid: a\nid: b\n");
	want[n++] = (struct krl_range){1, 100000};
	want[n++] = (struct krl_range){100002, 100002};
	for (i = 0; i < 50; i++) {
		fprintf(f, "serial: %zu\n", 200001 + 2 * i);
		want[n++] = (struct krl_range){200001 + 2 * i, 200001 + 2 * i};
	}
	fprintf(f, "serial: 18446744073709551610-18446744073709551615\n");
	want[n++] = (struct krl_range){UINT64_MAX - 5, UINT64_MAX};
	/* A plain key, a "key:" line and a hash: explicit and SHA256 sections. */
	fwrite(pub, 1, plen, f);
	fprintf(f, "key: %s", (const char *)pub);
	assert_int_equal(key_fingerprint(ca2, &fp2), 0);
	fprintf(f, "hash: %s\n", fp2);
	free(fp2);
	assert_int_equal(fclose(f), 0);
	keygen(argv);
	read_all(krl, &data, &len);
	assert_int_equal(krl_parse(data, len, &k), 0);
	assert_int_equal(k->ncerts, 1);
	assert_ranges(&k->certs[0], want, n);
	assert_int_equal(k->certs[0].nkey_ids, 2);
	assert_string_equal(k->certs[0].key_ids[0], "a");
	assert_string_equal(k->certs[0].key_ids[1], "b");
	/* user.pub twice (one explicit key for ssh-keygen) and ca2's hash. */
	assert_int_equal(k->nplain, 2);
	krl_free(k);
	free(data);
	free(pub);
}

static void test_empty(void **state)
{
	struct krl_spec s;
	struct krl *k = NULL;
	struct buf *want;
	uint8_t *data = NULL;
	size_t len = 0;
	char krl[PATH_LEN], *lst;

	(void)state;
	path_to(krl, "empty.krl");
	memset(&s, 0, sizeof(s));
	s.version = 1;
	s.date = T0;
	s.ca = ca;
	assert_int_equal(krl_encode(&s, &data, &len), 0);
	want = header(1, "");
	assert_int_equal(len, buf_len(want));
	assert_memory_equal(data, buf_ptr(want), len);
	buf_free(want);

	assert_int_equal(krl_parse(data, len, &k), 0);
	assert_int_equal(k->version, 1);
	assert_int_equal(k->date, T0);
	assert_string_equal(k->comment, "");
	assert_int_equal(k->ncerts, 0);
	assert_null(k->certs);
	assert_int_equal(krl_cert_revoked(k, ca, 5, "evil"), 0);
	krl_free(k);

	assert_int_equal(krl_write(&s, krl), 0);
	query(krl, path_of("s5-cert.pub"), 0);
	query(krl, path_of("evil-cert.pub"), 0);
	lst = listing(1, T0_TEXT, NULL, NULL, 0, NULL, 0);
	assert_listing(krl, lst);
	free(lst);
	free(data);
}

/* Walks our encoding: the subsection types of the one certificates section. */
static size_t subsection_types(const uint8_t *data, size_t len, uint8_t *types, size_t max)
{
	struct buf *b = buf_from(data, len), *sect = NULL, *sub = NULL;
	uint8_t t;
	size_t n = 0;

	assert_non_null(b);
	assert_int_equal(buf_consume(b, 8 + 4 + 8 + 8 + 8), 0);
	assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0);
	assert_int_equal(buf_get_string_direct(b, NULL, NULL), 0);
	assert_int_equal(buf_get_u8(b, &t), 0);
	assert_int_equal(t, KRL_SECTION_CERTIFICATES);
	assert_int_equal(buf_froms(b, &sect), 0);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(buf_get_string_direct(sect, NULL, NULL), 0);
	assert_int_equal(buf_get_string_direct(sect, NULL, NULL), 0);
	while (buf_len(sect) > 0) {
		assert_true(n < max);
		assert_int_equal(buf_get_u8(sect, &types[n++]), 0);
		assert_int_equal(buf_froms(sect, &sub), 0);
		buf_free(sub);
	}
	buf_free(sect);
	buf_free(b);
	return n;
}

/*
 * Every encoding, including a bitmap of exactly KRL_BITMAP_MAX_BITS with its
 * top bit set (a 2049-byte mpint) and serials up to 2^64-1, read by OpenSSH.
 */
static void test_sections_keygen_listing(void **state)
{
	const uint8_t want_types[] = {
	        KRL_SECTION_CERT_SERIAL_LIST,   /* 416390, 1000000, 2000000, 3000000-3000001 */
	        KRL_SECTION_CERT_SERIAL_BITMAP, /* 1, 3, 5-6 */
	        KRL_SECTION_CERT_SERIAL_RANGE,  /* 100-100000 */
	        KRL_SECTION_CERT_SERIAL_BITMAP, /* 400000, every 4th, 416383 */
	        KRL_SECTION_CERT_SERIAL_BITMAP, /* 500000-500002 */
	        KRL_SECTION_CERT_SERIAL_RANGE,  /* 600000-600100 */
	        KRL_SECTION_CERT_SERIAL_BITMAP, /* 2^64-101 .. 2^64-1 */
	        KRL_SECTION_CERT_KEY_ID,
	};
	const char *const ids[] = {"evil", "alice ticket=CHG-1", "evil"};
	const char *const ids_sorted[] = {"alice ticket=CHG-1", "evil"};
	struct krl_range *in, *want;
	struct krl_spec s;
	struct krl *k = NULL;
	uint8_t *data = NULL, types[16];
	size_t len = 0, nin = 0, nwant = 0, i;
	char krl[PATH_LEN], *lst;

	(void)state;
	path_to(krl, "all.krl");
	assert_non_null(in = calloc(8192, sizeof(*in)));
	assert_non_null(want = calloc(8192, sizeof(*want)));
#define BOTH(a, b)                                                                                 \
	do {                                                                                       \
		in[nin++] = (struct krl_range){(a), (b)};                                          \
		want[nwant++] = (struct krl_range){(a), (b)};                                      \
	} while (0)
	/* Given out of order, overlapping, adjacent: the encoder normalizes. */
	in[nin++] = (struct krl_range){3000001, 3000001};
	in[nin++] = (struct krl_range){3000000, 3000000};
	in[nin++] = (struct krl_range){200, 100000};
	in[nin++] = (struct krl_range){100, 300};
	in[nin++] = (struct krl_range){6, 6};
	BOTH(1, 1);
	BOTH(3, 3);
	in[nin++] = (struct krl_range){5, 5};
	want[nwant++] = (struct krl_range){5, 6};
	want[nwant++] = (struct krl_range){100, 100000};
	for (i = 400000; i <= 416380; i += 4)
		BOTH(i, i);
	BOTH(416383, 416383);
	BOTH(416390, 416390);
	BOTH(500000, 500002);
	BOTH(600000, 600100);
	BOTH(1000000, 1000000);
	BOTH(2000000, 2000000);
	want[nwant++] = (struct krl_range){3000000, 3000001};
	for (i = 0; i <= 20; i++)
		BOTH(UINT64_MAX - 100 + 2 * i, UINT64_MAX - 100 + 2 * i);
	BOTH(UINT64_MAX - 5, UINT64_MAX);
#undef BOTH

	memset(&s, 0, sizeof(s));
	s.version = UINT64_MAX;
	s.date = T0;
	s.comment = "all sections";
	s.ca = ca;
	s.serials = in;
	s.nserials = nin;
	s.key_ids = ids;
	s.nkey_ids = 3;
	assert_int_equal(krl_encode(&s, &data, &len), 0);
	assert_int_equal(subsection_types(data, len, types, sizeof(types)), sizeof(want_types));
	assert_memory_equal(types, want_types, sizeof(want_types));

	assert_int_equal(krl_parse(data, len, &k), 0);
	assert_int_equal(k->version, UINT64_MAX);
	assert_string_equal(k->comment, "all sections");
	assert_int_equal(k->ncerts, 1);
	assert_ranges(&k->certs[0], want, nwant);
	assert_int_equal(k->certs[0].nkey_ids, 2);
	assert_string_equal(k->certs[0].key_ids[0], ids_sorted[0]);
	assert_string_equal(k->certs[0].key_ids[1], ids_sorted[1]);
	krl_free(k);

	assert_int_equal(krl_write(&s, krl), 0);
	lst = listing(UINT64_MAX, T0_TEXT, "all sections", want, nwant, ids_sorted, 2);
	assert_listing(krl, lst);
	free(lst);
	query(krl, path_of("s4-cert.pub"), 0);
	query(krl, path_of("s5-cert.pub"), 1);
	query(krl, path_of("s6-cert.pub"), 1);
	query(krl, path_of("s7-cert.pub"), 0);
	query(krl, path_of("s999-cert.pub"), 1);
	query(krl, path_of("evil-cert.pub"), 1);
	free(data);
	free(in);
	free(want);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int naive_in(const struct krl_range *r, size_t n, uint64_t s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].lo <= s && s <= r[i].hi)
			return 1;
	return 0;
}

/* A random set of clustered serials: singles, short runs, long ranges, the top end. */
static size_t random_ranges(struct krl_range *r, size_t max)
{
	size_t n = 1 + rnd() % max, i;
	uint64_t base, len, region[3] = {1, 1 + rnd() % (1ULL << 40), UINT64_MAX - 200000};

	for (i = 0; i < n; i++) {
		base = region[rnd() % 3] + rnd() % 20000;
		switch (rnd() % 10) {
		case 0:
			len = rnd() % 100000;
			break;
		case 1:
		case 2:
			len = rnd() % 10;
			break;
		default:
			len = 0;
		}
		if (len > UINT64_MAX - base)
			len = UINT64_MAX - base;
		r[i] = (struct krl_range){base, base + len};
	}
	return n;
}

/* Random sets: lookups on every boundary agree with the input; OpenSSH agrees too. */
static void test_random_round_trip(void **state)
{
	struct krl_range in[64], probe;
	struct krl_spec s;
	struct krl *k = NULL;
	uint8_t *data = NULL, *again = NULL;
	size_t len = 0, alen = 0, n, i, j, iter;
	uint64_t p[4];
	char *lst, name[32];

	(void)state;
	for (iter = 0; iter < 300; iter++) {
		n = random_ranges(in, 64);
		memset(&s, 0, sizeof(s));
		s.version = iter;
		s.date = T0;
		s.ca = ca;
		s.serials = in;
		s.nserials = n;
		assert_int_equal(krl_encode(&s, &data, &len), 0);
		assert_int_equal(krl_parse(data, len, &k), 0);
		assert_int_equal(k->ncerts, 1);
		for (i = 0; i < k->certs[0].nserials; i++) {
			probe = k->certs[0].serials[i];
			assert_true(probe.lo >= 1 && probe.lo <= probe.hi);
			if (i > 0)
				assert_true(probe.lo > k->certs[0].serials[i - 1].hi + 1);
		}
		for (i = 0; i < n; i++) {
			p[0] = in[i].lo - 1;
			p[1] = in[i].lo;
			p[2] = in[i].hi;
			p[3] = in[i].hi == UINT64_MAX ? in[i].hi : in[i].hi + 1;
			for (j = 0; j < 4; j++)
				assert_int_equal(krl_cert_revoked(k, ca, p[j], NULL),
				                 p[j] != 0 && naive_in(in, n, p[j]));
		}
		/* The normalized set encodes to the same bytes. */
		s.serials = k->certs[0].serials;
		s.nserials = k->certs[0].nserials;
		assert_int_equal(krl_encode(&s, &again, &alen), 0);
		assert_int_equal(alen, len);
		assert_memory_equal(again, data, len);
		if (iter < 3) {
			snprintf(name, sizeof(name), "rand%zu.krl", iter);
			assert_int_equal(krl_write(&s, path_of(name)), 0);
			lst = listing(iter, T0_TEXT, NULL, k->certs[0].serials,
			              k->certs[0].nserials, NULL, 0);
			assert_listing(path_of(name), lst);
			free(lst);
		}
		krl_free(k);
		k = NULL;
		free(data);
		free(again);
		data = again = NULL;
	}
}

static void test_encode_refusals(void **state)
{
	const struct krl_range zero = {0, 5}, inverted = {9, 7};
	const char *const empty_id[] = {""}, *const ctl_id[] = {"evil\nserial: 1"};
	const char *const null_id[] = {NULL};
	struct krl_spec s;
	uint8_t *data = (uint8_t *)"x";
	size_t len = 99;

	(void)state;
	std_spec(&s);
	s.ca = NULL;
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_INVALID_ARGUMENT);
	assert_null(data);
	assert_int_equal(len, 0);
	assert_int_equal(krl_encode(NULL, &data, &len), JIT_ERR_INVALID_ARGUMENT);
	std_spec(&s);
	assert_int_equal(krl_encode(&s, NULL, &len), JIT_ERR_INVALID_ARGUMENT);
	s.serials = &zero;
	s.nserials = 1;
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_INVALID_ARGUMENT);
	s.serials = &inverted;
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_INVALID_ARGUMENT);
	s.serials = NULL;
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_INVALID_ARGUMENT);
	std_spec(&s);
	s.key_ids = empty_id;
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_INVALID_ARGUMENT);
	s.key_ids = null_id;
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_INVALID_ARGUMENT);
	s.key_ids = ctl_id;
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_BAD_CHARACTER);
	std_spec(&s);
	s.comment = "tab\there";
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_BAD_CHARACTER);
	s.comment = "del\x7f";
	assert_int_equal(krl_encode(&s, &data, &len), JIT_ERR_BAD_CHARACTER);
	assert_null(data);
	assert_int_equal(len, 0);
	std_spec(&s);
	assert_int_equal(krl_write(&s, NULL), JIT_ERR_INVALID_ARGUMENT);
}

/* A KRL of one certificates section for ca holding one subsection. */
static int parse_one_sub(uint8_t type, struct buf *content, struct krl **k)
{
	struct buf *b = header(1, ""), *sect = certs_start(ca);
	int r;

	section(sect, type, content);
	section(b, KRL_SECTION_CERTIFICATES, sect);
	r = parse_buf(b, k);
	buf_free(b);
	return r;
}

static void test_parse_rules(void **state)
{
	const uint8_t m81[] = {0x81}, m1[] = {0x01}, m5[] = {0x05}, m4[] = {0x04}, m2[] = {0x02};
	const uint8_t neg[] = {0x00, 0x00, 0x00, 0x01, 0x80};
	struct krl_range want[3];
	struct buf *b, *sub;
	struct krl *k = NULL;
	uint8_t *big;

	(void)state;
	/* A bitmap: bit N is base + N. */
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(100, m81, 1), &k), 0);
	want[0] = (struct krl_range){100, 100};
	want[1] = (struct krl_range){107, 107};
	assert_ranges(&k->certs[0], want, 2);
	krl_free(k);
	/* An empty bitmap and an empty list revoke nothing. */
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(100, NULL, 0), &k),
	                 0);
	assert_int_equal(k->ncerts, 1);
	assert_int_equal(k->certs[0].nserials, 0);
	krl_free(k);
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_LIST, u64s(0), &k), 0);
	krl_free(k);
	/* Serial 2^64-1 is fine; one past it is not. */
	assert_int_equal(
	        parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(UINT64_MAX, m1, 1), &k), 0);
	want[0] = (struct krl_range){UINT64_MAX, UINT64_MAX};
	assert_ranges(&k->certs[0], want, 1);
	krl_free(k);
	/* Bits past 2^64-1 would wrap to small serials (here 1); a clear bit 0 or not. */
	assert_int_equal(
	        parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(UINT64_MAX, m5, 1), &k),
	        JIT_ERR_KRL_INVALID);
	assert_int_equal(
	        parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(UINT64_MAX - 1, m4, 1), &k),
	        JIT_ERR_KRL_INVALID);
	assert_null(k);
	/* Serial 0 in every form. */
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(0, m1, 1), &k),
	                 JIT_ERR_KRL_INVALID);
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(0, m2, 1), &k), 0);
	want[0] = (struct krl_range){1, 1};
	assert_ranges(&k->certs[0], want, 1);
	krl_free(k);
	assert_int_equal(
	        parse_one_sub(KRL_SECTION_CERT_SERIAL_LIST, u64s(2, (uint64_t)3, (uint64_t)0), &k),
	        JIT_ERR_KRL_INVALID);
	assert_int_equal(
	        parse_one_sub(KRL_SECTION_CERT_SERIAL_RANGE, u64s(2, (uint64_t)0, (uint64_t)5), &k),
	        JIT_ERR_KRL_INVALID);
	/* An inverted range. */
	assert_int_equal(
	        parse_one_sub(KRL_SECTION_CERT_SERIAL_RANGE, u64s(2, (uint64_t)9, (uint64_t)7), &k),
	        JIT_ERR_KRL_INVALID);
	/* Leftover bytes inside a subsection; a short one. */
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_RANGE,
	                               u64s(3, (uint64_t)7, (uint64_t)9, (uint64_t)1), &k),
	                 JIT_ERR_TRAILING_DATA);
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_RANGE, u64s(1, (uint64_t)7), &k),
	                 JIT_ERR_MESSAGE_INCOMPLETE);
	assert_non_null(sub = buf_new(16));
	assert_int_equal(buf_put_u32(sub, 7), 0);
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_LIST, sub, &k),
	                 JIT_ERR_MESSAGE_INCOMPLETE);
	/* A negative bitmap; one larger than OpenSSH's mpint cap. */
	assert_non_null(sub = buf_new(64));
	assert_int_equal(buf_put_u64(sub, 1), 0);
	assert_int_equal(buf_put(sub, neg, sizeof(neg)), 0);
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP, sub, &k),
	                 JIT_ERR_BIGNUM_INVALID);
	assert_non_null(big = calloc(1, KRL_BITMAP_MAX_BYTES + 1));
	big[0] = 1;
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP,
	                               bitmap(1, big, KRL_BITMAP_MAX_BYTES + 1), &k),
	                 JIT_ERR_BIGNUM_TOO_LARGE);
	big[0] = 0x80;
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_SERIAL_BITMAP,
	                               bitmap(1, big, KRL_BITMAP_MAX_BYTES), &k),
	                 0);
	assert_int_equal(k->certs[0].nserials, 1);
	assert_int_equal(k->certs[0].serials[0].lo, 1 + KRL_BITMAP_MAX_BITS - 1);
	krl_free(k);
	free(big);
	/* A key ID with a NUL. */
	assert_non_null(sub = buf_new(64));
	assert_int_equal(buf_put_string(sub, "ev\0il", 5), 0);
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_KEY_ID, sub, &k), JIT_ERR_EMBEDDED_NUL);
	/* Unknown and extension subsections. */
	assert_int_equal(parse_one_sub(0x24, u64s(0), &k), JIT_ERR_KRL_INVALID);
	assert_int_equal(parse_one_sub(KRL_SECTION_CERT_EXTENSION, u64s(0), &k),
	                 JIT_ERR_KRL_INVALID);
	assert_null(k);

	/* A bad CA key: the key parser's code. */
	b = header(1, "");
	assert_non_null(sub = buf_new(64));
	assert_int_equal(buf_put_u32(sub, 11), 0);
	assert_int_equal(buf_put_cstring(sub, "ssh-foo"), 0);
	assert_int_equal(buf_put_string(sub, NULL, 0), 0);
	section(b, KRL_SECTION_CERTIFICATES, sub);
	assert_int_equal(parse_buf(b, &k), JIT_ERR_KEY_TYPE_UNKNOWN);
	buf_free(b);
	/* A certificates section cut after the CA. */
	b = header(1, "");
	assert_non_null(sub = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_string(sub, ca->blob, ca->blob_len), 0);
	section(b, KRL_SECTION_CERTIFICATES, sub);
	assert_int_equal(parse_buf(b, &k), JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	assert_null(k);
}

static void test_parse_header_and_sections(void **state)
{
	const uint8_t sha1[20] = {0}, sha256[32] = {0};
	struct buf *b, *sub;
	struct krl *k = NULL;
	int type;

	(void)state;
	/* Bad magic, bad format version, short header, NUL in the comment. */
	b = header(1, "");
	((uint8_t *)buf_ptr(b))[7] = 1;
	assert_int_equal(parse_buf(b, &k), JIT_ERR_KRL_INVALID);
	((uint8_t *)buf_ptr(b))[7] = 0;
	((uint8_t *)buf_ptr(b))[11] = 2;
	assert_int_equal(parse_buf(b, &k), JIT_ERR_KRL_INVALID);
	assert_int_equal(krl_parse(buf_ptr(b), 7, &k), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(krl_parse(NULL, 0, &k), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(krl_parse(NULL, 5, &k), JIT_ERR_INVALID_ARGUMENT);
	buf_free(b);
	assert_non_null(b = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_u64(b, KRL_MAGIC), 0);
	assert_int_equal(buf_put_u32(b, 1), 0);
	assert_int_equal(buf_put(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24), 0);
	assert_int_equal(buf_put_string(b, NULL, 0), 0);
	assert_int_equal(buf_put_string(b, "a\0b", 3), 0);
	assert_int_equal(parse_buf(b, &k), JIT_ERR_EMBEDDED_NUL);
	buf_free(b);
	assert_null(k);

	/* Signature, extension and unknown sections. */
	for (type = 0; type < 256; type++) {
		if (type >= KRL_SECTION_CERTIFICATES && type <= KRL_SECTION_FINGERPRINT_SHA256 &&
		    type != KRL_SECTION_SIGNATURE)
			continue;
		b = header(1, "");
		section(b, (uint8_t)type, u64s(0));
		assert_int_equal(parse_buf(b, &k), JIT_ERR_KRL_INVALID);
		buf_free(b);
	}

	/* Plain-key sections are counted; fingerprints must have their length. */
	b = header(1, "");
	assert_non_null(sub = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_string(sub, ca->blob, ca->blob_len), 0);
	assert_int_equal(buf_put_string(sub, ca2->blob, ca2->blob_len), 0);
	section(b, KRL_SECTION_EXPLICIT_KEY, sub);
	assert_non_null(sub = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_string(sub, sha1, sizeof(sha1)), 0);
	section(b, KRL_SECTION_FINGERPRINT_SHA1, sub);
	assert_non_null(sub = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_string(sub, sha256, sizeof(sha256)), 0);
	section(b, KRL_SECTION_FINGERPRINT_SHA256, sub);
	assert_int_equal(parse_buf(b, &k), 0);
	assert_int_equal(k->nplain, 4);
	assert_int_equal(k->ncerts, 0);
	krl_free(k);
	assert_non_null(sub = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_string(sub, sha256, sizeof(sha256)), 0);
	section(b, KRL_SECTION_FINGERPRINT_SHA1, sub);
	assert_int_equal(parse_buf(b, &k), JIT_ERR_KRL_INVALID);
	buf_free(b);
	b = header(1, "");
	assert_non_null(sub = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put_string(sub, sha1, sizeof(sha1)), 0);
	assert_int_equal(buf_put_u8(sub, 0), 0);
	section(b, KRL_SECTION_FINGERPRINT_SHA1, sub);
	assert_int_equal(parse_buf(b, &k), JIT_ERR_MESSAGE_INCOMPLETE);
	buf_free(b);
	assert_null(k);
}

/*
 * The format allows unsorted and overlapping serials, repeated sections for
 * one CA and a section for any CA: OpenSSH merges them, and so do we.
 */
static void test_parse_merges(void **state)
{
	const struct krl_range want[] = {{2, 6}, {9, 9}};
	const uint8_t m09[] = {0x09}; /* bits 0, 3: 3, 6 */
	struct buf *b = header(3, "merge"), *sect, *sub;
	char krl[PATH_LEN], *out;
	const char *argv[] = {"ssh-keygen", "-Q", "-l", "-f", krl, NULL};
	struct krl *k = NULL;
	FILE *f;

	(void)state;
	path_to(krl, "merge.krl");
	sect = certs_start(ca);
	section(sect, KRL_SECTION_CERT_SERIAL_LIST, u64s(3, (uint64_t)9, (uint64_t)3, (uint64_t)4));
	section(sect, KRL_SECTION_CERT_SERIAL_RANGE, u64s(2, (uint64_t)2, (uint64_t)5));
	assert_non_null(sub = buf_new(64));
	assert_int_equal(buf_put_cstring(sub, "z"), 0);
	assert_int_equal(buf_put_cstring(sub, "a"), 0);
	assert_int_equal(buf_put_cstring(sub, "z"), 0);
	section(sect, KRL_SECTION_CERT_KEY_ID, sub);
	section(b, KRL_SECTION_CERTIFICATES, sect);
	sect = certs_start(NULL);
	assert_non_null(sub = buf_new(64));
	assert_int_equal(buf_put_cstring(sub, "wild"), 0);
	section(sect, KRL_SECTION_CERT_KEY_ID, sub);
	section(b, KRL_SECTION_CERTIFICATES, sect);
	sect = certs_start(ca);
	section(sect, KRL_SECTION_CERT_SERIAL_BITMAP, bitmap(3, m09, 1));
	section(b, KRL_SECTION_CERTIFICATES, sect);
	sect = certs_start(ca2);
	section(b, KRL_SECTION_CERTIFICATES, sect); /* empty, still an entry */

	assert_int_equal(parse_buf(b, &k), 0);
	assert_int_equal(k->ncerts, 3);
	assert_true(key_equal_public(k->certs[0].ca, ca));
	assert_ranges(&k->certs[0], want, 2);
	assert_int_equal(k->certs[0].nkey_ids, 2);
	assert_string_equal(k->certs[0].key_ids[0], "a");
	assert_string_equal(k->certs[0].key_ids[1], "z");
	assert_null(k->certs[1].ca);
	assert_int_equal(k->certs[1].nserials, 0);
	assert_int_equal(k->certs[1].nkey_ids, 1);
	assert_true(key_equal_public(k->certs[2].ca, ca2));
	assert_int_equal(k->certs[2].nserials, 0);
	assert_int_equal(k->certs[2].nkey_ids, 0);

	/* Lookups: per CA, any CA, serial 0, boundaries. */
	assert_int_equal(krl_cert_revoked(k, ca, 1, NULL), 0);
	assert_int_equal(krl_cert_revoked(k, ca, 2, NULL), 1);
	assert_int_equal(krl_cert_revoked(k, ca, 6, NULL), 1);
	assert_int_equal(krl_cert_revoked(k, ca, 7, NULL), 0);
	assert_int_equal(krl_cert_revoked(k, ca, 9, "x"), 1);
	assert_int_equal(krl_cert_revoked(k, ca, 10, "x"), 0);
	assert_int_equal(krl_cert_revoked(k, ca, 0, "a"), 1);
	assert_int_equal(krl_cert_revoked(k, ca, 0, "b"), 0);
	assert_int_equal(krl_cert_revoked(k, ca2, 2, "a"), 0);
	assert_int_equal(krl_cert_revoked(k, ca2, 2, "wild"), 1);
	assert_int_equal(krl_cert_revoked(k, NULL, 2, "wild"), 1);
	assert_int_equal(krl_cert_revoked(k, NULL, 2, "a"), 0);
	assert_int_equal(krl_cert_revoked(NULL, ca, 2, "a"), 0);
	krl_free(k);

	/* OpenSSH reads the same bytes to the same sets. */
	assert_non_null(f = fopen(krl, "w"));
	assert_int_equal(fwrite(buf_ptr(b), 1, buf_len(b), f), buf_len(b));
	assert_int_equal(fclose(f), 0);
	assert_non_null(out = malloc(OUT_MAX));
	assert_int_equal(run(argv, out, OUT_MAX), 0);
	{
		char want_text[1024];

		snprintf(want_text, sizeof(want_text),
		         "# KRL version 3\n# Generated at %s\n# Comment: merge\n\n"
		         "\n# CA key ssh-ed25519 %s\nserial: 2-6\nserial: 9\nid: a\nid: z\n"
		         "\n# Wildcard CA\nid: wild\n",
		         T0_TEXT, ca_fp);
		assert_string_equal(out, want_text);
	}
	free(out);
	buf_free(b);
}

/* Every cut of a KRL fails as truncated, except at a section boundary. */
static void test_truncation_and_trailing(void **state)
{
	struct krl_spec s;
	struct krl *k = NULL;
	struct buf *hdr = header(7, "jit-ca test"), *b;
	uint8_t *data = NULL;
	size_t len = 0, cut;

	(void)state;
	std_spec(&s);
	assert_int_equal(krl_encode(&s, &data, &len), 0);
	for (cut = 0; cut < len; cut++) {
		if (cut == buf_len(hdr)) {
			assert_int_equal(krl_parse(data, cut, &k), 0);
			assert_int_equal(k->ncerts, 0);
			krl_free(k);
			k = NULL;
			continue;
		}
		assert_int_equal(krl_parse(data, cut, &k), JIT_ERR_MESSAGE_INCOMPLETE);
		assert_null(k);
	}
	/* One byte more: a section type with no section. */
	assert_non_null(b = buf_new(BUF_SIZE_MAX));
	assert_int_equal(buf_put(b, data, len), 0);
	assert_int_equal(buf_put_u8(b, KRL_SECTION_CERTIFICATES), 0);
	assert_int_equal(parse_buf(b, &k), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_null(k);
	buf_free(b);
	buf_free(hdr);
	free(data);
}

static void test_limits(void **state)
{
	struct key *extra[KRL_CAS_MAX + 1];
	struct buf *b, *sect;
	struct krl *k = NULL;
	uint8_t *mag;
	size_t i;

	(void)state;
	/* KRL_CAS_MAX distinct CAs parse; one more does not. */
	b = header(1, "");
	for (i = 0; i <= KRL_CAS_MAX; i++) {
		assert_int_equal(key_generate(KEY_ED25519, 0, &extra[i]), 0);
		sect = certs_start(extra[i]);
		section(sect, KRL_SECTION_CERT_SERIAL_LIST, u64s(1, (uint64_t)i + 1));
		if (i == KRL_CAS_MAX) {
			assert_int_equal(parse_buf(b, &k), 0);
			assert_int_equal(k->ncerts, KRL_CAS_MAX);
			assert_int_equal(krl_cert_revoked(k, extra[5], 6, NULL), 1);
			assert_int_equal(krl_cert_revoked(k, extra[5], 5, NULL), 0);
			krl_free(k);
			k = NULL;
		}
		section(b, KRL_SECTION_CERTIFICATES, sect);
	}
	assert_int_equal(parse_buf(b, &k), JIT_ERR_NO_BUFFER_SPACE);
	assert_null(k);
	buf_free(b);
	for (i = 0; i <= KRL_CAS_MAX; i++)
		key_free(extra[i]);

	/* Bitmaps of alternate bits: 8192 ranges each; KRL_RANGES_MAX is 128 of them. */
	assert_non_null(mag = malloc(KRL_BITMAP_MAX_BYTES));
	memset(mag, 0x55, KRL_BITMAP_MAX_BYTES);
	sect = certs_start(ca);
	for (i = 0; i < KRL_RANGES_MAX / (KRL_BITMAP_MAX_BITS / 2); i++)
		section(sect, KRL_SECTION_CERT_SERIAL_BITMAP,
		        bitmap(1 + (uint64_t)i * KRL_BITMAP_MAX_BITS, mag, KRL_BITMAP_MAX_BYTES));
	b = header(1, "");
	assert_int_equal(buf_put_u8(b, KRL_SECTION_CERTIFICATES), 0);
	assert_int_equal(buf_put_stringb(b, sect), 0);
	assert_int_equal(parse_buf(b, &k), 0);
	assert_int_equal(k->certs[0].nserials, KRL_RANGES_MAX);
	assert_int_equal(k->certs[0].serials[KRL_RANGES_MAX - 1].lo,
	                 (uint64_t)KRL_RANGES_MAX * 2 - 1);
	krl_free(k);
	k = NULL;
	buf_free(b);
	section(sect, KRL_SECTION_CERT_SERIAL_LIST, u64s(1, (uint64_t)UINT64_MAX));
	b = header(1, "");
	section(b, KRL_SECTION_CERTIFICATES, sect);
	assert_int_equal(parse_buf(b, &k), JIT_ERR_NO_BUFFER_SPACE);
	assert_null(k);
	buf_free(b);
	free(mag);
}

static int dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* krl_write replaces atomically with mode 0644; a failed write leaves the old file. */
static void test_write_atomic(void **state)
{
	struct krl_spec s;
	struct stat st;
	uint8_t *old = NULL, *now = NULL, *want = NULL;
	size_t olen = 0, nlen = 0, wlen = 0;
	char krl[PATH_LEN];
	int before, status;
	pid_t pid;

	(void)state;
	path_to(krl, "atomic.krl");
	memset(&s, 0, sizeof(s));
	s.version = 1;
	s.date = T0;
	s.ca = ca;
	assert_int_equal(krl_write(&s, krl), 0);
	assert_int_equal(stat(krl, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	read_all(krl, &old, &olen);

	/* An invalid spec writes nothing. */
	std_spec(&s);
	s.comment = "bad\n";
	assert_int_equal(krl_write(&s, krl), JIT_ERR_BAD_CHARACTER);

	/* A write that fails half-way (file size limit) keeps the old KRL whole. */
	before = dir_entries();
	std_spec(&s);
	if ((pid = fork()) == 0) {
		struct rlimit rl = {64, 64};
		int r;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(2);
		r = krl_write(&s, krl);
		_exit(r == JIT_ERR_SYSTEM && errno == EFBIG ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(dir_entries(), before); /* no temporary file left */
	read_all(krl, &now, &nlen);
	assert_int_equal(nlen, olen);
	assert_memory_equal(now, old, olen);
	free(now);
	now = NULL;

	/* And a good write replaces it. */
	assert_int_equal(krl_write(&s, krl), 0);
	assert_int_equal(krl_encode(&s, &want, &wlen), 0);
	read_all(krl, &now, &nlen);
	assert_int_equal(nlen, wlen);
	assert_memory_equal(now, want, wlen);
	assert_int_equal(stat(krl, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(dir_entries(), before);
	free(old);
	free(now);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_keygen_queries_ours),
	        cmocka_unit_test(test_keygen_made_parses),
	        cmocka_unit_test(test_keygen_made_sections),
	        cmocka_unit_test(test_empty),
	        cmocka_unit_test(test_sections_keygen_listing),
	        cmocka_unit_test(test_random_round_trip),
	        cmocka_unit_test(test_encode_refusals),
	        cmocka_unit_test(test_parse_rules),
	        cmocka_unit_test(test_parse_header_and_sections),
	        cmocka_unit_test(test_parse_merges),
	        cmocka_unit_test(test_truncation_and_trailing),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_write_atomic),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, setup, teardown);
}
