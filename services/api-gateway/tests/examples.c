/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared example-file helpers of api-gateway's unit tests (see examples.h): one copy of the
 * file reader and the directory walker that test_request (JSON) and test_soap (XML) both use.
 */
#include "examples.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *examples_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

int examples_for_each(const char *dir, const char *suffix, void (*fn)(const char *path))
{
	size_t sl = strlen(suffix);
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char path[512];
		int w;

		if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		w = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (w < 0 || (size_t)w >= sizeof(path)) {
			closedir(d);
			return -ENAMETOOLONG;
		}
		fn(path);
		n++;
	}
	closedir(d);
	return n;
}
