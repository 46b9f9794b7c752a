/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure part of the registrar: turning a parsed REGISTER into the bindings it asks for
 * (AOR, binding ids, index keys, expiry, the implicit contact-me subscription) and into the
 * argument vector of the one Lua script that writes them (proto/redis.md). Nothing here
 * touches the network or Redis, so the unit tests drive it with messages parsed by sofia.
 */
#ifndef SE_REGISTER_H
#define SE_REGISTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/sip.h>
#include <sofia-sip/su_alloc.h>

#include "cm/device.h"
#include "cm/redis.h"
#include "se_outbound.h"

#define SE_REG_CONTACTS_MAX 16 /* Contacts in one REGISTER */
#define SE_AOR_BINDINGS_MAX 32 /* live bindings of one AOR */
#define SE_KEY_MAX (sizeof(CM_KEY_DEVICE) + 8 + CM_DEVICE_MAX)
#define SE_BINDING_ID_LEN 32
#define SE_INSTANCE_MAX 256
#define SE_CONTACT_MAX 1024 /* one Contact value, as stored */
#define SE_FTAGS_MAX 256    /* the packages of one Contact's +sip.events, LF-separated */

struct se_contact {
	char binding_id[SE_BINDING_ID_LEN + 1];
	const char *contact; /* header value without expires param; in the caller's home */
	const char *uri;     /* Contact URI: the NOTIFY's Request-URI */
	char instance[SE_INSTANCE_MAX + 1]; /* without quotes and <>, or "" */
	long expires;			    /* seconds granted; 0 removes the binding */
	char idx_inst[SE_KEY_MAX];	    /* "" when absent */
	char idx_mac[SE_KEY_MAX];	    /* "" when absent */
	/* Packages of an RFC 3840 `+sip.events` feature tag, lower-cased, LF-separated. */
	char ftags[SE_FTAGS_MAX];
	/* RFC 5626 reg-id of an outbound flow (then the binding id is the flow's), or 0. */
	unsigned long reg_id;
};

struct se_reg_req {
	char aor[CM_DEVICE_MAX + 1];
	char idx_aor[SE_KEY_MAX];
	char idx_num[SE_KEY_MAX]; /* "" when the AOR has no user part */
	const char *call_id;	  /* borrowed from the message */
	uint32_t cseq;
	const char *user_agent; /* "" when absent */
	bool subscribed;
	bool wildcard;	/* Contact: * with Expires: 0 */
	bool query;	/* no Contact: RFC 3261 10.3 query, answered with the current contacts */
	bool outbound;	/* some Contact is an RFC 5626 flow: the 200 carries Require: outbound */
	bool first_hop; /* se_first_hop: the 200 of an outbound registration has Flow-Timer */
	bool path_supported;	/* Supported: path; the 200 then echoes the Path headers */
	char path[SE_PATH_MAX]; /* the Path headers, se_path_join; "" when none */
	size_t n;
	struct se_contact c[SE_REG_CONTACTS_MAX];
};

struct se_reg_limits {
	long min_expires, max_expires, default_expires;
};

/*
 * True if one media range of an Accept value (a comma list; parameters and quoted strings
 * allowed) is application/application-server-contact-me, compared case-insensitively.
 * s need not be NUL-terminated.
 */
bool se_accept_contact_me(const char *s, size_t len);

/* The same for any media type (NUL-terminated, compared case-insensitively). */
bool se_accept_lists(const char *s, size_t len, const char *media);

/* True if any Accept header of sip lists the contact-me media type. */
bool se_sip_accepts_contact_me(const sip_t *sip);
/* True if any Accept header of sip lists media. */
bool se_sip_accepts(const sip_t *sip, const char *media);

/*
 * Reads the value of an RFC 3840 `+sip.events` Contact feature parameter (v: as in the
 * Contact, quoted or not; a comma list of event packages) into out: each package name
 * lower-cased and followed by LF. Negated (`!pkg`) and malformed names are skipped; names
 * that do not fit are dropped. Returns the number of names written.
 */
int se_feature_events(const char *v, char *out, size_t size);

/* Strips the quotes and angle brackets of a +sip.instance value into out (size bytes).
 * Returns 0 or -EINVAL for an empty, oversized or malformed value. */
int se_instance_value(const char *v, char *out, size_t size);

/*
 * Writes the binding id: 32 lower-case hex digits of the first 16 bytes of
 * SHA-256(aor LF key), key being the instance id or else the Contact URI. out holds 33 bytes.
 * Returns 0 or -EIO if the digest failed.
 */
int se_binding_id(const char *aor, const char *key, char out[SE_BINDING_ID_LEN + 1]);

/*
 * Extracts a REGISTER into out. Strings that are not borrowed from the message are
 * allocated in home (use the message's home so they live as long as it). On failure returns
 * a negative errno and sets *status and *phrase for the reply (400 for malformed headers,
 * 423 for an interval below min-expires: the caller then adds Min-Expires). A REGISTER
 * without Contact is a query (out->query, out->n == 0). A reg-id without +sip.instance is
 * ignored; a reg-id is otherwise only honoured when se_outbound_usable(). A malformed
 * Path is a 400; a Path without `Supported: path` is stored anyway (Kamailio's "lazy" mode).
 * Only out->c[0 .. n-1] are written: the unused contacts keep whatever they held.
 */
int se_register_parse(su_home_t *home, const sip_t *sip, const struct se_reg_limits *lim,
		      struct se_reg_req *out, int *status, const char **phrase);

/* What the script needs besides the request: who we are and where the REGISTER came from. */
struct se_reg_origin {
	const char *edge;
	const char *source;    /* ip:port, IPv6 bracketed */
	const char *transport; /* udp / tcp / tls */
	const char *flow;      /* decimal flow id, or "" over UDP */
	int64_t now_ms;
	/* event packages (LF-separated lists; see se_register_script) */
	const char *accepted;	 /* packages this REGISTER's Accept lists */
	const char *packages;	 /* every configured package */
	const char *default_pkg; /* the one `subscribed` stands for */
	const char *notices;	 /* "<package> <url>" lines */
	const char *gateway_url; /* "" when not configured */
	int claim_limit;	 /* pending requests claimed per REGISTER */
	/* This process's instance token (se_wake_token; NULL: ""). A binding last registered
	 * by another process of the same edge id is re-targeted as if it had moved. */
	const char *edge_token;
};

#define SE_REG_ARGS_FIXED 16
#define SE_REG_ARGS_PER_CONTACT 7
#define SE_REG_ARGS_TRAIL 9 /* after the contacts: package settings, path, reg-ids, token */
#define SE_REG_ARGS_MAX                                                                            \
	(SE_REG_ARGS_FIXED + SE_REG_ARGS_PER_CONTACT * SE_REG_CONTACTS_MAX + SE_REG_ARGS_TRAIL)

/* Storage for the argument vector; argv points into req, origin and this struct. */
struct se_reg_args {
	int argc;
	const char *argv[SE_REG_ARGS_MAX];
	size_t argvlen[SE_REG_ARGS_MAX];
	char now[24], cseq[16], maxb[16], n[16], limit[16];
	char regids[SE_REG_CONTACTS_MAX * 12 + 1]; /* one per contact, space-separated */
	char exp[SE_REG_CONTACTS_MAX][24];
	char idx[SE_REG_CONTACTS_MAX][2 * SE_KEY_MAX + 2];
};

/* Builds one registration's argument vector of se_register_script for req (borrowed while
 * args is used). */
void se_register_args(const struct se_reg_req *req, const struct se_reg_origin *o,
		      struct se_reg_args *args);

/*
 * The registrar script (no KEYS), for a batch of registrations: ARGV is k, then for each
 * registration its argument count and its se_register_args vector; the reply is an array of k
 * elements, in order, each an error reply (that registration failed; the others ran) or what
 * one registration returns: {"ok", {contact, seconds-left, ...},
 * {binding-id, old-edge, old-flow, ...}, {binding-id, ref, ...}, {binding-id, subscribed,
 * packages, ...}} where the third list names the bindings removed, or moved to another flow,
 * by this REGISTER, the fourth the pending requests claimed for queued delivery (send each as
 * a wake-up), and the fifth each written binding's `subscribed` and its packages (comma
 * list); or {"err", "cseq" | "too-many"}.
 */
extern struct cm_redis_script se_register_script;

#endif
