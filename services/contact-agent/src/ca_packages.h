/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event packages this agent takes part in (setting `packages`): a comma list of package
 * names, each with the payload format of application-server-contact-me and the media type
 * application/<package>. From the list come the REGISTER's Accept entries, the Allow-Events
 * value, the SUBSCRIBEs of explicit mode, and which NOTIFY Event values are accepted (any
 * other is answered 489). Pure; unit-tested.
 */
#ifndef CA_PACKAGES_H
#define CA_PACKAGES_H

#include <stddef.h>

#define CA_PACKAGES_MAX 8
#define CA_PACKAGE_NAME_MAX 64
#define CA_MEDIA_PREFIX "application/"

struct ca_packages {
	char name[CA_PACKAGES_MAX][CA_PACKAGE_NAME_MAX + 1];
	size_t n;
	/* "application/a, application/b": the Accept value of REGISTER and SUBSCRIBE */
	char accept[CA_PACKAGES_MAX * (sizeof(CA_MEDIA_PREFIX) + CA_PACKAGE_NAME_MAX + 2)];
	char allow_events[CA_PACKAGES_MAX * (CA_PACKAGE_NAME_MAX + 2)]; /* "a, b" */
};

/*
 * Parses a comma list (spaces around names ignored; duplicates dropped). A name is 1..64 of
 * ALPHA DIGIT "-" "_" "." "+" (an RFC 6665 event-type). Returns 0, or -EINVAL with the reason
 * in err (empty list, bad name, more than CA_PACKAGES_MAX names).
 */
int ca_packages_parse(const char *list, struct ca_packages *out, char *err, size_t errlen);

/* Index of the package named event (compared exactly, as event types are), or -ENOENT. */
int ca_packages_find(const struct ca_packages *p, const char *event);

/* 1 when content_type (type/subtype only, no parameters) is application/<name of package
 * idx>, compared case-insensitively; else 0. */
int ca_packages_media_ok(const struct ca_packages *p, int idx, const char *content_type);

#endif
