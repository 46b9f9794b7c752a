/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One timer writes the liveness key (gw_alive.h). Replies are not awaited by anything: a
 * missed write only lets the key expire early, which other instances read as "gone".
 */
#include "gw_alive.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cm/log.h"
#include "cm/str.h"

#define EVERY_MS 1000
#define TTL_MS "3000"
#define HOST_MAX 64

struct gw_alive {
	uv_timer_t timer;
	struct cm_redis *redis;
	char key[sizeof(GW_KEY_ALIVE_GW) + HOST_MAX + 24];
	char value[48];
};

static void done(struct cm_redis *r, redisReply *reply, void *data)
{
	if (reply && reply->type == REDIS_REPLY_ERROR)
		cm_log_warn("liveness key not written: %s", reply->str);
}

static void on_tick(uv_timer_t *t)
{
	struct gw_alive *a = t->data;

	if (cm_redis_ready(a->redis))
		cm_redis_command(a->redis, done, NULL, "SET %s %s PX %s", a->key, a->value, TTL_MS);
}

int gw_alive_start(uv_loop_t *loop, struct cm_redis *redis, struct gw_alive **out)
{
	struct gw_alive *a = calloc(1, sizeof(*a));
	char host[HOST_MAX + 1] = "";
	struct timespec ts;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		cm_snprintf(host, sizeof(host), "gateway");
	clock_gettime(CLOCK_REALTIME, &ts);
	cm_snprintf(a->key, sizeof(a->key), "%s%s-%ld", GW_KEY_ALIVE_GW, host, (long)getpid());
	cm_snprintf(a->value, sizeof(a->value), "%ld/%lld", (long)getpid(),
		    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	a->redis = redis;
	uv_timer_init(loop, &a->timer);
	a->timer.data = a;
	/* At once, then every second: the first write waits for the connection. */
	uv_timer_start(&a->timer, on_tick, 0, EVERY_MS);
	*out = a;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void gw_alive_stop(struct gw_alive *a)
{
	if (!a)
		return;
	if (a->redis)
		cm_redis_command(a->redis, done, NULL, "DEL %s", a->key);
	uv_timer_stop(&a->timer);
	uv_close((uv_handle_t *)&a->timer, on_closed);
}
