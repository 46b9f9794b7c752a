/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP server on the libuv loop: libmicrohttpd in external epoll mode, watched by a
 * uv_poll_t, with a timer re-armed from MHD_get_timeout(). It collects the request body
 * (up to a limit: 413 beyond), answers GET /healthz and GET /readyz itself, and hands every
 * other complete request to the service's handler exactly once.
 *
 * The handler answers with cm_http_respond*() either at once, or later after
 * cm_http_suspend() (e.g. from a Redis callback). The cm_http_req stays valid until it has
 * been answered; it is freed by the server after the response is sent.
 */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

struct cm_http;

#define CM_HTTP_HEADERS_MAX 4

struct cm_http_req {
	const char *method;
	const char *url;	  /* path only, query string removed */
	const char *content_type; /* NULL if absent */
	char *body;		  /* NUL-terminated, body_len bytes */
	size_t body_len;
	void *data; /* free for the handler's use */
	/* A fixed route name for metrics (a literal, e.g. "POST /v1/requests"), set by the
	 * handler; NULL counts the request under "other". */
	const char *route;
	/* private */
	struct cm_http *srv;
	struct MHD_Connection *conn;
	struct MHD_Response *pending;
	unsigned pending_status;
	bool suspended, answered, in_handler, too_large;
	size_t body_cap;
	char *headers[2 * CM_HTTP_HEADERS_MAX];
	int n_headers;
	uint64_t start_ns; /* arrival, for the duration histogram */
};

typedef void cm_http_handler(struct cm_http_req *req, void *data);
typedef bool cm_http_ready_fn(void *data);

struct cm_http_config {
	const char *listen; /* "host:port"; port 0 picks a free one */
	size_t max_body;    /* bytes */
	cm_http_handler *handler;
	cm_http_ready_fn *ready; /* for /readyz; NULL = always ready */
	void *data;		 /* passed to handler and ready */
	/* HTTPS (GnuTLS, TLS 1.2 minimum): PEM text, not file names, of the certificate chain
	 * and its key. NULL: plain HTTP. */
	const char *tls_cert, *tls_key;
	/* PEM CA certificates: clients are asked for a certificate and it is verified against
	 * these; a presented invalid one is refused (403). NULL: none asked for. */
	const char *tls_client_ca;
	bool require_client_cert; /* also refuse requests without one (health excepted) */
	/* false: cm_http answers GET /metrics itself, to anyone. true: /metrics goes to the
	 * handler like any path, which may authenticate it and answer with
	 * cm_http_respond_metrics() (api-gateway's public API port). */
	bool metrics_private;
};

/* Starts listening. Returns 0 or a negative errno (-EADDRINUSE, -EINVAL ...). */
int cm_http_start(uv_loop_t *loop, const struct cm_http_config *cfg, struct cm_http **out);
/* The bound port (useful with port 0). */
int cm_http_port(const struct cm_http *srv);
/* Stops listening and frees the server. Safe on NULL. Call only once every suspended
 * request has been answered (close Redis first: its callbacks then answer with 503). */
void cm_http_stop(struct cm_http *srv);

/* Marks req as answered later. Only from inside the handler. */
void cm_http_suspend(struct cm_http_req *req);

/* The subject common name of the client certificate, when one was presented and verifies
 * against tls_client_ca. Returns 0, -ENOENT (none, or not valid) or -ENOSPC. */
int cm_http_req_peer_cn(const struct cm_http_req *req, char *out, size_t size);

/* A request header's value (borrowed, valid as long as req), or NULL. */
const char *cm_http_req_header(const struct cm_http_req *req, const char *name);

/* Adds a header (copied) to the response that the next cm_http_respond*() sends. At most
 * CM_HTTP_HEADERS_MAX. Returns 0, -ENOSPC or -ENOMEM. */
int cm_http_header(struct cm_http_req *req, const char *name, const char *value);

/* Answers req. body is copied. Returns 0 or a negative errno (the request then gets a 500
 * or is closed). Exactly one respond call per request. */
int cm_http_respond(struct cm_http_req *req, unsigned status, const char *content_type,
		    const char *body, size_t len);
/* Answers with a JSON body; steals the reference to json. */
int cm_http_respond_json(struct cm_http_req *req, unsigned status, json_t *json);
/* Answers with the Prometheus text of every metric (cm/metrics.h). */
void cm_http_respond_metrics(struct cm_http_req *req);

/* Answers with application/problem+json for a CM_E_* error, with detail naming the problem
 * (e.g. "field 'server.port' must be an integer in 1..65535"). */
int cm_http_respond_problem(struct cm_http_req *req, int err, const char *detail);

#endif
