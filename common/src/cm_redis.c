/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hiredis on libuv, with reconnection, command timeouts and Redis Sentinel. The adapter
 * below replaces hiredis 0.14's adapters/libuv.h, whose poll callback returns early on a
 * libuv error status so hiredis never learns that a connect was refused or a socket reset
 * (every command then waits forever). Ours hands the event to hiredis anyway; hiredis's own
 * read/write then sees the error and runs the disconnect path. This is what later upstream
 * versions do.
 *
 * Ownership: a cm_redis owns two connections (commands, pub/sub), a sentinel query
 * connection while it resolves the master, their uv handles (two retry timers, one tick
 * timer, one sentinel timer), the list of commands awaiting a reply, and its subscription
 * list. hiredis frees a redisAsyncContext itself after a failed connect or a disconnect, so
 * we drop our pointer there and never touch it again. When we free one ourselves (timeout,
 * failover) we clear our pointer first, so callbacks hiredis runs from inside
 * redisAsyncFree see a context that is no longer ours and ignore it.
 *
 * Liveness: hiredis 0.14 has no timeouts. One timer per client ("tick") checks the oldest
 * command still waiting (replies come back in order on one connection, so the head of the
 * list is the oldest); past the timeout the server is taken for dead: redisAsyncFree runs
 * every pending callback with NULL and both connections are rebuilt with the usual backoff.
 * An idle command connection gets a PING each tick, so a hung server (SIGSTOP, a silent
 * network partition) is noticed without traffic. A connection only counts as up after its
 * first reply (ROLE), not after the TCP handshake, which a stopped server's kernel still
 * completes.
 *
 * Sentinel: before each connect we ask the sentinels in turn (each with a short timeout)
 * SENTINEL get-master-addr-by-name; the command connection then checks ROLE says master.
 * A sentinel given by host name (a compose or Kubernetes service) is looked up with
 * uv_getaddrinfo just before it is asked, in every round, so a moved pod is found again.
 * A READONLY reply, another role, a disconnect or a timeout makes the next connect ask
 * again, and a pub/sub connection to one sentinel hears +switch-master, so a failover is
 * followed at once rather than when Sentinel gets round to demoting the old master. Writes
 * acknowledged by a master just before a failover can be lost (replication is
 * asynchronous); see docs/operations.md.
 *
 * A password in the URL (redis://[USER]:PASSWORD@HOST..., Redis `requirepass` or a Redis 6
 * ACL user) is sent with AUTH on every new connection to the data node before anything else;
 * sentinels are asked without one. The password never appears in a log line
 * (cm_redis_url_redact for messages that quote the setting).
 */
#define _GNU_SOURCE /* memrchr */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netdb.h>

#include <hiredis/async.h>
#include <microhttpd.h>
#include <openssl/sha.h>

#include "cm/hostport.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/redis.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define HOST_MAX 256
#define AUTH_MAX 256	/* user name or password from the URL, decoded */
#define TICK_MAX_MS 500 /* health check period: timeout/4, capped */
#define TICK_MIN_MS 10
#define SENTINEL_WAIT_MS 1000  /* per sentinel, or the command timeout if shorter */
#define TIMEOUT_MAX_MS 3600000 /* cm_redis_set_timeout bound */

struct pending;

struct conn {
	struct cm_redis *r;
	redisAsyncContext *ac;
	uv_timer_t retry;
	unsigned backoff_ms;
	bool up;	 /* answered (cmd: ROLE; pub/sub: every SUBSCRIBE confirmed) */
	bool connecting; /* TCP connect (and AUTH, when the URL has a password) not finished */
	bool pubsub;
	const char *name;
	char host[HOST_MAX]; /* where ac points */
	int port;
	uint64_t since_ns;    /* start of the connect */
	unsigned unconfirmed; /* pub/sub: SUBSCRIBEs sent since connect, not yet confirmed */
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
	char host[HOST_MAX]; /* the URL's, or the master the sentinels named last */
	int port, db;
	/* AUTH [user] password from the URL's userinfo (has_password false: none) */
	bool has_password;
	char user[AUTH_MAX], password[AUTH_MAX];
	/* the same for the sentinels (cm_redis_set_sentinel_auth) */
	bool s_has_password;
	char s_user[AUTH_MAX], s_password[AUTH_MAX];
	struct conn cmd, ps;
	cm_redis_state_cb *state_cb;
	void *state_data;
	struct sub *subs;
	bool started, closing, ready;
	int open_handles;
	/* replies awaited on cmd, oldest first */
	struct pending *head, *tail;
	uint64_t timeout_ns; /* 0: none */
	uv_timer_t tick;
	bool drop_cmd, drop_ps; /* asked from inside a hiredis callback; done by the tick */
	/* Sentinel */
	struct cm_redis_addr sentinels[CM_REDIS_SENTINELS_MAX];
	char s_ip[CM_REDIS_SENTINELS_MAX][INET6_ADDRSTRLEN]; /* their addresses ("": unknown) */
	size_t n_sentinels;
	char master[CM_REDIS_MASTER_MAX + 1];
	bool resolved;	     /* host/port is the sentinels' current answer */
	bool resolving;	     /* a query is under way */
	bool s_found;	     /* this query got an address */
	bool s_answered;     /* this query got a reply (an address, nil or an error) */
	size_t s_first, s_i; /* sentinel that answered last; queries made this round */
	size_t s_k;	     /* the one asked now */
	bool s_name;	     /* the answer is a host name, still to resolve */
	bool gai_busy;	     /* gai is running (counts in open_handles) */
	uv_getaddrinfo_t gai;
	redisAsyncContext *s_ac;
	uv_timer_t s_timer;
	/* +switch-master watch: a pub/sub connection to one sentinel */
	redisAsyncContext *w_ac;
	uv_timer_t w_retry;
	unsigned w_backoff_ms;
	size_t w_idx;
	/* replicas that must have a script's writes before its callback runs (0: off) */
	int wait_replicas;
	struct wait_batch *batch_open; /* WAIT not sent yet */
	bool wait_inflight;	       /* one WAIT at a time: it blocks the connection */
	uv_check_t wait_check;	       /* sends it at the end of the loop iteration */
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

struct pending {
	struct pending *prev, *next; /* in r->head..tail while awaiting a reply */
	bool linked;
	struct cm_redis *r;
	cm_redis_reply_cb *cb;
	void *data;
	/* EVALSHA retry on NOSCRIPT */
	struct cm_redis_script *script;
	int argc;
	const char **argv;
	size_t *argvlen;
	uint64_t start_ns;
	/* durable script (wait_replicas): its reply is held until the WAIT after it answers */
	struct wait_batch *batch;
	struct pending *bnext;
	redisReply *held; /* a copy: hiredis frees the original after the callback */
	bool replied, lost, force_null;
};

/* The scripts sent in one loop iteration and the one WAIT that follows them. */
struct wait_batch {
	struct pending *members;
	redisAsyncContext *ac; /* the connection its scripts went out on */
	bool sent;
};

static void conn_connect(struct conn *c);
static void subscribe_all(struct cm_redis *r);
static void resolve_start(struct cm_redis *r);
static void tick_cb(uv_timer_t *t);

/* Warn about a failing (re)connect on the first failure and then once per capped backoff
 * period, not on every attempt. */
static bool log_now(const struct conn *c)
{
	return c->backoff_ms == 0 || c->backoff_ms >= BACKOFF_MAX_MS;
}

static unsigned tick_ms(const struct cm_redis *r)
{
	uint64_t ms = r->timeout_ns / 4000000;

	if (!r->timeout_ns || ms > TICK_MAX_MS)
		return TICK_MAX_MS;
	return ms < TICK_MIN_MS ? TICK_MIN_MS : (unsigned)ms;
}

static void update_ready(struct cm_redis *r)
{
	bool ready = r->cmd.up && (!r->subs || r->ps.up);

	if (ready == r->ready)
		return;
	r->ready = ready;
	if (r->state_cb)
		r->state_cb(r, ready, r->state_data);
}

/* Drops connections at the next turn of the loop: hiredis forbids redisAsyncFree from
 * inside a callback of the same context. */
static void drop_soon(struct cm_redis *r, bool cmd, bool ps)
{
	r->drop_cmd |= cmd;
	r->drop_ps |= ps;
	if (!r->closing)
		uv_timer_start(&r->tick, tick_cb, 0, tick_ms(r));
}

static void set_up(struct conn *c, bool up)
{
	struct cm_redis *r = c->r;

	if (c->up == up)
		return;
	c->up = up;
	/* Pub/sub follows the command connection to its server (after a failover, the new
	 * master), so it only connects once that one is up. */
	if (up && !c->pubsub && r->subs) {
		if (r->ps.ac && (r->ps.port != c->port || strcmp(r->ps.host, c->host) != 0))
			drop_soon(r, false, true);
		else if (!r->ps.ac) {
			uv_timer_stop(&r->ps.retry);
			conn_connect(&r->ps);
		}
	}
	update_ready(r);
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

static void pending_link(struct pending *p)
{
	struct cm_redis *r = p->r;

	p->prev = r->tail;
	p->next = NULL;
	if (r->tail)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	p->linked = true;
}

static void pending_unlink(struct pending *p)
{
	struct cm_redis *r = p->r;

	if (!p->linked)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		r->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		r->tail = p->prev;
	p->linked = false;
}

static struct pending *pending_new(struct cm_redis *r, cm_redis_reply_cb *cb, void *data,
				   size_t extra);
static void reply_cb(redisAsyncContext *ac, void *reply, void *privdata);

/* ---- replication wait ------------------------------------------------------------------ */

static void reply_free(redisReply *a)
{
	if (!a)
		return;
	if (a->element) {
		for (size_t i = 0; i < a->elements; i++)
			reply_free(a->element[i]);
		free(a->element);
	}
	free(a->str);
	free(a);
}

static redisReply *reply_clone(const redisReply *a)
{
	redisReply *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->type = a->type;
	b->integer = a->integer;
	if (a->str) {
		b->str = malloc(a->len + 1);
		if (!b->str)
			goto fail;
		memcpy(b->str, a->str, a->len);
		b->str[a->len] = '\0';
		b->len = a->len;
	}
	if (a->element && a->elements) {
		b->element = calloc(a->elements, sizeof(*b->element));
		if (!b->element)
			goto fail;
		b->elements = a->elements;
		for (size_t i = 0; i < a->elements; i++)
			if (!(b->element[i] = reply_clone(a->element[i])))
				goto fail;
	}
	return b;
fail:
	reply_free(b);
	return NULL;
}

static unsigned wait_ms(const struct cm_redis *r)
{
	uint64_t ms = r->timeout_ns / 2000000;

	/* Half the command timeout: the WAIT blocks the connection, and what queues behind it
	 * must not time out. */
	return !r->timeout_ns ? 1000 : ms < 10 ? 10 : (unsigned)ms;
}

static void batch_finish(struct cm_redis *r, struct wait_batch *b, const redisReply *w, bool ok)
{
	char msg[128];
	redisReply err = {.type = REDIS_REPLY_ERROR, .str = msg};
	struct pending *p;

	snprintf(msg, sizeof(msg),
		 "NOREPLICAS writes not acknowledged by %d replica(s) within %u ms",
		 r->wait_replicas, wait_ms(r));
	err.len = strlen(msg);
	if (!ok && w)
		cm_log_warn("redis %s:%d: WAIT: %lld of %d replicas acknowledged; answering the "
			    "scripts before it as failed",
			    r->cmd.host, r->cmd.port,
			    w->type == REDIS_REPLY_INTEGER ? w->integer : -1, r->wait_replicas);
	while ((p = b->members)) {
		redisReply *out;

		b->members = p->bnext;
		p->batch = NULL;
		if (!p->replied) {
			/* Still on the wire (only when the WAIT could not be sent): unknown. */
			p->force_null = true;
			continue;
		}
		if (p->lost || !p->held)
			out = NULL;
		else if (ok || p->held->type == REDIS_REPLY_ERROR)
			out = p->held;
		else
			out = w ? &err : NULL;
		p->cb(r, out, p->data);
		reply_free(p->held);
		free(p);
	}
	free(b);
}

static void wait_check_cb(uv_check_t *h);

static void wait_cb(struct cm_redis *r, redisReply *reply, void *data)
{
	r->wait_inflight = false;
	if (r->batch_open && !r->closing)
		uv_check_start(&r->wait_check, wait_check_cb);
	batch_finish(r, data, reply,
		     reply && reply->type == REDIS_REPLY_INTEGER &&
			 reply->integer >= r->wait_replicas);
}

static void wait_check_cb(uv_check_t *h)
{
	struct cm_redis *r = h->data;
	struct wait_batch *b = r->batch_open;
	struct pending *p;

	uv_check_stop(h);
	/* Only one WAIT in the pipeline, so what queues behind it waits at most wait_ms; the
	 * scripts sent meanwhile get the next one. */
	if (!b || r->wait_inflight)
		return;
	r->batch_open = NULL;
	b->sent = true;
	p = r->cmd.ac && r->cmd.ac == b->ac ? pending_new(r, wait_cb, b, 0) : NULL;
	if (p && redisAsyncCommand(r->cmd.ac, reply_cb, p, "WAIT %d %u", r->wait_replicas,
				   wait_ms(r)) == REDIS_OK) {
		pending_link(p);
		r->wait_inflight = true;
		return;
	}
	free(p);
	batch_finish(r, b, NULL, false);
}

static void batch_join(struct cm_redis *r, struct pending *p)
{
	struct wait_batch *b = r->batch_open;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b) {
			p->force_null = true; /* cannot vouch for it: unknown */
			return;
		}
		b->ac = r->cmd.ac;
		r->batch_open = b;
		if (!r->wait_inflight)
			uv_check_start(&r->wait_check, wait_check_cb);
	}
	p->batch = b;
	p->bnext = b->members;
	b->members = p;
}

static void batch_leave(struct pending *p)
{
	struct pending **pp = &p->batch->members;

	while (*pp && *pp != p)
		pp = &(*pp)->bnext;
	if (*pp)
		*pp = p->bnext;
	p->batch = NULL;
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct pending *p = privdata;
	struct cm_redis *r = p->r;
	redisReply *rep = reply;

	pending_unlink(p);
	if (p->script && rep && rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0 && ac && !(ac->c.flags & REDIS_DISCONNECTING)) {
		/* Same arguments, with the source instead of the digest. */
		p->argv[0] = "EVAL";
		p->argvlen[0] = 4;
		p->argv[1] = p->script->source;
		p->argvlen[1] = strlen(p->script->source);
		p->script = NULL;
		if (redisAsyncCommandArgv(ac, reply_cb, p, p->argc, p->argv, p->argvlen) ==
		    REDIS_OK) {
			p->start_ns = uv_hrtime();
			pending_link(p);
			/* Resent after its batch's WAIT: the next WAIT must cover it. */
			if (p->batch && p->batch->sent) {
				batch_leave(p);
				batch_join(r, p);
			}
			return;
		}
		rep = NULL;
	}
	/* A master demoted by a failover answers writes with READONLY (Sentinel also closes
	 * our connections then, but a write can get there first). */
	if (rep && rep->type == REDIS_REPLY_ERROR && r->n_sentinels &&
	    strncmp(rep->str, "READONLY", 8) == 0 && !r->drop_cmd && r->cmd.up) {
		cm_log_warn("redis %s:%d answered READONLY: no longer the master; asking the "
			    "sentinels again",
			    r->cmd.host, r->cmd.port);
		r->resolved = false;
		drop_soon(r, true, true);
	}
	cm_metric_inc(m_commands);
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		cm_metric_inc(m_errors);
	else
		cm_metric_observe(m_rtt, (double)(uv_hrtime() - p->start_ns) / 1e9);
	if (p->batch) {
		p->replied = true;
		p->lost = !rep;
		p->held = rep ? reply_clone(rep) : NULL;
		return; /* batch_finish delivers it */
	}
	p->cb(r, p->force_null ? NULL : rep, p->data);
	free(p);
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

/* A command of our own (ROLE, PING) on the command connection, timed like any other. */
static int send_internal(struct cm_redis *r, cm_redis_reply_cb *cb, const char *cmd)
{
	struct pending *p;

	if (!r->cmd.ac)
		return -ENOTCONN;
	p = pending_new(r, cb, NULL, 0);
	if (!p)
		return -ENOMEM;
	if (redisAsyncCommand(r->cmd.ac, reply_cb, p, cmd) != REDIS_OK) {
		free(p);
		return -EIO;
	}
	pending_link(p);
	return 0;
}

static void ping_cb(struct cm_redis *r, redisReply *reply, void *data)
{
	(void)r;
	(void)reply;
	(void)data;
}

/* The first reply on a new command connection: only now is the server known to answer. */
static void role_cb(struct cm_redis *r, redisReply *reply, void *data)
{
	struct conn *c = &r->cmd;
	const char *role = NULL;

	(void)data;
	if (!reply)
		return; /* connection gone; its reconnect is already planned */
	/* NOAUTH (a server with a password and a URL without one) or NOPERM (an ACL user
	 * without ROLE): nothing else would work either. */
	if (reply->type == REDIS_REPLY_ERROR) {
		if (log_now(c))
			cm_log_error("redis command connection to %s:%d: ROLE refused: %s", c->host,
				     c->port, reply->str);
		drop_soon(r, true, false);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	    reply->element[0]->type == REDIS_REPLY_STRING)
		role = reply->element[0]->str;
	if (r->n_sentinels && (!role || strcmp(role, "master") != 0)) {
		cm_log_warn("redis %s:%d is not the master of %s (role %s); asking the sentinels "
			    "again",
			    c->host, c->port, r->master, role ? role : "unknown");
		r->resolved = false;
		drop_soon(r, true, false);
		return;
	}
	c->backoff_ms = 0;
	cm_log_info("redis command connection to %s:%d up%s", c->host, c->port,
		    r->n_sentinels ? " (master per sentinel)" : "");
	set_up(c, true);
}

static void conn_start(struct conn *c);

/* AUTH [user] password (no user: requirepass, the default user). Returns hiredis's status. */
static int send_auth(redisAsyncContext *ac, redisCallbackFn *cb, void *data, const char *user,
		     const char *password)
{
	if (user[0])
		return redisAsyncCommand(ac, cb, data, "AUTH %s %s", user, password);
	return redisAsyncCommand(ac, cb, data, "AUTH %s", password);
}

static void conn_drop_soon(struct conn *c)
{
	drop_soon(c->r, !c->pubsub, c->pubsub);
}

/* A refused AUTH (wrong password, unknown ACL user, or a server without a password: "ERR
 * AUTH <password> called without any password configured") drops the connection, which then
 * retries with backoff; the client stays not ready and says why once per backoff period. */
static void auth_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct conn *c = privdata;
	redisReply *rep = reply;

	if (!rep || ac != c->ac)
		return; /* connection gone */
	if (rep->type == REDIS_REPLY_ERROR) {
		if (log_now(c))
			cm_log_error("redis %s connection to %s:%d: AUTH refused%s%s: %s", c->name,
				     c->host, c->port, c->r->user[0] ? " for user " : "",
				     c->r->user, rep->str);
		conn_drop_soon(c);
		return;
	}
	c->connecting = false;
	conn_start(c);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;
	struct cm_redis *r = c->r;

	if (ac != c->ac)
		return; /* one we freed ourselves */
	if (status != REDIS_OK) {
		c->connecting = false;
		/* hiredis frees ac after this callback. */
		if (log_now(c))
			cm_log_warn("redis %s connection to %s:%d failed: %s", c->name, c->host,
				    c->port, ac->errstr);
		c->ac = NULL;
		if (!c->pubsub)
			r->resolved = false;
		schedule_retry(c);
		return;
	}
	c->since_ns = uv_hrtime();
	if (r->has_password) {
		/* Nothing else is sent before AUTH answers (c stays `connecting`, so the connect
		 * timeout covers a server that never answers it and no SUBSCRIBE goes out). */
		if (send_auth(c->ac, auth_cb, c, r->user, r->password) != REDIS_OK)
			conn_drop_soon(c);
		return;
	}
	c->connecting = false;
	conn_start(c);
}

/* The connection is open (and authenticated): select the db, then ROLE (command connection)
 * or SUBSCRIBE (pub/sub). */
static void conn_start(struct conn *c)
{
	struct cm_redis *r = c->r;

	if (r->db)
		redisAsyncCommand(c->ac, NULL, NULL, "SELECT %d", r->db);
	if (c->pubsub) {
		c->unconfirmed = 0;
		subscribe_all(r);
		if (!c->unconfirmed)
			set_up(c, true);
	} else if (send_internal(r, role_cb, "ROLE") < 0) {
		drop_soon(r, true, false);
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;
	struct cm_redis *r = c->r;

	if (ac != c->ac)
		return; /* one we freed ourselves: already handled */
	c->ac = NULL;
	c->connecting = false;
	if (!r->closing) {
		cm_metric_inc(m_reconnects);
		cm_log_warn("redis %s connection to %s:%d lost: %s", c->name, c->host, c->port,
			    status == REDIS_OK ? "closed" : ac->errstr);
	}
	if (!c->pubsub)
		r->resolved = false;
	set_up(c, false);
	schedule_retry(c);
}

/* Frees a connection now (not from inside one of its own callbacks): hiredis runs every
 * pending callback with NULL, then we reconnect with backoff. */
static void conn_drop(struct conn *c, const char *why)
{
	redisAsyncContext *ac = c->ac;
	struct cm_redis *r = c->r;

	if (!ac)
		return;
	if (c->up || log_now(c)) /* not on every failed attempt while the server hangs */
		cm_log_warn("redis %s connection to %s:%d dropped: %s", c->name, c->host, c->port,
			    why);
	cm_metric_inc(m_reconnects);
	c->ac = NULL;
	c->connecting = false;
	if (!c->pubsub)
		r->resolved = false;
	set_up(c, false);
	redisAsyncFree(ac);
	schedule_retry(c);
}

static void tick_cb(uv_timer_t *t)
{
	struct cm_redis *r = t->data;
	uint64_t now = uv_hrtime();

	if (r->closing)
		return;
	if (r->drop_cmd || r->drop_ps) {
		bool cmd = r->drop_cmd, ps = r->drop_ps;

		r->drop_cmd = r->drop_ps = false;
		if (cmd)
			conn_drop(&r->cmd, "not usable as the master");
		if (ps)
			conn_drop(&r->ps, "following the command connection");
	}
	if (!r->timeout_ns)
		return;
	if (r->cmd.ac && r->cmd.connecting && now - r->cmd.since_ns > r->timeout_ns)
		conn_drop(&r->cmd, "connect timed out");
	if (r->ps.ac && !r->ps.up && now - r->ps.since_ns > r->timeout_ns)
		conn_drop(&r->ps, "no answer to connect or SUBSCRIBE in time");
	if (r->head && now - r->head->start_ns > r->timeout_ns) {
		char why[80];

		snprintf(why, sizeof(why), "no reply for %llu ms",
			 (unsigned long long)((now - r->head->start_ns) / 1000000));
		conn_drop(&r->cmd, why);
		/* Same server: its pub/sub connection is as dead, and hears nothing to say so. */
		conn_drop(&r->ps, "the server stopped answering");
		return;
	}
	if (r->cmd.up && !r->head)
		send_internal(r, ping_cb, "PING");
}

static void conn_connect(struct conn *c)
{
	struct cm_redis *r = c->r;
	redisAsyncContext *ac;

	if (r->closing || c->ac)
		return;
	if (c->pubsub) {
		if (!r->cmd.up)
			return; /* set_up(cmd) connects it */
		snprintf(c->host, sizeof(c->host), "%s", r->cmd.host);
		c->port = r->cmd.port;
	} else if (r->n_sentinels && !r->resolved) {
		resolve_start(r);
		return;
	} else {
		snprintf(c->host, sizeof(c->host), "%s", r->host);
		c->port = r->port;
	}
	/* c->host is an IP literal (the URL's, checked in cm_redis_create, or a sentinel's
	 * answer, checked on arrival), so hiredis does not block in getaddrinfo. */
	ac = redisAsyncConnect(c->host, c->port);
	if (!ac) {
		schedule_retry(c);
		return;
	}
	if (ac->err) {
		if (log_now(c))
			cm_log_warn("redis %s connection to %s:%d failed: %s", c->name, c->host,
				    c->port, ac->errstr);
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
	c->since_ns = uv_hrtime();
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void conn_closed(uv_handle_t *h);

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

/* ---- Sentinel ---------------------------------------------------------------------------- */

static void s_timer_cb(uv_timer_t *t);
static void resolve_next(struct cm_redis *r);
static void watch_connect(struct cm_redis *r);

static unsigned sentinel_wait_ms(const struct cm_redis *r)
{
	uint64_t ms = r->timeout_ns / 1000000;

	return ms && ms < SENTINEL_WAIT_MS ? (unsigned)ms : SENTINEL_WAIT_MS;
}

/* Ends the current query at the next turn of the loop (see s_timer_cb). */
static void s_kick(struct cm_redis *r)
{
	if (!r->closing)
		uv_timer_start(&r->s_timer, s_timer_cb, 0, 0);
}

static const struct cm_redis_addr *s_cur(const struct cm_redis *r)
{
	return &r->sentinels[r->s_k];
}

static void s_auth_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cm_redis *r = privdata;
	redisReply *rep = reply;

	if (rep && rep->type == REDIS_REPLY_ERROR && log_now(&r->cmd))
		cm_log_warn("redis sentinel %s:%d: AUTH refused: %.200s", ac->c.tcp.host,
			    ac->c.tcp.port, rep->str);
}

/* Queues AUTH on a sentinel connection ahead of what follows (a query or SUBSCRIBE); after
 * a refused AUTH that command fails too (NOAUTH), which its own callback handles. */
static int auth_pipelined(struct cm_redis *r, redisAsyncContext *ac)
{
	return r->s_has_password ? send_auth(ac, s_auth_cb, r, r->s_user, r->s_password) : REDIS_OK;
}

static void s_on_connect(const redisAsyncContext *ac, int status)
{
	struct cm_redis *r = ac->data;

	if (status == REDIS_OK || ac != r->s_ac)
		return;
	if (log_now(&r->cmd))
		cm_log_warn("redis sentinel %s:%d unreachable: %s", s_cur(r)->host, s_cur(r)->port,
			    ac->errstr);
	r->s_ac = NULL; /* hiredis frees it */
	s_kick(r);
}

static void s_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cm_redis *r = ac->data;

	(void)status;
	if (ac != r->s_ac)
		return;
	r->s_ac = NULL;
	s_kick(r);
}

static void s_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cm_redis *r = privdata;
	const struct cm_redis_addr *s;
	redisReply *rep = reply;

	if (ac != r->s_ac)
		return;
	s = s_cur(r);
	r->s_answered = rep != NULL;
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_STRING) {
		const char *host = rep->element[0]->str;
		unsigned char buf[16];
		char *e;
		long port;

		errno = 0;
		port = strtol(rep->element[1]->str, &e, 10);
		if (!errno && !*e && e != rep->element[1]->str && port > 0 && port < 65536 &&
		    rep->element[0]->len < HOST_MAX &&
		    (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1 ||
		     cm_host_check(host, rep->element[0]->len) == CM_HOST_NAME)) {
			/* A name (sentinel announce-hostnames) is resolved off the loop later. */
			snprintf(r->host, sizeof(r->host), "%s", host);
			r->port = (int)port;
			r->s_found = true;
			r->s_name = inet_pton(AF_INET, host, buf) != 1 &&
				    inet_pton(AF_INET6, host, buf) != 1;
		} else {
			cm_log_warn("redis sentinel %s:%d named master %s at '%.64s:%.8s', not a "
				    "host and port",
				    s->host, s->port, r->master, host, rep->element[1]->str);
		}
	} else if (rep && rep->type == REDIS_REPLY_NIL) {
		cm_log_warn("redis sentinel %s:%d does not know master %s", s->host, s->port,
			    r->master);
	} else if (rep && rep->type == REDIS_REPLY_ERROR) {
		cm_log_warn("redis sentinel %s:%d: %.200s", s->host, s->port, rep->str);
	}
	s_kick(r);
}

static void release(struct cm_redis *r);

/* The address a look-up found (ip[0] == '\0' if none), and frees res. */
static void gai_pick(int status, struct addrinfo *res, char ip[INET6_ADDRSTRLEN])
{
	ip[0] = '\0';
	if (status == 0 && res) {
		/* IPv4 first: "localhost" often lists ::1 first while servers bind 127.0.0.1. */
		const struct addrinfo *ai = res;
		const void *a;

		for (const struct addrinfo *i = res; i; i = i->ai_next)
			if (i->ai_family == AF_INET) {
				ai = i;
				break;
			}
		a = ai->ai_family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
			: (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		if (!inet_ntop(ai->ai_family, a, ip, INET6_ADDRSTRLEN))
			ip[0] = '\0';
	}
	uv_freeaddrinfo(res);
}

/* Starts a look-up of name on r->gai (one at a time: a sentinel's name before it is asked,
 * or the master's name after). Returns 0 or a negative errno. */
static int gai_start(struct cm_redis *r, uv_getaddrinfo_cb cb, const char *name)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	int rc = uv_getaddrinfo(r->loop, &r->gai, cb, name, NULL, &hints);

	if (rc < 0)
		return rc;
	r->gai_busy = true;
	r->open_handles++;
	return 0;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct cm_redis *r = req->data;
	char ip[INET6_ADDRSTRLEN];

	r->gai_busy = false;
	gai_pick(status, res, ip);
	if (r->closing) {
		release(r);
		return;
	}
	r->open_handles--;
	if (!ip[0]) {
		cm_log_warn("redis master %s: cannot resolve host name %s: %s", r->master, r->host,
			    status ? uv_strerror(status) : "no address");
		resolve_next(r);
		return;
	}
	snprintf(r->host, sizeof(r->host), "%s", ip);
	r->resolving = false;
	r->resolved = true;
	r->s_first = r->s_k;
	conn_connect(&r->cmd);
}

/* Runs when a query ends (answer, error, closed) or times out. */
static void s_timer_cb(uv_timer_t *t)
{
	struct cm_redis *r = t->data;

	if (r->s_ac) {
		redisAsyncContext *ac = r->s_ac;

		if (!r->s_answered)
			cm_log_warn("redis sentinel %s:%d: no answer within %u ms", s_cur(r)->host,
				    s_cur(r)->port, sentinel_wait_ms(r));
		r->s_ac = NULL;
		redisAsyncFree(ac);
	}
	if (r->closing)
		return;
	if (!r->s_found) {
		resolve_next(r);
		return;
	}
	if (!r->w_ac && !uv_is_active((uv_handle_t *)&r->w_retry)) {
		r->w_idx = r->s_k;
		watch_connect(r);
	}
	cm_log_info("redis sentinel %s:%d: master %s is %s:%d", s_cur(r)->host, s_cur(r)->port,
		    r->master, r->host, r->port);
	if (r->s_name) {
		/* hiredis would resolve it with a blocking getaddrinfo on the loop. */
		if (gai_start(r, gai_cb, r->host) == 0)
			return;
		resolve_next(r);
		return;
	}
	r->resolving = false;
	r->resolved = true;
	r->s_first = r->s_k; /* ask it first next time */
	conn_connect(&r->cmd);
}

/* Asks the current sentinel (s_k), at address ip, for the master. Returns 0 if the query
 * is under way (s_timer_cb ends it), -1 if it could not be sent. */
static int s_query(struct cm_redis *r, const char *ip)
{
	const struct cm_redis_addr *a = s_cur(r);
	redisAsyncContext *ac = redisAsyncConnect(ip, a->port);

	if (!ac)
		return -1;
	if (ac->err || adapter_attach(r->loop, ac) < 0) {
		if (log_now(&r->cmd))
			cm_log_warn("redis sentinel %s:%d unreachable: %s", a->host, a->port,
				    ac->err ? ac->errstr : "out of memory");
		redisAsyncFree(ac);
		return -1;
	}
	ac->data = r;
	redisAsyncSetConnectCallback(ac, s_on_connect);
	redisAsyncSetDisconnectCallback(ac, s_on_disconnect);
	if (auth_pipelined(r, ac) != REDIS_OK ||
	    redisAsyncCommand(ac, s_reply_cb, r, "SENTINEL get-master-addr-by-name %s",
			      r->master) != REDIS_OK) {
		redisAsyncFree(ac);
		return -1;
	}
	r->s_ac = ac;
	uv_timer_start(&r->s_timer, s_timer_cb, sentinel_wait_ms(r), 0);
	return 0;
}

/* A sentinel's name, looked up again in every round: a compose or Kubernetes service
 * moves when its container or pod is replaced. */
static void s_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct cm_redis *r = req->data;
	const struct cm_redis_addr *a;
	char ip[INET6_ADDRSTRLEN];

	r->gai_busy = false;
	gai_pick(status, res, ip);
	if (r->closing) {
		release(r);
		return;
	}
	r->open_handles--;
	a = s_cur(r);
	if (!ip[0]) {
		if (log_now(&r->cmd))
			cm_log_warn("redis sentinel %s:%d: cannot resolve host name: %s", a->host,
				    a->port, status ? uv_strerror(status) : "no address");
		resolve_next(r);
		return;
	}
	snprintf(r->s_ip[r->s_k], sizeof(r->s_ip[r->s_k]), "%s", ip);
	if (s_query(r, ip) < 0)
		resolve_next(r);
}

static void resolve_next(struct cm_redis *r)
{
	r->s_found = false;
	r->s_answered = false;
	r->s_name = false;
	while (r->s_i < r->n_sentinels) {
		unsigned char buf[16];
		const char *h;

		r->s_k = (r->s_first + r->s_i++) % r->n_sentinels;
		h = s_cur(r)->host;
		if (inet_pton(AF_INET, h, buf) != 1 && inet_pton(AF_INET6, h, buf) != 1) {
			if (gai_start(r, s_gai_cb, h) == 0)
				return;
			continue;
		}
		if (s_query(r, h) == 0)
			return;
	}
	r->resolving = false;
	if (log_now(&r->cmd))
		cm_log_warn("redis: none of %zu sentinels named master %s; asking again later",
			    r->n_sentinels, r->master);
	schedule_retry(&r->cmd);
}

/* The +switch-master watch. Sentinel reconfigures a demoted master (and so closes our
 * connections to it) only some seconds after the promotion, up to its 10 s INFO period
 * after a manual failover; writes made there meanwhile would be lost when it resyncs from
 * the new master. The announcement lets us move within milliseconds instead. */

static void w_retry_cb(uv_timer_t *t)
{
	watch_connect(t->data);
}

static void watch_retry(struct cm_redis *r)
{
	if (r->closing)
		return;
	r->w_idx = (r->w_idx + 1) % r->n_sentinels; /* try the next sentinel */
	r->w_backoff_ms = r->w_backoff_ms ? r->w_backoff_ms * 2 : BACKOFF_MIN_MS;
	if (r->w_backoff_ms > BACKOFF_MAX_MS)
		r->w_backoff_ms = BACKOFF_MAX_MS;
	uv_timer_start(&r->w_retry, w_retry_cb, r->w_backoff_ms, 0);
}

static void w_on_connect(const redisAsyncContext *ac, int status)
{
	struct cm_redis *r = ac->data;

	if (ac != r->w_ac)
		return;
	if (status != REDIS_OK) {
		r->w_ac = NULL; /* hiredis frees it */
		watch_retry(r);
	}
}

static void w_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cm_redis *r = ac->data;

	(void)status;
	if (ac != r->w_ac)
		return;
	r->w_ac = NULL;
	watch_retry(r);
}

/* "+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>" */
static void w_msg_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cm_redis *r = privdata;
	redisReply *rep = reply;
	const char *p, *sp;
	size_t n;

	if (ac != r->w_ac || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[2]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(rep->element[0]->str, "subscribe") == 0) {
		r->w_backoff_ms = 0;
		return;
	}
	if (strcmp(rep->element[0]->str, "message") != 0)
		return;
	p = rep->element[2]->str;
	sp = strchr(p, ' ');
	n = strlen(r->master);
	if (!sp || (size_t)(sp - p) != n || strncmp(p, r->master, n) != 0)
		return; /* another master's */
	cm_log_warn("redis sentinel: +switch-master %.200s; moving to the new master", p);
	r->resolved = false; /* the next connect asks the sentinels */
	drop_soon(r, true, true);
}

static void watch_connect(struct cm_redis *r)
{
	const struct cm_redis_addr *a;
	redisAsyncContext *ac;

	if (r->closing || r->w_ac || !r->n_sentinels)
		return;
	a = &r->sentinels[r->w_idx % r->n_sentinels];
	/* A name's address from the last round (the one that answered was just resolved);
	 * one not known yet, or gone stale, fails here and the watch moves on. */
	if (!r->s_ip[r->w_idx % r->n_sentinels][0]) {
		watch_retry(r);
		return;
	}
	ac = redisAsyncConnect(r->s_ip[r->w_idx % r->n_sentinels], a->port);
	if (!ac) {
		watch_retry(r);
		return;
	}
	if (ac->err || adapter_attach(r->loop, ac) < 0) {
		redisAsyncFree(ac);
		watch_retry(r);
		return;
	}
	ac->data = r;
	redisAsyncSetConnectCallback(ac, w_on_connect);
	redisAsyncSetDisconnectCallback(ac, w_on_disconnect);
	if (auth_pipelined(r, ac) != REDIS_OK ||
	    redisAsyncCommand(ac, w_msg_cb, r, "SUBSCRIBE +switch-master") != REDIS_OK) {
		redisAsyncFree(ac);
		watch_retry(r);
		return;
	}
	r->w_ac = ac;
}

static void resolve_start(struct cm_redis *r)
{
	if (r->resolving || r->closing)
		return;
	r->resolving = true;
	r->s_i = 0; /* s_first stays fixed for the round */
	resolve_next(r);
}

/* ---- public API ------------------------------------------------------------------------ */

/* Copies n bytes of URL userinfo into out, percent-decoded (RFC 3986: ':', '@', '/' in a
 * password are sent as %3A, %40, %2F). No NUL may result. */
static int userinfo_part(const char *s, size_t n, char *out)
{
	if (n >= AUTH_MAX)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	return MHD_http_unescape(out) == strlen(out) ? 0 : -EINVAL;
}

/* "user:password" (Redis 6 ACL user) or ":password" (requirepass) into user and password
 * (AUTH_MAX each); the password must not be empty, and a user without a password is refused
 * rather than guessed at. */
static int parse_userinfo(const char *s, size_t n, char *user, char *password)
{
	const char *colon = memchr(s, ':', n);

	if (!colon || colon + 1 == s + n)
		return -EINVAL;
	if (userinfo_part(s, (size_t)(colon - s), user) < 0 ||
	    userinfo_part(colon + 1, (size_t)(s + n - colon - 1), password) < 0 || !password[0])
		return -EINVAL;
	return 0;
}

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
	{
		/* The last '@' of the authority: a password may hold an '@' of its own. */
		const char *at = memrchr(p, '@', (size_t)(end - p));

		if (at) {
			if (parse_userinfo(p, (size_t)(at - p), r->user, r->password) < 0)
				return -EINVAL;
			r->has_password = true;
			p = at + 1;
		}
	}
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

void cm_redis_url_redact(const char *url, char *out, size_t size)
{
	const char *p, *slash, *at;

	if (!size)
		return;
	p = strncmp(url, "redis://", 8) == 0 ? url + 8 : url;
	slash = strchr(p, '/');
	at = memrchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	/* A message may cut it short. */
	if (at)
		snprintf(out, size, "%.*s***%s", (int)(p - url), url, at);
	else
		snprintf(out, size, "%s", url);
}

static void r_closed(uv_handle_t *h);

int cm_redis_create(uv_loop_t *loop, const char *url, struct cm_redis **out)
{
	struct cm_redis *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	redis_metrics_init();
	r->loop = loop;
	snprintf(r->master, sizeof(r->master), "beckon");
	if (parse_url(r, url) < 0) {
		free(r);
		return -EINVAL;
	}
	if (conn_init(r, &r->cmd, false, "command") < 0 ||
	    conn_init(r, &r->ps, true, "pubsub") < 0 || uv_timer_init(loop, &r->tick) < 0 ||
	    uv_timer_init(loop, &r->s_timer) < 0 || uv_timer_init(loop, &r->w_retry) < 0 ||
	    uv_check_init(loop, &r->wait_check) < 0) {
		/* A uv_timer_init failure leaves nothing to close on a fresh loop. */
		free(r);
		return -EIO;
	}
	r->open_handles += 4;
	r->wait_check.data = r;
	r->tick.data = r;
	r->s_timer.data = r;
	r->w_retry.data = r;
	r->gai.data = r;
	/* The health check alone must not keep a loop alive. */
	uv_unref((uv_handle_t *)&r->tick);
	*out = r;
	return 0;
}

void cm_redis_on_state(struct cm_redis *r, cm_redis_state_cb *cb, void *data)
{
	r->state_cb = cb;
	r->state_data = data;
}

int cm_redis_set_timeout(struct cm_redis *r, long timeout_ms)
{
	if (timeout_ms < 0 || timeout_ms > TIMEOUT_MAX_MS)
		return -EINVAL;
	r->timeout_ns = (uint64_t)timeout_ms * 1000000;
	if (r->started && !r->closing)
		uv_timer_start(&r->tick, tick_cb, tick_ms(r), tick_ms(r));
	return 0;
}

int cm_redis_set_wait_replicas(struct cm_redis *r, long n)
{
	if (n < 0 || n > CM_REDIS_WAIT_MAX)
		return -EINVAL;
	r->wait_replicas = (int)n;
	return 0;
}

/* The parser behind cm_redis_sentinels_parse; *why says what is wrong, for the setting's
 * error message. */
static int sentinels_parse(const char *list, struct cm_redis_addr *out, size_t max, size_t *n,
			   const char **why)
{
	const char *p = list;

	*n = 0;
	if (!list || !*list)
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		struct cm_hostport hp;
		struct cm_redis_addr *a = &out[*n];

		while (len && *p == ' ') {
			p++;
			len--;
		}
		while (len && p[len - 1] == ' ')
			len--;
		if (!len) {
			*why = "has an empty entry (want HOST:PORT,HOST:PORT,...)";
			return -EINVAL;
		}
		if (*n >= max) {
			*why = "has more than 8 entries";
			return -EINVAL;
		}
		if (cm_hostport_parse(p, len, &hp) < 0 || !hp.host.len) {
			*why = "has an entry that is not HOST:PORT (HOST: IPv4, [IPv6] or a name)";
			return -EINVAL;
		}
		if (hp.port < 1) {
			*why = "has an entry whose port is missing or not 1..65535 (HOST:PORT)";
			return -EINVAL;
		}
		if (hp.kind == CM_HOST_NAME && hp.host.len == 9 &&
		    strncasecmp(hp.host.p, "localhost", 9) == 0) {
			snprintf(a->host, sizeof(a->host), "127.0.0.1"); /* no look-up needed */
		} else {
			if (hp.host.len >= sizeof(a->host)) {
				*why = "has a host name longer than 253 characters";
				return -EINVAL;
			}
			memcpy(a->host, hp.host.p, hp.host.len);
			a->host[hp.host.len] = '\0';
		}
		a->port = hp.port;
		(*n)++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

int cm_redis_sentinels_parse(const char *list, struct cm_redis_addr *out, size_t max, size_t *n)
{
	const char *why;

	return sentinels_parse(list, out, max, n, &why);
}

int cm_redis_check_sentinels(const char *v, const char **why)
{
	struct cm_redis_addr a[CM_REDIS_SENTINELS_MAX];
	size_t n;

	*why = "is not a comma list of HOST:PORT";
	return sentinels_parse(v, a, CM_REDIS_SENTINELS_MAX, &n, why);
}

int cm_redis_check_master(const char *v, const char **why)
{
	size_t n = strlen(v);

	*why = "must be 1 to 64 characters of A-Z a-z 0-9 . _ -";
	if (n == 0 || n > CM_REDIS_MASTER_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int cm_redis_check_userinfo(const char *v, const char **why)
{
	char user[AUTH_MAX], password[AUTH_MAX];
	int rc;

	*why = "must be empty or [USER]:PASSWORD (percent-encoded, at most 255 bytes each)";
	rc = !v[0] ? 0 : parse_userinfo(v, strlen(v), user, password);
	explicit_bzero(password, sizeof(password));
	return rc;
}

int cm_redis_set_sentinel_auth(struct cm_redis *r, const char *userinfo)
{
	if (r->started)
		return -EBUSY;
	r->s_has_password = false;
	if (!userinfo || !userinfo[0])
		return 0;
	if (parse_userinfo(userinfo, strlen(userinfo), r->s_user, r->s_password) < 0)
		return -EINVAL;
	r->s_has_password = true;
	return 0;
}

int cm_redis_set_sentinels(struct cm_redis *r, const char *sentinels, const char *master)
{
	const char *why;
	size_t n;

	if (r->started)
		return -EBUSY;
	if (!sentinels || !*sentinels) {
		r->n_sentinels = 0;
		return 0;
	}
	if (!master || cm_redis_check_master(master, &why) < 0 ||
	    cm_redis_sentinels_parse(sentinels, r->sentinels, CM_REDIS_SENTINELS_MAX, &n) < 0)
		return -EINVAL;
	snprintf(r->master, sizeof(r->master), "%s", master);
	r->n_sentinels = n;
	for (size_t i = 0; i < n; i++) {
		unsigned char buf[16];
		const char *h = r->sentinels[i].host;

		/* Literals are their own address; names get theirs in each round (s_gai_cb). */
		r->s_ip[i][0] = '\0';
		if (inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1)
			snprintf(r->s_ip[i], sizeof(r->s_ip[i]), "%s", h);
	}
	return 0;
}

int cm_redis_start(struct cm_redis *r)
{
	if (r->started)
		return 0;
	r->started = true;
	uv_timer_start(&r->tick, tick_cb, tick_ms(r), tick_ms(r));
	conn_connect(&r->cmd);
	return 0;
}

bool cm_redis_ready(const struct cm_redis *r)
{
	return r && r->ready;
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
		free(p);
		return -EIO;
	}
	pending_link(p);
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
		free(p);
		return -EIO;
	}
	pending_link(p);
	return 0;
}

/* A script whose callback got NULL (timeout, lost connection) may still have run, once, on
 * the server: the command can sit in the server's socket buffer and execute after we gave
 * up. Callers must treat NULL as "unknown" and retry only idempotent scripts; api-gateway's
 * create script is keyed by beckon:req:<client>:<request_id> and answers 'exists' for a
 * repeat with the same body, so a client that retries with its request_id neither loses
 * nor duplicates a request (one that let the gateway generate the id cannot tell). */
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
		free(p);
		return -EIO;
	}
	pending_link(p);
	if (r->wait_replicas > 0)
		batch_join(r, p);
	return 0;
}

static void sub_message_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct sub *s = privdata;
	struct conn *c = &s->r->ps;
	redisReply *rep = reply;

	/* Called for the subscribe confirmation, for every message, and with NULL when the
	 * connection goes away (we resubscribe on reconnect). A refused SUBSCRIBE (NOAUTH, or
	 * NOPERM: an ACL user without the channel) never gets here: hiredis 0.14 keeps no reply
	 * callback for SUBSCRIBE, takes the error as unsolicited and disconnects, and
	 * on_disconnect logs it ("lost: NOPERM ..."). */
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(rep->element[0]->str, "subscribe") == 0) {
		/* Ready (and callers told to catch up) only once every channel is back. */
		if (ac == c->ac && c->unconfirmed && --c->unconfirmed == 0) {
			c->backoff_ms = 0;
			cm_log_info("redis pubsub connection to %s:%d up", c->host, c->port);
			set_up(c, true);
		}
		return;
	}
	if (strcmp(rep->element[0]->str, "message") != 0 ||
	    rep->element[2]->type != REDIS_REPLY_STRING)
		return;
	s->cb(s->r, s->channel, rep->element[2]->str, rep->element[2]->len, s->data);
}

static void subscribe_one(struct cm_redis *r, struct sub *s)
{
	if (r->ps.ac && !r->ps.connecting &&
	    redisAsyncCommand(r->ps.ac, sub_message_cb, s, "SUBSCRIBE %s", s->channel) ==
		REDIS_OK &&
	    !r->ps.up)
		r->ps.unconfirmed++;
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
	if (r->ps.ac && !r->ps.connecting)
		subscribe_one(r, s);
	else if (r->started)
		conn_connect(&r->ps); /* no-op until the command connection is up */
	update_ready(r);
	return 0;
}

static void release(struct cm_redis *r)
{
	if (--r->open_handles > 0)
		return;
	while (r->subs) {
		struct sub *s = r->subs;

		r->subs = s->next;
		free(s);
	}
	explicit_bzero(r->password, sizeof(r->password));
	explicit_bzero(r->s_password, sizeof(r->s_password));
	free(r);
}

static void conn_closed(uv_handle_t *h)
{
	release(((struct conn *)h->data)->r);
}

static void r_closed(uv_handle_t *h)
{
	release(h->data);
}

void cm_redis_close(struct cm_redis *r)
{
	if (!r || r->closing)
		return;
	r->closing = true;
	r->state_cb = NULL;
	uv_timer_stop(&r->tick);
	uv_timer_stop(&r->s_timer);
	if (r->gai_busy)
		uv_cancel((uv_req_t *)&r->gai); /* gai_cb still runs, and releases */
	if (r->s_ac) {
		redisAsyncContext *ac = r->s_ac;

		r->s_ac = NULL;
		redisAsyncFree(ac);
	}
	uv_timer_stop(&r->w_retry);
	if (r->w_ac) {
		redisAsyncContext *ac = r->w_ac;

		r->w_ac = NULL;
		redisAsyncFree(ac);
	}
	for (struct conn *c = &r->cmd; c; c = c == &r->cmd ? &r->ps : NULL) {
		redisAsyncContext *ac = c->ac;

		uv_timer_stop(&c->retry);
		c->ac = NULL;
		c->up = false;
		if (ac)
			redisAsyncFree(ac); /* pending callbacks run with NULL */
		uv_close((uv_handle_t *)&c->retry, conn_closed);
	}
	uv_close((uv_handle_t *)&r->tick, r_closed);
	uv_close((uv_handle_t *)&r->s_timer, r_closed);
	uv_close((uv_handle_t *)&r->w_retry, r_closed);
	/* Its scripts got NULL from redisAsyncFree above; now tell their callers. */
	uv_check_stop(&r->wait_check);
	if (r->batch_open) {
		struct wait_batch *b = r->batch_open;

		r->batch_open = NULL;
		batch_finish(r, b, NULL, false);
	}
	uv_close((uv_handle_t *)&r->wait_check, r_closed);
}
