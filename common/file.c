/* SPDX-License-Identifier: BSD-2-Clause */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "file.h"

/* First read size when fstat says the file is empty (it may still grow to max). */
#define FILE_READ_CHUNK 4096

static int check_mode(const struct stat *st, int flags, uid_t also)
{
	if (!S_ISREG(st->st_mode))
		return JIT_ERR_FILE_TYPE;
	if ((flags & FILE_SECRET) != 0 && (st->st_mode & 077) != 0)
		return JIT_ERR_FILE_PERMISSIONS;
	if ((flags & FILE_TRUSTED) != 0 && ((st->st_uid != 0 && st->st_uid != geteuid() &&
	                                     (also == (uid_t)-1 || st->st_uid != also)) ||
	                                    (st->st_mode & 022) != 0))
		return JIT_ERR_FILE_PERMISSIONS;
	return 0;
}

/* Moves the first len bytes into a new allocation of alloc bytes, wiping the old one. */
static int grow(uint8_t **data, size_t len, size_t old_alloc, size_t alloc)
{
	uint8_t *n;

	if ((n = malloc(alloc)) == NULL)
		return JIT_ERR_ALLOC;
	if (*data != NULL) {
		memcpy(n, *data, len);
		OPENSSL_clear_free(*data, old_alloc);
	}
	*data = n;
	return 0;
}

int file_read(const char *path, size_t max, int flags, uint8_t **ret, size_t *ret_len)
{
	return file_read_owned(path, max, flags, (uid_t)-1, ret, ret_len);
}

int file_read_owned(const char *path, size_t max, int flags, uid_t also, uint8_t **ret,
                    size_t *ret_len)
{
	struct stat st;
	uint8_t *data = NULL, probe;
	size_t len = 0, cap, alloc = 0;
	ssize_t n;
	int fd = -1, saved_errno = 0, fl, r = JIT_ERR_INTERNAL;

	*ret = NULL;
	*ret_len = 0;
	if (path == NULL) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	/* Room for the terminating NUL. */
	if (max > SIZE_MAX - 1)
		max = SIZE_MAX - 1;
	/*
	 * O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then
	 * refuses it. Opening a socket fails with ENXIO.
	 */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		r = (errno == ELOOP || errno == ENXIO) ? JIT_ERR_FILE_TYPE : JIT_ERR_SYSTEM;
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((r = check_mode(&st, flags, also)) != 0)
		goto out;
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		r = JIT_ERR_FILE_TOO_LARGE;
		goto out;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	cap = st.st_size > 0 ? (size_t)st.st_size : (max < FILE_READ_CHUNK ? max : FILE_READ_CHUNK);
	if ((r = grow(&data, 0, 0, cap + 1)) != 0)
		goto out;
	alloc = cap + 1;
	/* The file may change size while we read: read to EOF, never past max. */
	for (;;) {
		if (len == cap) {
			if (cap == max) {
				n = read(fd, &probe, 1);
				if (n == -1 && errno == EINTR)
					continue;
				if (n == -1) {
					r = JIT_ERR_SYSTEM;
					goto out;
				}
				if (n > 0) {
					OPENSSL_cleanse(&probe, 1);
					r = JIT_ERR_FILE_TOO_LARGE;
					goto out;
				}
				break;
			}
			cap = max < FILE_READ_CHUNK || cap > (max - FILE_READ_CHUNK) / 2
			              ? max
			              : cap * 2 + FILE_READ_CHUNK;
			if ((r = grow(&data, len, alloc, cap + 1)) != 0)
				goto out;
			alloc = cap + 1;
		}
		n = read(fd, data + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = JIT_ERR_SYSTEM;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	*ret = data;
	*ret_len = len;
	data = NULL;
	r = 0;
out:
	/* Cleanup must not clobber the errno a JIT_ERR_SYSTEM refers to. */
	saved_errno = errno;
	if (data != NULL)
		OPENSSL_clear_free(data, alloc);
	if (fd != -1)
		close(fd);
	errno = saved_errno;
	return r;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return JIT_ERR_SYSTEM;
		if (n == 0) {
			errno = EIO;
			return JIT_ERR_SYSTEM;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Sets the exact mode (not filtered by umask), writes, fsyncs and closes fd. */
static int write_close(int *fd, const void *data, size_t len, mode_t mode)
{
	int r;

	if (fchmod(*fd, mode) == -1)
		return JIT_ERR_SYSTEM;
	if ((r = write_all(*fd, data, len)) != 0)
		return r;
	if (fsync(*fd) == -1)
		return JIT_ERR_SYSTEM;
	r = close(*fd);
	*fd = -1;
	return r == -1 ? JIT_ERR_SYSTEM : 0;
}

int file_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = -1, created = 0, saved_errno, r = JIT_ERR_INTERNAL;

	if (path == NULL || (data == NULL && len > 0) || (mode & ~(mode_t)07777) != 0) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
	               mode)) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	created = 1;
	if ((r = write_close(&fd, data, len, mode)) != 0)
		goto out;
	r = 0;
out:
	saved_errno = errno;
	if (fd != -1)
		close(fd);
	/* Leave nothing half-written behind. */
	if (r != 0 && created)
		unlink(path);
	errno = saved_errno;
	return r;
}

/* The directory holding path, to fsync the rename into it. */
static int dir_fsync(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	int fd = -1, saved_errno, r = JIT_ERR_INTERNAL;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(fd) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	r = 0;
out:
	saved_errno = errno;
	if (fd != -1)
		close(fd);
	free(dir);
	errno = saved_errno;
	return r;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return file_write_atomic_owned(path, data, len, mode, (uid_t)-1, (gid_t)-1);
}

int file_write_atomic_owned(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                            gid_t gid)
{
	static const char suffix[] = ".tmp.XXXXXX";
	char *tmp = NULL;
	size_t plen;
	int fd = -1, created = 0, saved_errno, r = JIT_ERR_INTERNAL;

	if (path == NULL || (data == NULL && len > 0) || (mode & ~(mode_t)07777) != 0) {
		r = JIT_ERR_INVALID_ARGUMENT;
		goto out;
	}
	plen = strlen(path);
	if ((tmp = malloc(plen + sizeof(suffix))) == NULL) {
		r = JIT_ERR_ALLOC;
		goto out;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, suffix, sizeof(suffix));
	/* In the same directory, so that rename cannot cross file systems. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	created = 1;
	/* Before the rename: nobody sees the new file with another owner. */
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	if ((r = write_close(&fd, data, len, mode)) != 0)
		goto out;
	if (rename(tmp, path) == -1) {
		r = JIT_ERR_SYSTEM;
		goto out;
	}
	created = 0;
	/* The new contents are in place; this makes the rename itself durable. */
	if ((r = dir_fsync(path)) != 0)
		goto out;
	r = 0;
out:
	saved_errno = errno;
	if (fd != -1)
		close(fd);
	if (created)
		unlink(tmp);
	free(tmp);
	errno = saved_errno;
	return r;
}
