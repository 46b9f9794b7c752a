/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Edge metrics and the edge-stats record. The binding tally is an open-addressing table
 * of binding ids with their expiry, rebuilt without the expired entries at each publish
 * (linear probing needs no tombstones that way); the table is allocated once at start.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/redis.h"
#include "cm/str.h"
#include "se_config.h"
#include "se_edge.h"
#include "se_flow.h"
#include "se_register.h"
#include "se_stats.h"

#define TABLE_SIZE (2 * SE_STATS_BINDINGS_MAX) /* power of two, at most half full */

struct slot {
	int64_t expires_ms; /* 0: free */
	char bid[SE_BINDING_ID_LEN + 1];
};

static struct {
	struct se_edge *e;
	uv_timer_t timer;
	bool timer_init;
	struct slot *table, *spare;
	size_t n_bindings;
	struct cm_metric_family *registrations, *subscriptions, *notify_answers, *notify_classes;
	struct cm_metric *notifies_sent, *notify_rtt, *e2e_sent, *e2e_delivered;
	struct cm_metric *flows, *bindings, *delivered;
	double registered_ok;
} st;

static uint32_t bid_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct slot *find(struct slot *t, const char *bid)
{
	uint32_t i = bid_hash(bid) & (TABLE_SIZE - 1);

	while (t[i].expires_ms && strcmp(t[i].bid, bid) != 0)
		i = (i + 1) & (TABLE_SIZE - 1);
	return &t[i];
}

void se_stats_binding(const char *bid, int64_t expires_ms)
{
	struct slot *s;

	if (!st.table || strlen(bid) > SE_BINDING_ID_LEN)
		return;
	s = find(st.table, bid);
	if (!s->expires_ms) {
		if (expires_ms <= 0 || st.n_bindings >= SE_STATS_BINDINGS_MAX)
			return;
		cm_snprintf(s->bid, sizeof(s->bid), "%s", bid);
		st.n_bindings++;
	}
	/* A removal keeps the slot (probing needs it) until the next rebuild drops it. */
	s->expires_ms = expires_ms > 0 ? expires_ms : 1;
}

/* Drops expired and removed bindings; returns the live count. */
static size_t rebuild(int64_t now_ms)
{
	struct slot *t = st.spare;
	size_t n = 0;

	memset(t, 0, TABLE_SIZE * sizeof(*t));
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		if (st.table[i].expires_ms <= now_ms)
			continue;
		*find(t, st.table[i].bid) = st.table[i];
		n++;
	}
	st.spare = st.table;
	st.table = t;
	st.n_bindings = n;
	return n;
}

static const char *class_of(int status)
{
	static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};

	return status >= 100 && status < 700 ? classes[status / 100 - 1] : "other";
}

void se_stats_register(int status, const char *transport)
{
	char code[12];

	cm_snprintf(code, sizeof(code), "%d", status);
	cm_metric_inc(cm_metric_labels(st.registrations, code, transport));
	if (status >= 200 && status < 300)
		st.registered_ok++;
}

void se_stats_subscribe(int status)
{
	char code[12];

	cm_snprintf(code, sizeof(code), "%d", status);
	cm_metric_inc(cm_metric_labels(st.subscriptions, code, NULL));
}

void se_stats_notify_sent(int64_t created_ms)
{
	cm_metric_inc(st.notifies_sent);
	if (created_ms > 0)
		cm_metric_observe(st.e2e_sent, (double)(se_now_ms() - created_ms) / 1000.0);
}

void se_stats_notify_answered(int status, double rtt_s, int64_t created_ms)
{
	char code[12];

	cm_snprintf(code, sizeof(code), "%d", status);
	cm_metric_inc(cm_metric_labels(st.notify_answers, code, NULL));
	cm_metric_inc(cm_metric_labels(st.notify_classes, class_of(status), NULL));
	cm_metric_observe(st.notify_rtt, rtt_s);
	if (status >= 200 && status < 300) {
		cm_metric_inc(st.delivered);
		if (created_ms > 0)
			cm_metric_observe(st.e2e_delivered,
					  (double)(se_now_ms() - created_ms) / 1000.0);
	}
}

static void collect(void *data)
{
	struct se_edge *e = data;

	cm_metric_set(st.flows, e->flows ? (double)se_flows_count(e->flows) : 0);
	if (st.table)
		cm_metric_set(st.bindings, (double)rebuild(se_now_ms()));
}

static void publish_done(struct cm_redis *r, redisReply *reply, void *data)
{
	/* Best effort: the next period writes it again. */
}

static void on_publish(uv_timer_t *t)
{
	struct se_edge *e = t->data;
	char key[160], now[24], exp[24], b[24], f[24], reg[24], sent[24], dlv[24];
	int64_t now_ms = se_now_ms();

	if (e->closing || !e->redis || !cm_redis_ready(e->redis))
		return;
	collect(e);
	cm_snprintf(key, sizeof(key), "beckon:edge-stats:%s", e->cfg->edge_id);
	cm_snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	cm_snprintf(exp, sizeof(exp), "%d", 3 * SE_STATS_PUBLISH_MS);
	cm_snprintf(b, sizeof(b), "%zu", st.n_bindings);
	cm_snprintf(f, sizeof(f), "%.0f", cm_metric_value(st.flows));
	cm_snprintf(reg, sizeof(reg), "%.0f", st.registered_ok);
	cm_snprintf(sent, sizeof(sent), "%.0f", cm_metric_value(st.notifies_sent));
	cm_snprintf(dlv, sizeof(dlv), "%.0f", cm_metric_value(st.delivered));
	/* Pipelined on the one connection; each answer is ignored. */
	cm_redis_command(e->redis, publish_done, NULL,
			 "HSET %s bindings %s flows %s registrations %s notifies_sent %s "
			 "notifies_delivered %s updated %s",
			 key, b, f, reg, sent, dlv, now);
	cm_redis_command(e->redis, publish_done, NULL, "PEXPIRE %s %s", key, exp);
	cm_redis_command(e->redis, publish_done, NULL, "ZADD beckon:edges %s %s", now,
			 e->cfg->edge_id);
	/* Edges gone for a day leave the set, so it stays as small as the branch. */
	cm_snprintf(exp, sizeof(exp), "(%lld", (long long)(now_ms - 86400000));
	cm_redis_command(e->redis, publish_done, NULL, "ZREMRANGEBYSCORE beckon:edges -inf %s",
			 exp);
}

int se_stats_start(struct se_edge *e)
{
	static const double rtt_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					    0.5,   1,	   2,	  4,	8,     16,   32};

	st.e = e;
	st.table = calloc(TABLE_SIZE, sizeof(*st.table));
	st.spare = calloc(TABLE_SIZE, sizeof(*st.spare));
	if (!st.table || !st.spare) {
		free(st.table);
		free(st.spare);
		st.table = st.spare = NULL;
		return -ENOMEM;
	}
	st.registrations =
	    cm_metric_family(CM_METRIC_COUNTER, "beckon_sip_registrations_total",
			     "REGISTER requests answered, by status code and transport", "code",
			     "transport", NULL, 0);
	st.subscriptions =
	    cm_metric_family(CM_METRIC_COUNTER, "beckon_sip_subscriptions_total",
			     "SUBSCRIBE requests answered, by status code", "code", NULL, NULL, 0);
	st.notify_answers =
	    cm_metric_family(CM_METRIC_COUNTER, "beckon_sip_notify_responses_total",
			     "Final answers to NOTIFYs (or local timeouts as 408), by status code",
			     "code", NULL, NULL, 0);
	st.notify_classes = cm_metric_family(
	    CM_METRIC_COUNTER, "beckon_sip_notify_response_classes_total",
	    "Final answers to NOTIFYs, by status class (2xx, 4xx ...)", "class", NULL, NULL, 0);
	st.notifies_sent =
	    cm_metric_counter("beckon_sip_notifies_sent_total", "NOTIFY transactions started");
	st.delivered =
	    cm_metric_counter("beckon_sip_notifies_delivered_total", "NOTIFYs answered with a 2xx");
	st.notify_rtt = cm_metric_histogram("beckon_sip_notify_duration_seconds",
					    "Time from sending a NOTIFY to its final answer",
					    rtt_bounds, (int)(sizeof(rtt_bounds) / sizeof(double)));
	st.e2e_sent =
	    cm_metric_histogram("beckon_request_accept_to_notify_seconds",
				"Time from the API accepting a request to its NOTIFY being sent",
				cm_metrics_latency_bounds, cm_metrics_latency_n);
	st.e2e_delivered = cm_metric_histogram(
	    "beckon_request_accept_to_delivered_seconds",
	    "Time from the API accepting a request to the 2xx answering its NOTIFY",
	    cm_metrics_latency_bounds, cm_metrics_latency_n);
	st.flows = cm_metric_gauge("beckon_sip_flows",
				   "TCP/TLS connections held open for registered bindings");
	st.bindings = cm_metric_gauge("beckon_sip_bindings",
				      "Live bindings registered through this edge (its own view)");
	if (cm_metrics_on_collect(collect, e) < 0)
		return -ENOSPC;
	if (uv_timer_init(e->loop, &st.timer) < 0)
		return -EIO;
	st.timer_init = true;
	st.timer.data = e;
	uv_timer_start(&st.timer, on_publish, 200, SE_STATS_PUBLISH_MS);
	return 0;
}

void se_stats_stop(struct se_edge *e)
{
	if (st.timer_init) {
		uv_timer_stop(&st.timer);
		uv_close((uv_handle_t *)&st.timer, NULL);
		st.timer_init = false;
	}
	free(st.table);
	free(st.spare);
	st.table = st.spare = NULL;
}
