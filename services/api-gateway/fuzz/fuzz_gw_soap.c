/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: POST /soap (gw_soap_parse), then what api-gateway does with the result:
 * a RequestCallback tree goes through gw_request_from_json as REST bodies do, and every
 * outcome is rendered (gw_soap_response, or gw_soap_fault_render for a refusal).
 *
 * Input: a body starting with byte 0x01 carries its own headers, "\x01<Content-Type>\n
 * <SOAPAction>\n<body>" (an empty line means the header is absent). Any other input is the
 * body alone (so proto/soap/examples replay as they are) and is parsed under SOAP 1.1 with
 * SOAPAction "", SOAP 1.2 without action, one of the operation-naming variants (picked by
 * the length) and a text/xml request without SOAPAction.
 *
 * Properties: a refusal has a detail and renders to a Fault with HTTP 400, 415 or 500; an
 * accepted call has a known operation and either a request tree (an object) or a valid
 * request id; REST validation of the tree ends in 0, 400, ENOMEM or EIO; and every rendered
 * answer is well-formed XML (libxml2 reads it back), whatever bytes the input put into it.
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>

#include "cm/err.h"
#include "cm/payload.h"
#include "fuzz.h"
#include "gw_soap.h"

#define HEADER_MAX 512

struct variant {
	const char *content_type, *soap_action;
};

static const struct variant always[] = {
    {"text/xml; charset=utf-8", "\"\""},
    {"application/soap+xml; charset=utf-8", NULL},
    {"text/xml", NULL},
};

static const struct variant named[] = {
    {"text/xml", "\"urn:beckon:soap:v1:RequestCallback\""},
    {"text/xml", "urn:beckon:soap:v1:GetCallbackStatus"},
    {"application/soap+xml; action=\"urn:beckon:soap:v1:CancelCallback\"", NULL},
};

static void check_xml(char *xml, size_t len)
{
	xmlDocPtr doc;

	FUZZ_CHECK(xml != NULL && len > 0 && strlen(xml) == len);
	doc = xmlReadMemory(xml, (int)len, NULL, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		fprintf(stderr, "not well-formed:\n%s\n", xml);
	FUZZ_CHECK(doc != NULL);
	xmlFreeDoc(doc);
	free(xml);
}

static void check_fault(enum gw_soap_version v, const struct gw_soap_fault *f)
{
	unsigned http = 0;
	size_t len = 0;
	char *xml = gw_soap_fault_render(v, f, &len, &http);

	FUZZ_CHECK(http == 400 || http == 415 || http == 500);
	check_xml(xml, len);
}

static void check_create(const struct gw_soap_call *call)
{
	static struct gw_request r;
	struct gw_soap_fault f = {.code = GW_FAULT_PROBLEM};
	char detail[GW_DETAIL_MAX];
	struct cm_payload p;
	json_t *res;
	size_t len = 0;
	char *xml;
	int rc;

	FUZZ_CHECK(json_is_object(call->request));
	rc = gw_request_from_json(call->request, NULL, &r, detail, sizeof(detail));
	if (rc < 0) {
		FUZZ_CHECK(rc == CM_E_BAD_REQUEST || rc == -ENOMEM || rc == -EIO);
		FUZZ_CHECK(rc != CM_E_BAD_REQUEST || detail[0] != '\0');
		/* As gw_api.c's refuse() answers it. */
		f.err = rc;
		snprintf(f.detail, sizeof(f.detail), "%s", detail);
		check_fault(call->version, &f);
		return;
	}
	FUZZ_CHECK(cm_payload_parse(r.payload, r.payload_len, &p, NULL) == 0);
	res = json_pack("{s:s, s:s}", "request_id", r.request_id, "status", "accepted");
	FUZZ_CHECK(res != NULL);
	xml = gw_soap_response(call->version, GW_OP_CREATE, res, &len);
	check_xml(xml, len);
	json_decref(res);
	gw_request_free(&r);
}

static void run(const char *body, size_t size, const char *ct, const char *action)
{
	struct gw_soap_call call;
	struct gw_soap_fault f;
	size_t len = 0;
	json_t *rec;
	char *xml;
	int rc;

	rc = gw_soap_parse(body, size, ct, action, &call, &f);
	FUZZ_CHECK(call.version == GW_SOAP_11 || call.version == GW_SOAP_12);
	if (rc < 0) {
		FUZZ_CHECK(rc == f.err);
		FUZZ_CHECK(memchr(f.detail, '\0', sizeof(f.detail)) != NULL && f.detail[0]);
		FUZZ_CHECK(call.request == NULL);
		check_fault(call.version, &f);
		return;
	}
	FUZZ_CHECK(rc == 0);
	switch (call.op) {
	case GW_OP_CREATE:
		check_create(&call);
		json_decref(call.request);
		return;
	case GW_OP_GET:
	case GW_OP_CANCEL:
	case GW_OP_COMPLETE:
		FUZZ_CHECK(call.request == NULL);
		len = strlen(call.request_id);
		FUZZ_CHECK(len >= 1 && len <= GW_REQUEST_ID_MAX);
		/* A record as GET renders one, naming the id the caller gave. */
		rec = json_pack("{s:s, s:s, s:[]}", "request_id", call.request_id, "status",
				"queued", "targets");
		FUZZ_CHECK(rec != NULL);
		xml = gw_soap_response(call.version, call.op, rec, &len);
		check_xml(xml, len);
		json_decref(rec);
		return;
	}
	FUZZ_CHECK(!"unknown operation");
}

/* Copies the next line of data[*pos..size) into out (NULL for an empty line). */
static const char *header_line(const uint8_t *data, size_t size, size_t *pos, char out[HEADER_MAX])
{
	size_t start = *pos, n;

	while (*pos < size && data[*pos] != '\n')
		(*pos)++;
	n = *pos - start;
	if (*pos < size)
		(*pos)++;
	if (n == 0)
		return NULL;
	if (n >= HEADER_MAX)
		n = HEADER_MAX - 1;
	memcpy(out, data + start, n);
	out[n] = '\0';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ct_buf[HEADER_MAX], action_buf[HEADER_MAX];
	const char *ct, *action;
	size_t pos = 1;

	if (size > 0 && data[0] == 0x01) {
		ct = header_line(data, size, &pos, ct_buf);
		action = header_line(data, size, &pos, action_buf);
		run((const char *)data + pos, size - pos, ct, action);
		return 0;
	}
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		run((const char *)data, size, always[i].content_type, always[i].soap_action);
	run((const char *)data, size, named[size % 3].content_type, named[size % 3].soap_action);
	return 0;
}
