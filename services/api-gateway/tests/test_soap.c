/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the SOAP front end (gw_soap) over proto/soap/: every valid example parses,
 * its operation element validates against proto/soap/beckon.xsd, and a RequestCallback gives
 * the same stored request as REST would (gw_request_from_json); every invalid example (its
 * first line is `<!-- expect: {...} -->` with the headers to send and the Fault to expect)
 * gets exactly that Fault code, HTTP status, problem status and detail. The rendered
 * responses and Fault details are validated against the XSD too. Runs from the project root.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "check.h"
#include "examples.h"
#include "cm/err.h"
#include "cm/payload.h"
#include "gw_record.h"
#include "gw_request.h"
#include "gw_soap.h"

#define VALID_DIR "proto/soap/examples/valid"
#define INVALID_DIR "proto/soap/examples/invalid"
#define XSD "proto/soap/beckon.xsd"

static xmlSchemaPtr schema;

static void silent(void *ctx, const char *msg, ...)
{
}

static void loud(void *ctx, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	vfprintf(stderr, msg, ap);
	va_end(ap);
}

/* Validates the first element child of the envelope's Body (the operation, the response or
 * the Fault's problem when fault is true) against the XSD. Returns 0 when valid. */
static int validate_body(const char *xml, size_t len, bool fault, const char *what)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL, XML_PARSE_NONET);
	xmlNodePtr n;
	int rc = -1;

	CHECK(doc != NULL, "%s: not well-formed", what);
	if (!doc)
		return -1;
	n = xmlDocGetRootElement(doc);
	for (n = n ? n->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "Body") == 0)
			break;
	n = n ? n->children : NULL;
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	if (n && fault) {
		/* Fault → detail/Detail → problem (the only element our Faults put there) */
		xmlNodePtr d = n->children;

		n = NULL;
		for (; d; d = d->next)
			if (d->type == XML_ELEMENT_NODE &&
			    (strcmp((const char *)d->name, "detail") == 0 ||
			     strcmp((const char *)d->name, "Detail") == 0))
				for (n = d->children; n && n->type != XML_ELEMENT_NODE; n = n->next)
					;
	}
	if (n) {
		xmlDocPtr one = xmlNewDoc((const xmlChar *)"1.0");
		xmlNodePtr copy = xmlDocCopyNode(n, one, 1);
		xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);

		xmlDocSetRootElement(one, copy);
		xmlSchemaSetValidErrors(v, silent, silent, NULL);
		rc = xmlSchemaValidateDoc(v, one);
		if (rc != 0) {
			xmlSchemaSetValidErrors(v, loud, loud, NULL);
			xmlSchemaValidateDoc(v, one);
		}
		xmlSchemaFreeValidCtxt(v);
		xmlFreeDoc(one);
	}
	xmlFreeDoc(doc);
	CHECK(rc == 0, "%s: does not validate against %s", what, XSD);
	return rc;
}

static void check_valid(const char *path)
{
	size_t len = 0;
	char *xml = examples_read(path, &len);
	bool v12 = xml && strstr(xml, GW_SOAP12_NS);
	struct gw_soap_call call;
	struct gw_soap_fault f;
	struct gw_request r;
	char detail[GW_DETAIL_MAX];
	const char *why;
	int rc;

	CHECK(xml != NULL, "%s: unreadable", path);
	if (!xml)
		return;
	rc = gw_soap_parse(xml, len, v12 ? "application/soap+xml; charset=utf-8" : "text/xml",
			   v12 ? NULL : "\"\"", &call, &f);
	CHECK(rc == 0, "%s: Fault %s", path, f.detail);
	validate_body(xml, len, false, path);
	if (rc == 0 && call.op == GW_OP_CREATE) {
		CHECK(call.version == (v12 ? GW_SOAP_12 : GW_SOAP_11), "%s: version", path);
		rc = gw_request_from_json(call.request, NULL, &r, detail, sizeof(detail));
		CHECK(rc == 0, "%s: request refused: %s", path, detail);
		if (rc == 0) {
			struct gw_request again;

			/* The stored body is a valid REST body for the same request. */
			rc = gw_request_parse(r.body, r.body_len, &again, detail, sizeof(detail));
			CHECK(rc == 0 && strcmp(again.body, r.body) == 0 &&
				  strcmp(again.payload, r.payload) == 0,
			      "%s: REST disagrees: %s", path, detail);
			if (rc == 0)
				gw_request_free(&again);
			gw_request_free(&r);
		}
		json_decref(call.request);
	} else if (rc == 0) {
		CHECK(cm_payload_check(CM_PL_REQUEST_ID, call.request_id, strlen(call.request_id),
				       &why) == 0,
		      "%s: request id '%s'", path, call.request_id);
	}
	free(xml);
}

/* The full pipeline short of Redis: parse, then validate as gw_api/gw_store would. */
static int run(const char *xml, size_t len, const char *ct, const char *action,
	       struct gw_soap_fault *f)
{
	struct gw_soap_call call;
	struct gw_request r;
	const char *why;
	int rc = gw_soap_parse(xml, len, ct, action, &call, f);

	if (rc < 0)
		return rc;
	f->code = GW_FAULT_PROBLEM;
	if (call.op == GW_OP_CREATE) {
		rc = gw_request_from_json(call.request, NULL, &r, f->detail, sizeof(f->detail));
		json_decref(call.request);
		if (rc == 0)
			gw_request_free(&r);
	} else if (cm_payload_check(CM_PL_REQUEST_ID, call.request_id, strlen(call.request_id),
				    &why) < 0) {
		snprintf(f->detail, sizeof(f->detail), "request id %s", why);
		rc = CM_E_BAD_REQUEST;
	}
	f->err = rc;
	return rc;
}

static void check_invalid(const char *path)
{
	size_t len = 0, flen = 0;
	char *xml = examples_read(path, &len), *end, *out, code[48];
	json_t *exp = NULL;
	const char *ct, *action, *want_code, *want_detail;
	struct gw_soap_fault f;
	enum gw_soap_version v;
	unsigned http = 0;
	int rc;

	CHECK(xml && strncmp(xml, "<!-- expect: ", 13) == 0 && (end = strstr(xml, " -->")),
	      "%s: first line is not <!-- expect: {...} -->", path);
	if (!xml || strncmp(xml, "<!-- expect: ", 13) != 0 || !(end = strstr(xml, " -->"))) {
		free(xml);
		return;
	}
	exp = json_loadb(xml + 13, (size_t)(end - xml - 13), 0, NULL);
	CHECK(exp != NULL, "%s: expect is not JSON", path);
	if (!exp) {
		free(xml);
		return;
	}
	ct = json_string_value(json_object_get(exp, "content_type"));
	action = json_string_value(json_object_get(exp, "soapaction"));
	want_code = json_string_value(json_object_get(exp, "code"));
	want_detail = json_string_value(json_object_get(exp, "detail"));
	rc = run(xml, len, ct, action, &f);
	CHECK(rc < 0, "%s: accepted", path);
	if (rc < 0) {
		v = ct && strncmp(ct, "application/soap+xml", 20) == 0 ? GW_SOAP_12 : GW_SOAP_11;
		out = gw_soap_fault_render(v, &f, &flen, &http);
		snprintf(code, sizeof(code), ":%s<", want_code ? want_code : "?");
		CHECK(out && strstr(out, code), "%s: want Fault code %s:\n%s", path, want_code,
		      out ? out : "(null)");
		CHECK((int)http == json_integer_value(json_object_get(exp, "http")), "%s: HTTP %u",
		      path, http);
		CHECK(cm_err_http_status(f.err) ==
			  json_integer_value(json_object_get(exp, "status")),
		      "%s: problem status %d", path, cm_err_http_status(f.err));
		CHECK(want_detail && strstr(f.detail, want_detail), "%s: detail '%s', want '%s'",
		      path, f.detail, want_detail);
		if (out && f.code != GW_FAULT_MUST_UNDERSTAND)
			validate_body(out, flen, true, path);
		free(out);
	}
	json_decref(exp);
	free(xml);
}

/* Responses as the gateway renders them validate against the XSD. */
static void check_responses(void)
{
	static const char full[] = "proto/soap/examples/valid/v11-request-full.xml";
	size_t len = 0, olen = 0;
	char *xml = examples_read(full, &len), *out;
	struct gw_soap_call call;
	struct gw_soap_fault f;
	struct gw_request r;
	char detail[GW_DETAIL_MAX];
	json_t *res;

	CHECK(xml != NULL, "%s", full);
	if (!xml || gw_soap_parse(xml, len, "text/xml", "\"\"", &call, &f) != 0) {
		free(xml);
		return;
	}
	CHECK(gw_request_from_json(call.request, NULL, &r, detail, sizeof(detail)) == 0, "%s",
	      detail);
	json_decref(call.request);
	res = json_pack("{ssss}", "request_id", r.request_id, "status", "queued");
	for (int v = GW_SOAP_11; v <= GW_SOAP_12; v++) {
		out = gw_soap_response((enum gw_soap_version)v, GW_OP_CREATE, res, &olen);
		CHECK(out != NULL, "create response");
		if (out)
			validate_body(out, olen, false, "RequestCallbackResponse");
		free(out);
	}
	json_decref(res);
	{
		const struct cm_str kv[] = {
		    CM_STR_LIT("request_id"),	cm_str_c(r.request_id),
		    CM_STR_LIT("device"),	CM_STR_LIT("7546658000"),
		    CM_STR_LIT("package"),	CM_STR_LIT("application-server-contact-me"),
		    CM_STR_LIT("body"),		(struct cm_str){r.body, r.body_len},
		    CM_STR_LIT("status"),	CM_STR_LIT("delivered"),
		    CM_STR_LIT("client"),	CM_STR_LIT("default"),
		    CM_STR_LIT("on_behalf_of"), CM_STR_LIT("app-server-7"),
		    CM_STR_LIT("collapse_key"), CM_STR_LIT("voicemail.count"),
		    CM_STR_LIT("status_url"),	CM_STR_LIT("http://127.0.0.1:9/r?a=1&b=<2>"),
		    CM_STR_LIT("created"),	CM_STR_LIT("1795680000000"),
		    CM_STR_LIT("sent"),		CM_STR_LIT("1795680000005"),
		    CM_STR_LIT("delivered"),	CM_STR_LIT("1795680000042"),
		    CM_STR_LIT("deadline"),	CM_STR_LIT("1795680600000"),
		    CM_STR_LIT("attempts"),	CM_STR_LIT("2"),
		    CM_STR_LIT("sip_status"),	CM_STR_LIT("200"),
		    CM_STR_LIT("target:bbbb"),	CM_STR_LIT("delivered:200"),
		    CM_STR_LIT("target:aaaa"),	CM_STR_LIT("failed:408:timeout"),
		};

		res = gw_record_render(kv, sizeof(kv) / sizeof(kv[0]) / 2);
		CHECK(res != NULL, "record");
		for (int op = GW_OP_GET; op <= GW_OP_COMPLETE; op++) {
			out = gw_soap_response(GW_SOAP_12, (enum gw_op)op, res, &olen);
			CHECK(out && strstr(out, "&amp;b=&lt;2&gt;"), "escaping: %s",
			      out ? out : "-");
			if (out)
				validate_body(out, olen, false, "record response");
			free(out);
		}
		json_decref(res);
	}
	gw_request_free(&r);
	free(xml);
}

static void check_limits(void)
{
	struct gw_soap_fault f;
	struct gw_soap_call call;
	char big[64 * 1024];
	size_t n = 0;

	/* Not NUL-terminated: the parser must stop at len. */
	static const char ok[] =
	    "<e:Envelope xmlns:e=\"" GW_SOAP12_NS "\"><e:Body><b:GetCallbackStatus "
	    "xmlns:b=\"" GW_SOAP_NS "\"><b:request_id>a</b:request_id></b:"
	    "GetCallbackStatus></e:Body></e:Envelope><garbage";
	CHECK(gw_soap_parse(ok, sizeof(ok) - 1 - 8, "application/soap+xml", NULL, &call, &f) == 0,
	      "bounded view: %s", f.detail);
	CHECK(gw_soap_parse("", 0, "text/xml", "\"\"", &call, &f) == CM_E_BAD_REQUEST,
	      "empty body");
	/* 2000 sibling elements: the element bound trips while parsing. */
	n = (size_t)snprintf(big, sizeof(big), "<e:Envelope xmlns:e=\"%s\"><e:Body>", GW_SOAP11_NS);
	for (int i = 0; i < 2000; i++) {
		memcpy(big + n, "<a/>", 4);
		n += 4;
	}
	CHECK(gw_soap_parse(big, n, "text/xml", "\"\"", &call, &f) == CM_E_BAD_REQUEST &&
		  strstr(f.detail, "more than 1000 elements"),
	      "element bound: %s", f.detail);
	/* The SAX hook refuses a DOCTYPE the byte scan cannot see (UTF-16). */
	{
		static const char doc8[] = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE a "
					   "[<!ENTITY x \"y\">]><a>&x;</a>";
		char doc16[2 * sizeof(doc8) + 2];
		size_t m = 0;

		doc16[m++] = (char)0xFF;
		doc16[m++] = (char)0xFE;
		for (size_t i = 0; i + 1 < sizeof(doc8); i++) {
			doc16[m++] = doc8[i];
			doc16[m++] = 0;
		}
		CHECK(gw_soap_parse(doc16, m, "text/xml", "\"\"", &call, &f) == CM_E_BAD_REQUEST &&
			  strstr(f.detail, "DOCTYPE"),
		      "UTF-16 DOCTYPE: %s", f.detail);
	}
}

int main(void)
{
	int nv, ni;

	schema = NULL;
	{
		xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(XSD);

		schema = pc ? xmlSchemaParse(pc) : NULL;
		xmlSchemaFreeParserCtxt(pc);
	}
	CHECK(schema != NULL, "%s does not compile", XSD);
	if (!schema)
		return check_done();
	nv = examples_for_each(VALID_DIR, ".xml", check_valid);
	ni = examples_for_each(INVALID_DIR, ".xml", check_invalid);
	CHECK(nv >= 10, "only %d valid examples in " VALID_DIR, nv);
	CHECK(ni >= 30, "only %d invalid examples in " INVALID_DIR, ni);
	printf("%d valid and %d invalid SOAP examples\n", nv, ni);
	check_responses();
	check_limits();
	xmlSchemaFree(schema);
	xmlCleanupParser();
	return check_done();
}
