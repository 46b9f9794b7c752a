/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of contact-agent's settings table and the URI checks. */
#include <stdio.h>
#include <string.h>

#include "ca_settings.h"

#include "../../../common/tests/check.h"

static int load(const char *text, struct ca_settings *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	return cm_config_load_text(ca_settings_opts, ca_settings_n, s, text, strlen(text), err,
				   errlen);
}

int main(void)
{
	struct ca_settings s;
	char err[256];

	CHECK(load("registrar = sip:127.0.0.1:5060\naor = sip:7546658000@example.com\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(s.expires == 600 && s.callback_timeout == 10);
	CHECK(strcmp(s.sip_listen, "udp:127.0.0.1:0") == 0);
	CHECK(s.instance_id == NULL);
	CHECK(ca_settings_check(&s, err, sizeof(err)) == 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	/* load_text does not check required settings (cm_config_load does): aor stays unset. */
	CHECK(load("registrar = sip:127.0.0.1:5060\n", &s, err, sizeof(err)) == 0);
	CHECK(s.aor == NULL);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = http://x\naor = sip:1@example.com\n", &s, err, sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "registrar"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h;transport=sctp\naor = sip:1@example.com\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\ninstance-id = uuid:1\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "instance-id"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\n"
		   "instance-id = urn:dev:mac:001122aabbcc\n",
		   &s, err, sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) == 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nexpires = 5\n", &s, err,
		   sizeof(err)) < 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	/* backup-registrar: unset by default; a sip: URI with the registrar's transport. */
	CHECK(load("registrar = sip:h\naor = sip:1@example.com\n", &s, err, sizeof(err)) == 0);
	CHECK(s.backup_registrar == NULL && ca_settings_check(&s, err, sizeof(err)) == 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);
	CHECK(load("registrar = sip:h:5060;transport=tcp\naor = sip:1@example.com\n"
		   "backup-registrar = sip:h2:5062;transport=tcp\n",
		   &s, err, sizeof(err)) == 0);
	CHECK(strcmp(s.backup_registrar, "sip:h2:5062;transport=tcp") == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) == 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);
	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nbackup-registrar = sip:h2\n", &s,
		   err, sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) == 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);
	CHECK(load("registrar = sip:h\naor = sip:1@example.com\n"
		   "backup-registrar = sip:h2;transport=tcp\n",
		   &s, err, sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "backup-registrar") &&
	      strstr(err, "udp"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);
	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nbackup-registrar = http://h2\n", &s,
		   err, sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "backup-registrar"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);
	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nbackup-registrar = sip:\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "backup-registrar"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);
	CHECK(load("registrar = sips:h\naor = sip:1@example.com\nbackup-registrar = sip:h2\n", &s,
		   err, sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "tls"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	/* Issue 3 settings: defaults, then each check. */
	CHECK(load("registrar = sip:h\naor = sip:1@example.com\n", &s, err, sizeof(err)) == 0);
	CHECK(!s.subscribe && s.register_accept && s.subscribe_expires == 600);
	CHECK(s.hello_url == NULL && s.max_scheduled == 64);
	CHECK(strcmp(s.packages, "application-server-contact-me") == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) == 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nsubscribe = true\n"
		   "register-accept = false\nhello-url = https://app.example.com/hello?x=1\n"
		   "packages = a, b\nsubscribe-expires = 120\n",
		   &s, err, sizeof(err)) == 0);
	CHECK(s.subscribe && !s.register_accept && s.subscribe_expires == 120);
	CHECK(ca_settings_check(&s, err, sizeof(err)) == 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nregister-accept = false\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "register-accept"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nhello-url = ftp://x/\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "hello-url"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\npackages = a b\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "packages"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h\naor = sip:1@example.com\nsubscribe-expires = 10\n", &s, err,
		   sizeof(err)) < 0);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(strcmp(ca_settings_uri_transport("sip:127.0.0.1:5060"), "udp") == 0);
	CHECK(strcmp(ca_settings_uri_transport("sip:127.0.0.1:5060;transport=tcp"), "tcp") == 0);
	CHECK(strcmp(ca_settings_uri_transport("sip:h;lr;Transport=TCP"), "tcp") == 0);
	CHECK(strcmp(ca_settings_uri_transport("sip:h;transport=tls"), "tls") == 0);
	CHECK(strcmp(ca_settings_uri_transport("sips:h:5061"), "tls") == 0);
	CHECK(ca_settings_uri_transport("sip:h;transport=sctp") == NULL);

	/* TLS registrar: verified against tls-ca (the system store by default). */
	CHECK(load("registrar = sips:127.0.0.1:5061\naor = sip:1@example.com\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(strcmp(s.tls_ca, "/etc/ssl/certs/ca-certificates.crt") == 0 && !s.protect);
	CHECK(ca_settings_check(&s, err, sizeof(err)) == 0, "%s", err);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sips:h;transport=tcp\naor = sip:1@example.com\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "registrar"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sip:h;transport=tls\naor = sip:1@example.com\ntls-ca =\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "tls-ca"), "%s", err);
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	CHECK(load("registrar = sips:h\naor = sip:1@example.com\ntls-cert = c.pem\n", &s, err,
		   sizeof(err)) == 0);
	CHECK(ca_settings_check(&s, err, sizeof(err)) < 0 && strstr(err, "tls-key"));
	cm_config_free(ca_settings_opts, ca_settings_n, &s);

	return check_done();
}
