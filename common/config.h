/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The configuration file (/etc/jit/jit.conf, libconfig syntax) shared by the
 * PAM module, the session agent and the CA service, and the tickets file.
 *
 * Every program names the groups it needs; every group present is checked
 * whole (unknown settings, types, ranges), so a typo never silently weakens
 * policy, and the requested groups must also be complete. Errors come back
 * as a code plus a message naming the file, line and setting:
 *   /etc/jit/jit.conf:12: ca.max_validity: "5x" is not a duration (...)
 *
 * Files are read with file_read(FILE_TRUSTED) and parsed from memory:
 * libconfig never opens a path itself, and "@include" is refused.
 */
#ifndef JIT_CONFIG_H
#define JIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_PATH_DEFAULT "/etc/jit/jit.conf"

/* Groups a caller needs (config_load's mask). */
#define CONFIG_CA_CLIENT    0x01 /* ca.endpoints, timeout, client_tls */
#define CONFIG_CA_SERVICE   0x02 /* ca.key, listen, tls, caps, requesters, ... */
#define CONFIG_TICKETS      0x04
#define CONFIG_CERTIFICATES 0x08
#define CONFIG_WINDOWS      0x10
#define CONFIG_BREAKGLASS   0x20
#define CONFIG_ALL          0x3f

/* Limits. */
#define CONFIG_FILE_MAX       (1024 * 1024) /* bytes in jit.conf */
#define CONFIG_STRING_MAX     4096          /* bytes in any string value */
#define CONFIG_NAME_MAX       256           /* user, group, principal, ... */
#define CONFIG_LIST_MAX       64            /* endpoints, requesters, windows, argv */
#define CONFIG_PRINCIPALS_MAX 256           /* any list of names */
#define CONFIG_MSG_MAX        512           /* a message buffer that always suffices */
#define CONFIG_ZONEINFO_DIR   "/usr/share/zoneinfo"

#define CONFIG_ENDPOINT_UNIX 1 /* "unix:/run/jit-ca/ca.sock" */
#define CONFIG_ENDPOINT_TLS  2 /* "tls://ca.example.org:7443", "tls://[::1]:7443" */

#define CONFIG_AUDIT_FSYNC       1 /* "fsync" */
#define CONFIG_AUDIT_SYSLOG_ONLY 2 /* "syslog-only" */

#define CONFIG_TICKETS_FILE    1 /* "file" */
#define CONFIG_TICKETS_COMMAND 2 /* "command" */

/* Durations are seconds; lists of strings are also NULL-terminated. */

struct config_endpoint {
	int type;      /* CONFIG_ENDPOINT_* */
	char *text;    /* as written */
	char *path;    /* unix: absolute socket path */
	char *host;    /* tls: host name or address, IPv6 without brackets */
	uint16_t port; /* tls */
};

struct config_tls {
	char *cert; /* PEM certificate chain */
	char *key;  /* PEM private key */
	char *ca;   /* CA bundle: ca.tls.client_ca / ca.client_tls.ca */
};

struct config_requester {
	char *name;
	char **unix_users; /* matched by SO_PEERCRED on the Unix socket */
	size_t n_unix_users;
	char **unix_groups;
	size_t n_unix_groups;
	char **tls_names; /* client certificate names, over TLS */
	size_t n_tls_names;
	char **principals; /* "*" allows any */
	size_t n_principals;
	uint64_t max_validity;            /* default and at most ca.max_validity */
	uint64_t breakglass_max_validity; /* default and at most ca.breakglass_max_validity */
	char *source_address;             /* required in its certificates; NULL: none */
	char **extensions;                /* it may ask for */
	size_t n_extensions;
	char **critical_options; /* "force-command", "source-address", "verify-required" */
	size_t n_critical_options;
};

struct config_ca {
	/* Client side (CONFIG_CA_CLIENT). */
	struct config_endpoint *endpoints; /* in failover order */
	size_t n_endpoints;
	uint64_t timeout;
	struct config_tls client_tls; /* all NULL when absent */
	/* Service side (CONFIG_CA_SERVICE). */
	char *key;
	struct config_endpoint *listen;
	size_t n_listen;
	struct config_tls tls; /* all NULL when absent */
	char *state_dir;
	char *audit_log;
	int audit_sync; /* CONFIG_AUDIT_* */
	uint64_t max_validity;
	uint64_t breakglass_max_validity;
	uint32_t max_connections;
	uint64_t request_timeout;
	uint32_t max_request;
	struct config_requester *requesters;
	size_t n_requesters;
};

struct config_tickets {
	int backend; /* CONFIG_TICKETS_* */
	char *file;
	char **command; /* argv, command[0] absolute */
	size_t n_command;
	uint64_t timeout;
};

struct config_certificates {
	uint64_t validity;
	char **extensions;
	size_t n_extensions;
	char *source_address; /* NULL when not set */
};

struct config_recurring {
	char **groups;
	size_t n_groups;
	char **users;
	size_t n_users;
	uint8_t days;   /* bit N set: weekday N as in struct tm (0 Sunday .. 6 Saturday) */
	uint16_t start; /* minutes after midnight, 0..1439 */
	uint16_t end;   /* minutes after midnight, start < end <= 1440 */
	char *tz;       /* IANA name, present under CONFIG_ZONEINFO_DIR */
};

struct config_freeze {
	uint64_t start; /* seconds since the epoch, start < end */
	uint64_t end;
	char *reason; /* NULL when not set */
};

struct config_windows {
	struct config_recurring *recurring;
	size_t n_recurring;
	struct config_freeze *freeze;
	size_t n_freeze;
};

struct config_breakglass {
	int enabled; /* the group is present */
	char *keyword;
	char *group;
	uint64_t validity; /* <= session_max */
	uint32_t min_reason;
	char **principals;
	size_t n_principals;
	uint64_t session_max;
	char **notify; /* argv, notify[0] absolute; NULL when not set */
	size_t n_notify;
	uint64_t notify_timeout;
};

struct jit_config {
	unsigned groups; /* the mask it was loaded with */
	struct config_ca ca;
	struct config_tickets tickets;
	struct config_certificates certificates;
	struct config_windows windows;
	struct config_breakglass breakglass;
};

/*
 * Reads path (FILE_TRUSTED, at most CONFIG_FILE_MAX bytes) and parses it.
 * Returns 0, JIT_ERR_CONFIG_SYNTAX, JIT_ERR_CONFIG_INVALID, or file_read()'s
 * errors (JIT_ERR_FILE_PERMISSIONS, JIT_ERR_FILE_TYPE for a symbolic link,
 * JIT_ERR_FILE_TOO_LARGE, JIT_ERR_SYSTEM), with a message in msg (may be
 * NULL; "" on success; CONFIG_MSG_MAX bytes hold any message but one with
 * a very long file name, which is cut). Free the result with config_free().
 */
int config_load(const char *path, unsigned groups, struct jit_config **ret, char *msg,
                size_t msglen);
/*
 * The same from memory: text holds len bytes and a terminating NUL (an
 * embedded NUL is a syntax error); name is used in messages.
 */
int config_parse_string(const char *name, const char *text, size_t len, unsigned groups,
                        struct jit_config **ret, char *msg, size_t msglen);
void config_free(struct jit_config *c);

/*
 * The tickets file (libconfig): tickets = ( { id = "CHG-1001"; ... }, ... );
 * Only TICKET_APPROVED grants access.
 */
#define TICKET_APPROVED 1
#define TICKET_PENDING  2
#define TICKET_REJECTED 3
#define TICKET_CLOSED   4

#define TICKET_ID_MAX    64                 /* 1..64 of [A-Za-z0-9._-] */
#define TICKETS_FILE_MAX (64 * 1024 * 1024) /* bytes in a tickets file */
#define TICKETS_MAX      1000000            /* entries in a tickets file */

/* A user, group or principal name: 1..CONFIG_NAME_MAX printable ASCII bytes, no space or comma. */
bool config_is_name(const char *v);
/* A ticket id: 1..TICKET_ID_MAX of [A-Za-z0-9._-]. */
bool config_is_ticket_id(const char *v);

struct ticket {
	char *id;
	int state; /* TICKET_* */
	char **users;
	size_t n_users;
	char **groups;
	size_t n_groups;
	char **principals;
	size_t n_principals;
	uint64_t not_before; /* seconds since the epoch, not_before < not_after */
	uint64_t not_after;
	char **hosts; /* empty: not restricted */
	size_t n_hosts;
	unsigned line; /* where it starts in the file */
};

struct tickets {
	struct ticket *v; /* sorted by id */
	size_t n;
};

/*
 * Reads and checks the whole file: every ticket, ids unique. For tools;
 * a login wants tickets_lookup().
 */
int tickets_load(const char *path, struct tickets **ret, char *msg, size_t msglen);
int tickets_parse(const char *name, const char *text, size_t len, struct tickets **ret, char *msg,
                  size_t msglen);
/* The ticket with this id, or NULL. */
const struct ticket *tickets_find(const struct tickets *t, const char *id);
void tickets_free(struct tickets *t);

/*
 * Finds one ticket without building the others: checks the syntax of the
 * whole file and that the id occurs once, then checks and returns only that
 * entry. JIT_ERR_NOT_FOUND when absent, JIT_ERR_INVALID_FORMAT when id is
 * not a ticket id. Free the result with ticket_free().
 */
int tickets_lookup(const char *path, const char *id, struct ticket **ret, char *msg, size_t msglen);
int tickets_lookup_string(const char *name, const char *text, size_t len, const char *id,
                          struct ticket **ret, char *msg, size_t msglen);
void ticket_free(struct ticket *t);

#endif
