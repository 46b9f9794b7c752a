/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd in external epoll mode on the libuv loop. MHD's epoll fd is watched by a
 * uv_poll_t; after each MHD_run() a uv_timer_t is re-armed from MHD_get_timeout().
 *
 * libmicrohttpd 0.9.75 facts this relies on: the access handler is called first with only
 * the headers, then once per body chunk, then once more with *upload_data_size == 0;
 * answering on the first call makes it send `Connection: close` (we only do that for an
 * announced oversized body); a response may only be queued from inside the handler, so a
 * suspended request keeps its response in `pending`, is resumed, and MHD_run() is called
 * by hand (MHD does not notice a resume by itself in external mode), which calls the
 * handler again to queue it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "cm/err.h"
#include "cm/hostport.h"
#include "cm/http.h"
#include "cm/log.h"
#include "cm/metrics.h"

/*
 * Limits against slow and greedy clients (docs/robustness.md). MHD 0.9.75 has no deadline for
 * a whole request, only an idle timeout, so a slowloris client that dribbles a header line
 * every few seconds keeps its connection: what bounds it is the number of connections one
 * address may hold and what each may cost. The memory pool holds the request line and
 * headers (beyond it: 414 or 431) and MHD's read buffer; bodies are copied out of it.
 */
#define HTTP_IDLE_S 30
#define HTTP_CONNECTIONS_MAX 4096
#define HTTP_PER_IP_MAX 512
#define HTTP_CONN_MEMORY (16 * 1024)
/* TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy (GnuTLS SECURE128 and SECURE256
 * minus CBC and RSA key exchange), the server's order. */
#define HTTP_TLS_PRIORITIES                                                                        \
	"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"       \
	"+CHACHA20-POLY1305:+AES-128-GCM:-RSA:-DHE-RSA:%SERVER_PRECEDENCE"

struct cm_http {
	uv_loop_t *loop;
	struct MHD_Daemon *d;
	uv_poll_t poll;
	uv_timer_t timer;
	struct cm_http_config cfg;
	int port;
	int open_handles;
};

static void run(struct cm_http *srv);

static void timer_cb(uv_timer_t *t)
{
	run(t->data);
}

static void run(struct cm_http *srv)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(srv->d);
	if (MHD_get_timeout(srv->d, &ms) == MHD_YES)
		uv_timer_start(&srv->timer, timer_cb, ms ? ms : 1, 0);
	else
		uv_timer_stop(&srv->timer);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
	run(p->data);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	cm_log_warn("http: %s", buf);
}

static void req_free(struct cm_http_req *req)
{
	if (!req)
		return;
	if (req->pending)
		MHD_destroy_response(req->pending);
	for (int i = 0; i < req->n_headers * 2; i++)
		free(req->headers[i]);
	free(req->body);
	free(req);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	req_free(*con_cls);
	*con_cls = NULL;
}

int cm_http_header(struct cm_http_req *req, const char *name, const char *value)
{
	char *n, *v;

	if (req->n_headers == CM_HTTP_HEADERS_MAX)
		return -ENOSPC;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	req->headers[2 * req->n_headers] = n;
	req->headers[2 * req->n_headers + 1] = v;
	req->n_headers++;
	return 0;
}

/* Every response, by route and code, and the time from arrival to answer. */
static void count_response(const struct cm_http_req *req, unsigned status)
{
	static struct cm_metric_family *requests, *duration;
	const char *route = req->route ? req->route : "other";
	char code[12];

	if (!requests) {
		requests = cm_metric_family(CM_METRIC_COUNTER, "beckon_http_requests_total",
					    "HTTP requests answered, by route and status code",
					    "route", "code", NULL, 0);
		duration = cm_metric_family(
		    CM_METRIC_HISTOGRAM, "beckon_http_request_duration_seconds",
		    "Time from a request's arrival to its answer, by route", "route", NULL,
		    cm_metrics_latency_bounds, cm_metrics_latency_n);
	}
	snprintf(code, sizeof(code), "%u", status);
	cm_metric_inc(cm_metric_labels(requests, route, code));
	cm_metric_observe(cm_metric_labels(duration, route, NULL),
			  (double)(uv_hrtime() - req->start_ns) / 1e9);
}

int cm_http_respond(struct cm_http_req *req, unsigned status, const char *content_type,
		    const char *body, size_t len)
{
	struct MHD_Response *resp;

	if (req->answered)
		return -EALREADY;
	req->answered = true;
	count_response(req, status);
	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return -ENOMEM;
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (int i = 0; i < req->n_headers; i++)
		MHD_add_response_header(resp, req->headers[2 * i], req->headers[2 * i + 1]);
	req->pending = resp;
	req->pending_status = status;
	if (req->suspended && !req->in_handler) {
		req->suspended = false;
		MHD_resume_connection(req->conn);
		run(req->srv);
	}
	return 0;
}

int cm_http_respond_json(struct cm_http_req *req, unsigned status, json_t *json)
{
	char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
	int rc;

	json_decref(json);
	if (!text)
		return cm_http_respond(req, 500, "application/problem+json",
				       "{\"status\":500,\"title\":\"Internal error\"}", 39);
	rc = cm_http_respond(req, status, "application/json", text, strlen(text));
	free(text);
	return rc;
}

int cm_http_respond_problem(struct cm_http_req *req, int err, const char *detail)
{
	char type[96];
	json_t *o;
	char *text;
	int rc;

	snprintf(type, sizeof(type), "urn:beckon:problem:%s", cm_err_type(err));
	o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", cm_err_title(err), "status",
		      cm_err_http_status(err), "detail", detail ? detail : cm_err_title(err));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return cm_http_respond(req, (unsigned)cm_err_http_status(err), "text/plain",
				       "error", 5);
	rc = cm_http_respond(req, (unsigned)cm_err_http_status(err), "application/problem+json",
			     text, strlen(text));
	free(text);
	return rc;
}

void cm_http_suspend(struct cm_http_req *req)
{
	/* Only a flag here: the connection is suspended after the handler returns, and only if
	 * it has not been answered meanwhile. Suspending inside the handler and resuming before
	 * it returns leaves 0.9.75 unable to queue the response (the client then hangs). */
	if (req->in_handler && !req->answered)
		req->suspended = true;
}

const char *cm_http_req_header(const struct cm_http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static void health(struct cm_http_req *req)
{
	struct cm_http *srv = req->srv;
	bool ready;

	req->route = strcmp(req->url, "/healthz") == 0 ? "GET /healthz" : "GET /readyz";
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		cm_http_header(req, "Allow", "GET, HEAD");
		cm_http_respond_problem(req, CM_E_METHOD, "use GET");
		return;
	}
	if (strcmp(req->url, "/healthz") == 0) {
		cm_http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
		return;
	}
	ready = !srv->cfg.ready || srv->cfg.ready(srv->cfg.data);
	cm_http_respond_json(req, ready ? 200 : 503,
			     json_pack("{s:s}", "status", ready ? "ready" : "not-ready"));
}

static void metrics(struct cm_http_req *req)
{
	char *text;
	size_t len;

	req->route = "GET /metrics";
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		cm_http_header(req, "Allow", "GET, HEAD");
		cm_http_respond_problem(req, CM_E_METHOD, "use GET");
		return;
	}
	if (cm_metrics_render(&text, &len) < 0) {
		cm_http_respond_problem(req, CM_E_INTERNAL, "out of memory rendering metrics");
		return;
	}
	cm_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* With tls_client_ca: a presented certificate must verify against it, and with
 * require_client_cert one must be presented. Returns NULL or why the request is refused. */
static const char *client_cert_refused(struct cm_http_req *req)
{
	const struct cm_http_config *cfg = &req->srv->cfg;
	const union MHD_ConnectionInfo *ci;
	unsigned status = 0;
	int rc;

	if (!cfg->tls_cert || !cfg->tls_client_ca)
		return NULL;
	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return "no TLS session";
	if (!gnutls_certificate_get_peers(ci->tls_session, &(unsigned){0}))
		return cfg->require_client_cert ? "a client certificate is required" : NULL;
	rc = gnutls_certificate_verify_peers2(ci->tls_session, &status);
	if (rc < 0 || status != 0)
		return "the client certificate is not valid";
	return NULL;
}

int cm_http_req_peer_cn(const struct cm_http_req *req, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	unsigned n = 0, status = 0;
	size_t len = size;
	int rc;

	if (!req->srv->cfg.tls_cert || !req->srv->cfg.tls_client_ca)
		return -ENOENT;
	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return -ENOENT;
	certs = gnutls_certificate_get_peers(ci->tls_session, &n);
	if (!certs || n == 0 || gnutls_certificate_verify_peers2(ci->tls_session, &status) < 0 ||
	    status != 0)
		return -ENOENT;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOENT;
	rc = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
	if (rc >= 0)
		rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, out,
						   &len);
	gnutls_x509_crt_deinit(crt);
	if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
		return -ENOSPC;
	return rc < 0 ? -ENOENT : 0;
}

void cm_http_respond_metrics(struct cm_http_req *req)
{
	metrics(req);
}

static enum MHD_Result queue_pending(struct cm_http_req *req)
{
	enum MHD_Result ret = MHD_queue_response(req->conn, req->pending_status, req->pending);

	MHD_destroy_response(req->pending);
	req->pending = NULL;
	return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct cm_http *srv = cls;
	struct cm_http_req *req = *con_cls;
	const char *why;

	if (!req) {
		const char *cl;

		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->srv = srv;
		req->conn = conn;
		req->start_ns = uv_hrtime();
		req->method = method;
		req->url = url;
		req->content_type =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		*con_cls = req;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
			char detail[96];

			/* Refuse before reading it; MHD closes the connection after. */
			snprintf(detail, sizeof(detail), "request body larger than %zu bytes",
				 srv->cfg.max_body);
			cm_http_respond_problem(req, CM_E_TOO_LARGE, detail);
			return queue_pending(req);
		}
		return MHD_YES;
	}
	if (req->pending && !req->suspended)
		return queue_pending(req);
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (req->too_large || req->body_len + n > srv->cfg.max_body) {
			req->too_large = true;
			return MHD_YES;
		}
		if (req->body_len + n + 1 > req->body_cap) {
			size_t cap = req->body_cap ? req->body_cap : 1024;
			char *b;

			while (cap < req->body_len + n + 1)
				cap *= 2;
			b = realloc(req->body, cap);
			if (!b)
				return MHD_NO;
			req->body = b;
			req->body_cap = cap;
		}
		memcpy(req->body + req->body_len, upload, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (req->answered || req->suspended)
		return MHD_YES;
	if (!req->body) {
		req->body = calloc(1, 1);
		if (!req->body)
			return MHD_NO;
		req->body_cap = 1;
	}
	req->in_handler = true;
	if (req->too_large) {
		char detail[96];

		snprintf(detail, sizeof(detail), "request body larger than %zu bytes",
			 srv->cfg.max_body);
		cm_http_respond_problem(req, CM_E_TOO_LARGE, detail);
	} else if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
		health(req);
	} else if ((why = client_cert_refused(req)) != NULL) {
		cm_http_respond_problem(req, CM_E_FORBIDDEN, why);
	} else if (strcmp(url, "/metrics") == 0 && !srv->cfg.metrics_private) {
		metrics(req);
	} else if (srv->cfg.handler) {
		srv->cfg.handler(req, srv->cfg.data);
	} else {
		cm_http_respond_problem(req, CM_E_NOT_FOUND, "no such resource");
	}
	req->in_handler = false;
	if (req->answered) {
		req->suspended = false;
		return queue_pending(req);
	}
	if (!req->suspended)
		return MHD_NO; /* handler bug: neither answered nor suspended */
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static int make_addr(const char *listen, struct sockaddr_storage *ss, bool *v6)
{
	struct cm_hostport hp;
	char host[64];

	if (!listen || cm_hostport_parse(listen, strlen(listen), &hp) < 0 || hp.port < 0 ||
	    hp.kind == CM_HOST_NAME || hp.host.len >= sizeof(host))
		return -EINVAL;
	memcpy(host, hp.host.p, hp.host.len);
	host[hp.host.len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hp.kind == CM_HOST_IPV6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)hp.port);
		inet_pton(AF_INET6, host, &s6->sin6_addr);
		*v6 = true;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)hp.port);
		inet_pton(AF_INET, host, &s4->sin_addr);
		*v6 = false;
	}
	return 0;
}

static void srv_closed(uv_handle_t *h)
{
	struct cm_http *srv = h->data;

	if (--srv->open_handles == 0)
		free(srv);
}

int cm_http_start(uv_loop_t *loop, const struct cm_http_config *cfg, struct cm_http **out)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	struct cm_http *srv;
	bool v6 = false;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tls[] = {
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key},
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert},
	    {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
	    {cfg->tls_client_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
	     (void *)cfg->tls_client_ca},
	    {MHD_OPTION_END, 0, NULL}};

	if (make_addr(cfg->listen, &ss, &v6) < 0)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->cfg = *cfg;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (cfg->tls_cert) {
		if (!cfg->tls_key || MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			free(srv);
			return -ENOTSUP;
		}
		flags |= MHD_USE_TLS;
	} else {
		tls[0].option = MHD_OPTION_END;
	}
	/* The logger must be the first option, or MHD prints early messages itself. */
	srv->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)HTTP_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)HTTP_PER_IP_MAX, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!srv->d) {
		free(srv);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || uv_poll_init(loop, &srv->poll, info->epoll_fd) < 0) {
		MHD_stop_daemon(srv->d);
		free(srv);
		return -EIO;
	}
	srv->poll.data = srv;
	uv_timer_init(loop, &srv->timer);
	srv->timer.data = srv;
	srv->open_handles = 2;
	uv_poll_start(&srv->poll, UV_READABLE, poll_cb);
	*out = srv;
	return 0;
}

int cm_http_port(const struct cm_http *srv)
{
	return srv->port;
}

void cm_http_stop(struct cm_http *srv)
{
	if (!srv)
		return;
	uv_poll_stop(&srv->poll);
	uv_timer_stop(&srv->timer);
	uv_close((uv_handle_t *)&srv->poll, srv_closed);
	uv_close((uv_handle_t *)&srv->timer, srv_closed);
	MHD_stop_daemon(srv->d);
	srv->d = NULL;
}
