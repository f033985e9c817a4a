/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The signing service end to end: jit-ca serve, started here on a fresh CA
 * key in a temporary directory ($TMPDIR or /tmp), answering 1, 8 and 64
 * client processes that each connect, request, read and close, over and
 * over, for a few seconds. Once with the durable audit log (fsync, group
 * commit) and once with audit_sync = "syslog-only". Beside it, in the same
 * run: raw OpenSSL Ed25519 signing on one core (this thread's CPU time, as
 * bench_sign), the service's resident size holding 1000 idle connections,
 * and ssh-keygen -s per certificate. No pass/fail: a table and the ratios,
 * each figure the median of a few rounds.
 *
 * The service runs as the invoking user; as root it gets --allow-root (the
 * privilege drop is not what is measured). Clients and service share the
 * machine's cores, as on a bastion host they would not: the service rate is
 * a lower bound.
 *
 *   bench_serve JIT_CA [-t SECONDS] [-r ROUNDS] [-k SSH_KEYGEN_RUNS]
 */
#define _GNU_SOURCE /* mkdtemp, nftw flags */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "build_config.h"

#include "cert.h"
#include "client.h"
#include "err.h"
#include "key.h"
#include "proto.h"

#define ROUNDS_MAX 15
#define LAT_POOL   (1u << 21) /* latency samples per measurement, all clients */
#define IDLE_CONNS 1000
#define NCONC      3

static const int conc_levels[NCONC] = {1, 8, 64};

static char dir[64];
static char sock_path[128];
static const char *jit_ca;
static pid_t svc_pid = -1;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void stop_service(void)
{
	int st, i;

	if (svc_pid <= 0)
		return;
	kill(svc_pid, SIGTERM);
	for (i = 0; i < 100 && waitpid(svc_pid, &st, WNOHANG) == 0; i++)
		usleep(50000);
	if (i == 100) {
		kill(svc_pid, SIGKILL);
		waitpid(svc_pid, &st, 0);
	}
	svc_pid = -1;
}

static void cleanup(void)
{
	stop_service();
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_serve: %s\n", what);
	cleanup();
	exit(1);
}

/* Runs argv with stdio on /dev/null; its exit status, or -1. */
static int run_quiet(const char *const argv[])
{
	pid_t p = fork();
	int st, fd;

	if (p < 0)
		return -1;
	if (p == 0) {
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* execvp does not write through argv; its prototype predates const. */
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void write_config(const char *path, const char *user, int syslog_only)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		die("cannot write the configuration");
	fprintf(f,
	        "ca = {\n"
	        "  endpoints = [ \"unix:%s\" ];\n"
	        "  key = \"%s/ca\";\n"
	        "  listen = [ \"unix:%s\" ];\n"
	        "  state_dir = \"%s/state\";\n"
	        "  audit_log = \"%s/audit.jsonl\";\n"
	        "  %s\n"
	        "  max_connections = 1100;\n"
	        "  request_timeout = \"60s\";\n"
	        "  requesters = ( { name = \"bench\"; unix_users = [ \"%s\" ];\n"
	        "                   principals = [ \"alice\" ]; } );\n"
	        "};\n"
	        "certificates = { validity = \"5m\"; };\n",
	        sock_path, dir, sock_path, dir, dir,
	        syslog_only ? "audit_sync = \"syslog-only\";" : "", user);
	fclose(f);
	chmod(path, 0600);
}

static int try_connect(void)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, strlen(sock_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void start_service(const char *conf)
{
	char log[128];
	int i, fd;

	snprintf(log, sizeof(log), "%s/serve.log", dir);
	if ((svc_pid = fork()) < 0)
		die("fork");
	if (svc_pid == 0) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0)
			dup2(fd, 2);
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		if (geteuid() == 0)
			execl(jit_ca, jit_ca, "serve", "-c", conf, "--allow-root", (char *)NULL);
		else
			execl(jit_ca, jit_ca, "serve", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		if ((fd = try_connect()) >= 0) {
			close(fd);
			return;
		}
		usleep(50000);
	}
	die("the service did not start (see its log in the temporary directory)");
}

/* The request every client sends. */
static void make_request(struct proto_request *req, const struct key *user)
{
	static char alice[] = "alice", ticket[] = "CHG-1001", empty[] = "", session[] = "bench";
	static char *principals[] = {alice};

	memset(req, 0, sizeof(*req));
	req->user = alice;
	req->pubkey = user->blob;
	req->pubkey_len = user->blob_len;
	req->principals = principals;
	req->nprincipals = 1;
	req->validity = 300;
	req->context = PROTO_CTX_TICKET;
	req->ticket = ticket;
	req->reason = empty;
	req->session = session;
	req->source_address = empty;
}

struct result {
	double rate, p50_ms, p99_ms;
	double svc_ms, signer_ms; /* CPU time per certificate */
	uint64_t failed;
};

#define SIGNERS_MAX 16

static int signers_of(pid_t pid, pid_t *ret, int max);

/* utime + stime of a process in clock ticks, or 0. */
static unsigned long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command name in parentheses: state is field 3, utime 14, stime 15. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return ut + st;
}

/*
 * conc processes, each: connect, request, read, close, again, for seconds.
 * Latencies land in a shared pool, a slice per process.
 */
static struct result measure(const struct proto_request *req, int conc, double seconds)
{
	char ep[160];
	const char *eps[1] = {ep};
	size_t slice = LAT_POOL / (size_t)conc, total = 0, i;
	uint32_t *lat;
	uint64_t *count, *failed;
	struct result res;
	pid_t kids[64], sp[SIGNERS_MAX];
	int nsp = signers_of(svc_pid, sp, SIGNERS_MAX), j;
	unsigned long long svc0, sig0 = 0, sig1 = 0;
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	int go[2], k, st;
	char c;

	memset(&res, 0, sizeof(res));
	snprintf(ep, sizeof(ep), "unix:%s", sock_path);
	lat = mmap(NULL, LAT_POOL * sizeof(*lat) + 2 * 64 * sizeof(uint64_t),
	           PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED || pipe(go) != 0)
		die("mmap/pipe");
	count = (uint64_t *)(lat + LAT_POOL);
	failed = count + 64;
	for (k = 0; k < conc; k++) {
		if ((kids[k] = fork()) < 0)
			die("fork");
		if (kids[k] == 0) {
			uint64_t end, t0;
			struct proto_response resp;

			close(go[1]);
			/* Everyone starts together: the parent closes the pipe. */
			if (read(go[0], &c, 1) != 0)
				_exit(1);
			end = mono_us() + (uint64_t)(seconds * 1e6);
			while ((t0 = mono_us()) < end) {
				memset(&resp, 0, sizeof(resp));
				if (client_request(eps, 1, 10000, req, &resp, NULL, 0) == 0 &&
				    resp.status == PROTO_OK) {
					if (count[k] < slice)
						lat[(size_t)k * slice + count[k]] =
						        (uint32_t)(mono_us() - t0);
					count[k]++;
				} else {
					failed[k]++;
				}
				proto_response_free(&resp);
			}
			_exit(0);
		}
	}
	close(go[0]);
	usleep(100000);
	svc0 = cpu_ticks(svc_pid);
	for (j = 0; j < nsp; j++)
		sig0 += cpu_ticks(sp[j]);
	close(go[1]);
	for (k = 0; k < conc; k++)
		waitpid(kids[k], &st, 0);
	res.svc_ms = (double)(cpu_ticks(svc_pid) - svc0) * tick_ms;
	for (j = 0; j < nsp; j++)
		sig1 += cpu_ticks(sp[j]);
	res.signer_ms = (double)(sig1 - sig0) * tick_ms;
	/* Gather the samples to the front of the pool. */
	for (k = 0; k < conc; k++) {
		size_t n = count[k] < slice ? count[k] : slice;

		memmove(lat + total, lat + (size_t)k * slice, n * sizeof(*lat));
		total += n;
		res.failed += failed[k];
		res.rate += (double)count[k];
	}
	if (res.rate > 0) {
		res.svc_ms /= res.rate;
		res.signer_ms /= res.rate;
	}
	res.rate /= seconds;
	if (total > 0) {
		qsort(lat, total, sizeof(*lat), cmp_u32);
		i = (total * 99 + 99) / 100 - 1;
		res.p50_ms = lat[total / 2] / 1000.0;
		res.p99_ms = lat[i] / 1000.0;
	}
	munmap(lat, LAT_POOL * sizeof(*lat) + 2 * 64 * sizeof(uint64_t));
	return res;
}

static long status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':')
			v = strtol(line + flen + 1, NULL, 10);
	fclose(f);
	return v;
}

/* The service's signer processes (its children); how many. */
static int signers_of(pid_t pid, pid_t *ret, int max)
{
	char path[96];
	long child;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (n < max && fscanf(f, "%ld", &child) == 1)
		ret[n++] = (pid_t)child;
	fclose(f);
	return n;
}

static int fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* VmRSS of the service and its signers with IDLE_CONNS idle connections (kB). */
static void idle_rss(long *ret_parent, long *ret_signer, long *ret_before)
{
	int *fds, i, base;
	struct rlimit rl;

	*ret_parent = *ret_signer = *ret_before = -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max < IDLE_CONNS + 64) {
		fprintf(stderr, "bench_serve: file limit too low for %d connections\n", IDLE_CONNS);
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if ((fds = calloc(IDLE_CONNS, sizeof(*fds))) == NULL)
		die("calloc");
	*ret_before = status_kb(svc_pid, "VmRSS");
	base = fd_count(svc_pid);
	for (i = 0; i < IDLE_CONNS; i++)
		if ((fds[i] = try_connect()) < 0)
			die("idle connection refused");
	/* Bounded: until the service has accepted them all. */
	for (i = 0; i < 100 && fd_count(svc_pid) < base + IDLE_CONNS; i++)
		usleep(50000);
	*ret_parent = status_kb(svc_pid, "VmRSS");
	{
		pid_t sp[SIGNERS_MAX];
		int n = signers_of(svc_pid, sp, SIGNERS_MAX), j;

		*ret_signer = 0;
		for (j = 0; j < n; j++)
			*ret_signer += status_kb(sp[j], "VmRSS");
	}
	for (i = 0; i < IDLE_CONNS; i++)
		close(fds[i]);
	free(fds);
}

/* Raw Ed25519 signatures per second of CPU time, on the CA key. */
static double raw_sign_rate(EVP_PKEY *pkey, size_t len, int n)
{
	uint8_t msg[CERT_BLOB_MAX], sig[64];
	size_t siglen;
	double t0;
	int i;

	memset(msg, 0xa5, sizeof(msg));
	t0 = cpu_now();
	for (i = 0; i < n; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		siglen = sizeof(sig);
		if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
		    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1)
			die("raw sign failed");
		EVP_MD_CTX_free(ctx);
	}
	return n / (cpu_now() - t0);
}

/* ssh-keygen -s certificates per second of wall time, one after another. */
static double keygen_rate(int n)
{
	char ca[96], pub[96], serial[24];
	const char *argv[] = {
	        "ssh-keygen", "-q",    "-s", ca,    "-I", "user=alice ticket=CHG-1001",
	        "-n",         "alice", "-V", "+5m", "-z", serial,
	        pub,          NULL};
	uint64_t t0;
	int i;

	snprintf(ca, sizeof(ca), "%s/ca", dir);
	snprintf(pub, sizeof(pub), "%s/user.pub", dir);
	t0 = mono_us();
	for (i = 0; i < n; i++) {
		snprintf(serial, sizeof(serial), "%d", i + 1);
		if (run_quiet(argv) != 0)
			return -1;
	}
	return n / ((double)(mono_us() - t0) / 1e6);
}

int main(int argc, char **argv)
{
	struct result res[2][NCONC][ROUNDS_MAX];
	double med_rate[2][NCONC], med_p50[2][NCONC], med_p99[2][NCONC], v[ROUNDS_MAX];
	double med_svc[2][NCONC], med_sig[2][NCONC];
	double sign[ROUNDS_MAX], m_sign, kg[ROUNDS_MAX], m_kg;
	struct proto_request req;
	struct proto_response resp;
	struct passwd *pw;
	struct key *user = NULL, *ca = NULL;
	struct cert *cert = NULL;
	char conf[2][96], keyfile[96], userfile[96], ep[160];
	const char *eps[1] = {ep};
	const char *tmp = getenv("TMPDIR");
	const char *init_argv[] = {NULL, "init", "-f", keyfile, NULL};
	long rss_p = -1, rss_s = -1, rss_0 = -1;
	double seconds = 2;
	int rounds = 3, kruns = 50, opt, m, c, r;
	uint64_t failed = 0;
	size_t signed_len;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: bench_serve JIT_CA [-t SECONDS] [-r ROUNDS] [-k N]\n");
		return 2;
	}
	jit_ca = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "t:r:k:")) != -1) {
		switch (opt) {
		case 't':
			seconds = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'k':
			kruns = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (seconds < 0.1 || seconds > 60 || rounds < 1 || rounds > ROUNDS_MAX || kruns < 1) {
		fprintf(stderr, "bench_serve: -t 0.1..60, -r 1..%d, -k >= 1\n", ROUNDS_MAX);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((pw = getpwuid(geteuid())) == NULL)
		die("who am I");
	snprintf(dir, sizeof(dir), "%s/jit-bench.XXXXXX",
	         tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
	if (strlen(dir) > 40 || mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		die("mkdtemp (TMPDIR too long?)");
	}
	snprintf(sock_path, sizeof(sock_path), "%s/ca.sock", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/ca", dir);
	snprintf(userfile, sizeof(userfile), "%s/user", dir);
	snprintf(conf[0], sizeof(conf[0]), "%s/fsync.conf", dir);
	snprintf(conf[1], sizeof(conf[1]), "%s/syslog-only.conf", dir);
	snprintf(ep, sizeof(ep), "unix:%s", sock_path);
	init_argv[0] = jit_ca;
	{
		char state[96];

		snprintf(state, sizeof(state), "%s/state", dir);
		if (mkdir(state, 0700) != 0)
			die("mkdir state");
	}
	if (run_quiet(init_argv) != 0)
		die("jit-ca init failed");
	if (key_generate(KEY_ED25519, 0, &user) != 0 || key_write_pair(user, userfile, "user") != 0)
		die("user key");
	if (key_load_private(keyfile, NULL, &ca) != 0)
		die("cannot load the CA key");
	write_config(conf[0], pw->pw_name, 0);
	write_config(conf[1], pw->pw_name, 1);
	make_request(&req, user);

	for (m = 0; m < 2; m++) {
		start_service(conf[m]);
		/* A fresh service: what 1000 idle connections cost it. */
		if (m == 0)
			idle_rss(&rss_p, &rss_s, &rss_0);
		/* Warm up, and learn the signed length for the raw reference. */
		memset(&resp, 0, sizeof(resp));
		if (client_request(eps, 1, 10000, &req, &resp, NULL, 0) != 0 ||
		    resp.status != PROTO_OK || cert_parse(resp.cert, resp.cert_len, &cert) != 0)
			die("the service does not issue certificates (see its log)");
		signed_len = cert->signed_len;
		cert_free(cert);
		cert = NULL;
		proto_response_free(&resp);
		for (r = 0; r < rounds; r++) {
			for (c = 0; c < NCONC; c++) {
				res[m][c][r] = measure(&req, conc_levels[c], seconds);
				failed += res[m][c][r].failed;
			}
			if (m == 0)
				sign[r] = raw_sign_rate(ca->pkey, signed_len, 20000);
		}
		stop_service();
	}
	for (r = 0; r < rounds; r++)
		kg[r] = keygen_rate(kruns);
	m_sign = median(sign, rounds);
	m_kg = median(kg, rounds);
	for (m = 0; m < 2; m++) {
		for (c = 0; c < NCONC; c++) {
			for (r = 0; r < rounds; r++)
				v[r] = res[m][c][r].rate;
			med_rate[m][c] = median(v, rounds);
			for (r = 0; r < rounds; r++)
				v[r] = res[m][c][r].p50_ms;
			med_p50[m][c] = median(v, rounds);
			for (r = 0; r < rounds; r++)
				v[r] = res[m][c][r].p99_ms;
			med_p99[m][c] = median(v, rounds);
			for (r = 0; r < rounds; r++)
				v[r] = res[m][c][r].svc_ms;
			med_svc[m][c] = median(v, rounds);
			for (r = 0; r < rounds; r++)
				v[r] = res[m][c][r].signer_ms;
			med_sig[m][c] = median(v, rounds);
		}
	}

	printf("bench_serve: jit-ca serve on this machine (%ld cores online), %.1f s per "
	       "measurement, medians of %d rounds; audit log in %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), seconds, rounds, tmp != NULL ? tmp : "/tmp");
	if (!JIT_SIGN_SELF_CHECK)
		printf("  MEASUREMENT BUILD: signatures not verified before they leave the signer "
		       "(-Dsign_self_check=false)\n");
	printf("  raw OpenSSL Ed25519 sign (one core, CPU time)  %9.0f /s  (%zu signed bytes)\n",
	       m_sign, signed_len);
	printf("  ssh-keygen -s, one process per certificate     %9.1f /s  (%d runs)\n\n", m_kg,
	       kruns);
	printf("  %-12s %7s %9s %8s %8s %9s %11s %16s\n", "audit", "clients", "certs/s", "p50 ms",
	       "p99 ms", "/raw sign", "/ssh-keygen", "CPU ms/cert s+s");
	for (m = 0; m < 2; m++)
		for (c = 0; c < NCONC; c++)
			printf("  %-12s %7d %9.0f %8.2f %8.2f %9.3f %11.1f %8.3f+%.3f\n",
			       m == 0 ? "fsync" : "syslog-only", conc_levels[c], med_rate[m][c],
			       med_p50[m][c], med_p99[m][c], med_rate[m][c] / m_sign,
			       med_rate[m][c] / m_kg, med_svc[m][c], med_sig[m][c]);
	printf("  (CPU ms/cert s+s: the service process + its signers, per certificate;"
	       " one raw signature is %.3f ms)\n",
	       1000 / m_sign);
	if (failed > 0)
		printf("  (%llu requests without a certificate, not counted)\n",
		       (unsigned long long)failed);
	printf("\n  resident size, %d idle connections: service %ld kB + signers %ld kB = %.1f MiB"
	       " (service %ld kB fresh, before them)\n",
	       IDLE_CONNS, rss_p, rss_s, (double)(rss_p + rss_s) / 1024, rss_0);
	printf("\n  issue targets (noted, not asserted): 8 clients >= 0.25 x raw (fsync), "
	       ">= 0.5 x raw (syslog-only);\n  p99 < 5 ms at 8 clients; < 32 MiB with 1000 idle "
	       "connections.\n");

	key_free(user);
	key_free(ca);
	cleanup();
	return 0;
}
