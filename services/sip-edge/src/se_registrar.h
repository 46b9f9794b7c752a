/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stateless registrar: nta's agent message callback. REGISTERs are answered with
 * nta_msg_treply once the Redis script has written the bindings; OPTIONS get 200, ACKs are
 * dropped, everything else gets 405.
 */
#ifndef SE_REGISTRAR_H
#define SE_REGISTRAR_H

#include <sofia-sip/nta.h>

#include <stddef.h>

#define SE_ALLOW "REGISTER, SUBSCRIBE, OPTIONS"

/*
 * nta_message_f for the agent; magic is the struct se_edge. Takes msg (always destroyed or
 * replied to, now or from a Redis callback). Returns 0.
 */
int se_registrar_message(nta_agent_magic_t *magic, nta_agent_t *agent, msg_t *msg, sip_t *sip);

struct se_edge;

/* Drops the REGISTERs not yet sent to Redis (unanswered, as at shutdown) and closes the
 * batching handles; the loop must run afterwards. Safe when nothing was batched. */
void se_registrar_stop(struct se_edge *e);

/* Formats msg's source address as ip:port, IPv6 bracketed. Returns the length or -EINVAL. */
int se_registrar_source(msg_t *msg, char *buf, size_t size);

#endif
