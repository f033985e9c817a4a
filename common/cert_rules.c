/* SPDX-License-Identifier: BSD-2-Clause */
#include <string.h>

#include "addr.h"
#include "cert.h"
#include "cert_rules.h"
#include "err.h"

static const char *const standard_extensions[] = {
        "no-touch-required",
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
};

int cert_rule_text(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0')
			return JIT_ERR_EMBEDDED_NUL;
		if (c < 0x20 || c > 0x7e)
			return JIT_ERR_BAD_CHARACTER;
	}
	return 0;
}

int cert_rule_principal(const char *s, size_t len)
{
	size_t i;
	int r;

	if (len == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > CERT_PRINCIPAL_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	if ((r = cert_rule_text(s, len)) != 0)
		return r;
	for (i = 0; i < len; i++)
		if (s[i] == ' ' || s[i] == ',')
			return JIT_ERR_BAD_CHARACTER;
	return 0;
}

int cert_rule_key_id(const char *s, size_t len)
{
	if (len == 0)
		return JIT_ERR_INVALID_ARGUMENT;
	if (len > CERT_KEY_ID_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	return cert_rule_text(s, len);
}

static int rule_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > CERT_OPTION_NAME_MAX)
		return JIT_ERR_CERT_BAD_OPTION;
	return cert_rule_text(name, len) == 0 && strchr(name, ' ') == NULL
	               ? 0
	               : JIT_ERR_CERT_BAD_OPTION;
}

static int rule_value(const char *value, size_t vlen)
{
	if (vlen > CERT_OPTION_VALUE_MAX)
		return JIT_ERR_STRING_TOO_LARGE;
	return cert_rule_text(value, vlen);
}

int cert_rule_critical(const char *name, const char *value, size_t vlen)
{
	int r;

	if (strcmp(name, "verify-required") == 0)
		return value == NULL ? 0 : JIT_ERR_CERT_BAD_OPTION;
	if (strcmp(name, "force-command") != 0 && strcmp(name, "source-address") != 0)
		return JIT_ERR_CERT_BAD_OPTION;
	if (value == NULL || vlen == 0)
		return JIT_ERR_CERT_BAD_OPTION;
	if ((r = rule_value(value, vlen)) != 0)
		return r;
	if (name[0] == 's' && addr_list_validate(value) != 0)
		return JIT_ERR_CERT_BAD_OPTION;
	return 0;
}

/* NAME@DOMAIN: a non-empty local part and a domain of letters, digits, '.', '-'. */
static int is_custom_name(const char *name)
{
	const char *at = strchr(name, '@');
	const char *p;

	if (at == NULL || at == name || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return 0;
	for (p = at + 1; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return 0;
	return 1;
}

int cert_rule_extension(const char *name, const char *value, size_t vlen)
{
	size_t i;
	int r;

	if ((r = rule_name(name)) != 0)
		return r;
	for (i = 0; i < sizeof(standard_extensions) / sizeof(standard_extensions[0]); i++)
		if (strcmp(name, standard_extensions[i]) == 0)
			return value == NULL ? 0 : JIT_ERR_CERT_BAD_OPTION;
	if (!is_custom_name(name))
		return JIT_ERR_CERT_BAD_OPTION;
	return value == NULL ? 0 : rule_value(value, vlen);
}

int cert_rule_extension_lax(const char *name, const char *value, size_t vlen)
{
	int r;

	if ((r = rule_name(name)) != 0)
		return r;
	return value == NULL ? 0 : rule_value(value, vlen);
}
