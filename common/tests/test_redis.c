/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Redis client's settings: the sentinel list and master name parsers
 * (cm_opt checkers, host names included), the timeout bounds, and create/close of a client
 * in Sentinel mode that never connects (no server needed; the live behaviour, look-ups of
 * sentinel names included, is in tests/integration/test_redis_failures.py), and redis-url
 * with a password and its redaction (AUTH against a live server: test_redis_auth.py).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cm/redis.h"

static int parse(const char *s, struct cm_redis_addr *a, size_t *n)
{
	return cm_redis_sentinels_parse(s, a, CM_REDIS_SENTINELS_MAX, n);
}

int main(void)
{
	struct cm_redis_addr a[CM_REDIS_SENTINELS_MAX];
	const char *why = NULL;
	struct cm_redis *r = NULL;
	uv_loop_t loop;
	size_t n = 99;

	CHECK(parse("", a, &n) == 0 && n == 0);
	CHECK(parse(NULL, a, &n) == 0 && n == 0);
	CHECK(parse("127.0.0.1:26379", a, &n) == 0 && n == 1);
	CHECK(strcmp(a[0].host, "127.0.0.1") == 0 && a[0].port == 26379);
	CHECK(parse("10.0.0.1:1, [::1]:26380 ,localhost:7", a, &n) == 0 && n == 3);
	CHECK(strcmp(a[1].host, "::1") == 0 && a[1].port == 26380);
	CHECK(strcmp(a[2].host, "127.0.0.1") == 0 && a[2].port == 7);
	CHECK(parse("127.0.0.1", a, &n) == -EINVAL, "port is required");
	CHECK(parse("127.0.0.1:0", a, &n) == -EINVAL);
	CHECK(parse("127.0.0.1:65536", a, &n) == -EINVAL);
	/* Host names (compose/Kubernetes services) are kept, to be looked up each round. */
	CHECK(parse("redis-sentinel-1:26379,redis-sentinel-2.beckon.svc:26380", a, &n) == 0 &&
	      n == 2);
	CHECK(strcmp(a[0].host, "redis-sentinel-1") == 0 && a[0].port == 26379);
	CHECK(strcmp(a[1].host, "redis-sentinel-2.beckon.svc") == 0 && a[1].port == 26380);
	CHECK(parse("LocalHost:9", a, &n) == 0 && strcmp(a[0].host, "127.0.0.1") == 0);
	CHECK(parse("redis-sentinel-1", a, &n) == -EINVAL, "a name needs a port too");
	CHECK(parse("redis-sentinel-1:", a, &n) == -EINVAL, "empty port");
	CHECK(parse("redis-sentinel-1:x", a, &n) == -EINVAL, "port not a number");
	CHECK(parse(":26379", a, &n) == -EINVAL, "empty host");
	CHECK(parse("bad_name:26379", a, &n) == -EINVAL, "not a host name");
	CHECK(parse("a..b:1", a, &n) == -EINVAL, "empty label");
	CHECK(parse("sentinel 1:26379", a, &n) == -EINVAL, "space inside");
	CHECK(parse("127.0.0.1:1,,127.0.0.1:2", a, &n) == -EINVAL, "empty item");
	CHECK(parse("127.0.0.1:1,", a, &n) == -EINVAL, "trailing comma");
	CHECK(parse(",", a, &n) == -EINVAL);
	CHECK(parse("::1:26379", a, &n) == -EINVAL, "IPv6 needs brackets");
	CHECK(parse("1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,1.1.1.1:6,1.1.1.1:7,"
		    "1.1.1.1:8",
		    a, &n) == 0 &&
	      n == 8);
	CHECK(parse("1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,1.1.1.1:6,1.1.1.1:7,"
		    "1.1.1.1:8,1.1.1.1:9",
		    a, &n) == -EINVAL,
	      "at most 8");
	/* The setting's message says what is wrong. */
	CHECK(cm_redis_check_sentinels("x", &why) == -EINVAL && why && strstr(why, "port"));
	CHECK(cm_redis_check_sentinels("x:0", &why) == -EINVAL && why && strstr(why, "port"));
	CHECK(cm_redis_check_sentinels(":1", &why) == -EINVAL && why && strstr(why, "HOST:PORT"));
	CHECK(cm_redis_check_sentinels("a:1,,b:2", &why) == -EINVAL && why && strstr(why, "empty"));
	CHECK(cm_redis_check_sentinels("a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9", &why) == -EINVAL &&
	      why && strstr(why, "more than 8"));
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname));
		for (size_t i = 60; i < 280; i += 61)
			longname[i] = '.'; /* labels of 60: only the total is too long */
		snprintf(longname + 280, sizeof(longname) - 280, ":1");
		CHECK(cm_redis_check_sentinels(longname, &why) == -EINVAL);
	}
	CHECK(cm_redis_check_sentinels("", &why) == 0);
	CHECK(cm_redis_check_sentinels("redis-sentinel-1:26379", &why) == 0);
	CHECK(cm_redis_check_master("beckon", &why) == 0);
	CHECK(cm_redis_check_master("a.b_c-9", &why) == 0);
	CHECK(cm_redis_check_master("", &why) == -EINVAL);
	CHECK(cm_redis_check_master("bad name", &why) == -EINVAL);
	CHECK(cm_redis_check_master("x%s", &why) == -EINVAL);

	CHECK(uv_loop_init(&loop) == 0);
	/* redis-url forms: userinfo is ":password" (requirepass) or "user:password" (ACL),
	 * percent-encoded; a password is required once there is userinfo. */
	{
		static const char *const good[] = {
		    "redis://127.0.0.1",
		    "redis://[::1]:6380/2",
		    "redis://:s3cret@127.0.0.1:6379",
		    "redis://beckon:s3cret@127.0.0.1/1",
		    "redis://:p%40ss%3Aw%2Fd@127.0.0.1",
		    "redis://:p@ss@127.0.0.1", /* the last '@' ends the userinfo */
		    "redis://beckon:s3cret@[::1]:6379",
		};
		static const char *const bad[] = {
		    "redis://beckon@127.0.0.1",	     "redis://:@127.0.0.1",
		    "redis://beckon:@127.0.0.1",     "redis://:pw@",
		    "redis://:p%00w@127.0.0.1",	     "http://:pw@127.0.0.1",
		    "redis://:pw@redis.example.net",
		};
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			struct cm_redis *g = NULL;

			CHECK(cm_redis_create(&loop, good[i], &g) == 0 && g, "%s", good[i]);
			if (g)
				cm_redis_close(g);
		}
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct cm_redis *b = NULL;

			CHECK(cm_redis_create(&loop, bad[i], &b) == -EINVAL && !b, "%s", bad[i]);
		}
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	}
	{
		char shown[64];

		cm_redis_url_redact("redis://beckon:s3cret@10.0.0.5:6379/1", shown, sizeof(shown));
		CHECK(strcmp(shown, "redis://***@10.0.0.5:6379/1") == 0, "%s", shown);
		cm_redis_url_redact("redis://:p@ss@h:1", shown, sizeof(shown));
		CHECK(strcmp(shown, "redis://***@h:1") == 0, "%s", shown);
		cm_redis_url_redact("redis://10.0.0.5", shown, sizeof(shown));
		CHECK(strcmp(shown, "redis://10.0.0.5") == 0);
		cm_redis_url_redact("oops:pw@x", shown, sizeof(shown));
		CHECK(!strstr(shown, "pw"), "%s", shown);
	}
	CHECK(cm_redis_create(&loop, "redis://127.0.0.1:1/3", &r) == 0 && r);
	CHECK(cm_redis_set_timeout(r, -1) == -EINVAL);
	CHECK(cm_redis_set_timeout(r, 2000) == 0);
	CHECK(cm_redis_set_sentinels(r, "127.0.0.1:1", "bad name") == -EINVAL);
	CHECK(cm_redis_set_sentinels(r, "nope", "beckon") == -EINVAL);
	CHECK(cm_redis_set_sentinels(r, "nope:1", "beckon") == 0, "a name");
	CHECK(cm_redis_set_sentinels(r, "", "beckon") == 0, "empty list: Sentinel off");
	/* redis-sentinel-auth: "" or [USER]:PASSWORD, as in the URL's userinfo. */
	CHECK(cm_redis_check_userinfo("", &why) == 0);
	CHECK(cm_redis_check_userinfo(":s3cret", &why) == 0);
	CHECK(cm_redis_check_userinfo("sentinel:p%40ss", &why) == 0);
	CHECK(cm_redis_check_userinfo("s3cret", &why) == -EINVAL && why && strstr(why, "PASSWORD"),
	      "a password alone needs its colon");
	CHECK(cm_redis_check_userinfo("user:", &why) == -EINVAL, "empty password");
	CHECK(cm_redis_check_userinfo(":p%00", &why) == -EINVAL, "NUL");
	CHECK(cm_redis_set_sentinel_auth(r, ":s3cret") == 0);
	CHECK(cm_redis_set_sentinel_auth(r, "bad") == -EINVAL);
	CHECK(cm_redis_set_sentinel_auth(r, NULL) == 0, "none");
	/* Port 1 refuses at once: the client keeps asking, never ready, closes cleanly. */
	CHECK(cm_redis_set_sentinels(r, "127.0.0.1:1,127.0.0.1:2", "beckon") == 0);
	CHECK(cm_redis_start(r) == 0);
	CHECK(cm_redis_set_sentinels(r, "", "beckon") == -EBUSY, "only before start");
	CHECK(cm_redis_set_sentinel_auth(r, ":x") == -EBUSY, "only before start");
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(!cm_redis_ready(r));
	CHECK(cm_redis_command(r, NULL, NULL, "PING") == -ENOTCONN);
	cm_redis_close(r);
	CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	CHECK(uv_loop_close(&loop) == 0, "every handle closed");
	return check_done();
}
