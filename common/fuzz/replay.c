/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Corpus replay for builds without libFuzzer (gcc, the normal test suite): runs
 * LLVMFuzzerTestOneInput once over every file in the directories (or files) named on the
 * command line, so seeds and every crash ever found are re-checked by `meson test`. Each
 * input is copied into a buffer of exactly its size, as libFuzzer does, so a read past the
 * end is caught by ASan in the sanitizer build. Hidden files (.keep) are skipped; a missing
 * directory is an error, so a typo in meson.build cannot turn a replay into a no-op.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Larger than any -max_len scripts/fuzz uses; a bigger file is a mistake, not a case. */
#define REPLAY_INPUT_MAX (1024 * 1024)
#define REPLAY_DIR_MAX 4096

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs one file. Returns 0, or -1 if it could not be read. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long size;
	int rc = -1;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > REPLAY_INPUT_MAX ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: unreadable or larger than %d bytes\n", path,
			REPLAY_INPUT_MAX);
		goto out;
	}
	/* malloc(0) still gives a distinct pointer that ASan treats as zero bytes long. */
	buf = malloc((size_t)size);
	if (!buf && size > 0)
		goto out;
	if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		goto out;
	}
	/* Printed before running, so the log names the input that crashed. */
	fprintf(stderr, "replay: %s (%ld bytes)\n", path, size);
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* Runs every regular, non-hidden file of dir in name order. Returns the count or -1. */
static int run_dir(const char *dir)
{
	char *names[REPLAY_DIR_MAX];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	int count = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == REPLAY_DIR_MAX) {
			fprintf(stderr, "replay: %s: more than %d files\n", dir, REPLAY_DIR_MAX);
			break;
		}
		names[n] = strdup(e->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (count >= 0)
			count = run_file(path) < 0 ? -1 : count + 1;
	}
	return count;
}

int main(int argc, char **argv)
{
	int total = 0, status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;

		if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode))
			n = run_file(argv[i]) < 0 ? -1 : 1;
		else
			n = run_dir(argv[i]);
		if (n < 0)
			status = 1;
		else
			total += n;
	}
	printf("replayed %d inputs from %d arguments\n", total, argc - 1);
	return status;
}
