/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api-gateway: the REST and SOAP API through which application servers ask beckon for
 * callbacks (proto/rest.md, proto/soap/). This file only reads the settings, builds the loop,
 * the Redis client, the HTTP server, the expiry sweeper and the outbox worker, and shuts them
 * down on SIGINT/SIGTERM; the API itself is gw_api.c. The first signal drains (gw_drain.h:
 * not ready, new requests 503, requests in flight finish, within drain-timeout); a second
 * one stops at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cm/http.h"
#include "cm/log.h"
#include "cm/redis.h"
#include "cm/sweeper.h"
#include "gw_alive.h"
#include "gw_api.h"
#include "gw_auth.h"
#include "gw_config.h"
#include "gw_drain.h"
#include "gw_outbox.h"
#include "gw_status.h"
#include "gw_tls.h"

struct app {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	struct cm_redis *redis;
	struct cm_http *http;
	struct cm_http *metrics_http; /* metrics-listen, or NULL */
	struct cm_sweeper *sweeper;
	struct gw_outbox *outbox;
	struct gw_status *status;
	struct gw_api api;
	struct gw_tls tls;
	struct gw_alive *alive;
	long drain_timeout;
	bool stopped;
};

static void stop_all(void *data)
{
	struct app *a = data;

	if (a->stopped)
		return;
	a->stopped = true;
	gw_alive_stop(a->alive);
	a->alive = NULL;
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	cm_sweeper_stop(a->sweeper);
	a->sweeper = NULL;
	gw_outbox_stop(a->outbox);
	a->outbox = NULL;
	/* Redis next: closing it runs every pending callback with no reply, which answers each
	 * suspended HTTP request (503) while the HTTP server still exists. */
	cm_redis_close(a->redis);
	a->redis = NULL;
	a->api.store.redis = NULL;
	/* After Redis: its pending status reads were answered by the close, and need s. */
	gw_status_detach(a->status);
	gw_status_stop(a->status);
	a->status = NULL;
	a->api.status = NULL;
	cm_http_stop(a->http);
	a->http = NULL;
	cm_http_stop(a->metrics_http);
	a->metrics_http = NULL;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct app *a = s->data;

	cm_log_info("api-gateway stopping (signal %d)", signum);
	if (a->api.draining) {
		stop_all(a); /* a second signal: no more waiting */
		return;
	}
	a->api.draining = true;
	/* Not one more outbox entry taken; the unacknowledged ones are another gateway's
	 * after its XAUTOCLAIM. */
	gw_outbox_stop(a->outbox);
	a->outbox = NULL;
	gw_alive_stop(a->alive);
	a->alive = NULL;
	if (gw_drain_start(&a->loop, a->redis, a->drain_timeout, stop_all, a) < 0)
		stop_all(a);
}

int main(int argc, char **argv)
{
	struct gw_config cfg = {0};
	struct app a = {0};
	struct cm_http_config hc = {0};
	char err[256];
	int rc, status = 1;

	rc = cm_config_load(gw_config_opts, gw_config_nopts, &cfg, "api-gateway", argc, argv, err,
			    sizeof(err));
	if (rc == 1) {
		status = 0;
		goto out_cfg;
	}
	if (rc < 0 || gw_config_check(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "api-gateway: %s\n", err);
		goto out_cfg;
	}
	cm_log_init("api-gateway", (enum cm_log_level)cm_log_level_parse(cfg.log_level));
	if (gw_tls_load(&cfg, &a.tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "api-gateway: %s\n", err);
		goto out_cfg;
	}
	signal(SIGPIPE, SIG_IGN); /* a client closing early must not kill the process */

	if (uv_loop_init(&a.loop) < 0) {
		cm_log_error("api-gateway: cannot create the event loop");
		goto out_cfg;
	}
	rc = cm_redis_create(&a.loop, cfg.redis_url, &a.redis);
	if (rc < 0) {
		char shown[512];

		cm_redis_url_redact(cfg.redis_url, shown, sizeof(shown));
		cm_log_error("api-gateway: redis-url '%s' is not "
			     "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
			     shown);
		goto out_loop;
	}
	if (cm_redis_set_timeout(a.redis, cfg.redis_timeout_ms) < 0 ||
	    cm_redis_set_wait_replicas(a.redis, cfg.redis_wait_replicas) < 0 ||
	    cm_redis_set_sentinels(a.redis, cfg.redis_sentinels, cfg.redis_sentinel_master) < 0 ||
	    cm_redis_set_sentinel_auth(a.redis, cfg.redis_sentinel_auth) < 0) {
		cm_log_error("api-gateway: redis-sentinels '%s' or redis-sentinel-master '%s' is "
			     "invalid",
			     cfg.redis_sentinels, cfg.redis_sentinel_master);
		cm_redis_close(a.redis);
		uv_run(&a.loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	a.api.store.redis = a.redis;
	if (gw_auth_create(&a.loop, a.redis, &a.api.auth) < 0) {
		cm_log_error("api-gateway: out of memory");
		cm_redis_close(a.redis);
		uv_run(&a.loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	a.api.store.retention_s = cfg.request_retention;
	a.api.store.max_per_device = cfg.max_pending_per_device;
	a.api.store.max_per_client = cfg.max_pending_per_client;
	a.api.store.packages = cfg.packages;
	{
		/* Checked by gw_config_check already, so this cannot fail here. */
		char why[256];
		if (gw_fallback_compile(cfg.fallback, cfg.fallback_rules, a.api.store.fallback,
					sizeof(a.api.store.fallback), why, sizeof(why)) < 0)
			cm_log_warn("api-gateway: %s", why);
	}
	a.api.max_body = (size_t)cfg.max_body;
	cm_redis_start(a.redis);

	hc.listen = cfg.http_listen;
	hc.max_body = (size_t)cfg.max_body * GW_API_HARD_BODY_FACTOR;
	hc.handler = gw_api_handle;
	hc.ready = gw_api_ready;
	hc.data = &a.api;
	hc.tls_cert = a.tls.cert;
	hc.tls_key = a.tls.key;
	hc.tls_client_ca = a.tls.client_ca;
	hc.require_client_cert = cfg.require_client_cert;
	hc.metrics_private = true; /* behind an API key on this port; see metrics-listen */
	rc = cm_http_start(&a.loop, &hc, &a.http);
	if (rc < 0) {
		cm_log_error("api-gateway: cannot listen on %s: %s", cfg.http_listen,
			     a.tls.cert
				 ? "address in use, or the TLS certificate or key is unusable"
				 : uv_strerror(rc));
		cm_redis_close(a.redis);
		uv_run(&a.loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	if (cfg.metrics_listen && *cfg.metrics_listen) {
		struct cm_http_config mc = {.listen = cfg.metrics_listen,
					    .max_body = 1024,
					    .handler = gw_api_handle_internal,
					    .ready = gw_api_ready,
					    .data = &a.api};

		rc = cm_http_start(&a.loop, &mc, &a.metrics_http);
		if (rc < 0) {
			cm_log_error("api-gateway: cannot listen on metrics-listen %s: %s",
				     cfg.metrics_listen, uv_strerror(rc));
			cm_http_stop(a.http);
			cm_redis_close(a.redis);
			uv_run(&a.loop, UV_RUN_DEFAULT);
			goto out_loop;
		}
	}
	if (cm_sweeper_start(&a.loop, a.redis, &a.sweeper) < 0 ||
	    gw_outbox_start(&a.loop, a.redis, &a.outbox) < 0 ||
	    gw_status_start(&a.loop, a.redis, &a.status) < 0) {
		cm_log_error("api-gateway: cannot start the sweeper or the outbox worker");
		gw_outbox_stop(a.outbox);
		cm_sweeper_stop(a.sweeper);
		cm_http_stop(a.http);
		cm_http_stop(a.metrics_http);
		cm_redis_close(a.redis);
		uv_run(&a.loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	a.api.status = a.status;
	a.drain_timeout = cfg.drain_timeout;
	if (gw_alive_start(&a.loop, a.redis, &a.alive) < 0)
		cm_log_warn("api-gateway: no liveness key (out of memory)");
	uv_signal_init(&a.loop, &a.sigint);
	uv_signal_init(&a.loop, &a.sigterm);
	a.sigint.data = a.sigterm.data = &a;
	uv_signal_start(&a.sigint, on_signal, SIGINT);
	uv_signal_start(&a.sigterm, on_signal, SIGTERM);
	{
		char shown[512];

		cm_redis_url_redact(cfg.redis_url, shown, sizeof(shown));
		cm_log_info("api-gateway listening http-listen=%s port=%d scheme=%s redis-url=%s",
			    cfg.http_listen, cm_http_port(a.http), a.tls.cert ? "https" : "http",
			    shown);
	}

	uv_run(&a.loop, UV_RUN_DEFAULT);
	status = 0;
out_loop:
	if (uv_loop_close(&a.loop) != 0)
		cm_log_warn("api-gateway: event loop closed with handles still open");
	gw_auth_free(a.api.auth);
out_cfg:
	gw_tls_free(&a.tls);
	cm_config_free(gw_config_opts, gw_config_nopts, &cfg);
	return status;
}
