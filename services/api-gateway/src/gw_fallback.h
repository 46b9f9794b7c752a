/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fallback policy for endpoints that never opted in to a package (proto/contact-me.md
 * "Fallback"): the `fallback` and `fallback-rules` settings compiled into the line list that
 * the create script evaluates per binding, and that script's Lua function. The policy is
 * evaluated where targets are chosen (the create script), so every edge only sends what the
 * request's `fallback:<binding-id>` field says.
 */
#ifndef GW_FALLBACK_H
#define GW_FALLBACK_H

#include <stddef.h>

#define GW_FALLBACK_RULES_MAX 32 /* rules in fallback-rules */
#define GW_FALLBACK_PATTERN_MAX 128
#define GW_FALLBACK_EVENT_MAX 64
/* Compiled size: every rule plus the default line. */
#define GW_FALLBACK_MAX                                                                            \
	((GW_FALLBACK_RULES_MAX + 1) * (8 + GW_FALLBACK_PATTERN_MAX + GW_FALLBACK_EVENT_MAX))

/*
 * Compiles fallback (the default action: "off", "resync" or an Event value such as
 * "check-sync;reboot=false") and rules (comma-separated "<kind>:<glob>=<action>", kind one of
 * ua, num, aor, inst, pkg; glob with `*` only, case-insensitive; evaluated in order, the first
 * match wins) into out: one "<kind> TAB <glob> TAB <action>" line per rule, then the default
 * as "* TAB * TAB <action>". out is "" when every action is off, so the script skips the work.
 * Returns 0 or -EINVAL with a message in err.
 */
int gw_fallback_compile(const char *fallback, const char *rules, char *out, size_t size, char *err,
			size_t errlen);

/*
 * Lua, prepended to the create script: gw_fallback(rules, ua, aor, inst, package) returns the
 * Event value of the resync NOTIFY for a binding that is registered but not opted in, or
 * false. `resync` picks the Event by the vendor table (User-Agent), see proto/contact-me.md.
 */
#define GW_FALLBACK_LUA                                                                            \
	"local function gw_glob(pat, s)\n"                                                         \
	"  local lp = string.gsub(string.lower(pat), '[%^%$%(%)%%%.%[%]%+%-%?]', '%%%0')\n"        \
	"  lp = '^' .. string.gsub(lp, '%*', '.*') .. '$'\n"                                       \
	"  return string.find(string.lower(s or ''), lp) ~= nil\n"                                 \
	"end\n"                                                                                    \
	"local GW_VENDORS = {{'linksys', 'resync'}, {'sipura', 'resync'},\n"                       \
	"  {'cisco/spa', 'resync'}, {'yealink', 'check-sync;reboot=false'},\n"                     \
	"  {'snom', 'check-sync;reboot=false'}}\n"                                                 \
	"local function gw_fallback(rules, ua, aor, inst, pkg)\n"                                  \
	"  if rules == '' then return false end\n"                                                 \
	"  local subj = {ua = ua or '', aor = aor or '', inst = inst or '', pkg = pkg,\n"          \
	"    num = string.match(aor or '', '^sips?:([^@]+)@') or ''}\n"                            \
	"  for line in string.gmatch(rules, '[^\\n]+') do\n"                                       \
	"    local k, g, a = string.match(line, '^([^\\t]*)\\t([^\\t]*)\\t(.*)$')\n"               \
	"    if k and (k == '*' or gw_glob(g, subj[k])) then\n"                                    \
	"      if a == 'off' then return false end\n"                                              \
	"      if a ~= 'resync' then return a end\n"                                               \
	"      local lua = string.lower(ua or '')\n"                                               \
	"      for _, v in ipairs(GW_VENDORS) do\n"                                                \
	"        if string.find(lua, v[1], 1, true) then return v[2] end\n"                        \
	"      end\n"                                                                              \
	"      return 'check-sync'\n"                                                              \
	"    end\n"                                                                                \
	"  end\n"                                                                                  \
	"  return false\n"                                                                         \
	"end\n"

#endif
