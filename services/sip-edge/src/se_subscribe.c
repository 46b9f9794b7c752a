/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SUBSCRIBE to dialog: the subscriber is named by its From URI (its AOR, as registered) and
 * the +sip.instance or URI of its Contact; the package by the Event type, which must be one
 * of the configured packages. Expiry follows the registration rules (header, else
 * default-expires; below min-expires → 423; above max-expires → clamped); the script then
 * caps it at the binding's own expiry.
 */
#include "se_subscribe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/url.h>

#include "cm/digest.h"
#include "cm/payload.h"
#include "cm/str.h"
#include "se_lua.h"

int se_subscribe_tag(const char *call_id, const char *from_tag, char out[SE_TAG_LEN + 1])
{
	const char *parts[] = {call_id, from_tag};

	return cm_digest_hex(CM_DIGEST_SHA256, parts, 2, '\n', out, SE_TAG_LEN);
}

/* "<uri>, <uri>" of the Record-Route set, in the order received (we are the UAS). */
static const char *route_set(su_home_t *home, const sip_record_route_t *rr)
{
	char *buf;
	size_t len = 0;

	if (!rr)
		return "";
	buf = su_alloc(home, SE_ROUTE_MAX + 1);
	if (!buf)
		return NULL;
	buf[0] = '\0';
	for (; rr; rr = rr->r_next) {
		char *u = url_as_string(home, rr->r_url);
		int n;
		if (!u)
			return NULL;
		n = cm_snprintf(buf + len, SE_ROUTE_MAX + 1 - len, "%s<%s>", len ? ", " : "", u);
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

int se_subscribe_parse(su_home_t *home, const sip_t *sip, const struct se_config *cfg,
		       struct se_sub_req *out, int *status, const char **phrase)
{
	const sip_from_t *from = sip->sip_from;
	const sip_contact_t *m = sip->sip_contact;
	const char *inst, *ev;
	char *s;
	long e;

	memset(out, 0, sizeof(*out));
	if (!sip->sip_event || !sip->sip_event->o_type)
		FAIL(489, "Bad Event");
	ev = sip->sip_event->o_type;
	out->pkg = se_config_package(cfg, ev, strlen(ev));
	if (!out->pkg)
		FAIL(489, "Bad Event");
	if (sip->sip_accept && !se_sip_accepts(sip, out->pkg->media))
		FAIL(406, "Not Acceptable");
	if (!from || (from->a_url->url_type != url_sip && from->a_url->url_type != url_sips) ||
	    !from->a_url->url_host || !from->a_tag || !*from->a_tag)
		FAIL(400, "Bad From");
	if (!sip->sip_to)
		FAIL(400, "Bad To");
	if (!sip->sip_call_id || !sip->sip_call_id->i_id || !*sip->sip_call_id->i_id)
		FAIL(400, "Bad Call-ID");
	if (!sip->sip_cseq || sip->sip_cseq->cs_method != sip_method_subscribe)
		FAIL(400, "Bad CSeq");
	if (!m || m->m_next || (m->m_url->url_type != url_sip && m->m_url->url_type != url_sips))
		FAIL(400, "Bad Contact");

	s = url_as_string(home, from->a_url);
	if (!s || cm_aor_normalize(s, strlen(s), out->aor, sizeof(out->aor)) < 0)
		FAIL(400, "Bad From");
	{
		struct cm_device d = {.kind = CM_DEV_AOR};
		if (cm_snprintf(d.value, sizeof(d.value), "%s", out->aor) < 0 ||
		    cm_device_key(&d, out->idx_aor, sizeof(out->idx_aor)) < 0)
			FAIL(400, "Bad From");
	}
	out->uri = url_as_string(home, m->m_url);
	if (!out->uri || strlen(out->uri) > SE_CONTACT_MAX / 2)
		FAIL(400, "Bad Contact");
	inst = msg_params_find(m->m_params, "+sip.instance=");
	if (inst && se_instance_value(inst, out->instance, sizeof(out->instance)) < 0)
		FAIL(400, "Bad +sip.instance");

	out->call_id = sip->sip_call_id->i_id;
	out->cseq = sip->sip_cseq->cs_seq;
	out->to_tag = sip->sip_to->a_tag ? sip->sip_to->a_tag : "";
	if (*out->to_tag) {
		if (strlen(out->to_tag) > SE_TAG_LEN)
			FAIL(481, "Subscription Does Not Exist"); /* never one of our tags */
		cm_snprintf(out->local_tag, sizeof(out->local_tag), "%s", out->to_tag);
	} else if (se_subscribe_tag(out->call_id, from->a_tag, out->local_tag) < 0) {
		FAIL(500, "Internal Server Error");
	}

	if (sip->sip_expires)
		e = (long)(sip->sip_expires->ex_delta > 100000000UL ? 100000000UL
								    : sip->sip_expires->ex_delta);
	else
		e = cfg->default_expires;
	if (e > 0 && e < cfg->min_expires)
		FAIL(423, "Interval Too Brief");
	if (e > cfg->max_expires)
		e = cfg->max_expires;
	out->expires = e;

	out->route = route_set(home, sip->sip_record_route);
	if (!out->route)
		FAIL(400, "Bad Record-Route");
	out->to = sip_to_dup(home, sip->sip_to);
	if (!out->to || (!*out->to_tag && sip_to_tag(home, out->to, out->local_tag) < 0))
		FAIL(500, "Internal Server Error");
	{
		char *to_uri = url_as_string(home, sip->sip_to->a_url);
		char *from_uri = url_as_string(home, from->a_url);
		out->local =
		    to_uri ? su_sprintf(home, "<%s>;tag=%s", to_uri, out->local_tag) : NULL;
		out->remote =
		    from_uri ? su_sprintf(home, "<%s>;tag=%s", from_uri, from->a_tag) : NULL;
	}
	out->event = sip->sip_event->o_id
			 ? su_sprintf(home, "%s;id=%s", out->pkg->name, sip->sip_event->o_id)
			 : out->pkg->name;
	if (!out->local || !out->remote || !out->event)
		FAIL(500, "Internal Server Error");
	return 0;
}

void se_subscribe_args(const struct se_sub_req *req, const char *edge, const char *gateway_url,
		       int64_t now_ms, struct se_sub_args *a)
{
	int i = 0;

	cm_snprintf(a->now, sizeof(a->now), "%lld", (long long)now_ms);
	cm_snprintf(a->exp, sizeof(a->exp), "%ld", req->expires);
	cm_snprintf(a->cseq, sizeof(a->cseq), "%lu", (unsigned long)req->cseq);
	cm_snprintf(a->limit, sizeof(a->limit), "%d", SE_STATE_RECORDS);
	cm_snprintf(a->body, sizeof(a->body), "%d", SE_STATE_BODY);
	a->argv[i++] = a->now;
	a->argv[i++] = req->idx_aor;
	a->argv[i++] = req->instance;
	a->argv[i++] = req->uri;
	a->argv[i++] = edge;
	a->argv[i++] = req->pkg->name;
	a->argv[i++] = a->exp;
	a->argv[i++] = req->call_id;
	a->argv[i++] = req->to_tag;
	a->argv[i++] = req->local_tag;
	a->argv[i++] = a->cseq;
	a->argv[i++] = req->uri;
	a->argv[i++] = req->route;
	a->argv[i++] = req->local;
	a->argv[i++] = req->remote;
	a->argv[i++] = req->event;
	a->argv[i++] = SE_DEFAULT_PACKAGE;
	a->argv[i++] = req->pkg->notice_url;
	a->argv[i++] = gateway_url ? gateway_url : "";
	a->argv[i++] = a->limit;
	a->argv[i++] = a->body;
	for (int k = 0; k < SE_SUB_ARGS; k++)
		a->argvlen[k] = strlen(a->argv[k]);
}

/* ARGV layout is se_subscribe_args'. */
struct cm_redis_script se_subscribe_script = {
    .source = SE_LUA_HELPERS
    "local now, P = tonumber(ARGV[1]), '" CM_KEY_BINDING "'\n"
    "local p, dpkg = ARGV[6], ARGV[17]\n"
    "local bid\n"
    /* The subscriber is a live binding of its AOR: same instance id, or same Contact URI. */
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', ARGV[2], ARGV[1], '+inf')) do\n"
    "  local h = redis.call('HMGET', P .. id, 'instance', 'uri')\n"
    "  if (ARGV[3] ~= '' and h[1] == ARGV[3]) or h[2] == ARGV[4] then bid = id break end\n"
    "end\n"
    "if not bid then return {'err', 'register-first'} end\n"
    "local bk = P .. bid\n"
    "local b = redis.call('HMGET', bk, 'edge', 'expires', 'transport', 'source', 'flow',\n"
    "  'indexes')\n"
    "if b[1] ~= ARGV[5] or not (tonumber(b[2]) and tonumber(b[2]) > now) then\n"
    "  return {'err', 'register-first'}\n"
    "end\n"
    "local pre = 'sub:' .. p .. ':'\n"
    "local cur = se_pkg(bk, p, now)\n"
    "local d = redis.call('HMGET', bk, pre .. 'call_id', pre .. 'ltag', pre .. 'rcseq')\n"
    "local same = d[1] == ARGV[8] and d[2] == ARGV[10]\n"
    "if ARGV[9] ~= '' and not same then return {'err', 'no-dialog'} end\n"
    "if same and tonumber(d[3]) and tonumber(d[3]) > tonumber(ARGV[11]) then\n"
    "  return {'err', 'cseq'}\n"
    "end\n"
    "local want = tonumber(ARGV[7])\n"
    "local left = math.floor((tonumber(b[2]) - now) / 1000)\n"
    "if want > left then want = left end\n"
    "local idx = se_list(b[6])\n"
    "local refs, bodies, extra = {}, {}, {}\n"
    "if want <= 0 then\n"
    "  local cs = 1\n"
    "  if same then\n"
    "    cs = redis.call('HINCRBY', bk, pre .. 'cseq', 1)\n"
    "    redis.call('HSET', bk, pre .. 'expires', '0')\n"
    "    se_pkg(bk, p, now)\n"
    "    se_set_subscribed(bk, dpkg)\n"
    "  end\n"
    "  return {'ok', 'terminated', bid, '0', tostring(cs), b[3], b[4], b[5] or '', refs,\n"
    "    bodies, '0', extra}\n"
    "end\n"
    "if not same then se_drop_dialog(bk, p) end\n"
    "redis.call('HSET', bk, pre .. 'call_id', ARGV[8], pre .. 'ltag', ARGV[10],\n"
    "  pre .. 'rcseq', ARGV[11], pre .. 'target', ARGV[12], pre .. 'route', ARGV[13],\n"
    "  pre .. 'local', ARGV[14], pre .. 'remote', ARGV[15], pre .. 'event', ARGV[16],\n"
    "  pre .. 'expires', string.format('%d', now + want * 1000), 'pkg:' .. p, 'subscribe')\n"
    "local newly = '0'\n"
    "if not cur then newly = '1'; se_notice(ARGV[18], idx, p, ARGV[19]) end\n"
    "se_set_subscribed(bk, dpkg)\n"
    "local cs = redis.call('HINCRBY', bk, pre .. 'cseq', 1)\n"
    "local got = {}\n"
    "if se_claim(bk, bid, idx, now, tonumber(ARGV[20]), p, true, got, dpkg) then\n"
    "  redis.call('HSET', bk, 'pending_more', '1')\n"
    "end\n"
    /* The state NOTIFY lists what fits its body; the rest go out one by one. */
    "local size, cap = 0, tonumber(ARGV[21])\n"
    "for _, ref in ipairs(got) do\n"
    "  local pl = redis.call('HGET', SE_REQP .. ref, 'payload') or ''\n"
    "  if #refs == 0 or size + #pl + 2 <= cap then\n"
    "    refs[#refs+1] = ref; bodies[#bodies+1] = pl; size = size + #pl + 2\n"
    "  else\n"
    "    extra[#extra+1] = ref\n"
    "  end\n"
    "end\n"
    "return {'ok', 'active', bid, tostring(want), tostring(cs), b[3], b[4], b[5] or '', refs,\n"
    "  bodies, newly, extra}\n",
};
