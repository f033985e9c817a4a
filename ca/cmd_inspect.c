/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jit-ca inspect: print certificates in the layout of "ssh-keygen -L", or
 * as JSON, one object per line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "cmd.h"
#include "err.h"
#include "key.h"
#include "timefmt.h"

static const char usage[] =
        "usage: jit-ca inspect [--json] CERT...\n"
        "\n"
        "Prints each certificate as \"ssh-keygen -L\" does (\"-\" reads standard\n"
        "input); --json prints one JSON object per certificate and line.\n";

/* ssh-keygen -L indents fields by eight spaces and list items by sixteen. */
#define FIELD "        "
#define ITEM  "                "

static const char *cert_type_text(uint32_t t)
{
	switch (t) {
	case CERT_TYPE_USER:
		return "user";
	case CERT_TYPE_HOST:
		return "host";
	default:
		return "unknown";
	}
}

static int is_flag_extension(const char *name)
{
	static const char *const flags[] = {
	        "permit-X11-forwarding",  "permit-agent-forwarding",
	        "permit-port-forwarding", "permit-pty",
	        "permit-user-rc",         "no-touch-required",
	};
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(name, flags[i]) == 0)
			return 1;
	return 0;
}

/* One option as ssh-keygen shows it; unknown data as the hex of its wire form. */
static void print_option(const struct cert_opt *o, int critical)
{
	size_t len, i;

	fputs(ITEM, stdout);
	cli_put_safe(stdout, o->name);
	if (!critical && is_flag_extension(o->name))
		fputc('\n', stdout);
	else if (critical && o->value != NULL &&
	         (strcmp(o->name, "force-command") == 0 ||
	          strcmp(o->name, "source-address") == 0)) {
		fputc(' ', stdout);
		cli_put_safe(stdout, o->value);
		fputc('\n', stdout);
	} else if (critical && strcmp(o->name, "verify-required") == 0)
		fputc('\n', stdout);
	else if (o->value != NULL) {
		/* The data is one string: uint32 length, then the bytes. */
		len = strlen(o->value);
		fputs(" UNKNOWN OPTION: ", stdout);
		printf("%02x%02x%02x%02x", (unsigned)(len >> 24) & 0xff,
		       (unsigned)(len >> 16) & 0xff, (unsigned)(len >> 8) & 0xff,
		       (unsigned)len & 0xff);
		for (i = 0; i < len; i++)
			printf("%02x", (unsigned char)o->value[i]);
		printf(" (len %zu)\n", len + 4);
	} else
		fputs(" UNKNOWN FLAG OPTION\n", stdout);
}

static void print_options(const char *title, const struct cert_opts *o, int critical)
{
	size_t i;

	printf(FIELD "%s: ", title);
	if (o->n == 0) {
		fputs("(none)\n", stdout);
		return;
	}
	fputc('\n', stdout);
	for (i = 0; i < o->n; i++)
		print_option(&o->v[i], critical);
}

static int print_text(const char *path, unsigned long line, const struct cert *c,
                      const char *key_fp, const char *ca_fp)
{
	char valid[2 * TIME_TEXT_MAX + 16];
	const char *type_name = key_cert_type_name(c->type);
	size_t i;
	int r;

	if ((r = cli_format_validity(c->valid_after, c->valid_before, valid, sizeof(valid))) != 0)
		return r;
	if (line == 0) {
		cli_put_safe(stdout, path);
		fputs(":\n", stdout);
	} else
		printf("(stdin):%lu:\n", line);
	printf(FIELD "Type: %s %s certificate\n", type_name != NULL ? type_name : "unknown",
	       cert_type_text(c->cert_type));
	printf(FIELD "Public key: %s %s\n", cli_key_label(c->type, 1), key_fp);
	printf(FIELD "Signing CA: %s %s (using ", cli_key_label(c->ca->type, 0), ca_fp);
	cli_put_safe(stdout, c->sig_alg);
	fputs(")\n" FIELD "Key ID: \"", stdout);
	cli_put_safe(stdout, c->key_id);
	printf("\"\n" FIELD "Serial: %llu\n", (unsigned long long)c->serial);
	printf(FIELD "Valid: %s\n", valid);
	fputs(FIELD "Principals: ", stdout);
	if (c->nprincipals == 0)
		fputs("(none)", stdout);
	for (i = 0; i < c->nprincipals; i++) {
		fputs("\n" ITEM, stdout);
		cli_put_safe(stdout, c->principals[i]);
	}
	fputc('\n', stdout);
	print_options("Critical Options", &c->critical, 1);
	print_options("Extensions", &c->extensions, 0);
	return 0;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned long cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF, and C1 controls. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0;
	return len;
}

/*
 * A JSON string. Quotes, backslashes and control characters are escaped;
 * bytes that are not valid UTF-8 (or C1 controls) become \u00XX as if
 * Latin-1, so the output is always valid JSON.
 */
static void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), len;

	fputc('"', stdout);
	while (n > 0) {
		if (*p == '"' || *p == '\\') {
			fputc('\\', stdout);
			fputc(*p, stdout);
			len = 1;
		} else if (*p >= 0x20 && *p < 0x7f) {
			fputc(*p, stdout);
			len = 1;
		} else if (*p >= 0x80 && (len = utf8_len(p, n)) > 0)
			fwrite(p, 1, len, stdout);
		else {
			printf("\\u%04x", *p);
			len = 1;
		}
		p += len;
		n -= len;
	}
	fputc('"', stdout);
}

static void json_time(uint64_t t, int unbounded)
{
	char buf[TIME_TEXT_MAX];

	if (unbounded || time_format_rfc3339(t, buf, sizeof(buf)) != 0)
		fputs("null", stdout);
	else
		json_string(buf);
}

static void json_options(const struct cert_opts *o)
{
	size_t i;

	fputc('{', stdout);
	for (i = 0; i < o->n; i++) {
		if (i > 0)
			fputc(',', stdout);
		json_string(o->v[i].name);
		fputc(':', stdout);
		json_string(o->v[i].value != NULL ? o->v[i].value : "");
	}
	fputc('}', stdout);
}

static void print_json(const char *path, const struct cert *c, const char *key_fp,
                       const char *ca_fp)
{
	const char *type_name = key_cert_type_name(c->type);
	const char *key_name = key_type_name(c->type);
	const char *ca_name = key_type_name(c->ca->type);
	size_t i;

	fputs("{\"file\":", stdout);
	json_string(path);
	fputs(",\"type\":", stdout);
	json_string(type_name != NULL ? type_name : "unknown");
	fputs(",\"cert_type\":", stdout);
	json_string(cert_type_text(c->cert_type));
	fputs(",\"public_key\":{\"type\":", stdout);
	json_string(key_name != NULL ? key_name : "unknown");
	fputs(",\"fingerprint\":", stdout);
	json_string(key_fp);
	fputs("},\"signing_ca\":{\"type\":", stdout);
	json_string(ca_name != NULL ? ca_name : "unknown");
	fputs(",\"fingerprint\":", stdout);
	json_string(ca_fp);
	fputs(",\"signature_algorithm\":", stdout);
	json_string(c->sig_alg);
	fputs("},\"key_id\":", stdout);
	json_string(c->key_id);
	printf(",\"serial\":%llu", (unsigned long long)c->serial);
	printf(",\"valid_after\":%llu", (unsigned long long)c->valid_after);
	printf(",\"valid_before\":%llu", (unsigned long long)c->valid_before);
	fputs(",\"valid_after_rfc3339\":", stdout);
	json_time(c->valid_after, c->valid_after == 0);
	fputs(",\"valid_before_rfc3339\":", stdout);
	json_time(c->valid_before, c->valid_before == TIME_FOREVER);
	fputs(",\"principals\":[", stdout);
	for (i = 0; i < c->nprincipals; i++) {
		if (i > 0)
			fputc(',', stdout);
		json_string(c->principals[i]);
	}
	fputs("],\"critical_options\":", stdout);
	json_options(&c->critical);
	fputs(",\"extensions\":", stdout);
	json_options(&c->extensions);
	fputs("}\n", stdout);
}

static int inspect_one(struct cli *cli, const char *path, int json)
{
	struct cert *c = NULL;
	char *key_fp = NULL, *ca_fp = NULL;
	unsigned long line = 0;
	int r = JIT_ERR_INTERNAL;

	if ((r = cli_load_cert(path, &c, &line)) != 0 ||
	    (r = key_fingerprint(c->subject, &key_fp)) != 0 ||
	    (r = key_fingerprint(c->ca, &ca_fp)) != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	if (json)
		print_json(path, c, key_fp, ca_fp);
	else if ((r = print_text(path, line, c, key_fp, ca_fp)) != 0) {
		r = cli_fail(cli, path, r);
		goto out;
	}
	r = 0;
out:
	free(ca_fp);
	free(key_fp);
	cert_free(c);
	return r;
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c, i, json = 0, stdin_used = 0, r, first = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			return cli_help(usage);
		default:
			return cli_bad_option(cli, usage, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, usage, "CERT is required");
	for (i = optind; i < argc; i++) {
		if (strcmp(argv[i], "-") != 0)
			continue;
		if (stdin_used++)
			return cli_usage_error(cli, usage, "standard input named twice");
	}
	/* Every file is shown; the status is that of the first failure. */
	for (i = optind; i < argc; i++) {
		if ((r = inspect_one(cli, argv[i], json)) != 0 && first == 0)
			first = r;
		if (fflush(stdout) != 0) {
			r = cli_fail(cli, "standard output", JIT_ERR_SYSTEM);
			return first != 0 ? first : r;
		}
	}
	return first;
}
