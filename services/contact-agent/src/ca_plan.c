/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Callback plan: which URLs to try, which servers were refused, and the JSON body
 * (proto/contact-me.md, "Subscriber behaviour").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca_plan.h"

int ca_plan_default_port(struct cm_str protocol)
{
	return cm_str_eq(protocol, CM_STR_LIT("http")) ? 80 : 443;
}

int ca_plan_url(char *buf, size_t size, struct cm_str protocol, const struct cm_hostport *hp,
		struct cm_str path)
{
	char hostport[CA_HOSTPORT_MAX];
	int n;

	if (!protocol.p)
		protocol = CM_STR_LIT("https");
	if (!path.p || path.len == 0)
		path = CM_STR_LIT("/");
	if (cm_hostport_format(hostport, sizeof(hostport), hp->host.p, hp->host.len, hp->port) < 0)
		return -ENOSPC;
	n = snprintf(buf, size, "%.*s://%s%.*s", (int)protocol.len, protocol.p, hostport,
		     (int)path.len, path.p);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

static int copy_view(char *buf, size_t size, struct cm_str v)
{
	if (v.len >= size)
		return -ENOSPC;
	memcpy(buf, v.p, v.len);
	buf[v.len] = '\0';
	return 0;
}

/* Adds one server to the plan: as a target when trusted (or operator-given), else refused. */
static int add_server(struct ca_plan *out, const struct cm_payload *p, const struct ca_trust *trust,
		      struct cm_str server, int trusted_anyway)
{
	struct ca_plan_target *t = &out->target[out->n_target];
	struct cm_hostport hp;
	int port;

	if (cm_hostport_parse(server.p, server.len, &hp) < 0)
		return -EINVAL;
	port = hp.port >= 0 ? hp.port : ca_plan_default_port(p->protocol);
	if (!trusted_anyway && !ca_trust_match(trust, hp.host.p, hp.host.len, hp.kind, port)) {
		if (copy_view(out->refused[out->n_refused], CA_HOSTPORT_MAX, server) < 0)
			return -EINVAL;
		out->n_refused++;
		return 0;
	}
	if (copy_view(t->hostport, sizeof(t->hostport), server) < 0 ||
	    ca_plan_url(t->url, sizeof(t->url), p->protocol, &hp, p->path) < 0)
		return -EINVAL;
	out->n_target++;
	return 0;
}

static int build_body(struct ca_plan *out, const struct cm_payload *p, const char *device,
		      const char *aor)
{
	json_t *o = json_object();
	int rc = -ENOMEM;

	if (!o)
		return -ENOMEM;
	if (json_object_set_new(o, "request_id",
				json_stringn(p->request_id.p, p->request_id.len)) ||
	    json_object_set_new(o, "device", json_string(device)) ||
	    json_object_set_new(o, "aor", json_string(aor)))
		goto out;
	if (p->component.p &&
	    json_object_set_new(o, "component", json_stringn(p->component.p, p->component.len)))
		goto out;
	out->body = json_dumps(o, JSON_COMPACT);
	if (out->body)
		rc = 0;
out:
	json_decref(o);
	return rc;
}

int ca_plan_build(const struct cm_payload *p, const struct ca_trust *trust, const char *device,
		  const char *aor, const char *default_server, struct ca_plan *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!p->request_id.p || copy_view(out->request_id, sizeof(out->request_id), p->request_id))
		return -EINVAL;
	if (p->server.p) {
		rc = add_server(out, p, trust, p->server, 0);
	} else if (default_server && *default_server) {
		out->from_default = 1;
		rc = add_server(out, p, trust, cm_str_c(default_server), 1);
	} else {
		return -ENOENT;
	}
	for (size_t i = 0; rc == 0 && i < p->n_alt_server && i < CM_PAYLOAD_ALT_MAX; i++)
		rc = add_server(out, p, trust, p->alt_server[i], 0);
	if (rc == 0)
		rc = build_body(out, p, device, aor);
	if (rc < 0)
		ca_plan_free(out);
	return rc;
}

int ca_plan_protect(const struct cm_payload *p, const struct ca_trust *trust, const char **why)
{
	if (p->protocol.p && !cm_str_caseeq(p->protocol, CM_STR_LIT("https"))) {
		*why = "HTTPS Required";
		return -EACCES;
	}
	for (size_t i = 0; i <= p->n_alt_server && i <= CM_PAYLOAD_ALT_MAX; i++) {
		struct cm_str s = i == 0 ? p->server : p->alt_server[i - 1];
		struct cm_hostport hp;
		int port;

		if (!s.p)
			continue; /* default-server: configured by the operator, so trusted */
		if (cm_hostport_parse(s.p, s.len, &hp) < 0) {
			*why = "Unreadable Server";
			return -EINVAL;
		}
		port = hp.port >= 0 ? hp.port : ca_plan_default_port(p->protocol);
		if (!ca_trust_match(trust, hp.host.p, hp.host.len, hp.kind, port)) {
			*why = "Untrusted Server";
			return -EACCES;
		}
	}
	return 0;
}

void ca_plan_free(struct ca_plan *plan)
{
	if (!plan)
		return;
	free(plan->body);
	plan->body = NULL;
}
