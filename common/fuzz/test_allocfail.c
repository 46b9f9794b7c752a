/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation-failure injection over libcm (issue 7): for each parser and each other libcm
 * entry point that allocates without a network, fail the Nth allocation for every N a
 * success needs, and check for a clean error and no leak. The parsers on the hot paths
 * (payload, device ids, hostport, listen specs) must not allocate at all; that is checked
 * too, since a parser that starts allocating needs failure handling it does not have yet.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "allocfail.h"
#include "cm/config.h"
#include "cm/device.h"
#include "cm/hostport.h"
#include "cm/log.h"
#include "cm/payload.h"
#include "cm/redis.h"
#include "cm/str.h"

struct settings {
	char *listen;
	char *edge_id;
	long port;
	bool verbose;
};

static const struct cm_opt opts[] = {
    CM_OPT_STR_(struct settings, listen, "sip-listen", "udp:127.0.0.1:5060", false, "listen"),
    CM_OPT_STR_(struct settings, edge_id, "edge-id", NULL, true, "edge id"),
    CM_OPT_INT_(struct settings, port, "max-expires", "3600", 60, 86400, "max"),
    CM_OPT_BOOL_(struct settings, verbose, "verbose", "false", "verbose"),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char config_text[] = "# test\n"
				  "sip-listen = udp:127.0.0.1:5070,tcp:[::1]:5070\n"
				  "edge-id = edge-1\n"
				  "max-expires = 600\n"
				  "edge-id = edge-2\n"
				  "verbose = on\n";

static int run_config_text(void *ctx)
{
	struct settings s = {0};
	char err[256];
	int rc = cm_config_load_text(opts, NOPTS, &s, config_text, sizeof(config_text) - 1, err,
				     sizeof(err));

	if (rc == 0 && (!s.edge_id || strcmp(s.edge_id, "edge-2") != 0 || s.port != 600))
		rc = -EPROTO;
	cm_config_free(opts, NOPTS, &s);
	return rc;
}

/* cm_config_load with a --config file, an environment variable and flags. */
static int run_config_load(void *ctx)
{
	char *argv[] = {"test",	     "--config", (char *)ctx, "--sip-listen", "udp:0.0.0.0:5060",
			"--verbose", NULL};
	struct settings s = {0};
	char err[256];
	int rc = cm_config_load(opts, NOPTS, &s, "test", 6, argv, err, sizeof(err));

	if (rc == 0 && (!s.listen || strcmp(s.listen, "udp:0.0.0.0:5060") != 0 || !s.verbose))
		rc = -EPROTO;
	cm_config_free(opts, NOPTS, &s);
	return rc;
}

static int run_str_dup(void *ctx)
{
	char *d = cm_str_dup(CM_STR_LIT("beckon"));

	if (!d)
		return -ENOMEM;
	free(d);
	return 0;
}

static int run_redis_create(void *ctx)
{
	uv_loop_t *loop = ctx;
	struct cm_redis *r = NULL;
	int rc = cm_redis_create(loop, "redis://[::1]:6380/2", &r);

	if (rc < 0)
		return rc;
	cm_redis_close(r);
	return uv_run(loop, UV_RUN_DEFAULT) == 0 ? 0 : -EBUSY;
}

/* cm_log has no error to return: it must print something and not leak or crash. */
static int run_log(void *ctx)
{
	cm_log_info("allocfail: a log line with a value '%s'", "caf\xc3\xa9");
	return 0;
}

/* The parsers that must not allocate: one success each, no allocation counted. */
static int run_parsers(void *ctx)
{
	static const char payload[] = "request-id=a-1\r\nserver=h.example:443\r\n"
				      "protocol=https\r\npath=/x?y=1\r\nalt-server=[::1]:1\r\n"
				      "time-slot=2026-01-01T00:00:00Z/2026-01-01T01:00:00Z\r\n";
	struct cm_payload p;
	struct cm_device d;
	struct cm_hostport hp;
	struct cm_listen l[CM_LISTEN_MAX];
	char buf[CM_PAYLOAD_MAX + 1], err[128];
	const char *why;

	if (cm_payload_parse(payload, sizeof(payload) - 1, &p, &why) < 0 ||
	    cm_payload_format(&p, buf, sizeof(buf), &why) < 0 ||
	    cm_device_parse("sip:Alice@Example.COM;transport=tcp", 35, &d, &why) < 0 ||
	    cm_device_parse("00-11-22-AA-BB-CC", 17, &d, &why) < 0 ||
	    cm_aor_normalize("sips:bob@[2001:DB8::1]:5061", 27, buf, sizeof(buf)) < 0 ||
	    cm_hostport_parse("[2001:db8::1]:5060", 18, &hp) < 0 ||
	    cm_listen_parse("udp:127.0.0.1:5060,tls:[::1]:5061", l, CM_LISTEN_MAX, err,
			    sizeof(err)) != 2)
		return -EPROTO;
	return 0;
}

int main(void)
{
	char path[] = "/tmp/beckon-allocfail-XXXXXX";
	uv_loop_t loop;
	int failures = 0, fd;

	allocfail_init();
	cm_log_init("allocfail", CM_LOG_INFO);
	fd = mkstemp(path);
	if (fd < 0 || write(fd, config_text, sizeof(config_text) - 1) < 0 || close(fd) < 0) {
		perror("allocfail: temporary config file");
		return 1;
	}
	unsetenv("BECKON_CONFIG");
	setenv("BECKON_MAX_EXPIRES", "700", 1);
	if (uv_loop_init(&loop) != 0)
		return 1;

	failures += allocfail_run("cm_config_load_text", run_config_text, NULL, 0);
	failures += allocfail_run("cm_config_load", run_config_load, path, 0);
	failures += allocfail_run("cm_str_dup", run_str_dup, NULL, 0);
	failures += allocfail_run("cm_redis_create", run_redis_create, &loop, 0);
	failures += allocfail_run("cm_log", run_log, NULL, ALLOCFAIL_MAY_SUCCEED);
	/* allocfail_run has just reset the count. */
	if (run_parsers(NULL) < 0 || allocfail_count() != 0) {
		fprintf(stderr, "allocfail: the hot-path parsers failed or allocated (%ld)\n",
			allocfail_count());
		failures++;
	}

	unlink(path);
	unsetenv("BECKON_MAX_EXPIRES");
	uv_loop_close(&loop);
	printf("%d problems\n", failures);
	return failures ? 1 : 0;
}
