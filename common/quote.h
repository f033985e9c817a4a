/* SPDX-License-Identifier: BSD-2-Clause */
/* Untrusted text made safe to put in a message or a log line. */
#ifndef JIT_QUOTE_H
#define JIT_QUOTE_H

#include <stddef.h>

/* Minimum useful size of a quote buffer. */
#define QUOTE_MIN 16

/*
 * s in double quotes, '"' and '\' escaped, bytes outside printable ASCII as
 * \xNN, cut with "..." to fit outlen (>= QUOTE_MIN). Returns out.
 */
const char *quote(const char *s, char *out, size_t outlen);

/*
 * printf into msg (msglen bytes, cut to fit); nothing when msg is NULL or
 * msglen 0. For the "msg" out-parameters of common/ functions.
 */
void msg_set(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
