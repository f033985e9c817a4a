/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Serial numbers that are unique and increasing across restarts and
 * crashes: the file state_dir/serial holds the first serial not yet
 * reserved. A block is reserved (the file rewritten atomically and synced)
 * before any serial of it is handed out, so after kill -9 the next start
 * begins beyond everything that may have been used. Skipping is fine;
 * reuse never happens.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "file.h"
#include "serve.h"

/* "18446744073709551615\n" and then some. */
#define SERIAL_FILE_MAX 64

struct serial_state {
	char *path;
	int lock_fd;    /* state_dir/lock, held while we run: one service per state_dir */
	uint64_t next;  /* the next serial to hand out */
	uint64_t limit; /* first serial beyond the reservation on disk */
};

static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;
	unsigned d;

	*ret = 0;
	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len == 0)
		return JIT_ERR_INVALID_FORMAT;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return JIT_ERR_INVALID_FORMAT;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return JIT_ERR_INVALID_FORMAT;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int reserve(struct serial_state *s, uint64_t limit)
{
	char text[32];
	int n;

	n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)limit);
	if (n < 0 || (size_t)n >= sizeof(text))
		return JIT_ERR_INTERNAL;
	return file_write_atomic(s->path, text, (size_t)n, 0600);
}

int serial_open(const char *state_dir, int must_exist, struct serial_state **ret)
{
	struct serial_state *s = NULL;
	char *lock_path = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t next = 1;
	int r = JIT_ERR_INTERNAL;

	*ret = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	s->lock_fd = -1;
	if (asprintf(&s->path, "%s/serial", state_dir) < 0 ||
	    asprintf(&lock_path, "%s/lock", state_dir) < 0) {
		s->path = NULL;
		lock_path = NULL;
		r = JIT_ERR_ALLOC;
		goto out;
	}
	/* Two services handing out serials from one state would reuse them. */
	if ((s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
	    flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	r = file_read(s->path, SERIAL_FILE_MAX, FILE_TRUSTED, &data, &len);
	if (r == JIT_ERR_SYSTEM && errno == ENOENT && must_exist) {
		r = JIT_ERR_NOT_FOUND;
		goto out;
	} else if (r == JIT_ERR_SYSTEM && errno == ENOENT)
		next = 1;
	else if (r != 0)
		goto out;
	else if ((r = parse_u64((const char *)data, len, &next)) != 0)
		goto out;
	if (next == 0)
		next = 1;
	if (next > UINT64_MAX - 2 * SERIAL_BLOCK) {
		r = JIT_ERR_NO_BUFFER_SPACE;
		goto out;
	}
	if ((r = reserve(s, next + SERIAL_BLOCK)) != 0)
		goto out;
	s->next = next;
	s->limit = next + SERIAL_BLOCK;
	*ret = s;
	s = NULL;
	r = 0;
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len + 1);
	free(lock_path);
	if (r != 0 && s != NULL && s->lock_fd >= 0) {
		int saved = errno;

		close(s->lock_fd);
		s->lock_fd = -1;
		errno = saved;
	}
	serial_close(s);
	return r;
}

int serial_next(struct serial_state *s, uint64_t *ret)
{
	int r;

	*ret = 0;
	if (s->next >= s->limit) {
		if (s->limit > UINT64_MAX - SERIAL_BLOCK)
			return JIT_ERR_NO_BUFFER_SPACE;
		if ((r = reserve(s, s->limit + SERIAL_BLOCK)) != 0)
			return r;
		s->limit += SERIAL_BLOCK;
	}
	*ret = s->next++;
	return 0;
}

void serial_close(struct serial_state *s)
{
	if (s == NULL)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s);
}
