/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca request: asks the signing service (the config's ca.endpoints, in
 * failover order) for a certificate and writes it beside the key.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "addr.h"
#include "buf.h"
#include "cert.h"
#include "client.h"
#include "cmd.h"
/* The generated build config.h comes first on the include path: name ours. */
#include "config.h"
#include "err.h"
#include "file.h"
#include "key.h"
#include "proto.h"
#include "timefmt.h"

static const char usage[] =
        "usage: jit-ca request -c CONFIG -u USER -n PRINCIPALS\n"
        "                      (-t TICKET | --breakglass REASON) [-V DURATION]\n"
        "                      [--session ID] [--source-address LIST] [-o OUT]\n"
        "                      KEY.pub\n"
        "\n"
        "Asks the CA service (ca.endpoints of CONFIG, in order) to sign KEY.pub and\n"
        "writes KEY-cert.pub (or OUT; \"-o -\" for standard output).\n"
        "  -c CONFIG                 configuration file (default " CONFIG_PATH_DEFAULT ")\n"
        "  -u USER                   the engineer's account the request is for\n"
        "  -n PRINCIPALS             comma-separated principals asked for\n"
        "  -t TICKET                 the change ticket id\n"
        "  --breakglass REASON       break-glass access, with its reason\n"
        "  -V DURATION               validity asked for (\"5m\"; default\n"
        "                            certificates.validity, else 5m); the CA may cut it\n"
        "  --session ID              session id for the key ID (default: random)\n"
        "  --source-address LIST     addresses to bind the certificate to\n"
        "\n"
        "Exit status: 0 certificate written, 1 refused by the CA, 2 usage error,\n"
        "3 input error, 4 no CA endpoint answered or internal error.\n";

/* Long-only options get values outside the byte range. */
#define OPT_BREAKGLASS     0x100
#define OPT_SESSION        0x101
#define OPT_SOURCE_ADDRESS 0x102

/* Without -V or certificates.validity. */
#define DEFAULT_VALIDITY 300
/* The protocol's bound on the validity asked for (docs/protocol.md). */
#define PROTO_VALIDITY_MAX 86400

/* No usable answer from any endpoint (reported here): main() maps this to exit status 4. */
#define REQUEST_UNREACHABLE JIT_ERR_INTERNAL

/* 16 hex digits from the RNG. */
static int random_session(char *out, size_t outlen)
{
	uint8_t rnd[8];
	size_t i;

	if (outlen < 2 * sizeof(rnd) + 1)
		return JIT_ERR_NO_BUFFER_SPACE;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return JIT_ERR_RANDOM;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	return 0;
}

/* Splits "a,b" into the request's principal list (checked by the encoder). */
static int split_principals(const char *list, struct proto_request *req)
{
	char *copy = NULL, *p, *save = NULL;
	const char *c;
	size_t n = 1, i;
	int r = JIT_ERR_INTERNAL;

	/* The count is checked with the names, by check_values. */
	for (c = list; *c != '\0'; c++)
		if (*c == ',')
			n++;
	if ((copy = strdup(list)) == NULL ||
	    (req->principals = calloc(n, sizeof(*req->principals))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	/* strtok_r would merge empty names; an empty name must be an error. */
	for (i = 0, p = copy; i < n; i++, p = save) {
		if ((save = strchr(p, ',')) != NULL)
			*save++ = '\0';
		if ((req->principals[i] = strdup(p)) == NULL) {
			r = JIT_ERR_ALLOC;
			goto out;
		}
		req->nprincipals = i + 1;
	}
	r = 0;
out:
	free(copy);
	return r;
}

static int dup_field(char **dst, const char *src)
{
	if ((*dst = strdup(src)) == NULL)
		return JIT_ERR_ALLOC;
	return 0;
}

/*
 * The values the encoder would refuse, each reported with its option; the
 * encoder's own check last, for what is left (user, ticket, reason, session).
 */
static int check_values(struct cli *cli, const struct proto_request *req, const char *principals,
                        const char *source)
{
	struct cert_req scratch;
	struct buf *probe = NULL;
	int r = JIT_ERR_INTERNAL;

	cert_req_init(&scratch);
	if (req->validity == 0 || req->validity > PROTO_VALIDITY_MAX) {
		fprintf(stderr, "jit-ca: validity: %llus is not between 1s and 1d\n",
		        (unsigned long long)req->validity);
		r = JIT_ERR_TIME_RANGE;
		goto out;
	}
	/* The certificate's rules for each name, and the protocol's count. */
	if (req->nprincipals > PROTO_PRINCIPALS_MAX) {
		fprintf(stderr, "jit-ca: principals: more than %d\n", PROTO_PRINCIPALS_MAX);
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((r = cert_req_add_principals(&scratch, principals)) != 0) {
		r = cli_fail_value(cli, "principals", principals, r);
		goto out;
	}
	if (source != NULL &&
	    (strlen(source) > PROTO_ADDR_MAX || addr_list_validate(source) != 0)) {
		r = cli_fail_value(cli, "source address", source, JIT_ERR_INVALID_FORMAT);
		goto out;
	}
	if ((probe = buf_new(PROTO_FRAME_MAX)) == NULL) {
		r = cli_fail(cli, "request", JIT_ERR_ALLOC);
		goto out;
	}
	if ((r = proto_request_encode(req, probe)) != 0) {
		fprintf(stderr,
		        "jit-ca: request: user, ticket, reason or session id not usable: %s\n",
		        jit_err(r));
		goto out;
	}
	r = 0;
out:
	buf_free(probe);
	cert_req_clear(&scratch);
	return r;
}

/* What the service gave, on stderr. */
static void report_issued(const struct cert *c, const struct proto_response *resp)
{
	char until[TIME_TEXT_MAX];
	size_t i;

	if (time_format_local(c->valid_before, until, sizeof(until)) != 0)
		snprintf(until, sizeof(until), "%llu", (unsigned long long)c->valid_before);
	fprintf(stderr, "Certificate serial %llu", (unsigned long long)c->serial);
	for (i = 0; i < c->nprincipals; i++) {
		fputs(i == 0 ? " for " : ",", stderr);
		cli_put_safe(stderr, c->principals[i]);
	}
	fprintf(stderr, " valid until %s%s\n", until,
	        resp->clamped ? " (clamped to the CA's cap)" : "");
}

int cmd_request(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"breakglass", required_argument, NULL, OPT_BREAKGLASS},
	        {"session", required_argument, NULL, OPT_SESSION},
	        {"source-address", required_argument, NULL, OPT_SOURCE_ADDRESS},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *user = NULL, *principals = NULL, *validity = NULL;
	const char *ticket = NULL, *reason = NULL, *session = NULL, *source = NULL;
	const char *out_arg = NULL, *key_path;
	const char **endpoints = NULL;
	char msg[CLIENT_MSG_MAX], session_buf[32];
	struct jit_config *conf = NULL;
	struct proto_request req;
	struct proto_response resp;
	struct key *subject = NULL;
	struct cert *cert = NULL;
	char *out_path = NULL;
	uint64_t secs = 0;
	size_t i;
	int c, r = JIT_ERR_INTERNAL;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:u:n:t:V:o:h", longopts, NULL)) != -1) {
		const char **slot;
		const char *name;

		switch (c) {
		case 'c':
			slot = &config_path;
			break;
		case 'u':
			slot = &user;
			break;
		case 'n':
			slot = &principals;
			break;
		case 't':
			slot = &ticket;
			break;
		case 'V':
			slot = &validity;
			break;
		case 'o':
			slot = &out_arg;
			break;
		case OPT_BREAKGLASS:
			slot = &reason;
			break;
		case OPT_SESSION:
			slot = &session;
			break;
		case OPT_SOURCE_ADDRESS:
			slot = &source;
			break;
		case 'h':
			r = cli_help(usage);
			goto out;
		default:
			r = cli_bad_option(cli, usage, c, argv);
			goto out;
		}
		if (*slot != NULL) {
			name = c == OPT_BREAKGLASS       ? "--breakglass"
			       : c == OPT_SESSION        ? "--session"
			       : c == OPT_SOURCE_ADDRESS ? "--source-address"
			                                 : NULL;
			if (name != NULL)
				r = cli_usage_error(cli, usage, "option %s given twice", name);
			else
				r = cli_usage_error(cli, usage, "option -%c given twice", c);
			goto out;
		}
		*slot = optarg;
	}
	r = CMD_USAGE;
	if (user == NULL)
		r = cli_usage_error(cli, usage, "-u USER is required");
	else if (principals == NULL)
		r = cli_usage_error(cli, usage, "-n PRINCIPALS is required");
	else if (ticket == NULL && reason == NULL)
		r = cli_usage_error(cli, usage, "-t TICKET or --breakglass REASON is required");
	else if (ticket != NULL && reason != NULL)
		r = cli_usage_error(cli, usage, "-t and --breakglass exclude each other");
	else if (optind >= argc)
		r = cli_usage_error(cli, usage, "KEY.pub is required");
	else if (argc - optind > 1)
		r = cli_usage_error(cli, usage, "one KEY.pub at a time");
	else if ((config_path != NULL && *config_path == '\0') ||
	         (out_arg != NULL && *out_arg == '\0'))
		r = cli_usage_error(cli, usage, "empty file name");
	else
		r = 0;
	if (r != 0)
		goto out;
	key_path = argv[optind];
	if (config_path == NULL)
		config_path = CONFIG_PATH_DEFAULT;

	if ((r = config_load(config_path, CONFIG_CA_CLIENT, &conf, msg, sizeof(msg))) != 0) {
		cli->sys_errno = errno;
		fputs("jit-ca: ", stderr);
		cli_put_safe(stderr, msg[0] != '\0' ? msg : jit_err(r));
		fputc('\n', stderr);
		goto out;
	}
	if (validity != NULL) {
		if ((r = time_parse_duration(validity, 1, &secs)) != 0) {
			r = cli_fail_value(cli, "validity", validity, r);
			goto out;
		}
	} else
		secs = conf->certificates.validity != 0 ? conf->certificates.validity
		                                        : DEFAULT_VALIDITY;
	req.validity = secs;
	req.context = ticket != NULL ? PROTO_CTX_TICKET : PROTO_CTX_BREAKGLASS;
	if (session == NULL) {
		if ((r = random_session(session_buf, sizeof(session_buf))) != 0) {
			r = cli_fail(cli, "session id", r);
			goto out;
		}
		session = session_buf;
	}
	if ((r = dup_field(&req.user, user)) != 0 ||
	    (r = dup_field(&req.ticket, ticket != NULL ? ticket : "")) != 0 ||
	    (r = dup_field(&req.reason, reason != NULL ? reason : "")) != 0 ||
	    (r = dup_field(&req.session, session)) != 0 ||
	    (r = dup_field(&req.source_address, source != NULL ? source : "")) != 0 ||
	    (r = split_principals(principals, &req)) != 0) {
		r = cli_fail(cli, "request", r);
		goto out;
	}

	if ((r = cli_cert_out_path(cli, out_arg, key_path, &out_path)) != 0)
		goto out;
	if ((r = key_load_public(key_path, &subject)) != 0) {
		r = cli_fail(cli, key_path, r);
		goto out;
	}
	if ((req.pubkey = malloc(subject->blob_len)) == NULL) {
		r = cli_fail(cli, key_path, JIT_ERR_ALLOC);
		goto out;
	}
	memcpy(req.pubkey, subject->blob, subject->blob_len);
	req.pubkey_len = subject->blob_len;

	/* Checked here so that a bad value is the user's input, not the CA's refusal. */
	if ((r = check_values(cli, &req, principals, source)) != 0)
		goto out;

	if ((endpoints = calloc(conf->ca.n_endpoints + 1, sizeof(*endpoints))) == NULL) {
		r = cli_fail(cli, "request", JIT_ERR_ALLOC);
		goto out;
	}
	for (i = 0; i < conf->ca.n_endpoints; i++)
		endpoints[i] = conf->ca.endpoints[i].text;
	r = client_request_tls(endpoints, conf->ca.n_endpoints, conf->ca.timeout * 1000,
	                       &conf->ca.client_tls, &req, &resp, msg, sizeof(msg));
	if (r != 0) {
		fputs("jit-ca: request: no CA endpoint answered: ", stderr);
		cli_put_safe(stderr, msg);
		fputc('\n', stderr);
		r = REQUEST_UNREACHABLE;
		goto out;
	}
	if (resp.status != PROTO_OK) {
		fprintf(stderr, "jit-ca: request: %s: ", proto_status_name(resp.status));
		cli_put_safe(stderr, resp.message);
		fputc('\n', stderr);
		r = CMD_REFUSED;
		goto out;
	}
	if ((r = cert_parse(resp.cert, resp.cert_len, &cert)) != 0) {
		fputs("jit-ca: request: the CA returned a bad certificate: ", stderr);
		fprintf(stderr, "%s\n", jit_err(r));
		r = REQUEST_UNREACHABLE;
		goto out;
	}
	if (!key_equal_public(cert->subject, subject)) {
		fputs("jit-ca: request: the CA returned a certificate for another key\n", stderr);
		r = REQUEST_UNREACHABLE;
		goto out;
	}
	if (cert->cert_type != CERT_TYPE_USER || cert->serial != resp.serial) {
		fputs("jit-ca: request: the CA returned a certificate that does not match its "
		      "answer\n",
		      stderr);
		r = REQUEST_UNREACHABLE;
		goto out;
	}
	if ((r = cli_write_cert(cli, cert, subject->comment, key_path, out_path)) != 0)
		goto out;
	report_issued(cert, &resp);
	r = 0;
out:
	free(out_path);
	free(endpoints);
	cert_free(cert);
	key_free(subject);
	proto_response_free(&resp);
	proto_request_free(&req);
	config_free(conf);
	OPENSSL_cleanse(msg, sizeof(msg));
	return r;
}
