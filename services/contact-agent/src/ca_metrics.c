/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's metrics and HTTP server. Label values are fixed literals chosen by the
 * callers (never taken from the network), so series stay few; status codes are reduced to
 * their class for the same reason.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ca_metrics.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/metrics.h"

static struct {
	bool init;
	struct cm_metric_family *reg, *sw, *notify, *req, *cb;
	struct cm_metric *attempts, *registered;
	bool is_registered;
} m;

static const char *const notify_outcomes[] = {"accepted",  "bad-event", "challenged",
					      "bad-media", "bad-body",	"refused-protect"};
static const char *const req_outcomes[] = {"started",	"scheduled", "duplicate",
					   "expired",	"slot-over", "no-server",
					   "untrusted", "busy",	     "error"};
static const char *const cb_results[] = {"ok", "http-error", "transport-error", "cancelled"};

void ca_metrics_init(void)
{
	if (m.init)
		return;
	m.init = true;
	m.attempts = cm_metric_counter("beckon_agent_register_attempts_total",
				       "REGISTER transactions ended (first, refreshes, retries)");
	m.reg = cm_metric_family(CM_METRIC_COUNTER, "beckon_agent_registers_total",
				 "REGISTER answers by result and status class", "result", "class",
				 NULL, 0);
	m.registered = cm_metric_gauge("beckon_agent_registered",
				       "1 while the agent holds a registration, else 0");
	m.sw = cm_metric_family(CM_METRIC_COUNTER, "beckon_agent_registrar_switches_total",
				"moves to the other registrar (backup-registrar), by cause",
				"reason", NULL, NULL, 0);
	m.notify = cm_metric_family(CM_METRIC_COUNTER, "beckon_agent_notifies_total",
				    "contact-me NOTIFYs received, by how they were answered",
				    "outcome", NULL, NULL, 0);
	m.req = cm_metric_family(CM_METRIC_COUNTER, "beckon_agent_requests_total",
				 "requests of accepted NOTIFYs, by what became of them", "outcome",
				 NULL, NULL, 0);
	m.cb = cm_metric_family(CM_METRIC_COUNTER, "beckon_agent_callbacks_total",
				"callbacks finished, by result", "result", NULL, NULL, 0);
	/* Zero series up front, so that rate() and alerts see them before the first event. */
	cm_metric_labels(m.reg, "ok", "2xx");
	cm_metric_labels(m.reg, "failed", "4xx");
	cm_metric_labels(m.sw, "register-failed", NULL);
	cm_metric_labels(m.sw, "probe-failed", NULL);
	for (size_t i = 0; i < sizeof(notify_outcomes) / sizeof(notify_outcomes[0]); i++)
		cm_metric_labels(m.notify, notify_outcomes[i], NULL);
	for (size_t i = 0; i < sizeof(req_outcomes) / sizeof(req_outcomes[0]); i++)
		cm_metric_labels(m.req, req_outcomes[i], NULL);
	for (size_t i = 0; i < sizeof(cb_results) / sizeof(cb_results[0]); i++)
		cm_metric_labels(m.cb, cb_results[i], NULL);
	cm_metric_set(m.registered, 0);
}

void ca_metrics_register(int status, bool challenged)
{
	static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};
	int c = status / 100;
	const char *result = challenged ? "challenged" : (c == 2 ? "ok" : "failed");

	if (!m.init)
		return;
	cm_metric_inc(m.attempts);
	cm_metric_inc(cm_metric_labels(m.reg, result, c >= 1 && c <= 6 ? classes[c - 1] : "other"));
}

void ca_metrics_registered(bool on)
{
	m.is_registered = on;
	cm_metric_set(m.registered, on ? 1 : 0);
}

/* The three below pass only the literals listed in ca_metrics.h. */
void ca_metrics_switch(const char *why)
{
	if (m.init)
		cm_metric_inc(cm_metric_labels(m.sw, why, NULL));
}

void ca_metrics_notify(const char *outcome)
{
	if (m.init)
		cm_metric_inc(cm_metric_labels(m.notify, outcome, NULL));
}

void ca_metrics_request(const char *outcome)
{
	if (m.init)
		cm_metric_inc(cm_metric_labels(m.req, outcome, NULL));
}

void ca_metrics_callback(const char *result)
{
	if (m.init)
		cm_metric_inc(cm_metric_labels(m.cb, result, NULL));
}

static void http_handler(struct cm_http_req *req, void *data)
{
	(void)data;
	cm_http_respond_problem(req, CM_E_NOT_FOUND,
				"contact-agent serves only /healthz, /readyz and /metrics");
}

static bool ready(void *data)
{
	(void)data;
	return m.is_registered;
}

int ca_metrics_http_start(uv_loop_t *loop, const char *listen, struct cm_http **out)
{
	char addr[80];

	/* ":PORT" is the documented short form for every IPv4 address. */
	if (listen[0] == ':') {
		if ((size_t)snprintf(addr, sizeof(addr), "0.0.0.0%s", listen) >= sizeof(addr))
			return -EINVAL;
		listen = addr;
	}
	ca_metrics_init();
	struct cm_http_config hc = {
	    .listen = listen, .max_body = 1024, .handler = http_handler, .ready = ready};
	return cm_http_start(loop, &hc, out);
}
