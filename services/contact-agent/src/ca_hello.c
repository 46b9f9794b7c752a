/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hello POST and its retries: one pool job per attempt, the backoff on a loop timer (so
 * no pool thread sleeps and shutdown never waits for a backoff).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ca_callback.h"
#include "ca_hello.h"
#include "cm/device.h"
#include "cm/log.h"

#define CA_HELLO_BACKOFF_MAX_MS 30000

struct ca_hello_job {
	uv_work_t work;
	struct ca_hello *owner;
	struct ca_http_result res;
};

char *ca_hello_body(const char *aor, const char *instance, const char *registrar,
		    const struct ca_packages *packages, const char *agent)
{
	json_t *o = json_object(), *dev = json_object(), *pk = json_array();
	struct cm_device d;
	const char *why;
	char *out = NULL;
	int bad = !o || !dev || !pk;

	bad = bad || json_object_set_new(dev, "aor", json_string(aor));
	if (!bad && instance && *instance) {
		bad = json_object_set_new(dev, "instance", json_string(instance));
		if (!bad && strncasecmp(instance, "urn:dev:mac:", 12) == 0 &&
		    cm_device_parse(instance, strlen(instance), &d, &why) == 0 &&
		    d.kind == CM_DEV_MAC)
			bad = json_object_set_new(dev, "mac", json_string(d.value));
	}
	for (size_t i = 0; !bad && i < packages->n; i++)
		bad = json_array_append_new(pk, json_string(packages->name[i]));
	if (!bad) {
		bad = json_object_set(o, "device", dev) ||
		      json_object_set_new(o, "registrar", json_string(registrar)) ||
		      json_object_set(o, "packages", pk) ||
		      json_object_set_new(o, "agent", json_string(agent));
	}
	if (!bad)
		out = json_dumps(o, JSON_COMPACT);
	json_decref(dev);
	json_decref(pk);
	json_decref(o);
	return out;
}

uint64_t ca_hello_backoff_ms(unsigned n)
{
	uint64_t ms = 1000;

	for (unsigned i = 1; i < n && ms < CA_HELLO_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < CA_HELLO_BACKOFF_MAX_MS ? ms : CA_HELLO_BACKOFF_MAX_MS;
}

int ca_hello_init(struct ca_hello *h, uv_loop_t *loop, const char *url, char *body, long timeout_s)
{
	int rc;

	memset(h, 0, sizeof(*h));
	h->loop = loop;
	h->body = body;
	h->timeout_ms = timeout_s * 1000;
	h->url = strdup(url);
	if (!h->url || !h->body) {
		free(h->url);
		free(h->body);
		h->url = h->body = NULL;
		return -ENOMEM;
	}
	rc = uv_timer_init(loop, &h->timer);
	if (rc < 0) {
		free(h->url);
		free(h->body);
		h->url = h->body = NULL;
		return rc;
	}
	h->timer.data = h;
	h->timer_init = true;
	return 0;
}

static void free_strings(struct ca_hello *h)
{
	free(h->url);
	free(h->body);
	h->url = h->body = NULL;
}

static void work_cb(uv_work_t *w)
{
	struct ca_hello_job *job = w->data;

	ca_callback_post(job->owner->url, job->owner->body, job->owner->timeout_ms, &job->res);
}

static void attempt(struct ca_hello *h);

static void retry_cb(uv_timer_t *t)
{
	attempt(t->data);
}

static bool retryable(long status)
{
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

static void after_cb(uv_work_t *w, int status)
{
	struct ca_hello_job *job = w->data;
	struct ca_hello *h = job->owner;
	const struct ca_http_result *r = &job->res;
	uint64_t delay;

	h->busy = false;
	if (h->closing) {
		free_strings(h); /* close left them to us: the worker was reading them */
		free(job);
		return;
	}
	if (status == UV_ECANCELED)
		snprintf(job->res.error, sizeof(job->res.error), "cancelled");
	if (r->status > 0)
		cm_log(r->status < 300 ? CM_LOG_INFO : CM_LOG_WARN, "hello sent url=%s status=%ld",
		       h->url, r->status);
	if (!retryable(r->status) || h->attempt >= CA_HELLO_ATTEMPTS) {
		if (retryable(r->status))
			cm_log_warn("hello gave up url=%s after %u attempts%s%s", h->url,
				    h->attempt, r->status ? "" : ": ", r->status ? "" : r->error);
		free(job);
		if (h->again) {
			h->again = false;
			h->attempt = 0;
			attempt(h);
		}
		return;
	}
	delay = ca_hello_backoff_ms(h->attempt);
	if (r->status == 0)
		cm_log_warn("hello failed url=%s error=%s attempt=%u retry-in=%llums", h->url,
			    r->error, h->attempt, (unsigned long long)delay);
	free(job);
	uv_timer_start(&h->timer, retry_cb, delay, 0);
}

static void attempt(struct ca_hello *h)
{
	struct ca_hello_job *job;
	int rc;

	if (h->closing || h->busy)
		return;
	job = calloc(1, sizeof(*job));
	if (!job) {
		cm_log_error("hello not sent url=%s: out of memory", h->url);
		return;
	}
	job->owner = h;
	job->work.data = job;
	rc = uv_queue_work(h->loop, &job->work, work_cb, after_cb);
	if (rc < 0) {
		cm_log_error("hello not sent url=%s: %s", h->url, uv_strerror(rc));
		free(job);
		return;
	}
	h->busy = true;
	h->attempt++;
}

void ca_hello_send(struct ca_hello *h)
{
	if (!h->url || h->closing)
		return;
	if (h->busy || uv_is_active((uv_handle_t *)&h->timer)) {
		/* A round is running: its body is the same, so one more round after it is
		 * enough however often we are asked. */
		if (h->busy)
			h->again = true;
		return;
	}
	h->attempt = 0;
	attempt(h);
}

void ca_hello_close(struct ca_hello *h)
{
	if (h->closing)
		return;
	h->closing = true;
	if (h->timer_init) {
		uv_timer_stop(&h->timer);
		uv_close((uv_handle_t *)&h->timer, NULL);
		h->timer_init = false;
	}
	if (!h->busy)
		free_strings(h);
}
