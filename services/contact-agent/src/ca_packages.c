/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event package list: parsing, lookup and the header values derived from it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ca_packages.h"

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '+';
}

/* Appends s to buf (which holds len bytes) with ", " before it unless it is the first. */
static void append(char *buf, size_t size, const char *prefix, const char *s)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s%s", len ? ", " : "", prefix, s);
}

int ca_packages_parse(const char *list, struct ca_packages *out, char *err, size_t errlen)
{
	const char *p = list ? list : "";

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *start, *end;
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (*p == ',')
			p++;
		len = (size_t)(end - start);
		if (len == 0)
			continue;
		if (len > CA_PACKAGE_NAME_MAX) {
			snprintf(err, errlen, "packages: a name is longer than %d characters",
				 CA_PACKAGE_NAME_MAX);
			return -EINVAL;
		}
		for (size_t i = 0; i < len; i++) {
			if (!name_char(start[i])) {
				snprintf(err, errlen,
					 "packages: '%.*s' is not an event package name", (int)len,
					 start);
				return -EINVAL;
			}
		}
		if (out->n == CA_PACKAGES_MAX) {
			snprintf(err, errlen, "packages: more than %d packages", CA_PACKAGES_MAX);
			return -EINVAL;
		}
		memcpy(out->name[out->n], start, len);
		out->name[out->n][len] = '\0';
		if (ca_packages_find(out, out->name[out->n]) >= 0)
			continue; /* a duplicate */
		append(out->accept, sizeof(out->accept), CA_MEDIA_PREFIX, out->name[out->n]);
		append(out->allow_events, sizeof(out->allow_events), "", out->name[out->n]);
		out->n++;
	}
	if (out->n == 0) {
		snprintf(err, errlen, "packages: at least one event package is needed");
		return -EINVAL;
	}
	return 0;
}

int ca_packages_find(const struct ca_packages *p, const char *event)
{
	if (!event)
		return -ENOENT;
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->name[i], event) == 0)
			return (int)i;
	return -ENOENT;
}

int ca_packages_media_ok(const struct ca_packages *p, int idx, const char *content_type)
{
	size_t plen = sizeof(CA_MEDIA_PREFIX) - 1;

	if (idx < 0 || (size_t)idx >= p->n || !content_type)
		return 0;
	return strncasecmp(content_type, CA_MEDIA_PREFIX, plen) == 0 &&
	       strcasecmp(content_type + plen, p->name[idx]) == 0;
}
