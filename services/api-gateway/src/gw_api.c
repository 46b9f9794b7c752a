/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routes of api-gateway (proto/rest.md, proto/soap/). Input is validated completely before
 * Redis is touched (so a bad request is a 400 or a Fault whatever state Redis is in), then
 * handed to gw_store, whose result is rendered in the caller's dialect. The HTTP request is
 * suspended before the store is called: the store answers either at once (refusals) or from
 * a Redis callback, and cm_http handles both.
 *
 * Every request is authenticated first (gw_auth: an API key as a Bearer token); the key's
 * client id names the API client, so a request only ever sees and changes requests made by
 * its own client (refs are <client>:<request_id>). X-Beckon-Client has no effect any more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "cm/err.h"
#include "cm/log.h"
#include "gw_api.h"
#include "gw_drain.h"
#include "gw_auth.h"
#include "gw_request.h"
#include "gw_soap.h"
#include "gw_status.h"

#define CALLBACKS_PATH "/v1/callbacks"
#define COMPLETE_SUFFIX "/complete"
#define SOAP_PATH "/soap"

/* One HTTP request waiting for the store. */
struct hctx {
	struct cm_http_req *req;
	bool soap;
	bool in_handler, done; /* the store's callback ran inside the handler */
	enum gw_soap_version version;
};

static const char *header(struct cm_http_req *req, const char *name)
{
	return cm_http_req_header(req, name);
}

/* An application/problem+json answer, with Retry-After for 429. */
static void problem(struct cm_http_req *req, int err, const char *detail, long retry_after)
{
	char ra[24];

	if (retry_after > 0) {
		snprintf(ra, sizeof(ra), "%ld", retry_after);
		cm_http_header(req, "Retry-After", ra);
	}
	cm_http_respond_problem(req, err, detail);
}

static void soap_fault(struct cm_http_req *req, enum gw_soap_version v,
		       const struct gw_soap_fault *f)
{
	unsigned status = 500;
	size_t len = 0;
	char *xml = gw_soap_fault_render(v, f, &len, &status);
	char ra[24];

	cm_log_debug("soap fault %d: %s", cm_err_http_status(f->err), f->detail);
	if (f->retry_after > 0) {
		snprintf(ra, sizeof(ra), "%ld", f->retry_after);
		cm_http_header(req, "Retry-After", ra);
	}
	if (!xml) {
		cm_http_respond(req, 503, "text/plain", "out of memory", 13);
		return;
	}
	cm_http_respond(req, status, gw_soap_content_type(v), xml, len);
	free(xml);
}

/* Frees h, unless the handler that called the store still holds it (see dispatch). */
static void release(struct hctx *h)
{
	if (h->in_handler)
		h->done = true;
	else
		free(h);
}

/* Answers an error in the request's dialect. */
static void refuse(struct hctx *h, int err, const char *detail, long retry_after)
{
	if (h->soap) {
		struct gw_soap_fault f = {
		    .code = GW_FAULT_PROBLEM, .err = err, .retry_after = retry_after};

		snprintf(f.detail, sizeof(f.detail), "%s", detail);
		soap_fault(h->req, h->version, &f);
	} else {
		problem(h->req, err, detail, retry_after);
	}
	release(h);
}

/* gw_store_cb: renders the result and releases the context. */
static void on_result(const struct gw_result *res, void *data)
{
	struct hctx *h = data;
	struct cm_http_req *req = h->req;

	if (res->err) {
		refuse(h, res->err, res->detail, res->retry_after);
		return;
	}
	if (h->soap) {
		size_t len = 0;
		char *xml = gw_soap_response(h->version, res->op, res->body, &len);

		if (!xml)
			cm_http_respond(req, 503, "text/plain", "out of memory", 13);
		else
			cm_http_respond(req, 200, gw_soap_content_type(h->version), xml, len);
		free(xml);
	} else {
		if (res->op == GW_OP_CREATE && res->request_id) {
			char loc[sizeof(CALLBACKS_PATH) + GW_REQUEST_ID_MAX + 2];

			snprintf(loc, sizeof(loc), CALLBACKS_PATH "/%s", res->request_id);
			cm_http_header(req, "Location", loc);
		}
		cm_http_respond_json(req, res->status, json_incref(res->body));
	}
	release(h);
}

/* Runs a store operation from inside the handler: suspends the HTTP request only when the
 * answer will come later from Redis. r is taken (create); id is borrowed (the others). */
static void dispatch(struct gw_api *api, struct hctx *h, enum gw_op op, struct gw_request *r,
		     const char *client, const char *id)
{
	struct cm_http_req *req = h->req;

	h->in_handler = true;
	if (op == GW_OP_CREATE)
		gw_store_create(&api->store, r, on_result, h);
	else
		gw_store_op(&api->store, op, client, id, on_result, h);
	h->in_handler = false;
	if (h->done)
		free(h);
	else
		cm_http_suspend(req);
}

static struct hctx *hctx_new(struct cm_http_req *req, bool soap)
{
	struct hctx *h = calloc(1, sizeof(*h));

	if (!h) {
		problem(req, -ENOMEM, "out of memory", 0);
		return NULL;
	}
	h->req = req;
	h->soap = soap;
	h->version = GW_SOAP_11;
	return h;
}

/* Validates the body tree (REST: JSON text; SOAP: the tree gw_soap built) into a new
 * gw_request with the key's client, or refuses (403 when the key may not make it). */
static struct gw_request *request_of(struct gw_api *api, struct hctx *h, json_t *tree,
				     const struct gw_key *key)
{
	struct cm_http_req *req = h->req;
	struct gw_request *r = malloc(sizeof(*r));
	char detail[GW_DETAIL_MAX];
	int rc;

	if (!r) {
		refuse(h, -ENOMEM, "out of memory", 0);
		return NULL;
	}
	if (tree)
		rc = gw_request_from_json(tree, api->store.packages, r, detail, sizeof(detail));
	else
		rc = gw_request_parse_with(req->body, req->body_len, api->store.packages, r, detail,
					   sizeof(detail));
	if (rc == 0) {
		snprintf(r->client, sizeof(r->client), "%s", key->client);
		rc = gw_auth_allows(key, r, detail, sizeof(detail));
		if (rc < 0)
			gw_request_free(r);
	}
	if (rc < 0) {
		if (rc != CM_E_BAD_REQUEST && rc != CM_E_FORBIDDEN)
			snprintf(detail, sizeof(detail), "%s",
				 rc == -ENOMEM ? "out of memory"
					       : "could not generate a request id");
		free(r);
		refuse(h, rc, detail, 0);
		return NULL;
	}
	return r;
}

/* application/json, case-insensitive, optionally followed by parameters. */
static bool is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static bool too_large(struct gw_api *api, struct hctx *h)
{
	char detail[96];

	if (h->req->body_len <= api->max_body)
		return false;
	snprintf(detail, sizeof(detail), "request body larger than %zu bytes", api->max_body);
	refuse(h, CM_E_TOO_LARGE, detail, 0);
	return true;
}

static void post_callback(struct gw_api *api, struct cm_http_req *req, const struct gw_key *key)
{
	struct hctx *h = hctx_new(req, false);
	struct gw_request *r;

	if (!h || too_large(api, h))
		return;
	if (!is_json_type(req->content_type)) {
		refuse(h, CM_E_UNSUPPORTED_MEDIA, "Content-Type must be application/json", 0);
		return;
	}
	r = request_of(api, h, NULL, key);
	if (r)
		dispatch(api, h, GW_OP_CREATE, r, NULL, NULL);
}

static void callback_op(struct gw_api *api, struct cm_http_req *req, enum gw_op op, const char *id,
			const struct gw_key *key)
{
	struct hctx *h = hctx_new(req, false);

	if (h)
		dispatch(api, h, op, NULL, key->client, id);
}

static void post_soap(struct gw_api *api, struct cm_http_req *req, const struct gw_key *key)
{
	struct hctx *h = hctx_new(req, true);
	struct gw_soap_call call;
	struct gw_soap_fault f;
	struct gw_request *r;
	int rc;

	if (!h)
		return;
	/* The dialect of any Fault follows the Content-Type, even before the body is read. */
	if (req->content_type && strncasecmp(req->content_type, "application/soap+xml", 20) == 0)
		h->version = GW_SOAP_12;
	if (too_large(api, h))
		return;
	rc = gw_soap_parse(req->body, req->body_len, req->content_type, header(req, "SOAPAction"),
			   &call, &f);
	h->version = call.version;
	if (rc < 0) {
		soap_fault(req, h->version, &f);
		release(h);
		return;
	}
	if (call.op == GW_OP_CREATE) {
		r = request_of(api, h, call.request, key);
		json_decref(call.request);
		if (r)
			dispatch(api, h, GW_OP_CREATE, r, NULL, NULL);
		return;
	}
	dispatch(api, h, call.op, NULL, key->client, call.request_id);
}

static void method_not_allowed(struct cm_http_req *req, const char *allow)
{
	char detail[64];

	snprintf(detail, sizeof(detail), "method not allowed here; use %s", allow);
	cm_http_header(req, "Allow", allow);
	problem(req, CM_E_METHOD, detail, 0);
}

/* Routes an authenticated request. */
static void route(struct gw_api *api, struct cm_http_req *req, const struct gw_key *key)
{
	const char *url = req->url, *m = req->method;
	size_t plen = strlen(CALLBACKS_PATH), slen = strlen(COMPLETE_SUFFIX), ulen = strlen(url);

	if (strcmp(url, CALLBACKS_PATH) == 0) {
		if (strcmp(m, "POST") == 0)
			post_callback(api, req, key);
		else
			method_not_allowed(req, "POST");
	} else if (strncmp(url, CALLBACKS_PATH "/", plen + 1) == 0 && ulen > plen + 1 + slen &&
		   strcmp(url + ulen - slen, COMPLETE_SUFFIX) == 0) {
		char id[GW_REQUEST_ID_MAX + 2];
		size_t n = ulen - plen - 1 - slen;

		if (strcmp(m, "POST") != 0) {
			method_not_allowed(req, "POST");
			return;
		}
		if (n > GW_REQUEST_ID_MAX)
			n = GW_REQUEST_ID_MAX + 1; /* refused as too long by the store */
		memcpy(id, url + plen + 1, n);
		id[n] = '\0';
		callback_op(api, req, GW_OP_COMPLETE, id, key);
	} else if (strncmp(url, CALLBACKS_PATH "/", plen + 1) == 0) {
		if (strcmp(m, "GET") == 0)
			callback_op(api, req, GW_OP_GET, url + plen + 1, key);
		else if (strcmp(m, "DELETE") == 0)
			callback_op(api, req, GW_OP_CANCEL, url + plen + 1, key);
		else
			method_not_allowed(req, "GET, DELETE");
	} else if (strcmp(url, SOAP_PATH) == 0) {
		if (strcmp(m, "POST") == 0)
			post_soap(api, req, key);
		else
			method_not_allowed(req, "POST");
	} else if (strcmp(url, "/metrics") == 0) {
		/* Any valid key may read the counters here; Prometheus without a key scrapes the
		 * separate metrics-listen port instead. */
		cm_http_respond_metrics(req);
	} else if (api->status && gw_status_handle(api->status, req)) {
		/* The status page, behind a key here like /metrics (it names recent failures'
		 * devices); a browser opens it on the metrics-listen port. */
	} else {
		problem(req, CM_E_NOT_FOUND, "no such resource", 0);
	}
}

/* One request waiting for its API key's verdict (gw_auth may answer at once or later). */
struct authctx {
	struct gw_api *api;
	struct cm_http_req *req;
};

static void on_auth(const struct gw_key *key, int err, const char *detail, long retry_after,
		    void *data)
{
	struct authctx *c = data;
	struct cm_http_req *req = c->req;
	struct gw_api *api = c->api;
	struct hctx *h;

	free(c);
	if (!err) {
		route(api, req, key);
		return;
	}
	/* Refused in the dialect of the endpoint asked, so a SOAP client gets a Fault. */
	h = hctx_new(req, strcmp(req->url, SOAP_PATH) == 0 && strcmp(req->method, "POST") == 0);
	if (!h)
		return;
	if (req->content_type && strncasecmp(req->content_type, "application/soap+xml", 20) == 0)
		h->version = GW_SOAP_12;
	if (err == CM_E_UNAUTHORIZED)
		cm_http_header(req, "WWW-Authenticate",
			       header(req, "Authorization") ? GW_AUTH_CHALLENGE
				   ", error=\"invalid_token\""
							    : GW_AUTH_CHALLENGE);
	refuse(h, err, detail, retry_after);
}

/* A fixed name for the route of req, for the per-route metrics (ids left out). */
static const char *route_name(const struct cm_http_req *req)
{
	const char *url = req->url, *m = req->method;
	size_t plen = strlen(CALLBACKS_PATH), slen = strlen(COMPLETE_SUFFIX), ulen = strlen(url);

	if (strcmp(url, CALLBACKS_PATH) == 0)
		return strcmp(m, "POST") == 0 ? "POST /v1/callbacks" : "other";
	if (strcmp(url, SOAP_PATH) == 0)
		return strcmp(m, "POST") == 0 ? "POST /soap" : "other";
	if (strncmp(url, CALLBACKS_PATH "/", plen + 1) != 0)
		return "other";
	if (ulen > plen + 1 + slen && strcmp(url + ulen - slen, COMPLETE_SUFFIX) == 0)
		return strcmp(m, "POST") == 0 ? "POST /v1/callbacks/{id}/complete" : "other";
	if (strcmp(m, "GET") == 0)
		return "GET /v1/callbacks/{id}";
	return strcmp(m, "DELETE") == 0 ? "DELETE /v1/callbacks/{id}" : "other";
}

void gw_api_handle(struct cm_http_req *req, void *data)
{
	struct gw_api *api = data;
	struct authctx *c;

	req->route = route_name(req);
	if (api->draining) {
		gw_drain_refuse(req);
		return;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		problem(req, -ENOMEM, "out of memory", 0);
		return;
	}
	c->api = api;
	c->req = req;
	if (gw_auth_check(api->auth, req, on_auth, c) == 1)
		cm_http_suspend(req);
}

void gw_api_handle_internal(struct cm_http_req *req, void *data)
{
	struct gw_api *api = data;

	if (api->status && gw_status_handle(api->status, req))
		return;
	problem(req, CM_E_NOT_FOUND,
		"this port serves /metrics, /healthz, /readyz, /status and /status.json", 0);
}

bool gw_api_ready(void *data)
{
	struct gw_api *api = data;

	return !api->draining && api->store.redis && cm_redis_ready(api->store.redis);
}
