/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP(S) callback to the application server, with libcurl.
 *
 * Why uv_queue_work + curl_easy_perform and not curl multi on the loop: an agent makes a
 * handful of callbacks, each a single short POST; running the attempts of one plan
 * sequentially in libuv's thread pool keeps the code short (no socket/timer glue), keeps
 * curl's name resolution and TLS handshakes off the loop, and makes "try the alt-servers in
 * order" a plain loop. Worker threads touch only their own job and curl easy handle; results
 * are logged on the loop thread in the after-work callback. The cost is one pool thread per
 * callback in flight (libuv's pool has 4 by default), bounded by max-callbacks.
 */
#ifndef CA_CALLBACK_H
#define CA_CALLBACK_H

#include <stdbool.h>

#include <uv.h>

#include "ca_plan.h"

struct ca_callbacks {
	uv_loop_t *loop;
	long timeout_ms;   /* per attempt */
	unsigned inflight; /* jobs queued or running */
	unsigned max;
	bool https_only;     /* the protection option: curl refuses http:// */
	const char *ca_file; /* PEM CAs for https, borrowed; NULL: the system store */
};

/* Calls curl_global_init: call once from main before any thread exists. Returns 0 or -EIO. */
int ca_callback_global_init(void);
void ca_callback_global_cleanup(void);

void ca_callback_init(struct ca_callbacks *c, uv_loop_t *loop, long timeout_s, unsigned max);

/* Restricts the callbacks of c to https (https_only) and verifies servers against ca_file
 * (borrowed, must outlive c; NULL or "" for the system store). */
void ca_callback_secure(struct ca_callbacks *c, bool https_only, const char *ca_file);

/*
 * Starts the callbacks of plan in the thread pool. On success takes plan (heap-allocated
 * with malloc, freed with ca_plan_free + free when the job ends) and returns 0; the outcome
 * is logged. Returns -EBUSY when max callbacks are in flight or a libuv error; then plan
 * stays the caller's. Never calls back into the caller.
 */
int ca_callback_start(struct ca_callbacks *c, struct ca_plan *plan);

#define CA_HTTP_ERROR_MAX 256 /* curl's CURL_ERROR_SIZE */

/* The outcome of one POST: status is the HTTP status, or 0 when the transfer failed (then
 * error says why). */
struct ca_http_result {
	long status;
	char error[CA_HTTP_ERROR_MAX];
};

/*
 * POSTs body (JSON) to url with libcurl and waits for the answer: blocking, so call it from a
 * pool thread (uv_queue_work), never from the loop. Reads at most 64 kB of the response
 * and throws it away. HTTPS peers are verified against the system CA store. Borrows every
 * argument; touches nothing shared.
 */
void ca_callback_post(const char *url, const char *body, long timeout_ms,
		      struct ca_http_result *out);

/* ca_callback_post with https_only (curl refuses any other scheme) and ca_file (PEM CAs;
 * NULL or "" for the system store). */
void ca_callback_post_tls(const char *url, const char *body, long timeout_ms, bool https_only,
			  const char *ca_file, struct ca_http_result *out);

#endif
