/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Runs a libFuzzer harness over files and directories given as arguments,
 * without libFuzzer: the suite's smoke test of every harness and its seed
 * corpus, in every build (sanitizer builds included).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INPUT_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, unsigned *count)
{
	static uint8_t data[INPUT_MAX];
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(data, 1, sizeof(data), f);
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, n);
	(*count)++;
	return 0;
}

static int run_path(const char *path, unsigned *count)
{
	char child[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, count);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >=
		    sizeof(child)) {
			r = -1;
			continue;
		}
		if (run_path(child, count) != 0)
			r = -1;
	}
	closedir(d);
	return r;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int i, r = 0;

	for (i = 1; i < argc; i++)
		if (run_path(argv[i], &count) != 0)
			r = 1;
	printf("%u inputs ran\n", count);
	if (count == 0) {
		fprintf(stderr, "no inputs: the seed corpus is missing\n");
		return 1;
	}
	return r;
}
