/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ssh-agent codec: exact bytes of known frames, every bound, and a
 * minimal agent built on the codec (a forked child on a Unix socket)
 * against the real ssh-add and ssh-keygen: it lists the certificate, refuses
 * removal and locking, and signs.
 */
#define _GNU_SOURCE /* nftw flags */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentproto.h"
#include "buf.h"
#include "cert.h"
#include "err.h"
#include "key.h"

static uint8_t *unhex(const char *hex, size_t *ret_len)
{
	size_t n = strlen(hex) / 2, i;
	uint8_t *p = malloc(n + 1);
	unsigned v;

	assert_non_null(p);
	assert_int_equal(strlen(hex) % 2, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		p[i] = (uint8_t)v;
	}
	*ret_len = n;
	return p;
}

static void assert_buf_hex(const struct buf *b, const char *hex)
{
	size_t len;
	uint8_t *want = unhex(hex, &len);

	assert_int_equal(buf_len(b), len);
	assert_memory_equal(buf_ptr(b), want, len);
	free(want);
}

/* ---- framing ---- */

static void test_frame_check(void **state)
{
	uint8_t d[16] = {0, 0, 0, 1, 11, 0, 0, 0, 5, 13};
	size_t n = 99, i;

	(void)state;
	for (i = 0; i < 4; i++) {
		n = 99;
		assert_int_equal(agentproto_frame_check(d, i, &n), JIT_ERR_MESSAGE_INCOMPLETE);
		assert_int_equal(n, 0);
	}
	assert_int_equal(agentproto_frame_check(d, 5, &n), 0);
	assert_int_equal(n, 1);
	/* The next frame's bytes do not change the answer for the first. */
	assert_int_equal(agentproto_frame_check(d, 10, &n), 0);
	assert_int_equal(n, 1);
	/* Second frame: 5 bytes announced, 1 there. */
	assert_int_equal(agentproto_frame_check(d + 5, 5, &n), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(agentproto_frame_check(d + 5, 8, &n), JIT_ERR_MESSAGE_INCOMPLETE);
	assert_int_equal(agentproto_frame_check(d + 5, 9, &n), 0);
	assert_int_equal(n, 5);
	/* A zero length has no type byte. */
	memset(d, 0, sizeof(d));
	n = 99;
	assert_int_equal(agentproto_frame_check(d, 4, &n), JIT_ERR_INVALID_FORMAT);
	assert_int_equal(n, 0);
	/* 256 KiB is allowed (and incomplete here); one more byte is refused at once. */
	d[1] = 0x04;
	assert_int_equal(agentproto_frame_check(d, 4, &n), JIT_ERR_MESSAGE_INCOMPLETE);
	d[3] = 0x01;
	assert_int_equal(agentproto_frame_check(d, 4, &n), JIT_ERR_NO_BUFFER_SPACE);
	d[0] = 0xff;
	d[1] = 0xff;
	d[2] = 0xff;
	d[3] = 0xff;
	assert_int_equal(agentproto_frame_check(d, 16, &n), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(n, 0);
	assert_int_equal(agentproto_frame_check(NULL, 4, &n), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(agentproto_frame_check(d, 4, NULL), JIT_ERR_INVALID_ARGUMENT);
}

/* ---- parsing ---- */

static void assert_parse_fails(const char *hex, int want)
{
	struct agent_request q;
	size_t len;
	uint8_t *m = unhex(hex, &len);

	memset(&q, 0x5a, sizeof(q));
	assert_int_equal(agentproto_parse(m, len, &q), want);
	assert_int_equal(q.type, 0);
	assert_null(q.key_blob);
	assert_int_equal(q.key_blob_len, 0);
	assert_null(q.data);
	assert_int_equal(q.flags, 0);
	assert_null(q.ext_name);
	assert_null(q.rest);
	assert_int_equal(q.rest_len, 0);
	free(m);
}

static void test_parse_identities(void **state)
{
	struct agent_request q;
	const uint8_t m[] = {11};

	(void)state;
	assert_int_equal(agentproto_parse(m, 1, &q), 0);
	assert_int_equal(q.type, SSH_AGENTC_REQUEST_IDENTITIES);
	assert_null(q.key_blob);
	assert_int_equal(q.rest_len, 0);
	assert_parse_fails("0b00", JIT_ERR_TRAILING_DATA);
	assert_parse_fails("", JIT_ERR_MESSAGE_INCOMPLETE);
}

/* type 13, string "KEY", string "hello", uint32 4 */
static const char sign_hex[] = "0d000000034b4559000000056865"
                               "6c6c6f00000004";

static void test_parse_sign(void **state)
{
	struct agent_request q;
	size_t len, i;
	uint8_t *m;

	(void)state;
	m = unhex(sign_hex, &len);
	assert_int_equal(agentproto_parse(m, len, &q), 0);
	assert_int_equal(q.type, SSH_AGENTC_SIGN_REQUEST);
	assert_int_equal(q.key_blob_len, 3);
	assert_ptr_equal(q.key_blob, m + 5);
	assert_memory_equal(q.key_blob, "KEY", 3);
	assert_int_equal(q.data_len, 5);
	assert_memory_equal(q.data, "hello", 5);
	assert_int_equal(q.flags, SSH_AGENT_RSA_SHA2_512);
	assert_null(q.ext_name);
	assert_int_equal(q.rest_len, 0);
	/* Every truncation is incomplete, never a crash or a success. */
	for (i = 1; i < len; i++)
		assert_int_equal(agentproto_parse(m, i, &q), JIT_ERR_MESSAGE_INCOMPLETE);
	free(m);

	/* Empty data is allowed; an empty key blob is not. */
	assert_parse_fails("0d00000000000000036b657900000000", JIT_ERR_INVALID_FORMAT);
	assert_parse_fails("0d000000034b45590000000000000002ff", JIT_ERR_TRAILING_DATA);
	/* A data length that runs past the end. */
	assert_parse_fails("0d000000034b4559ffffffff00000000", JIT_ERR_MESSAGE_INCOMPLETE);
}

static void test_parse_sign_bounds(void **state)
{
	struct buf *b = buf_new(AGENTPROTO_MSG_MAX + 16);
	struct agent_request q;
	uint8_t *blob = calloc(1, AGENTPROTO_KEY_BLOB_MAX + 1);

	(void)state;
	assert_non_null(b);
	assert_non_null(blob);
	assert_int_equal(buf_put_u8(b, SSH_AGENTC_SIGN_REQUEST), 0);
	assert_int_equal(buf_put_string(b, blob, AGENTPROTO_KEY_BLOB_MAX), 0);
	assert_int_equal(buf_put_string(b, "d", 1), 0);
	assert_int_equal(buf_put_u32(b, 0), 0);
	assert_int_equal(agentproto_parse(buf_ptr(b), buf_len(b), &q), 0);
	assert_int_equal(q.key_blob_len, AGENTPROTO_KEY_BLOB_MAX);

	buf_reset(b);
	assert_int_equal(buf_put_u8(b, SSH_AGENTC_SIGN_REQUEST), 0);
	assert_int_equal(buf_put_string(b, blob, AGENTPROTO_KEY_BLOB_MAX + 1), 0);
	assert_int_equal(buf_put_string(b, "d", 1), 0);
	assert_int_equal(buf_put_u32(b, 0), 0);
	assert_int_equal(agentproto_parse(buf_ptr(b), buf_len(b), &q), JIT_ERR_STRING_TOO_LARGE);

	/* A message longer than a frame can carry. */
	buf_reset(b);
	assert_int_equal(buf_put_u8(b, SSH_AGENTC_SIGN_REQUEST), 0);
	assert_int_equal(buf_put_string(b, blob, 8), 0);
	assert_int_equal(buf_put_u32(b, AGENTPROTO_MSG_MAX), 0);
	while (buf_len(b) < AGENTPROTO_MSG_MAX + 4)
		assert_int_equal(buf_put_u8(b, 0), 0);
	assert_int_equal(agentproto_parse(buf_ptr(b), buf_len(b), &q), JIT_ERR_NO_BUFFER_SPACE);
	assert_int_equal(q.type, 0);
	buf_free(b);
	free(blob);
}

static void test_parse_extension(void **state)
{
	struct agent_request q;
	size_t len;
	/* type 27, "session-bind@openssh.com", then 3 bytes of contents */
	uint8_t *m =
	        unhex("1b0000001873657373696f6e2d62696e64406f70656e7373682e636f6d010203", &len);

	(void)state;
	assert_int_equal(agentproto_parse(m, len, &q), 0);
	assert_int_equal(q.type, SSH_AGENTC_EXTENSION);
	assert_int_equal(q.ext_name_len, strlen("session-bind@openssh.com"));
	assert_memory_equal(q.ext_name, "session-bind@openssh.com", q.ext_name_len);
	assert_int_equal(q.rest_len, 3);
	assert_ptr_equal(q.rest, m + len - 3);
	free(m);
	assert_parse_fails("1b00000000", JIT_ERR_INVALID_FORMAT);
	assert_parse_fails("1b00000003610062", JIT_ERR_EMBEDDED_NUL);
	assert_parse_fails("1b000000", JIT_ERR_MESSAGE_INCOMPLETE);
}

static void test_parse_other(void **state)
{
	struct agent_request q;
	const uint8_t lock[] = {SSH_AGENTC_LOCK, 0, 0, 0, 2, 'p', 'w'};
	const uint8_t remove_all[] = {SSH_AGENTC_REMOVE_ALL_IDENTITIES};

	(void)state;
	assert_int_equal(agentproto_parse(lock, sizeof(lock), &q), 0);
	assert_int_equal(q.type, SSH_AGENTC_LOCK);
	assert_ptr_equal(q.rest, lock + 1);
	assert_int_equal(q.rest_len, 6);
	assert_null(q.key_blob);
	assert_int_equal(agentproto_parse(remove_all, 1, &q), 0);
	assert_int_equal(q.type, SSH_AGENTC_REMOVE_ALL_IDENTITIES);
	assert_int_equal(q.rest_len, 0);
	assert_int_equal(agentproto_parse(NULL, 1, &q), JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(agentproto_parse(remove_all, 1, NULL), JIT_ERR_INVALID_ARGUMENT);
	assert_string_equal(agentproto_type_name(SSH_AGENTC_LOCK), "lock");
	assert_string_equal(agentproto_type_name(SSH_AGENTC_SIGN_REQUEST), "sign-request");
	assert_string_equal(agentproto_type_name(200), "unknown");
}

/* ---- encoding ---- */

static void test_encode_replies(void **state)
{
	struct buf *b = buf_new(AGENTPROTO_MSG_MAX + 64);
	const uint8_t blob1[] = {1, 2, 3}, blob2[] = {0xaa};
	struct agent_identity ids[2] = {
	        {blob1, sizeof(blob1), "jit CHG-1001"},
	        {blob2, sizeof(blob2), ""},
	};
	uint8_t *big;

	(void)state;
	assert_non_null(b);
	assert_int_equal(agentproto_failure(b), 0);
	assert_buf_hex(b, "0000000105");
	buf_reset(b);

	assert_int_equal(agentproto_identities_answer(b, ids, 2), 0);
	assert_buf_hex(b, "000000250c00000002"
	                  "00000003010203"
	                  "0000000c6a6974204348472d31303031"
	                  "00000001aa"
	                  "00000000");
	buf_reset(b);
	assert_int_equal(agentproto_identities_answer(b, NULL, 0), 0);
	assert_buf_hex(b, "000000050c00000000");
	buf_reset(b);

	assert_int_equal(agentproto_sign_response(b, blob1, sizeof(blob1)), 0);
	assert_buf_hex(b, "000000080e00000003010203");

	/* Refusals leave out as it was. */
	ids[1].comment = "bad\ncomment";
	assert_int_equal(agentproto_identities_answer(b, ids, 2), JIT_ERR_BAD_CHARACTER);
	ids[1].comment = NULL;
	assert_int_equal(agentproto_identities_answer(b, ids, 2), JIT_ERR_INVALID_ARGUMENT);
	ids[1].comment = "";
	ids[1].blob_len = 0;
	assert_int_equal(agentproto_identities_answer(b, ids, 2), JIT_ERR_INVALID_ARGUMENT);
	ids[1].blob_len = AGENTPROTO_KEY_BLOB_MAX + 1;
	assert_int_equal(agentproto_identities_answer(b, ids, 2), JIT_ERR_STRING_TOO_LARGE);
	assert_int_equal(agentproto_identities_answer(b, ids, AGENTPROTO_IDENTITIES_MAX + 1),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(agentproto_sign_response(b, blob1, 0), JIT_ERR_INVALID_ARGUMENT);
	big = calloc(1, AGENTPROTO_MSG_MAX);
	assert_non_null(big);
	assert_int_equal(agentproto_sign_response(b, big, AGENTPROTO_MSG_MAX - 4),
	                 JIT_ERR_STRING_TOO_LARGE);
	assert_buf_hex(b, "000000080e00000003010203");
	/* The largest signature that fits one message. */
	buf_reset(b);
	assert_int_equal(agentproto_sign_response(b, big, AGENTPROTO_MSG_MAX - 5), 0);
	assert_int_equal(buf_len(b), AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX);
	free(big);
	buf_free(b);
}

static void test_request_round_trip(void **state)
{
	struct buf *b = buf_new(4096);
	struct agent_request q, p;
	size_t n;

	(void)state;
	assert_non_null(b);
	memset(&q, 0, sizeof(q));
	q.type = SSH_AGENTC_SIGN_REQUEST;
	q.key_blob = (const uint8_t *)"KEY";
	q.key_blob_len = 3;
	q.data = (const uint8_t *)"hello";
	q.data_len = 5;
	q.flags = SSH_AGENT_RSA_SHA2_512;
	assert_int_equal(agentproto_request_encode(b, &q), 0);
	assert_buf_hex(b, "000000150d000000034b4559000000056865"
	                  "6c6c6f00000004");
	assert_int_equal(agentproto_frame_check(buf_ptr(b), buf_len(b), &n), 0);
	assert_int_equal(n, buf_len(b) - AGENTPROTO_HEADER_LEN);
	assert_int_equal(agentproto_parse(buf_ptr(b) + AGENTPROTO_HEADER_LEN, n, &p), 0);
	assert_int_equal(p.flags, q.flags);
	assert_memory_equal(p.data, "hello", 5);

	buf_reset(b);
	memset(&q, 0, sizeof(q));
	q.type = SSH_AGENTC_EXTENSION;
	q.ext_name = "query";
	q.ext_name_len = 5;
	assert_int_equal(agentproto_request_encode(b, &q), 0);
	assert_buf_hex(b, "0000000a1b000000057175657279");
	q.ext_name_len = 0;
	assert_int_equal(agentproto_request_encode(b, &q), JIT_ERR_INVALID_ARGUMENT);
	memset(&q, 0, sizeof(q));
	q.type = SSH_AGENTC_SIGN_REQUEST;
	assert_int_equal(agentproto_request_encode(b, &q), JIT_ERR_INVALID_ARGUMENT);
	assert_buf_hex(b, "0000000a1b000000057175657279");
	buf_free(b);
}

/* ---- a minimal agent on the codec, against real OpenSSH ---- */

struct agent_fixture {
	char dir[64];
	char sock[128];
	char log[128];
	struct key *key;
	struct key *ca;
	struct cert *cert;
	pid_t pid;
};

/* The agent's one identity is the certificate, as jit-agent lists it. */
#define AGENT_COMMENT "jit CHG-1001"

static void agent_log(const char *path, uint8_t type, const char *what)
{
	FILE *f = fopen(path, "a");

	if (f != NULL) {
		fprintf(f, "%u%s\n", type, what);
		fclose(f);
	}
}

/* Answers one request: list the certificate, sign with its key, refuse the rest. */
static int agent_answer(struct agent_fixture *fx, const uint8_t *msg, size_t len, struct buf *out)
{
	struct agent_request q;
	struct agent_identity id;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int r;

	if (agentproto_parse(msg, len, &q) != 0) {
		agent_log(fx->log, 255, "");
		return agentproto_failure(out);
	}
	if (q.type != SSH_AGENTC_SIGN_REQUEST)
		agent_log(fx->log, q.type, "");
	switch (q.type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		id.blob = fx->cert->blob;
		id.blob_len = fx->cert->blob_len;
		id.comment = AGENT_COMMENT;
		return agentproto_identities_answer(out, &id, 1);
	case SSH_AGENTC_SIGN_REQUEST:
		/* ssh names the certificate; ssh-keygen -Y sign the plain key. */
		if (q.key_blob_len == fx->cert->blob_len &&
		    memcmp(q.key_blob, fx->cert->blob, q.key_blob_len) == 0) {
			agent_log(fx->log, q.type, "c");
		} else if (q.key_blob_len == fx->key->blob_len &&
		           memcmp(q.key_blob, fx->key->blob, q.key_blob_len) == 0) {
			agent_log(fx->log, q.type, "k");
		} else {
			agent_log(fx->log, q.type, "?");
			return agentproto_failure(out);
		}
		if (key_sign(fx->key, q.data, q.data_len, &sig, &sig_len) != 0)
			return agentproto_failure(out);
		r = agentproto_sign_response(out, sig, sig_len);
		free(sig);
		return r;
	default:
		return agentproto_failure(out);
	}
}

/* One connection: frames may arrive in pieces; several per connection. */
static void agent_serve(struct agent_fixture *fx, int fd)
{
	static uint8_t in[AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX];
	size_t have = 0, mlen, flen;
	struct buf *out = buf_new(AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX);
	ssize_t n;
	int r;

	if (out == NULL)
		return;
	for (;;) {
		r = agentproto_frame_check(in, have, &mlen);
		if (r == JIT_ERR_MESSAGE_INCOMPLETE) {
			n = read(fd, in + have, sizeof(in) - have);
			if (n <= 0)
				break;
			have += (size_t)n;
			continue;
		}
		if (r != 0)
			break;
		buf_reset(out);
		if (agent_answer(fx, in + AGENTPROTO_HEADER_LEN, mlen, out) != 0)
			break;
		if (write(fd, buf_ptr(out), buf_len(out)) != (ssize_t)buf_len(out))
			break;
		flen = AGENTPROTO_HEADER_LEN + mlen;
		memmove(in, in + flen, have - flen);
		have -= flen;
	}
	buf_free(out);
}

static void agent_child(struct agent_fixture *fx, int lfd)
{
	int fd;

	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		agent_serve(fx, fd);
		close(fd);
	}
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text);

	if (fd == -1)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(s);
	n = fread(s, 1, 65535, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* The real-OpenSSH cases skip only when the tools are not installed. */
static int have_openssh(void)
{
	return system("command -v ssh-add >/dev/null && command -v ssh-keygen >/dev/null") == 0;
}

static int setup_agent(void **state)
{
	struct agent_fixture *fx = calloc(1, sizeof(*fx));
	struct cert_req req;
	struct sockaddr_un sun;
	char path[160], *line = NULL;
	time_t now = time(NULL);
	int lfd;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_agentproto.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->sock, sizeof(fx->sock), "%s/agent.sock", fx->dir);
	snprintf(fx->log, sizeof(fx->log), "%s/requests", fx->dir);
	assert_int_equal(key_generate(KEY_ED25519, 0, &fx->key), 0);
	assert_int_equal(key_generate(KEY_ED25519, 0, &fx->ca), 0);
	cert_req_init(&req);
	assert_int_equal(cert_req_add_principal(&req, "alice"), 0);
	assert_int_equal(cert_req_set_key_id(&req, "alice@CHG-1001"), 0);
	assert_int_equal(cert_req_default_extensions(&req), 0);
	req.serial = 1001;
	req.valid_after = (uint64_t)now - 60;
	req.valid_before = (uint64_t)now + 3600;
	assert_int_equal(cert_build(&req, fx->key, fx->ca, &fx->cert), 0);
	cert_req_clear(&req);

	/* The public halves for ssh-keygen -Y; the private key stays in memory. */
	snprintf(path, sizeof(path), "%s/id.pub", fx->dir);
	assert_int_equal(key_to_line(fx->key, "test", &line), 0);
	assert_int_equal(write_file(path, line, 0644), 0);
	free(line);
	snprintf(path, sizeof(path), "%s/ca.pub", fx->dir);
	assert_int_equal(key_to_line(fx->ca, "ca", &line), 0);
	assert_int_equal(write_file(path, line, 0644), 0);
	free(line);
	/* Lock passwords come from here instead of a terminal. */
	snprintf(path, sizeof(path), "%s/askpass", fx->dir);
	assert_int_equal(write_file(path, "#!/bin/sh\necho lockpw\n", 0700), 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(fx->sock) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, fx->sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	fx->pid = fork();
	assert_true(fx->pid >= 0);
	if (fx->pid == 0)
		agent_child(fx, lfd);
	close(lfd);
	*state = fx;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown_agent(void **state)
{
	struct agent_fixture *fx = *state;
	int status;

	if (fx->pid > 0) {
		kill(fx->pid, SIGTERM);
		waitpid(fx->pid, &status, 0);
	}
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	cert_free(fx->cert);
	key_free(fx->key);
	key_free(fx->ca);
	free(fx);
	return 0;
}

/*
 * Runs argv with SSH_AUTH_SOCK set to the agent, stdin from in_path (or
 * /dev/null), stdout and stderr captured. Returns the exit code.
 */
static int run(struct agent_fixture *fx, const char *in_path, const char *const argv[],
               char **ret_out, char **ret_err)
{
	char out_path[160], err_path[160], askpass[160];
	pid_t pid;
	int status, fd;

	snprintf(out_path, sizeof(out_path), "%s/stdout", fx->dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", fx->dir);
	snprintf(askpass, sizeof(askpass), "%s/askpass", fx->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if ((fd = open(in_path != NULL ? in_path : "/dev/null", O_RDONLY)) == -1 ||
		    dup2(fd, 0) == -1)
			_exit(126);
		if ((fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
		    dup2(fd, 1) == -1)
			_exit(126);
		if ((fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
		    dup2(fd, 2) == -1)
			_exit(126);
		if (setenv("SSH_AUTH_SOCK", fx->sock, 1) != 0 ||
		    setenv("SSH_ASKPASS", askpass, 1) != 0 ||
		    setenv("SSH_ASKPASS_REQUIRE", "force", 1) != 0 ||
		    setenv("DISPLAY", ":0", 1) != 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	*ret_out = read_all(out_path);
	*ret_err = read_all(err_path);
	return WEXITSTATUS(status);
}

/*
 * The request types the agent saw since the last call, as "11 19 9"; a
 * signature request is "13c" for the certificate, "13k" for the plain key.
 */
static char *take_log(struct agent_fixture *fx)
{
	char *s, *p;

	if (access(fx->log, F_OK) != 0)
		return strdup("");
	s = read_all(fx->log);
	unlink(fx->log);
	for (p = s; *p != '\0'; p++)
		if (*p == '\n')
			*p = p[1] == '\0' ? '\0' : ' ';
	return s;
}

static void assert_log(struct agent_fixture *fx, const char *want)
{
	char *got = take_log(fx);

	assert_string_equal(got, want);
	free(got);
}

static void test_ssh_add_lists_certificate(void **state)
{
	struct agent_fixture *fx = *state;
	const char *argv[] = {"ssh-add", "-l", NULL};
	char *out, *err, *fp = NULL, want[256];

	if (!have_openssh())
		skip();

	assert_int_equal(key_fingerprint(fx->key, &fp), 0);
	snprintf(want, sizeof(want), "256 %s %s (ED25519-CERT)\n", fp, AGENT_COMMENT);
	assert_int_equal(run(fx, NULL, argv, &out, &err), 0);
	assert_string_equal(out, want);
	assert_string_equal(err, "");
	assert_log(fx, "11");
	free(fp);
	free(out);
	free(err);
}

static void test_ssh_add_remove_refused(void **state)
{
	struct agent_fixture *fx = *state;
	const char *argv[] = {"ssh-add", "-D", NULL};
	char *out, *err;

	if (!have_openssh())
		skip();

	assert_int_equal(run(fx, NULL, argv, &out, &err), 1);
	assert_string_equal(out, "");
	assert_string_equal(err, "Failed to remove all identities.\n");
	/* Both the current and the legacy remove-all were refused. */
	assert_log(fx, "19 9");
	free(out);
	free(err);
}

static void test_ssh_add_lock_refused(void **state)
{
	struct agent_fixture *fx = *state;
	const char *argv[] = {"ssh-add", "-x", NULL};
	char *out, *err;

	if (!have_openssh())
		skip();

	assert_int_equal(run(fx, NULL, argv, &out, &err), 1);
	assert_string_equal(out, "");
	assert_string_equal(err, "Failed to lock agent: agent refused operation\n");
	assert_log(fx, "22");
	free(out);
	free(err);
	/* Still listing afterwards: nothing was locked. */
	test_ssh_add_lists_certificate(state);
}

static void test_ssh_keygen_signs_via_agent(void **state)
{
	struct agent_fixture *fx = *state;
	char pub[160], data[160], sig[160], want[512], *out, *err, *fp = NULL;
	const char *sign[] = {"ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", data, NULL};
	const char *check[] = {"ssh-keygen", "-Y", "check-novalidate", "-n", "file", "-s",
	                       sig,          NULL};
	const char *check_ns[] = {"ssh-keygen", "-Y", "check-novalidate", "-n", "other", "-s",
	                          sig,          NULL};

	if (!have_openssh())
		skip();

	snprintf(pub, sizeof(pub), "%s/id.pub", fx->dir);
	snprintf(data, sizeof(data), "%s/data", fx->dir);
	snprintf(sig, sizeof(sig), "%s/data.sig", fx->dir);
	assert_int_equal(write_file(data, "signed through the agent\n", 0600), 0);
	assert_int_equal(run(fx, NULL, sign, &out, &err), 0);
	assert_string_equal(out, "");
	snprintf(want, sizeof(want), "Signing file %s\nWrite signature to %s\n", data, sig);
	assert_string_equal(err, want);
	free(out);
	free(err);
	/* Listed (to find the key), then one signature with the plain key. */
	assert_log(fx, "11 13k");

	assert_int_equal(run(fx, data, check, &out, &err), 0);
	assert_int_equal(key_fingerprint(fx->key, &fp), 0);
	snprintf(want, sizeof(want), "Good \"file\" signature with ED25519 key %s\n", fp);
	free(fp);
	assert_string_equal(out, want);
	free(out);
	free(err);
	/* The wrong namespace, and altered data, are refused. */
	assert_int_equal(run(fx, data, check_ns, &out, &err), 255);
	free(out);
	free(err);
	assert_int_equal(write_file(data, "signed through the agent!\n", 0600), 0);
	assert_int_equal(run(fx, data, check, &out, &err), 255);
	free(out);
	free(err);
}

/* Named by its certificate, as ssh names it: the agent signs for the cert blob. */
static void test_ssh_keygen_signs_with_certificate(void **state)
{
	struct agent_fixture *fx = *state;
	char cert[160], data[160], sig[160], want[512], *line = NULL, *out, *err, *fp = NULL;
	const char *sign[] = {"ssh-keygen", "-Y", "sign", "-f", cert, "-n", "file", data, NULL};
	const char *check[] = {"ssh-keygen", "-Y", "check-novalidate", "-n", "file", "-s",
	                       sig,          NULL};

	if (!have_openssh())
		skip();

	snprintf(cert, sizeof(cert), "%s/id-cert.pub", fx->dir);
	snprintf(data, sizeof(data), "%s/data", fx->dir);
	snprintf(sig, sizeof(sig), "%s/data.sig", fx->dir);
	assert_int_equal(cert_to_line(fx->cert, "cert", &line), 0);
	assert_int_equal(write_file(cert, line, 0644), 0);
	free(line);
	assert_int_equal(write_file(data, "signed for the certificate\n", 0600), 0);
	assert_int_equal(run(fx, NULL, sign, &out, &err), 0);
	free(out);
	free(err);
	assert_log(fx, "11 13c");
	assert_int_equal(run(fx, data, check, &out, &err), 0);
	assert_int_equal(key_fingerprint(fx->key, &fp), 0);
	snprintf(want, sizeof(want), "Good \"file\" signature with ED25519-CERT key %s\n", fp);
	free(fp);
	assert_string_equal(out, want);
	free(out);
	free(err);
}

static void test_sign_unknown_key_refused(void **state)
{
	struct agent_fixture *fx = *state;
	struct key *other = NULL;
	char pub[160], data[160], *line = NULL, *out, *err;
	const char *sign[] = {"ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", data, NULL};

	if (!have_openssh())
		skip();

	assert_int_equal(key_generate(KEY_ED25519, 0, &other), 0);
	snprintf(pub, sizeof(pub), "%s/other.pub", fx->dir);
	snprintf(data, sizeof(data), "%s/data2", fx->dir);
	assert_int_equal(key_to_line(other, "other", &line), 0);
	assert_int_equal(write_file(pub, line, 0644), 0);
	assert_int_equal(write_file(data, "x\n", 0600), 0);
	/* ssh-keygen finds no such key in the agent and has no private key file. */
	assert_int_equal(run(fx, NULL, sign, &out, &err), 255);
	assert_log(fx, "11");
	free(line);
	free(out);
	free(err);
	key_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frame_check),
	        cmocka_unit_test(test_parse_identities),
	        cmocka_unit_test(test_parse_sign),
	        cmocka_unit_test(test_parse_sign_bounds),
	        cmocka_unit_test(test_parse_extension),
	        cmocka_unit_test(test_parse_other),
	        cmocka_unit_test(test_encode_replies),
	        cmocka_unit_test(test_request_round_trip),
	        cmocka_unit_test_setup_teardown(test_ssh_add_lists_certificate, setup_agent,
	                                        teardown_agent),
	        cmocka_unit_test_setup_teardown(test_ssh_add_remove_refused, setup_agent,
	                                        teardown_agent),
	        cmocka_unit_test_setup_teardown(test_ssh_add_lock_refused, setup_agent,
	                                        teardown_agent),
	        cmocka_unit_test_setup_teardown(test_ssh_keygen_signs_via_agent, setup_agent,
	                                        teardown_agent),
	        cmocka_unit_test_setup_teardown(test_ssh_keygen_signs_with_certificate, setup_agent,
	                                        teardown_agent),
	        cmocka_unit_test_setup_teardown(test_sign_unknown_key_refused, setup_agent,
	                                        teardown_agent),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
