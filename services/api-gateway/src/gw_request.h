/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one internal model of a callback request (proto/rest.md, proto/soap/): both front ends
 * (the JSON body of POST /v1/callbacks and the SOAP RequestCallback element) turn their input
 * into the same JSON tree and hand it to gw_request_from_json, which validates every field,
 * normalises it and builds the contact-me payload. So REST and SOAP share every rule, every
 * detail message and the stored body (a request sent once over SOAP and retried over REST is
 * the same request). Pure: no I/O, no loop, so the unit tests run it over every example in
 * proto/examples/rest/ and proto/soap/examples/. Grammar checks are delegated to
 * cm_device_parse, cm_host_check and cm_payload_check, so the gateway and the payload codec
 * can never disagree about what is valid.
 */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
#define GW_PACKAGE_MAX 64
#define GW_CLIENT_MAX 64 /* [A-Za-z0-9._-]{1,64} */
#define GW_CLIENT_DEFAULT "default"
#define GW_COLLAPSE_KEY_MAX 64	/* [A-Za-z0-9._-]{1,64} */
#define GW_ON_BEHALF_OF_MAX 128 /* [A-Za-z0-9._:-]{1,128} */
#define GW_STATUS_URL_MAX 2048
#define GW_TTL_DEFAULT 300
#define GW_TTL_MAX 86400
/* A request's ref, <client>:<request_id> (proto/redis.md). */
#define GW_REF_MAX (GW_CLIENT_MAX + 1 + GW_REQUEST_ID_MAX)

struct gw_request {
	struct cm_device device;		/* normalised, for the index key */
	char device_id[CM_DEVICE_MAX + 1];	/* as given */
	char request_id[GW_REQUEST_ID_MAX + 1]; /* as given, or generated */
	bool generated_id;
	char client[GW_CLIENT_MAX + 1]; /* set by gw_request_set_client (a header, not the body) */
	char package[GW_PACKAGE_MAX + 1];
	long ttl_s;
	int64_t slot_end_ms; /* end of time_slot, epoch ms; 0 when there is none */
	char collapse_key[GW_COLLAPSE_KEY_MAX + 1]; /* "" when absent */
	char on_behalf_of[GW_ON_BEHALF_OF_MAX + 1]; /* "" when absent */
	char *status_url;			    /* heap, NULL when absent */
	size_t n_alt_servers;
	char *body; /* normalised JSON, compact, heap */
	size_t body_len;
	char payload[CM_PAYLOAD_MAX + 1]; /* the contact-me body, NUL-terminated */
	size_t payload_len;
};

/*
 * Validates the request tree root (borrowed; a JSON object as the REST body is, or as the SOAP
 * front end builds it) into out. packages is the comma-separated list of accepted event
 * packages, the first being the default (NULL means GW_PACKAGE alone). A missing request_id is
 * generated (UUID v4). out->client is set to GW_CLIENT_DEFAULT. Returns 0, CM_E_BAD_REQUEST
 * with a detail naming the field in detail[size] (e.g. "field 'server.port' must be an integer
 * in 1..65535"), -ENOMEM, or -EIO if no random bytes were available. On success the caller
 * calls gw_request_free(out); on failure out holds nothing to free.
 */
int gw_request_from_json(json_t *root, const char *packages, struct gw_request *out, char *detail,
			 size_t size);

/*
 * Parses a POST /v1/callbacks body (len bytes, need not be NUL-terminated) as JSON (duplicate
 * keys and nesting deeper than GW_JSON_DEPTH_MAX refused) and validates it with
 * gw_request_from_json. Same results and ownership.
 */
int gw_request_parse_with(const char *body, size_t len, const char *packages,
			  struct gw_request *out, char *detail, size_t size);

/* gw_request_parse_with with the default package list. */
int gw_request_parse(const char *body, size_t len, struct gw_request *out, char *detail,
		     size_t size);

/*
 * Sets r->client from the X-Beckon-Client header value (NULL or absent: GW_CLIENT_DEFAULT).
 * Until issue 4 the client is whatever the header says; authentication will replace it with
 * the API key's identity. Returns 0 or CM_E_BAD_REQUEST with a detail.
 */
int gw_request_client(const char *hdr, char out[GW_CLIENT_MAX + 1], char *detail, size_t size);

/*
 * The request's deadline (epoch ms) at time now_ms: min(now + ttl_s, end of time_slot); a
 * ttl_s of 0 still leaves GW_TTL_ZERO_GRACE_MS for the NOTIFY in flight. Returns 0, or
 * CM_E_BAD_REQUEST ("time_slot has already ended") when the window is over.
 */
#define GW_TTL_ZERO_GRACE_MS 32000
int gw_request_deadline(const struct gw_request *r, int64_t now_ms, int64_t *deadline, char *detail,
			size_t size);

/*
 * Appends "valid-until=<deadline, RFC 3339 UTC with milliseconds>" CRLF to r->payload
 * (proto/contact-me.md), so the endpoint can tell a NOTIFY that arrives after the deadline.
 * Called once, with the deadline the create script stores. Returns 0, or -ENOSPC / -EINVAL
 * (payload unchanged); gw_request_from_json keeps the room, so neither happens in practice.
 */
int gw_request_valid_until(struct gw_request *r, int64_t deadline_ms);

/* Frees what gw_request_from_json allocated. Safe on a zeroed or already freed struct. */
void gw_request_free(struct gw_request *r);

/* Writes a random (version 4) UUID, lower-case, NUL-terminated, into out. Returns 0 or -EIO. */
int gw_request_uuid(char out[GW_UUID_LEN + 1]);

/* True when s[0..len) is 1..max of A-Z a-z 0-9 and the characters in extra. */
bool gw_request_token(const char *s, size_t len, size_t max, const char *extra);

#endif
