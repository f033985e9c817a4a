/* SPDX-License-Identifier: BSD-2-Clause */
#include "err.h"

static const char *const err_text[] = {
        [0] = "success",
        [-JIT_ERR_INTERNAL] = "internal error",
        [-JIT_ERR_ALLOC] = "out of memory",
        [-JIT_ERR_INVALID_ARGUMENT] = "invalid argument",
        [-JIT_ERR_MESSAGE_INCOMPLETE] = "truncated data",
        [-JIT_ERR_NO_BUFFER_SPACE] = "size limit exceeded",
        [-JIT_ERR_STRING_TOO_LARGE] = "string too large",
        [-JIT_ERR_INVALID_FORMAT] = "invalid format",
        [-JIT_ERR_TRAILING_DATA] = "unexpected trailing data",
        [-JIT_ERR_EMBEDDED_NUL] = "string contains a NUL byte",
        [-JIT_ERR_BIGNUM_INVALID] = "invalid or negative multiple-precision integer",
        [-JIT_ERR_BIGNUM_TOO_LARGE] = "multiple-precision integer too large",
        [-JIT_ERR_KEY_TYPE_UNKNOWN] = "unknown or unsupported key type",
        [-JIT_ERR_KEY_TYPE_MISMATCH] = "key type does not match",
        [-JIT_ERR_KEY_INVALID] = "invalid key",
        [-JIT_ERR_KEY_LENGTH] = "invalid key length",
        [-JIT_ERR_EC_CURVE_INVALID] = "invalid or mismatched elliptic curve",
        [-JIT_ERR_EC_POINT_INVALID] = "invalid elliptic curve point",
        [-JIT_ERR_SIG_ALG_MISMATCH] = "signature algorithm does not match the key",
        [-JIT_ERR_SIG_INVALID] = "incorrect signature",
        [-JIT_ERR_LIBCRYPTO] = "error in libcrypto",
        [-JIT_ERR_LIBSSH] = "error in libssh",
        [-JIT_ERR_KEY_ENCRYPTED] = "key is encrypted: a passphrase is required",
        [-JIT_ERR_KEY_WRONG_PASSPHRASE] = "wrong passphrase or corrupt key",
        [-JIT_ERR_KEY_UNSUPPORTED_CIPHER] = "unsupported key encryption",
        [-JIT_ERR_CERT_TYPE] = "not a user certificate",
        [-JIT_ERR_CERT_NO_PRINCIPALS] = "certificate has no principals",
        [-JIT_ERR_CERT_BAD_OPTION] = "unknown, duplicate or unsorted certificate option",
        [-JIT_ERR_CERT_BAD_VALIDITY] = "invalid certificate validity interval",
        [-JIT_ERR_CERT_NOT_YET_VALID] = "certificate is not yet valid",
        [-JIT_ERR_CERT_EXPIRED] = "certificate has expired",
        [-JIT_ERR_CERT_PRINCIPAL] = "principal not in certificate",
        [-JIT_ERR_CERT_CA_MISMATCH] = "certificate is not signed by the given CA",
        [-JIT_ERR_CERT_SOURCE_ADDRESS] = "source address not allowed by certificate",
        [-JIT_ERR_CERT_CA_IS_CERT] = "a certificate cannot be a CA key",
        [-JIT_ERR_BAD_CHARACTER] = "control character or invalid byte in text",
        [-JIT_ERR_SYSTEM] = "system error",
        [-JIT_ERR_FILE_PERMISSIONS] = "bad file ownership or permissions",
        [-JIT_ERR_FILE_TYPE] = "not a regular file",
        [-JIT_ERR_FILE_TOO_LARGE] = "file too large",
        [-JIT_ERR_TIME_INVALID] = "invalid time or duration",
        [-JIT_ERR_TIME_RANGE] = "time or duration out of range",
        [-JIT_ERR_RSA_TOO_SMALL] = "RSA key shorter than 2048 bits",
        [-JIT_ERR_RANDOM] = "random number generator failed",
        [-JIT_ERR_NOT_FOUND] = "not found",
        [-JIT_ERR_CONFIG_SYNTAX] = "configuration syntax error",
        [-JIT_ERR_CONFIG_INVALID] = "invalid configuration setting",
        [-JIT_ERR_AUDIT_CHAIN] = "audit log hash chain broken",
        [-JIT_ERR_AUDIT_WRITE] = "audit log not durably written",
        [-JIT_ERR_KRL_INVALID] = "invalid key revocation list",
        [-JIT_ERR_PROTO_VERSION] = "unsupported protocol version",
};

_Static_assert(sizeof(err_text) / sizeof(err_text[0]) == 1 - JIT_ERR_MIN,
               "err_text and JIT_ERR_MIN disagree");

const char *jit_err(int r)
{
	if (r > 0 || r < JIT_ERR_MIN || err_text[-r] == 0)
		return "unknown error";
	return err_text[-r];
}
