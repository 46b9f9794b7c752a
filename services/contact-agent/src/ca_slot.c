/* SPDX-License-Identifier: Apache-2.0 */
/*
 * time-slot parsing and the queue of callbacks waiting for their window. The wait is a
 * relative libuv timer computed from the wall clock when the NOTIFY arrives: a wall-clock
 * step while waiting shifts the callback, which for windows minutes long does not matter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca_slot.h"

#include "cm/payload.h"
#include "cm/log.h"

struct ca_slot_wait {
	uv_timer_t timer;
	struct ca_slot_queue *owner;
	struct ca_plan *plan; /* NULL once handed on */
	struct ca_slot_wait *prev, *next;
};

int ca_slot_parse(const char *v, size_t len, int64_t *start_ms, int64_t *end_ms)
{
	if (cm_payload_time_slot(v, len, start_ms, end_ms) < 0 || *end_ms < *start_ms)
		return -EINVAL;
	return 0;
}

enum ca_slot_when ca_slot_decide(int64_t start_ms, int64_t end_ms, int64_t now_ms,
				 uint64_t *delay_ms)
{
	*delay_ms = 0;
	if (end_ms <= now_ms)
		return CA_SLOT_OVER;
	if (start_ms <= now_ms)
		return CA_SLOT_NOW;
	*delay_ms = (uint64_t)(start_ms - now_ms);
	return CA_SLOT_LATER;
}

int64_t ca_slot_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ca_slot_queue_init(struct ca_slot_queue *q, uv_loop_t *loop, struct ca_callbacks *callbacks,
			unsigned max)
{
	memset(q, 0, sizeof(*q));
	q->loop = loop;
	q->callbacks = callbacks;
	q->max = max;
}

static void unlink_wait(struct ca_slot_wait *w)
{
	struct ca_slot_queue *q = w->owner;

	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	q->n--;
}

static void wait_closed(uv_handle_t *h)
{
	struct ca_slot_wait *w = h->data;

	if (w->plan) {
		ca_plan_free(w->plan);
		free(w->plan);
	}
	free(w);
}

static void wait_fired(uv_timer_t *t)
{
	struct ca_slot_wait *w = t->data;
	struct ca_slot_queue *q = w->owner;
	int rc;

	unlink_wait(w);
	rc = ca_callback_start(q->callbacks, w->plan);
	if (rc == 0) {
		w->plan = NULL;
	} else {
		cm_log_warn(
		    "callback not started request-id=%s: %s (%u in flight)", w->plan->request_id,
		    rc == -EBUSY ? "too many callbacks" : uv_strerror(rc), q->callbacks->inflight);
	}
	uv_close((uv_handle_t *)&w->timer, wait_closed);
}

int ca_slot_queue_add(struct ca_slot_queue *q, struct ca_plan *plan, uint64_t delay_ms)
{
	struct ca_slot_wait *w;
	int rc;

	if (q->closing || q->n >= q->max)
		return -EBUSY;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	rc = uv_timer_init(q->loop, &w->timer);
	if (rc < 0) {
		free(w);
		return rc;
	}
	w->timer.data = w;
	w->owner = q;
	/* The loop's cached time may lag behind the clock the delay came from; refresh it so
	 * the callback never leaves before the window opens. */
	uv_update_time(q->loop);
	rc = uv_timer_start(&w->timer, wait_fired, delay_ms + 1, 0);
	if (rc < 0) {
		uv_close((uv_handle_t *)&w->timer, wait_closed); /* plan still NULL: not freed */
		return rc;
	}
	w->plan = plan;
	w->next = q->head;
	if (q->head)
		q->head->prev = w;
	q->head = w;
	q->n++;
	return 0;
}

void ca_slot_queue_close(struct ca_slot_queue *q)
{
	q->closing = true;
	while (q->head) {
		struct ca_slot_wait *w = q->head;

		cm_log_info("scheduled callback dropped request-id=%s: shutting down",
			    w->plan->request_id);
		unlink_wait(w);
		uv_timer_stop(&w->timer);
		uv_close((uv_handle_t *)&w->timer, wait_closed);
	}
}
