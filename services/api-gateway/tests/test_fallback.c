/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of gw_fallback_compile: the `fallback` and `fallback-rules` settings turned into
 * the rule lines the create script evaluates, and every malformed rule refused at start-up.
 */
#include <string.h>

#include "check.h"
#include "gw_fallback.h"
#include "gw_record.h"

static char out[GW_FALLBACK_MAX], err[256];

static int compile(const char *fb, const char *rules)
{
	err[0] = '\0';
	return gw_fallback_compile(fb, rules, out, sizeof(out), err, sizeof(err));
}

#define KV(k, v) CM_STR_LIT(k), CM_STR_LIT(v)

/* GET shows per target how the endpoint opted in and which resync NOTIFY went instead. */
static void check_render(void)
{
	const struct cm_str kv[] = {
	    KV("status", "failed"),
	    KV("target:bbbb", "failed:481:Subscription Does Not Exist"),
	    KV("optin:bbbb", "none"),
	    KV("fallback:bbbb", "check-sync"),
	    KV("target:aaaa", "delivered:200"),
	    KV("optin:aaaa", "feature-tag"),
	    KV("target:cccc", "queued"),
	};
	json_t *j = gw_record_render(kv, sizeof(kv) / sizeof(kv[0]) / 2);
	json_t *t = json_object_get(j, "targets");
	const char *s;

	CHECK(json_array_size(t) == 3);
	s = json_string_value(json_object_get(json_array_get(t, 0), "opt_in"));
	CHECK(s && strcmp(s, "feature-tag") == 0);
	CHECK(json_is_null(json_object_get(json_array_get(t, 0), "fallback")));
	s = json_string_value(json_object_get(json_array_get(t, 1), "opt_in"));
	CHECK(s && strcmp(s, "none") == 0);
	s = json_string_value(json_object_get(json_array_get(t, 1), "fallback"));
	CHECK(s && strcmp(s, "check-sync") == 0);
	CHECK(json_integer_value(json_object_get(json_array_get(t, 1), "sip_status")) == 481);
	CHECK(json_is_null(json_object_get(json_array_get(t, 2), "opt_in")));
	CHECK(!json_object_get(j, "optin:bbbb"));
	json_decref(j);
}

int main(void)
{
	check_render();
	CHECK(compile("off", "") == 0 && strcmp(out, "") == 0);
	CHECK(compile(NULL, NULL) == 0 && strcmp(out, "") == 0);
	CHECK(compile("off", "ua:x*=off") == 0 && strcmp(out, "") == 0, "%s", out);
	CHECK(compile("resync", "") == 0 && strcmp(out, "*\t*\tresync\n") == 0, "%s", out);
	CHECK(compile("off",
		      "ua:Yealink*=resync, ua:baresip*=off,num:7546*=check-sync;reboot=false") ==
		      0 &&
		  strcmp(out, "ua\tYealink*\tresync\nua\tbaresip*\toff\n"
			      "num\t7546*\tcheck-sync;reboot=false\n*\t*\toff\n") == 0,
	      "%s", out);
	CHECK(compile("check-sync", "pkg:application-*=resync") == 0 &&
		  strcmp(out, "pkg\tapplication-*\tresync\n*\t*\tcheck-sync\n") == 0,
	      "%s", out);
	CHECK(compile("bad value", "") < 0 && strstr(err, "fallback:"));
	CHECK(compile("check-sync;", "") < 0);
	CHECK(compile("off", "xx:a=resync") < 0 && strstr(err, "fallback-rules"));
	CHECK(compile("off", "ua:a") < 0);
	CHECK(compile("off", "ua:=resync") < 0);
	CHECK(compile("off", "ua:a=") < 0);
	CHECK(compile("off", "ua:a=re sync") < 0);
	CHECK(compile("off", "ua:a=resync,") < 0);
	CHECK(compile("off", "ua:a\tb=resync") < 0);
	return check_done();
}
