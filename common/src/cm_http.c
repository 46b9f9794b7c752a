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

#include <microhttpd.h>

#include "cm/err.h"
#include "cm/hostport.h"
#include "cm/http.h"
#include "cm/log.h"

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

int cm_http_respond(struct cm_http_req *req, unsigned status, const char *content_type,
		    const char *body, size_t len)
{
	struct MHD_Response *resp;

	if (req->answered)
		return -EALREADY;
	req->answered = true;
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

	if (!req) {
		const char *cl;

		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->srv = srv;
		req->conn = conn;
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

	if (make_addr(cfg->listen, &ss, &v6) < 0)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->cfg = *cfg;
	if (v6)
		flags |= MHD_USE_IPv6;
	/* The logger must be the first option, or MHD prints early messages itself. */
	srv->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)HTTP_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)HTTP_PER_IP_MAX, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
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
