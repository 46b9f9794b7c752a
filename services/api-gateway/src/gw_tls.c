/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads the PEM files of gw_tls.h. The key's copy in memory is wiped before it is freed, so a
 * later heap read (a bug, a core dump of a long-running process) finds less of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gw_tls.h"

static int read_pem(const char *setting, const char *path, char **out, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t n;

	*out = NULL;
	if (!path || !*path)
		return 0;
	f = fopen(path, "rb");
	if (!f) {
		int e = errno;

		snprintf(err, errlen, "%s: cannot open '%s': %s", setting, path, strerror(e));
		return -e;
	}
	buf = malloc(GW_TLS_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", setting);
		return -ENOMEM;
	}
	n = fread(buf, 1, GW_TLS_FILE_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > GW_TLS_FILE_MAX || !strstr(buf, "-----BEGIN ")) {
		snprintf(err, errlen, "%s: '%s' is %s", setting, path,
			 n > GW_TLS_FILE_MAX ? "larger than 1 MiB" : "not a PEM file");
		OPENSSL_cleanse(buf, n > GW_TLS_FILE_MAX ? GW_TLS_FILE_MAX : n);
		free(buf);
		return -EINVAL;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

int gw_tls_load(const struct gw_config *cfg, struct gw_tls *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (cfg->insecure_http)
		return 0;
	rc = read_pem("tls-cert", cfg->tls_cert, &out->cert, err, errlen);
	if (rc == 0)
		rc = read_pem("tls-key", cfg->tls_key, &out->key, err, errlen);
	if (rc == 0)
		rc = read_pem("tls-client-ca", cfg->tls_client_ca, &out->client_ca, err, errlen);
	if (rc < 0)
		gw_tls_free(out);
	return rc;
}

void gw_tls_free(struct gw_tls *t)
{
	if (t->key)
		OPENSSL_cleanse(t->key, strlen(t->key));
	free(t->cert);
	free(t->key);
	free(t->client_ca);
	memset(t, 0, sizeof(*t));
}
