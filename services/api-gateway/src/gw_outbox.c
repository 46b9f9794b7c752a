/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox worker (gw_outbox.h). libcurl's multi_socket interface drives every POST from the
 * loop: curl tells us which sockets to watch (uv_poll_t each) and when to wake it (one
 * uv_timer_t); no thread, no blocking call. A job is one stream entry; it lives until it is
 * acknowledged, through its retries (each waiting on its own timer).
 *
 * Counting for shutdown: `handles` counts open libuv handles and `redis_inflight` Redis
 * commands whose callback has not run; the worker is freed when both reach zero after stop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "gw_outbox.h"

#define CONSUMER_MAX 96
#define ID_MAX 48
#define CLAIM_EVERY_TICKS 50 /* 10 s at 200 ms */

struct job {
	struct gw_outbox *o;
	struct job *next;
	char id[ID_MAX];
	char kind[16];
	char *url, *body;
	int attempts;
	CURL *easy;
	struct curl_slist *headers;
	uv_timer_t retry;
	bool timer_open;
	char err[CURL_ERROR_SIZE];
};

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct gw_outbox *o;
};

struct gw_outbox {
	uv_loop_t *loop;
	struct cm_redis *redis;
	CURLM *multi;
	uv_timer_t tick, curl_timer;
	char consumer[CONSUMER_MAX];
	char claim_cursor[ID_MAX];
	bool group_ready, reading, claiming, stopping;
	unsigned ticks;
	struct job *jobs;
	int n_jobs;
	int handles, redis_inflight;
};

static void tick(uv_timer_t *t);
static void start_post(struct job *j);

static void maybe_free(struct gw_outbox *o)
{
	if (o->stopping && o->handles == 0 && o->redis_inflight == 0) {
		if (o->multi)
			curl_multi_cleanup(o->multi);
		free(o);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct gw_outbox *o = h->data;

	o->handles--;
	maybe_free(o);
}

/* ---------------------------------------------------------------- jobs */

static void job_free_now(struct job *j)
{
	free(j->url);
	free(j->body);
	free(j);
}

static void on_job_timer_closed(uv_handle_t *h)
{
	struct job *j = h->data;
	struct gw_outbox *o = j->o;

	job_free_now(j);
	o->handles--;
	maybe_free(o);
}

/* Unlinks j, releases its transfer and frees it (after its timer is closed, if any). */
static void job_drop(struct job *j)
{
	struct gw_outbox *o = j->o;

	for (struct job **p = &o->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	o->n_jobs--;
	if (j->easy) {
		curl_multi_remove_handle(o->multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	curl_slist_free_all(j->headers);
	j->headers = NULL;
	if (j->timer_open) {
		uv_close((uv_handle_t *)&j->retry, on_job_timer_closed);
		return;
	}
	job_free_now(j);
}

static void on_acked(struct cm_redis *r, redisReply *reply, void *data)
{
	struct gw_outbox *o = data;

	o->redis_inflight--;
	if (reply && reply->type == REDIS_REPLY_ERROR)
		cm_log_warn("outbox: XACK failed: %.200s", reply->str);
	maybe_free(o);
}

static void ack(struct gw_outbox *o, const char *id)
{
	if (cm_redis_command(o->redis, on_acked, o, "XACK %s %s %s", CM_KEY_OUTBOX, GW_OUTBOX_GROUP,
			     id) == 0)
		o->redis_inflight++;
	/* Redis away: the entry stays pending and is claimed again later. */
}

static void on_retry(uv_timer_t *t)
{
	start_post(t->data);
}

/* Outbox POSTs by kind (receipt, notice) and result (ok, retry, gave-up). */
static void count_post(const char *kind, const char *result)
{
	static struct cm_metric_family *posts;

	if (!posts)
		posts = cm_metric_family(CM_METRIC_COUNTER, "beckon_outbox_posts_total",
					 "Outbox POST attempts, by kind and result", "kind",
					 "result", NULL, 0);
	cm_metric_inc(cm_metric_labels(posts, kind, result));
}

static void job_finished(struct job *j, bool ok, long code, const char *why)
{
	struct gw_outbox *o = j->o;

	count_post(j->kind, ok ? "ok" : j->attempts >= GW_OUTBOX_ATTEMPTS ? "gave-up" : "retry");

	if (ok) {
		cm_log_debug("outbox posted kind=%s id=%s url=%s status=%ld attempt=%d", j->kind,
			     j->id, j->url, code, j->attempts);
		ack(o, j->id);
		job_drop(j);
		return;
	}
	if (j->attempts >= GW_OUTBOX_ATTEMPTS) {
		cm_log_warn("outbox gave up kind=%s id=%s url=%s after %d attempts: %s", j->kind,
			    j->id, j->url, j->attempts, why);
		ack(o, j->id);
		job_drop(j);
		return;
	}
	cm_log_debug("outbox retry kind=%s id=%s url=%s attempt=%d: %s", j->kind, j->id, j->url,
		     j->attempts, why);
	if (!j->timer_open) {
		uv_timer_init(o->loop, &j->retry);
		j->retry.data = j;
		j->timer_open = true;
		o->handles++;
	}
	uv_timer_start(&j->retry, on_retry, 1000ULL << (j->attempts - 1), 0);
}

static size_t discard(char *p, size_t size, size_t n, void *data)
{
	return size * n;
}

static void start_post(struct job *j)
{
	struct gw_outbox *o = j->o;
	CURL *e = curl_easy_init();

	j->attempts++;
	if (!e) {
		job_finished(j, false, 0, "out of memory");
		return;
	}
	if (!j->headers)
		j->headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_URL, j->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)GW_OUTBOX_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->err);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "beckon-api-gateway");
	j->err[0] = '\0';
	j->easy = e;
	if (curl_multi_add_handle(o->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		j->easy = NULL;
		job_finished(j, false, 0, "curl_multi_add_handle failed");
	}
}

/* Drains curl's finished transfers. */
static void check_done(struct gw_outbox *o)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(o->multi, &left))) {
		struct job *j = NULL;
		long code = 0;
		CURLcode res = m->data.result;
		char why[CURL_ERROR_SIZE + 32];

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(o->multi, m->easy_handle);
		curl_easy_cleanup(m->easy_handle);
		if (!j)
			continue;
		j->easy = NULL;
		if (res != CURLE_OK)
			snprintf(why, sizeof(why), "%s",
				 j->err[0] ? j->err : curl_easy_strerror(res));
		else
			snprintf(why, sizeof(why), "HTTP status %ld", code);
		job_finished(j, res == CURLE_OK && code >= 200 && code < 300, code, why);
	}
}

/* ---------------------------------------------------------------- curl on libuv */

static void on_sock_closed(uv_handle_t *h)
{
	struct sock *s = h->data;
	struct gw_outbox *o = s->o;

	free(s);
	o->handles--;
	maybe_free(o);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	struct gw_outbox *o = s->o;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(o->multi, s->fd, flags, &running);
	check_done(o);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct gw_outbox *o = userp;
	struct sock *s = socketp;
	int ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, on_sock_closed);
			curl_multi_assign(o->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		s->o = o;
		if (uv_poll_init_socket(o->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		o->handles++;
		curl_multi_assign(o->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static void on_curl_timeout(uv_timer_t *t)
{
	struct gw_outbox *o = t->data;
	int running;

	curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(o);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct gw_outbox *o = userp;

	if (o->stopping)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&o->curl_timer);
	else
		uv_timer_start(&o->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---------------------------------------------------------------- the stream */

static bool have_job(struct gw_outbox *o, const char *id)
{
	for (struct job *j = o->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0)
			return true;
	return false;
}

/* One stream entry [id, [field, value, ...]] becomes a job. */
static void take_entry(struct gw_outbox *o, const redisReply *e)
{
	const redisReply *id, *kv;
	const char *url = NULL, *body = NULL, *kind = "?";
	size_t blen = 0;
	struct job *j;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
		return;
	id = e->element[0];
	kv = e->element[1];
	if (id->type != REDIS_REPLY_STRING || id->len >= ID_MAX || have_job(o, id->str))
		return;
	if (kv->type != REDIS_REPLY_ARRAY) {
		ack(o, id->str); /* deleted meanwhile */
		return;
	}
	for (size_t i = 0; i + 1 < kv->elements; i += 2) {
		const redisReply *k = kv->element[i], *v = kv->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "url") == 0)
			url = v->str;
		else if (strcmp(k->str, "body") == 0) {
			body = v->str;
			blen = v->len;
		} else if (strcmp(k->str, "kind") == 0)
			kind = v->str;
	}
	if (!url || !body || blen > GW_OUTBOX_BODY_MAX || strlen(body) != blen) {
		cm_log_warn("outbox dropped id=%s: no url or body, or body too large", id->str);
		ack(o, id->str);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->url = strdup(url)) || !(j->body = strdup(body))) {
		if (j)
			job_free_now(j);
		return; /* stays pending; claimed again later */
	}
	j->o = o;
	memcpy(j->id, id->str, id->len + 1);
	snprintf(j->kind, sizeof(j->kind), "%s", kind);
	j->next = o->jobs;
	o->jobs = j;
	o->n_jobs++;
	start_post(j);
}

static void take_entries(struct gw_outbox *o, const redisReply *list)
{
	if (!list || list->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < list->elements; i++)
		take_entry(o, list->element[i]);
}

static void redis_error(struct gw_outbox *o, const redisReply *reply, const char *what)
{
	if (strncmp(reply->str, "NOGROUP", 7) == 0)
		o->group_ready = false; /* stream or group deleted: create them again */
	else
		cm_log_warn("outbox: %s failed: %.200s", what, reply->str);
}

static void on_read(struct cm_redis *r, redisReply *reply, void *data)
{
	struct gw_outbox *o = data;
	size_t got = 0;

	o->redis_inflight--;
	o->reading = false;
	if (o->stopping || !reply) {
		maybe_free(o);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		redis_error(o, reply, "XREADGROUP");
		return;
	}
	/* [[stream, [entry ...]]] or nil */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2) {
		const redisReply *list = reply->element[0]->element[1];

		got = list->type == REDIS_REPLY_ARRAY ? list->elements : 0;
		take_entries(o, list);
	}
	if (got == GW_OUTBOX_BATCH)
		uv_timer_start(&o->tick, tick, 0, 0); /* more waiting: read again at once */
}

static void on_claimed(struct cm_redis *r, redisReply *reply, void *data)
{
	struct gw_outbox *o = data;

	o->redis_inflight--;
	o->claiming = false;
	if (o->stopping || !reply) {
		maybe_free(o);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		redis_error(o, reply, "XAUTOCLAIM");
		return;
	}
	/* [next-cursor, [entry ...], [deleted id ...]] */
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
		return;
	if (reply->element[0]->type == REDIS_REPLY_STRING && reply->element[0]->len < ID_MAX)
		memcpy(o->claim_cursor, reply->element[0]->str, reply->element[0]->len + 1);
	if (reply->element[1]->type == REDIS_REPLY_ARRAY && reply->element[1]->elements)
		cm_log_info("outbox claimed %zu entries of a silent gateway",
			    reply->element[1]->elements);
	take_entries(o, reply->element[1]);
}

static void on_group(struct cm_redis *r, redisReply *reply, void *data)
{
	struct gw_outbox *o = data;

	o->redis_inflight--;
	o->reading = false;
	if (o->stopping || !reply) {
		maybe_free(o);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		cm_log_warn("outbox: XGROUP CREATE failed: %.200s", reply->str);
		return;
	}
	o->group_ready = true;
	uv_timer_start(&o->tick, tick, 0, 0);
}

static void tick(uv_timer_t *t)
{
	struct gw_outbox *o = t->data;

	uv_timer_start(&o->tick, tick, GW_OUTBOX_POLL_MS, 0);
	if (o->reading || !cm_redis_ready(o->redis))
		return;
	if (!o->group_ready) {
		/* From 0: receipts queued before any gateway ran are sent too. */
		if (cm_redis_command(o->redis, on_group, o, "XGROUP CREATE %s %s 0 MKSTREAM",
				     CM_KEY_OUTBOX, GW_OUTBOX_GROUP) == 0) {
			o->reading = true;
			o->redis_inflight++;
		}
		return;
	}
	if (o->n_jobs > GW_OUTBOX_JOBS_MAX - GW_OUTBOX_BATCH)
		return;
	/* The first read after start claims too: a restarted gateway picks up at once what its
	 * predecessor left. */
	if (o->ticks++ % CLAIM_EVERY_TICKS == 0 && !o->claiming) {
		if (cm_redis_command(o->redis, on_claimed, o, "XAUTOCLAIM %s %s %s %d %s COUNT %d",
				     CM_KEY_OUTBOX, GW_OUTBOX_GROUP, o->consumer,
				     GW_OUTBOX_CLAIM_IDLE_MS, o->claim_cursor,
				     GW_OUTBOX_BATCH) == 0) {
			o->claiming = true;
			o->redis_inflight++;
		}
		return;
	}
	if (cm_redis_command(o->redis, on_read, o, "XREADGROUP GROUP %s %s COUNT %d STREAMS %s >",
			     GW_OUTBOX_GROUP, o->consumer, GW_OUTBOX_BATCH, CM_KEY_OUTBOX) == 0) {
		o->reading = true;
		o->redis_inflight++;
	}
}

int gw_outbox_start(uv_loop_t *loop, struct cm_redis *redis, struct gw_outbox **out)
{
	struct gw_outbox *o;
	unsigned char rnd[4] = {0};
	char host[64] = "gw";

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->multi = curl_multi_init();
	if (!o->multi) {
		free(o);
		return -ENOMEM;
	}
	o->loop = loop;
	o->redis = redis;
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	RAND_bytes(rnd, sizeof(rnd));
	/* Per process: a restarted gateway must not inherit its predecessor's pending entries
	 * silently; they are claimed like any silent gateway's. */
	snprintf(o->consumer, sizeof(o->consumer), "%s-%ld-%02x%02x%02x%02x", host, (long)getpid(),
		 rnd[0], rnd[1], rnd[2], rnd[3]);
	memcpy(o->claim_cursor, "0-0", 4);
	curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
	curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
	uv_timer_init(loop, &o->tick);
	uv_timer_init(loop, &o->curl_timer);
	o->tick.data = o->curl_timer.data = o;
	o->handles = 2;
	uv_timer_start(&o->tick, tick, 0, 0);
	cm_log_info("outbox worker started consumer=%s", o->consumer);
	*out = o;
	return 0;
}

void gw_outbox_stop(struct gw_outbox *o)
{
	if (!o || o->stopping)
		return;
	o->stopping = true;
	while (o->jobs)
		job_drop(o->jobs);
	uv_timer_stop(&o->tick);
	uv_timer_stop(&o->curl_timer);
	uv_close((uv_handle_t *)&o->tick, on_handle_closed);
	uv_close((uv_handle_t *)&o->curl_timer, on_handle_closed);
	/* Closes curl's cached connections now, while the socket callback can still close
	 * their poll handles; maybe_free() must not clean up a second time. */
	curl_multi_cleanup(o->multi);
	o->multi = NULL;
}
