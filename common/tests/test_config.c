/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of table-driven settings: precedence, validation, messages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cm/config.h"
#include "check.h"

struct settings {
	char *listen;
	char *edge_id;
	long port;
	bool verbose;
};

static const struct cm_opt opts[] = {
    CM_OPT_STR_(struct settings, listen, "sip-listen", "udp:127.0.0.1:5060", false, "listen"),
    CM_OPT_STR_(struct settings, edge_id, "edge-id", NULL, true, "edge id"),
    CM_OPT_INT_(struct settings, port, "max-expires", "3600", 60, 86400, "max"),
    CM_OPT_BOOL_(struct settings, verbose, "verbose", "false", "verbose"),
};
#define N (sizeof(opts) / sizeof(opts[0]))

static int load(struct settings *s, char *err, int argc, char **argv)
{
	memset(s, 0, sizeof(*s));
	return cm_config_load(opts, N, s, "test", argc, argv, err, 256);
}

int main(void)
{
	struct settings s;
	char err[256];
	const char *path = "/tmp/beckon-test-config.conf";
	FILE *f;

	{
		char *argv[] = {"x", "--edge-id", "a", NULL};

		unsetenv("BECKON_MAX_EXPIRES");
		CHECK(load(&s, err, 3, argv) == 0, "%s", err);
		CHECK(strcmp(s.listen, "udp:127.0.0.1:5060") == 0 && s.port == 3600 && !s.verbose);
		cm_config_free(opts, N, &s);
		CHECK(s.listen == NULL);
	}
	{
		char *argv[] = {"x", NULL};

		CHECK(load(&s, err, 1, argv) == -EINVAL && strstr(err, "edge-id") &&
		      strstr(err, "BECKON_EDGE_ID"));
		cm_config_free(opts, N, &s);
	}
	{
		char *argv[] = {"x", "--edge-id=b", "--max-expires", "59", NULL};

		CHECK(load(&s, err, 4, argv) == -EINVAL && strstr(err, "max-expires") &&
			  strstr(err, "60..86400"),
		      "%s", err);
		cm_config_free(opts, N, &s);
	}
	{
		char *argv[] = {"x", "--edge-id=b", "--max-expires", "12x", NULL};

		CHECK(load(&s, err, 4, argv) == -EINVAL);
		cm_config_free(opts, N, &s);
	}
	{
		char *argv[] = {"x", "--nope", "1", NULL};

		CHECK(load(&s, err, 3, argv) == -EINVAL && strstr(err, "--nope"));
		cm_config_free(opts, N, &s);
	}
	{
		char *argv[] = {"x", "--edge-id", NULL};

		CHECK(load(&s, err, 2, argv) == -EINVAL && strstr(err, "needs a value"));
		cm_config_free(opts, N, &s);
	}
	/* file < environment < flags */
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(
		    "# comment\nedge-id = from-file\nmax-expires=100\nsip-listen = tcp:1.2.3.4:5\n"
		    "verbose = yes\n",
		    f);
		fclose(f);
	}
	{
		char *argv[] = {"x", "--config", (char *)path, "--max-expires", "200", NULL};

		setenv("BECKON_SIP_LISTEN", "udp:[::1]:7", 1);
		CHECK(load(&s, err, 5, argv) == 0, "%s", err);
		CHECK(strcmp(s.edge_id, "from-file") == 0);
		CHECK(strcmp(s.listen, "udp:[::1]:7") == 0);
		CHECK(s.port == 200 && s.verbose);
		unsetenv("BECKON_SIP_LISTEN");
		cm_config_free(opts, N, &s);
	}
	{
		char *argv[] = {"x", "--config", "/nonexistent/x.conf", NULL};

		CHECK(load(&s, err, 3, argv) < 0 && strstr(err, "/nonexistent/x.conf"));
		cm_config_free(opts, N, &s);
	}
	{
		const char text[] = "edge-id = a\nbogus line\n";

		memset(&s, 0, sizeof(s));
		CHECK(cm_config_load_text(opts, N, &s, text, sizeof(text) - 1, err, sizeof(err)) ==
			      -EINVAL &&
			  strstr(err, ":2:"),
		      "%s", err);
		cm_config_free(opts, N, &s);
	}
	{
		const char text[] = "verbose = maybe\n";

		memset(&s, 0, sizeof(s));
		CHECK(cm_config_load_text(opts, N, &s, text, sizeof(text) - 1, err, sizeof(err)) ==
			  -EINVAL &&
		      strstr(err, "verbose"));
		cm_config_free(opts, N, &s);
	}
	remove(path);
	return check_done();
}
