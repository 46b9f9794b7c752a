/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Broken-flow marking (see se_flowmark.h). One EVAL per reaped binding: the script marks the
 * binding only if it still names this edge and this flow, so a binding that re-registered on
 * another connection (or edge) meanwhile is left alone, and an already marked one keeps its
 * first time. The Redis callback owns a small heap record, so it may run after the edge
 * stopped (cm_redis_close delivers every callback).
 */
#include "se_flowmark.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/str.h"
#include "se_edge.h"
#include "se_register.h"

struct se_flowmark {
	struct se_edge *e;
	uv_timer_t timer;
};

struct mark {
	char bid[SE_BINDING_ID_LEN + 1];
	char flow[24];
};

/* KEYS[1] beckon:binding:<bid>. ARGV: edge, flow id, now. Returns 1 if marked. */
static struct cm_redis_script mark_script = {
    .source = "local h = redis.call('HMGET', KEYS[1], 'edge', 'flow', 'flow_state')\n"
	      "if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] or h[3] then return 0 end\n"
	      "redis.call('HSET', KEYS[1], 'flow_state', 'broken:' .. ARGV[3])\n"
	      "return 1\n",
};

static void mark_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct mark *m = data;

	if (!reply)
		cm_log_warn("flow broken flow=%s binding=%s: not marked, redis disconnected",
			    m->flow, m->bid);
	else if (reply->type == REDIS_REPLY_ERROR)
		cm_log_error("flow broken flow=%s binding=%s: mark failed: %s", m->flow, m->bid,
			     reply->str);
	else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
		cm_log_info("flow broken flow=%s binding=%s marked", m->flow, m->bid);
	free(m);
}

static void on_reaped(void *ctx, uint64_t id, const char *bid)
{
	struct se_edge *e = ctx;
	char key[sizeof(CM_KEY_BINDING) + SE_BINDING_ID_LEN], now[24];
	const char *argv[4];
	size_t argvlen[4];
	struct mark *m = calloc(1, sizeof(*m));
	int rc;

	if (!m) {
		cm_log_error("flow broken flow=%llu binding=%s: out of memory",
			     (unsigned long long)id, bid);
		return;
	}
	cm_snprintf(m->bid, sizeof(m->bid), "%s", bid);
	cm_snprintf(m->flow, sizeof(m->flow), "%llu", (unsigned long long)id);
	cm_snprintf(key, sizeof(key), "%s%s", CM_KEY_BINDING, bid);
	cm_snprintf(now, sizeof(now), "%lld", (long long)se_now_ms());
	argv[0] = key, argv[1] = e->cfg->edge_id, argv[2] = m->flow, argv[3] = now;
	for (int i = 0; i < 4; i++)
		argvlen[i] = strlen(argv[i]);
	rc = cm_redis_eval(e->redis, &mark_script, mark_done, m, 1, 4, argv, argvlen);
	if (rc < 0) {
		cm_log_warn("flow broken flow=%s binding=%s: not marked: %s", m->flow, bid,
			    strerror(-rc));
		free(m);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct se_flowmark *fm = t->data;
	struct se_edge *e = fm->e;
	size_t n;

	if (e->closing || !e->flows)
		return;
	n = se_flows_reap(e->flows, se_now_ms(), on_reaped, e);
	if (n)
		cm_log_info("flow broken: %zu closed connection(s) released, %zu flows left", n,
			    se_flows_count(e->flows));
}

int se_flowmark_start(struct se_edge *e)
{
	struct se_flowmark *fm = calloc(1, sizeof(*fm));

	if (!fm)
		return -ENOMEM;
	fm->e = e;
	uv_timer_init(e->loop, &fm->timer);
	fm->timer.data = fm;
	uv_timer_start(&fm->timer, on_tick, SE_FLOWMARK_MS, SE_FLOWMARK_MS);
	e->flowmark = fm;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void se_flowmark_stop(struct se_edge *e)
{
	struct se_flowmark *fm = e->flowmark;

	if (!fm)
		return;
	e->flowmark = NULL;
	uv_timer_stop(&fm->timer);
	uv_close((uv_handle_t *)&fm->timer, on_closed);
}
