/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Opening files we must be able to trust (config, keys), as pam-u2f's
 * open_safely does: no symlinks, a regular file, sane owner and mode, a
 * size cap. And atomic replacement for files others read (KRLs).
 */
#ifndef JIT_FILE_H
#define JIT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Refuse a file group or world readable (private keys). */
#define FILE_SECRET 0x1
/* Refuse a file not owned by root or the effective user, or group/world writable. */
#define FILE_TRUSTED 0x2

/*
 * Reads the whole file into a NUL-terminated allocation (wiped on free by
 * the caller with OPENSSL_clear_free(data, len + 1)). Opens with O_NOFOLLOW
 * and O_CLOEXEC; refuses non-regular files (JIT_ERR_FILE_TYPE), files over
 * max bytes (JIT_ERR_FILE_TOO_LARGE), and per flags bad owner or mode
 * (JIT_ERR_FILE_PERMISSIONS). A system error leaves errno set and returns
 * JIT_ERR_SYSTEM.
 */
int file_read(const char *path, size_t max, int flags, uint8_t **ret, size_t *ret_len);
/* file_read, FILE_TRUSTED also trusting files owned by also ((uid_t)-1: nobody more). */
int file_read_owned(const char *path, size_t max, int flags, uid_t also, uint8_t **ret,
                    size_t *ret_len);

/*
 * Creates path anew (O_EXCL: an existing file is an error with errno
 * EEXIST) with mode, writes data, fsyncs.
 */
int file_write_new(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Replaces path atomically: writes a temporary file beside it, fsyncs,
 * renames over path, fsyncs the directory. Readers see the old or the new
 * contents, never a mix or nothing.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/*
 * file_write_atomic, the temporary file given to uid and gid (-1: kept)
 * before the rename, so that the new file never has another owner.
 */
int file_write_atomic_owned(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                            gid_t gid);

#endif
