/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Assembly and teardown of one sip-edge. Everything runs on the caller's libuv loop:
 * sofia's su_root through cm_su_uv, hiredis through cm_redis, libmicrohttpd through cm_http.
 *
 * Teardown order matters: Redis callbacks of REGISTERs still hold msg_t and tport
 * references and NOTIFYs hold nta transactions, so the agent is destroyed only after
 * cm_redis_close has delivered every outstanding callback (with reply == NULL) and the flow
 * table has dropped its references.
 */
#include "se_edge.h"
#include "se_flowmark.h"
#include "se_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/nta_tag.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url_tag.h>

#include "cm/tlsdir.h"
#include "cm/err.h"
#include "cm/log.h"
#include "cm/str.h"
#include "cm/sweeper.h"
#include "se_auth.h"
#include "se_notify.h"
#include "se_registrar.h"
#include "se_udpbuf.h"
#include "se_wake.h"

#define SWEEP_MS 10000
#define DRAIN_MS 3000

int64_t se_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *tp_ref(void *tp)
{
	return tport_ref(tp);
}

static void tp_unref(void *tp)
{
	tport_unref(tp);
}

static bool tp_is_closed(void *tp)
{
	return tport_is_closed(tp) != 0;
}

static const struct se_flow_ops flow_ops = {tp_ref, tp_unref, tp_is_closed};

/* TPTAG_TLS_VERIFY_POLICY: outgoing connections always verified, incoming ones (client
 * certificates) when tls-verify-client is on. */
static unsigned tls_policy(bool verify_client)
{
	return TPTLS_VERIFY_OUTGOING | (verify_client ? TPTLS_VERIFY_INCOMING : 0);
}

static bool ready(void *data)
{
	struct se_edge *e = data;
	/* Draining: a load balancer should stop sending REGISTERs here. */
	return !e->draining && e->redis && cm_redis_ready(e->redis);
}

static void http_handler(struct cm_http_req *req, void *data)
{
	cm_http_respond_problem(req, CM_E_NOT_FOUND,
				"sip-edge serves only /healthz, /readyz and /metrics");
}

static void on_sweep(uv_timer_t *t)
{
	struct se_edge *e = t->data;
	size_t n = se_flows_sweep(e->flows, se_now_ms());

	if (n)
		cm_log_debug("released %zu idle flows, %zu left", n, se_flows_count(e->flows));
}

static void on_redis_state(struct cm_redis *r, bool up, void *data)
{
	if (up) {
		cm_log_info("redis connected");
		/* Wake-ups published while we were away are in our stream: catch up. */
		se_wake_connected(data);
	} else {
		cm_log_warn("redis disconnected");
	}
}

/* "sip:host:port;transport=udp", IPv6 bracketed; port 0 lets the kernel pick. TLS needs the
 * sips: scheme: nta offers only udp, tcp and sctp for sip: URLs (tls gives EPROTONOSUPPORT). */
static int listen_url(const struct cm_listen *l, char *buf, size_t size)
{
	bool v6 = strchr(l->host, ':') != NULL;

	if (l->tp == CM_TP_TLS)
		return cm_snprintf(buf, size, "sips:%s%s%s:%d", v6 ? "[" : "", l->host,
				   v6 ? "]" : "", l->port);
	return cm_snprintf(buf, size, "sip:%s%s%s:%d;transport=%s", v6 ? "[" : "", l->host,
			   v6 ? "]" : "", l->port, cm_transport_name(l->tp));
}

static void log_tports(struct se_edge *e)
{
	for (tport_t *tp = tport_primaries(nta_agent_tports(e->agent)); tp; tp = tport_next(tp)) {
		const tp_name_t *n = tport_name(tp);
		cm_log_info("listening sip=%s:%s:%s", n->tpn_proto, n->tpn_host, n->tpn_port);
	}
}

static void agent_stop(struct se_edge *e)
{
	se_notify_shutdown(e);
	se_flows_destroy(e->flows);
	e->flows = NULL;
	if (e->leg)
		nta_leg_destroy(e->leg);
	e->leg = NULL;
	if (e->agent)
		nta_agent_destroy(e->agent);
	e->agent = NULL;
	cm_su_uv_destroy(e->su);
	e->su = NULL;
}

static void on_drain_tick(uv_timer_t *t)
{
	/* Only wakes uv_run(UV_RUN_ONCE) so the drain loop can check its deadline. */
}

void se_edge_stop(struct se_edge *e)
{
	uv_timer_t tick;
	uint64_t deadline;

	if (!e)
		return;
	e->closing = true;
	cm_http_stop(e->http);
	e->http = NULL;
	if (e->sweep_init) {
		uv_timer_stop(&e->sweep);
		uv_close((uv_handle_t *)&e->sweep, NULL);
	}
	cm_sweeper_stop(e->sweeper);
	e->sweeper = NULL;
	se_flowmark_stop(e);
	se_stats_stop(e);
	se_wake_stop(e);
	/* NOTIFY transactions and retries end now; their Redis updates are skipped while
	 * closing. */
	se_notify_shutdown(e);
	se_registrar_stop(e);
	cm_redis_close(e->redis);
	e->redis = NULL;

	uv_timer_init(e->loop, &tick);
	uv_timer_start(&tick, on_drain_tick, 20, 20);
	deadline = uv_now(e->loop) + DRAIN_MS;
	while (e->pending > 0 && uv_now(e->loop) < deadline)
		uv_run(e->loop, UV_RUN_ONCE);
	uv_timer_stop(&tick);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(e->loop, UV_RUN_NOWAIT);
	if (e->pending > 0)
		cm_log_warn("shutdown: %u operations did not finish", e->pending);

	agent_stop(e);
	se_auth_destroy(e->auth);
	free(e);
}

int se_edge_start(uv_loop_t *loop, const struct se_config *cfg, struct se_edge **out)
{
	struct se_edge *e;
	char url[CM_HOST_MAX + 64];
	const struct cm_listen *l0 = &cfg->listen[0];
	bool v6 = strchr(l0->host, ':') != NULL;
	char tls_dir[CM_TLSDIR_MAX] = "";
	int rc;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->loop = loop;
	e->cfg = cfg;
	cm_log_field("edge", cfg->edge_id);
	cm_snprintf(e->from, sizeof(e->from), "<sip:beckon@%s%s%s>", v6 ? "[" : "", l0->host,
		    v6 ? "]" : "");
	if (cm_snprintf(e->channel, sizeof(e->channel), "%s%s", CM_KEY_EDGE_CHANNEL, cfg->edge_id) <
	    0) {
		free(e);
		return -EINVAL;
	}

	{
		size_t pl = 0, nl = 0;
		for (size_t i = 0; i < cfg->n_pkg; i++) {
			const struct se_package *p = &cfg->pkg[i];
			int k = cm_snprintf(e->pkg_list + pl, sizeof(e->pkg_list) - pl, "%s\n",
					    p->name);
			if (k > 0)
				pl += (size_t)k;
			if (!p->notice_url[0])
				continue;
			k = cm_snprintf(e->notices + nl, sizeof(e->notices) - nl, "%s %s\n",
					p->name, p->notice_url);
			if (k > 0)
				nl += (size_t)k;
		}
	}

	rc = se_flows_create(&flow_ops, &e->flows);
	if (rc < 0)
		goto fail;
	if (cfg->auth) {
		rc = se_auth_create(e, &e->auth);
		if (rc < 0)
			goto fail;
	} else {
		cm_log_warn("auth is off: REGISTER and SUBSCRIBE bind without credentials, so "
			    "anyone reaching the SIP port can take over a device's callbacks");
	}
	rc = cm_su_uv_create(loop, e, &e->root, &e->su);
	if (rc < 0) {
		cm_log_error("cannot attach sofia-sip to the loop: %s", strerror(-rc));
		goto fail;
	}
	cm_su_uv_redirect_logs();

	if (cfg->tls) {
		char why[CM_TLSDIR_MAX + 64];

		rc = cm_tlsdir_create(cfg->tls_cert, cfg->tls_key,
				      cfg->tls_ca && *cfg->tls_ca ? cfg->tls_ca : cfg->tls_cert,
				      tls_dir, sizeof(tls_dir), why, sizeof(why));
		if (rc < 0) {
			cm_log_error("tls: %s", why);
			goto fail;
		}
	}
	/* The TLS tags only matter to tls: transports; sofia reads the PEM files while it creates
	 * them, so the directory is removed right after. No tag sets the protocol versions or
	 * the cipher list in sofia 1.12.11: see docs/security.md. */
	listen_url(l0, url, sizeof(url));
	e->agent = nta_agent_create(
	    e->root, (url_string_t *)url, se_registrar_message, (nta_agent_magic_t *)e,
	    NTATAG_CLIENT_RPORT(1), NTATAG_SERVER_RPORT(1), TPTAG_PONG2PING(1),
	    TAG_IF(cfg->tls, TPTAG_CERTIFICATE(tls_dir)),
	    TAG_IF(cfg->tls, TPTAG_TLS_VERIFY_POLICY(tls_policy(cfg->tls_verify_client))),
	    TAG_IF(cfg->tls, TPTAG_TLS_VERIFY_DATE(1)), TAG_END());
	if (!e->agent) {
		cm_log_error("sip-listen: cannot listen on %s (port in use, not a local address, "
			     "or unusable tls-cert/tls-key/tls-ca): %s",
			     url, strerror(errno));
		rc = errno ? -errno : -EADDRINUSE;
		goto fail;
	}
	for (size_t i = 1; i < cfg->n_listen; i++) {
		listen_url(&cfg->listen[i], url, sizeof(url));
		if (nta_agent_add_tport(
			e->agent, (url_string_t *)url, TPTAG_PONG2PING(1),
			TAG_IF(cfg->tls, TPTAG_CERTIFICATE(tls_dir)),
			TAG_IF(cfg->tls,
			       TPTAG_TLS_VERIFY_POLICY(tls_policy(cfg->tls_verify_client))),
			TAG_IF(cfg->tls, TPTAG_TLS_VERIFY_DATE(1)), TAG_END()) < 0) {
			cm_log_error("sip-listen: cannot listen on %s (port in use, not a local "
				     "address, or unusable tls-cert/tls-key/tls-ca): %s",
				     url, strerror(errno));
			rc = errno ? -errno : -EADDRINUSE;
			goto fail;
		}
	}
	cm_tlsdir_remove(tls_dir);
	tls_dir[0] = '\0';
	/* Outgoing NOTIFYs need a leg; one bound to a URL nobody uses never catches requests
	 * (a leg without URL would become the default leg and swallow every request). */
	e->leg = nta_leg_tcreate(e->agent, NULL, NULL, NTATAG_NO_DIALOG(1),
				 URLTAG_URL("sip:beckon-notifier@notifier.invalid"), TAG_END());
	if (!e->leg) {
		cm_log_error("cannot create the NOTIFY leg");
		rc = -ENOMEM;
		goto fail;
	}
	log_tports(e);
	se_udpbuf_apply(e->agent, cfg->udp_rcvbuf, cfg->udp_sndbuf);

	rc = cm_redis_create(loop, cfg->redis_url, &e->redis);
	if (rc < 0) {
		char shown[512];

		cm_redis_url_redact(cfg->redis_url, shown, sizeof(shown));
		cm_log_error(
		    "redis-url: '%s': %s (want redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])", shown,
		    strerror(-rc));
		goto fail;
	}
	rc = cm_redis_set_timeout(e->redis, cfg->redis_timeout_ms);
	if (rc == 0)
		rc = cm_redis_set_wait_replicas(e->redis, cfg->redis_wait_replicas);
	if (rc == 0)
		rc = cm_redis_set_sentinels(e->redis, cfg->redis_sentinels,
					    cfg->redis_sentinel_master);
	if (rc == 0)
		rc = cm_redis_set_sentinel_auth(e->redis, cfg->redis_sentinel_auth);
	if (rc < 0) {
		cm_log_error("redis-sentinels: '%s': %s", cfg->redis_sentinels, strerror(-rc));
		goto fail;
	}
	cm_redis_on_state(e->redis, on_redis_state, e);
	rc = se_wake_start(e);
	if (rc < 0)
		goto fail;
	rc = se_notify_start(e);
	if (rc < 0) {
		cm_log_error("cannot subscribe to %s: %s", e->channel, strerror(-rc));
		goto fail;
	}
	rc = cm_redis_start(e->redis);
	if (rc < 0) {
		cm_log_error("cannot start the redis client: %s", strerror(-rc));
		goto fail;
	}
	rc = cm_sweeper_start(loop, e->redis, &e->sweeper);
	if (rc < 0) {
		cm_log_error("cannot start the expiry sweeper: %s", strerror(-rc));
		goto fail;
	}
	rc = se_stats_start(e);
	if (rc < 0) {
		cm_log_error("cannot start the edge statistics: %s", strerror(-rc));
		goto fail;
	}

	{
		struct cm_http_config hc = {.listen = cfg->http_listen,
					    .max_body = 1024,
					    .handler = http_handler,
					    .ready = ready,
					    .data = e};
		rc = cm_http_start(loop, &hc, &e->http);
		if (rc < 0) {
			cm_log_error("http-listen: cannot listen on %s: %s", cfg->http_listen,
				     strerror(-rc));
			goto fail;
		}
	}

	uv_timer_init(loop, &e->sweep);
	e->sweep.data = e;
	e->sweep_init = true;
	uv_timer_start(&e->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	rc = se_flowmark_start(e);
	if (rc < 0)
		goto fail;

	{
		char shown[512];

		cm_redis_url_redact(cfg->redis_url, shown, sizeof(shown));
		cm_log_info("sip-edge started edge-id=%s http=%s redis=%s channel=%s", cfg->edge_id,
			    cfg->http_listen, shown, e->channel);
	}
	*out = e;
	return 0;

fail:
	cm_tlsdir_remove(tls_dir);
	se_edge_stop(e);
	return rc < 0 ? rc : -EINVAL;
}
