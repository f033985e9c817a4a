/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A certificate login made with libssh, for the interop tests. OpenSSH's ssh
 * checks a certificate's signature when it loads the file and never sends a
 * tampered one; libssh sends the certificate as it is, so this is how a
 * tampered certificate reaches sshd and sshd's own refusal can be asserted.
 *
 * usage: interop_cert_client [-b BINDADDR] -p PORT -l USER HOST KEY CERT
 * Prints "authenticated" (exit 0) or "refused" (exit 1); other errors exit 2.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <libssh/libssh.h>

#define USAGE "usage: interop_cert_client [-b BINDADDR] -p PORT -l USER HOST KEY CERT\n"

enum { CLIENT_OK = 0, CLIENT_REFUSED = 1, CLIENT_ERROR = 2 };

static int cert_login(const char *bind, int port, const char *user, const char *host,
                      const char *key_path, const char *cert_path)
{
	int r = CLIENT_ERROR;
	ssh_session s = NULL;
	ssh_key priv = NULL;
	ssh_key cert = NULL;
	long timeout = 10;
	bool process_config = false;

	if ((s = ssh_new()) == NULL)
		goto out;
	/* Only what the command line says: no user config, no known_hosts. */
	if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_HOST, host) != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_USER, user) != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != SSH_OK ||
	    ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, "curve25519-sha256") != SSH_OK ||
	    (bind != NULL && ssh_options_set(s, SSH_OPTIONS_BINDADDR, bind) != SSH_OK)) {
		fprintf(stderr, "interop_cert_client: options: %s\n", ssh_get_error(s));
		goto out;
	}
	if (ssh_pki_import_privkey_file(key_path, NULL, NULL, NULL, &priv) != SSH_OK) {
		fprintf(stderr, "interop_cert_client: cannot load %s\n", key_path);
		goto out;
	}
	if (ssh_pki_import_cert_file(cert_path, &cert) != SSH_OK ||
	    ssh_pki_copy_cert_to_privkey(cert, priv) != SSH_OK) {
		fprintf(stderr, "interop_cert_client: cannot load %s\n", cert_path);
		goto out;
	}
	/* The host key is not checked: the server is the test's own sshd. */
	if (ssh_connect(s) != SSH_OK) {
		fprintf(stderr, "interop_cert_client: connect: %s\n", ssh_get_error(s));
		goto out;
	}
	switch (ssh_userauth_publickey(s, NULL, priv)) {
	case SSH_AUTH_SUCCESS:
		printf("authenticated\n");
		r = CLIENT_OK;
		break;
	case SSH_AUTH_DENIED:
	case SSH_AUTH_PARTIAL:
		printf("refused\n");
		r = CLIENT_REFUSED;
		break;
	default:
		fprintf(stderr, "interop_cert_client: auth: %s\n", ssh_get_error(s));
		break;
	}
out:
	ssh_key_free(cert);
	ssh_key_free(priv);
	if (s != NULL) {
		ssh_disconnect(s);
		ssh_free(s);
	}
	return r;
}

int main(int argc, char **argv)
{
	const char *bind = NULL;
	const char *user = NULL;
	char *end = NULL;
	long port = 0;
	int c;

	while ((c = getopt(argc, argv, "b:l:p:")) != -1) {
		switch (c) {
		case 'b':
			bind = optarg;
			break;
		case 'l':
			user = optarg;
			break;
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port < 1 || port > 65535) {
				fputs(USAGE, stderr);
				return CLIENT_ERROR;
			}
			break;
		default:
			fputs(USAGE, stderr);
			return CLIENT_ERROR;
		}
	}
	if (argc - optind != 3 || user == NULL || port == 0) {
		fputs(USAGE, stderr);
		return CLIENT_ERROR;
	}
	return cert_login(bind, (int)port, user, argv[optind], argv[optind + 1], argv[optind + 2]);
}
