/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of time-slot parsing and the now / later / over decision, plus the waiting
 * queue on a real libuv loop (timers of a few ms, bounded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_slot.h"

#include "../../../common/tests/check.h"

static int parse(const char *v, int64_t *s, int64_t *e)
{
	return ca_slot_parse(v, strlen(v), s, e);
}

static struct ca_plan *new_plan(const char *id)
{
	struct ca_plan *p = calloc(1, sizeof(*p));

	if (p)
		snprintf(p->request_id, sizeof(p->request_id), "%s", id);
	return p;
}

int main(void)
{
	int64_t s, e;
	uint64_t delay;

	/* 2026-11-26T10:00:00Z = 1795687200 */
	CHECK(parse("2026-11-26T10:00:00Z/2026-11-26T10:30:00Z", &s, &e) == 0);
	CHECK(s == 1795687200000LL && e == 1795689000000LL);
	CHECK(parse("2026-11-26t10:00:00.25z/2026-11-26T10:00:01.999999999Z", &s, &e) == 0);
	CHECK(s == 1795687200250LL && e == 1795687201999LL);
	CHECK(parse("2026-11-26T12:00:00+02:00/2026-11-26T06:30:00-04:30", &s, &e) == 0);
	CHECK(s == 1795687200000LL && e == 1795687200000LL + 3600000LL);
	CHECK(parse("1970-01-01T00:00:00Z/1970-01-01T00:00:00.5Z", &s, &e) == 0);
	CHECK(s == 0 && e == 500);

	CHECK(parse("2026-11-26T10:30:00Z/2026-11-26T10:00:00Z", &s, &e) < 0); /* backwards */
	CHECK(parse("2026-11-26T10:00:00Z", &s, &e) < 0);
	CHECK(parse("2026-11-26T10:00:00/2026-11-26T10:30:00Z", &s, &e) < 0); /* no offset */
	CHECK(parse("2026-11-26 10:00:00Z/2026-11-26T10:30:00Z", &s, &e) < 0);
	CHECK(parse("2026-13-26T10:00:00Z/2026-11-26T10:30:00Z", &s, &e) < 0);
	CHECK(parse("2026-11-26T10:00:00.Z/2026-11-26T10:30:00Z", &s, &e) < 0);
	CHECK(parse("2026-11-26T10:00:00Z/2026-11-26T10:30:00Zjunk", &s, &e) < 0);
	CHECK(parse("/", &s, &e) < 0);
	CHECK(ca_slot_parse(NULL, 0, &s, &e) < 0);

	CHECK(ca_slot_decide(1000, 2000, 500, &delay) == CA_SLOT_LATER && delay == 500);
	CHECK(ca_slot_decide(1000, 2000, 1000, &delay) == CA_SLOT_NOW && delay == 0);
	CHECK(ca_slot_decide(1000, 2000, 1999, &delay) == CA_SLOT_NOW);
	CHECK(ca_slot_decide(1000, 2000, 2000, &delay) == CA_SLOT_OVER);
	CHECK(ca_slot_decide(1000, 1000, 999, &delay) == CA_SLOT_LATER && delay == 1);
	CHECK(ca_slot_decide(1000, 1000, 1000, &delay) == CA_SLOT_OVER);
	CHECK(ca_slot_now_ms() > 1700000000000LL);

	/* The queue: bounded; close drops what waits and frees it (ASan checks the frees). A
	 * plan whose timer fires goes to ca_callback_start, refused here (max 0) and freed. */
	{
		uv_loop_t loop;
		struct ca_callbacks cb;
		struct ca_slot_queue q;
		struct ca_plan *p1 = new_plan("a"), *p2 = new_plan("b"), *p3 = new_plan("c");

		CHECK(uv_loop_init(&loop) == 0);
		ca_callback_init(&cb, &loop, 1, 0);
		ca_slot_queue_init(&q, &loop, &cb, 2);
		CHECK(ca_slot_queue_add(&q, p1, 1) == 0);
		CHECK(ca_slot_queue_add(&q, p2, 60000) == 0);
		CHECK(ca_slot_queue_add(&q, p3, 1) == -EBUSY); /* full: p3 stays ours */
		CHECK(q.n == 2);
		/* Runs until p1's timer has fired (p2's keeps the loop alive: ONCE, bounded). */
		for (int i = 0; i < 200 && q.n == 2; i++)
			uv_run(&loop, UV_RUN_ONCE);
		CHECK(q.n == 1);
		ca_slot_queue_close(&q);
		CHECK(q.n == 0 && q.head == NULL);
		CHECK(ca_slot_queue_add(&q, p3, 1) == -EBUSY);
		uv_run(&loop, UV_RUN_DEFAULT);
		CHECK(uv_loop_close(&loop) == 0);
		free(p3);
	}

	return check_done();
}
