/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The settings table of api-gateway. Defaults are those of proto/rest.md and the issue's
 * command line, so `api-gateway` with no flags serves 127.0.0.1:8080 against a local Redis.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cm/log.h"
#include "cm/redis.h"
#include "gw_config.h"
#include "gw_fallback.h"
#include "gw_request.h"

const struct cm_opt gw_config_opts[] = {
    CM_OPT_CHECKED_(struct gw_config, http_listen, "http-listen", "127.0.0.1:8080", false,
		    cm_check_ip_port,
		    "HTTP listen address, IP:port ([IPv6]:port); port 0 picks a free one"),
    CM_OPT_STR_(
	struct gw_config, redis_url, "redis-url", "redis://127.0.0.1:6379", false,
	"Redis server, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: with a password (percent-"
	"encoded; USER for a Redis 6 ACL user) each connection starts with AUTH"),
    CM_OPT_INT_(struct gw_config, redis_timeout_ms, "redis-timeout-ms", "2000", 50, 60000,
		"longest wait for a Redis reply, ms; then the connection counts as dead (pending "
		"API requests get 503) and is rebuilt"),
    CM_OPT_CHECKED_(struct gw_config, redis_sentinels, "redis-sentinels", "", false,
		    cm_redis_check_sentinels,
		    "Redis Sentinels to ask for the master, HOST:PORT,... (host names are looked "
		    "up again each round); empty: use redis-url's host and port (its /db "
		    "still applies)"),
    CM_OPT_CHECKED_(struct gw_config, redis_sentinel_master, "redis-sentinel-master", "beckon",
		    false, cm_redis_check_master, "master name the sentinels monitor"),
    CM_OPT_CHECKED_(struct gw_config, redis_sentinel_auth, "redis-sentinel-auth", "", false,
		    cm_redis_check_userinfo,
		    "password of Sentinels that require one (their requirepass or ACL user): "
		    "[USER]:PASSWORD, percent-encoded as in redis-url; empty: none"),
    CM_OPT_INT_(struct gw_config, redis_wait_replicas, "redis-wait-replicas", "0", 0,
		CM_REDIS_WAIT_MAX,
		"replicas that must have a request's writes before the API answers 2xx (Redis "
		"WAIT; else 503): 1 with a Sentinel replica, so a failover loses no accepted "
		"request; 0 for a lone Redis"),
    CM_OPT_INT_(struct gw_config, max_body, "max-body", "16384", 1024, 1048576,
		"largest request body accepted, in bytes (413 beyond)"),
    CM_OPT_INT_(struct gw_config, drain_timeout, "drain-timeout", "10", 1, 300,
		"on SIGTERM/SIGINT: seconds to let API requests in flight finish (new ones get "
		"503) before exiting"),
    CM_OPT_INT_(struct gw_config, request_retention, "request-retention", "86400", 1, 30L * 86400,
		"seconds a callback request is kept in Redis after creation"),
    CM_OPT_INT_(struct gw_config, max_pending_per_device, "max-pending-per-device", "100", 1,
		1000000, "undelivered requests one device may have waiting (429 beyond)"),
    CM_OPT_INT_(struct gw_config, max_pending_per_client, "max-pending-per-client", "100000", 1,
		100000000, "undelivered requests one API client may have waiting (429 beyond)"),
    CM_OPT_STR_(struct gw_config, packages, "packages", GW_PACKAGE, false,
		"event packages a request may name, comma-separated; the first is the default"),
    CM_OPT_STR_(struct gw_config, fallback, "fallback", "off", false,
		"for a registered device that never opted in to the package: off (404 or wait) or "
		"resync (a vendor check-sync NOTIFY), or an Event value such as check-sync"),
    CM_OPT_STR_(struct gw_config, fallback_rules, "fallback-rules", "", false,
		"<ua|num|aor|inst|pkg>:<pattern>=<off|resync|event>, comma-separated, "
		"tried in order before fallback; e.g. ua:Yealink*=resync,num:7546*=off"),
    CM_OPT_STR_(struct gw_config, tls_cert, "tls-cert", NULL, false,
		"PEM file: the HTTPS certificate chain (required unless insecure-http)"),
    CM_OPT_STR_(struct gw_config, tls_key, "tls-key", NULL, false,
		"PEM file: the private key of tls-cert"),
    CM_OPT_STR_(struct gw_config, tls_client_ca, "tls-client-ca", NULL, false,
		"PEM file of CA certificates: ask clients for a certificate and verify it"),
    CM_OPT_BOOL_(struct gw_config, require_client_cert, "require-client-cert", "false",
		 "refuse API requests without a client certificate valid for tls-client-ca"),
    CM_OPT_CHECKED_(struct gw_config, metrics_listen, "metrics-listen", NULL, false,
		    cm_check_ip_port,
		    "plain-HTTP listener for /metrics, /healthz and /readyz without an API key "
		    "(bind it to loopback or an internal address); unset: none. On the API "
		    "port /metrics needs an API key"),
    CM_OPT_BOOL_(struct gw_config, insecure_http, "insecure-http", "false",
		 "serve plain HTTP instead of HTTPS: only behind a TLS-terminating load balancer"),
    CM_OPT_CHECKED_(struct gw_config, log_level, "log-level", "info", false, cm_check_log_level,
		    "error, warn, info or debug"),
};

const size_t gw_config_nopts = sizeof(gw_config_opts) / sizeof(gw_config_opts[0]);

/* An empty value (e.g. BECKON_TLS_CERT=) counts as not set. */
static bool given(const char *s)
{
	return s && *s;
}

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
	{
		char tmp[GW_FALLBACK_MAX];
		if (gw_fallback_compile(cfg->fallback, cfg->fallback_rules, tmp, sizeof(tmp), err,
					errlen) < 0)
			return -EINVAL;
	}
	if (!given(cfg->tls_cert) && !cfg->insecure_http) {
		snprintf(err, errlen,
			 "tls-cert: no HTTPS certificate given; set tls-cert and tls-key, or "
			 "insecure-http = true when a TLS-terminating load balancer is in front");
		return -EINVAL;
	}
	if (given(cfg->tls_cert) && cfg->insecure_http) {
		snprintf(err, errlen, "insecure-http: cannot be combined with tls-cert");
		return -EINVAL;
	}
	if (!given(cfg->tls_cert) != !given(cfg->tls_key)) {
		snprintf(err, errlen, "tls-key: tls-cert and tls-key go together");
		return -EINVAL;
	}
	if ((given(cfg->tls_client_ca) || cfg->require_client_cert) && !given(cfg->tls_cert)) {
		snprintf(err, errlen, "tls-client-ca: client certificates need tls-cert");
		return -EINVAL;
	}
	if (cfg->require_client_cert && !given(cfg->tls_client_ca)) {
		snprintf(err, errlen, "require-client-cert: needs tls-client-ca");
		return -EINVAL;
	}
	if (!cfg->log_level || cm_log_level_parse(cfg->log_level) < 0) {
		snprintf(err, errlen, "log-level: '%s' is not error, warn, info or debug",
			 cfg->log_level ? cfg->log_level : "");
		return -EINVAL;
	}
	return 0;
}
