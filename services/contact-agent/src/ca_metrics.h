/* SPDX-License-Identifier: Apache-2.0 */
/*
 * contact-agent's metrics (beckon_agent_*, rendered by cm_metrics) and its optional HTTP
 * server (http-listen: /healthz, /readyz, /metrics through cm_http). The metrics are
 * process-global like the cm_metrics registry; every update is a no-op until
 * ca_metrics_init() has run, so the unit tests and an agent without http-listen pay nothing
 * beyond a few counters.
 */
#ifndef CA_METRICS_H
#define CA_METRICS_H

#include <stdbool.h>

#include <uv.h>

struct cm_http;

/* Registers the agent's families and zero-valued series. Idempotent. */
void ca_metrics_init(void);

/* A REGISTER transaction ended with this final status (nua's local 408/503 included);
 * challenged is true when a 401/407 is being answered with credentials. */
void ca_metrics_register(int status, bool challenged);
/* Whether the agent holds a registration right now (gauge, and /readyz). */
void ca_metrics_registered(bool on);
/* The agent moved to its other registrar; why is "register-failed" or "probe-failed". */
void ca_metrics_switch(const char *why);
/* The answer to an out-of-dialog NOTIFY: "accepted", "bad-event", "challenged",
 * "bad-media", "bad-body", "refused-protect". */
void ca_metrics_notify(const char *outcome);
/* What became of one request of an accepted NOTIFY: "started", "scheduled", "duplicate",
 * "expired", "slot-over", "no-server", "untrusted", "busy", "error". */
void ca_metrics_request(const char *outcome);
/* A callback finished: "ok", "http-error" (answered, not 2xx), "transport-error" (no
 * answer: refused, timeout, TLS) or "cancelled". */
void ca_metrics_callback(const char *result);

/* Starts the HTTP server on listen ("HOST:PORT" or ":PORT" for every IPv4 address). Returns
 * 0 or a negative errno (cm_http_start's). */
int ca_metrics_http_start(uv_loop_t *loop, const char *listen, struct cm_http **out);

#endif
