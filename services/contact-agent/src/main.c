/* SPDX-License-Identifier: Apache-2.0 */
/*
 * contact-agent: the endpoint side of beckon. Reads settings, starts the SIP user agent on
 * one libuv loop, and shuts down cleanly on SIGINT/SIGTERM (unregister, close, exit 0).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ca_agent.h"
#include "ca_callback.h"
#include "ca_metrics.h"
#include "ca_settings.h"
#include "cm/config.h"
#include "cm/http.h"
#include "cm/log.h"

static struct ca_agent agent;
static uv_signal_t sig_int, sig_term;
static int exit_code;
static struct cm_http *http; /* NULL without http-listen */

static void agent_done(struct ca_agent *a, bool clean)
{
	(void)a;
	cm_http_stop(http);
	http = NULL;
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_term, NULL);
	if (!clean)
		uv_stop(uv_default_loop()); /* sofia's handles are still open: leave anyway */
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	if (agent.stopping)
		return;
	cm_log_info("signal %d: shutting down", signum);
	ca_agent_stop(&agent, agent_done);
}

int main(int argc, char **argv)
{
	struct ca_settings set = {0};
	uv_loop_t *loop = uv_default_loop();
	char err[512];
	int rc, level = CM_LOG_INFO;

	cm_log_init("contact-agent", CM_LOG_INFO);
	rc = cm_config_load(ca_settings_opts, ca_settings_n, &set, "contact-agent", argc, argv, err,
			    sizeof(err));
	if (rc == 1) {
		cm_config_free(ca_settings_opts, ca_settings_n, &set);
		return 0;
	}
	if (rc == 0 && (level = cm_log_level_parse(set.log_level)) < 0) {
		snprintf(err, sizeof(err), "log-level: expected error, warn, info or debug");
		rc = level;
	}
	if (rc == 0)
		rc = ca_settings_check(&set, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "contact-agent: %s\n", err);
		cm_config_free(ca_settings_opts, ca_settings_n, &set);
		return 2;
	}
	cm_log_set_level((enum cm_log_level)level);
	if (ca_callback_global_init() < 0) {
		cm_log_error("curl_global_init failed");
		cm_config_free(ca_settings_opts, ca_settings_n, &set);
		return 1;
	}

	uv_signal_init(loop, &sig_int);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_term, on_signal, SIGTERM);

	if (set.http_listen && *set.http_listen) {
		rc = ca_metrics_http_start(loop, set.http_listen, &http);
		if (rc < 0) {
			cm_log_error("http-listen: cannot listen on %s: %s", set.http_listen,
				     strerror(-rc));
			http = NULL;
			exit_code = 1;
		} else {
			cm_log_info("http listening on port %d", cm_http_port(http));
		}
	}
	rc = exit_code ? -EINVAL : ca_agent_start(&agent, loop, &set, err, sizeof(err));
	if (rc < 0 && !exit_code) {
		cm_log_error("start failed: %s", err);
		exit_code = 1;
	}
	if (rc < 0)
		ca_agent_stop(&agent, agent_done);
	uv_run(loop, UV_RUN_DEFAULT);
	if (uv_loop_close(loop) == UV_EBUSY)
		cm_log_debug("loop closed with handles still open");
	cm_log_info("stopped");
	ca_callback_global_cleanup();
	cm_config_free(ca_settings_opts, ca_settings_n, &set);
	return exit_code;
}
