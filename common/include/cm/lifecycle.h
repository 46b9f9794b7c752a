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
 *
 * transition_pre(rk, status, now, extra, cur, pk, url, always) is the same for a script that
 * has read the request's `status`, `pending` and `status_url` already (cur, pk, url: in the
 * HMGET it needed anyway), so the move costs no read of its own. always, a flat array
 * {field, value, ...} or nil, is written in the same HSET as the move, or alone when the
 * status does not move. transition() is transition_pre() after one HMGET. Every redis.call
 * inside a script costs about 1-1.5 us of Redis CPU (argument objects, command lookup,
 * per-command stats), more than the command itself for a small hash, so the callback path
 * counts calls (docs/performance.md "Callback path: fewer Redis calls per callback").
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
	"local function transition_pre(rk, status, now, extra, cur, pk, url, always)\n"            \
	"  if not cur then return false, false end\n"                                              \
	"  if cur == status or not (CM_NEXT[cur] and CM_NEXT[cur][status]) then\n"                 \
	"    if always then redis.call('HSET', rk, unpack(always)) end\n"                          \
	"    return cur, false\n"                                                                  \
	"  end\n"                                                                                  \
	"  local f = {'status', status, status, now}\n"                                            \
	"  if extra then for k, v in pairs(extra) do f[#f+1] = k; f[#f+1] = v end end\n"           \
	"  if always then for _, v in ipairs(always) do f[#f+1] = v end end\n"                     \
	"  redis.call('HSET', rk, unpack(f))\n"                                                    \
	"  if status == 'failed' or status == 'expired' then\n"                                    \
	"    local h = redis.call('HMGET', rk, 'request_id', 'device', 'sip_status', 'reason')\n"  \
	"    redis.call('LPUSH', '" CM_KEY_RECENT_FAILURES "', cjson.encode({ref = ref_of(rk),\n"  \
	"      request_id = h[1], device = h[2], status = status, at = tonumber(now),\n"           \
	"      sip_status = tonumber(h[3]), reason = h[4]}))\n"                                    \
	"    redis.call('LTRIM', '" CM_KEY_RECENT_FAILURES "', 0, 19)\n"                           \
	"  end\n"                                                                                  \
	"  if status ~= 'sent' then\n"                                                             \
	"    if pk and pk ~= '' then redis.call('ZREM', pk, ref_of(rk)) end\n"                     \
	"    redis.call('ZREM', '" CM_KEY_DEADLINES "', ref_of(rk))\n"                             \
	"  end\n"                                                                                  \
	"  if url and url ~= '' then\n"                                                            \
	"    local h = redis.call('HMGET', rk, 'request_id', 'sip_status', 'reason')\n"            \
	"    local body = cjson.encode({request_id = h[1], status = status,\n"                     \
	"      at = tonumber(now), sip_status = tonumber(h[2]), reason = h[3]})\n"                 \
	"    redis.call('XADD', '" CM_KEY_OUTBOX "', 'MAXLEN', '~', " CM_OUTBOX_MAXLEN ", '*',\n"  \
	"      'kind', 'receipt', 'url', url, 'body', body, 'ref', ref_of(rk))\n"                  \
	"  end\n"                                                                                  \
	"  return status, true\n"                                                                  \
	"end\n"                                                                                    \
	"local function transition(rk, status, now, extra)\n"                                      \
	"  local h = redis.call('HMGET', rk, 'status', 'pending', 'status_url')\n"                 \
	"  return transition_pre(rk, status, now, extra, h[1], h[2], h[3])\n"                      \
	"end\n"

#endif
