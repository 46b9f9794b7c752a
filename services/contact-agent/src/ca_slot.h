/* SPDX-License-Identifier: Apache-2.0 */
/*
 * time-slot (proto/contact-me.md): the window "<date-time>/<date-time>" (RFC 3339) in which
 * the application server wants to be called back. Before the window the callback waits on a
 * libuv timer until it opens; after it, the request is skipped. Parsing and the decision are
 * pure and unit-tested; the queue of waiting callbacks is bounded (setting max-scheduled).
 *
 * Ownership: struct ca_slot_queue is the caller's; each waiting entry owns its plan until
 * the timer fires (then the plan goes to ca_callback_start) or the queue is closed.
 */
#ifndef CA_SLOT_H
#define CA_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ca_callback.h"
#include "ca_plan.h"

/*
 * Parses "<date-time>/<date-time>" (RFC 3339: T or t, Z/z or ±hh:mm, optional fraction; the
 * fraction is kept to the millisecond) into epoch milliseconds. Returns 0 or -EINVAL (also
 * when the window ends before it starts).
 */
int ca_slot_parse(const char *v, size_t len, int64_t *start_ms, int64_t *end_ms);

enum ca_slot_when {
	CA_SLOT_NOW,   /* the window is open: call back now */
	CA_SLOT_LATER, /* not yet open: call back in *delay_ms */
	CA_SLOT_OVER,  /* closed (end <= now): skip */
};

/* What to do at wall-clock time now_ms for the window [start_ms, end_ms). */
enum ca_slot_when ca_slot_decide(int64_t start_ms, int64_t end_ms, int64_t now_ms,
				 uint64_t *delay_ms);

/* Wall-clock time in epoch milliseconds (CLOCK_REALTIME). */
int64_t ca_slot_now_ms(void);

struct ca_slot_wait;

struct ca_slot_queue {
	uv_loop_t *loop;
	struct ca_callbacks *callbacks; /* borrowed */
	struct ca_slot_wait *head;	/* waiting callbacks, newest first */
	unsigned n, max;
	bool closing;
};

void ca_slot_queue_init(struct ca_slot_queue *q, uv_loop_t *loop, struct ca_callbacks *callbacks,
			unsigned max);

/*
 * Starts the callbacks of plan after delay_ms. On success takes plan (malloc'd; freed with
 * ca_plan_free + free) and returns 0. Returns -EBUSY when max callbacks already wait (or the
 * queue is closing), -ENOMEM, or a libuv error; then plan stays the caller's. When the timer
 * fires, the plan is handed to ca_callback_start; a refusal there is logged and the plan
 * freed. Never calls back into the caller.
 */
int ca_slot_queue_add(struct ca_slot_queue *q, struct ca_plan *plan, uint64_t delay_ms);

/* Drops every waiting callback (logged), closing their timers; the entries are freed from
 * the loop. Further adds fail with -EBUSY. The queue must stay valid until the loop has run
 * the close callbacks. */
void ca_slot_queue_close(struct ca_slot_queue *q);

#endif
