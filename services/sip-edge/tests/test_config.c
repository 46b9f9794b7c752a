/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of sip-edge's settings: defaults, edge id syntax, tls needs cert and key,
 * clamping. */
#include <stdlib.h>
#include <string.h>

#include "../../../common/tests/check.h"
#include "se_config.h"

static int load(const char *text, struct se_config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = cm_config_load_text(se_config_opts, se_config_n_opts, cfg, text, strlen(text), err,
				 errlen);
	if (rc == 0)
		rc = se_config_check(cfg, err, errlen);
	return rc;
}

int main(void)
{
	struct se_config cfg;
	char err[256];

	CHECK(se_edge_id_valid("edge-a"));
	CHECK(se_edge_id_valid("a.b_c-9"));
	CHECK(!se_edge_id_valid(""));
	CHECK(!se_edge_id_valid("a b"));
	CHECK(!se_edge_id_valid("a:b"));
	CHECK(se_edge_id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	CHECK(
	    !se_edge_id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

	CHECK(load("edge-id = edge-a\n", &cfg, err, sizeof(err)) == 0, "%s", err);
	CHECK(cfg.n_listen == 2);
	CHECK(cfg.listen[0].tp == CM_TP_UDP && cfg.listen[1].tp == CM_TP_TCP);
	CHECK(cfg.min_expires == 60 && cfg.max_expires == 3600 && cfg.default_expires == 3600);
	CHECK(strcmp(cfg.http_listen, "127.0.0.1:8081") == 0);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("", &cfg, err, sizeof(err)) == 0, "%s", err);
	CHECK(cfg.edge_id && se_edge_id_valid(cfg.edge_id)); /* host name */
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = bad id\n", &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "edge-id") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nsip-listen = tls:127.0.0.1:5061\n", &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "tls") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nsip-listen = tls:127.0.0.1:5061\ntls-cert = c.pem\ntls-key = "
		   "k.pem\n",
		   &cfg, err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(cfg.tls && cfg.listen[0].tp == CM_TP_TLS && !cfg.tls_verify_client);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nsip-listen = tls:127.0.0.1:5061\ntls-cert = c.pem\ntls-key = "
		   "k.pem\ntls-verify-client = true\n",
		   &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "tls-ca") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nmax-expires = 300\n", &cfg, err, sizeof(err)) == 0, "%s", err);
	CHECK(cfg.default_expires == 300);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nmin-expires = 600\nmax-expires = 300\n", &cfg, err, sizeof(err)) <
	      0);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nhttp-listen = 127.0.0.1:99999\n", &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "http-listen") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nredis-url = http://x\n", &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "redis-url") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	CHECK(load("edge-id = e\nlog-level = loud\n", &cfg, err, sizeof(err)) < 0);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);

	/* Event packages and registration notices. */
	CHECK(load("edge-id = e\n", &cfg, err, sizeof(err)) == 0, "%s", err);
	CHECK(cfg.n_pkg == 1 && strcmp(cfg.pkg[0].name, SE_DEFAULT_PACKAGE) == 0);
	CHECK(strcmp(cfg.pkg[0].media, "application/" SE_DEFAULT_PACKAGE) == 0);
	CHECK(strcmp(cfg.allow_events, SE_DEFAULT_PACKAGE) == 0);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	CHECK(load("edge-id = e\npackages = application-server-contact-me, x-voicemail\n"
		   "notice-urls = x-voicemail=https://app.example.com/n\n"
		   "gateway-url = http://gw.example.com:8080\n",
		   &cfg, err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(cfg.n_pkg == 2 && strcmp(cfg.pkg[1].name, "x-voicemail") == 0);
	CHECK(strcmp(cfg.pkg[1].notice_url, "https://app.example.com/n") == 0);
	CHECK(cfg.pkg[0].notice_url[0] == '\0');
	CHECK(strcmp(cfg.allow_events, "application-server-contact-me, x-voicemail") == 0, "%s",
	      cfg.allow_events);
	CHECK(se_config_package(&cfg, "x-voicemail", 11) == &cfg.pkg[1]);
	CHECK(se_config_package(&cfg, "x-voicemai", 10) == NULL);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	CHECK(load("edge-id = e\nnotice-urls = other=https://a\n", &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "notice-urls") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	CHECK(load("edge-id = e\nnotice-urls = application-server-contact-me=ftp://a\n", &cfg, err,
		   sizeof(err)) < 0);
	CHECK(strstr(err, "http") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	CHECK(load("edge-id = e\npackages = bad pkg\n", &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "packages") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	CHECK(load("edge-id = e\ngateway-url = gw:8080\n", &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "gateway-url") != NULL, "%s", err);
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	return check_done();
}
