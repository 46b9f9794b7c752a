/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The expiry sweeper (cm/sweeper.h). One script run at a time: the timer is re-armed from the
 * reply callback, so a slow Redis never gets a queue of sweeps. A request whose hash is gone
 * (retention) is dropped from beckon:deadlines and from its client's pending set; one that
 * transition() refuses to expire (delivered or final but still indexed) is dropped too, so a
 * stale entry can never make the sweeper spin on it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/redis.h"
#include "cm/sweeper.h"

struct cm_sweeper {
	uv_timer_t timer;
	struct cm_redis *redis;
	bool inflight, stopping, timer_closed;
	unsigned long expired;
};

/* ARGV: 1 now (ms)  2 batch.  Returns {expired, looked-at}. */
static struct cm_redis_script sweep_script = {
    .source = CM_LUA_LIFECYCLE
    "local now = ARGV[1]\n"
    "local refs = redis.call('ZRANGEBYSCORE', '" CM_KEY_DEADLINES "', '-inf', now,\n"
    "  'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local n = 0\n"
    "for _, ref in ipairs(refs) do\n"
    "  local rk = 'beckon:req:' .. ref\n"
    "  local client = string.match(ref, '^([^:]+):')\n"
    "  local st, changed = false, false\n"
    "  if redis.call('EXISTS', rk) == 1 then\n"
    "    st, changed = transition(rk, 'expired', now, {reason = 'deadline'})\n"
    "  end\n"
    "  if changed then n = n + 1 else redis.call('ZREM', '" CM_KEY_DEADLINES "', ref) end\n"
    "  if client then redis.call('ZREM', 'beckon:pending-client:' .. client, ref) end\n"
    "end\n"
    "return {n, #refs}\n",
};

static void sweep(uv_timer_t *t);

static void release(struct cm_sweeper *s)
{
	if (s->stopping && s->timer_closed && !s->inflight)
		free(s);
}

static void on_closed(uv_handle_t *h)
{
	struct cm_sweeper *s = h->data;

	s->timer_closed = true;
	release(s);
}

static void on_swept(struct cm_redis *r, redisReply *reply, void *data)
{
	struct cm_sweeper *s = data;
	uint64_t next = CM_SWEEPER_INTERVAL_MS;

	s->inflight = false;
	if (s->stopping) {
		release(s);
		return;
	}
	if (reply && reply->type == REDIS_REPLY_ERROR) {
		cm_log_warn("sweeper: Redis answered: %.200s", reply->str);
	} else if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
		   reply->element[0]->type == REDIS_REPLY_INTEGER &&
		   reply->element[1]->type == REDIS_REPLY_INTEGER) {
		long long n = reply->element[0]->integer, seen = reply->element[1]->integer;

		if (n > 0) {
			s->expired += (unsigned long)n;
			cm_log_info("sweeper expired %lld request(s)", n);
		}
		if (seen >= CM_SWEEPER_BATCH)
			next = 0; /* more are due: go on at once */
	}
	uv_timer_start(&s->timer, sweep, next, 0);
}

static void sweep(uv_timer_t *t)
{
	struct cm_sweeper *s = t->data;
	char now[24], batch[8];
	const char *argv[2] = {now, batch};
	size_t lens[2];
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(now, sizeof(now), "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	snprintf(batch, sizeof(batch), "%d", CM_SWEEPER_BATCH);
	lens[0] = strlen(now);
	lens[1] = strlen(batch);
	rc = cm_redis_eval(s->redis, &sweep_script, on_swept, s, 0, 2, argv, lens);
	if (rc < 0) {
		/* Redis away: try again next second; the reconnect is cm_redis's business. */
		uv_timer_start(&s->timer, sweep, CM_SWEEPER_INTERVAL_MS, 0);
		return;
	}
	s->inflight = true;
}

int cm_sweeper_start(uv_loop_t *loop, struct cm_redis *redis, struct cm_sweeper **out)
{
	struct cm_sweeper *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->redis = redis;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, sweep, CM_SWEEPER_INTERVAL_MS, 0);
	*out = s;
	return 0;
}

void cm_sweeper_stop(struct cm_sweeper *s)
{
	if (!s || s->stopping)
		return;
	s->stopping = true;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, on_closed);
}
