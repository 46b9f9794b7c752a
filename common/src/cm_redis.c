/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hiredis on libuv, with reconnection. The adapter below replaces hiredis 0.14's
 * adapters/libuv.h, whose poll callback returns early on a libuv error status so hiredis
 * never learns that a connect was refused or a socket reset (every command then waits
 * forever). Ours hands the event to hiredis anyway; hiredis's own read/write then sees the
 * error and runs the disconnect path. This is what later upstream versions do.
 *
 * Ownership: a cm_redis owns two connections (commands, pub/sub), their uv handles, a
 * retry timer, and its subscription list. hiredis frees a redisAsyncContext itself after
 * the disconnect callback, so we drop our pointer there and never touch it again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include <hiredis/async.h>
#include <openssl/sha.h>

#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/redis.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define HOST_MAX 256

struct conn {
	struct cm_redis *r;
	redisAsyncContext *ac;
	uv_timer_t retry;
	unsigned backoff_ms;
	bool up, connecting, pubsub;
	const char *name;
};

struct sub {
	struct sub *next;
	struct cm_redis *r;
	cm_redis_message_cb *cb;
	void *data;
	char channel[];
};

struct cm_redis {
	uv_loop_t *loop;
	char host[HOST_MAX];
	int port, db;
	struct conn cmd, ps;
	cm_redis_state_cb *state_cb;
	void *state_data;
	struct sub *subs;
	bool started, closing;
	int open_handles;
};

/* Shared by every client in the process (cm_metric_family returns the existing one). */
static struct cm_metric *m_commands, *m_errors, *m_reconnects, *m_rtt;

static void redis_metrics_init(void)
{
	if (m_commands)
		return;
	m_commands = cm_metric_counter("beckon_redis_commands_total",
				       "Redis commands answered (or dropped by a disconnect)");
	m_errors = cm_metric_counter("beckon_redis_errors_total",
				     "Redis commands answered with an error or never answered");
	m_reconnects = cm_metric_counter("beckon_redis_disconnects_total",
					 "Redis connections lost (each is followed by reconnects)");
	m_rtt = cm_metric_histogram("beckon_redis_round_trip_seconds",
				    "Time from sending a Redis command to its reply",
				    cm_metrics_latency_bounds, cm_metrics_latency_n);
}

/* ---- libuv adapter --------------------------------------------------------------------- */

struct uv_events {
	uv_poll_t poll;
	redisAsyncContext *ac;
	int events;
};

static void adapter_poll_cb(uv_poll_t *handle, int status, int events)
{
	struct uv_events *e = handle->data;
	/* On error, report whatever we were waiting for: hiredis's read/write finds the
	 * socket error itself. */
	int ev = status < 0 ? e->events : events;

	if (e->ac && (ev & UV_WRITABLE))
		redisAsyncHandleWrite(e->ac);
	if (e->ac && (ev & UV_READABLE))
		redisAsyncHandleRead(e->ac);
}

static void adapter_update(struct uv_events *e, int add, int del)
{
	int events = (e->events | add) & ~del;

	if (events == e->events)
		return;
	e->events = events;
	if (events)
		uv_poll_start(&e->poll, events, adapter_poll_cb);
	else
		uv_poll_stop(&e->poll);
}

static void adapter_add_read(void *p)
{
	adapter_update(p, UV_READABLE, 0);
}

static void adapter_del_read(void *p)
{
	adapter_update(p, 0, UV_READABLE);
}

static void adapter_add_write(void *p)
{
	adapter_update(p, UV_WRITABLE, 0);
}

static void adapter_del_write(void *p)
{
	adapter_update(p, 0, UV_WRITABLE);
}

static void adapter_closed(uv_handle_t *h)
{
	free(h->data);
}

static void adapter_cleanup(void *p)
{
	struct uv_events *e = p;

	e->ac = NULL;
	uv_close((uv_handle_t *)&e->poll, adapter_closed);
}

static int adapter_attach(uv_loop_t *loop, redisAsyncContext *ac)
{
	struct uv_events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	if (uv_poll_init_socket(loop, &e->poll, ac->c.fd) < 0) {
		free(e);
		return -EIO;
	}
	e->poll.data = e;
	e->ac = ac;
	ac->ev.data = e;
	ac->ev.addRead = adapter_add_read;
	ac->ev.delRead = adapter_del_read;
	ac->ev.addWrite = adapter_add_write;
	ac->ev.delWrite = adapter_del_write;
	ac->ev.cleanup = adapter_cleanup;
	return 0;
}

/* ---- connections ----------------------------------------------------------------------- */

static void conn_connect(struct conn *c);
static void subscribe_all(struct cm_redis *r);

static void set_up(struct conn *c, bool up)
{
	struct cm_redis *r = c->r;

	if (c->up == up)
		return;
	c->up = up;
	if (!c->pubsub && r->state_cb)
		r->state_cb(r, up, r->state_data);
}

static void retry_cb(uv_timer_t *t)
{
	conn_connect(t->data);
}

static void schedule_retry(struct conn *c)
{
	if (c->r->closing)
		return;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	uv_timer_start(&c->retry, retry_cb, c->backoff_ms, 0);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;

	c->connecting = false;
	if (status != REDIS_OK) {
		/* hiredis frees ac after this callback. */
		if (c->backoff_ms >= BACKOFF_MAX_MS || c->backoff_ms == 0)
			cm_log_warn("redis %s connection to %s:%d failed: %s", c->name, c->r->host,
				    c->r->port, ac->errstr);
		c->ac = NULL;
		schedule_retry(c);
		return;
	}
	cm_log_info("redis %s connection to %s:%d up", c->name, c->r->host, c->r->port);
	c->backoff_ms = 0;
	if (c->r->db)
		redisAsyncCommand(c->ac, NULL, NULL, "SELECT %d", c->r->db);
	if (c->pubsub)
		subscribe_all(c->r);
	set_up(c, true);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;

	c->ac = NULL;
	c->connecting = false;
	if (!c->r->closing)
		cm_metric_inc(m_reconnects);
	if (!c->r->closing)
		cm_log_warn("redis %s connection to %s:%d lost: %s", c->name, c->r->host,
			    c->r->port, status == REDIS_OK ? "closed" : ac->errstr);
	set_up(c, false);
	schedule_retry(c);
}

static void conn_connect(struct conn *c)
{
	struct cm_redis *r = c->r;
	redisAsyncContext *ac;

	if (r->closing || c->ac)
		return;
	/* r->host is an IP literal (checked in cm_redis_create), so hiredis does not block
	 * in getaddrinfo. */
	ac = redisAsyncConnect(r->host, r->port);
	if (!ac) {
		schedule_retry(c);
		return;
	}
	if (ac->err) {
		cm_log_warn("redis %s connection to %s:%d failed: %s", c->name, r->host, r->port,
			    ac->errstr);
		redisAsyncFree(ac);
		schedule_retry(c);
		return;
	}
	if (adapter_attach(r->loop, ac) < 0) {
		redisAsyncFree(ac);
		schedule_retry(c);
		return;
	}
	ac->data = c;
	c->ac = ac;
	c->connecting = true;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static int conn_init(struct cm_redis *r, struct conn *c, bool pubsub, const char *name)
{
	c->r = r;
	c->pubsub = pubsub;
	c->name = name;
	if (uv_timer_init(r->loop, &c->retry) < 0)
		return -EIO;
	c->retry.data = c;
	r->open_handles++;
	return 0;
}

/* ---- public API ------------------------------------------------------------------------ */

static int parse_url(struct cm_redis *r, const char *url)
{
	const char *p, *end, *slash;
	char *e;
	long v;
	size_t hl;

	if (strncmp(url, "redis://", 8) != 0)
		return -EINVAL;
	p = url + 8;
	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	r->port = 6379;
	r->db = 0;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return -EINVAL;
		hl = (size_t)(close - p - 1);
		if (hl == 0 || hl >= HOST_MAX)
			return -EINVAL;
		memcpy(r->host, p + 1, hl);
		r->host[hl] = '\0';
		p = close + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *he = colon ? colon : end;

		hl = (size_t)(he - p);
		if (hl == 0 || hl >= HOST_MAX)
			return -EINVAL;
		memcpy(r->host, p, hl);
		r->host[hl] = '\0';
		p = he;
	}
	if (p < end) {
		if (*p != ':')
			return -EINVAL;
		errno = 0;
		v = strtol(p + 1, &e, 10);
		if (errno || e != end || e == p + 1 || v < 1 || v > 65535)
			return -EINVAL;
		r->port = (int)v;
	}
	if (slash && slash[1]) {
		errno = 0;
		v = strtol(slash + 1, &e, 10);
		if (errno || *e || v < 0 || v > 1000)
			return -EINVAL;
		r->db = (int)v;
	}
	/* No names: hiredis would resolve them with a blocking getaddrinfo on the loop. */
	if (strcmp(r->host, "localhost") == 0)
		snprintf(r->host, sizeof(r->host), "127.0.0.1");
	{
		unsigned char buf[16];

		if (inet_pton(AF_INET, r->host, buf) != 1 && inet_pton(AF_INET6, r->host, buf) != 1)
			return -EINVAL;
	}
	return 0;
}

int cm_redis_create(uv_loop_t *loop, const char *url, struct cm_redis **out)
{
	struct cm_redis *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	redis_metrics_init();
	r->loop = loop;
	if (parse_url(r, url) < 0) {
		free(r);
		return -EINVAL;
	}
	if (conn_init(r, &r->cmd, false, "command") < 0 ||
	    conn_init(r, &r->ps, true, "pubsub") < 0) {
		/* A uv_timer_init failure leaves nothing to close on a fresh loop. */
		free(r);
		return -EIO;
	}
	*out = r;
	return 0;
}

void cm_redis_on_state(struct cm_redis *r, cm_redis_state_cb *cb, void *data)
{
	r->state_cb = cb;
	r->state_data = data;
}

int cm_redis_start(struct cm_redis *r)
{
	if (r->started)
		return 0;
	r->started = true;
	conn_connect(&r->cmd);
	if (r->subs)
		conn_connect(&r->ps);
	return 0;
}

bool cm_redis_ready(const struct cm_redis *r)
{
	return r && r->cmd.up;
}

struct pending {
	struct cm_redis *r;
	cm_redis_reply_cb *cb;
	void *data;
	/* EVALSHA retry on NOSCRIPT */
	struct cm_redis_script *script;
	int argc;
	const char **argv;
	size_t *argvlen;
	uint64_t start_ns;
};

static void pending_free(struct pending *p)
{
	free(p);
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct pending *p = privdata;
	redisReply *rep = reply;

	if (p->script && rep && rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0 && ac && !(ac->c.flags & REDIS_DISCONNECTING)) {
		/* Same arguments, with the source instead of the digest. */
		p->argv[0] = "EVAL";
		p->argvlen[0] = 4;
		p->argv[1] = p->script->source;
		p->argvlen[1] = strlen(p->script->source);
		p->script = NULL;
		if (redisAsyncCommandArgv(ac, reply_cb, p, p->argc, p->argv, p->argvlen) ==
		    REDIS_OK)
			return;
		rep = NULL;
	}
	cm_metric_inc(m_commands);
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		cm_metric_inc(m_errors);
	else
		cm_metric_observe(m_rtt, (double)(uv_hrtime() - p->start_ns) / 1e9);
	p->cb(p->r, rep, p->data);
	pending_free(p);
}

static struct pending *pending_new(struct cm_redis *r, cm_redis_reply_cb *cb, void *data,
				   size_t extra)
{
	struct pending *p = calloc(1, sizeof(*p) + extra);

	if (p) {
		p->r = r;
		p->cb = cb;
		p->data = data;
		p->start_ns = uv_hrtime();
	}
	return p;
}

int cm_redis_command(struct cm_redis *r, cm_redis_reply_cb *cb, void *data, const char *fmt, ...)
{
	struct pending *p;
	va_list ap;
	int rc;

	if (!r->cmd.up || !r->cmd.ac)
		return -ENOTCONN;
	p = pending_new(r, cb, data, 0);
	if (!p)
		return -ENOMEM;
	va_start(ap, fmt);
	rc = redisvAsyncCommand(r->cmd.ac, reply_cb, p, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		pending_free(p);
		return -EIO;
	}
	return 0;
}

int cm_redis_command_argv(struct cm_redis *r, cm_redis_reply_cb *cb, void *data, int argc,
			  const char **argv, const size_t *argvlen)
{
	struct pending *p;

	if (!r->cmd.up || !r->cmd.ac)
		return -ENOTCONN;
	p = pending_new(r, cb, data, 0);
	if (!p)
		return -ENOMEM;
	if (redisAsyncCommandArgv(r->cmd.ac, reply_cb, p, argc, argv, argvlen) != REDIS_OK) {
		pending_free(p);
		return -EIO;
	}
	return 0;
}

int cm_redis_eval(struct cm_redis *r, struct cm_redis_script *script, cm_redis_reply_cb *cb,
		  void *data, int nkeys, int argc, const char **argv, const size_t *argvlen)
{
	int total = argc + 3;
	struct pending *p;
	char nk[16];
	size_t total_len = 0;
	char *buf;

	if (!r->cmd.up || !r->cmd.ac)
		return -ENOTCONN;
	if (argc < 0 || nkeys < 0 || nkeys > argc)
		return -EINVAL;
	if (!script->sha[0]) {
		unsigned char md[SHA_DIGEST_LENGTH];

		SHA1((const unsigned char *)script->source, strlen(script->source), md);
		for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
			snprintf(script->sha + 2 * i, 3, "%02x", md[i]);
	}
	for (int i = 0; i < argc; i++)
		total_len += argvlen[i];
	/* One block: the pending record, argv, argvlen, the digits of nkeys and a copy of the
	 * arguments, so a NOSCRIPT retry can resend them after the caller's buffers are gone. */
	p = pending_new(r, cb, data,
			(size_t)total * (sizeof(char *) + sizeof(size_t)) + sizeof(nk) + total_len);
	if (!p)
		return -ENOMEM;
	p->script = script;
	p->argc = total;
	p->argv = (const char **)(p + 1);
	p->argvlen = (size_t *)(p->argv + total);
	buf = (char *)(p->argvlen + total);
	snprintf(buf, sizeof(nk), "%d", nkeys);
	p->argv[0] = "EVALSHA";
	p->argvlen[0] = 7;
	p->argv[1] = script->sha;
	p->argvlen[1] = 40;
	p->argv[2] = buf;
	p->argvlen[2] = strlen(buf);
	buf += sizeof(nk);
	for (int i = 0; i < argc; i++) {
		memcpy(buf, argv[i], argvlen[i]);
		p->argv[3 + i] = buf;
		p->argvlen[3 + i] = argvlen[i];
		buf += argvlen[i];
	}
	if (redisAsyncCommandArgv(r->cmd.ac, reply_cb, p, total, p->argv, p->argvlen) != REDIS_OK) {
		pending_free(p);
		return -EIO;
	}
	return 0;
}

static void sub_message_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct sub *s = privdata;
	redisReply *rep = reply;

	/* Called for the subscribe confirmation, for every message, and with NULL when the
	 * connection goes away (we resubscribe on reconnect). */
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
		return;
	if (rep->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(rep->element[0]->str, "message") != 0 ||
	    rep->element[2]->type != REDIS_REPLY_STRING)
		return;
	s->cb(s->r, s->channel, rep->element[2]->str, rep->element[2]->len, s->data);
}

static void subscribe_one(struct cm_redis *r, struct sub *s)
{
	if (r->ps.ac)
		redisAsyncCommand(r->ps.ac, sub_message_cb, s, "SUBSCRIBE %s", s->channel);
}

static void subscribe_all(struct cm_redis *r)
{
	for (struct sub *s = r->subs; s; s = s->next)
		subscribe_one(r, s);
}

int cm_redis_subscribe(struct cm_redis *r, const char *channel, cm_redis_message_cb *cb, void *data)
{
	size_t len = strlen(channel);
	struct sub *s = calloc(1, sizeof(*s) + len + 1);

	if (!s)
		return -ENOMEM;
	s->r = r;
	s->cb = cb;
	s->data = data;
	memcpy(s->channel, channel, len + 1);
	s->next = r->subs;
	r->subs = s;
	if (r->ps.up && !r->ps.connecting)
		subscribe_one(r, s);
	else if (r->started)
		conn_connect(&r->ps);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct cm_redis *r = c->r;

	if (--r->open_handles == 0) {
		while (r->subs) {
			struct sub *s = r->subs;

			r->subs = s->next;
			free(s);
		}
		free(r);
	}
}

void cm_redis_close(struct cm_redis *r)
{
	if (!r || r->closing)
		return;
	r->closing = true;
	r->state_cb = NULL;
	for (struct conn *c = &r->cmd; c; c = c == &r->cmd ? &r->ps : NULL) {
		uv_timer_stop(&c->retry);
		if (c->ac)
			redisAsyncFree(
			    c->ac); /* callbacks run with NULL; on_disconnect clears ac */
		c->ac = NULL;
		c->up = false;
		uv_close((uv_handle_t *)&c->retry, handle_closed);
	}
}
