/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One error table for all of pam_jit: functions return 0 on success or a
 * negative JIT_ERR_* code; jit_err() gives the text. Library code does not
 * log: callers decide what to print.
 */
#ifndef JIT_ERR_H
#define JIT_ERR_H

#define JIT_ERR_INTERNAL         -1  /* internal error */
#define JIT_ERR_ALLOC            -2  /* out of memory */
#define JIT_ERR_INVALID_ARGUMENT -3  /* invalid argument */
#define JIT_ERR_MESSAGE_INCOMPLETE -4 /* truncated data */
#define JIT_ERR_NO_BUFFER_SPACE  -5  /* size limit exceeded */
#define JIT_ERR_STRING_TOO_LARGE -6  /* string too large */
#define JIT_ERR_INVALID_FORMAT   -7  /* invalid format */
#define JIT_ERR_TRAILING_DATA    -8  /* unexpected trailing data */
#define JIT_ERR_EMBEDDED_NUL     -9  /* string contains a NUL byte */
#define JIT_ERR_BIGNUM_INVALID   -10 /* invalid or negative multiple-precision integer */
#define JIT_ERR_BIGNUM_TOO_LARGE -11 /* multiple-precision integer too large */
#define JIT_ERR_KEY_TYPE_UNKNOWN -12 /* unknown or unsupported key type */
#define JIT_ERR_KEY_TYPE_MISMATCH -13 /* key type does not match */
#define JIT_ERR_KEY_INVALID      -14 /* invalid key */
#define JIT_ERR_KEY_LENGTH       -15 /* invalid key length */
#define JIT_ERR_EC_CURVE_INVALID -16 /* invalid or mismatched elliptic curve */
#define JIT_ERR_EC_POINT_INVALID -17 /* invalid elliptic curve point */
#define JIT_ERR_SIG_ALG_MISMATCH -18 /* signature algorithm does not match the key */
#define JIT_ERR_SIG_INVALID      -19 /* incorrect signature */
#define JIT_ERR_LIBCRYPTO        -20 /* error in libcrypto */
#define JIT_ERR_LIBSSH           -21 /* error in libssh */
#define JIT_ERR_KEY_ENCRYPTED    -22 /* key is encrypted: a passphrase is required */
#define JIT_ERR_KEY_WRONG_PASSPHRASE -23 /* wrong passphrase or corrupt key */
#define JIT_ERR_KEY_UNSUPPORTED_CIPHER -24 /* unsupported key encryption */
#define JIT_ERR_CERT_TYPE        -25 /* not a user certificate */
#define JIT_ERR_CERT_NO_PRINCIPALS -26 /* certificate has no principals */
#define JIT_ERR_CERT_BAD_OPTION  -27 /* unknown, duplicate or unsorted certificate option */
#define JIT_ERR_CERT_BAD_VALIDITY -28 /* invalid certificate validity interval */
#define JIT_ERR_CERT_NOT_YET_VALID -29 /* certificate is not yet valid */
#define JIT_ERR_CERT_EXPIRED     -30 /* certificate has expired */
#define JIT_ERR_CERT_PRINCIPAL   -31 /* principal not in certificate */
#define JIT_ERR_CERT_CA_MISMATCH -32 /* certificate is not signed by the given CA */
#define JIT_ERR_CERT_SOURCE_ADDRESS -33 /* source address not allowed by certificate */
#define JIT_ERR_CERT_CA_IS_CERT  -34 /* a certificate cannot be a CA key */
#define JIT_ERR_BAD_CHARACTER    -35 /* control character or invalid byte in text */
#define JIT_ERR_SYSTEM           -36 /* system error (see errno) */
#define JIT_ERR_FILE_PERMISSIONS -37 /* bad file ownership or permissions */
#define JIT_ERR_FILE_TYPE        -38 /* not a regular file */
#define JIT_ERR_FILE_TOO_LARGE   -39 /* file too large */
#define JIT_ERR_TIME_INVALID     -40 /* invalid time or duration */
#define JIT_ERR_TIME_RANGE       -41 /* time or duration out of range */
#define JIT_ERR_RSA_TOO_SMALL    -42 /* RSA key shorter than 2048 bits */
#define JIT_ERR_RANDOM           -43 /* random number generator failed */
#define JIT_ERR_NOT_FOUND        -44 /* not found */
#define JIT_ERR_CONFIG_SYNTAX    -45 /* configuration syntax error */
#define JIT_ERR_CONFIG_INVALID   -46 /* invalid configuration setting */
#define JIT_ERR_AUDIT_CHAIN      -47 /* audit log hash chain broken */
#define JIT_ERR_AUDIT_WRITE      -48 /* audit log not durably written */
#define JIT_ERR_KRL_INVALID      -49 /* invalid key revocation list */
#define JIT_ERR_PROTO_VERSION    -50 /* unsupported protocol version */

/* Keep in sync with the table in err.c. */
#define JIT_ERR_MIN -50

const char *jit_err(int r);

#endif
