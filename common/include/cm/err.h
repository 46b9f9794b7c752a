/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Domain errors shared by every service. One table maps each error to the HTTP status, the
 * SIP status, a problem type token and a title, so REST problems, SOAP faults and SIP
 * replies can never drift apart. Functions return 0 (or a count) on success and a negative
 * errno or a negative CM_E_* code on failure.
 */
#ifndef CM_ERR_H
#define CM_ERR_H

/* X(name, http status, sip status, problem type token, title) */
#define CM_ERROR_LIST(X)                                                                           \
	X(BAD_REQUEST, 400, 400, "bad-request", "Bad request")                                     \
	X(UNAUTHORIZED, 401, 401, "unauthorized", "Unauthorized")                                  \
	X(FORBIDDEN, 403, 403, "forbidden", "Forbidden")                                           \
	X(NOT_FOUND, 404, 404, "not-found", "Not found")                                           \
	X(METHOD, 405, 405, "method-not-allowed", "Method not allowed")                            \
	X(CONFLICT, 409, 409, "conflict", "Conflict")                                              \
	X(TOO_LARGE, 413, 513, "payload-too-large", "Payload too large")                           \
	X(UNSUPPORTED_MEDIA, 415, 415, "unsupported-media-type", "Unsupported media type")         \
	X(TOO_MANY, 429, 503, "too-many-requests", "Too many requests")                            \
	X(UNAVAILABLE, 503, 503, "service-unavailable", "Service unavailable")                     \
	X(INTERNAL, 500, 500, "internal", "Internal error")

enum cm_err {
	CM_E_BASE_ = -1000,
#define CM_ERR_ENUM_(name, http, sip, type, title) CM_E_##name,
	CM_ERROR_LIST(CM_ERR_ENUM_)
#undef CM_ERR_ENUM_
	    CM_E_END_
};

/* Each accessor takes a CM_E_* code (or a negative errno, mapped to CM_E_INTERNAL, except
 * -ENOMEM and -EAGAIN to UNAVAILABLE) and never returns NULL. */
int cm_err_http_status(int err);
int cm_err_sip_status(int err);
const char *cm_err_type(int err);
const char *cm_err_title(int err);

#endif
