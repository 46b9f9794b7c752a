/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Explicit SUBSCRIBE (RFC 6665), answered statelessly like REGISTER: the message callback
 * keeps the msg_t while se_subscribe_script runs, answers from the Redis callback with
 * nta_msg_treply, then sends the state NOTIFY in the new (or refreshed) dialog. The dialog
 * itself lives in the binding hash, not in memory, so any later NOTIFY to the binding can go
 * in-dialog and a retransmitted SUBSCRIBE (same Call-ID and From-tag → same derived To-tag)
 * is simply handled again.
 */
#ifndef SE_SUBSCRIPTION_H
#define SE_SUBSCRIPTION_H

#include <sofia-sip/nta.h>

struct se_edge;

/* Handles one SUBSCRIBE; takes msg (always replied to or destroyed, now or later). */
void se_subscription_handle(struct se_edge *e, msg_t *msg, sip_t *sip);

#endif
