/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Local time in a named zone without TZ or tzset(): those are process-global
 * and a PAM module runs inside sshd. Reads compiled zone files (TZif, RFC
 * 8536, versions 1 to 4) from CONFIG_ZONEINFO_DIR: the 64-bit data of
 * version 2 and later, and the footer's POSIX TZ rule for instants after the
 * last transition (std offset [dst [offset] ,rule[/time],rule[/time]] with
 * rules Jn, n and Mm.w.d, and the version 3 hour range in rule times).
 * Files with leap-second records ("right/" zones) are refused.
 */
#ifndef JIT_TZ_H
#define JIT_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_NAME_MAX 255          /* bytes in a zone name */
#define TZ_FILE_MAX (256 * 1024) /* bytes in a zone file */
/* Instants accepted by tz_offset_at and tz_local_time: |t| <= 2^55 s. */
#define TZ_TIME_LIMIT ((int64_t)1 << 55)

struct tz;

struct tz_local {
	int64_t year;
	int month;     /* 1..12 */
	int day;       /* 1..31 */
	int weekday;   /* 0 Sunday .. 6 Saturday */
	int minute;    /* minutes after midnight, 0..1439 */
	int second;    /* seconds within the minute, 0..59 */
	int32_t utoff; /* seconds east of UTC */
	int isdst;
};

/*
 * Loads CONFIG_ZONEINFO_DIR/name. The name is segments of [A-Za-z0-9_+-]
 * separated by "/", at most TZ_NAME_MAX bytes, not starting with "/".
 * Symbolic links (UTC -> Etc/UTC) are followed, at most a few, and only to
 * names that are themselves valid and inside the directory; the file is read
 * with file_read(FILE_TRUSTED), at most TZ_FILE_MAX bytes. Returns 0,
 * JIT_ERR_INVALID_ARGUMENT for a bad name, file_read()'s errors (JIT_ERR_SYSTEM
 * with errno ENOENT when absent; JIT_ERR_FILE_TYPE also for a directory or a
 * link that leads outside or too far), or tz_parse()'s.
 */
int tz_load(const char *name, struct tz **ret);
/*
 * Parses a TZif image. Returns 0, JIT_ERR_INVALID_FORMAT,
 * JIT_ERR_MESSAGE_INCOMPLETE (truncated), JIT_ERR_TRAILING_DATA,
 * JIT_ERR_FILE_TOO_LARGE (len > TZ_FILE_MAX) or JIT_ERR_ALLOC.
 */
int tz_parse(const uint8_t *data, size_t len, struct tz **ret);
/* Seconds east of UTC at t. JIT_ERR_TIME_RANGE when |t| > TZ_TIME_LIMIT. */
int tz_offset_at(const struct tz *z, int64_t t, int32_t *ret_utoff);
/* The local calendar time at t. JIT_ERR_TIME_RANGE as tz_offset_at. */
int tz_local_time(const struct tz *z, int64_t t, struct tz_local *ret);
void tz_free(struct tz *z);

#endif
