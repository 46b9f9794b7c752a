/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sip-edge settings table and the cross-field checks cm_config cannot express. A tls: listen
 * spec needs tls-cert and tls-key (checked here, so the operator gets an error naming the
 * setting instead of a transport that silently fails every handshake).
 */
#include "se_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/log.h"
#include "cm/redis.h"
#include "cm/str.h"

#define O struct se_config
const struct cm_opt se_config_opts[] = {
    CM_OPT_CHECKED_(O, sip_listen, "sip-listen", "udp:127.0.0.1:5060,tcp:127.0.0.1:5060", false,
		    cm_check_listen_list,
		    "SIP transports to listen on: udp:HOST:PORT,tcp:HOST:PORT,tls:HOST:PORT"),
    CM_OPT_STR_(O, tls_cert, "tls-cert", "", false,
		"PEM certificate chain of the tls: transports (server first)"),
    CM_OPT_STR_(O, tls_key, "tls-key", "", false, "PEM private key of tls-cert (unencrypted)"),
    CM_OPT_STR_(O, tls_ca, "tls-ca", "", false,
		"PEM CA certificates that client certificates must chain to"),
    CM_OPT_BOOL_(O, tls_verify_client, "tls-verify-client", "false",
		 "require a client certificate signed by tls-ca on tls: connections"),
    CM_OPT_CHECKED_(O, http_listen, "http-listen", "127.0.0.1:8081", false, cm_check_ip_port,
		    "HOST:PORT for /healthz and /readyz"),
    CM_OPT_STR_(
	O, redis_url, "redis-url", "redis://127.0.0.1:6379", false,
	"Redis server, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: with a password (percent-"
	"encoded; USER for a Redis 6 ACL user) each connection starts with AUTH"),
    CM_OPT_INT_(O, redis_timeout_ms, "redis-timeout-ms", "2000", 50, 60000,
		"longest wait for a Redis reply, ms; then the connection counts as dead and is "
		"rebuilt (also the not-ready delay when Redis hangs)"),
    CM_OPT_CHECKED_(O, redis_sentinels, "redis-sentinels", "", false, cm_redis_check_sentinels,
		    "Redis Sentinels to ask for the master, HOST:PORT,... (host names are looked "
		    "up again each round); empty: use redis-url's host and port (its /DB "
		    "still applies)"),
    CM_OPT_CHECKED_(O, redis_sentinel_master, "redis-sentinel-master", "beckon", false,
		    cm_redis_check_master, "master name the sentinels monitor"),
    CM_OPT_CHECKED_(O, redis_sentinel_auth, "redis-sentinel-auth", "", false,
		    cm_redis_check_userinfo,
		    "password of Sentinels that require one (their requirepass or ACL user): "
		    "[USER]:PASSWORD, percent-encoded as in redis-url; empty: none"),
    CM_OPT_INT_(O, redis_wait_replicas, "redis-wait-replicas", "0", 0, CM_REDIS_WAIT_MAX,
		"replicas that must have a registration's writes before it is answered (Redis "
		"WAIT); 1 with a Sentinel replica, 0 for a lone Redis"),
    CM_OPT_STR_(O, edge_id, "edge-id", NULL, false,
		"this instance's id, [A-Za-z0-9._-]{1,64} (default: host name)"),
    CM_OPT_INT_(O, min_expires, "min-expires", "60", 1, 86400,
		"shortest registration accepted, seconds (423 below)"),
    CM_OPT_INT_(O, max_expires, "max-expires", "3600", 1, 604800,
		"longest registration granted, seconds (longer ones are clamped)"),
    CM_OPT_INT_(O, default_expires, "default-expires", "3600", 1, 604800,
		"registration time when the REGISTER names none, seconds"),
    CM_OPT_INT_(O, flow_timer, "flow-timer", "120", 10, 3600,
		"RFC 5626 Flow-Timer sent to outbound clients (first hop): seconds between their "
		"keep-alives"),
    CM_OPT_STR_(
	O, packages, "packages", SE_DEFAULT_PACKAGE, false,
	"event packages served, comma list (at most 8); media type is application/<package>"),
    CM_OPT_STR_(O, notice_urls, "notice-urls", "", false,
		"registration notices: <package>=<http(s) URL>,... (POSTed by api-gateway)"),
    CM_OPT_STR_(O, gateway_url, "gateway-url", "", false,
		"http(s) URL of api-gateway that app servers should call (in notices)"),
    CM_OPT_INT_(O, drain_timeout, "drain-timeout", "10", 1, 300,
		"on SIGTERM/SIGINT: seconds to let NOTIFYs in flight finish and hand the rest "
		"back before exiting"),
    CM_OPT_INT_(
	O, udp_rcvbuf, "udp-rcvbuf", "4194304", 65536, 268435456,
	"receive buffer of UDP SIP sockets, bytes (capped by net.core.rmem_max unless root)"),
    CM_OPT_INT_(O, udp_sndbuf, "udp-sndbuf", "1048576", 65536, 268435456,
		"send buffer of UDP SIP sockets, bytes (capped by net.core.wmem_max unless root)"),
    CM_OPT_BOOL_(O, auth, "auth", "true",
		 "digest authentication (MD5, SHA-256) of REGISTER and SUBSCRIBE against "
		 "beckon:cred:<realm>:<user> in Redis; false: any REGISTER binds (trusted "
		 "networks and tests only; logged as a warning at start)"),
    CM_OPT_STR_(O, realm, "realm", "beckon", false,
		"digest realm of the challenges (the same on every edge of a cluster)"),
    CM_OPT_BOOL_(O, auth_sha256, "auth-sha256", "false",
		 "also offer SHA-256 (RFC 7616), before MD5; off: sofia-sip 1.12 clients such as "
		 "contact-agent fail on a SHA-256 challenge"),
    CM_OPT_INT_(O, auth_nonce_ttl, "auth-nonce-ttl", "300", 10, 86400,
		"seconds a digest nonce stays fresh (then stale=true)"),
    CM_OPT_INT_(O, auth_fail_max, "auth-fail-max", "10", 1, 100000,
		"failed authentications from one address that block it"),
    CM_OPT_INT_(O, auth_block_time, "auth-block-time", "60", 1, 86400,
		"seconds an address stays blocked (403) after auth-fail-max failures"),
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

bool se_package_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > SE_PACKAGE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("-.!%*_+`'~", c)))
			return false;
	}
	return true;
}

const struct se_package *se_config_package(const struct se_config *cfg, const char *name,
					   size_t len)
{
	for (size_t i = 0; i < cfg->n_pkg; i++) {
		if (strlen(cfg->pkg[i].name) == len && strncmp(cfg->pkg[i].name, name, len) == 0)
			return &cfg->pkg[i];
	}
	return NULL;
}

/* An absolute http(s) URL without spaces, commas or control characters. */
static bool url_valid(const char *s, size_t len)
{
	size_t skip;

	if (len > 7 && strncmp(s, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && strncmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	if (len > SE_URL_MAX || len == skip)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == ',' || (unsigned char)s[i] >= 0x7f)
			return false;
	}
	return true;
}

/* Splits list at commas into trimmed items and calls fn on each (skipping empty ones). */
static int for_each_item(const char *list,
			 int (*fn)(struct se_config *, const char *, size_t, char *, size_t),
			 struct se_config *cfg, char *err, size_t errlen)
{
	const char *p = list ? list : "";

	while (*p) {
		const char *b = p, *e;
		int rc;

		while (*p && *p != ',')
			p++;
		e = p;
		if (*p)
			p++;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == b)
			continue;
		rc = fn(cfg, b, (size_t)(e - b), err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_package(struct se_config *cfg, const char *s, size_t len, char *err, size_t errlen)
{
	struct se_package *p;

	if (!se_package_name_valid(s, len)) {
		cm_snprintf(err, errlen,
			    "packages: '%.*s' is not an event package name (token, at "
			    "most %d characters)",
			    (int)len, s, SE_PACKAGE_MAX);
		return -EINVAL;
	}
	if (se_config_package(cfg, s, len))
		return 0;
	if (cfg->n_pkg == SE_PACKAGES_MAX) {
		cm_snprintf(err, errlen, "packages: at most %d packages", SE_PACKAGES_MAX);
		return -EINVAL;
	}
	p = &cfg->pkg[cfg->n_pkg++];
	memcpy(p->name, s, len);
	p->name[len] = '\0';
	cm_snprintf(p->media, sizeof(p->media), "application/%s", p->name);
	p->notice_url[0] = '\0';
	return 0;
}

static int add_notice(struct se_config *cfg, const char *s, size_t len, char *err, size_t errlen)
{
	const char *eq = memchr(s, '=', len);
	struct se_package *p;

	if (!eq) {
		cm_snprintf(err, errlen, "notice-urls: '%.*s' must be <package>=<url>", (int)len,
			    s);
		return -EINVAL;
	}
	p = (struct se_package *)se_config_package(cfg, s, (size_t)(eq - s));
	if (!p) {
		cm_snprintf(err, errlen, "notice-urls: package '%.*s' is not in packages",
			    (int)(eq - s), s);
		return -EINVAL;
	}
	eq++;
	if (!url_valid(eq, (size_t)(s + len - eq))) {
		cm_snprintf(err, errlen, "notice-urls: '%.*s' must be an http:// or https:// URL",
			    (int)(s + len - eq), eq);
		return -EINVAL;
	}
	memcpy(p->notice_url, eq, (size_t)(s + len - eq));
	p->notice_url[s + len - eq] = '\0';
	return 0;
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
	cfg->n_listen = (size_t)n;
	cfg->tls = false;
	for (int i = 0; i < n; i++)
		cfg->tls = cfg->tls || cfg->listen[i].tp == CM_TP_TLS;
	if (cfg->tls && (!cfg->tls_cert || !*cfg->tls_cert || !cfg->tls_key || !*cfg->tls_key)) {
		cm_snprintf(err, errlen, "sip-listen: a tls: transport needs tls-cert and tls-key");
		return -EINVAL;
	}
	if (cfg->tls_verify_client && (!cfg->tls_ca || !*cfg->tls_ca)) {
		cm_snprintf(err, errlen, "tls-verify-client: needs tls-ca");
		return -EINVAL;
	}

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
		char shown[512];

		cm_redis_url_redact(cfg->redis_url ? cfg->redis_url : "", shown, sizeof(shown));
		cm_snprintf(err, errlen,
			    "redis-url '%s' must be redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
			    shown);
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

	cfg->n_pkg = 0;
	if (for_each_item(cfg->packages, add_package, cfg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->n_pkg == 0) {
		cm_snprintf(err, errlen, "packages: at least one event package is needed");
		return -EINVAL;
	}
	if (for_each_item(cfg->notice_urls, add_notice, cfg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->gateway_url && *cfg->gateway_url &&
	    !url_valid(cfg->gateway_url, strlen(cfg->gateway_url))) {
		cm_snprintf(err, errlen, "gateway-url '%s' must be an http:// or https:// URL",
			    cfg->gateway_url);
		return -EINVAL;
	}
	{
		size_t len = 0;
		cfg->allow_events[0] = '\0';
		for (size_t i = 0; i < cfg->n_pkg; i++) {
			int k =
			    cm_snprintf(cfg->allow_events + len, sizeof(cfg->allow_events) - len,
					"%s%s", i ? ", " : "", cfg->pkg[i].name);
			if (k > 0)
				len += (size_t)k;
		}
	}

	lvl = cm_log_level_parse(cfg->log_level ? cfg->log_level : "info");
	if (lvl < 0) {
		cm_snprintf(err, errlen, "log-level '%s' must be error, warn, info or debug",
			    cfg->log_level);
		return -EINVAL;
	}
	cfg->log_level_num = lvl;
	return 0;
}
