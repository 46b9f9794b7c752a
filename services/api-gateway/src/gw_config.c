/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The settings table of api-gateway. Defaults are those of proto/rest.md and the issue's
 * command line, so `api-gateway` with no flags serves 127.0.0.1:8080 against a local Redis.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cm/log.h"
#include "gw_config.h"
#include "gw_request.h"

const struct cm_opt gw_config_opts[] = {
    CM_OPT_CHECKED_(struct gw_config, http_listen, "http-listen", "127.0.0.1:8080", false,
		    cm_check_ip_port,
		    "HTTP listen address, IP:port ([IPv6]:port); port 0 picks a free one"),
    CM_OPT_STR_(struct gw_config, redis_url, "redis-url", "redis://127.0.0.1:6379", false,
		"Redis server, redis://host[:port][/db]"),
    CM_OPT_INT_(struct gw_config, max_body, "max-body", "16384", 1024, 1048576,
		"largest request body accepted, in bytes (413 beyond)"),
    CM_OPT_INT_(struct gw_config, request_retention, "request-retention", "86400", 1, 30L * 86400,
		"seconds a callback request is kept in Redis after creation"),
    CM_OPT_INT_(struct gw_config, max_pending_per_device, "max-pending-per-device", "100", 1,
		1000000, "undelivered requests one device may have waiting (429 beyond)"),
    CM_OPT_INT_(struct gw_config, max_pending_per_client, "max-pending-per-client", "100000", 1,
		100000000, "undelivered requests one API client may have waiting (429 beyond)"),
    CM_OPT_STR_(struct gw_config, packages, "packages", GW_PACKAGE, false,
		"event packages a request may name, comma-separated; the first is the default"),
    CM_OPT_CHECKED_(struct gw_config, log_level, "log-level", "info", false, cm_check_log_level,
		    "error, warn, info or debug"),
};

const size_t gw_config_nopts = sizeof(gw_config_opts) / sizeof(gw_config_opts[0]);

int gw_config_check(const struct gw_config *cfg, char *err, size_t errlen)
{
	const char *p = cfg->packages ? cfg->packages : "";

	/* Each name is a SIP event token (RFC 6665), and goes into Redis field names. */
	do {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (!gw_request_token(p, n, GW_PACKAGE_MAX, "-.!%*_+`'~")) {
			snprintf(err, errlen,
				 "packages: '%s' is not a comma-separated list of event package "
				 "names (1 to 64 token characters each)",
				 cfg->packages ? cfg->packages : "");
			return -EINVAL;
		}
		p = end ? end + 1 : NULL;
	} while (p);
	if (!cfg->log_level || cm_log_level_parse(cfg->log_level) < 0) {
		snprintf(err, errlen, "log-level: '%s' is not error, warn, info or debug",
			 cfg->log_level ? cfg->log_level : "");
		return -EINVAL;
	}
	return 0;
}
