/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SOAP 1.1/1.2 envelopes to operations and back (proto/soap/). The XML is parsed by libxml2
 * with SAX hooks that stop the parser the moment a DOCTYPE appears or the depth or element
 * count bound is passed, so a hostile document costs at most one pass over max-body bytes.
 * The operation element's children become the JSON tree of proto/rest.md (same field names;
 * ttl_s and port become integers when they read as one, otherwise they stay text so the
 * shared validation reports them exactly as it would a JSON string), and everything from
 * there on is the REST code path.
 *
 * Responses are written into a growing buffer by hand rather than through a libxml2 tree:
 * they are small, fixed in shape, and this is the hot path of every SOAP call.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "cm/err.h"
#include "gw_soap.h"

#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"

static const char *const op_names[] = {
    [GW_OP_CREATE] = "RequestCallback",
    [GW_OP_GET] = "GetCallbackStatus",
    [GW_OP_CANCEL] = "CancelCallback",
    [GW_OP_COMPLETE] = "CompleteCallback",
};
#define N_OPS (sizeof(op_names) / sizeof(op_names[0]))

static int fault(struct gw_soap_fault *f, enum gw_soap_code code, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fault(struct gw_soap_fault *f, enum gw_soap_code code, int err, const char *fmt, ...)
{
	va_list ap;

	f->code = code;
	f->err = err;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
	return err;
}

/* ---------------------------------------------------------------- HTTP headers */

/* Matches the media type at the start of ct (case-insensitive); *params gets what follows. */
static bool media_is(const char *ct, const char *type, const char **params)
{
	size_t n = strlen(type);

	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, type, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (*ct != '\0' && *ct != ';')
		return false;
	*params = ct;
	return true;
}

/* The action="..." parameter of an application/soap+xml Content-Type, into out. */
static void action_param(const char *p, char *out, size_t size)
{
	out[0] = '\0';
	while (p && *p) {
		const char *v;
		size_t n = 0;

		p = strchr(p, ';');
		if (!p)
			return;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "action=", 7) != 0)
			continue;
		v = p + 7;
		if (*v == '"') {
			v++;
			while (v[n] && v[n] != '"')
				n++;
		} else {
			while (v[n] && v[n] != ';' && v[n] != ' ')
				n++;
		}
		if (n >= size)
			n = size - 1;
		memcpy(out, v, n);
		out[n] = '\0';
		return;
	}
}

/* SOAPAction is a quoted URI, "" meaning "see the body"; unquoted values are tolerated. */
static void unquote(const char *s, char *out, size_t size)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	if (n >= size)
		n = size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* ---------------------------------------------------------------- parsing */

struct pstate {
	int depth, elements;
	bool doctype, too_deep, too_many;
};

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
		     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
		     int nb_defaulted, const xmlChar **attributes)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct pstate *p = ctxt->_private;

	if (++p->depth > GW_SOAP_DEPTH_MAX) {
		p->too_deep = true;
		xmlStopParser(ctxt);
		return;
	}
	if (++p->elements > GW_SOAP_ELEMENTS_MAX) {
		p->too_many = true;
		xmlStopParser(ctxt);
		return;
	}
	xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
			      nb_defaulted, attributes);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct pstate *p = ctxt->_private;

	p->depth--;
	xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

/* A DOCTYPE: SOAP forbids it, and it is where every entity trick lives. Stop at once. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
		       const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct pstate *p = ctxt->_private;

	p->doctype = true;
	xmlStopParser(ctxt);
}

/* libxml2 would print to stderr by default; the error is read from the context instead. */
static void quiet(void *ctx, const char *msg, ...)
{
}

static xmlDocPtr parse_xml(const char *body, size_t len, struct gw_soap_fault *f)
{
	static bool inited;
	struct pstate p = {0};
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc = NULL;

	if (!inited) {
		xmlInitParser();
		inited = true;
	}
	/* Cheap first line of defence; the SAX hook catches the spellings this misses (other
	 * encodings). */
	if (memmem(body, len, "<!DOCTYPE", 9) || memmem(body, len, "<!ENTITY", 8)) {
		fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
		      "a DOCTYPE is not allowed in a SOAP message");
		return NULL;
	}
	if (len > (size_t)0x7fffffff) {
		fault(f, GW_FAULT_PROBLEM, CM_E_TOO_LARGE, "SOAP message too large");
		return NULL;
	}
	ctxt = xmlCreateMemoryParserCtxt(body, (int)len);
	if (!ctxt) {
		fault(f, GW_FAULT_PROBLEM, len ? -ENOMEM : CM_E_BAD_REQUEST, "%s",
		      len ? "out of memory" : "malformed XML: empty body");
		return NULL;
	}
	ctxt->_private = &p;
	ctxt->sax->startElementNs = on_start;
	ctxt->sax->endElementNs = on_end;
	ctxt->sax->internalSubset = on_doctype;
	ctxt->sax->externalSubset = on_doctype;
	ctxt->sax->error = quiet;
	ctxt->sax->warning = quiet;
	ctxt->vctxt.error = quiet;
	ctxt->vctxt.warning = quiet;
	/* NONET: never fetch anything. No NOENT (entities are not substituted), no DTDLOAD. */
	xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				    XML_PARSE_NOCDATA);
	xmlParseDocument(ctxt);
	doc = ctxt->myDoc;
	ctxt->myDoc = NULL;
	if (p.doctype)
		fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
		      "a DOCTYPE is not allowed in a SOAP message");
	else if (p.too_deep)
		fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
		      "malformed XML: nested deeper than %d levels", GW_SOAP_DEPTH_MAX);
	else if (p.too_many)
		fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST, "malformed XML: more than %d elements",
		      GW_SOAP_ELEMENTS_MAX);
	else if (!ctxt->wellFormed || !doc) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[160] = "not well-formed";

		if (e && e->message) {
			size_t n = strlen(e->message);

			while (n > 0 && (e->message[n - 1] == '\n' || e->message[n - 1] == ' '))
				n--;
			if (n >= sizeof(msg))
				n = sizeof(msg) - 1;
			memcpy(msg, e->message, n);
			msg[n] = '\0';
		}
		fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST, "malformed XML: %s (line %d)", msg,
		      e ? e->line : 0);
	} else {
		xmlFreeParserCtxt(ctxt);
		return doc;
	}
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return NULL;
}

static bool in_ns(const xmlNode *n, const char *ns)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

static bool named(const xmlNode *n, const char *name)
{
	return strcmp((const char *)n->name, name) == 0;
}

static bool blank(const xmlNode *n)
{
	if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE)
		return true;
	if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE)
		return false;
	for (const xmlChar *s = n->content; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

static const xmlNode *next_element(const xmlNode *n)
{
	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static bool has_element_child(const xmlNode *n)
{
	return next_element(n->children) != NULL;
}

/* xsi:nil="true": the field is absent. */
static bool is_nil(const xmlNode *n)
{
	xmlChar *v = xmlGetNsProp(n, (const xmlChar *)"nil", (const xmlChar *)XSI_NS);
	bool nil = v && (strcmp((const char *)v, "true") == 0 || strcmp((const char *)v, "1") == 0);

	xmlFree(v);
	return nil;
}

/* An element's text as a JSON string (an element with child elements: an empty object, so
 * that validation calls it "must be a string" just as it would in JSON). */
static json_t *text_of(const xmlNode *n)
{
	xmlChar *s;
	json_t *j;

	if (has_element_child(n))
		return json_object();
	s = xmlNodeGetContent(n);
	j = json_string(s ? (const char *)s : "");
	xmlFree(s);
	return j;
}

/* xs:int lexical space (whitespace collapsed, optional sign) → JSON integer; anything else
 * stays text for validation to refuse with the usual detail. */
static json_t *int_of(const xmlNode *n)
{
	xmlChar *s;
	const char *p, *q;
	json_t *j = NULL;

	if (has_element_child(n))
		return json_object();
	s = xmlNodeGetContent(n);
	p = s ? (const char *)s : "";
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	q = p;
	if (*q == '+' || *q == '-')
		q++;
	if (*q >= '0' && *q <= '9') {
		const char *d = q;
		long long v = 0;

		while (*q >= '0' && *q <= '9' && q - d < 18)
			v = v * 10 + (*q++ - '0');
		while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
			q++;
		if (*q == '\0')
			j = json_integer(*p == '-' ? -v : v);
	}
	if (!j)
		j = json_string(p);
	xmlFree(s);
	return j;
}

static int put(json_t *obj, const char *key, json_t *v, const char *where, struct gw_soap_fault *f)
{
	if (!v)
		return fault(f, GW_FAULT_PROBLEM, -ENOMEM, "out of memory");
	if (json_object_get(obj, key)) {
		json_decref(v);
		return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST, "duplicate field '%s%s'", where,
			     key);
	}
	if (json_object_set_new(obj, key, v) < 0)
		return fault(f, GW_FAULT_PROBLEM, -ENOMEM, "out of memory");
	return 0;
}

/* The name an element gets in the JSON tree: its local name in our namespace, or
 * "{ns}name" outside it (which validation then calls an unknown field). */
static const char *key_of(const xmlNode *n, char *buf, size_t size)
{
	if (in_ns(n, GW_SOAP_NS))
		return (const char *)n->name;
	snprintf(buf, size, "{%s}%s", n->ns && n->ns->href ? (const char *)n->ns->href : "",
		 (const char *)n->name);
	return buf;
}

static json_t *server_of(const xmlNode *el, const char *where, struct gw_soap_fault *f, int *rc)
{
	json_t *o;
	char kbuf[256];

	if (!has_element_child(el))
		return text_of(el); /* "must be an object" */
	o = json_object();
	if (!o) {
		*rc = -ENOMEM;
		return NULL;
	}
	for (const xmlNode *c = next_element(el->children); c; c = next_element(c->next)) {
		const char *k = key_of(c, kbuf, sizeof(kbuf));

		if (is_nil(c))
			continue;
		*rc = put(o, k, strcmp(k, "port") == 0 ? int_of(c) : text_of(c), where, f);
		if (*rc < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* The RequestCallback element → the JSON request tree of proto/rest.md. */
static int request_tree(const xmlNode *op, json_t **out, struct gw_soap_fault *f)
{
	json_t *root = json_object();
	char kbuf[256];
	int rc = 0;

	if (!root)
		return fault(f, GW_FAULT_PROBLEM, -ENOMEM, "out of memory");
	for (const xmlNode *c = next_element(op->children); c && rc == 0;
	     c = next_element(c->next)) {
		const char *k = key_of(c, kbuf, sizeof(kbuf));
		json_t *v = NULL;

		if (is_nil(c))
			continue;
		if (strcmp(k, "server") == 0) {
			v = server_of(c, "server.", f, &rc);
		} else if (strcmp(k, "alt_servers") == 0 && has_element_child(c)) {
			v = json_array();
			for (const xmlNode *s = next_element(c->children); v && s && rc == 0;
			     s = next_element(s->next)) {
				char where[32];
				json_t *item;

				snprintf(where, sizeof(where), "alt_servers[%zu].",
					 json_array_size(v));
				item = server_of(s, where, f, &rc);
				if (item && json_array_append_new(v, item) < 0)
					rc = fault(f, GW_FAULT_PROBLEM, -ENOMEM, "out of memory");
			}
		} else if (strcmp(k, "alt_servers") == 0) {
			v = json_array(); /* <alt_servers/>: an empty list */
		} else if (strcmp(k, "ttl_s") == 0) {
			v = int_of(c);
		} else {
			v = text_of(c);
		}
		if (rc < 0) {
			json_decref(v);
			break;
		}
		rc = put(root, k, v, "", f);
	}
	if (rc < 0) {
		json_decref(root);
		return rc;
	}
	*out = root;
	return 0;
}

/* GetCallbackStatus / CancelCallback / CompleteCallback: exactly one request_id. */
static int id_arg(const xmlNode *op, char *out, struct gw_soap_fault *f)
{
	const xmlNode *c = next_element(op->children);
	xmlChar *s;
	size_t n;

	if (!c || !in_ns(c, GW_SOAP_NS) || !named(c, "request_id") || next_element(c->next) ||
	    has_element_child(c))
		return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
			     "%s takes exactly one element, request_id", (const char *)op->name);
	s = xmlNodeGetContent(c);
	n = s ? strlen((const char *)s) : 0;
	if (n == 0 || n > GW_REQUEST_ID_MAX) {
		xmlFree(s);
		return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
			     "field 'request_id' must be 1 to 128 of A-Z a-z 0-9 - _ . : @ + ~");
	}
	memcpy(out, s, n + 1);
	xmlFree(s);
	return 0;
}

static int op_of(const char *name)
{
	for (size_t i = 0; i < N_OPS; i++)
		if (strcmp(name, op_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Header entries: only mustUnderstand ones matter, and beckon understands none. */
static int check_header(const xmlNode *hdr, enum gw_soap_version v, struct gw_soap_fault *f)
{
	const char *ns = v == GW_SOAP_11 ? GW_SOAP11_NS : GW_SOAP12_NS;

	for (const xmlNode *c = next_element(hdr->children); c; c = next_element(c->next)) {
		xmlChar *mu =
		    xmlGetNsProp(c, (const xmlChar *)"mustUnderstand", (const xmlChar *)ns);
		bool must = mu && (strcmp((const char *)mu, "1") == 0 ||
				   strcmp((const char *)mu, "true") == 0);

		xmlFree(mu);
		if (must)
			return fault(f, GW_FAULT_MUST_UNDERSTAND, CM_E_BAD_REQUEST,
				     "header entry '%s' is not understood", (const char *)c->name);
	}
	return 0;
}

static int walk(const xmlDoc *doc, enum gw_soap_version v, const char *action,
		struct gw_soap_call *out, struct gw_soap_fault *f)
{
	const xmlNode *env = xmlDocGetRootElement(doc), *c, *body = NULL, *op;
	const char *want = v == GW_SOAP_11 ? GW_SOAP11_NS : GW_SOAP12_NS;
	int rc, o;

	if (!env || !named(env, "Envelope"))
		return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
			     "not a SOAP message: the root element must be Envelope");
	if (!in_ns(env, want))
		return fault(f, GW_FAULT_VERSION, CM_E_BAD_REQUEST,
			     "SOAP %s (Content-Type %s) needs the envelope namespace %s",
			     v == GW_SOAP_11 ? "1.1" : "1.2",
			     v == GW_SOAP_11 ? "text/xml" : "application/soap+xml", want);
	for (c = env->children; c; c = c->next) {
		if (blank(c))
			continue;
		if (c->type == XML_ELEMENT_NODE && in_ns(c, want) && named(c, "Header") && !body) {
			rc = check_header(c, v, f);
			if (rc < 0)
				return rc;
		} else if (c->type == XML_ELEMENT_NODE && in_ns(c, want) && named(c, "Body") &&
			   !body) {
			body = c;
		} else {
			return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
				     "the Envelope may hold only Header and one Body");
		}
	}
	if (!body)
		return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST, "the Envelope has no Body");
	op = next_element(body->children);
	if (!op || next_element(op->next))
		return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
			     "the Body must hold exactly one operation element");
	o = in_ns(op, GW_SOAP_NS) ? op_of((const char *)op->name) : -1;
	if (o < 0)
		return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
			     "unknown operation '{%s}%.64s'; known: RequestCallback, "
			     "GetCallbackStatus, CancelCallback, CompleteCallback",
			     op->ns && op->ns->href ? (const char *)op->ns->href : "",
			     (const char *)op->name);
	if (action[0]) {
		size_t pl = strlen(GW_SOAP_ACTION_PREFIX);

		if (strncmp(action, GW_SOAP_ACTION_PREFIX, pl) != 0 || op_of(action + pl) < 0)
			return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
				     "unknown operation in SOAP action '%.128s'", action);
		if (op_of(action + pl) != o)
			return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
				     "SOAP action '%.128s' does not match the operation %s", action,
				     op_names[o]);
	}
	out->op = (enum gw_op)o;
	if (out->op == GW_OP_CREATE)
		return request_tree(op, &out->request, f);
	return id_arg(op, out->request_id, f);
}

int gw_soap_parse(const char *body, size_t len, const char *content_type, const char *soap_action,
		  struct gw_soap_call *out, struct gw_soap_fault *f)
{
	char action[256];
	const char *params = NULL;
	xmlDocPtr doc;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(f, 0, sizeof(*f));
	out->version = GW_SOAP_11;
	if (content_type && media_is(content_type, "text/xml", &params)) {
		if (!soap_action)
			return fault(f, GW_FAULT_PROBLEM, CM_E_BAD_REQUEST,
				     "SOAP 1.1 (text/xml) needs a SOAPAction header");
		unquote(soap_action, action, sizeof(action));
	} else if (content_type && media_is(content_type, "application/soap+xml", &params)) {
		out->version = GW_SOAP_12;
		action_param(params, action, sizeof(action));
	} else {
		return fault(f, GW_FAULT_PROBLEM, CM_E_UNSUPPORTED_MEDIA,
			     "Content-Type must be text/xml (SOAP 1.1) or application/soap+xml "
			     "(SOAP 1.2)");
	}
	doc = parse_xml(body, len, f);
	if (!doc)
		return f->err;
	rc = walk(doc, out->version, action, out, f);
	xmlFreeDoc(doc);
	return rc;
}

/* ---------------------------------------------------------------- rendering */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put_n(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void put_s(struct buf *b, const char *s)
{
	put_n(b, s, strlen(s));
}

/* A multi-byte sequence xmlGetUTF8Char decoded to cp from len bytes: an XML 1.0 Char
 * (#x80-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF) in its shortest encoding. */
static bool xml_char_ok(int cp, int len)
{
	static const int shortest[] = {0, 0, 0x80, 0x800, 0x10000};

	if (cp < 0 || len < 2 || len > 4 || cp < shortest[len])
		return false;
	return cp <= 0xd7ff || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

static void put_esc(struct buf *b, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;

		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\r':
			rep = "&#13;";
			break;
		default:
			/* Not allowed in XML 1.0 at all; validated input never has them. */
			if ((unsigned char)s[i] < 0x20 && s[i] != '\t' && s[i] != '\n') {
				rep = "?";
			} else if ((unsigned char)s[i] >= 0x80) {
				/* Fault texts quote request bytes (libxml2's messages, SOAPAction):
				 * keep the answer well-formed by replacing invalid UTF-8. */
				int len = (int)(n - i > 4 ? 4 : n - i);
				unsigned char lead = (unsigned char)s[i];
				int cp = -1;

				/* libxml2 2.9's xmlGetUTF8Char takes a continuation byte
				 * (0x80..0xBF) as a lead byte: reject those (and C0, C1, F5..FF,
				 * which never start valid UTF-8) first. It also decodes overlong
				 * forms (E0 82 82), surrogates and U+FFFE/U+FFFF, which libxml2's
				 * parser then refuses: the code point must be an XML 1.0 Char
				 * encoded in its shortest form. */
				if (lead >= 0xc2 && lead <= 0xf4)
					cp = xmlGetUTF8Char((const unsigned char *)s + i, &len);
				if (!xml_char_ok(cp, len))
					rep = "?";
				else
					i += (size_t)len - 1;
			}
			break;
		}
		if (rep) {
			put_n(b, s + start, i - start);
			put_s(b, rep);
			start = i + 1;
		}
	}
	put_n(b, s + start, n - start);
}

static char *finish_buf(struct buf *b, size_t *len)
{
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	*len = b->len;
	return b->p;
}

static void open_envelope(struct buf *b, enum gw_soap_version v)
{
	put_s(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<s:Envelope xmlns:s=\"");
	put_s(b, v == GW_SOAP_11 ? GW_SOAP11_NS : GW_SOAP12_NS);
	put_s(b, "\">");
}

/* The element that holds each item of a JSON array (the XSD's names). */
static const char *item_name(const char *key)
{
	if (strcmp(key, "targets") == 0)
		return "target";
	if (strcmp(key, "alt_servers") == 0)
		return "server";
	return "item";
}

static void put_value(struct buf *b, const char *key, json_t *v);

static void put_members(struct buf *b, json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v)
	{
		put_value(b, k, v);
	}
}

/* <b:key>value</b:key>; null is left out (minOccurs=0 in the XSD). */
static void put_value(struct buf *b, const char *key, json_t *v)
{
	char num[32];

	if (json_is_null(v))
		return;
	put_s(b, "<b:");
	put_s(b, key);
	put_s(b, ">");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put_members(b, v);
		break;
	case JSON_ARRAY: {
		size_t i;
		json_t *item;

		json_array_foreach(v, i, item)
		{
			put_value(b, item_name(key), item);
		}
		break;
	}
	case JSON_STRING:
		put_esc(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		put_s(b, num);
		break;
	case JSON_TRUE:
		put_s(b, "true");
		break;
	case JSON_FALSE:
		put_s(b, "false");
		break;
	default:
		break;
	}
	put_s(b, "</b:");
	put_s(b, key);
	put_s(b, ">");
}

const char *gw_soap_content_type(enum gw_soap_version v)
{
	return v == GW_SOAP_12 ? "application/soap+xml; charset=utf-8" : "text/xml; charset=utf-8";
}

char *gw_soap_response(enum gw_soap_version v, enum gw_op op, json_t *res, size_t *len)
{
	struct buf b = {0};
	const char *name = (size_t)op < N_OPS ? op_names[op] : "Unknown";

	open_envelope(&b, v);
	put_s(&b, "<s:Body><b:");
	put_s(&b, name);
	put_s(&b, "Response xmlns:b=\"" GW_SOAP_NS "\">");
	if (op == GW_OP_CREATE)
		put_members(&b, res);
	else
		put_value(&b, "callback", res);
	put_s(&b, "</b:");
	put_s(&b, name);
	put_s(&b, "Response></s:Body></s:Envelope>\n");
	return finish_buf(&b, len);
}

static void put_problem(struct buf *b, const struct gw_soap_fault *f)
{
	char num[32];

	put_s(b, "<b:problem xmlns:b=\"" GW_SOAP_NS "\"><b:status>");
	snprintf(num, sizeof(num), "%d", cm_err_http_status(f->err));
	put_s(b, num);
	put_s(b, "</b:status><b:type>");
	put_s(b, cm_err_type(f->err));
	put_s(b, "</b:type><b:title>");
	put_s(b, cm_err_title(f->err));
	put_s(b, "</b:title>");
	if (f->retry_after > 0) {
		snprintf(num, sizeof(num), "%ld", f->retry_after);
		put_s(b, "<b:retry_after>");
		put_s(b, num);
		put_s(b, "</b:retry_after>");
	}
	put_s(b, "</b:problem>");
}

char *gw_soap_fault_render(enum gw_soap_version v, const struct gw_soap_fault *f, size_t *len,
			   unsigned *http)
{
	struct buf b = {0};
	bool sender = cm_err_http_status(f->err) < 500;
	const char *code;

	if (v == GW_SOAP_11) {
		code = f->code == GW_FAULT_VERSION	     ? "s:VersionMismatch"
		       : f->code == GW_FAULT_MUST_UNDERSTAND ? "s:MustUnderstand"
		       : sender				     ? "s:Client"
							     : "s:Server";
		*http = f->err == CM_E_UNSUPPORTED_MEDIA ? 415 : 500;
		open_envelope(&b, v);
		put_s(&b, "<s:Body><s:Fault><faultcode>");
		put_s(&b, code);
		put_s(&b, "</faultcode><faultstring>");
		put_esc(&b, f->detail, strlen(f->detail));
		put_s(&b, "</faultstring>");
		/* SOAP 1.1 forbids detail for errors about header entries. */
		if (f->code != GW_FAULT_MUST_UNDERSTAND) {
			put_s(&b, "<detail>");
			put_problem(&b, f);
			put_s(&b, "</detail>");
		}
		put_s(&b, "</s:Fault></s:Body></s:Envelope>\n");
		return finish_buf(&b, len);
	}
	code = f->code == GW_FAULT_VERSION	     ? "s:VersionMismatch"
	       : f->code == GW_FAULT_MUST_UNDERSTAND ? "s:MustUnderstand"
	       : sender				     ? "s:Sender"
						     : "s:Receiver";
	*http = f->err == CM_E_UNSUPPORTED_MEDIA	? 415
		: f->code == GW_FAULT_PROBLEM && sender ? 400
							: 500;
	open_envelope(&b, v);
	if (f->code == GW_FAULT_VERSION)
		put_s(&b,
		      "<s:Header><s:Upgrade><s:SupportedEnvelope qname=\"e:Envelope\" "
		      "xmlns:e=\"" GW_SOAP12_NS "\"/><s:SupportedEnvelope "
		      "qname=\"o:Envelope\" xmlns:o=\"" GW_SOAP11_NS "\"/></s:Upgrade></s:Header>");
	put_s(&b, "<s:Body><s:Fault><s:Code><s:Value>");
	put_s(&b, code);
	put_s(&b, "</s:Value></s:Code><s:Reason><s:Text xml:lang=\"en\">");
	put_esc(&b, f->detail, strlen(f->detail));
	put_s(&b, "</s:Text></s:Reason><s:Detail>");
	put_problem(&b, f);
	put_s(&b, "</s:Detail></s:Fault></s:Body></s:Envelope>\n");
	return finish_buf(&b, len);
}
