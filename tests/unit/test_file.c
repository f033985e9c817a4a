/* SPDX-License-Identifier: BSD-2-Clause */
#define _GNU_SOURCE /* nftw flags */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "err.h"
#include "file.h"

/* An account that owns nothing of ours (nobody). */
#define OTHER_UID 65534

struct ctx {
	char dir[64];
	char path[PATH_MAX];
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	strcpy(c->dir, "/tmp/test_file.XXXXXX");
	if (mkdtemp(c->dir) == NULL) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char ro[PATH_MAX];

	/* A read-only directory left by a test must be emptied too. */
	snprintf(ro, sizeof(ro), "%s/ro", c->dir);
	chmod(ro, 0755);
	nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/* c->path = dir/name */
static const char *in_dir(struct ctx *c, const char *name)
{
	snprintf(c->path, sizeof(c->path), "%s/%s", c->dir, name);
	return c->path;
}

/* Writes a file with plain syscalls, independent of the code under test. */
static void make_file(const char *path, const char *content, mode_t mode)
{
	size_t len = strlen(content);
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* The whole contents of path, in a static buffer. */
static const char *contents(const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Entries in dir besides . and .. */
static int count_entries(const char *dir)
{
	struct dirent *e;
	DIR *d;
	int n = 0;

	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* file_read must fail with r and leave its outputs cleared. */
static void read_fails(const char *path, size_t max, int flags, int r)
{
	uint8_t *data = (uint8_t *)"x";
	size_t len = 99;

	assert_int_equal(file_read(path, max, flags, &data, &len), r);
	assert_null(data);
	assert_int_equal(len, 0);
}

static void read_ok(const char *path, size_t max, int flags, const char *want)
{
	uint8_t *data = NULL;
	size_t len = 0;

	assert_int_equal(file_read(path, max, flags, &data, &len), 0);
	assert_non_null(data);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(data, want, len);
	assert_int_equal(data[len], '\0');
	OPENSSL_clear_free(data, len + 1);
}

static void test_read(void **state)
{
	struct ctx *c = *state;

	make_file(in_dir(c, "key"), "secret\n", 0600);
	read_ok(c->path, 100, FILE_SECRET | FILE_TRUSTED, "secret\n");
	read_ok(c->path, 7, FILE_SECRET | FILE_TRUSTED, "secret\n");
	read_fails(c->path, 6, FILE_SECRET | FILE_TRUSTED, JIT_ERR_FILE_TOO_LARGE);
	read_fails(c->path, 0, 0, JIT_ERR_FILE_TOO_LARGE);

	make_file(in_dir(c, "empty"), "", 0644);
	read_ok(c->path, 0, 0, "");
	read_ok(c->path, 100, FILE_TRUSTED, "");

	errno = 0;
	read_fails(in_dir(c, "missing"), 100, 0, JIT_ERR_SYSTEM);
	assert_int_equal(errno, ENOENT);
	read_fails(NULL, 100, 0, JIT_ERR_INVALID_ARGUMENT);
}

/* A file larger than its fstat size (procfs reports 0) is still capped. */
static void test_read_grows(void **state)
{
	uint8_t *data = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(file_read("/proc/self/status", 1 << 20, 0, &data, &len), 0);
	assert_true(len > 10);
	assert_int_equal(strlen((char *)data), len);
	assert_memory_equal(data, "Name:", 5);
	OPENSSL_clear_free(data, len + 1);
	read_fails("/proc/self/status", 10, 0, JIT_ERR_FILE_TOO_LARGE);
	read_fails("/proc/self/status", 0, 0, JIT_ERR_FILE_TOO_LARGE);
	/* Several 4096-byte steps: smaps of any process linked with libcrypto is far larger. */
	assert_int_equal(file_read("/proc/self/smaps", 1 << 22, 0, &data, &len), 0);
	assert_true(len > 3 * 4096);
	assert_int_equal(strlen((char *)data), len);
	OPENSSL_clear_free(data, len + 1);
	read_fails("/proc/self/smaps", 4097, 0, JIT_ERR_FILE_TOO_LARGE);
	read_fails("/proc/self/smaps", 3 * 4096, 0, JIT_ERR_FILE_TOO_LARGE);
}

static void test_read_not_regular(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_un sun;
	char target[PATH_MAX];
	int s;

	make_file(in_dir(c, "target"), "data", 0600);
	strcpy(target, c->path);
	assert_int_equal(symlink(target, in_dir(c, "link")), 0);
	read_fails(c->path, 100, 0, JIT_ERR_FILE_TYPE);
	read_fails(c->path, 100, FILE_SECRET | FILE_TRUSTED, JIT_ERR_FILE_TYPE);
	assert_int_equal(symlink("nowhere", in_dir(c, "dangling")), 0);
	read_fails(c->path, 100, 0, JIT_ERR_FILE_TYPE);

	read_fails(c->dir, 100, 0, JIT_ERR_FILE_TYPE);
	read_fails("/dev/null", 100, 0, JIT_ERR_FILE_TYPE);

	/* Opening a FIFO without a writer must not block: the alarm fails the test. */
	assert_int_equal(mkfifo(in_dir(c, "fifo"), 0600), 0);
	alarm(10);
	read_fails(c->path, 100, 0, JIT_ERR_FILE_TYPE);
	alarm(0);

	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", c->dir);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	read_fails(sun.sun_path, 100, 0, JIT_ERR_FILE_TYPE);
	close(s);
}

static void test_read_secret(void **state)
{
	static const mode_t refused[] = {0644, 0640, 0604, 0610, 0601, 0660, 0606, 0620};
	struct ctx *c = *state;
	size_t i;

	make_file(in_dir(c, "key"), "k", 0600);
	read_ok(c->path, 100, FILE_SECRET, "k");
	assert_int_equal(chmod(c->path, 0400), 0);
	read_ok(c->path, 100, FILE_SECRET, "k");
	assert_int_equal(chmod(c->path, 0700), 0);
	read_ok(c->path, 100, FILE_SECRET, "k");
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(chmod(c->path, refused[i]), 0);
		read_fails(c->path, 100, FILE_SECRET, JIT_ERR_FILE_PERMISSIONS);
		read_fails(c->path, 100, FILE_SECRET | FILE_TRUSTED, JIT_ERR_FILE_PERMISSIONS);
	}
	/* Without the flag the mode does not matter. */
	assert_int_equal(chmod(c->path, 0666), 0);
	read_ok(c->path, 100, 0, "k");
	/* The type is checked before the mode. */
	assert_int_equal(chmod(c->dir, 0777), 0);
	read_fails(c->dir, 100, FILE_SECRET, JIT_ERR_FILE_TYPE);
	assert_int_equal(chmod(c->dir, 0700), 0);
}

static void test_read_trusted(void **state)
{
	struct ctx *c = *state;

	make_file(in_dir(c, "conf"), "cfg", 0644);
	read_ok(c->path, 100, FILE_TRUSTED, "cfg");
	assert_int_equal(chmod(c->path, 0664), 0);
	read_fails(c->path, 100, FILE_TRUSTED, JIT_ERR_FILE_PERMISSIONS);
	assert_int_equal(chmod(c->path, 0646), 0);
	read_fails(c->path, 100, FILE_TRUSTED, JIT_ERR_FILE_PERMISSIONS);
	assert_int_equal(chmod(c->path, 0620), 0);
	read_fails(c->path, 100, FILE_TRUSTED, JIT_ERR_FILE_PERMISSIONS);
	/* Readable by others is fine for a config; writable is not. */
	assert_int_equal(chmod(c->path, 0604), 0);
	read_ok(c->path, 100, FILE_TRUSTED, "cfg");
	read_ok(c->path, 100, 0, "cfg");

	if (geteuid() != 0)
		skip(); /* chown to another user needs root */
	assert_int_equal(chmod(c->path, 0644), 0);
	assert_int_equal(chown(c->path, OTHER_UID, (gid_t)-1), 0);
	read_fails(c->path, 100, FILE_TRUSTED, JIT_ERR_FILE_PERMISSIONS);
	read_ok(c->path, 100, 0, "cfg");
	/* Owned by root (the effective user here): trusted again. */
	assert_int_equal(chown(c->path, 0, (gid_t)-1), 0);
	read_ok(c->path, 100, FILE_TRUSTED, "cfg");
	/* A group owner does not matter, only the group's write bit. */
	assert_int_equal(chown(c->path, 0, OTHER_UID), 0);
	read_ok(c->path, 100, FILE_TRUSTED, "cfg");
}

/* The state directory's owner, trusted beside root and us; written files given to it. */
static void test_owned(void **state)
{
	struct ctx *c = *state;
	uint8_t *data = NULL;
	size_t len = 0;
	struct stat st;

	if (geteuid() != 0)
		skip(); /* chown to another user needs root */
	make_file(in_dir(c, "state"), "s", 0644);
	assert_int_equal(chown(c->path, OTHER_UID, (gid_t)-1), 0);
	assert_int_equal(file_read_owned(c->path, 100, FILE_TRUSTED, (uid_t)-1, &data, &len),
	                 JIT_ERR_FILE_PERMISSIONS);
	assert_int_equal(file_read_owned(c->path, 100, FILE_TRUSTED, OTHER_UID + 1, &data, &len),
	                 JIT_ERR_FILE_PERMISSIONS);
	assert_int_equal(file_read_owned(c->path, 100, FILE_TRUSTED, OTHER_UID, &data, &len), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(data, "s", 1);
	free(data);
	/* Its write bits still count. */
	assert_int_equal(chmod(c->path, 0664), 0);
	assert_int_equal(file_read_owned(c->path, 100, FILE_TRUSTED, OTHER_UID, &data, &len),
	                 JIT_ERR_FILE_PERMISSIONS);

	assert_int_equal(file_write_atomic_owned(c->path, "new", 3, 0640, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(lstat(c->path, &st), 0);
	assert_int_equal(st.st_uid, OTHER_UID);
	assert_int_equal(st.st_gid, OTHER_UID);
	assert_int_equal(st.st_mode & 07777, 0640);
	read_ok(c->path, 100, 0, "new");
	/* -1 keeps the writer's own. */
	assert_int_equal(file_write_atomic_owned(c->path, "x", 1, 0600, (uid_t)-1, (gid_t)-1), 0);
	assert_int_equal(lstat(c->path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* Runs fn with a file size limit of 10 bytes, SIGXFSZ ignored. */
static int with_fsize_limit(int (*fn)(const char *, const void *, size_t, mode_t), const char *path,
                            const void *data, size_t len, mode_t mode)
{
	struct rlimit old, lim;
	void (*old_handler)(int);
	int r, saved;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 10;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	errno = 0;
	r = fn(path, data, len, mode);
	saved = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	errno = saved;
	return r;
}

static void test_write_new(void **state)
{
	static const char big[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	struct ctx *c = *state;
	char target[PATH_MAX];
	mode_t old_umask;

	/* The mode is exact, whatever the umask. */
	old_umask = umask(077);
	assert_int_equal(file_write_new(in_dir(c, "new"), "hello", 5, 0644), 0);
	umask(old_umask);
	assert_int_equal(mode_of(c->path), 0644);
	assert_string_equal(contents(c->path), "hello");

	/* An existing file is never touched. */
	errno = 0;
	assert_int_equal(file_write_new(c->path, "other", 5, 0600), JIT_ERR_SYSTEM);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(contents(c->path), "hello");
	assert_int_equal(mode_of(c->path), 0644);

	/* Nor is a symlink followed, dangling or not. */
	make_file(in_dir(c, "target"), "target", 0600);
	strcpy(target, c->path);
	assert_int_equal(symlink(target, in_dir(c, "link")), 0);
	errno = 0;
	assert_int_equal(file_write_new(c->path, "x", 1, 0600), JIT_ERR_SYSTEM);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(contents(target), "target");
	assert_int_equal(symlink(in_dir(c, "created"), in_dir(c, "dangling")), 0);
	errno = 0;
	assert_int_equal(file_write_new(c->path, "x", 1, 0600), JIT_ERR_SYSTEM);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(access(in_dir(c, "created"), F_OK), -1);

	assert_int_equal(file_write_new(in_dir(c, "empty"), "", 0, 0400), 0);
	assert_int_equal(mode_of(c->path), 0400);
	assert_string_equal(contents(c->path), "");

	errno = 0;
	assert_int_equal(file_write_new(in_dir(c, "no/such"), "x", 1, 0600), JIT_ERR_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(file_write_new(in_dir(c, "badmode"), "x", 1, 010600),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(access(c->path, F_OK), -1);

	/* A failed write leaves nothing behind. */
	assert_int_equal(with_fsize_limit(file_write_new, in_dir(c, "big"), big, sizeof(big), 0600),
	                 JIT_ERR_SYSTEM);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(access(c->path, F_OK), -1);
	assert_int_equal(count_entries(c->dir), 5); /* new target link dangling empty */
}

static void test_write_atomic(void **state)
{
	static const char big[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	struct ctx *c = *state;
	char target[PATH_MAX], cwd[PATH_MAX];
	mode_t old_umask;

	/* Creates a missing file, with the exact mode. */
	old_umask = umask(077);
	assert_int_equal(file_write_atomic(in_dir(c, "krl"), "one", 3, 0644), 0);
	umask(old_umask);
	assert_string_equal(contents(c->path), "one");
	assert_int_equal(mode_of(c->path), 0644);

	/* Replaces, taking the new mode, and leaves no temporary file. */
	assert_int_equal(file_write_atomic(c->path, "second", 6, 0640), 0);
	assert_string_equal(contents(c->path), "second");
	assert_int_equal(mode_of(c->path), 0640);
	assert_int_equal(file_write_atomic(c->path, "", 0, 0600), 0);
	assert_string_equal(contents(c->path), "");
	assert_int_equal(count_entries(c->dir), 1);

	/* A failed write keeps the old contents and removes the temporary file. */
	assert_int_equal(file_write_atomic(c->path, "kept", 4, 0644), 0);
	assert_int_equal(with_fsize_limit(file_write_atomic, c->path, big, sizeof(big), 0600),
	                 JIT_ERR_SYSTEM);
	assert_int_equal(errno, EFBIG);
	assert_string_equal(contents(c->path), "kept");
	assert_int_equal(mode_of(c->path), 0644);
	assert_int_equal(count_entries(c->dir), 1);

	/* A symlink at path is replaced itself; its target is untouched. */
	make_file(in_dir(c, "target"), "target", 0600);
	strcpy(target, c->path);
	assert_int_equal(symlink(target, in_dir(c, "link")), 0);
	assert_int_equal(file_write_atomic(c->path, "new", 3, 0644), 0);
	assert_string_equal(contents(target), "target");
	assert_int_equal(mode_of(c->path), 0644); /* lstat: a regular file now */
	assert_string_equal(contents(c->path), "new");

	/* A path without a directory part works in the current directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(c->dir), 0);
	assert_int_equal(file_write_atomic("rel", "rel", 3, 0600), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(contents(in_dir(c, "rel")), "rel");

	errno = 0;
	assert_int_equal(file_write_atomic(in_dir(c, "no/such"), "x", 1, 0600), JIT_ERR_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(file_write_atomic(in_dir(c, "krl"), "x", 1, 01000000),
	                 JIT_ERR_INVALID_ARGUMENT);
	assert_int_equal(count_entries(c->dir), 4); /* krl target link rel */
}

/* The temporary name does not fit where the old one did: the old file stays. */
static void test_write_atomic_name_too_long(void **state)
{
	struct ctx *c = *state;
	char name[251];

	memset(name, 'k', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	make_file(in_dir(c, name), "old", 0644);
	errno = 0;
	assert_int_equal(file_write_atomic(c->path, "new", 3, 0644), JIT_ERR_SYSTEM);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_string_equal(contents(c->path), "old");
	assert_int_equal(count_entries(c->dir), 1);
}

/*
 * A directory the writer cannot write to. Root writes anyway, so the write
 * runs in a child as another user; the result comes back in the exit code.
 */
static void test_write_atomic_readonly_dir(void **state)
{
	struct ctx *c = *state;
	char ro[PATH_MAX], krl[PATH_MAX];
	pid_t pid;
	int status, r;

	snprintf(ro, sizeof(ro), "%s/ro", c->dir);
	snprintf(krl, sizeof(krl), "%s/ro/krl", c->dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	make_file(krl, "old", 0644);
	assert_int_equal(chmod(ro, 0555), 0);
	if (geteuid() == 0) {
		assert_int_equal(chmod(c->dir, 0711), 0);
		assert_int_equal(chown(ro, OTHER_UID, OTHER_UID), 0);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) != 0 || setgid(OTHER_UID) != 0 || setuid(OTHER_UID) != 0))
			_exit(10);
		errno = 0;
		r = file_write_atomic(krl, "new", 3, 0644);
		_exit(r != JIT_ERR_SYSTEM ? 11 : errno != EACCES ? 12 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(contents(krl), "old");
	assert_int_equal(count_entries(ro), 1);
	assert_int_equal(chmod(c->dir, 0700), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
	        cmocka_unit_test(test_read_grows),
	        cmocka_unit_test_setup_teardown(test_read_not_regular, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_secret, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_trusted, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_owned, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_new, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_atomic_name_too_long, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_atomic_readonly_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
