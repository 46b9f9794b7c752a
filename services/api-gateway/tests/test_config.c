/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of api-gateway's settings table: defaults match proto/rest.md and the issue's
 * command line, bounds are enforced, a bad log level is refused.
 */
#include <string.h>

#include "check.h"
#include "gw_config.h"

static int load(const char *text, struct gw_config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = cm_config_load_text(gw_config_opts, gw_config_nopts, cfg, text, strlen(text), err,
				 errlen);
	if (rc == 0)
		rc = gw_config_check(cfg, err, errlen);
	return rc;
}

int main(void)
{
	struct gw_config cfg;
	char err[256] = "";

	/* Neither a certificate nor insecure-http: refused, naming both ways out. */
	CHECK(load("", &cfg, err, sizeof(err)) < 0 && strstr(err, "tls-cert") &&
		  strstr(err, "insecure-http"),
	      "no TLS: %s", err);
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	CHECK(load("tls-cert = c.pem\n", &cfg, err, sizeof(err)) < 0 && strstr(err, "tls-key"),
	      "cert without key: %s", err);
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	CHECK(load("tls-cert = c.pem\ntls-key = k.pem\ninsecure-http = true\n", &cfg, err,
		   sizeof(err)) < 0 &&
		  strstr(err, "insecure-http"),
	      "cert and insecure-http: %s", err);
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	CHECK(load("tls-cert = c.pem\ntls-key = k.pem\nrequire-client-cert = true\n", &cfg, err,
		   sizeof(err)) < 0 &&
		  strstr(err, "tls-client-ca"),
	      "require-client-cert without CA: %s", err);
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	CHECK(load("tls-cert = c.pem\ntls-key = k.pem\ntls-client-ca = ca.pem\n"
		   "require-client-cert = true\n",
		   &cfg, err, sizeof(err)) == 0,
	      "full TLS: %s", err);
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);

	CHECK(load("insecure-http = true\n", &cfg, err, sizeof(err)) == 0, "defaults: %s", err);
	CHECK(cfg.http_listen && strcmp(cfg.http_listen, "127.0.0.1:8080") == 0, "http-listen");
	CHECK(cfg.redis_url && strcmp(cfg.redis_url, "redis://127.0.0.1:6379") == 0, "redis-url");
	CHECK(cfg.max_body == 16384, "max-body %ld", cfg.max_body);
	CHECK(cfg.request_retention == 86400, "request-retention %ld", cfg.request_retention);
	CHECK(cfg.log_level && strcmp(cfg.log_level, "info") == 0, "log-level");
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);

	CHECK(
	    load("insecure-http = 1\nmax-body = 1024\nrequest-retention = 60\nlog-level = debug\n",
		 &cfg, err, sizeof(err)) == 0,
	    "set: %s", err);
	CHECK(cfg.max_body == 1024 && cfg.request_retention == 60, "values");
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);

	CHECK(load("max-body = 1023\n", &cfg, err, sizeof(err)) < 0, "max-body below bound");
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	CHECK(load("max-body = 1048577\n", &cfg, err, sizeof(err)) < 0, "max-body above bound");
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	CHECK(load("insecure-http = 1\nlog-level = loud\n", &cfg, err, sizeof(err)) < 0 &&
		  strstr(err, "log-level"),
	      "log-level: %s", err);
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	return check_done();
}
