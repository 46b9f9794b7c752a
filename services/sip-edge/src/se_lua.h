/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lua helpers shared by sip-edge's scripts (register, subscribe, fetch), prepended by string
 * concatenation like CM_LUA_LIFECYCLE. They hold the rules about a binding's event packages
 * (proto/redis.md "Bindings"), the pending-set claims of queued delivery ("Waiting for a
 * device") and registration notices ("Outbox") in one place, so the registration path and the
 * SUBSCRIBE path cannot disagree.
 *
 *   se_list(s)                 LF-separated list -> table
 *   se_pkg(bk, p, now)         effective subscription of binding hash bk to package p:
 *                              'subscribe', 'accept' or false; an expired SUBSCRIBE dialog is
 *                              dropped on the way (falling back to 'accept' if the last
 *                              REGISTER's Accept listed p)
 *   se_drop_dialog(bk, p)      removes the sub:<p>:* fields
 *   se_set_subscribed(bk, d)   sets `subscribed` from pkg:<d> (d = default package)
 *   se_notice(url, idx, p, gw) XADDs a registration notice for the binding indexed by idx
 *   se_claim(bk, bid, idx, now, limit, only, listing, out, d, mv)   (now: a number, ms)
 *                              queued delivery: appends to out the refs waiting in the pending
 *                              sets of the binding's device ids that it should get now (no
 *                              target:<bid> yet, or a `waiting:` one; with mv — the binding
 *                              is new or moved to another flow or edge — also a `queued` or
 *                              `sent` one, which a dead edge may hold; mv may instead be the
 *                              caller's instance token — the binding is unchanged but was
 *                              registered by another process of this edge id, a restart —
 *                              and then a target claimed by that token is left alone: this
 *                              process already sends it over the same flow; with listing also
 *                              those already queued/sent to it); adds the target atomically
 *                              and drops its claim (se_wake.h). Returns true when limit cut
 *                              it short.
 */
#ifndef SE_LUA_H
#define SE_LUA_H

#include "cm/device.h"
#include "cm/lifecycle.h"

#define SE_LUA_HELPERS                                                                             \
	"local SE_DEVP, SE_PENDP, SE_REQP = '" CM_KEY_DEVICE "', '" CM_KEY_PENDING                 \
	"', '" CM_KEY_REQUEST "'\n"                                                                \
	"local SE_DLG = {'call_id', 'ltag', 'rcseq', 'target', 'route', 'local', 'remote',\n"      \
	"  'event', 'expires', 'cseq'}\n"                                                          \
	"local function se_list(s)\n"                                                              \
	"  local t = {}\n"                                                                         \
	"  for k in string.gmatch(s or '', '[^\\n]+') do t[#t+1] = k end\n"                        \
	"  return t\n"                                                                             \
	"end\n"                                                                                    \
	"local function se_drop_dialog(bk, p)\n"                                                   \
	"  local f = {}\n"                                                                         \
	"  for _, n in ipairs(SE_DLG) do f[#f+1] = 'sub:' .. p .. ':' .. n end\n"                  \
	"  redis.call('HDEL', bk, unpack(f))\n"                                                    \
	"end\n"                                                                                    \
	"local function se_pkg(bk, p, now)\n"                                                      \
	"  local h = redis.call('HMGET', bk, 'pkg:' .. p, 'sub:' .. p .. ':expires', "             \
	"'accepted')\n"                                                                            \
	"  if h[1] == 'subscribe' and not (tonumber(h[2]) and tonumber(h[2]) > now) then\n"        \
	"    se_drop_dialog(bk, p)\n"                                                              \
	"    for _, a in ipairs(se_list(h[3])) do\n"                                               \
	"      if a == p then redis.call('HSET', bk, 'pkg:' .. p, 'accept') return 'accept' end\n" \
	"    end\n"                                                                                \
	"    redis.call('HDEL', bk, 'pkg:' .. p)\n"                                                \
	"    return false\n"                                                                       \
	"  end\n"                                                                                  \
	"  return h[1] or false\n"                                                                 \
	"end\n"                                                                                    \
	"local function se_set_subscribed(bk, d)\n"                                                \
	"  local v = '0'\n"                                                                        \
	"  if redis.call('HEXISTS', bk, 'pkg:' .. d) == 1 then v = '1' end\n"                      \
	"  redis.call('HSET', bk, 'subscribed', v)\n"                                              \
	"  return v\n"                                                                             \
	"end\n"                                                                                    \
	"local function se_notice(url, idx, p, gw)\n"                                              \
	"  if not url or url == '' then return end\n"                                              \
	"  local d = {num = cjson.null, aor = cjson.null, inst = cjson.null, mac = cjson.null}\n"  \
	"  for _, k in ipairs(idx) do\n"                                                           \
	"    local kind, v = string.match(string.sub(k, #SE_DEVP + 1), '^(%a+):(.*)$')\n"          \
	"    if kind and d[kind] ~= nil then d[kind] = v end\n"                                    \
	"  end\n"                                                                                  \
	"  local g = cjson.null\n"                                                                 \
	"  if gw and gw ~= '' then g = gw end\n"                                                   \
	"  redis.call('XADD', '" CM_KEY_OUTBOX "', 'MAXLEN', '~', " CM_OUTBOX_MAXLEN ", '*',\n"    \
	"    'kind', 'notice', 'url', url,\n"                                                      \
	"    'body', cjson.encode({devices = d, package = p, gateway_url = g}))\n"                 \
	"end\n"                                                                                    \
	"local function se_claim(bk, bid, idx, now, limit, only, listing, out, d, mv)\n"           \
	"  for _, k in ipairs(idx) do\n"                                                           \
	"    local pk = SE_PENDP .. string.sub(k, #SE_DEVP + 1)\n"                                 \
	"    local refs = redis.call('ZRANGEBYSCORE', pk, string.format('%d', now), '+inf',\n"     \
	"      'LIMIT', 0, limit + 1)\n"                                                           \
	"    for _, ref in ipairs(refs) do\n"                                                      \
	"      if #out >= limit then return true end\n"                                            \
	"      local rk = SE_REQP .. ref\n"                                                        \
	"      local h = redis.call('HMGET', rk, 'status', 'package', 'target:' .. bid,\n"         \
	"        'claim:' .. bid)\n"                                                               \
	"      local p = h[2]\n"                                                                   \
	"      if not p or p == '' then p = d end\n"                                               \
	"      if not h[1] then\n"                                                                 \
	"        redis.call('ZREM', pk, ref)\n" /* the request aged out: tidy up */                \
	"      elseif (h[1] == 'queued' or h[1] == 'sent') and (not only or only == p)\n"          \
	"          and se_pkg(bk, p, now) then\n"                                                  \
	"        local t = h[3]\n"                                                                 \
	"        if not t then\n"                                                                  \
	"          redis.call('HSET', rk, 'target:' .. bid, 'queued')\n"                           \
	"          redis.call('HINCRBY', rk, 'targets', 1)\n"                                      \
	"          out[#out+1] = ref\n"                                                            \
	"        elseif string.sub(t, 1, 8) == 'waiting:' or\n"                                    \
	"            (mv and (t == 'queued' or t == 'sent') and not (mv ~= true and h[4] and\n"    \
	"              string.sub(h[4], 1, #mv + 1) == mv .. '#')) then\n"                         \
	"          redis.call('HSET', rk, 'target:' .. bid, 'queued')\n"                           \
	"          redis.call('HDEL', rk, 'claim:' .. bid)\n"                                      \
	"          out[#out+1] = ref\n"                                                            \
	"        elseif listing and (t == 'queued' or t == 'sent') then\n"                         \
	"          out[#out+1] = ref\n"                                                            \
	"        end\n"                                                                            \
	"      end\n"                                                                              \
	"    end\n"                                                                                \
	"  end\n"                                                                                  \
	"  return false\n"                                                                         \
	"end\n"

#endif
