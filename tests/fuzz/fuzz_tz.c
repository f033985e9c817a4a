/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Zone file harness: whatever parses answers offsets and local times at a
 * spread of instants, within bounds, and every refusal is a documented code.
 */
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t instants[] = {
        INT64_MIN,  -TZ_TIME_LIMIT, -2208988800,   -1,         0,
        1,          1774746000,     1792890000,    2147483647, 2147483648,
        4102444800, 253402300799,   TZ_TIME_LIMIT, INT64_MAX,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tz *z = NULL;
	struct tz_local l;
	int32_t off;
	size_t i;
	int r;

	r = tz_parse(data, size, &z);
	if (r != 0) {
		if (z != NULL || (r != JIT_ERR_INVALID_FORMAT && r != JIT_ERR_MESSAGE_INCOMPLETE &&
		                  r != JIT_ERR_TRAILING_DATA && r != JIT_ERR_FILE_TOO_LARGE &&
		                  r != JIT_ERR_ALLOC))
			abort();
		return 0;
	}
	for (i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
		int64_t t = instants[i];
		int in = t >= -TZ_TIME_LIMIT && t <= TZ_TIME_LIMIT;

		r = tz_offset_at(z, t, &off);
		if (in ? r != 0 : r != JIT_ERR_TIME_RANGE)
			abort();
		if (off < -93600 || off > 93600 || (r != 0 && off != 0))
			abort();
		r = tz_local_time(z, t, &l);
		if (in ? r != 0 : r != JIT_ERR_TIME_RANGE)
			abort();
		if (r != 0)
			continue;
		if (l.utoff != off || l.month < 1 || l.month > 12 || l.day < 1 || l.day > 31 ||
		    l.weekday < 0 || l.weekday > 6 || l.minute < 0 || l.minute > 1439 ||
		    l.second < 0 || l.second > 59)
			abort();
	}
	tz_free(z);
	return 0;
}
