/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Certificate signing throughput against raw OpenSSL Ed25519 signing,
 * measured in the same run on the same key and a message of the same size.
 * Time is this thread's CPU time, so other load on a shared machine counts
 * less; rounds alternate between the paths and the medians of the per-round
 * ratios are reported. No pass/fail: the figures and ratios are the output.
 *
 *   bench_sign [-n CERTS_PER_ROUND] [-r ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "build_config.h"

#include "cert.h"
#include "err.h"
#include "key.h"

#define ROUNDS_MAX 99

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The reference: one EVP_DigestSign per message, as little around it as OpenSSL allows. */
static double raw_sign_rate(EVP_PKEY *pkey, const uint8_t *msg, size_t len, int n)
{
	uint8_t sig[64];
	size_t siglen;
	double t0 = now_sec();
	int i;

	for (i = 0; i < n; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		siglen = sizeof(sig);
		if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
		    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1) {
			fprintf(stderr, "raw sign failed\n");
			exit(1);
		}
		EVP_MD_CTX_free(ctx);
	}
	return n / (now_sec() - t0);
}

static double raw_verify_rate(EVP_PKEY *pkey, const uint8_t *msg, size_t len, int n)
{
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	double t0;
	int i;

	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1)
		exit(1);
	EVP_MD_CTX_free(ctx);
	t0 = now_sec();
	for (i = 0; i < n; i++) {
		ctx = EVP_MD_CTX_new();
		if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
		    EVP_DigestVerify(ctx, sig, siglen, msg, len) != 1) {
			fprintf(stderr, "raw verify failed\n");
			exit(1);
		}
		EVP_MD_CTX_free(ctx);
	}
	return n / (now_sec() - t0);
}

static double build_rate(const struct cert_req *req, const struct key *user, const struct key *ca,
                         int n, size_t *ret_signed_len)
{
	struct cert *c = NULL;
	double t0 = now_sec();
	int i, r;

	for (i = 0; i < n; i++) {
		if ((r = cert_build(req, user, ca, &c)) != 0) {
			fprintf(stderr, "cert_build: %s\n", jit_err(r));
			exit(1);
		}
		*ret_signed_len = c->signed_len;
		cert_free(c);
	}
	return n / (now_sec() - t0);
}

int main(int argc, char **argv)
{
	double sign[ROUNDS_MAX], verify[ROUNDS_MAX], build[ROUNDS_MAX];
	double ratio[ROUNDS_MAX], ratio_sv[ROUNDS_MAX], own[ROUNDS_MAX];
	double m_sign, m_verify, m_build;
	struct key *ca = NULL, *user = NULL;
	struct cert_req req;
	uint8_t msg[CERT_BLOB_MAX];
	size_t signed_len = 0;
	int n = 20000, rounds = 5, i, opt;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		switch (opt) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench_sign [-n CERTS_PER_ROUND] [-r ROUNDS]\n");
			return 2;
		}
	}
	if (n < 1 || rounds < 1 || rounds > ROUNDS_MAX) {
		fprintf(stderr, "bench_sign: -n must be >= 1, -r 1..%d\n", ROUNDS_MAX);
		return 2;
	}
	if (key_generate(KEY_ED25519, 0, &ca) != 0 || key_generate(KEY_ED25519, 0, &user) != 0) {
		fprintf(stderr, "bench_sign: key generation failed\n");
		return 1;
	}
	/* A certificate as a bastion would ask for one. */
	cert_req_init(&req);
	if (cert_req_set_key_id(
	            &req, "user=alice ticket=CHG-1001 session=4f1c requester=bastion-1") != 0 ||
	    cert_req_add_principals(&req, "alice,deploy") != 0 ||
	    cert_req_set_option(&req, 1, "source-address", "127.0.0.1/32") != 0 ||
	    cert_req_set_option(&req, 0, "permit-pty", NULL) != 0 ||
	    cert_req_set_option(&req, 0, "ticket@pam-jit", "CHG-1001") != 0) {
		fprintf(stderr, "bench_sign: request setup failed\n");
		return 1;
	}
	req.serial = 1;
	req.valid_after = (uint64_t)time(NULL) - 60;
	req.valid_before = req.valid_after + 360;

	/* Warm up both paths, and learn the signed length for the raw reference. */
	build_rate(&req, user, ca, 200, &signed_len);
	memset(msg, 0xa5, sizeof(msg));
	raw_sign_rate(ca->pkey, msg, signed_len, 200);

	for (i = 0; i < rounds; i++) {
		sign[i] = raw_sign_rate(ca->pkey, msg, signed_len, n);
		build[i] = build_rate(&req, user, ca, n, &signed_len);
		verify[i] = raw_verify_rate(ca->pkey, msg, signed_len, n);
		ratio[i] = build[i] / sign[i];
		ratio_sv[i] = build[i] * (1 / sign[i] + 1 / verify[i]);
		/* Time per certificate beyond one signature and one verification, in signatures. */
		own[i] = (1 / build[i] - 1 / sign[i] - (JIT_SIGN_SELF_CHECK ? 1 / verify[i] : 0)) *
		         sign[i];
	}
	m_sign = median(sign, rounds);
	m_verify = median(verify, rounds);
	m_build = median(build, rounds);

	printf("bench_sign: Ed25519 CA and subject, %zu signed bytes, %d per round, %d rounds,"
	       " medians, CPU time\n",
	       signed_len, n, rounds);
	printf("  raw OpenSSL Ed25519 sign      %9.0f /s\n", m_sign);
	printf("  raw OpenSSL Ed25519 verify    %9.0f /s\n", m_verify);
	if (JIT_SIGN_SELF_CHECK)
		printf("  cert_build (sign + self-check) %8.0f /s\n", m_build);
	else
		printf("  cert_build (measurement build, no self-check) %8.0f /s\n", m_build);
	printf("  ratio cert_build / raw sign   %9.2f\n", median(ratio, rounds));
	if (JIT_SIGN_SELF_CHECK)
		printf("  ratio cert_build / (raw sign + raw verify) %.2f\n",
		       median(ratio_sv, rounds));
	printf("  builder's own cost            %9.0f%% of a signature (beyond the signature%s)\n",
	       median(own, rounds) * 100, JIT_SIGN_SELF_CHECK ? " and its check" : "");

	cert_req_clear(&req);
	key_free(ca);
	key_free(user);
	return 0;
}
