/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routes of api-gateway (proto/rest.md). A POST is validated completely before Redis is
 * touched (so a bad body is a 400 whatever state Redis is in), then handed to one Lua script
 * that does everything else atomically: resolve the device to its subscribed bindings, refuse
 * a duplicate request id, store the request (proto/redis.md) and publish one wake-up per
 * target on the owning edge's channel. Because the script is atomic, a Redis failure leaves
 * either the whole request or nothing, and a wake-up is never published for a request that is
 * not stored. The HTTP request stays suspended while Redis works.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cm/device.h"
#include "cm/err.h"
#include "cm/log.h"
#include "cm/payload.h"
#include "gw_api.h"
#include "gw_record.h"
#include "gw_request.h"

#define CALLBACKS_PATH "/v1/callbacks"
/* Bindings one request may address; a device with more gets the first ones by expiry. */
#define TARGETS_MAX 64
#define KEY_MAX (sizeof(CM_KEY_DEVICE) + 8 + CM_DEVICE_MAX + 1)

/*
 * KEYS[1] beckon:dev:<kind>:<value>   KEYS[2] beckon:req:<id>
 * ARGV: now-ms, retention-s, request_id, device, package, body, payload, binding key prefix,
 *       edge channel prefix, max targets.
 * Returns {"not-found"}, {"conflict"}, or {status, targets, failed_targets}.
 */
static struct cm_redis_script create_script = {
    .source =
	"local now = ARGV[1]\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)\n"
	"local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0, "
	"tonumber(ARGV[10]))\n"
	"local bids, edges = {}, {}\n"
	"for _, bid in ipairs(ids) do\n"
	"  local h = redis.call('HMGET', ARGV[8] .. bid, 'subscribed', 'edge')\n"
	"  if h[1] == '1' and h[2] and h[2] ~= '' then\n"
	"    bids[#bids + 1] = bid\n"
	"    edges[#edges + 1] = h[2]\n"
	"  end\n"
	"end\n"
	"if #bids == 0 then return {'not-found'} end\n"
	"if redis.call('EXISTS', KEYS[2]) == 1 then return {'conflict'} end\n"
	"local f = {'request_id', ARGV[3], 'device', ARGV[4], 'package', ARGV[5],\n"
	"  'body', ARGV[6], 'payload', ARGV[7], 'status', 'queued', 'created', now,\n"
	"  'targets', #bids, 'failed_targets', 0}\n"
	"for i = 1, #bids do\n"
	"  f[#f + 1] = 'target:' .. bids[i]\n"
	"  f[#f + 1] = 'queued'\n"
	"end\n"
	"redis.call('HSET', KEYS[2], unpack(f))\n"
	"redis.call('EXPIRE', KEYS[2], ARGV[2])\n"
	"local failed = 0\n"
	"for i = 1, #bids do\n"
	"  if redis.call('PUBLISH', ARGV[9] .. edges[i], ARGV[3] .. ' ' .. bids[i]) == 0 then\n"
	"    redis.call('HSET', KEYS[2], 'target:' .. bids[i], 'failed:0:edge-unreachable')\n"
	"    failed = failed + 1\n"
	"  end\n"
	"end\n"
	"local status = 'queued'\n"
	"if failed > 0 then\n"
	"  redis.call('HSET', KEYS[2], 'failed_targets', failed)\n"
	"  if failed == #bids then\n"
	"    status = 'failed'\n"
	"    redis.call('HSET', KEYS[2], 'status', 'failed', 'reason', 'edge-unreachable',\n"
	"      'failed', now)\n"
	"  end\n"
	"end\n"
	"return {status, #bids, failed}\n",
};

/* One request waiting on Redis. */
struct call {
	struct gw_api *api;
	struct cm_http_req *req;
	struct gw_request r; /* POST only */
	char id[GW_REQUEST_ID_MAX + 1];
};

static void call_free(struct call *c)
{
	if (!c)
		return;
	gw_request_free(&c->r);
	free(c);
}

/* Answers with a problem; 5xx are logged (the client cannot fix them, an operator can). */
static void problem(struct cm_http_req *req, int err, const char *id, const char *detail)
{
	if (cm_err_http_status(err) >= 500)
		cm_log_warn("%s %s request-id=%s answered %d: %s", req->method, req->url,
			    id ? id : "-", cm_err_http_status(err), detail);
	else
		cm_log_debug("request-id=%s answered %d: %s", id ? id : "-",
			     cm_err_http_status(err), detail);
	cm_http_respond_problem(req, err, detail);
}

/* A Redis error reply: our own script failing is a bug (500); anything else (OOM, LOADING,
 * READONLY, BUSY ...) is Redis being unable to serve right now (503). */
static void redis_error(struct cm_http_req *req, const char *id, const redisReply *reply)
{
	char detail[GW_DETAIL_MAX];
	bool ours = reply->len >= 3 && strncmp(reply->str, "ERR", 3) == 0;

	cm_log_warn("%s %s request-id=%s: Redis answered: %.200s", req->method, req->url,
		    id ? id : "-", reply->str);
	snprintf(detail, sizeof(detail), "%s",
		 ours ? "storage failed (see the gateway log)"
		      : "Redis cannot serve the request right now");
	cm_http_respond_problem(req, ours ? CM_E_INTERNAL : CM_E_UNAVAILABLE, detail);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* application/json, case-insensitive, optionally followed by parameters. */
static bool is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static const char *reply_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str
										     : NULL;
}

static void on_created(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct call *c = data;
	struct cm_http_req *req = c->req;
	char detail[GW_DETAIL_MAX + CM_DEVICE_MAX];
	const char *status;

	c->api->inflight--;
	if (!reply) {
		problem(req, CM_E_UNAVAILABLE, c->r.request_id,
			"lost the connection to Redis while storing the request; retry with the "
			"same request_id (409 means it was stored)");
		goto out;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		redis_error(req, c->r.request_id, reply);
		goto out;
	}
	status = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
		     ? reply_str(reply->element[0])
		     : NULL;
	if (!status) {
		problem(req, CM_E_INTERNAL, c->r.request_id, "unexpected answer from Redis");
		goto out;
	}
	if (strcmp(status, "not-found") == 0) {
		snprintf(detail, sizeof(detail), "no subscribed binding for device '%s'",
			 c->r.device_id);
		problem(req, CM_E_NOT_FOUND, c->r.request_id, detail);
		goto out;
	}
	if (strcmp(status, "conflict") == 0) {
		snprintf(detail, sizeof(detail), "a request with request_id '%s' exists already",
			 c->r.request_id);
		problem(req, CM_E_CONFLICT, c->r.request_id, detail);
		goto out;
	}
	{
		long long targets = -1, failed = -1;

		if (reply->elements >= 3 && reply->element[1]->type == REDIS_REPLY_INTEGER &&
		    reply->element[2]->type == REDIS_REPLY_INTEGER) {
			targets = reply->element[1]->integer;
			failed = reply->element[2]->integer;
		}
		cm_log_info("callback accepted request-id=%s device=%s targets=%lld failed=%lld",
			    c->r.request_id, c->r.device_id, targets, failed);
	}
	snprintf(detail, sizeof(detail), CALLBACKS_PATH "/%s", c->r.request_id);
	cm_http_header(req, "Location", detail);
	cm_http_respond_json(req, 202,
			     json_pack("{ssss}", "request_id", c->r.request_id, "status", status));
out:
	call_free(c);
}

static void post_callback(struct gw_api *api, struct cm_http_req *req)
{
	char detail[GW_DETAIL_MAX], devkey[KEY_MAX], reqkey[sizeof(CM_KEY_REQUEST) + 130];
	char now[24], retention[24], tmax[8];
	const char *argv[12];
	size_t lens[12];
	struct call *c;
	int rc;

	if (!is_json_type(req->content_type)) {
		problem(req, CM_E_UNSUPPORTED_MEDIA, NULL, "Content-Type must be application/json");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		problem(req, -ENOMEM, NULL, "out of memory");
		return;
	}
	c->api = api;
	c->req = req;
	rc = gw_request_parse(req->body, req->body_len, &c->r, detail, sizeof(detail));
	if (rc < 0) {
		if (rc != CM_E_BAD_REQUEST)
			snprintf(detail, sizeof(detail), "%s",
				 rc == -ENOMEM ? "out of memory"
					       : "could not generate a request id");
		problem(req, rc, NULL, detail);
		free(c); /* gw_request_parse left nothing to free */
		return;
	}
	if (api->inflight >= GW_API_INFLIGHT_MAX) {
		problem(req, CM_E_UNAVAILABLE, c->r.request_id,
			"too many requests waiting on Redis; retry later");
		goto fail;
	}
	if (cm_device_key(&c->r.device, devkey, sizeof(devkey)) < 0 ||
	    cm_snprintf(reqkey, sizeof(reqkey), CM_KEY_REQUEST "%s", c->r.request_id) < 0) {
		problem(req, CM_E_INTERNAL, c->r.request_id, "key name too long");
		goto fail;
	}
	cm_snprintf(now, sizeof(now), "%lld", (long long)now_ms());
	cm_snprintf(retention, sizeof(retention), "%ld", api->retention_s);
	cm_snprintf(tmax, sizeof(tmax), "%d", TARGETS_MAX);
	argv[0] = devkey;
	argv[1] = reqkey;
	argv[2] = now;
	argv[3] = retention;
	argv[4] = c->r.request_id;
	argv[5] = c->r.device_id;
	argv[6] = GW_PACKAGE;
	argv[7] = c->r.body;
	argv[8] = c->r.payload;
	argv[9] = CM_KEY_BINDING;
	argv[10] = CM_KEY_EDGE_CHANNEL;
	argv[11] = tmax;
	for (int i = 0; i < 12; i++)
		lens[i] = strlen(argv[i]);
	lens[7] = c->r.body_len;
	lens[8] = c->r.payload_len;
	rc = cm_redis_eval(api->redis, &create_script, on_created, c, 2, 12, argv, lens);
	if (rc < 0) {
		problem(req, CM_E_UNAVAILABLE, c->r.request_id,
			rc == -ENOTCONN
			    ? "Redis is unreachable; nothing was stored"
			    : "could not send the request to Redis; nothing was stored");
		goto fail;
	}
	api->inflight++;
	cm_http_suspend(req);
	return;
fail:
	call_free(c);
}

static void on_fetched(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct call *c = data;
	struct cm_http_req *req = c->req;
	char detail[GW_DETAIL_MAX];
	struct cm_str *kv = NULL;
	size_t n;
	json_t *out;

	c->api->inflight--;
	if (!reply) {
		problem(req, CM_E_UNAVAILABLE, c->id, "lost the connection to Redis");
		goto out;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		redis_error(req, c->id, reply);
		goto out;
	}
	if (reply->type != REDIS_REPLY_ARRAY) {
		problem(req, CM_E_INTERNAL, c->id, "unexpected answer from Redis");
		goto out;
	}
	if (reply->elements == 0) {
		snprintf(detail, sizeof(detail), "no callback request '%s' (or it has expired)",
			 c->id);
		problem(req, CM_E_NOT_FOUND, c->id, detail);
		goto out;
	}
	n = reply->elements / 2;
	kv = calloc(2 * n, sizeof(*kv));
	if (!kv) {
		problem(req, -ENOMEM, c->id, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < 2 * n; i++) {
		const redisReply *e = reply->element[i];

		if (e->type == REDIS_REPLY_STRING)
			kv[i] = (struct cm_str){e->str, e->len};
	}
	out = gw_record_render(kv, n);
	if (!out) {
		problem(req, -ENOMEM, c->id, "out of memory");
		goto out;
	}
	cm_http_respond_json(req, 200, out);
out:
	free(kv);
	call_free(c);
}

static void get_callback(struct gw_api *api, struct cm_http_req *req, const char *id)
{
	char key[sizeof(CM_KEY_REQUEST) + GW_REQUEST_ID_MAX + 1];
	const char *why, *argv[2];
	size_t lens[2], idlen = strlen(id);
	struct call *c;
	char detail[GW_DETAIL_MAX];
	int rc;

	if (cm_payload_check(CM_PL_REQUEST_ID, id, idlen, &why) < 0) {
		snprintf(detail, sizeof(detail), "request id in the path %s", why);
		problem(req, CM_E_BAD_REQUEST, NULL, detail);
		return;
	}
	if (api->inflight >= GW_API_INFLIGHT_MAX) {
		problem(req, CM_E_UNAVAILABLE, id,
			"too many requests waiting on Redis; retry later");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		problem(req, -ENOMEM, id, "out of memory");
		return;
	}
	c->api = api;
	c->req = req;
	memcpy(c->id, id, idlen + 1);
	cm_snprintf(key, sizeof(key), CM_KEY_REQUEST "%s", id);
	argv[0] = "HGETALL";
	lens[0] = 7;
	argv[1] = key;
	lens[1] = strlen(key);
	rc = cm_redis_command_argv(api->redis, on_fetched, c, 2, argv, lens);
	if (rc < 0) {
		problem(req, CM_E_UNAVAILABLE, id, "Redis is unreachable");
		call_free(c);
		return;
	}
	api->inflight++;
	cm_http_suspend(req);
}

static void method_not_allowed(struct cm_http_req *req, const char *allow)
{
	char detail[64];

	snprintf(detail, sizeof(detail), "method not allowed here; use %s", allow);
	cm_http_header(req, "Allow", allow);
	problem(req, CM_E_METHOD, NULL, detail);
}

void gw_api_handle(struct cm_http_req *req, void *data)
{
	struct gw_api *api = data;
	const char *url = req->url;
	size_t plen = strlen(CALLBACKS_PATH);

	if (strcmp(url, CALLBACKS_PATH) == 0) {
		if (strcmp(req->method, "POST") == 0)
			post_callback(api, req);
		else
			method_not_allowed(req, "POST");
	} else if (strncmp(url, CALLBACKS_PATH "/", plen + 1) == 0) {
		if (strcmp(req->method, "GET") == 0)
			get_callback(api, req, url + plen + 1);
		else
			method_not_allowed(req, "GET");
	} else {
		problem(req, CM_E_NOT_FOUND, NULL, "no such resource");
	}
}

bool gw_api_ready(void *data)
{
	struct gw_api *api = data;

	return api->redis && cm_redis_ready(api->redis);
}
