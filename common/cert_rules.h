/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What a certificate may carry: the rules both the builder and the parser
 * apply to principals, key IDs and options. Internal to common/.
 */
#ifndef JIT_CERT_RULES_H
#define JIT_CERT_RULES_H

#include <stddef.h>

/* Printable ASCII only (0x20..0x7e): nothing that could forge a log line. */
int cert_rule_text(const char *s, size_t len);
/* 1..CERT_PRINCIPAL_MAX bytes of 0x21..0x7e, no comma. */
int cert_rule_principal(const char *s, size_t len);
/* 1..CERT_KEY_ID_MAX bytes of printable text. */
int cert_rule_key_id(const char *s, size_t len);
/* A critical option we know how to honour, with a well-formed value. */
int cert_rule_critical(const char *name, const char *value, size_t vlen);
/* A standard extension (no value), or NAME@DOMAIN with an optional text value. */
int cert_rule_extension(const char *name, const char *value, size_t vlen);
/* Any extension a parser must accept: printable name, printable value. */
int cert_rule_extension_lax(const char *name, const char *value, size_t vlen);

#endif
