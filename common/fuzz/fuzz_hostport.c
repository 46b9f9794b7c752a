/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: hostport (cm_hostport_parse, cm_host_check) and listen specs
 * (cm_listen_parse, which takes a C string: it gets a NUL-terminated copy). Property: a
 * parsed hostport formats back (cm_hostport_format) to something that parses to the same
 * host, kind and port.
 */
#include <string.h>

#include "cm/hostport.h"
#include "fuzz.h"

/* Longest IPv6 or host name with brackets and port, as api-gateway sizes it. */
#define HOSTPORT_MAX (CM_HOST_MAX + 8)
#define LISTEN_INPUT_MAX 4096

static void check_hostport(const char *s, size_t len)
{
	struct cm_hostport hp, again;
	char buf[HOSTPORT_MAX + 1];
	int n;

	if (cm_hostport_parse(s, len, &hp) < 0)
		return;
	FUZZ_CHECK(hp.host.p >= s && hp.host.p + hp.host.len <= s + len);
	FUZZ_CHECK(hp.port >= -1 && hp.port <= 65535);
	FUZZ_CHECK(cm_host_check(hp.host.p, hp.host.len) == (int)hp.kind);
	n = cm_hostport_format(buf, sizeof(buf), hp.host.p, hp.host.len, hp.port);
	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(cm_hostport_parse(buf, (size_t)n, &again) == 0);
	FUZZ_CHECK(again.kind == hp.kind && again.port == hp.port &&
		   cm_str_eq(again.host, hp.host));
}

static void check_listen(const uint8_t *data, size_t size)
{
	struct cm_listen l[CM_LISTEN_MAX];
	char err[256];
	char *spec;
	int n;

	if (size > LISTEN_INPUT_MAX)
		return;
	spec = malloc(size + 1);
	if (!spec)
		return;
	memcpy(spec, data, size);
	spec[size] = '\0';
	err[0] = '\0';
	n = cm_listen_parse(spec, l, CM_LISTEN_MAX, err, sizeof(err));
	FUZZ_CHECK(n <= CM_LISTEN_MAX);
	if (n < 0)
		FUZZ_CHECK(err[0] != '\0');
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(strlen(l[i].host) <= CM_HOST_MAX);
		FUZZ_CHECK(l[i].port >= 0 && l[i].port <= 65535);
		FUZZ_CHECK(l[i].tp == CM_TP_UDP || l[i].tp == CM_TP_TCP || l[i].tp == CM_TP_TLS);
	}
	free(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_hostport((const char *)data, size);
	cm_host_check((const char *)data, size);
	check_listen(data, size);
	return 0;
}
