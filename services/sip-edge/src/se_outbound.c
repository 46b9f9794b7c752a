/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 5626 reg-id and RFC 3327 Path parsing for the registrar (see se_outbound.h). The
 * stored path is rebuilt from sofia's parsed entries rather than copied from the wire, so
 * what goes back out in a Route header is always well-formed.
 */
#include "se_outbound.h"

#include <errno.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

#include "cm/str.h"

unsigned long se_regid_value(const char *v)
{
	unsigned long n = 0;

	if (!v || !*v)
		return 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return 0;
		n = n * 10 + (unsigned long)(*v - '0');
		if (n > SE_REGID_MAX)
			return 0;
	}
	return n;
}

int se_path_join(const sip_t *sip, char *out, size_t size)
{
	size_t len = 0, hops = 0;

	if (size == 0)
		return -E2BIG;
	out[0] = '\0';
	for (const msg_header_t *h = (const msg_header_t *)sip->sip_error; h; h = h->sh_next) {
		const char *name = h->sh_error->er_name;
		/* A Path sofia could not parse would otherwise just vanish. */
		if (name && strcasecmp(name, "Path") == 0)
			return -EINVAL;
	}
	for (const sip_path_t *p = sip->sip_path; p; p = p->r_next) {
		const url_t *u = p->r_url;
		char uri[SE_PATH_MAX];
		int n;

		if (++hops > SE_PATH_HOPS_MAX)
			return -E2BIG;
		if ((u->url_type != url_sip && u->url_type != url_sips) || !u->url_host ||
		    !*u->url_host)
			return -EINVAL;
		if (url_e(uri, sizeof(uri), u) >= (issize_t)sizeof(uri))
			return -E2BIG;
		n = cm_snprintf(out + len, size - len, "%s<%s>", len ? ", " : "", uri);
		if (n < 0)
			return -E2BIG;
		len += (size_t)n;
		for (size_t i = 0; p->r_params && p->r_params[i]; i++) {
			n = cm_snprintf(out + len, size - len, ";%s", p->r_params[i]);
			if (n < 0)
				return -E2BIG;
			len += (size_t)n;
		}
	}
	return (int)len;
}

bool se_supports(const sip_t *sip, const char *tag)
{
	for (const sip_supported_t *k = sip->sip_supported; k; k = k->k_next) {
		for (size_t i = 0; k->k_items && k->k_items[i]; i++) {
			if (strcasecmp(k->k_items[i], tag) == 0)
				return true;
		}
	}
	return false;
}

bool se_first_hop(const sip_t *sip)
{
	return sip->sip_via && !sip->sip_via->v_next && !sip->sip_path;
}

bool se_outbound_usable(const sip_t *sip)
{
	if (!se_supports(sip, "outbound"))
		return false;
	/* Directly over UDP a flow needs STUN keep-alives (RFC 5626 4.4.2), which nta does not
	 * answer: a client told `Require: outbound` would see its flow fail every Flow-Timer. */
	if (se_first_hop(sip)) {
		const char *p = sip->sip_via->v_protocol;
		size_t n = p ? strlen(p) : 0;
		return !(n >= 4 && strcasecmp(p + n - 4, "/UDP") == 0);
	}
	return sip->sip_path && url_has_param(sip->sip_path->r_url, "ob");
}

int se_path_first_hop(const char *path, char *out, size_t size)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	sip_route_t *r = sip_route_make(home, path);
	int rc = -EINVAL;

	if (r && (r->r_url->url_type == url_sip || r->r_url->url_type == url_sips) &&
	    r->r_url->url_host) {
		issize_t n = url_e(out, (isize_t)size, r->r_url);
		rc = n >= 0 && (size_t)n < size ? 0 : -E2BIG;
	}
	su_home_deinit(home);
	return rc;
}

int se_flow_key(const char *instance, unsigned long reg_id, char *out, size_t size)
{
	return cm_snprintf(out, size, "%s\nreg-id=%lu", instance, reg_id) < 0 ? -E2BIG : 0;
}
