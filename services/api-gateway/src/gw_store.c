/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Callback requests in Redis (proto/redis.md): one Lua script per operation, so each is
 * atomic. The create script does, in this order, everything that decides the answer before
 * anything is written (idempotency, binding lookup, limits), then the writes (collapse the
 * older request, store, index, publish the wake-ups); a refusal therefore never leaves a
 * trace, and a Redis failure leaves the whole request or nothing. Every status change other
 * than the creation itself goes through transition() (cm/lifecycle.h), which also queues the
 * receipts; creation sends no receipt, since the synchronous answer already says `queued`.
 *
 * Pending requests per client are counted in the sorted set beckon:pending-client:<client>
 * (ref -> deadline). Our own scripts remove a ref there when they finish a request; refs that
 * sip-edge delivers or fails stay until their deadline passes or until the client is at its
 * limit, when the create script drops up to 256 finished ones before it counts again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm/device.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/payload.h"
#include "gw_record.h"
#include "gw_store.h"

#define KEY_PENDING_CLIENT "beckon:pending-client:"
/* proto/redis.md "Channels" and "Liveness"; sip-edge's se_wake.h names the same keys. */
#define GW_KEY_WAKE "beckon:wake:"
#define GW_KEY_ALIVE_EDGE "beckon:alive:edge:"
#define GW_WAKE_MAXLEN "100000"
#define KEY_COLLAPSE "beckon:collapse:"
#define DEVKEY_MAX (sizeof(CM_KEY_DEVICE) + 8 + CM_DEVICE_MAX + 1)
#define REQKEY_MAX (sizeof(CM_KEY_REQUEST) + GW_REF_MAX + 1)
#define PENDKEY_MAX (sizeof(CM_KEY_PENDING) + 8 + CM_DEVICE_MAX + 1)
#define CLIENTKEY_MAX (sizeof(KEY_PENDING_CLIENT) + GW_CLIENT_MAX + 1)
#define COLLAPSEKEY_MAX                                                                            \
	(sizeof(KEY_COLLAPSE) + GW_CLIENT_MAX + 10 + CM_DEVICE_MAX + GW_COLLAPSE_KEY_MAX + 2)

/*
 * KEYS: 1 beckon:dev:<kind>:<value>  2 beckon:req:<ref>  3 beckon:pending:<kind>:<value>
 *       4 beckon:pending-client:<client>  5 beckon:collapse:<client>:<kind>:<value>:<key>
 * ARGV: 1 now  2 expire-s  3 ref  4 request_id  5 device  6 package  7 body  8 payload
 *       9 binding key prefix  10 edge channel prefix  11 max targets  12 deadline  13 client
 *       14 on_behalf_of  15 status_url  16 collapse_key  17 max per device  18 max per client
 *       19 default package  20 ttl_s  21 fallback rules (gw_fallback.h)
 * Returns {'exists', status} {'conflict', status} {'not-found'} {'limit-device', retry-s, n}
 *         {'limit-client', retry-s, n} or {status, targets, failed, collapsed-ref}.
 */
static struct cm_redis_script create_script = {
    .source = CM_LUA_LIFECYCLE GW_FALLBACK_LUA
    "local now, ref, deadline = ARGV[1], ARGV[3], ARGV[12]\n"
    "local nnow = tonumber(now)\n"
    "local ex = redis.call('HMGET', KEYS[2], 'body', 'status')\n"
    "if ex[1] then\n"
    "  if ex[1] == ARGV[7] then return {'exists', ex[2] or ''} end\n"
    "  return {'conflict', ex[2] or ''}\n"
    "end\n"
    /* the device's bindings subscribed to the package, on a live edge */
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0,\n"
    "  tonumber(ARGV[11]))\n"
    "local pkgf, dflt = 'pkg:' .. ARGV[6], ARGV[6] == ARGV[19]\n"
    "local bids, edges, fbs, ops, brk = {}, {}, {}, {}, {}\n"
    "for _, bid in ipairs(ids) do\n"
    "  local h = redis.call('HMGET', ARGV[9] .. bid, pkgf, 'subscribed', 'edge',\n"
    "    'user_agent', 'aor', 'instance', 'flow_state')\n"
    /* its TCP/TLS connection closed (sip-edge se_flowmark.h): no wake-up, the target waits */
    "  brk[bid] = h[7] and true or false\n"
    "  if ((h[1] and h[1] ~= '') or (dflt and h[2] == '1')) and h[3] and h[3] ~= '' then\n"
    "    bids[#bids + 1] = bid\n"
    "    edges[#edges + 1] = h[3]\n"
    "    fbs[bid] = false\n"
    "    ops[bid] = (h[1] and h[1] ~= '') and h[1] or 'accept'\n"
    /* registered but never opted in: the fallback policy may still reach it */
    "  elseif h[3] and h[3] ~= '' then\n"
    "    local ev = gw_fallback(ARGV[21], h[4], h[5], h[6], ARGV[6])\n"
    "    if ev then\n"
    "      bids[#bids + 1] = bid\n"
    "      edges[#edges + 1] = h[3]\n"
    "      fbs[bid] = ev\n"
    "      ops[bid] = 'none'\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #bids == 0 and ARGV[20] == '0' then return {'not-found'} end\n"
    /* the undelivered request this one replaces frees its slot in both limits */
    "local old = false\n"
    "if ARGV[16] ~= '' then\n"
    "  local o = redis.call('GET', KEYS[5])\n"
    "  if o and o ~= ref then\n"
    "    local st = redis.call('HGET', 'beckon:req:' .. o, 'status')\n"
    "    if st == 'queued' or st == 'sent' then old = o end\n"
    "  end\n"
    "end\n"
    "local freed = old and 1 or 0\n"
    "local function retry_after(zk)\n"
    "  local first = redis.call('ZRANGE', zk, 0, 0, 'WITHSCORES')\n"
    "  local s = 1\n"
    "  if first[2] then s = math.ceil((tonumber(first[2]) - nnow) / 1000) end\n"
    "  if s < 1 then s = 1 end\n"
    "  return s\n"
    "end\n"
    "local ndev = redis.call('ZCARD', KEYS[3])\n"
    "local n = ndev - freed\n"
    "if n >= tonumber(ARGV[17]) then return {'limit-device', retry_after(KEYS[3]), n} end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. now)\n"
    "local maxc = tonumber(ARGV[18])\n"
    "n = redis.call('ZCARD', KEYS[4]) - freed\n"
    "if n >= maxc then\n"
    "  local start = nnow % (n + freed)\n"
    "  for _, r in ipairs(redis.call('ZRANGE', KEYS[4], start, start + 255)) do\n"
    "    local st = redis.call('HGET', 'beckon:req:' .. r, 'status')\n"
    "    if st ~= 'queued' and st ~= 'sent' then redis.call('ZREM', KEYS[4], r) end\n"
    "  end\n"
    "  n = redis.call('ZCARD', KEYS[4]) - freed\n"
    "  if n >= maxc then return {'limit-client', retry_after(KEYS[4]), n} end\n"
    "end\n"
    "if old then\n"
    "  transition('beckon:req:' .. old, 'cancelled', now, {reason = 'collapsed'})\n"
    "  redis.call('ZREM', KEYS[4], old)\n"
    "end\n"
    "local f = {'request_id', ARGV[4], 'device', ARGV[5], 'package', ARGV[6],\n"
    "  'body', ARGV[7], 'payload', ARGV[8], 'status', 'queued', 'created', now,\n"
    "  'deadline', deadline, 'pending', KEYS[3], 'client', ARGV[13],\n"
    "  'on_behalf_of', ARGV[14], 'status_url', ARGV[15], 'collapse_key', ARGV[16],\n"
    "  'attempts', 0, 'targets', #bids, 'failed_targets', 0}\n"
    "for i = 1, #bids do\n"
    "  f[#f + 1] = 'target:' .. bids[i]\n"
    "  f[#f + 1] = 'queued'\n"
    "  f[#f + 1] = 'optin:' .. bids[i]\n"
    "  f[#f + 1] = ops[bids[i]]\n"
    "  if fbs[bids[i]] then\n"
    "    f[#f + 1] = 'fallback:' .. bids[i]\n"
    "    f[#f + 1] = fbs[bids[i]]\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[2], unpack(f))\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[2])\n"
    /* The set lives a minute past the latest deadline ever added, in one call where reading
     * the last score and setting it took two. Only this script adds to these sets, always
     * with an expiry, so a set that keeps a member of its own through the removals above
     * (had > freed) has one, which GT only raises; a set that was empty is new (ZADD just
     * created it, no expiry yet). Only a set whose one member may have been the collapsed
     * request is unknown: GT, then NX when GT found no expiry (or an equal one). */
    "local function index(zk, had)\n"
    "  redis.call('ZADD', zk, deadline, ref)\n"
    "  local t = tonumber(deadline) + 60000\n"
    "  if had == 0 then redis.call('PEXPIREAT', zk, t)\n"
    "  elseif redis.call('PEXPIREAT', zk, t, 'GT') == 0 and had <= freed then\n"
    "    redis.call('PEXPIREAT', zk, t, 'NX')\n"
    "  end\n"
    "end\n"
    "index(KEYS[3], ndev)\n"
    "index(KEYS[4], n + freed)\n"
    "redis.call('ZADD', '" CM_KEY_DEADLINES "', deadline, ref)\n"
    "if ARGV[16] ~= '' then redis.call('SET', KEYS[5], ref, 'PXAT', deadline) end\n"
    /* Wake-ups: the edge's stream holds them (read through its consumer group, so one sent
     * while the edge reconnects is not lost); PUBLISH is only its doorbell. An edge without a
     * liveness key is down: that target waits for the device's next registration. */
    "for i = 1, #bids do\n"
    "  if brk[bids[i]] then\n"
    "    redis.call('HSET', KEYS[2], 'target:' .. bids[i], 'waiting:0:flow-broken')\n"
    "  elseif redis.call('EXISTS', '" GW_KEY_ALIVE_EDGE "' .. edges[i]) == 0 then\n"
    "    redis.call('HSET', KEYS[2], 'target:' .. bids[i], 'waiting:0:edge-down')\n"
    /* An edge that ran lately (its stream still exists) may be back soon under the same id
     * with the same flows (restart in place, a Redis outage of its own): it then catches up
     * from the entry. */
    "    if redis.call('EXISTS', '" GW_KEY_WAKE "' .. edges[i]) == 1 then\n"
    "      redis.call('XADD', '" GW_KEY_WAKE "' .. edges[i], 'MAXLEN', '~', " GW_WAKE_MAXLEN ",\n"
    "        '*', 'ref', ref, 'bid', bids[i])\n"
    "    end\n"
    "  else\n"
    /* The doorbell names the entry, so the edge fetches it without reading the stream. */
    "    local id = redis.call('XADD', '" GW_KEY_WAKE "' .. edges[i], 'MAXLEN', '~',\n"
    "      " GW_WAKE_MAXLEN ", '*', 'ref', ref, 'bid', bids[i])\n"
    "    redis.call('PUBLISH', ARGV[10] .. edges[i], ref .. ' ' .. bids[i] .. ' ' .. id)\n"
    "  end\n"
    "end\n"
    "return {'queued', #bids, 0, old or ''}\n",
};

/*
 * KEYS: 1 beckon:req:<ref>  2 beckon:pending-client:<client>   ARGV: 1 now  2 ref
 * Returns {'not-found'}, {'conflict', status} or {'ok', HGETALL}.
 */
static struct cm_redis_script cancel_script = {
    .source = CM_LUA_LIFECYCLE
    "local st, changed = transition(KEYS[1], 'cancelled', ARGV[1], {reason = 'cancelled'})\n"
    "if not st then return {'not-found'} end\n"
    "if changed then redis.call('ZREM', KEYS[2], ARGV[2]) end\n"
    "if st ~= 'cancelled' then return {'conflict', st} end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1])}\n",
};

/* Same keys and answers as cancel_script. Only a sent or delivered request completes. */
static struct cm_redis_script complete_script = {
    .source = CM_LUA_LIFECYCLE "local cur = redis.call('HGET', KEYS[1], 'status')\n"
			       "if not cur then return {'not-found'} end\n"
			       "if cur == 'sent' or cur == 'delivered' then\n"
			       "  transition(KEYS[1], 'completed', ARGV[1])\n"
			       "  redis.call('ZREM', KEYS[2], ARGV[2])\n"
			       "elseif cur ~= 'completed' then\n"
			       "  return {'conflict', cur}\n"
			       "end\n"
			       "return {'ok', redis.call('HGETALL', KEYS[1])}\n",
};

/* One operation waiting on Redis. */
struct call {
	struct gw_store *s;
	struct gw_request *r; /* create only */
	gw_store_cb *cb;
	void *data;
	struct gw_result res;
	char id[GW_REQUEST_ID_MAX + 1];
	char client[GW_CLIENT_MAX + 1];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *reply_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str
										     : NULL;
}

static long long reply_int(const redisReply *reply, size_t i)
{
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements <= i)
		return -1;
	return reply->element[i]->type == REDIS_REPLY_INTEGER ? reply->element[i]->integer : -1;
}

/* Delivers the result and frees the call. Errors are logged here once: 5xx at warn (an
 * operator can act), 4xx at debug (the client can). */
static void finish(struct call *c, int err, unsigned status)
{
	struct gw_result *res = &c->res;

	res->err = err;
	res->status = err ? (unsigned)cm_err_http_status(err) : status;
	if (err && res->status >= 500)
		cm_log_warn("request-id=%s client=%s answered %u: %s",
			    res->request_id ? res->request_id : "-", c->client, res->status,
			    res->detail);
	else if (err)
		cm_log_debug("request-id=%s client=%s answered %u: %s",
			     res->request_id ? res->request_id : "-", c->client, res->status,
			     res->detail);
	c->cb(res, c->data);
	json_decref(res->body);
	if (c->r) {
		gw_request_free(c->r);
		free(c->r);
	}
	free(c);
}

static void fail(struct call *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct call *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->res.detail, sizeof(c->res.detail), fmt, ap);
	va_end(ap);
	finish(c, err, 0);
}

/* A missing or error reply. Our own script failing is a bug (500); any other Redis error
 * (OOM, LOADING, READONLY, BUSY ...) is Redis being unable to serve right now (503). */
static bool redis_failed(struct call *c, const redisReply *reply, const char *lost)
{
	if (!reply) {
		fail(c, CM_E_UNAVAILABLE, "%s", lost);
		return true;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		bool ours = reply->len >= 3 && strncmp(reply->str, "ERR", 3) == 0;

		cm_log_warn("request-id=%s: Redis answered: %.200s", c->id, reply->str);
		fail(c, ours ? CM_E_INTERNAL : CM_E_UNAVAILABLE, "%s",
		     ours ? "storage failed (see the gateway log)"
			  : "Redis cannot serve the request right now");
		return true;
	}
	return false;
}

static struct call *call_new(struct gw_store *s, enum gw_op op, gw_store_cb *cb, void *data)
{
	struct call *c = calloc(1, sizeof(*c));

	if (!c) {
		struct gw_result res = {.op = op, .err = -ENOMEM, .status = 503};

		snprintf(res.detail, sizeof(res.detail), "out of memory");
		cb(&res, data);
		return NULL;
	}
	c->s = s;
	c->cb = cb;
	c->data = data;
	c->res.op = op;
	c->res.request_id = c->id;
	return c;
}

static void on_created(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct call *c = data;
	struct gw_request *r = c->r;
	const char *status;

	c->s->inflight--;
	if (redis_failed(c, reply,
			 "lost the connection to Redis while storing the request; retry with the "
			 "same request_id (200 then means it was stored)"))
		return;
	status = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
		     ? reply_str(reply->element[0])
		     : NULL;
	if (!status) {
		fail(c, CM_E_INTERNAL, "unexpected answer from Redis");
		return;
	}
	if (strcmp(status, "not-found") == 0) {
		fail(c, CM_E_NOT_FOUND, "no subscribed binding for device '%s' (and ttl_s is 0)",
		     r->device_id);
		return;
	}
	if (strcmp(status, "conflict") == 0) {
		fail(c, CM_E_CONFLICT,
		     "a request with request_id '%s' exists already, with a different body",
		     r->request_id);
		return;
	}
	if (strcmp(status, "limit-device") == 0 || strcmp(status, "limit-client") == 0) {
		bool dev = status[6] == 'd';

		c->res.retry_after = reply_int(reply, 1);
		if (dev)
			fail(c, CM_E_TOO_MANY,
			     "device '%s' has %lld pending requests already (at most %ld)",
			     r->device_id, reply_int(reply, 2), c->s->max_per_device);
		else
			fail(c, CM_E_TOO_MANY,
			     "client '%s' has %lld pending requests already (at most %ld)",
			     r->client, reply_int(reply, 2), c->s->max_per_client);
		return;
	}
	if (strcmp(status, "exists") == 0) {
		status = reply->elements > 1 ? reply_str(reply->element[1]) : NULL;
		c->res.body = json_pack("{ssss}", "request_id", r->request_id, "status",
					status ? status : "");
		finish(c, c->res.body ? 0 : -ENOMEM, 200);
		return;
	}
	{
		const char *old = reply->elements > 3 ? reply_str(reply->element[3]) : NULL;

		cm_log_kv(
		    CM_LOG_INFO,
		    CM_KV("request_id", r->request_id, "client", r->client, "device", r->device_id),
		    "callback accepted request-id=%s client=%s device=%s targets=%lld "
		    "failed=%lld ttl=%ld%s%s",
		    r->request_id, r->client, r->device_id, reply_int(reply, 1),
		    reply_int(reply, 2), r->ttl_s, old && old[0] ? " collapsed=" : "",
		    old && old[0] ? old : "");
	}
	c->res.body = json_pack("{ssss}", "request_id", r->request_id, "status", status);
	finish(c, c->res.body ? 0 : -ENOMEM, 202);
}

void gw_store_create(struct gw_store *s, struct gw_request *r, gw_store_cb *cb, void *data)
{
	char devkey[DEVKEY_MAX], reqkey[REQKEY_MAX], pendkey[PENDKEY_MAX];
	char clientkey[CLIENTKEY_MAX], collapsekey[COLLAPSEKEY_MAX], ref[GW_REF_MAX + 1];
	char now[24], expire[24], deadline[24], tmax[8], maxdev[24], maxcl[24], ttl[24];
	const char *argv[26];
	size_t lens[26];
	int64_t t = now_ms(), dl;
	struct call *c = call_new(s, GW_OP_CREATE, cb, data);
	int rc, dk;

	if (!c) {
		gw_request_free(r);
		free(r);
		return;
	}
	c->r = r;
	memcpy(c->id, r->request_id, sizeof(c->id));
	memcpy(c->client, r->client, sizeof(c->client));
	rc = gw_request_deadline(r, t, &dl, c->res.detail, sizeof(c->res.detail));
	if (rc < 0) {
		finish(c, rc, 0);
		return;
	}
	/* The same dl goes to the script as ARGV[12], so valid-until and the stored deadline
	 * (hence the API's "expired") agree to the second. */
	if (gw_request_valid_until(r, dl) < 0) {
		fail(c, CM_E_INTERNAL, "could not add valid-until to the contact-me payload");
		return;
	}
	if (!s->redis) {
		fail(c, CM_E_UNAVAILABLE, "shutting down");
		return;
	}
	if (s->inflight >= GW_STORE_INFLIGHT_MAX) {
		fail(c, CM_E_UNAVAILABLE, "too many requests waiting on Redis; retry later");
		return;
	}
	dk = cm_device_key(&r->device, devkey, sizeof(devkey));
	if (dk < 0 || cm_snprintf(ref, sizeof(ref), "%s:%s", r->client, r->request_id) < 0 ||
	    cm_snprintf(reqkey, sizeof(reqkey), CM_KEY_REQUEST "%s", ref) < 0 ||
	    cm_snprintf(pendkey, sizeof(pendkey), CM_KEY_PENDING "%s",
			devkey + strlen(CM_KEY_DEVICE)) < 0 ||
	    cm_snprintf(clientkey, sizeof(clientkey), KEY_PENDING_CLIENT "%s", r->client) < 0 ||
	    cm_snprintf(collapsekey, sizeof(collapsekey), KEY_COLLAPSE "%s:%s:%s", r->client,
			devkey + strlen(CM_KEY_DEVICE), r->collapse_key) < 0) {
		fail(c, CM_E_INTERNAL, "key name too long");
		return;
	}
	cm_snprintf(now, sizeof(now), "%lld", (long long)t);
	cm_snprintf(deadline, sizeof(deadline), "%lld", (long long)dl);
	/* The record outlives its deadline, so a late GET still tells what became of it. */
	{
		long long keep = (dl - t) / 1000 + 60;

		if (keep < s->retention_s)
			keep = s->retention_s;
		cm_snprintf(expire, sizeof(expire), "%lld", keep);
	}
	cm_snprintf(tmax, sizeof(tmax), "%d", GW_STORE_TARGETS_MAX);
	cm_snprintf(maxdev, sizeof(maxdev), "%ld", s->max_per_device);
	cm_snprintf(maxcl, sizeof(maxcl), "%ld", s->max_per_client);
	cm_snprintf(ttl, sizeof(ttl), "%ld", r->ttl_s);
	{
		const char *dflt = s->packages && s->packages[0] ? s->packages : GW_PACKAGE;
		const char *comma = strchr(dflt, ',');
		char pkg[GW_PACKAGE_MAX + 1];
		size_t plen = comma ? (size_t)(comma - dflt) : strlen(dflt);
		const char *v[] = {
		    devkey,
		    reqkey,
		    pendkey,
		    clientkey,
		    collapsekey,
		    now,
		    expire,
		    ref,
		    r->request_id,
		    r->device_id,
		    r->package,
		    r->body,
		    r->payload,
		    CM_KEY_BINDING,
		    CM_KEY_EDGE_CHANNEL,
		    tmax,
		    deadline,
		    r->client,
		    r->on_behalf_of,
		    r->status_url ? r->status_url : "",
		    r->collapse_key,
		    maxdev,
		    maxcl,
		    pkg,
		    ttl,
		    s->fallback,
		};

		if (plen > GW_PACKAGE_MAX)
			plen = GW_PACKAGE_MAX;
		memcpy(pkg, dflt, plen);
		pkg[plen] = '\0';
		for (size_t i = 0; i < 26; i++) {
			argv[i] = v[i];
			lens[i] = strlen(v[i]);
		}
		lens[11] = r->body_len;
		lens[12] = r->payload_len;
		rc = cm_redis_eval(s->redis, &create_script, on_created, c, 5, 26, argv, lens);
	}
	if (rc < 0) {
		fail(c, CM_E_UNAVAILABLE, "%s",
		     rc == -ENOTCONN ? "Redis is unreachable; nothing was stored"
				     : "could not send the request to Redis; nothing was stored");
		return;
	}
	s->inflight++;
}

/* The record of an HGETALL reply (array of field, value ...) as GET renders it. */
static json_t *render(const redisReply *a)
{
	struct cm_str *kv;
	size_t n = a->elements / 2;
	json_t *out;

	kv = calloc(2 * n + 1, sizeof(*kv));
	if (!kv)
		return NULL;
	for (size_t i = 0; i < 2 * n; i++) {
		const redisReply *e = a->element[i];

		if (e->type == REDIS_REPLY_STRING)
			kv[i] = (struct cm_str){e->str, e->len};
	}
	out = gw_record_render(kv, n);
	free(kv);
	return out;
}

static void on_op(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct call *c = data;
	const redisReply *rec = reply;
	const char *st;

	c->s->inflight--;
	if (redis_failed(c, reply, "lost the connection to Redis"))
		return;
	if (c->res.op != GW_OP_GET) {
		/* {'not-found'} / {'conflict', status} / {'ok', HGETALL} */
		st = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
			 ? reply_str(reply->element[0])
			 : NULL;
		if (!st) {
			fail(c, CM_E_INTERNAL, "unexpected answer from Redis");
			return;
		}
		if (strcmp(st, "conflict") == 0) {
			const char *cur = reply->elements > 1 ? reply_str(reply->element[1]) : NULL;

			if (c->res.op == GW_OP_CANCEL)
				fail(c, CM_E_CONFLICT,
				     "request '%s' is %s; only a queued or sent request can be "
				     "cancelled",
				     c->id, cur ? cur : "?");
			else
				fail(c, CM_E_CONFLICT,
				     "request '%s' is %s; only a sent or delivered request can be "
				     "completed",
				     c->id, cur ? cur : "?");
			return;
		}
		rec = strcmp(st, "ok") == 0 && reply->elements > 1 ? reply->element[1] : NULL;
		if (rec && rec->type != REDIS_REPLY_ARRAY)
			rec = NULL;
		if (!rec && strcmp(st, "not-found") != 0) {
			fail(c, CM_E_INTERNAL, "unexpected answer from Redis");
			return;
		}
	}
	if (rec && rec->type != REDIS_REPLY_ARRAY) {
		fail(c, CM_E_INTERNAL, "unexpected answer from Redis");
		return;
	}
	if (!rec || rec->elements == 0) {
		fail(c, CM_E_NOT_FOUND, "no callback request '%s' (or it has expired)", c->id);
		return;
	}
	c->res.body = render(rec);
	if (!c->res.body) {
		fail(c, -ENOMEM, "out of memory");
		return;
	}
	if (c->res.op == GW_OP_CANCEL)
		cm_log_info("callback cancelled request-id=%s client=%s", c->id, c->client);
	else if (c->res.op == GW_OP_COMPLETE)
		cm_log_info("callback completed request-id=%s client=%s", c->id, c->client);
	finish(c, 0, 200);
}

void gw_store_op(struct gw_store *s, enum gw_op op, const char *client, const char *id,
		 gw_store_cb *cb, void *data)
{
	char reqkey[REQKEY_MAX], clientkey[CLIENTKEY_MAX], ref[GW_REF_MAX + 1], now[24];
	const char *why, *argv[4];
	size_t lens[4], idlen = strlen(id);
	struct call *c = call_new(s, op, cb, data);
	int rc;

	if (!c)
		return;
	memcpy(c->client, client, strnlen(client, GW_CLIENT_MAX));
	if (cm_payload_check(CM_PL_REQUEST_ID, id, idlen, &why) < 0) {
		c->res.request_id = NULL;
		fail(c, CM_E_BAD_REQUEST, "request id %s", why);
		return;
	}
	memcpy(c->id, id, idlen + 1);
	if (!s->redis || s->inflight >= GW_STORE_INFLIGHT_MAX) {
		fail(c, CM_E_UNAVAILABLE, "%s",
		     s->redis ? "too many requests waiting on Redis; retry later"
			      : "shutting down");
		return;
	}
	cm_snprintf(ref, sizeof(ref), "%s:%s", c->client, id);
	cm_snprintf(reqkey, sizeof(reqkey), CM_KEY_REQUEST "%s", ref);
	cm_snprintf(clientkey, sizeof(clientkey), KEY_PENDING_CLIENT "%s", c->client);
	cm_snprintf(now, sizeof(now), "%lld", (long long)now_ms());
	if (op == GW_OP_GET) {
		argv[0] = "HGETALL";
		argv[1] = reqkey;
		for (int i = 0; i < 2; i++)
			lens[i] = strlen(argv[i]);
		rc = cm_redis_command_argv(s->redis, on_op, c, 2, argv, lens);
	} else {
		argv[0] = reqkey;
		argv[1] = clientkey;
		argv[2] = now;
		argv[3] = ref;
		for (int i = 0; i < 4; i++)
			lens[i] = strlen(argv[i]);
		rc = cm_redis_eval(s->redis, op == GW_OP_CANCEL ? &cancel_script : &complete_script,
				   on_op, c, 2, 4, argv, lens);
	}
	if (rc < 0) {
		fail(c, CM_E_UNAVAILABLE, "Redis is unreachable");
		return;
	}
	s->inflight++;
}
