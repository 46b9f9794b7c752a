/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sofia-sip's TLS certificate directory, assembled from an operator's separate PEM files
 * (cm/tlsdir.h). The copies may hold a private key, so the directory is created 0700, the
 * files 0600, and the caller removes everything as soon as the TLS transports have read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/str.h"
#include "cm/tlsdir.h"

/* Appends the file at path to fd. Returns 0 or a negative errno. */
static int append_file(int fd, const char *path)
{
	char buf[8192];
	size_t total = 0;
	ssize_t n;
	int in = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (in < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		total += (size_t)n;
		if (total > CM_TLSDIR_FILE_MAX) {
			rc = -EFBIG;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = -errno;
				goto out;
			}
			off += w;
		}
		/* PEM files without a final newline would glue two blocks together. */
		if (buf[n - 1] != '\n' && write(fd, "\n", 1) != 1) {
			rc = -EIO;
			break;
		}
	}
out:
	close(in);
	return rc;
}

/* Writes dir/name from the listed files (NULL-terminated). Reports the failing file in err. */
static int write_pem(const char *dir, const char *name, const char *const *files, char *err,
		     size_t errlen)
{
	char path[CM_TLSDIR_MAX + 16];
	int fd, rc = 0;

	if (cm_snprintf(path, sizeof(path), "%s/%s", dir, name) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		cm_snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; files[i]; i++) {
		rc = append_file(fd, files[i]);
		if (rc < 0) {
			cm_snprintf(err, errlen, "cannot read '%s': %s", files[i],
				    rc == -EFBIG ? "larger than 1 MB" : strerror(-rc));
			break;
		}
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

void cm_tlsdir_remove(const char *dir)
{
	static const char *const names[] = {"agent.pem", "cafile.pem"};
	char path[CM_TLSDIR_MAX + 16];

	if (!dir || !*dir)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (cm_snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= 0)
			unlink(path);
	}
	rmdir(dir);
}

int cm_tlsdir_create(const char *cert, const char *key, const char *ca, char *dir, size_t dirsize,
		     char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	const char *agent[] = {key, cert, NULL};
	const char *cafile[] = {ca && *ca ? ca : NULL, NULL};
	bool client = cert && *cert && key && *key;
	int rc;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (cm_snprintf(dir, dirsize, "%s/beckon-tls-XXXXXX", tmp) < 0) {
		cm_snprintf(err, errlen, "TMPDIR too long");
		dir[0] = '\0';
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(dir)) {
		rc = -errno;
		cm_snprintf(err, errlen, "cannot create a directory in %s: %s", tmp, strerror(-rc));
		dir[0] = '\0';
		return rc;
	}
	rc = client ? write_pem(dir, "agent.pem", agent, err, errlen) : 0;
	if (rc == 0)
		rc = write_pem(dir, "cafile.pem", cafile, err, errlen);
	if (rc < 0) {
		cm_tlsdir_remove(dir);
		dir[0] = '\0';
	}
	return rc;
}
