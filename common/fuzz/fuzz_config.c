/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: config-file text (cm_config_load_text) over a small table with one setting of
 * each type. Properties: success leaves every integer within its bounds and every string
 * with a default set; failure always writes a message; cm_config_free releases everything
 * (LeakSanitizer checks) whatever the outcome.
 */
#include <stdbool.h>
#include <string.h>

#include "cm/config.h"
#include "fuzz.h"

struct fuzz_settings {
	char *listen;
	char *name;
	long count;
	bool verbose;
};

static const struct cm_opt opts[] = {
    CM_OPT_STR_(struct fuzz_settings, listen, "sip-listen", "udp:127.0.0.1:5060", false, "listen"),
    CM_OPT_STR_(struct fuzz_settings, name, "edge-id", NULL, true, "edge id"),
    CM_OPT_INT_(struct fuzz_settings, count, "max-expires", "3600", 60, 86400, "max"),
    CM_OPT_BOOL_(struct fuzz_settings, verbose, "verbose", "false", "verbose"),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_settings s;
	char err[256];
	int rc;

	memset(&s, 0, sizeof(s));
	err[0] = '\0';
	rc = cm_config_load_text(opts, NOPTS, &s, (const char *)data, size, err, sizeof(err));
	if (rc == 0) {
		FUZZ_CHECK(s.listen != NULL);
		FUZZ_CHECK(s.count >= 60 && s.count <= 86400);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	} else {
		FUZZ_CHECK(rc < 0 && err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
	}
	cm_config_free(opts, NOPTS, &s);
	FUZZ_CHECK(s.listen == NULL && s.name == NULL);
	return 0;
}
