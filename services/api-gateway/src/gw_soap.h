/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SOAP front end of api-gateway (proto/soap/beckon.wsdl, document/literal, SOAP 1.1 and
 * 1.2 over HTTP POST /soap). Pure: turns an HTTP body plus its Content-Type and SOAPAction
 * into an operation and the same JSON request tree the REST front end parses (so both share
 * gw_request_from_json and gw_store), and renders responses and Faults. No I/O.
 *
 * Hostile XML is refused while it is parsed (libxml2, no network, no entity substitution, no
 * DTD loading): a DOCTYPE anywhere stops the parser at once (SOAP forbids it; this is what
 * stops entity bombs and external entities), as do more than GW_SOAP_DEPTH_MAX levels or
 * GW_SOAP_ELEMENTS_MAX elements. The size is bounded by the caller (max-body).
 */
#ifndef GW_SOAP_H
#define GW_SOAP_H

#include <stddef.h>

#include <jansson.h>

#include "gw_request.h"
#include "gw_store.h"

#define GW_SOAP_NS "urn:beckon:soap:v1"
#define GW_SOAP11_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define GW_SOAP12_NS "http://www.w3.org/2003/05/soap-envelope"
#define GW_SOAP_ACTION_PREFIX GW_SOAP_NS ":" /* + operation name */
#define GW_SOAP_DEPTH_MAX 32
#define GW_SOAP_ELEMENTS_MAX 1000

enum gw_soap_version { GW_SOAP_11 = 1, GW_SOAP_12 = 2 };

enum gw_soap_code {
	GW_FAULT_PROBLEM,	  /* Client/Sender or Server/Receiver, from the error's status */
	GW_FAULT_VERSION,	  /* VersionMismatch */
	GW_FAULT_MUST_UNDERSTAND, /* MustUnderstand */
};

struct gw_soap_fault {
	enum gw_soap_code code;
	int err; /* CM_E_*: gives the HTTP-equivalent status and type */
	char detail[GW_DETAIL_MAX + CM_DEVICE_MAX];
	long retry_after; /* seconds, 0 if none */
};

struct gw_soap_call {
	enum gw_soap_version version;
	enum gw_op op;
	json_t *request; /* GW_OP_CREATE: the request tree (new reference, caller decrefs) */
	char request_id[GW_REQUEST_ID_MAX + 1]; /* the other operations */
};

/*
 * Parses a SOAP request. content_type and soap_action are the HTTP header values (NULL when
 * absent). Returns 0 with out filled, or a negative code with fault filled (and out->version
 * set to the version to answer in). Never reads past body[len).
 */
int gw_soap_parse(const char *body, size_t len, const char *content_type, const char *soap_action,
		  struct gw_soap_call *out, struct gw_soap_fault *fault);

/* Content-Type of an answer in version v. */
const char *gw_soap_content_type(enum gw_soap_version v);

/*
 * Renders the response to op, whose result body is res (borrowed; {"request_id","status"} for
 * RequestCallback, the record for the others). Returns a heap string (caller frees) with its
 * length in *len, or NULL on ENOMEM.
 */
char *gw_soap_response(enum gw_soap_version v, enum gw_op op, json_t *res, size_t *len);

/* Renders a Fault; *http gets the HTTP status the SOAP binding asks for (1.1: 500; 1.2: 400
 * for Sender, 500 otherwise; 415 for an unknown Content-Type). Heap string or NULL. */
char *gw_soap_fault_render(enum gw_soap_version v, const struct gw_soap_fault *f, size_t *len,
			   unsigned *http);

#endif
