/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status page data. The per-second ring is fed from the cm_http duration histograms of the
 * callback routes (REST create and SOAP): the change of their count is the request rate,
 * the change of their sum over the change of their count the mean latency of that second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "gw_status.h"
#include "gw_status_html.h"

#define EDGE_LIVE_MS 10000 /* an edge that has not written its stats for this long is gone */
#define EDGES_MAX 64

struct sample {
	long long t; /* ms */
	double rate, latency_ms;
};

struct gw_status {
	struct cm_redis *redis; /* borrowed */
	uv_timer_t tick;
	struct cm_metric *routes[2];
	uint64_t last_count;
	double last_sum;
	struct sample ring[GW_STATUS_SAMPLES];
	size_t head, n;
};

/* Read-only: ARGV[1] now (ms), ARGV[2] liveness window (ms). */
static struct cm_redis_script status_script = {
    .source = "local now = tonumber(ARGV[1])\n"
	      "local pending = redis.call('ZCARD', 'beckon:deadlines')\n"
	      "local ids = redis.call('ZRANGEBYSCORE', 'beckon:edges', now - tonumber(ARGV[2]),\n"
	      "  '+inf', 'LIMIT', 0, 64)\n"
	      "local edges = {}\n"
	      "for _, id in ipairs(ids) do\n"
	      "  edges[#edges+1] = id\n"
	      "  edges[#edges+1] = redis.call('HGETALL', 'beckon:edge-stats:' .. id)\n"
	      "end\n"
	      "return {pending, edges, redis.call('LRANGE', 'beckon:recent-failures', 0, 19)}\n",
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_tick(uv_timer_t *t)
{
	struct gw_status *s = t->data;
	struct sample *x = &s->ring[s->head];
	uint64_t count = 0;
	double sum = 0;

	for (int i = 0; i < 2; i++) {
		count += cm_metric_count(s->routes[i]);
		sum += cm_metric_sum(s->routes[i]);
	}
	x->t = now_ms();
	x->rate = (double)(count - s->last_count);
	x->latency_ms = count > s->last_count
			    ? (sum - s->last_sum) / (double)(count - s->last_count) * 1000.0
			    : 0;
	s->last_count = count;
	s->last_sum = sum;
	s->head = (s->head + 1) % GW_STATUS_SAMPLES;
	if (s->n < GW_STATUS_SAMPLES)
		s->n++;
}

int gw_status_start(uv_loop_t *loop, struct cm_redis *redis, struct gw_status **out)
{
	struct gw_status *s = calloc(1, sizeof(*s));
	struct cm_metric_family *dur;

	if (!s)
		return -ENOMEM;
	s->redis = redis;
	/* Same name, type and labels as cm_http's, so this is the family it fills. */
	dur = cm_metric_family(CM_METRIC_HISTOGRAM, "beckon_http_request_duration_seconds",
			       "Time from a request's arrival to its answer, by route", "route",
			       NULL, cm_metrics_latency_bounds, cm_metrics_latency_n);
	s->routes[0] = cm_metric_labels(dur, "POST /v1/callbacks", NULL);
	s->routes[1] = cm_metric_labels(dur, "POST /soap", NULL);
	s->last_count = cm_metric_count(s->routes[0]) + cm_metric_count(s->routes[1]);
	s->last_sum = cm_metric_sum(s->routes[0]) + cm_metric_sum(s->routes[1]);
	uv_timer_init(loop, &s->tick);
	s->tick.data = s;
	uv_timer_start(&s->tick, on_tick, 1000, 1000);
	*out = s;
	return 0;
}

void gw_status_detach(struct gw_status *s)
{
	if (s)
		s->redis = NULL;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void gw_status_stop(struct gw_status *s)
{
	if (!s)
		return;
	uv_timer_stop(&s->tick);
	uv_close((uv_handle_t *)&s->tick, on_closed);
}

/* The local part of /status.json: totals and the ring, oldest first. */
static json_t *local_json(struct gw_status *s)
{
	json_t *o = json_object(), *series = json_array();
	uint64_t count = cm_metric_count(s->routes[0]) + cm_metric_count(s->routes[1]);
	double sum = cm_metric_sum(s->routes[0]) + cm_metric_sum(s->routes[1]);
	double rate = 0;
	size_t k = s->n < 60 ? s->n : 60;

	for (size_t i = 0; i < s->n; i++) {
		const struct sample *x =
		    &s->ring[(s->head + GW_STATUS_SAMPLES - s->n + i) % GW_STATUS_SAMPLES];

		json_array_append_new(series, json_pack("{s:I, s:f, s:f}", "t", x->t, "rate",
							x->rate, "latency_ms", x->latency_ms));
		if (i >= s->n - k)
			rate += x->rate;
	}
	json_object_set_new(o, "time", json_integer(now_ms()));
	json_object_set_new(o, "requests",
			    json_pack("{s:I, s:f, s:f}", "total", (json_int_t)count, "rate_per_s",
				      k ? rate / (double)k : 0.0, "latency_avg_ms",
				      count ? sum / (double)count * 1000.0 : 0.0));
	json_object_set_new(o, "series", series);
	return o;
}

static json_t *edge_json(const char *id, const redisReply *kv)
{
	json_t *e = json_pack("{s:s}", "id", id);

	for (size_t i = 0; kv && kv->type == REDIS_REPLY_ARRAY && i + 1 < kv->elements; i += 2) {
		if (kv->element[i]->type != REDIS_REPLY_STRING ||
		    kv->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		json_object_set_new(e, kv->element[i]->str,
				    json_integer(strtoll(kv->element[i + 1]->str, NULL, 10)));
	}
	return e;
}

static void on_status(struct cm_redis *r, redisReply *reply, void *data)
{
	struct cm_http_req *req = data;
	struct gw_status *s = req->data;
	json_t *o = local_json(s), *edges = json_array(), *failures = json_array();
	const redisReply *eds, *fs;

	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
		json_object_set_new(o, "redis", json_string("down"));
		json_decref(edges);
		json_decref(failures);
		cm_http_respond_json(req, 200, o);
		return;
	}
	json_object_set_new(o, "redis", json_string("up"));
	json_object_set_new(o, "pending", json_integer(reply->element[0]->integer));
	eds = reply->element[1];
	for (size_t i = 0; eds->type == REDIS_REPLY_ARRAY && i + 1 < eds->elements; i += 2)
		if (eds->element[i]->type == REDIS_REPLY_STRING)
			json_array_append_new(edges,
					      edge_json(eds->element[i]->str, eds->element[i + 1]));
	fs = reply->element[2];
	for (size_t i = 0; fs->type == REDIS_REPLY_ARRAY && i < fs->elements; i++) {
		json_t *f = fs->element[i]->type == REDIS_REPLY_STRING
				? json_loads(fs->element[i]->str, 0, NULL)
				: NULL;
		if (f)
			json_array_append_new(failures, f);
	}
	json_object_set_new(o, "edges", edges);
	json_object_set_new(o, "failures", failures);
	cm_http_respond_json(req, 200, o);
}

bool gw_status_handle(struct gw_status *s, struct cm_http_req *req)
{
	char now[24], live[24];
	const char *argv[2] = {now, live};
	size_t argvlen[2];

	if (strcmp(req->url, "/status") != 0 && strcmp(req->url, "/status.json") != 0)
		return false;
	req->route = strcmp(req->url, "/status") == 0 ? "GET /status" : "GET /status.json";
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		cm_http_header(req, "Allow", "GET, HEAD");
		cm_http_respond_problem(req, CM_E_METHOD, "use GET");
		return true;
	}
	if (strcmp(req->url, "/status") == 0) {
		cm_http_header(req, "Cache-Control", "no-store");
		cm_http_respond(req, 200, "text/html; charset=utf-8", gw_status_html,
				sizeof(gw_status_html) - 1);
		return true;
	}
	cm_http_header(req, "Cache-Control", "no-store");
	argvlen[0] = (size_t)snprintf(now, sizeof(now), "%lld", now_ms());
	argvlen[1] = (size_t)snprintf(live, sizeof(live), "%d", EDGE_LIVE_MS);
	req->data = s;
	if (!s->redis ||
	    cm_redis_eval(s->redis, &status_script, on_status, req, 0, 2, argv, argvlen) < 0) {
		on_status(NULL, NULL, req);
		return true;
	}
	cm_http_suspend(req);
	return true;
}
