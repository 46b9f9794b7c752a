/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's drain wait (gw_drain.h): PING barriers on the command connection, a timer
 * for the bound. The struct lives until both the timer is closed and no PING is out.
 */
#include "gw_drain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cm/err.h"
#include "cm/log.h"

#define BARRIERS 4 /* longer than any command chain of one API request */

struct gw_drain {
	uv_timer_t timer;
	struct cm_redis *redis;
	gw_drain_done_fn *done;
	void *data;
	unsigned rounds;
	bool ping_out, finished, closed;
	uint64_t t0;
};

static void maybe_free(struct gw_drain *d)
{
	if (d->closed && !d->ping_out)
		free(d);
}

static void on_closed(uv_handle_t *h)
{
	struct gw_drain *d = h->data;

	d->closed = true;
	maybe_free(d);
}

static void finish(struct gw_drain *d, const char *how)
{
	if (d->finished)
		return;
	d->finished = true;
	cm_log_info("drain done in %llu ms (%s)",
		    (unsigned long long)(uv_now(d->timer.loop) - d->t0), how);
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, on_closed);
	d->done(d->data);
}

static void barrier(struct gw_drain *d);

static void on_pong(struct cm_redis *r, redisReply *reply, void *data)
{
	struct gw_drain *d = data;

	d->ping_out = false;
	if (d->finished) {
		maybe_free(d);
		return;
	}
	if (!reply) {
		finish(d, "redis went away");
		return;
	}
	barrier(d);
}

static void barrier(struct gw_drain *d)
{
	if (d->rounds++ >= BARRIERS) {
		finish(d, "requests in flight answered");
		return;
	}
	if (!d->redis || cm_redis_command(d->redis, on_pong, d, "PING") < 0) {
		/* Redis is away: what is in flight was answered 503 by the disconnect. */
		finish(d, "redis unavailable");
		return;
	}
	d->ping_out = true;
}

static void on_timer(uv_timer_t *t)
{
	struct gw_drain *d = t->data;

	if (d->rounds == 0) {
		barrier(d); /* first turn of the loop: never call done from inside start */
		return;
	}
	finish(d, "drain-timeout reached");
}

int gw_drain_start(uv_loop_t *loop, struct cm_redis *redis, long timeout_s, gw_drain_done_fn *done,
		   void *data)
{
	struct gw_drain *d = calloc(1, sizeof(*d));
	uint64_t ms = (uint64_t)(timeout_s > 0 ? timeout_s : 1) * 1000;

	if (!d)
		return -ENOMEM;
	d->redis = redis;
	d->done = done;
	d->data = data;
	d->t0 = uv_now(loop);
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	/* First tick at once (starts the barriers); the repeat value is the bound, less a
	 * margin for closing everything after done. */
	uv_timer_start(&d->timer, on_timer, 0, ms > 1000 ? ms - 500 : ms / 2);
	return 0;
}

void gw_drain_refuse(struct cm_http_req *req)
{
	char type[96];
	json_t *o;
	char *text;

	snprintf(type, sizeof(type), "urn:beckon:problem:%s", cm_err_type(CM_E_UNAVAILABLE));
	o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title",
		      "Service Unavailable: shutting down", "status", 503, "detail",
		      "this api-gateway instance is shutting down; nothing was stored, retry "
		      "(another instance will answer)");
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	cm_http_header(req, "Retry-After", "1");
	if (!text) {
		cm_http_respond(req, 503, "text/plain", "shutting down", 13);
		return;
	}
	cm_http_respond(req, 503, "application/problem+json", text, strlen(text));
	free(text);
}
