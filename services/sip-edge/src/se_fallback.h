/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The resync NOTIFY sent to a binding that never opted in to a package, when the request's
 * fallback policy (chosen by api-gateway's create script, proto/contact-me.md "Fallback")
 * names one for it: the Event value comes from the request's `fallback:<binding-id>` field,
 * the NOTIFY always carries `Subscription-State: active;expires=N` (baresip answers 400
 * without it) and no body. Stock endpoints that do not support the event answer 481 or 489;
 * those answers, and any other 4xx but 408, are final: retrying them would only repeat the
 * refusal.
 */
#ifndef SE_FALLBACK_H
#define SE_FALLBACK_H

#include <stdbool.h>
#include <stddef.h>

#define SE_FALLBACK_EVENT_MAX 64

/* True if ev (NUL-terminated, from Redis) is a usable Event value: a token, then
 * `;name=value` parameters, at most SE_FALLBACK_EVENT_MAX bytes. */
bool se_fallback_event_valid(const char *ev);

/* True if a final answer status to a resync NOTIFY is worth another attempt (408, 430 flow
 * failed, 5xx); every other failure fails the target at once. */
bool se_fallback_retryable(int status);

#endif
