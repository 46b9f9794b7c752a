/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's stream reader and liveness key (se_wake.h). One read is in flight at a time;
 * a kick during a read sets `again` so no doorbell is lost. Each entry goes to
 * se_notify_entry, which acknowledges it (XACK) once its target has been handled; the
 * fetch script's claim (proto/redis.md "Channels") makes a second wake-up for the same
 * target (doorbell and entry, or an entry re-read after a reconnect) a no-op.
 *
 * Ownership: struct se_wake is freed once both timers are closed and no Redis call of its
 * own is in flight, so a callback that runs with reply == NULL during cm_redis_close still
 * finds it.
 */
#include "se_wake.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/log.h"
#include "cm/str.h"
#include "se_edge.h"
#include "se_notify.h"

#define ALIVE_EVERY_MS 1000
#define ALIVE_TTL_MS "3000"
#define POLL_MS 1000
#define STREAM_TTL_MS "86400000"
#define READ_COUNT 64
#define READ_COUNT_S "64"
#define ID_MAX 48

struct se_wake {
	struct se_edge *e;
	uv_timer_t alive, poll;
	unsigned open_handles;
	unsigned inflight; /* our own Redis calls */
	bool stopped;	   /* se_wake_stop ran: callbacks only release */
	bool draining;
	bool reading, again;
	bool pending_mode; /* re-reading our unacknowledged entries, from `from` */
	bool group_ok;
	char from[ID_MAX];
	char key[sizeof(SE_KEY_WAKE) + SE_EDGE_ID_MAX + 1];
	char alive_key[sizeof(SE_KEY_ALIVE_EDGE) + SE_EDGE_ID_MAX + 1];
	char token[SE_WAKE_TOKEN_MAX];
};

static void maybe_free(struct se_wake *w)
{
	if (w->stopped && w->open_handles == 0 && w->inflight == 0)
		free(w);
}

static void on_closed(uv_handle_t *h)
{
	struct se_wake *w = h->data;

	w->open_handles--;
	maybe_free(w);
}

static void ignore_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_wake *w = data;

	w->inflight--;
	if (reply && reply->type == REDIS_REPLY_ERROR && !w->stopped)
		cm_log_warn("wake-up bookkeeping failed: %s", reply->str);
	maybe_free(w);
}

static void write_alive(struct se_wake *w)
{
	if (w->draining || w->stopped || !w->e->redis)
		return;
	if (cm_redis_command(w->e->redis, ignore_done, w, "SET %s %s PX %s", w->alive_key, w->token,
			     ALIVE_TTL_MS) == 0)
		w->inflight++;
	/* The stream outlives the edge by a day (gateways add to an existing stream of a down
	 * edge, for its return); an edge id never seen again leaves nothing behind. */
	if (cm_redis_command(w->e->redis, ignore_done, w, "PEXPIRE %s %s", w->key, STREAM_TTL_MS) ==
	    0)
		w->inflight++;
}

static void on_alive(uv_timer_t *t)
{
	write_alive(t->data);
}

static void read_batch(struct se_wake *w);

static void group_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_wake *w = data;

	w->inflight--;
	if (w->stopped) {
		maybe_free(w);
		return;
	}
	if (reply && (reply->type != REDIS_REPLY_ERROR || strstr(reply->str, "BUSYGROUP")))
		w->group_ok = true;
	else
		cm_log_warn("cannot create the wake-up group on %s: %s", w->key,
			    reply ? reply->str : "redis disconnected");
	w->reading = false;
	if (w->group_ok)
		read_batch(w);
}

static void create_group(struct se_wake *w)
{
	if (cm_redis_command(w->e->redis, group_done, w, "XGROUP CREATE %s %s 0 MKSTREAM", w->key,
			     SE_WAKE_GROUP) == 0) {
		w->inflight++;
		w->reading = true;
	}
}

static const char *str_of(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

/* Hands one entry [id, [field, value, ...]] to se_notify_entry; an entry trimmed away
 * (fields nil) or malformed is only acknowledged. */
static void take_entry(struct se_wake *w, const redisReply *ent)
{
	const char *id, *ref = NULL, *bid = NULL;
	const redisReply *f;

	if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 2 || !(id = str_of(ent->element[0])))
		return;
	cm_snprintf(w->from, sizeof(w->from), "%s", id);
	f = ent->element[1];
	for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
		const char *k = str_of(f->element[i]), *v = str_of(f->element[i + 1]);
		if (k && v && strcmp(k, "ref") == 0)
			ref = v;
		else if (k && v && strcmp(k, "bid") == 0)
			bid = v;
	}
	if (ref && bid && se_ref_valid(ref, strlen(ref)) && strlen(bid) == SE_BINDING_ID_LEN) {
		se_notify_entry(w->e, ref, bid, id);
		return;
	}
	if (f->type == REDIS_REPLY_ARRAY)
		cm_log_warn("ignoring malformed wake-up entry %s on %s", id, w->key);
	if (cm_redis_command(w->e->redis, ignore_done, w, "XACK %s %s %s", w->key, SE_WAKE_GROUP,
			     id) == 0)
		w->inflight++;
}

static void read_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_wake *w = data;
	size_t n = 0;

	w->inflight--;
	w->reading = false;
	if (w->stopped || w->draining) {
		maybe_free(w);
		return;
	}
	if (!reply)
		return; /* disconnected: se_wake_connected starts over */
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strstr(reply->str, "NOGROUP")) {
			w->group_ok = false;
			create_group(w);
		} else {
			cm_log_warn("reading wake-ups from %s failed: %s", w->key, reply->str);
		}
		return;
	}
	/* [[key, [entry, ...]]], or nil when nothing is there */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements >= 2) {
		const redisReply *ents = reply->element[0]->element[1];
		for (size_t i = 0; ents->type == REDIS_REPLY_ARRAY && i < ents->elements; i++)
			take_entry(w, ents->element[i]);
		n = ents->type == REDIS_REPLY_ARRAY ? ents->elements : 0;
	}
	if (w->pending_mode && n < READ_COUNT) {
		if (n || strcmp(w->from, "0") != 0)
			cm_log_info("wake-up catch-up done on %s", w->key);
		w->pending_mode = false;
		w->again = true;
	}
	if (n >= READ_COUNT)
		w->again = true;
	if (w->again)
		read_batch(w);
}

static void read_batch(struct se_wake *w)
{
	struct se_edge *e = w->e;
	const char *argv[10];
	int rc;

	/* Not gated on cm_redis_ready: that is false while only the pub/sub connection is
	 * away, which is exactly when this poll matters. */
	if (w->stopped || w->draining || !e->redis)
		return;
	if (w->reading) {
		w->again = true;
		return;
	}
	w->again = false;
	if (!w->group_ok) {
		create_group(w);
		return;
	}
	/* The NOTIFYs already running hold the rest; the poll comes back for it. */
	if (e->pending >= SE_PENDING_MAX / 2)
		return;
	argv[0] = "XREADGROUP", argv[1] = "GROUP", argv[2] = SE_WAKE_GROUP;
	argv[3] = e->cfg->edge_id, argv[4] = "COUNT", argv[5] = READ_COUNT_S;
	argv[6] = "STREAMS", argv[7] = w->key, argv[8] = w->pending_mode ? w->from : ">";
	rc = cm_redis_command_argv(e->redis, read_done, w, 9, argv, NULL);
	if (rc == 0) {
		w->inflight++;
		w->reading = true;
	}
}

static void on_poll(uv_timer_t *t)
{
	read_batch(t->data);
}

int se_wake_start(struct se_edge *e)
{
	struct se_wake *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->e = e;
	cm_snprintf(w->key, sizeof(w->key), "%s%s", SE_KEY_WAKE, e->cfg->edge_id);
	cm_snprintf(w->alive_key, sizeof(w->alive_key), "%s%s", SE_KEY_ALIVE_EDGE, e->cfg->edge_id);
	cm_snprintf(w->token, sizeof(w->token), "%s/%ld/%lld", e->cfg->edge_id, (long)getpid(),
		    (long long)se_now_ms());
	cm_snprintf(w->from, sizeof(w->from), "0");
	w->pending_mode = true;
	uv_timer_init(e->loop, &w->alive);
	uv_timer_init(e->loop, &w->poll);
	w->alive.data = w->poll.data = w;
	w->open_handles = 2;
	uv_timer_start(&w->alive, on_alive, ALIVE_EVERY_MS, ALIVE_EVERY_MS);
	uv_timer_start(&w->poll, on_poll, POLL_MS, POLL_MS);
	e->wake = w;
	return 0;
}

void se_wake_connected(struct se_edge *e)
{
	struct se_wake *w = e->wake;

	if (!w || w->stopped || w->draining)
		return;
	write_alive(w);
	/* Entries delivered to us before the disconnect may never have been handled. */
	w->pending_mode = true;
	cm_snprintf(w->from, sizeof(w->from), "0");
	w->group_ok = false;
	read_batch(w);
}

void se_wake_kick(struct se_edge *e)
{
	if (e->wake)
		read_batch(e->wake);
}

void se_wake_drain(struct se_edge *e)
{
	struct se_wake *w = e->wake;

	if (!w || w->draining)
		return;
	w->draining = true;
	uv_timer_stop(&w->alive);
	uv_timer_stop(&w->poll);
	if (e->redis && cm_redis_command(e->redis, ignore_done, w, "DEL %s", w->alive_key) == 0)
		w->inflight++;
}

void se_wake_stop(struct se_edge *e)
{
	struct se_wake *w = e->wake;

	if (!w)
		return;
	e->wake = NULL;
	w->stopped = true;
	uv_close((uv_handle_t *)&w->alive, on_closed);
	uv_close((uv_handle_t *)&w->poll, on_closed);
}

const char *se_wake_token(const struct se_edge *e)
{
	return e->wake ? e->wake->token : "";
}
