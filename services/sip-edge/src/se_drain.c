/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The drain sequence of se_drain.h on one 50 ms timer. Time budget: in-flight NOTIFYs get
 * up to drain-timeout minus one second (at least half of it); the hand-back and its Redis
 * round trip get the rest up to drain-timeout minus 250 ms, which leaves se_edge_stop time
 * to close everything within the bound. The end of the hand-back is known from a PING sent
 * after it on the same connection: replies come in order. Status writes being retried
 * after a lost reply (se_notify.c) count as in flight for the first part.
 */
#include "se_drain.h"

#include <errno.h>
#include <stdlib.h>

#include "cm/log.h"
#include "se_edge.h"
#include "se_notify.h"
#include "se_wake.h"

#define TICK_MS 50

struct se_drain {
	struct se_edge *e;
	uv_timer_t timer;
	uint64_t t0, notify_until, hard_until;
	int phase; /* 0: NOTIFYs finishing, 1: hand-back sent, 2: done */
	bool barrier_done, timer_closed, ping_out;
};

static void maybe_free(struct se_drain *d)
{
	if (d->timer_closed && !d->ping_out)
		free(d);
}

static void on_closed(uv_handle_t *h)
{
	struct se_drain *d = h->data;

	d->timer_closed = true;
	maybe_free(d);
}

static void ping_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_drain *d = data;

	d->ping_out = false;
	d->barrier_done = true;
	maybe_free(d);
}

static void on_tick(uv_timer_t *t)
{
	struct se_drain *d = t->data;
	struct se_edge *e = d->e;
	uint64_t now = uv_now(e->loop);

	if (d->phase == 0) {
		unsigned left = se_notify_in_flight(e);
		/* Status writes whose reply was lost (se_notify.c) get the same budget; those
		 * still not landed are logged as abandoned at shutdown. */
		unsigned writes = se_notify_status_retries(e);

		if (left + writes > 0 && now < d->notify_until)
			return;
		if (left > 0)
			cm_log_warn("drain: %u NOTIFYs still unanswered: handing them back", left);
		if (writes > 0)
			cm_log_warn("drain: %u status writes still not landed", writes);
		se_notify_handback(e);
		d->phase = 1;
		if (e->redis && cm_redis_command(e->redis, ping_done, d, "PING") == 0)
			d->ping_out = true;
		else
			d->barrier_done = true;
	}
	if (d->phase == 1 && (d->barrier_done || now >= d->hard_until)) {
		if (!d->barrier_done)
			cm_log_warn("drain: redis did not confirm the hand-back in time");
		cm_log_info("drain done in %llu ms", (unsigned long long)(now - d->t0));
		d->phase = 2;
		uv_timer_stop(&d->timer);
		uv_close((uv_handle_t *)&d->timer, on_closed);
		uv_stop(e->loop);
	}
}

int se_drain_start(struct se_edge *e, long timeout_s)
{
	struct se_drain *d = calloc(1, sizeof(*d));
	uint64_t ms = (uint64_t)(timeout_s > 0 ? timeout_s : 1) * 1000;

	if (!d)
		return -ENOMEM;
	d->e = e;
	d->t0 = uv_now(e->loop);
	d->notify_until = d->t0 + (ms > 2000 ? ms - 1000 : ms / 2);
	d->hard_until = d->t0 + ms - 250;
	e->draining = true;
	se_wake_drain(e);
	se_notify_drain(e);
	cm_log_info("draining: liveness key deleted, %u NOTIFYs in flight, drain-timeout=%ld s",
		    se_notify_in_flight(e), timeout_s);
	uv_timer_init(e->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, on_tick, 0, TICK_MS);
	return 0;
}
