/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Settings of api-gateway: one cm_opt table (name, type, default, bounds, help) that drives
 * --help, flags, BECKON_* environment variables, `--config FILE` and validation.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cm/config.h"

struct gw_config {
	char *http_listen;
	char *redis_url;
	long redis_timeout_ms;	     /* reply timeout, then reconnect */
	char *redis_sentinels;	     /* "" or IP:PORT,... */
	char *redis_sentinel_master; /* name the sentinels know the master by */
	char *redis_sentinel_auth;   /* "" or [USER]:PASSWORD for the sentinels */
	long redis_wait_replicas;    /* WAIT for this many replicas after each script */
	long max_body;
	long drain_timeout; /* SIGTERM: seconds to finish requests in flight */
	long request_retention;
	long max_pending_per_device;
	long max_pending_per_client;
	char *packages;
	char *fallback;	      /* gw_fallback.h */
	char *fallback_rules; /* gw_fallback.h */
	char *tls_cert;	      /* file names; see gw_tls.h */
	char *tls_key;
	char *tls_client_ca;
	bool require_client_cert;
	bool insecure_http;
	char *metrics_listen;
	char *log_level;
};

extern const struct cm_opt gw_config_opts[];
extern const size_t gw_config_nopts;

/* Checks what the table cannot express (the log level's spelling). Returns 0 or -EINVAL with
 * a message in err. */
int gw_config_check(const struct gw_config *cfg, char *err, size_t errlen);

#endif
