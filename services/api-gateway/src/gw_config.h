/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Settings of api-gateway: one cm_opt table (name, type, default, bounds, help) that drives
 * --help, flags, BECKON_* environment variables, `--config FILE` and validation.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>

#include "cm/config.h"

struct gw_config {
	char *http_listen;
	char *redis_url;
	long max_body;
	long request_retention;
	long max_pending_per_device;
	long max_pending_per_client;
	char *packages;
	char *log_level;
};

extern const struct cm_opt gw_config_opts[];
extern const size_t gw_config_nopts;

/* Checks what the table cannot express (the log level's spelling). Returns 0 or -EINVAL with
 * a message in err. */
int gw_config_check(const struct gw_config *cfg, char *err, size_t errlen);

#endif
