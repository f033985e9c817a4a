/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * OpenSSH user certificates (PROTOCOL.certkeys): a builder that signs with
 * a CA key and checks its own signature, and an independent parser and
 * verifier.
 */
#ifndef JIT_CERT_H
#define JIT_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "key.h"

#define CERT_TYPE_USER 1
#define CERT_TYPE_HOST 2

/* Bounds on everything a certificate carries. */
#define CERT_BLOB_MAX       16384
#define CERT_NONCE_LEN      32
#define CERT_NONCE_MAX      256
#define CERT_KEY_ID_MAX     1024
#define CERT_PRINCIPAL_MAX  256  /* bytes in one principal */
#define CERT_PRINCIPALS_MAX 256  /* principals in one certificate */
#define CERT_OPTIONS_MAX    64   /* critical options, and extensions */
#define CERT_OPTION_NAME_MAX  128
#define CERT_OPTION_VALUE_MAX 4096

/* One critical option or extension. value is NULL when it carries no data. */
struct cert_opt {
	char *name;
	char *value;
};

struct cert_opts {
	struct cert_opt *v;
	size_t n;
};

/* What the builder is asked to sign. */
struct cert_req {
	uint64_t serial;
	char *key_id;
	char **principals;
	size_t nprincipals;
	uint64_t valid_after;
	uint64_t valid_before;
	struct cert_opts critical;
	struct cert_opts extensions;
};

/* A parsed (or built) certificate. */
struct cert {
	enum key_type type;     /* of the subject key */
	struct key *subject;    /* the subject's public key */
	uint8_t *nonce;
	size_t nonce_len;
	uint64_t serial;
	uint32_t cert_type;
	char *key_id;
	char **principals;
	size_t nprincipals;
	uint64_t valid_after;
	uint64_t valid_before;
	struct cert_opts critical;   /* sorted, unique */
	struct cert_opts extensions; /* sorted, unique */
	struct key *ca;              /* the signature key */
	char *sig_alg;               /* the signature's algorithm name */
	uint8_t *blob;               /* the whole certificate blob */
	size_t blob_len;
	size_t signed_len;           /* bytes of blob the signature covers */
};

/* An empty request (no principals, no options). */
void cert_req_init(struct cert_req *req);
/* Frees what the request holds and leaves it empty. */
void cert_req_clear(struct cert_req *req);
/*
 * Adds a principal: 1..CERT_PRINCIPAL_MAX bytes, printable, no commas or
 * spaces; a duplicate is refused (JIT_ERR_INVALID_ARGUMENT).
 */
int cert_req_add_principal(struct cert_req *req, const char *p);
/* Adds each name of a comma-separated list ("alice,deploy"). */
int cert_req_add_principals(struct cert_req *req, const char *list);
int cert_req_set_key_id(struct cert_req *req, const char *key_id);
/*
 * Sets a critical option (critical != 0) or an extension, replacing one of
 * the same name. Critical options: force-command (value required),
 * source-address (a valid CIDR list), verify-required (no value). Extensions:
 * the standard ones (no value) or NAME@DOMAIN (value optional).
 */
int cert_req_set_option(struct cert_req *req, int critical, const char *name, const char *value);
/* Removes an option if present. */
void cert_req_unset_option(struct cert_req *req, int critical, const char *name);
/* ssh-keygen's default extensions: permit-X11-forwarding ... permit-user-rc. */
int cert_req_default_extensions(struct cert_req *req);
/*
 * Applies one ssh-keygen -O option: clear, force-command=CMD,
 * source-address=LIST, verify-required, [no-|permit-]{X11-forwarding,
 * agent-forwarding, port-forwarding, pty, user-rc}, no-touch-required,
 * critical:NAME[=VALUE], extension:NAME[=VALUE].
 */
int cert_req_apply_keygen_option(struct cert_req *req, const char *opt);

/*
 * Builds and signs a user certificate for subject with the CA's private
 * key: random nonce, options sorted, and the signature checked before
 * returning. Refuses an empty principal list, an empty or control-character
 * key ID, valid_before <= valid_after, a CA key that cannot sign.
 */
int cert_build(const struct cert_req *req, const struct key *subject, const struct key *ca,
	       struct cert **ret);
/*
 * What cert_build would refuse before signing, and JIT_ERR_NO_BUFFER_SPACE
 * when the certificate could exceed CERT_BLOB_MAX: for a caller without
 * the private key (the service's network side) to refuse a request that
 * is too large as the caller's error, before it reaches the signer.
 */
int cert_check_size(const struct cert_req *req, const struct key *subject, const struct key *ca);

/*
 * Parses a certificate blob (the whole of it) and checks the signature
 * against the signature key it names. Bounded by the CERT_* limits; options
 * must be sorted and unique; unknown critical options are refused. Does not
 * decide whether the CA is trusted or the certificate is valid now: see
 * cert_verify.
 */
int cert_parse(const uint8_t *blob, size_t len, struct cert **ret);
/*
 * cert_parse without the signature check (its structure is still checked):
 * only for a blob whose signature a trusted party has just checked, such
 * as the service's signer process, whose cert_build verifies what it signs.
 */
int cert_parse_unverified(const uint8_t *blob, size_t len, struct cert **ret);
/* "TYPE-cert-v01@openssh.com BASE64[ COMMENT]" (one line). */
int cert_parse_line(const char *line, size_t len, struct cert **ret);
/* Reads a certificate file (bounded). */
int cert_load(const char *path, struct cert **ret);
void cert_free(struct cert *c);

/* What cert_verify checks besides the signature. */
struct cert_check {
	const struct key *ca;  /* required: the trusted CA public key */
	const char *principal; /* NULL: any (the list must still be non-empty) */
	uint64_t at;           /* the time to check against */
	const char *from;      /* NULL: not checked; else the client's address */
};

/*
 * Decides as sshd would, for a certificate from cert_parse or cert_build
 * (whose signature those already checked): a user certificate, signed by check->ca, with a
 * non-empty principal list naming check->principal, valid_after <= at <
 * valid_before, and source-address (if any) admitting check->from. Returns
 * the first failing rule's JIT_ERR_CERT_* code.
 */
int cert_verify(const struct cert *c, const struct cert_check *check);

/* "TYPE-cert-v01@openssh.com BASE64[ COMMENT]" without a newline. */
int cert_to_line(const struct cert *c, const char *comment, char **ret);
/* The option named name, or NULL. */
const struct cert_opt *cert_opts_find(const struct cert_opts *o, const char *name);

#endif
