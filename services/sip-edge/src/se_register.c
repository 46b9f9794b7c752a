/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REGISTER to bindings: AOR and index keys through cm_device (so the gateway's lookup of the
 * same device id finds exactly these keys), binding ids by SHA-256, the expiry rules of
 * RFC 3261 10.3 (contact param, then Expires header, then the default; below min → 423,
 * above max → clamped), the implicit subscription from Accept, and the Lua script that
 * writes it all atomically.
 */
#include "se_register.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/url.h>

#include "cm/digest.h"
#include "cm/payload.h"
#include "cm/str.h"
#include "se_lua.h"

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool se_accept_contact_me(const char *s, size_t len)
{
	return se_accept_lists(s, len, CM_PAYLOAD_MEDIA_TYPE);
}

bool se_accept_lists(const char *s, size_t len, const char *media)
{
	const struct cm_str want = cm_str_c(media);
	size_t i = 0;

	while (i < len) {
		size_t b, e;
		bool quoted = false;

		while (i < len && (is_lws(s[i]) || s[i] == ','))
			i++;
		b = i;
		while (i < len && s[i] != ',' && s[i] != ';')
			i++;
		e = i;
		while (e > b && is_lws(s[e - 1]))
			e--;
		if (cm_str_caseeq((struct cm_str){s + b, e - b}, want))
			return true;
		/* Skip the parameters up to the next comma outside a quoted string. */
		while (i < len && (quoted || s[i] != ',')) {
			if (s[i] == '"')
				quoted = !quoted;
			else if (s[i] == '\\' && quoted && i + 1 < len)
				i++;
			i++;
		}
	}
	return false;
}

bool se_sip_accepts_contact_me(const sip_t *sip)
{
	return se_sip_accepts(sip, CM_PAYLOAD_MEDIA_TYPE);
}

bool se_sip_accepts(const sip_t *sip, const char *media)
{
	for (const sip_accept_t *ac = sip->sip_accept; ac; ac = ac->ac_next) {
		if (ac->ac_type && se_accept_lists(ac->ac_type, strlen(ac->ac_type), media))
			return true;
	}
	return false;
}

int se_binding_id(const char *aor, const char *key, char out[SE_BINDING_ID_LEN + 1])
{
	const char *parts[] = {aor, key};

	return cm_digest_hex(CM_DIGEST_SHA256, parts, 2, '\n', out, SE_BINDING_ID_LEN);
}

/* Parses a delta-seconds value; returns -1 unless it is all digits (huge values saturate). */
static long parse_delta(const char *s)
{
	long v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v < 100000000L)
			v = v * 10 + (*s - '0');
	}
	return v;
}

int se_instance_value(const char *v, char *out, size_t size)
{
	size_t len = strlen(v);

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"')
		v++, len -= 2;
	if (len >= 2 && v[0] == '<' && v[len - 1] == '>')
		v++, len -= 2;
	if (len == 0 || len >= size)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)v[i] <= 0x20 || v[i] == '"' || v[i] == '<' || v[i] == '>')
			return -EINVAL;
	}
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-.!%*_+`'~", c) != NULL;
}

int se_feature_events(const char *v, char *out, size_t size)
{
	size_t len = strlen(v), i = 0, used = 0;
	int count = 0;

	if (size == 0)
		return 0;
	out[0] = '\0';
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"')
		v++, len -= 2;
	while (i < len) {
		size_t b, e;
		bool ok = true;

		while (i < len && (is_lws(v[i]) || v[i] == ','))
			i++;
		b = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > b && is_lws(v[e - 1]))
			e--;
		/* "!pkg" says the contact does NOT support pkg (RFC 3840 9). */
		if (e == b || v[b] == '!' || e - b > 64)
			continue;
		for (size_t k = b; k < e; k++)
			ok = ok && is_token_char(v[k]);
		if (!ok || used + (e - b) + 2 > size)
			continue;
		for (size_t k = b; k < e; k++)
			out[used++] = (char)(v[k] >= 'A' && v[k] <= 'Z' ? v[k] + 32 : v[k]);
		out[used++] = '\n';
		out[used] = '\0';
		count++;
	}
	return count;
}

/* Fills the inst and mac index keys of an instance id, as the gateway would look them up. */
static void instance_keys(struct se_contact *c)
{
	struct cm_device d;
	const char *why = NULL;

	c->idx_inst[0] = c->idx_mac[0] = '\0';
	if (cm_device_parse(c->instance, strlen(c->instance), &d, &why) < 0)
		return;
	if (d.kind == CM_DEV_MAC) {
		if (cm_device_key(&d, c->idx_mac, sizeof(c->idx_mac)) < 0)
			c->idx_mac[0] = '\0';
		/* The instance id itself is indexed too, "urn:" lower-cased like cm_device. */
		d.kind = CM_DEV_INST;
		if (cm_snprintf(d.value, sizeof(d.value), "%s", c->instance) < 0)
			return;
		for (int i = 0; i < 4 && d.value[i]; i++)
			d.value[i] = (char)(d.value[i] >= 'A' && d.value[i] <= 'Z' ? d.value[i] + 32
										   : d.value[i]);
	}
	if (d.kind == CM_DEV_INST && cm_device_key(&d, c->idx_inst, sizeof(c->idx_inst)) < 0)
		c->idx_inst[0] = '\0';
}

/* Builds "<uri>;param..." without the expires param, in home. */
static const char *contact_value(su_home_t *home, const sip_contact_t *m, const char *uri)
{
	size_t cap = SE_CONTACT_MAX + 1, len;
	char *buf = su_alloc(home, cap);
	int n;

	if (!buf)
		return NULL;
	n = cm_snprintf(buf, cap, "<%s>", uri);
	if (n < 0)
		return NULL;
	len = (size_t)n;
	for (size_t i = 0; m->m_params && m->m_params[i]; i++) {
		const char *p = m->m_params[i];
		if (strncasecmp(p, "expires", 7) == 0 && (p[7] == '=' || p[7] == '\0'))
			continue;
		n = cm_snprintf(buf + len, cap - len, ";%s", p);
		if (n < 0)
			return NULL;
		len += (size_t)n;
	}
	return buf;
}

#define FAIL(st, ph)                                                                               \
	do {                                                                                       \
		*status = (st);                                                                    \
		*phrase = (ph);                                                                    \
		return -EINVAL;                                                                    \
	} while (0)

int se_register_parse(su_home_t *home, const sip_t *sip, const struct se_reg_limits *lim,
		      struct se_reg_req *out, int *status, const char **phrase)
{
	const sip_to_t *to = sip->sip_to;
	const bool ob_usable = se_outbound_usable(sip);
	long hdr_expires = -1;
	char *s;

	/* Only the head and the contacts in use are cleared: the whole struct is ~20 kB (16
	 * contacts' buffers), and clearing it per REGISTER showed in sip-edge's profile. */
	memset(out, 0, offsetof(struct se_reg_req, path));
	out->path[0] = '\0';
	out->n = 0;
	if (!to || (to->a_url->url_type != url_sip && to->a_url->url_type != url_sips) ||
	    !to->a_url->url_host)
		FAIL(400, "Bad To");
	if (!sip->sip_call_id || !sip->sip_call_id->i_id || !*sip->sip_call_id->i_id)
		FAIL(400, "Bad Call-ID");
	if (!sip->sip_cseq || sip->sip_cseq->cs_method != sip_method_register)
		FAIL(400, "Bad CSeq");
	for (const msg_header_t *h = (const msg_header_t *)sip->sip_error; h; h = h->sh_next) {
		const char *name = h->sh_error->er_name;
		/* A Contact or Expires sofia could not parse would otherwise just vanish. */
		if (name && (strcasecmp(name, "Contact") == 0 || strcasecmp(name, "m") == 0))
			FAIL(400, "Bad Contact");
		if (name && strcasecmp(name, "Expires") == 0)
			FAIL(400, "Bad Expires");
	}
	{
		int pl = se_path_join(sip, out->path, sizeof(out->path));
		if (pl == -E2BIG)
			FAIL(400, "Path Too Long");
		if (pl < 0)
			FAIL(400, "Bad Path");
	}
	out->path_supported = se_supports(sip, "path");
	out->first_hop = se_first_hop(sip);

	s = url_as_string(home, to->a_url);
	if (!s || cm_aor_normalize(s, strlen(s), out->aor, sizeof(out->aor)) < 0)
		FAIL(400, "Bad To");
	{
		struct cm_device d = {.kind = CM_DEV_AOR};
		if (cm_snprintf(d.value, sizeof(d.value), "%s", out->aor) < 0 ||
		    cm_device_key(&d, out->idx_aor, sizeof(out->idx_aor)) < 0)
			FAIL(400, "Bad To");
	}
	if (to->a_url->url_user && *to->a_url->url_user) {
		/* The number is the user part as given: cm_device_parse would reclassify a
		 * 12-digit number as a MAC, which is the API's business, not the index's. */
		struct cm_device d = {.kind = CM_DEV_NUM};
		if (cm_snprintf(d.value, sizeof(d.value), "%s", to->a_url->url_user) < 0 ||
		    cm_device_key(&d, out->idx_num, sizeof(out->idx_num)) < 0)
			FAIL(400, "Bad To");
	}

	out->call_id = sip->sip_call_id->i_id;
	out->cseq = sip->sip_cseq->cs_seq;
	out->user_agent = sip->sip_user_agent && sip->sip_user_agent->g_string
			      ? sip->sip_user_agent->g_string
			      : "";
	out->subscribed = se_sip_accepts_contact_me(sip);
	if (sip->sip_expires)
		hdr_expires =
		    (long)(sip->sip_expires->ex_delta > 100000000UL ? 100000000UL
								    : sip->sip_expires->ex_delta);

	if (!sip->sip_contact) {
		/* No Contact: a query (RFC 3261 10.2.3); the 200 lists the current contacts. */
		out->query = true;
		return 0;
	}
	if (sip->sip_contact->m_url->url_type == url_any) {
		/* RFC 3261 10.3 step 6: "*" only alone and only with Expires: 0. */
		if (sip->sip_contact->m_next || hdr_expires != 0)
			FAIL(400, "Wildcard Contact needs Expires: 0 and no other Contact");
		out->wildcard = true;
		return 0;
	}

	for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
		struct se_contact *c;
		const char *inst;
		long e;

		if (m->m_url->url_type == url_any)
			FAIL(400, "Wildcard Contact needs Expires: 0 and no other Contact");
		if (out->n == SE_REG_CONTACTS_MAX)
			FAIL(400, "Too Many Contacts");
		if (m->m_url->url_type != url_sip && m->m_url->url_type != url_sips)
			FAIL(400, "Bad Contact URI scheme");
		c = &out->c[out->n++];
		memset(c, 0, sizeof(*c));

		c->uri = url_as_string(home, m->m_url);
		if (!c->uri || strlen(c->uri) > SE_CONTACT_MAX / 2)
			FAIL(400, "Bad Contact");
		c->contact = contact_value(home, m, c->uri);
		if (!c->contact)
			FAIL(400, "Contact Too Long");

		inst = msg_params_find(m->m_params, "+sip.instance=");
		if (inst && se_instance_value(inst, c->instance, sizeof(c->instance)) < 0)
			FAIL(400, "Bad +sip.instance");
		instance_keys(c);
		{
			const char *ev = msg_params_find(m->m_params, "+sip.events=");
			if (ev)
				se_feature_events(ev, c->ftags, sizeof(c->ftags));
		}

		if (m->m_expires) {
			e = parse_delta(m->m_expires);
			if (e < 0)
				FAIL(400, "Bad Contact expires");
		} else if (hdr_expires >= 0) {
			e = hdr_expires;
		} else {
			e = lim->default_expires;
		}
		if (e > 0 && e < lim->min_expires)
			FAIL(423, "Interval Too Brief");
		if (e > lim->max_expires)
			e = lim->max_expires;
		c->expires = e;

		{
			const char *rid = msg_params_find(m->m_params, "reg-id=");
			if (!rid && msg_params_find(m->m_params, "reg-id"))
				rid = "";
			/* A reg-id without +sip.instance names no flow: it is ignored, as Kamailio
			 * and other registrars do, and the contact binds as in RFC 3261. */
			if (rid && !c->instance[0])
				rid = NULL;
			if (rid && !(c->reg_id = se_regid_value(rid)))
				FAIL(400, "Bad reg-id");
			/* Behind a proxy without outbound support the reg-id is ignored (RFC 5626
			 * 6); the binding is then the instance's, as without reg-id. */
			if (c->reg_id && !ob_usable)
				c->reg_id = 0;
			out->outbound = out->outbound || c->reg_id;
		}
		if (c->reg_id) {
			char key[SE_INSTANCE_MAX + 32];
			if (se_flow_key(c->instance, c->reg_id, key, sizeof(key)) < 0 ||
			    se_binding_id(out->aor, key, c->binding_id) < 0)
				FAIL(500, "Internal Server Error");
		} else if (se_binding_id(out->aor, c->instance[0] ? c->instance : c->uri,
					 c->binding_id) < 0) {
			FAIL(500, "Internal Server Error");
		}
	}
	return 0;
}

static void arg(struct se_reg_args *a, const char *s)
{
	a->argv[a->argc] = s;
	a->argvlen[a->argc] = strlen(s);
	a->argc++;
}

void se_register_args(const struct se_reg_req *req, const struct se_reg_origin *o,
		      struct se_reg_args *a)
{
	a->argc = 0;
	cm_snprintf(a->now, sizeof(a->now), "%lld", (long long)o->now_ms);
	cm_snprintf(a->cseq, sizeof(a->cseq), "%lu", (unsigned long)req->cseq);
	cm_snprintf(a->maxb, sizeof(a->maxb), "%d", SE_AOR_BINDINGS_MAX);
	cm_snprintf(a->n, sizeof(a->n), "%zu", req->wildcard ? (size_t)0 : req->n);

	arg(a, CM_KEY_BINDING);
	arg(a, a->now);
	arg(a, req->aor);
	arg(a, req->call_id);
	arg(a, a->cseq);
	arg(a, req->user_agent);
	arg(a, o->edge);
	arg(a, o->source);
	arg(a, o->transport);
	arg(a, o->flow);
	arg(a, req->subscribed ? "1" : "0");
	arg(a, req->wildcard ? "1" : "0");
	arg(a, req->idx_aor);
	arg(a, req->idx_num);
	arg(a, a->maxb);
	arg(a, a->n);
	cm_snprintf(a->limit, sizeof(a->limit), "%d", o->claim_limit);
	for (size_t i = 0; !req->wildcard && i < req->n; i++) {
		const struct se_contact *c = &req->c[i];
		long long exp = c->expires ? o->now_ms + (long long)c->expires * 1000 : 0;
		const char *sep = c->idx_inst[0] && c->idx_mac[0] ? "\n" : "";

		cm_snprintf(a->exp[i], sizeof(a->exp[i]), "%lld", exp);
		cm_snprintf(a->idx[i], sizeof(a->idx[i]), "%s%s%s", c->idx_inst, sep, c->idx_mac);
		arg(a, c->binding_id);
		arg(a, c->contact);
		arg(a, c->uri);
		arg(a, c->instance);
		arg(a, a->exp[i]);
		arg(a, a->idx[i]);
		arg(a, c->ftags);
	}
	arg(a, o->accepted ? o->accepted : "");
	arg(a, o->packages ? o->packages : CM_PAYLOAD_EVENT);
	arg(a, o->default_pkg ? o->default_pkg : CM_PAYLOAD_EVENT);
	arg(a, o->notices ? o->notices : "");
	arg(a, o->gateway_url ? o->gateway_url : "");
	arg(a, a->limit);
	/* RFC 3327 path and RFC 5626 reg-ids (one per contact, "0": none). */
	{
		size_t len = 0;
		a->regids[0] = '\0';
		for (size_t i = 0; !req->wildcard && i < req->n; i++) {
			int k = cm_snprintf(a->regids + len, sizeof(a->regids) - len, "%s%lu",
					    i ? " " : "", req->c[i].reg_id);
			if (k > 0)
				len += (size_t)k;
		}
	}
	arg(a, req->path);
	arg(a, a->regids);
	arg(a, o->edge_token ? o->edge_token : "");
}

/* Lua: see proto/redis.md. One registration's ARGV layout is se_register_args'; the script
 * runs the registrations of a batch (se_registrar.c) one after the other, each in its own
 * function call, so they see each other's writes exactly as separate EVALSHAs would. */
struct cm_redis_script se_register_script = {
    .source = SE_LUA_HELPERS
    /* Per call: the strings every registration of a batch repeats (the package list, the
     * notice URLs, Accept and feature-tag sets, the field lists) are parsed once; Lua interns
     * strings, so the lookups below are by pointer. */
    /* E: the empty table the replies share. */
    "local M_list, M_set, M_urls, M_fast, M_full, E = {}, {}, {}, {}, {}, {}\n"
    "local function memo_list(s)\n"
    "  local t = M_list[s]\n"
    "  if not t then t = se_list(s); M_list[s] = t end\n"
    "  return t\n"
    "end\n"
    "local function memo_set(s)\n"
    "  local t = M_set[s]\n"
    "  if not t then\n"
    "    t = {}\n"
    "    for _, p in ipairs(se_list(s)) do t[p] = true end\n"
    "    M_set[s] = t\n"
    "  end\n"
    "  return t\n"
    "end\n"
    "local function memo_urls(s)\n"
    "  local t = M_urls[s]\n"
    "  if not t then\n"
    "    t = {}\n"
    "    for _, l in ipairs(se_list(s)) do\n"
    "      local p, u = string.match(l, '^(%S+) (%S+)$')\n"
    "      if p then t[p] = u end\n"
    "    end\n"
    "    M_urls[s] = t\n"
    "  end\n"
    "  return t\n"
    "end\n"
    /* The refresh fast path's HMGET fields for default package d and package list s. */
    "local function fast_fields(d, s, pkgs)\n"
    "  local byd = M_fast[d] or {}\n"
    "  M_fast[d] = byd\n"
    "  local f = byd[s]\n"
    "  if not f then\n"
    "    f = {'aor', 'contact', 'uri', 'instance', 'transport', 'source', 'edge', 'flow',\n"
    "      'accepted', 'indexes', 'call_id', 'cseq', 'pending_more', 'pkg:' .. d}\n"
    "    for _, p in ipairs(pkgs) do\n"
    "      f[#f+1] = 'pkg:' .. p; f[#f+1] = 'sub:' .. p .. ':expires'\n"
    "    end\n"
    /* A changed path or reg-id, a broken flow to repair, or another process of this edge id
     * (a restart: its NOTIFYs in flight died with it) takes the full path. */
    "    f[#f+1] = 'path'; f[#f+1] = 'reg_id'; f[#f+1] = 'flow_state'; f[#f+1] = 'edge_token'\n"
    "    byd[s] = f\n"
    "  end\n"
    "  return f\n"
    "end\n"
    /* The full path's HMGET fields: what the CSeq check, the move and flow rules and the
     * package rules read (pkg:<d> first, then one per package), then edge_token. */
    "local function full_fields(d, s, pkgs)\n"
    "  local byd = M_full[d] or {}\n"
    "  M_full[d] = byd\n"
    "  local f = byd[s]\n"
    "  if not f then\n"
    "    f = {'call_id', 'cseq', 'indexes', 'edge', 'flow', 'source', 'pending_more',\n"
    "      'flow_state', 'pkg:' .. d}\n"
    "    for _, p in ipairs(pkgs) do f[#f+1] = 'pkg:' .. p end\n"
    "    f[#f+1] = 'edge_token'\n"
    "    byd[s] = f\n"
    "  end\n"
    "  return f\n"
    "end\n"
    /* RFC 3261 10.3 step 7: same Call-ID with a lower CSeq is out of order; an
     * equal one is a retransmission and is simply applied again. */
    "local function in_order(bk, callid, cseq)\n"
    "  local o = redis.call('HMGET', bk, 'call_id', 'cseq')\n"
    "  return not (o[1] and o[1] == callid and tonumber(o[2]) and tonumber(o[2]) > cseq)\n"
    "end\n"
    /* o: the binding's indexes, edge and flow when already read. */
    "local function remove(P, aorkey, bid, gone, o)\n"
    "  o = o or redis.call('HMGET', P .. bid, 'indexes', 'edge', 'flow')\n"
    "  for _, k in ipairs(se_list(o[1])) do redis.call('ZREM', k, bid) end\n"
    "  redis.call('ZREM', aorkey, bid)\n"
    "  if redis.call('DEL', P .. bid) == 1 then\n"
    "    gone[#gone+1] = bid; gone[#gone+1] = o[2] or ''; gone[#gone+1] = o[3] or ''\n"
    "  end\n"
    "end\n"
    /* Whether any pending set of the device ids in idx exists: one EXISTS, where se_claim
     * would look into each set (nearly always none exists for a new binding). */
    "local function pending_any(idx)\n"
    "  local ks = {}\n"
    "  for _, k in ipairs(idx) do ks[#ks+1] = SE_PENDP .. string.sub(k, #SE_DEVP + 1) end\n"
    "  return redis.call('EXISTS', unpack(ks)) > 0\n"
    "end\n"
    /* The 200 lists every live contact of the AOR. A binding's score in the AOR set is its
     * expiry (written together with `expires`), so only the contact is read, and not even
     * that for the binding just refreshed. */
    "local function listing(P, aorkey, nows, now, mine, mycontact)\n"
    "  local out = {}\n"
    "  local z = redis.call('ZRANGEBYSCORE', aorkey, nows, '+inf', 'WITHSCORES')\n"
    "  for i = 1, #z, 2 do\n"
    "    local c = mycontact\n"
    "    if z[i] ~= mine then c = redis.call('HGET', P .. z[i], 'contact') end\n"
    "    if c then\n"
    "      local left = math.floor((tonumber(z[i + 1]) - now + 999) / 1000)\n"
    "      if left > 0 then out[#out+1] = c; out[#out+1] = tostring(left) end\n"
    "    end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    /* One registration: its arguments (se_register_args' layout) are A[o + 1] ... */
    "local function se_register_one(A, o)\n"
    "local P, now = A[o + 1], tonumber(A[o + 2])\n"
    "local callid, cseq = A[o + 4], tonumber(A[o + 5])\n"
    "local edge, flow, source = A[o + 7], A[o + 10], A[o + 8]\n"
    "local aorkey, numkey = A[o + 13], A[o + 14]\n"
    "local maxb, n = tonumber(A[o + 15]), tonumber(A[o + 16])\n"
    "local X = o + 17 + 7 * n\n"
    "local accepted, pkgs_s, dpkg = A[X], A[X + 1], A[X + 2]\n"
    "local pkgs, acc = memo_list(pkgs_s), memo_set(accepted)\n"
    "local gw, limit = A[X + 4], tonumber(A[X + 5])\n"
    /* RFC 3327 path of the REGISTER; RFC 5626 reg-id per contact ('0': none). */
    "local path = A[X + 6]\n"
    /* This process's instance token: edge_token of the bindings it writes. */
    "local tok = A[X + 8]\n"
    /* Expired members are dropped on the full and wildcard paths; the listing and readers
     * skip them anyway, so the refresh fast path leaves them. */
    "if A[o + 12] == '1' then\n"
    "  redis.call('ZREMRANGEBYSCORE', aorkey, '-inf', '(' .. A[o + 2])\n"
    "  local ids = redis.call('ZRANGE', aorkey, 0, -1)\n"
    "  for _, bid in ipairs(ids) do\n"
    "    if not in_order(P .. bid, callid, cseq) then return {'err', 'cseq'} end\n"
    "  end\n"
    "  local gone = {}\n"
    "  for _, bid in ipairs(ids) do remove(P, aorkey, bid, gone) end\n"
    "  return {'ok', E, gone, E, E}\n"
    "end\n"
    /* Fast path: most REGISTERs are refreshes of one binding that change nothing but the
     * expiry (same contact, source, flow, edge, Accept, instance, Call-ID, in-order CSeq, no
     * package state to change, no claims owed). They only move the expiry: one HMGET instead
     * of the ~20 commands below (docs/performance.md). Anything else takes the full path. */
    /* pre0: what the fast path read, as the full path's read of the same binding (its fields
     * are a superset; nothing was written in between), so a new binding is read once. */
    "local pre0 = nil\n"
    "if n == 1 and A[o + 21] ~= '0' then\n"
    "  local bid, ex = A[o + 17], A[o + 21]\n"
    "  local bk = P .. bid\n"
    "  local idx = {aorkey}\n"
    "  if numkey ~= '' then idx[#idx+1] = numkey end\n"
    "  for _, k in ipairs(se_list(A[o + 22])) do idx[#idx+1] = k end\n"
    "  local f = fast_fields(dpkg, pkgs_s, pkgs)\n"
    "  local r = redis.call('HMGET', bk, unpack(f))\n"
    "  local nf = #f\n"
    /* One contact: its reg-id list is that one number. */
    "  local rid = A[X + 7]\n"
    "  if rid == '0' then rid = '' end\n"
    "  local same = not r[13] and tonumber(r[12]) and tonumber(r[12]) <= cseq and\n"
    "    (r[nf - 3] or '') == path and (r[nf - 2] or '') == rid and not r[nf - 1] and\n"
    "    (r[nf] or '') == tok and\n"
    "    r[1] == A[o + 3] and r[2] == A[o + 18] and r[3] == A[o + 19] and r[4] == A[o + 20] and\n"
    "    r[5] == A[o + 9] and r[6] == source and r[7] == edge and r[8] == flow and\n"
    "    r[9] == accepted and r[11] == callid and r[10] == table.concat(idx, '\\n')\n"
    "  local have = {}\n"
    "  if same then\n"
    "    local ftag = memo_set(A[o + 23])\n"
    "    for i, p in ipairs(pkgs) do\n"
    "      local cur, sx = r[13 + 2 * i], tonumber(r[14 + 2 * i])\n"
    "      local w = false\n"
    "      if cur == 'subscribe' then\n"
    "        if sx and sx > now then w = cur end\n"
    "      elseif acc[p] then w = 'accept'\n"
    "      elseif ftag[string.lower(p)] then w = 'feature-tag' end\n"
    "      if w ~= cur then same = false; break elseif w then have[#have+1] = p end\n"
    "    end\n"
    "  end\n"
    /* XX CH: 1 only if the binding was in the AOR set (its score moves with each refresh). */
    "  if same and redis.call('ZADD', aorkey, 'XX', 'CH', ex, bid) == 1 then\n"
    "    local sub = r[14] and '1' or '0'\n"
    "    redis.call('HSET', bk, 'expires', ex, 'cseq', A[o + 5], 'user_agent', A[o + 6],\n"
    "      'updated', A[o + 2])\n"
    "    redis.call('PEXPIREAT', bk, ex)\n"
    /* GT leaves a key without a TTL alone: then set it, as the full path would. */
    "    for i, k in ipairs(idx) do\n"
    "      if i > 1 then redis.call('ZADD', k, ex, bid) end\n"
    "      if redis.call('PEXPIREAT', k, ex, 'GT') == 0 and redis.call('PTTL', k) == -1 then\n"
    "        redis.call('PEXPIREAT', k, ex)\n"
    "      end\n"
    "    end\n"
    "    return {'ok', listing(P, aorkey, A[o + 2], now, bid, A[o + 18]), E, E,\n"
    "      {bid, sub, table.concat(have, ',')}}\n"
    "  end\n"
    "  pre0 = {r[11], r[12], r[10], r[7], r[8], r[6], r[13], r[nf - 1], r[14]}\n"
    "  for i = 1, #pkgs do pre0[9 + i] = r[13 + 2 * i] end\n"
    "  pre0[10 + #pkgs] = r[nf]\n"
    "end\n"
    "local gone, claims, infos = {}, {}, {}\n"
    "local regids = {}\n"
    "for r in string.gmatch(A[X + 7], '%d+') do\n"
    "  if r == '0' then r = '' end\n"
    "  regids[#regids+1] = r\n"
    "end\n"
    "local urls = memo_urls(A[X + 3])\n"
    /* The full path. One ZRANGE of the AOR set stands for the old ZREMRANGEBYSCORE, ZCOUNT,
     * a ZSCORE per contact and the listing's ZRANGEBYSCORE: the script tracks the set's
     * members and scores (only its own ZADD/ZREM change them) and lists from that. Each
     * binding hash is read once, with every field the checks and the package rules need. */
    "local z = redis.call('ZRANGE', aorkey, 0, -1, 'WITHSCORES')\n"
    "local score, live, stale = {}, 0, false\n"
    "for i = 1, #z, 2 do\n"
    "  local s = tonumber(z[i + 1])\n"
    "  if s < now then stale = true else score[z[i]] = s; live = live + 1 end\n"
    "end\n"
    "if stale then redis.call('ZREMRANGEBYSCORE', aorkey, '-inf', '(' .. A[o + 2]) end\n"
    "local F = full_fields(dpkg, pkgs_s, pkgs)\n"
    "local T = 10 + #pkgs\n" /* edge_token's index in F */
    "local pre, adds = {}, 0\n"
    "for i = 0, n - 1 do\n"
    "  local b = o + 17 + 7 * i\n"
    "  local h = pre0 or redis.call('HMGET', P .. A[b], unpack(F))\n"
    "  if h[1] and h[1] == callid and tonumber(h[2]) and tonumber(h[2]) > cseq then\n"
    "    return {'err', 'cseq'}\n"
    "  end\n"
    "  pre[i] = h\n"
    "  if A[b + 4] ~= '0' and not score[A[b]] then adds = adds + 1 end\n"
    "end\n"
    "if adds > 0 and live + adds > maxb then return {'err', 'too-many'} end\n"
    "local mine, done = {}, {}\n"
    "for i = 0, n - 1 do\n"
    "  local b = o + 17 + 7 * i\n"
    "  local bid, exp = A[b], tonumber(A[b + 4])\n"
    "  local bk = P .. bid\n"
    /* The same binding twice in one REGISTER: the second sees the first's writes. */
    "  local h = pre[i]\n"
    "  if done[bid] then h = redis.call('HMGET', bk, unpack(F)) end\n"
    "  done[bid] = true\n"
    "  if exp == 0 then\n"
    "    remove(P, aorkey, bid, gone, {h[3], h[4], h[5]})\n"
    "    score[bid] = nil\n"
    "  else\n"
    "    local isnew = not h[4]\n"
    /* A registration from a new flow may reach a device that earlier NOTIFYs missed. */
    "    local moved = h[4] and (h[4] ~= edge or (h[5] or '') ~= flow or\n"
    "      (h[6] or '') ~= source)\n"
    /* Same edge id, flow and source, but registered by another process of that edge: it
     * restarted (kill -9, crash), and the NOTIFYs it had in flight died with it, their
     * stream entries already acknowledged. Its queued/sent targets are sent again as for a
     * moved binding, except those this process holds itself: it has caught up on them from
     * its stream already, over this same flow (se_claim's mv = our token). */
    "    local restarted = h[4] and not moved and (h[T] or '') ~= tok\n"
    "    local idx = {aorkey}\n"
    "    if numkey ~= '' then idx[#idx+1] = numkey end\n"
    "    for _, k in ipairs(se_list(A[b + 5])) do idx[#idx+1] = k end\n"
    "    local keep = {}\n"
    "    for _, k in ipairs(idx) do keep[k] = true end\n"
    "    for _, k in ipairs(se_list(h[3])) do\n"
    "      if not keep[k] then redis.call('ZREM', k, bid) end\n"
    "    end\n"
    "    if h[4] and (h[4] ~= edge or (h[5] or '') ~= flow) then\n"
    "      gone[#gone+1] = bid; gone[#gone+1] = h[4]; gone[#gone+1] = h[5] or ''\n"
    "    end\n"
    /* Implicit subscription by Accept; an explicit SUBSCRIBE dialog outranks it. Unless a
     * package is held by a SUBSCRIBE dialog (whose expiry se_pkg checks, after the HSET below,
     * as before), the package fields and `subscribed` are known from the read above and go
     * into the binding's one HSET (se_pkg and se_set_subscribed would read what it holds). */
    "    local ftag, slow, seen = memo_set(A[b + 6]), false, {}\n"
    "    for k, p in ipairs(pkgs) do\n"
    "      if h[9 + k] == 'subscribe' or seen[p] then slow = true end\n"
    "      seen[p] = true\n"
    "    end\n"
    "    local f = {bk, 'aor', A[o + 3], 'contact', A[b + 1],\n"
    "      'uri', A[b + 2], 'instance', A[b + 3], 'transport', A[o + 9],\n"
    "      'source', source, 'edge', edge, 'flow', flow, 'accepted', accepted,\n"
    "      'expires', A[b + 4], 'call_id', callid, 'cseq', A[o + 5],\n"
    "      'user_agent', A[o + 6], 'updated', A[o + 2], 'indexes', table.concat(idx, '\\n'),\n"
    "      'path', path, 'reg_id', regids[i + 1] or '', 'edge_token', tok}\n"
    /* A new REGISTER repairs a broken flow (proto/redis.md "Bindings"). */
    "    local hd = {bk}\n"
    "    if h[8] then hd[2] = 'flow_state' end\n"
    "    local newly, have, notes, sub = false, {}, {}, nil\n"
    "    if not slow then\n"
    "      sub = h[9] and '1' or '0'\n"
    "      for k, p in ipairs(pkgs) do\n"
    "        local cur, want = h[9 + k] or false, false\n"
    "        if acc[p] then want = 'accept'\n"
    "        elseif ftag[string.lower(p)] then want = 'feature-tag' end\n"
    "        if want and want ~= cur then f[#f+1] = 'pkg:' .. p; f[#f+1] = want\n"
    "        elseif not want and cur then hd[#hd+1] = 'pkg:' .. p end\n"
    "        if p == dpkg then sub = want and '1' or '0' end\n"
    "        if want then\n"
    "          have[#have+1] = p\n"
    "          if not cur then newly = true; notes[#notes+1] = p end\n"
    "        end\n"
    "      end\n"
    "      f[#f+1] = 'subscribed'; f[#f+1] = sub\n"
    "    end\n"
    "    redis.call('HSET', unpack(f))\n"
    "    if #hd > 1 then redis.call('HDEL', unpack(hd)) end\n"
    "    redis.call('PEXPIREAT', bk, A[b + 4])\n"
    /* PEXPIREAT ... GT never sets a TTL on a key that has none (a key just created by the
     * ZADD), hence NX first: one command for a new key, two for an existing one. */
    "    for _, k in ipairs(idx) do\n"
    "      redis.call('ZADD', k, A[b + 4], bid)\n"
    "      if redis.call('PEXPIREAT', k, exp, 'NX') == 0 then\n"
    "        redis.call('PEXPIREAT', k, exp, 'GT')\n"
    "      end\n"
    "    end\n"
    "    score[bid] = exp; mine[bid] = A[b + 1]\n"
    "    if slow then\n"
    "      for _, p in ipairs(pkgs) do\n"
    "        local cur = se_pkg(bk, p, now)\n"
    "        local want = false\n"
    "        if cur == 'subscribe' then want = cur elseif acc[p] then want = 'accept'\n"
    "        elseif ftag[string.lower(p)] then want = 'feature-tag' end\n"
    "        if want and want ~= cur then redis.call('HSET', bk, 'pkg:' .. p, want)\n"
    "        elseif not want and cur then redis.call('HDEL', bk, 'pkg:' .. p) end\n"
    "        if want then\n"
    "          have[#have+1] = p\n"
    "          if not cur then newly = true; se_notice(urls[p], idx, p, gw) end\n"
    "        end\n"
    "      end\n"
    "      sub = se_set_subscribed(bk, dpkg)\n"
    "    else\n"
    "      for _, p in ipairs(notes) do se_notice(urls[p], idx, p, gw) end\n"
    "    end\n"
    "    local got, more = {}, false\n"
    "    if #have > 0 and (isnew or newly or moved or restarted or h[7] == '1' or h[8]) then\n"
    "      if #claims / 2 >= limit then more = true\n"
    "      elseif pending_any(idx) then more = se_claim(bk, bid, idx, now,\n"
    "        limit - #claims / 2, false, false, got, dpkg, isnew or moved or (restarted and tok))\n"
    "      end\n"
    "    end\n"
    "    for _, ref in ipairs(got) do claims[#claims+1] = bid; claims[#claims+1] = ref end\n"
    "    if more then redis.call('HSET', bk, 'pending_more', '1')\n"
    "    elseif h[7] then redis.call('HDEL', bk, 'pending_more') end\n"
    "    infos[#infos+1] = bid; infos[#infos+1] = sub; infos[#infos+1] = table.concat(have, ',')\n"
    "  end\n"
    "end\n"
    /* The 200 lists every live contact of the AOR, in the set's order (score, then id). */
    "local ids, out = {}, {}\n"
    "for bid, s in pairs(score) do if s >= now then ids[#ids+1] = bid end end\n"
    "table.sort(ids, function(a, b)\n"
    "  if score[a] ~= score[b] then return score[a] < score[b] end\n"
    "  return a < b\n"
    "end)\n"
    "for _, bid in ipairs(ids) do\n"
    "  local c = mine[bid]\n"
    "  if not c then c = redis.call('HGET', P .. bid, 'contact') end\n"
    "  if c then\n"
    "    local left = math.floor((score[bid] - now + 999) / 1000)\n"
    "    if left > 0 then out[#out+1] = c; out[#out+1] = tostring(left) end\n"
    "  end\n"
    "end\n"
    "return {'ok', out, gone, claims, infos}\n"
    "end\n"
    /* Batch framing: ARGV[1] = k, then k times (argc, argc arguments). A failing registration
     * (a Lua or command error) becomes an error element; the others still run. */
    "local all, out, at = ARGV, {}, 2\n"
    "for j = 1, tonumber(all[1]) do\n"
    "  local argc = tonumber(all[at])\n"
    "  local ok, res = pcall(se_register_one, all, at)\n"
    "  if ok then out[j] = res\n"
    "  elseif type(res) == 'table' and res.err then out[j] = res\n"
    "  else out[j] = {err = tostring(res)} end\n"
    "  at = at + 1 + argc\n"
    "end\n"
    "return out\n",
};
