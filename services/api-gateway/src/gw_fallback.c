/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compiling the fallback settings. Everything a rule may contain is checked here, at start-up,
 * so the Lua side only splits lines: a pattern is `*` plus characters that cannot break the
 * line format, and an action is `off`, `resync` or an Event value (token, then `;name=value`
 * parameters) that goes into the NOTIFY's Event header as it is.
 */
#include "gw_fallback.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cm/str.h"

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-.!%*_+`'~", c) != NULL;
}

/* off, resync, or event-type *( ";" token "=" token ). */
static bool action_valid(const char *a, size_t n)
{
	bool want_token = true, in_value = false;

	if (n == 0 || n > GW_FALLBACK_EVENT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (token_char(a[i]) && a[i] != '*') {
			want_token = false;
		} else if (a[i] == ';' && !want_token) {
			want_token = true;
			in_value = false;
		} else if (a[i] == '=' && !want_token && !in_value && memchr(a, ';', i)) {
			want_token = true;
			in_value = true;
		} else {
			return false;
		}
	}
	return !want_token;
}

static bool pattern_valid(const char *p, size_t n)
{
	if (n == 0 || n > GW_FALLBACK_PATTERN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f || p[i] == ',' ||
		    p[i] == '=')
			return false;
	}
	return true;
}

static const char *rules_or_empty(const char *r)
{
	return r ? r : "";
}

static int append(char *out, size_t size, size_t *used, const char *kind, size_t klen,
		  const char *pat, size_t plen, const char *act, size_t alen)
{
	int n = cm_snprintf(out + *used, size - *used, "%.*s\t%.*s\t%.*s\n", (int)klen, kind,
			    (int)plen, pat, (int)alen, act);

	if (n < 0)
		return -EINVAL;
	*used += (size_t)n;
	return 0;
}

int gw_fallback_compile(const char *fallback, const char *rules, char *out, size_t size, char *err,
			size_t errlen)
{
	static const char *const kinds[] = {"ua", "num", "aor", "inst", "pkg"};
	const char *p = rules ? rules : "";
	size_t used = 0, nrules = 0;
	bool any = false;

	if (size == 0)
		return -EINVAL;
	out[0] = '\0';
	fallback = fallback ? fallback : "off";
	if (!action_valid(fallback, strlen(fallback))) {
		snprintf(err, errlen,
			 "fallback: '%s' is not off, resync or an Event value like check-sync",
			 fallback);
		return -EINVAL;
	}
	while (*rules_or_empty(rules) && p) {
		const char *end = strchr(p, ','), *colon, *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p), klen;
		bool known = false;

		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		colon = memchr(p, ':', n);
		eq = colon ? memchr(colon, '=', n - (size_t)(colon - p)) : NULL;
		klen = colon ? (size_t)(colon - p) : 0;
		for (size_t k = 0; colon && k < sizeof(kinds) / sizeof(kinds[0]); k++)
			known =
			    known || (strlen(kinds[k]) == klen && memcmp(kinds[k], p, klen) == 0);
		if (!known || !eq || !pattern_valid(colon + 1, (size_t)(eq - colon - 1)) ||
		    !action_valid(eq + 1, n - (size_t)(eq + 1 - p)) ||
		    ++nrules > GW_FALLBACK_RULES_MAX) {
			snprintf(err, errlen,
				 "fallback-rules: '%.*s' is not <ua|num|aor|inst|pkg>:<pattern>="
				 "<off|resync|event> (at most %d rules)",
				 (int)n, p, GW_FALLBACK_RULES_MAX);
			return -EINVAL;
		}
		any = any || !(n - (size_t)(eq + 1 - p) == 3 && memcmp(eq + 1, "off", 3) == 0);
		if (append(out, size, &used, p, klen, colon + 1, (size_t)(eq - colon - 1), eq + 1,
			   n - (size_t)(eq + 1 - p)) < 0)
			goto toolong;
		p = end ? end + 1 : NULL;
	}
	any = any || strcmp(fallback, "off") != 0;
	if (!any) {
		out[0] = '\0';
		return 0;
	}
	if (append(out, size, &used, "*", 1, "*", 1, fallback, strlen(fallback)) < 0)
		goto toolong;
	return 0;
toolong:
	snprintf(err, errlen, "fallback-rules: too long");
	return -EINVAL;
}
