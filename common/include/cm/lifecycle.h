/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The callback request lifecycle (proto/redis.md "Lifecycle"), as one Lua prelude that every
 * script changing a request's status starts with, so api-gateway (create, cancel, complete,
 * collapse), sip-edge (sent, delivered, failed) and the expiry sweeper all apply the same
 * rules and side effects:
 *
 *   queued -> sent -> delivered -> completed
 *   queued|sent -> failed | expired | cancelled        (final)
 *   sent -> completed                                  (the callback arrived anyway)
 *
 * Use it by string concatenation: `.source = CM_LUA_LIFECYCLE "local ok = transition(...)"`.
 *
 * transition(rk, status, now, extra) moves the request hash rk to status at time now (ms,
 * string), stamping the field named after the status, setting the field/value pairs of the
 * table extra, and then:
 *   - delivered or any final status: removes the request from its pending set (field
 *     `pending`) and from beckon:deadlines;
 *   - when the request has a `status_url`: appends a receipt to the beckon:outbox stream;
 *   - failed or expired: pushes a JSON summary on beckon:recent-failures, kept to 20 (the
 *     status page shows them).
 * It returns the status now in force and whether it changed:  status, changed (boolean).
 * An unknown request returns false, false.
 */
#ifndef CM_LIFECYCLE_H
#define CM_LIFECYCLE_H

#define CM_KEY_PENDING "beckon:pending:"    /* + <kind>:<value>: zset of request refs */
#define CM_KEY_DEADLINES "beckon:deadlines" /* zset of request refs by deadline */
#define CM_KEY_OUTBOX "beckon:outbox"	    /* stream of HTTP posts to make */
#define CM_OUTBOX_MAXLEN "100000"
#define CM_KEY_RECENT_FAILURES "beckon:recent-failures" /* list: the last 20 failed/expired */

#define CM_LUA_LIFECYCLE                                                                           \
	"local CM_NEXT = {\n"                                                                      \
	"  queued = {sent=1, delivered=1, failed=1, expired=1, cancelled=1, completed=1},\n"       \
	"  sent = {delivered=1, failed=1, expired=1, cancelled=1, completed=1},\n"                 \
	"  delivered = {completed=1},\n"                                                           \
	"}\n"                                                                                      \
	"local function ref_of(rk) return string.sub(rk, 12) end\n"                                \
	"local function transition(rk, status, now, extra)\n"                                      \
	"  local cur = redis.call('HGET', rk, 'status')\n"                                         \
	"  if not cur then return false, false end\n"                                              \
	"  if cur == status or not (CM_NEXT[cur] and CM_NEXT[cur][status]) then\n"                 \
	"    return cur, false\n"                                                                  \
	"  end\n"                                                                                  \
	"  local f = {'status', status, status, now}\n"                                            \
	"  if extra then for k, v in pairs(extra) do f[#f+1] = k; f[#f+1] = v end end\n"           \
	"  redis.call('HSET', rk, unpack(f))\n"                                                    \
	"  if status == 'failed' or status == 'expired' then\n"                                    \
	"    local h = redis.call('HMGET', rk, 'request_id', 'device', 'sip_status', 'reason')\n"  \
	"    redis.call('LPUSH', '" CM_KEY_RECENT_FAILURES "', cjson.encode({ref = ref_of(rk),\n"  \
	"      request_id = h[1], device = h[2], status = status, at = tonumber(now),\n"           \
	"      sip_status = tonumber(h[3]), reason = h[4]}))\n"                                    \
	"    redis.call('LTRIM', '" CM_KEY_RECENT_FAILURES "', 0, 19)\n"                           \
	"  end\n"                                                                                  \
	"  if status ~= 'sent' then\n"                                                             \
	"    local pk = redis.call('HGET', rk, 'pending')\n"                                       \
	"    if pk and pk ~= '' then redis.call('ZREM', pk, ref_of(rk)) end\n"                     \
	"    redis.call('ZREM', '" CM_KEY_DEADLINES "', ref_of(rk))\n"                             \
	"  end\n"                                                                                  \
	"  local url = redis.call('HGET', rk, 'status_url')\n"                                     \
	"  if url and url ~= '' then\n"                                                            \
	"    local h = redis.call('HMGET', rk, 'request_id', 'sip_status', 'reason')\n"            \
	"    local body = cjson.encode({request_id = h[1], status = status,\n"                     \
	"      at = tonumber(now), sip_status = tonumber(h[2]), reason = h[3]})\n"                 \
	"    redis.call('XADD', '" CM_KEY_OUTBOX "', 'MAXLEN', '~', " CM_OUTBOX_MAXLEN ", '*',\n"  \
	"      'kind', 'receipt', 'url', url, 'body', body, 'ref', ref_of(rk))\n"                  \
	"  end\n"                                                                                  \
	"  return status, true\n"                                                                  \
	"end\n"

#endif
