/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NOTIFY sender: listens on beckon:edge:<edge-id>, and for each wake-up
 * "<request_id> <binding-id>" reads the request and the binding, sends the contact-me NOTIFY
 * over the binding's flow and records the outcome in the request (proto/redis.md).
 */
#ifndef SE_NOTIFY_H
#define SE_NOTIFY_H

#include <stddef.h>

#include "cm/redis.h"
#include "se_register.h"

#define SE_REQUEST_ID_MAX 128

struct se_edge;

/* Subscribes to the edge's channel. Returns 0 or a negative errno. */
int se_notify_start(struct se_edge *e);

/* Destroys every NOTIFY transaction still in flight (their outcome is not recorded). */
void se_notify_shutdown(struct se_edge *e);

/*
 * Splits a wake-up message into request id (checked against the payload grammar) and
 * binding id (32 lower-case hex digits). Returns 0 or -EINVAL.
 */
int se_notify_parse_wakeup(const char *msg, size_t len, char reqid[SE_REQUEST_ID_MAX + 1],
			   char bid[SE_BINDING_ID_LEN + 1]);

/*
 * The status script: KEYS[1] = beckon:req:<id>; ARGV = binding id, event (sent, delivered,
 * failed), now ms, SIP status, reason. Returns the request's status after the update, or nil
 * if the request no longer exists.
 */
extern struct cm_redis_script se_status_script;

#endif
