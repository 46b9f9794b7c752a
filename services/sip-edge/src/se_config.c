/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sip-edge settings table and the cross-field checks cm_config cannot express. TLS listen
 * specs are refused here until the TLS transport lands (issue 3), so an operator gets a clear
 * error instead of a silently missing transport.
 */
#include "se_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/log.h"
#include "cm/str.h"

#define O struct se_config
const struct cm_opt se_config_opts[] = {
    CM_OPT_CHECKED_(O, sip_listen, "sip-listen", "udp:127.0.0.1:5060,tcp:127.0.0.1:5060", false,
		    cm_check_listen_list,
		    "SIP transports to listen on: udp:HOST:PORT,tcp:HOST:PORT (tls: not yet)"),
    CM_OPT_CHECKED_(O, http_listen, "http-listen", "127.0.0.1:8081", false, cm_check_ip_port,
		    "HOST:PORT for /healthz and /readyz"),
    CM_OPT_STR_(O, redis_url, "redis-url", "redis://127.0.0.1:6379", false,
		"Redis server, redis://HOST[:PORT][/DB]"),
    CM_OPT_STR_(O, edge_id, "edge-id", NULL, false,
		"this instance's id, [A-Za-z0-9._-]{1,64} (default: host name)"),
    CM_OPT_INT_(O, min_expires, "min-expires", "60", 1, 86400,
		"shortest registration accepted, seconds (423 below)"),
    CM_OPT_INT_(O, max_expires, "max-expires", "3600", 1, 604800,
		"longest registration granted, seconds (longer ones are clamped)"),
    CM_OPT_INT_(O, default_expires, "default-expires", "3600", 1, 604800,
		"registration time when the REGISTER names none, seconds"),
    CM_OPT_CHECKED_(O, log_level, "log-level", "info", false, cm_check_log_level,
		    "error, warn, info or debug"),
};
#undef O
const size_t se_config_n_opts = sizeof(se_config_opts) / sizeof(se_config_opts[0]);

bool se_edge_id_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= SE_EDGE_ID_MAX)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

int se_config_check(struct se_config *cfg, char *err, size_t errlen)
{
	char perr[160];
	int n, lvl;

	if (!cfg->edge_id || !*cfg->edge_id) {
		char host[256];
		if (gethostname(host, sizeof(host)) < 0) {
			cm_snprintf(err, errlen, "edge-id: not set and gethostname failed");
			return -EINVAL;
		}
		host[sizeof(host) - 1] = '\0';
		free(cfg->edge_id);
		cfg->edge_id = strdup(host);
		if (!cfg->edge_id)
			return -ENOMEM;
	}
	if (!se_edge_id_valid(cfg->edge_id)) {
		cm_snprintf(err, errlen, "edge-id '%s' must match [A-Za-z0-9._-]{1,64}",
			    cfg->edge_id);
		return -EINVAL;
	}

	n = cm_listen_parse(cfg->sip_listen ? cfg->sip_listen : "", cfg->listen, CM_LISTEN_MAX,
			    perr, sizeof(perr));
	if (n < 0) {
		cm_snprintf(err, errlen, "sip-listen: %s", perr);
		return -EINVAL;
	}
	if (n == 0) {
		cm_snprintf(err, errlen, "sip-listen: at least one transport is needed");
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (cfg->listen[i].tp == CM_TP_TLS) {
			cm_snprintf(
			    err, errlen,
			    "sip-listen: tls transport is not supported yet (use udp: or tcp:)");
			return -EINVAL;
		}
	}
	cfg->n_listen = (size_t)n;

	{
		struct cm_hostport hp;
		const char *h = cfg->http_listen ? cfg->http_listen : "";
		if (cm_hostport_parse(h, strlen(h), &hp) < 0 || hp.port < 0 || hp.port > 65535) {
			cm_snprintf(err, errlen,
				    "http-listen '%s' must be HOST:PORT, port 0..65535", h);
			return -EINVAL;
		}
	}
	if (!cfg->redis_url || strncmp(cfg->redis_url, "redis://", 8) != 0) {
		cm_snprintf(err, errlen, "redis-url '%s' must be redis://HOST[:PORT][/DB]",
			    cfg->redis_url ? cfg->redis_url : "");
		return -EINVAL;
	}

	if (cfg->min_expires > cfg->max_expires) {
		cm_snprintf(err, errlen, "min-expires (%ld) must not exceed max-expires (%ld)",
			    cfg->min_expires, cfg->max_expires);
		return -EINVAL;
	}
	/* Clamped rather than refused: lowering max-expires alone must not need a second flag. */
	if (cfg->default_expires < cfg->min_expires)
		cfg->default_expires = cfg->min_expires;
	if (cfg->default_expires > cfg->max_expires)
		cfg->default_expires = cfg->max_expires;

	lvl = cm_log_level_parse(cfg->log_level ? cfg->log_level : "info");
	if (lvl < 0) {
		cm_snprintf(err, errlen, "log-level '%s' must be error, warn, info or debug",
			    cfg->log_level);
		return -EINVAL;
	}
	cfg->log_level_num = lvl;
	return 0;
}
