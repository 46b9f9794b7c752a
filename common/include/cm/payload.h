/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contact-me payload (proto/contact-me.md): CRLF-terminated `label=value` lines in the
 * body of an application-server-contact-me NOTIFY. Receivers ignore unknown labels.
 */
#ifndef CM_PAYLOAD_H
#define CM_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "cm/str.h"

#define CM_PAYLOAD_MEDIA_TYPE "application/application-server-contact-me"
#define CM_PAYLOAD_EVENT "application-server-contact-me"
#define CM_PAYLOAD_MAX 4096	  /* whole body */
#define CM_PAYLOAD_VALUE_MAX 1024 /* one value */
#define CM_PAYLOAD_ALT_MAX 8
#define CM_PAYLOAD_LINES_MAX 64

/* The labels beckon knows, in the order the encoder writes them. */
#define CM_PAYLOAD_LABELS(X)                                                                       \
	X(REQUEST_ID, "request-id")                                                                \
	X(SERVER, "server")                                                                        \
	X(PROTOCOL, "protocol")                                                                    \
	X(PATH, "path")                                                                            \
	X(COMPONENT, "component")                                                                  \
	X(ALT_SERVER, "alt-server")                                                                \
	X(TIME_SLOT, "time-slot")                                                                  \
	X(VALID_UNTIL, "valid-until")

enum cm_payload_label {
#define CM_PL_ENUM_(name, text) CM_PL_##name,
	CM_PAYLOAD_LABELS(CM_PL_ENUM_)
#undef CM_PL_ENUM_
	    CM_PL_COUNT_
};

/* Every field is a view (into the parsed body, or into the caller's strings when encoding);
 * an absent field has p == NULL. */
struct cm_payload {
	struct cm_str request_id;
	struct cm_str server;	/* hostport */
	struct cm_str protocol; /* "http" / "https" */
	struct cm_str path;	/* abs-path, starts with "/" */
	struct cm_str component;
	struct cm_str alt_server[CM_PAYLOAD_ALT_MAX];
	size_t n_alt_server;
	struct cm_str time_slot;
	struct cm_str valid_until; /* written by beckon from the request's deadline, never by
				    * the app server (proto/contact-me.md) */
};

const char *cm_payload_label_name(enum cm_payload_label label);

/*
 * Checks one value against the label's grammar. Returns 0, or -EINVAL with *why set to a
 * static phrase ("must be http or https", ...). Used by the parser, the encoder and the
 * API gateway, so all three apply exactly the same rules.
 */
int cm_payload_check(enum cm_payload_label label, const char *v, size_t len, const char **why);

/* Reads a time-slot value ("<RFC 3339>/<RFC 3339>") into epoch milliseconds. Returns 0 or
 * -EINVAL. Does not check the order (cm_payload_check does). */
int cm_payload_time_slot(const char *v, size_t len, int64_t *start_ms, int64_t *end_ms);

/* Reads one RFC 3339 date-time (a valid-until value) into epoch milliseconds. Returns 0 or
 * -EINVAL. */
int cm_payload_date_time(const char *v, size_t len, int64_t *ms);

/* valid-until as beckon writes it: "valid-until=YYYY-MM-DDTHH:MM:SS.mmmZ" CRLF (the deadline
 * to the millisecond, as the API reports it), so a request's payload must leave this much
 * room under CM_PAYLOAD_MAX. */
#define CM_PAYLOAD_VALID_UNTIL_LINE (sizeof("valid-until=2026-11-26T10:00:00.000Z\r\n") - 1)

/*
 * Parses body (not NUL-terminated). Fields point into body. Unknown labels are skipped.
 * request-id is mandatory; every other field is optional. Returns 0 or -EINVAL with a
 * static reason in *why (may be NULL).
 */
int cm_payload_parse(const char *body, size_t len, struct cm_payload *out, const char **why);

/*
 * A state NOTIFY (after a SUBSCRIBE) carries zero or more records, each a payload as above,
 * separated by one empty line (CRLF); an empty body means none pending. Parses the record at
 * *pos and advances *pos past it and its separator. Returns 1 with *out filled, 0 at the end
 * of the body, or -EINVAL (reason in *why). At most CM_PAYLOAD_RECORDS_MAX records.
 */
#define CM_PAYLOAD_RECORDS_MAX 64
#define CM_PAYLOAD_LIST_MAX (CM_PAYLOAD_MAX * 16)
int cm_payload_next(const char *body, size_t len, size_t *pos, struct cm_payload *out,
		    const char **why);

/* Encodes p into buf. Returns the length written (buf is NUL-terminated), -EINVAL if a field
 * fails cm_payload_check (reason in *why), or -ENOSPC. */
int cm_payload_format(const struct cm_payload *p, char *buf, size_t size, const char **why);

#endif
