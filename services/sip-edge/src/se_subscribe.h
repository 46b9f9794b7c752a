/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure part of explicit subscription (RFC 6665, proto/contact-me.md "Explicit
 * SUBSCRIBE"): a parsed SUBSCRIBE turned into the dialog it creates or refreshes (tags,
 * remote target, route set, expiry) and into the argument vector of the one Lua script that
 * matches it to a live binding of this edge, stores the dialog in the binding hash, claims
 * the device's pending requests and returns the state to NOTIFY. No network, no Redis here.
 */
#ifndef SE_SUBSCRIBE_H
#define SE_SUBSCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/sip.h>
#include <sofia-sip/su_alloc.h>

#include "cm/redis.h"
#include "se_config.h"
#include "se_register.h"

#define SE_TAG_LEN 16	    /* our To-tag: hex */
#define SE_STATE_RECORDS 64 /* requests listed in one state NOTIFY */
#define SE_STATE_BODY 65536 /* bytes of one state NOTIFY body */
#define SE_ROUTE_MAX 1024   /* stored route set */

struct se_sub_req {
	const struct se_package *pkg; /* borrowed from the settings */
	char aor[CM_DEVICE_MAX + 1];  /* From URI, normalised: the subscriber's AOR */
	char idx_aor[SE_KEY_MAX];
	char instance[SE_INSTANCE_MAX + 1]; /* of the Contact, or "" */
	const char *uri;		    /* Contact URI: the dialog's remote target */
	const char *call_id;		    /* borrowed from the message */
	const char *to_tag;		    /* "" for an initial SUBSCRIBE */
	char local_tag[SE_TAG_LEN + 1];	    /* our tag: to_tag, or derived */
	uint32_t cseq;
	long expires;	    /* granted before the binding's own limit; 0 = unsubscribe */
	const char *route;  /* Route value for our requests ("" none), in home */
	const char *local;  /* NOTIFY From: the SUBSCRIBE's To with our tag, in home */
	const char *remote; /* NOTIFY To: the SUBSCRIBE's From, in home */
	const char *event;  /* Event value for our NOTIFYs (package [;id=...]), in home */
	sip_to_t *to;	    /* response To (with our tag), in home */
};

/*
 * Derives our To-tag from Call-ID and From-tag (hex of SHA-256), so a retransmitted initial
 * SUBSCRIBE, answered statelessly again, lands in the same dialog. Returns 0 or -EIO.
 */
int se_subscribe_tag(const char *call_id, const char *from_tag, char out[SE_TAG_LEN + 1]);

/*
 * Extracts a SUBSCRIBE. Strings are allocated in home (the message's). On failure returns
 * -EINVAL and sets *status and *phrase: 489 (no or unknown Event: the caller adds
 * Allow-Events), 400 (malformed headers), 406 (Accept without the package's media type),
 * 423 (interval below min-expires: the caller adds Min-Expires).
 */
int se_subscribe_parse(su_home_t *home, const sip_t *sip, const struct se_config *cfg,
		       struct se_sub_req *out, int *status, const char **phrase);

#define SE_SUB_ARGS 21

struct se_sub_args {
	const char *argv[SE_SUB_ARGS];
	size_t argvlen[SE_SUB_ARGS];
	char now[24], exp[24], cseq[16], limit[16], body[16];
};

/* Builds the argument vector of se_subscribe_script (borrows req, edge, gateway_url). */
void se_subscribe_args(const struct se_sub_req *req, const char *edge, const char *gateway_url,
		       int64_t now_ms, struct se_sub_args *a);

/*
 * The SUBSCRIBE script (no KEYS). Returns {"err", "register-first" | "no-dialog" | "cseq"}
 * or {"ok", "active" | "terminated", binding-id, seconds granted, NOTIFY CSeq, transport,
 * source, flow, {ref...}, {payload...}, newly-subscribed "1"/"0", {ref...}}: the refs and
 * payloads listed in the state NOTIFY, then the refs claimed that did not fit its body (send
 * each by itself).
 */
extern struct cm_redis_script se_subscribe_script;

#endif
