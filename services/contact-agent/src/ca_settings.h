/* SPDX-License-Identifier: Apache-2.0 */
/*
 * contact-agent's settings: one cm_opt table (name, type, default, bounds, help) that drives
 * --help, --config files, BECKON_* variables and flags, plus the checks cm_config cannot do
 * by itself (URI shapes, the instance id).
 */
#ifndef CA_SETTINGS_H
#define CA_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "cm/config.h"

struct ca_settings {
	char *registrar;       /* sip: or sips: URI, may carry ;transport=tcp or tls */
	char *aor;	       /* sip:user@domain, To and From of the REGISTER */
	char *instance_id;     /* urn:..., the Contact's +sip.instance; NULL when unset */
	char *sip_listen;      /* udp:host:port or tcp:host:port */
	char *trusted_servers; /* comma list of host:port; empty trusts nothing */
	char *default_server;  /* host:port used when a NOTIFY names no server; NULL: skip */
	char *log_level;
	char *hello_url;	/* http(s) URL the hello is POSTed to; NULL: no hello */
	char *packages;		/* comma list of event package names */
	bool subscribe;		/* SUBSCRIBE to each package after registering */
	bool register_accept;	/* REGISTER lists application/<package> in Accept */
	long expires;		/* requested registration lifetime, s */
	long callback_timeout;	/* per HTTP attempt, s */
	long keepalive;		/* NAT keepalive interval, s; 0 disables */
	long register_retry;	/* delay before re-REGISTER after a failure, s */
	long max_callbacks;	/* callbacks in flight before new ones are refused */
	long subscribe_expires; /* requested subscription lifetime, s */
	long max_scheduled;	/* callbacks waiting for their time-slot */
	long clock_skew;	/* tolerance on a NOTIFY's valid-until, s (ca_valid.h) */
	char *tls_ca;		/* PEM CAs for the TLS registrar's certificate */
	char *tls_cert;		/* PEM client certificate; "" when unset */
	char *tls_key;		/* PEM key of tls_cert */
	bool protect;		/* 403 for untrusted servers and non-https; https-only callbacks */
	char *callback_ca;	/* PEM CAs for https callbacks; "": the system store */
	long sip_timeout;	/* timer F (64*T1), s */
	char *auth_user;	/* digest user name; "": the AOR's user (ca_auth.h) */
	char *password;		/* digest password for REGISTER/SUBSCRIBE challenges; "": none */
	char *ha1;		/* MD5 HA1 verifying NOTIFYs under notify-auth; "": from password */
	char *realm;		/* realm of our NOTIFY challenges */
	bool notify_auth;	/* challenge every contact-me NOTIFY (401) and verify the retry */

	/* second registrar, same transport as registrar; NULL when unset */
	char *backup_registrar;
	/* HOST:PORT or :PORT of the HTTP server (/healthz, /readyz, /metrics); "": none */
	char *http_listen;
};

extern const struct cm_opt ca_settings_opts[];
extern const size_t ca_settings_n;

/*
 * Checks what the table cannot: registrar and aor are sip: URIs, instance-id is a URN that
 * can sit inside +sip.instance="<...>", hello-url is an http(s) URL, packages parses
 * (ca_packages_parse), and subscribe or register-accept is on (else the agent could never
 * receive a request). Returns 0 or -EINVAL with the reason in err.
 */
int ca_settings_check(const struct ca_settings *s, char *err, size_t errlen);

/* Checks backup-registrar (called by ca_settings_check; registrar already checked): a sip:
 * or sips: URI with the registrar's transport. Returns 0 or -EINVAL with the reason in err. */
int ca_settings_check_backup(const char *registrar, const char *backup, char *err, size_t errlen);

/* cm_opt check of http-listen: empty, IP:PORT, [IPv6]:PORT or :PORT. */
int ca_settings_check_http_listen(const char *v, const char **why);

/* Returns "udp", "tcp" or "tls": the ;transport= parameter of a sip: or sips: URI (udp when
 * absent, tls for sips:), or NULL for any other value. */
const char *ca_settings_uri_transport(const char *uri);

#endif
