/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A stand-in for jit-agent on the ssh-agent codec, for agent_login.sh:
 * generates a key in memory, has the CA key at CA_KEY certify it for
 * PRINCIPAL, lists that certificate, signs with its key, and refuses the
 * rest. Writes the certificate line to stdout once it listens on SOCKET,
 * and one line per request to LOG. Runs until killed.
 *
 * usage: interop_test_agent SOCKET CA_KEY PRINCIPAL LOG
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "buf.h"
#include "cert.h"
#include "cert_rules.h"
#include "err.h"
#include "key.h"

#define COMMENT "jit CHG-1001"

static struct key *key;
static struct cert *cert;
static FILE *reqlog;

static int blob_is(const uint8_t *b, size_t len, const uint8_t *want, size_t want_len)
{
	return len == want_len && memcmp(b, want, len) == 0;
}

/* One request: the reply goes to out, a line (without reply) to the log. */
static int answer(const uint8_t *msg, size_t len, struct buf *out)
{
	struct agent_request q;
	struct agent_identity id;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	const char *which;
	int r;

	if ((r = agentproto_parse(msg, len, &q)) != 0) {
		fprintf(reqlog, "malformed (%s) -> failure\n", jit_err(r));
		return agentproto_failure(out);
	}
	switch (q.type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		id.blob = cert->blob;
		id.blob_len = cert->blob_len;
		id.comment = COMMENT;
		fprintf(reqlog, "request-identities -> identities-answer\n");
		return agentproto_identities_answer(out, &id, 1);
	case SSH_AGENTC_SIGN_REQUEST:
		if (blob_is(q.key_blob, q.key_blob_len, cert->blob, cert->blob_len))
			which = "certificate";
		else if (blob_is(q.key_blob, q.key_blob_len, key->blob, key->blob_len))
			which = "key";
		else
			which = NULL;
		if (which == NULL || key_sign(key, q.data, q.data_len, &sig, &sig_len) != 0) {
			fprintf(reqlog, "sign-request %s -> failure\n",
			        which != NULL ? which : "unknown");
			return agentproto_failure(out);
		}
		fprintf(reqlog, "sign-request %s -> sign-response\n", which);
		r = agentproto_sign_response(out, sig, sig_len);
		free(sig);
		return r;
	case SSH_AGENTC_EXTENSION:
		/* The name is the client's text: printed only when printable. */
		if (cert_rule_text(q.ext_name, q.ext_name_len) == 0)
			fprintf(reqlog, "extension %.*s -> failure\n", (int)q.ext_name_len,
			        q.ext_name);
		else
			fprintf(reqlog, "extension ? -> failure\n");
		return agentproto_failure(out);
	default:
		fprintf(reqlog, "%s (%u) -> failure\n", agentproto_type_name(q.type), q.type);
		return agentproto_failure(out);
	}
}

static void serve(int fd)
{
	static uint8_t in[AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX];
	struct buf *out = buf_new(AGENTPROTO_HEADER_LEN + AGENTPROTO_MSG_MAX);
	size_t have = 0, mlen, flen;
	ssize_t n;
	int r;

	if (out == NULL)
		return;
	for (;;) {
		r = agentproto_frame_check(in, have, &mlen);
		if (r == JIT_ERR_MESSAGE_INCOMPLETE) {
			if ((n = read(fd, in + have, sizeof(in) - have)) <= 0)
				break;
			have += (size_t)n;
			continue;
		}
		if (r != 0) {
			fprintf(reqlog, "bad frame (%s)\n", jit_err(r));
			break;
		}
		buf_reset(out);
		r = answer(in + AGENTPROTO_HEADER_LEN, mlen, out);
		fflush(reqlog);
		if (r != 0 || write(fd, buf_ptr(out), buf_len(out)) != (ssize_t)buf_len(out))
			break;
		flen = AGENTPROTO_HEADER_LEN + mlen;
		memmove(in, in + flen, have - flen);
		have -= flen;
	}
	buf_free(out);
}

int main(int argc, char **argv)
{
	struct key *ca = NULL;
	struct cert_req req;
	struct sockaddr_un sun;
	char *line = NULL;
	time_t now = time(NULL);
	int lfd, fd, r;

	if (argc != 5) {
		fprintf(stderr, "usage: %s SOCKET CA_KEY PRINCIPAL LOG\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((reqlog = fopen(argv[4], "w")) == NULL) {
		perror(argv[4]);
		return 1;
	}
	cert_req_init(&req);
	if ((r = key_load_private(argv[2], NULL, &ca)) != 0 ||
	    (r = key_generate(KEY_ED25519, 0, &key)) != 0 ||
	    (r = cert_req_add_principal(&req, argv[3])) != 0 ||
	    (r = cert_req_set_key_id(&req, "jit-agent-test")) != 0 ||
	    (r = cert_req_default_extensions(&req)) != 0) {
		fprintf(stderr, "setup: %s\n", jit_err(r));
		return 1;
	}
	req.serial = 1001;
	req.valid_after = (uint64_t)now - 60;
	req.valid_before = (uint64_t)now + 600;
	if ((r = cert_build(&req, key, ca, &cert)) != 0 ||
	    (r = cert_to_line(cert, COMMENT, &line)) != 0) {
		fprintf(stderr, "certificate: %s\n", jit_err(r));
		return 1;
	}
	cert_req_clear(&req);
	key_free(ca);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "socket path too long\n");
		return 1;
	}
	strcpy(sun.sun_path, argv[1]);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 || listen(lfd, 8) == -1) {
		perror(argv[1]);
		return 1;
	}
	printf("%s\n", line);
	fflush(stdout);
	free(line);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		serve(fd);
		close(fd);
	}
}
