/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Times and durations as users write them: config durations ("90s", "5m"),
 * ssh-keygen validity intervals ("+5m", "-1m:+5m", "20261123", "always"),
 * and RFC 3339 timestamps. All times are seconds since the epoch (UTC).
 */
#ifndef JIT_TIMEFMT_H
#define JIT_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* The largest time we accept or print (9999-12-31T23:59:59Z). */
#define TIME_MAX ((uint64_t)253402300799ULL)
/* A certificate valid_before of "forever", as OpenSSH writes it. */
#define TIME_FOREVER UINT64_MAX
/* Longest accepted text form of any time or duration. */
#define TIME_TEXT_MAX 64

/*
 * A duration with units: one or more NUMBER UNIT groups, unit one of
 * s m h d w ("90s", "5m", "1h30m"). A bare number is refused when
 * require_unit is set (config files), and means seconds otherwise
 * (ssh-keygen). At most 10 years.
 */
int time_parse_duration(const char *s, int require_unit, uint64_t *ret);

/*
 * One point in time, relative to now: "+DURATION" or "-DURATION"; an
 * absolute YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS (local time, or UTC
 * with a trailing "Z"), as ssh-keygen reads them; an RFC 3339 timestamp;
 * "now"; or "0x" followed by hex seconds since the epoch.
 */
int time_parse_point(const char *s, uint64_t now, uint64_t *ret);

/*
 * An ssh-keygen -V validity interval: "FROM:TO" or a single "TO" meaning
 * from now. FROM may also be "always" (0), TO "forever" (TIME_FOREVER).
 * TO must be later than FROM (JIT_ERR_CERT_BAD_VALIDITY).
 */
int time_parse_validity(const char *s, uint64_t now, uint64_t *ret_after, uint64_t *ret_before);

/* RFC 3339 timestamp with "Z" or a numeric offset; fractions of a second are refused. */
int time_parse_rfc3339(const char *s, uint64_t *ret);
/* "2026-11-23T08:00:00Z"; out must hold 21 bytes. */
int time_format_rfc3339(uint64_t t, char *out, size_t outlen);
/*
 * Like ssh-keygen -L: "2026-11-23T09:00:00" in local time, "always" for 0,
 * "forever" for TIME_FOREVER.
 */
int time_format_local(uint64_t t, char *out, size_t outlen);
/* "5m", "1h30m", "90s" (largest units first; "0s" for zero). */
int time_format_duration(uint64_t secs, char *out, size_t outlen);

#endif
