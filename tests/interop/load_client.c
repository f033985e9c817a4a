/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Load and crash clients of jit-ca serve, for serve_load.sh and
 * serve_crash.sh.
 *
 *   load SOCKET PUB N ODD
 *     Opens N connections at once and holds them for a second while ODD
 *     clients of each misbehaving kind run beside them (random bytes behind
 *     a valid length, a truncated request then EOF, a 16 MiB length prefix,
 *     a valid request one byte at a time). Then sends one request on each of
 *     the N and reads every answer. Prints
 *       "normal ok=A refused=B none=C"
 *       "odd ok=D bad=E"
 *     and one "# refused STATUS MESSAGE" / "# odd ..." line per oddity.
 *     A misbehaving client is "ok" when it got what the protocol promises:
 *     status 2 for garbage and the oversized prefix, a close without answer
 *     for the truncated request, a certificate for the slow one.
 *
 *   loop SOCKET PUB SECONDS OUT
 *     Requests certificates one after another for SECONDS, appending
 *     "SERIAL<TAB>KEY_ID" to OUT for each one received whole, before the
 *     next request. Prints "received=A failed=B".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cert.h"
#include "client.h"
#include "err.h"
#include "key.h"
#include "proto.h"

#define ODD_KINDS 4
#define ODD_MAX   64
#define N_MAX     60000

static const char *const odd_names[ODD_KINDS] = {"garbage", "truncated", "oversized", "slow"};

static uint8_t *frame;
static size_t frame_len;

/* The request every client sends, as a whole frame. */
static int make_frame(const char *pub, const char *session)
{
	struct proto_request req;
	struct key *k = NULL;
	struct buf *b = NULL;
	char alice[] = "alice", ticket[] = "CHG-1001", empty[] = "", sess[PROTO_SESSION_MAX + 1];
	char *principals[] = {alice};
	size_t len;
	int r;

	if ((r = key_load_public(pub, &k)) != 0) {
		fprintf(stderr, "load_client: %s: %s\n", pub, jit_err(r));
		return -1;
	}
	memset(&req, 0, sizeof(req));
	snprintf(sess, sizeof(sess), "%s", session);
	req.user = alice;
	req.pubkey = k->blob;
	req.pubkey_len = k->blob_len;
	req.principals = principals;
	req.nprincipals = 1;
	req.validity = 300;
	req.context = PROTO_CTX_TICKET;
	req.ticket = ticket;
	req.reason = empty;
	req.session = sess;
	req.source_address = empty;
	if ((b = buf_new(PROTO_FRAME_MAX)) == NULL || (r = proto_request_encode(&req, b)) != 0) {
		fprintf(stderr, "load_client: encode failed\n");
		buf_free(b);
		key_free(k);
		return -1;
	}
	len = buf_len(b);
	if ((frame = malloc(len + 4)) == NULL)
		exit(99);
	frame[0] = (uint8_t)(len >> 24);
	frame[1] = (uint8_t)(len >> 16);
	frame[2] = (uint8_t)(len >> 8);
	frame[3] = (uint8_t)len;
	memcpy(frame + 4, buf_ptr(b), len);
	frame_len = len + 4;
	buf_free(b);
	key_free(k);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads one answer: 1 with *status and msg set, 0 when the service closed
 * without a frame, -1 for anything else (timeout, a frame that does not
 * decode).
 */
static int read_answer(int fd, uint64_t deadline, uint8_t *status, char *msg, size_t msglen)
{
	struct proto_response resp;
	struct buf *b = NULL;
	int r;

	memset(&resp, 0, sizeof(resp));
	r = frame_read(fd, PROTO_FRAME_MAX, deadline, &b);
	if (r == JIT_ERR_MESSAGE_INCOMPLETE)
		return 0;
	if (r != 0)
		return -1;
	r = proto_response_decode(buf_ptr(b), buf_len(b), &resp);
	buf_free(b);
	if (r != 0)
		return -1;
	*status = resp.status;
	snprintf(msg, msglen, "%s", resp.message != NULL ? resp.message : "");
	proto_response_free(&resp);
	return 1;
}

/* One misbehaving client; exits 0 when the service did what it promises. */
static void odd_client(const char *path, int kind, unsigned seed)
{
	uint8_t junk[64], status = 0xff;
	char msg[PROTO_MESSAGE_MAX + 1];
	size_t i;
	int fd, got;

	srandom(seed);
	/* Start at different moments of the normal clients' run. */
	usleep((useconds_t)(random() % 800) * 1000);
	if ((fd = connect_to(path)) < 0) {
		fprintf(stderr, "# odd %s: connect: %s\n", odd_names[kind], strerror(errno));
		_exit(1);
	}
	switch (kind) {
	case 0:
		junk[0] = 0;
		junk[1] = 0;
		junk[2] = 0;
		junk[3] = sizeof(junk) - 4;
		for (i = 4; i < sizeof(junk); i++)
			junk[i] = (uint8_t)random();
		if (send_all(fd, junk, sizeof(junk)) != 0)
			_exit(1);
		break;
	case 1:
		if (send_all(fd, frame, frame_len / 2) != 0)
			_exit(1);
		shutdown(fd, SHUT_WR);
		break;
	case 2:
		junk[0] = 1; /* 16 MiB */
		memset(junk + 1, 0, 3);
		memset(junk + 4, 'x', 16);
		if (send_all(fd, junk, 20) != 0)
			_exit(1);
		break;
	default:
		for (i = 0; i < frame_len; i++) {
			if (send_all(fd, frame + i, 1) != 0)
				_exit(1);
			usleep(2000);
		}
		break;
	}
	got = read_answer(fd, client_now_ms() + 20000, &status, msg, sizeof(msg));
	close(fd);
	if ((kind == 0 && got == 1 && status == PROTO_BAD_REQUEST) || (kind == 1 && got == 0) ||
	    (kind == 2 && got == 1 && status == PROTO_BAD_REQUEST) ||
	    (kind == 3 && got == 1 && status == PROTO_OK))
		_exit(0);
	if (got == 1)
		fprintf(stderr, "# odd %s: status %u \"%s\"\n", odd_names[kind], status, msg);
	else
		fprintf(stderr, "# odd %s: %s\n", odd_names[kind],
		        got == 0 ? "closed without answer" : "no answer");
	_exit(1);
}

static int run_load(const char *path, int n, int odd)
{
	pid_t kids[ODD_KINDS * ODD_MAX];
	uint8_t status;
	char msg[PROTO_MESSAGE_MAX + 1];
	int *fds = NULL, nk = 0, ok = 0, refused = 0, none = 0, odd_ok = 0, odd_bad = 0;
	int i, k, st;
	uint64_t deadline;

	if ((fds = calloc((size_t)n, sizeof(*fds))) == NULL)
		return 99;
	for (k = 0; k < ODD_KINDS; k++) {
		for (i = 0; i < odd; i++) {
			pid_t p = fork();

			if (p < 0)
				return 99;
			if (p == 0)
				odd_client(path, k, (unsigned)(k * ODD_MAX + i + 1));
			kids[nk++] = p;
		}
	}
	for (i = 0; i < n; i++) {
		if ((fds[i] = connect_to(path)) < 0) {
			fprintf(stderr, "load_client: connection %d: %s\n", i, strerror(errno));
			return 99;
		}
	}
	/* All N are open at once; the service holds them while the odd ones run. */
	sleep(1);
	for (i = 0; i < n; i++) {
		/* A refused caller's socket is closed already; its answer is still queued. */
		if (send_all(fds[i], frame, frame_len) != 0 && errno != EPIPE &&
		    errno != ECONNRESET)
			fprintf(stderr, "# connection %d: send: %s\n", i, strerror(errno));
	}
	deadline = client_now_ms() + 30000;
	for (i = 0; i < n; i++) {
		int got = read_answer(fds[i], deadline, &status, msg, sizeof(msg));

		if (got == 1 && status == PROTO_OK) {
			ok++;
		} else if (got == 1) {
			refused++;
			printf("# refused %u %s\n", status, msg);
		} else {
			none++;
		}
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	for (i = 0; i < nk; i++) {
		if (waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			odd_ok++;
		else
			odd_bad++;
	}
	printf("normal ok=%d refused=%d none=%d\n", ok, refused, none);
	printf("odd ok=%d bad=%d\n", odd_ok, odd_bad);
	return 0;
}

static int run_loop(const char *path, int seconds, const char *out)
{
	char ep[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	const char *eps[1] = {ep};
	struct proto_request req;
	struct proto_response resp;
	struct cert *c = NULL;
	char line[1024];
	uint64_t end = client_now_ms() + (uint64_t)seconds * 1000;
	int fd, received = 0, failed = 0, len;

	snprintf(ep, sizeof(ep), "unix:%s", path);
	if ((fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return 99;
	/* The request again, decoded: client_request takes the structure. */
	memset(&req, 0, sizeof(req));
	if (proto_request_decode(frame + 4, frame_len - 4, &req) != 0)
		return 99;
	while (client_now_ms() < end) {
		memset(&resp, 0, sizeof(resp));
		if (client_request(eps, 1, 2000, &req, &resp, NULL, 0) != 0 ||
		    resp.status != PROTO_OK) {
			proto_response_free(&resp);
			failed++;
			usleep(20000);
			continue;
		}
		if (cert_parse(resp.cert, resp.cert_len, &c) != 0 || c->serial != resp.serial) {
			fprintf(stderr, "load_client: certificate does not parse or match\n");
			return 99;
		}
		len = snprintf(line, sizeof(line), "%llu\t%s\n", (unsigned long long)c->serial,
		               c->key_id);
		/* Recorded before the next request: what was received is on file. */
		if (len <= 0 || (size_t)len >= sizeof(line) || write(fd, line, (size_t)len) != len)
			return 99;
		cert_free(c);
		c = NULL;
		proto_response_free(&resp);
		received++;
	}
	proto_request_free(&req);
	close(fd);
	printf("received=%d failed=%d\n", received, failed);
	return 0;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	char session[32];

	/* A thousand sockets: take the whole hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(session, sizeof(session), "load-%d", (int)getpid());
	if (argc == 6 && strcmp(argv[1], "load") == 0) {
		int n = atoi(argv[4]), odd = atoi(argv[5]);

		if (n < 1 || n > N_MAX || odd < 0 || odd > ODD_MAX ||
		    make_frame(argv[3], session) != 0)
			return 99;
		return run_load(argv[2], n, odd);
	}
	if (argc == 6 && strcmp(argv[1], "loop") == 0) {
		if (atoi(argv[4]) < 1 || make_frame(argv[3], session) != 0)
			return 99;
		return run_loop(argv[2], atoi(argv[4]), argv[5]);
	}
	fprintf(stderr, "usage: load_client load SOCKET PUB N ODD\n"
	                "       load_client loop SOCKET PUB SECONDS OUT\n");
	return 2;
}
