/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Callback jobs: one uv_work_t per accepted NOTIFY. The worker POSTs the JSON body to each
 * target in order and stops at the first answer that is not a connection error or a 5xx
 * (a 4xx is the application's final word, so the alternates are not bothered). The loop
 * thread logs every attempt afterwards and frees the job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ca_callback.h"
#include "ca_metrics.h"
#include "cm/log.h"

#define CA_RESPONSE_MAX (64 * 1024) /* response bytes read before the transfer is cut */

_Static_assert(CA_HTTP_ERROR_MAX >= CURL_ERROR_SIZE, "curl's error buffer does not fit");

struct ca_job {
	uv_work_t work;
	struct ca_callbacks *owner;
	long timeout_ms;
	bool https_only;
	const char *ca_file;
	struct ca_plan *plan;
	struct ca_http_result attempt[CA_PLAN_TARGETS];
	size_t n_attempt;
};

int ca_callback_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void ca_callback_global_cleanup(void)
{
	curl_global_cleanup();
}

void ca_callback_init(struct ca_callbacks *c, uv_loop_t *loop, long timeout_s, unsigned max)
{
	c->loop = loop;
	c->timeout_ms = timeout_s * 1000;
	c->inflight = 0;
	c->max = max;
	c->https_only = false;
	c->ca_file = NULL;
}

void ca_callback_secure(struct ca_callbacks *c, bool https_only, const char *ca_file)
{
	c->https_only = https_only;
	c->ca_file = ca_file && *ca_file ? ca_file : NULL;
}

/* The response body is not used; count it so a huge answer is cut, not buffered. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t *seen = userdata;

	(void)ptr;
	*seen += size * nmemb;
	return *seen > CA_RESPONSE_MAX ? 0 : size * nmemb;
}

void ca_callback_post(const char *url, const char *body, long timeout_ms, struct ca_http_result *a)
{
	ca_callback_post_tls(url, body, timeout_ms, false, NULL, a);
}

void ca_callback_post_tls(const char *url, const char *body, long timeout_ms, bool https_only,
			  const char *ca_file, struct ca_http_result *a)
{
	struct curl_slist *hdr = NULL, *h2;
	size_t seen = 0;
	CURLcode rc;
	CURL *curl;

	a->status = 0;
	a->error[0] = '\0';
	curl = curl_easy_init();
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	h2 = hdr ? curl_slist_append(hdr, "Expect:") : NULL; /* no 100-continue round trip */
	if (!curl || !h2) {
		snprintf(a->error, sizeof(a->error), "out of memory");
		goto out;
	}
	hdr = h2;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, https_only ? "https" : "http,https");
	/* Redirects are not followed (curl's default), so a 3xx cannot lead to plain http. */
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "beckon-contact-agent/0.1");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &seen);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, a->error);
	/* Certificate and host name checks are curl's defaults (system CA store); stated
	 * here so that nobody turns them off by accident. */
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file && *ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && seen > CA_RESPONSE_MAX)) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
		a->error[0] = '\0';
	} else if (!a->error[0]) {
		snprintf(a->error, sizeof(a->error), "%s", curl_easy_strerror(rc));
	}
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(curl);
}

static void work_cb(uv_work_t *w)
{
	struct ca_job *job = w->data;

	for (size_t i = 0; i < job->plan->n_target; i++) {
		struct ca_http_result *a = &job->attempt[i];

		ca_callback_post_tls(job->plan->target[i].url, job->plan->body, job->timeout_ms,
				     job->https_only, job->ca_file, a);
		job->n_attempt = i + 1;
		if (a->status > 0 && a->status < 500)
			break;
	}
}

static void after_cb(uv_work_t *w, int status)
{
	struct ca_job *job = w->data;
	struct ca_plan *plan = job->plan;
	int ok = 0;

	if (status == UV_ECANCELED)
		cm_log_warn("callback cancelled request-id=%s", plan->request_id);
	for (size_t i = 0; i < job->n_attempt; i++) {
		const struct ca_http_result *a = &job->attempt[i];

		if (a->status > 0) {
			cm_log(a->status < 300 ? CM_LOG_INFO : CM_LOG_WARN,
			       "callback request-id=%s url=%s status=%ld", plan->request_id,
			       plan->target[i].url, a->status);
			ok = a->status < 300;
		} else {
			cm_log_warn("callback failed request-id=%s url=%s error=%s",
				    plan->request_id, plan->target[i].url, a->error);
		}
	}
	if (status == UV_ECANCELED)
		ca_metrics_callback("cancelled");
	else if (ok)
		ca_metrics_callback("ok");
	else
		ca_metrics_callback(job->n_attempt > 0 &&
					    job->attempt[job->n_attempt - 1].status > 0
					? "http-error"
					: "transport-error");
	if (!ok && job->n_attempt > 1)
		cm_log_warn("callback gave up request-id=%s after %zu servers", plan->request_id,
			    job->n_attempt);
	job->owner->inflight--;
	ca_plan_free(plan);
	free(plan);
	free(job);
}

int ca_callback_start(struct ca_callbacks *c, struct ca_plan *plan)
{
	struct ca_job *job;
	int rc;

	if (c->inflight >= c->max)
		return -EBUSY;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->owner = c;
	job->timeout_ms = c->timeout_ms;
	job->https_only = c->https_only;
	job->ca_file = c->ca_file;
	job->plan = plan;
	job->work.data = job;
	rc = uv_queue_work(c->loop, &job->work, work_cb, after_cb);
	if (rc < 0) {
		free(job);
		return rc;
	}
	c->inflight++;
	return 0;
}
