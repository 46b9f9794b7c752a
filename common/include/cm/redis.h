/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asynchronous Redis client on the process's libuv loop (hiredis 0.14 with our own libuv
 * adapter, since the stock one hangs on socket errors). One cm_redis owns a command
 * connection and, once cm_redis_subscribe() is used, a second pub/sub connection. Both
 * reconnect with capped exponential backoff; subscriptions are renewed after a reconnect.
 *
 * Failure handling (hiredis 0.14 has none of its own): with a command timeout set, the
 * connection is declared dead when the oldest outstanding command (or an idle-time PING) has
 * waited longer than that; every pending callback then runs with reply == NULL and both
 * connections are rebuilt. A timed-out command may still have run on the server: callers
 * must only retry what is idempotent (beckon's scripts are keyed by request id). With
 * sentinels set, every (re)connect asks them for the master's address, and a READONLY
 * reply, a ROLE other than master, a disconnect or a timeout makes it ask again.
 *
 * Callback contract: when a command function returns 0, its callback runs exactly once,
 * later, on the loop: with the reply, or with reply == NULL if the connection dropped
 * before the reply came. When it returns a negative errno (-ENOTCONN while Redis is away)
 * the callback is never called. The reply is borrowed for the duration of the callback.
 */
#ifndef CM_REDIS_H
#define CM_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "cm/hostport.h"

struct cm_redis;

typedef void cm_redis_reply_cb(struct cm_redis *r, redisReply *reply, void *data);
/* Called on every change of readiness: up once the command connection answers (and, if
 * anything is subscribed, every subscription is confirmed again), so an up after a down is
 * the moment to catch up on whatever pub/sub may have missed. */
typedef void cm_redis_state_cb(struct cm_redis *r, bool up, void *data);
/* A pub/sub message; channel and message are borrowed views. */
typedef void cm_redis_message_cb(struct cm_redis *r, const char *channel, const char *msg,
				 size_t len, void *data);

/* A Lua script, run with EVALSHA and loaded on NOSCRIPT. Define as a static with only
 * .source set; sha is filled in lazily. */
struct cm_redis_script {
	const char *source;
	char sha[41];
};

/* Creates the client; url is redis://[[user]:password@]host[:port][/db] (userinfo
 * percent-encoded; with a password every connection to the data node starts with AUTH).
 * Nothing connects until start. Returns 0 or -EINVAL (bad URL) / -ENOMEM. */
int cm_redis_create(uv_loop_t *loop, const char *url, struct cm_redis **out);
/* url for a message: its userinfo (user and password) replaced by "***". */
void cm_redis_url_redact(const char *url, char *out, size_t size);
void cm_redis_on_state(struct cm_redis *r, cm_redis_state_cb *cb, void *data);
/* Longest wait for a reply, ms (0: none, the default). Also sends a PING when the command
 * connection is idle, so a hung server is noticed without traffic. Call before start. */
int cm_redis_set_timeout(struct cm_redis *r, long timeout_ms);

#define CM_REDIS_WAIT_MAX 16

/* Scripts (cm_redis_eval) count as done only once n replicas have their writes: one Redis
 * WAIT follows the scripts sent in each loop iteration, and their callbacks run when it
 * answers. If fewer replicas acknowledge within half the timeout (1 s without one), the
 * callbacks get an error reply "NOREPLICAS ..." instead: the script did run on the master,
 * so, as after a timeout, the outcome is unknown and only an idempotent retry is safe. This
 * is what keeps an accepted request through a Sentinel failover: a master that has just
 * been replaced has no replica to acknowledge. 0 (the default) turns it off. */
int cm_redis_set_wait_replicas(struct cm_redis *r, long n);

#define CM_REDIS_SENTINELS_MAX 8
#define CM_REDIS_MASTER_MAX 64

struct cm_redis_addr {
	char host[CM_HOST_MAX + 1]; /* IPv4 or IPv6 literal, or a host name */
	int port;
};

/* Parses "HOST:PORT,[IPv6]:PORT,..." where HOST is an IPv4 literal or a host name
 * (localhost means 127.0.0.1). Names (a compose or Kubernetes service) are resolved off the
 * loop, again on every round of asking the sentinels, since pods move. An empty list gives
 * *n = 0. Returns 0 or -EINVAL (bad item, empty item, more than max). */
int cm_redis_sentinels_parse(const char *list, struct cm_redis_addr *out, size_t max, size_t *n);
/* cm_opt.check of a `redis-sentinels` setting. */
int cm_redis_check_sentinels(const char *v, const char **why);
/* cm_opt.check of a `redis-sentinel-master` setting: [A-Za-z0-9._-]{1,64}. */
int cm_redis_check_master(const char *v, const char **why);

/* Finds the master named master ([A-Za-z0-9._-], at most 64) through the sentinels in the
 * list instead of the URL's host and port (the URL's db still applies). An empty or NULL
 * list leaves Sentinel off. Call before start. Returns 0 or -EINVAL. */
int cm_redis_set_sentinels(struct cm_redis *r, const char *sentinels, const char *master);
/* Sentinels that require a password (their own requirepass / ACL user): userinfo is
 * [USER]:PASSWORD, percent-encoded as in the URL; "" or NULL: none. Every sentinel connection
 * then starts with AUTH. Call before start. Returns 0, -EINVAL or -EBUSY (started). */
int cm_redis_set_sentinel_auth(struct cm_redis *r, const char *userinfo);
/* cm_opt.check of a `redis-sentinel-auth` setting: "" or [USER]:PASSWORD. */
int cm_redis_check_userinfo(const char *v, const char **why);

/* Starts connecting (and reconnecting, forever, until cm_redis_close). */
int cm_redis_start(struct cm_redis *r);
/* True while ready (see cm_redis_state_cb). */
bool cm_redis_ready(const struct cm_redis *r);

int cm_redis_command(struct cm_redis *r, cm_redis_reply_cb *cb, void *data, const char *fmt, ...);
int cm_redis_command_argv(struct cm_redis *r, cm_redis_reply_cb *cb, void *data, int argc,
			  const char **argv, const size_t *argvlen);
/* Runs script with nkeys keys followed by the other arguments (argv holds keys then args). */
int cm_redis_eval(struct cm_redis *r, struct cm_redis_script *script, cm_redis_reply_cb *cb,
		  void *data, int nkeys, int argc, const char **argv, const size_t *argvlen);

/* Subscribes to channel (copied) on the pub/sub connection, now and after each reconnect.
 * cb runs for every message. Returns 0 or a negative errno. */
int cm_redis_subscribe(struct cm_redis *r, const char *channel, cm_redis_message_cb *cb,
		       void *data);

/* Disconnects both connections; pending callbacks run with reply == NULL; frees r once the
 * handles are closed. Safe on NULL. Must not be called from inside a reply callback of r. */
void cm_redis_close(struct cm_redis *r);

#endif
