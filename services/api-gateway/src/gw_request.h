/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The body of POST /v1/callbacks (proto/rest.md): parsed, validated field by field and
 * normalised, with the contact-me payload it turns into. Pure: no I/O, no loop, so the unit
 * tests run it over every file in proto/examples/rest/. Grammar checks are delegated to
 * cm_device_parse, cm_host_check and cm_payload_check, so the gateway and the payload codec
 * can never disagree about what is valid.
 */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cm/device.h"
#include "cm/payload.h"

#define GW_REQUEST_ID_MAX 128
#define GW_UUID_LEN 36
#define GW_DETAIL_MAX 256
/* The schema nests three levels (body, alt_servers, server); deeper is refused before
 * jansson builds anything (its own limit is 2048). */
#define GW_JSON_DEPTH_MAX 8
#define GW_PACKAGE "application-server-contact-me"

struct gw_request {
	struct cm_device device;		/* normalised, for the index key */
	char device_id[CM_DEVICE_MAX + 1];	/* as given */
	char request_id[GW_REQUEST_ID_MAX + 1]; /* as given, or generated */
	bool generated_id;
	size_t n_alt_servers;
	char *body; /* normalised JSON, compact, heap */
	size_t body_len;
	char payload[CM_PAYLOAD_MAX + 1]; /* the contact-me body, NUL-terminated */
	size_t payload_len;
};

/*
 * Parses and validates a POST /v1/callbacks body (len bytes, need not be NUL-terminated)
 * into out. A missing request_id is generated (UUID v4). Returns 0, CM_E_BAD_REQUEST with a
 * detail naming the field in detail[size] (e.g. "field 'server.port' must be an integer in
 * 1..65535"), -ENOMEM, or -EIO if no random bytes were available. On success the caller
 * calls gw_request_free(out); on failure out holds nothing to free.
 */
int gw_request_parse(const char *body, size_t len, struct gw_request *out, char *detail,
		     size_t size);

/* Frees what gw_request_parse allocated. Safe on a zeroed or already freed struct. */
void gw_request_free(struct gw_request *r);

/* Writes a random (version 4) UUID, lower-case, NUL-terminated, into out. Returns 0 or -EIO. */
int gw_request_uuid(char out[GW_UUID_LEN + 1]);

#endif
