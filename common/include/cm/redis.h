/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asynchronous Redis client on the process's libuv loop (hiredis 0.14 with our own libuv
 * adapter, since the stock one hangs on socket errors). One cm_redis owns a command
 * connection and, once cm_redis_subscribe() is used, a second pub/sub connection. Both
 * reconnect with capped exponential backoff; subscriptions are renewed after a reconnect.
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

struct cm_redis;

typedef void cm_redis_reply_cb(struct cm_redis *r, redisReply *reply, void *data);
/* Called on every change of the command connection's state. */
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

/* Creates the client; url is redis://host[:port][/db]. Nothing connects until start.
 * Returns 0 or -EINVAL (bad URL) / -ENOMEM. */
int cm_redis_create(uv_loop_t *loop, const char *url, struct cm_redis **out);
void cm_redis_on_state(struct cm_redis *r, cm_redis_state_cb *cb, void *data);
/* Starts connecting (and reconnecting, forever, until cm_redis_close). */
int cm_redis_start(struct cm_redis *r);
/* True while the command connection is up. */
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
