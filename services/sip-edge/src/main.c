/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sip-edge: argv and settings, the libuv loop, SIGINT/SIGTERM. The work is in se_edge.c.
 * The first signal drains (se_drain.h: hand work back within drain-timeout), a second one
 * stops at once.
 * Exit status: 0 after a clean shutdown or --help, 2 for bad settings, 1 if startup failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cm/config.h"
#include "cm/log.h"
#include "se_config.h"
#include "se_drain.h"
#include "se_edge.h"

struct sigctx {
	struct se_edge *edge;
	long drain_timeout;
	bool draining;
};

static void on_signal(uv_signal_t *sig, int signum)
{
	struct sigctx *c = sig->data;

	cm_log_info("signal %d: shutting down", signum);
	if (c->edge && !c->draining) {
		c->draining = true;
		if (se_drain_start(c->edge, c->drain_timeout) == 0)
			return; /* it stops the loop when done */
	}
	/* se_edge_stop runs the loop itself, which must not happen from inside a callback. */
	uv_stop(sig->loop);
}

int main(int argc, char **argv)
{
	struct se_config cfg;
	struct se_edge *edge = NULL;
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	struct sigctx sc = {0};
	char err[512];
	int rc, status = 0;

	memset(&cfg, 0, sizeof(cfg));
	cm_log_init("sip-edge", CM_LOG_INFO);
	rc = cm_config_load(se_config_opts, se_config_n_opts, &cfg, "sip-edge", argc, argv, err,
			    sizeof(err));
	if (rc == 1) {
		cm_config_free(se_config_opts, se_config_n_opts, &cfg);
		return 0;
	}
	if (rc == 0)
		rc = se_config_check(&cfg, err, sizeof(err));
	if (rc < 0) {
		cm_log_error("bad settings: %s", err);
		fprintf(stderr, "sip-edge: %s (see --help)\n", err);
		cm_config_free(se_config_opts, se_config_n_opts, &cfg);
		return 2;
	}
	cm_log_set_level((enum cm_log_level)cfg.log_level_num);

	uv_loop_init(&loop);
	uv_signal_init(&loop, &sigint);
	uv_signal_init(&loop, &sigterm);
	sigint.data = sigterm.data = &sc;
	sc.drain_timeout = cfg.drain_timeout;
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_start(&sigterm, on_signal, SIGTERM);

	rc = se_edge_start(&loop, &cfg, &edge);
	if (rc < 0) {
		status = 1;
	} else {
		sc.edge = edge;
		uv_run(&loop, UV_RUN_DEFAULT);
		sc.edge = NULL;
		se_edge_stop(edge);
	}

	uv_close((uv_handle_t *)&sigint, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		cm_log_warn("loop closed with handles still open");
	if (status == 0)
		cm_log_info("sip-edge stopped");
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	return status;
}
