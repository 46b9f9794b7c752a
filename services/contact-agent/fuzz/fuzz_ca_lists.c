/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: contact-agent's list settings, the trusted servers (ca_trust_parse) and the
 * event packages (ca_packages_parse), both on the input as a NUL-terminated string. The
 * trust list decides which hosts a NOTIFY may make the device call, so: every entry parsed
 * matches itself (ca_trust_match with its own host, kind and port) and has a port in
 * 1..65535; a refusal names the entry. Every package parsed is found again at its own index, and
 * the Accept and Allow-Events values are non-empty strings.
 */
#include <errno.h>
#include <string.h>

#include "ca_packages.h"
#include "ca_trust.h"
#include "fuzz.h"

#define INPUT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ca_trust trust;
	static struct ca_packages pk;
	static char spec[INPUT_MAX + 1];
	char err[256];
	int n;

	if (size > INPUT_MAX)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';

	err[0] = '\0';
	n = ca_trust_parse(spec, &trust, err, sizeof(err));
	if (n < 0) {
		FUZZ_CHECK(n == -EINVAL && err[0] != '\0');
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	} else {
		FUZZ_CHECK((size_t)n == trust.n && trust.n <= CA_TRUST_MAX);
		for (size_t i = 0; i < trust.n; i++) {
			const struct ca_trust_entry *e = &trust.e[i];

			FUZZ_CHECK(e->port >= 1 && e->port <= 65535);
			FUZZ_CHECK(
			    ca_trust_match(&trust, e->host, strlen(e->host), e->kind, e->port));
		}
	}

	err[0] = '\0';
	if (ca_packages_parse(spec, &pk, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	FUZZ_CHECK(pk.n >= 1 && pk.n <= CA_PACKAGES_MAX);
	FUZZ_CHECK(pk.accept[0] != '\0' && pk.allow_events[0] != '\0');
	for (size_t i = 0; i < pk.n; i++) {
		FUZZ_CHECK(ca_packages_find(&pk, pk.name[i]) == (int)i);
		FUZZ_CHECK(strstr(pk.accept, pk.name[i]) != NULL);
	}
	return 0;
}
