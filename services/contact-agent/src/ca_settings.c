/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The settings table of contact-agent and the checks of URI-shaped values. The checks are
 * deliberately shallow (scheme, forbidden characters, the transport parameter): sofia-sip
 * parses the URIs for real, but its errors surface late and without naming the setting.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ca_packages.h"
#include "ca_settings.h"

#define S struct ca_settings

const struct cm_opt ca_settings_opts[] = {
    CM_OPT_STR_(S, registrar, "registrar", NULL, true,
		"registrar URI, e.g. sip:127.0.0.1:5060, sip:host:5060;transport=tcp or "
		"sips:host:5061 (TLS)"),
    CM_OPT_STR_(S, aor, "aor", NULL, true, "address of record, e.g. sip:7546658000@example.com"),
    CM_OPT_STR_(S, backup_registrar, "backup-registrar", NULL, false,
		"second registrar URI, same transport as registrar: a failed or timed-out "
		"REGISTER, or a failed OPTIONS probe (every keepalive s), switches to the other "
		"one (unset: registrar only, no probe)"),
    CM_OPT_STR_(S, instance_id, "instance-id", NULL, false,
		"device instance URN sent as +sip.instance (urn:uuid:... or urn:dev:mac:...)"),
    CM_OPT_CHECKED_(S, sip_listen, "sip-listen", "udp:127.0.0.1:0", false, cm_check_listen_list,
		    "local SIP address, udp:, tcp: or tls:HOST:PORT (port 0: any); the "
		    "registrar's transport wins"),
    CM_OPT_STR_(S, trusted_servers, "trusted-servers", "", false,
		"comma list of host:port the agent may call back; empty trusts nothing"),
    CM_OPT_STR_(
	S, default_server, "default-server", NULL, false,
	"host:port to call when a NOTIFY names no server (unset: such requests are skipped)"),
    CM_OPT_INT_(S, expires, "expires", "600", 30, 86400, "requested registration lifetime, s"),
    CM_OPT_INT_(S, callback_timeout, "callback-timeout", "10", 1, 300,
		"timeout of one HTTP callback attempt, s"),
    CM_OPT_INT_(S, keepalive, "keepalive", "30", 0, 3600,
		"NAT keepalive interval (OPTIONS over UDP, CRLF over TCP), s; 0 disables"),
    CM_OPT_INT_(S, register_retry, "register-retry", "30", 1, 3600,
		"delay before registering again after a failed REGISTER, s"),
    CM_OPT_INT_(S, max_callbacks, "max-callbacks", "16", 1, 1024,
		"callbacks in flight before further requests are refused"),
    CM_OPT_STR_(S, hello_url, "hello-url", NULL, false,
		"http(s) URL to POST the agent's hello to after registering (unset: no hello)"),
    CM_OPT_STR_(S, packages, "packages", "application-server-contact-me", false,
		"comma list of event packages: Accept entries, SUBSCRIBEs, accepted Event values"),
    CM_OPT_BOOL_(S, subscribe, "subscribe", "false",
		 "SUBSCRIBE to each package after registering (explicit subscription)"),
    CM_OPT_INT_(S, subscribe_expires, "subscribe-expires", "600", 60, 86400,
		"requested subscription lifetime, s (nua refreshes before it ends)"),
    CM_OPT_BOOL_(S, register_accept, "register-accept", "true",
		 "opt in by registration: list application/<package> in the REGISTER's Accept"),
    CM_OPT_INT_(S, max_scheduled, "max-scheduled", "64", 1, 4096,
		"callbacks waiting for their time-slot before further ones are refused"),
    CM_OPT_INT_(S, clock_skew, "clock-skew", "30", 0, 3600,
		"tolerance, s, on a NOTIFY's valid-until for a clock that is off: a request whose "
		"valid-until + clock-skew has passed is answered 200 but not called back"),
    CM_OPT_STR_(
	S, tls_ca, "tls-ca", "/etc/ssl/certs/ca-certificates.crt", false,
	"PEM CA certificates the TLS registrar's certificate must chain to (always verified)"),
    CM_OPT_STR_(S, tls_cert, "tls-cert", "", false,
		"PEM client certificate for a registrar that verifies clients (with tls-key)"),
    CM_OPT_STR_(S, tls_key, "tls-key", "", false, "PEM private key of tls-cert (unencrypted)"),
    CM_OPT_BOOL_(S, protect, "protect", "false",
		 "refuse (403) a NOTIFY naming an untrusted server or a non-https callback; "
		 "call back over https only"),
    CM_OPT_INT_(S, sip_timeout, "sip-timeout", "32", 2, 64,
		"seconds a SIP request waits for its final answer (RFC 3261 timer F); a TLS "
		"handshake refused by certificate checks only shows as this timeout"),
    CM_OPT_STR_(S, callback_ca, "callback-ca", "", false,
		"PEM CA certificates for https callbacks; empty: the system store"),
    CM_OPT_STR_(S, auth_user, "auth-user", "", false,
		"digest user name for the registrar and for notify-auth; empty: the AOR's user"),
    CM_OPT_STR_(S, password, "password", "", false,
		"digest password, answers the registrar's 401/407 to REGISTER and SUBSCRIBE"),
    CM_OPT_STR_(S, ha1, "ha1", "", false,
		"MD5 HA1 (hex of MD5(user:realm:password)) that notify-auth verifies against; "
		"empty: computed from password"),
    CM_OPT_STR_(
	S, realm, "realm", "beckon", false,
	"realm of the NOTIFY challenges (sip-edge answers with beckon:cred:<realm>:<user>)"),
    CM_OPT_BOOL_(S, notify_auth, "notify-auth", "false",
		 "challenge every contact-me NOTIFY with 401 and act only on a retry whose digest "
		 "verifies (the SIP server proves it holds the device's credentials)"),
    CM_OPT_CHECKED_(S, http_listen, "http-listen", "", false, ca_settings_check_http_listen,
		    "HTTP server for /healthz, /readyz (200 while registered) and /metrics: "
		    "IP:PORT, or :PORT for every IPv4 address (port 0: any); empty: none"),
    CM_OPT_CHECKED_(S, log_level, "log-level", "info", false, cm_check_log_level,
		    "error, warn, info or debug"),
};

const size_t ca_settings_n = sizeof(ca_settings_opts) / sizeof(ca_settings_opts[0]);

#undef S

/* Characters that would break the URI out of its header or the feature tag out of its quotes. */
static bool has_bad_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '"' || *s == '<' ||
		    *s == '>' || *s == ',')
			return true;
	return false;
}

static bool has_ctl_or_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	return false;
}

const char *ca_settings_uri_transport(const char *uri)
{
	const char *p = uri;
	const char *q = strchr(uri, '?');

	while ((p = strchr(p, ';')) != NULL && (!q || p < q)) {
		p++;
		if (strncasecmp(p, "transport=", 10) == 0) {
			const char *v = p + 10;
			size_t len = strcspn(v, ";?");

			if (len == 3 && strncasecmp(v, "udp", 3) == 0)
				return "udp";
			if (len == 3 && strncasecmp(v, "tcp", 3) == 0)
				return "tcp";
			if (len == 3 && strncasecmp(v, "tls", 3) == 0)
				return "tls";
			return NULL;
		}
	}
	return strncasecmp(uri, "sips:", 5) == 0 ? "tls" : "udp";
}

int ca_settings_check_http_listen(const char *v, const char **why)
{
	char buf[80];

	if (!v || !*v)
		return 0;
	if (v[0] != ':')
		return cm_check_ip_port(v, why);
	if ((size_t)snprintf(buf, sizeof(buf), "0.0.0.0%s", v) >= sizeof(buf)) {
		*why = "must be IP:PORT, [IPv6]:PORT or :PORT, port 0..65535";
		return -EINVAL;
	}
	return cm_check_ip_port(buf, why);
}

int ca_settings_check_backup(const char *registrar, const char *backup, char *err, size_t errlen)
{
	size_t scheme = strncasecmp(backup, "sips:", 5) == 0 ? 5 : 4;
	const char *t = ca_settings_uri_transport(backup);

	if ((scheme == 4 && strncasecmp(backup, "sip:", 4) != 0) || strlen(backup) <= scheme ||
	    has_bad_char(backup)) {
		snprintf(err, errlen, "backup-registrar: expected a sip: or sips: URI, got '%s'",
			 backup);
		return -EINVAL;
	}
	/* One nua stack binds one transport (the registrar's), so both must use it. */
	if (!t || strcmp(t, ca_settings_uri_transport(registrar)) != 0) {
		snprintf(err, errlen, "backup-registrar: transport must be the registrar's (%s)",
			 ca_settings_uri_transport(registrar));
		return -EINVAL;
	}
	return 0;
}

int ca_settings_check(const struct ca_settings *s, char *err, size_t errlen)
{
	size_t scheme = strncasecmp(s->registrar, "sips:", 5) == 0 ? 5 : 4;

	if ((scheme == 4 && strncasecmp(s->registrar, "sip:", 4) != 0) ||
	    strlen(s->registrar) <= scheme || has_bad_char(s->registrar)) {
		snprintf(err, errlen, "registrar: expected a sip: or sips: URI, got '%s'",
			 s->registrar);
		return -EINVAL;
	}
	if (!ca_settings_uri_transport(s->registrar) ||
	    (strncasecmp(s->registrar, "sips:", 5) == 0 &&
	     strcmp(ca_settings_uri_transport(s->registrar), "tls") != 0)) {
		snprintf(err, errlen,
			 "registrar: transport must be udp, tcp or tls (sips: only tls)");
		return -EINVAL;
	}
	if (strcmp(ca_settings_uri_transport(s->registrar), "tls") == 0 &&
	    (!s->tls_ca || !*s->tls_ca)) {
		snprintf(err, errlen, "tls-ca: a TLS registrar needs CA certificates to verify it");
		return -EINVAL;
	}
	if (s->backup_registrar && *s->backup_registrar &&
	    ca_settings_check_backup(s->registrar, s->backup_registrar, err, errlen) < 0)
		return -EINVAL;
	if ((s->tls_cert && *s->tls_cert) != (s->tls_key && *s->tls_key)) {
		snprintf(err, errlen, "tls-cert and tls-key go together");
		return -EINVAL;
	}
	if ((strncasecmp(s->aor, "sip:", 4) != 0 && strncasecmp(s->aor, "sips:", 5) != 0) ||
	    !strchr(s->aor, '@') || has_bad_char(s->aor)) {
		snprintf(err, errlen, "aor: expected sip:user@domain, got '%s'", s->aor);
		return -EINVAL;
	}
	if (s->instance_id && *s->instance_id &&
	    (strncasecmp(s->instance_id, "urn:", 4) != 0 || strlen(s->instance_id) < 6 ||
	     strlen(s->instance_id) > 256 || has_bad_char(s->instance_id))) {
		snprintf(err, errlen, "instance-id: expected a URN such as urn:uuid:..., got '%s'",
			 s->instance_id);
		return -EINVAL;
	}
	if (s->hello_url && *s->hello_url &&
	    ((strncasecmp(s->hello_url, "http://", 7) != 0 &&
	      strncasecmp(s->hello_url, "https://", 8) != 0) ||
	     strlen(s->hello_url) > 2048 || has_ctl_or_space(s->hello_url))) {
		snprintf(err, errlen, "hello-url: expected an http:// or https:// URL, got '%s'",
			 s->hello_url);
		return -EINVAL;
	}
	if (s->packages) {
		struct ca_packages pk;

		if (ca_packages_parse(s->packages, &pk, err, errlen) < 0)
			return -EINVAL;
	}
	if (!s->subscribe && !s->register_accept) {
		snprintf(err, errlen,
			 "register-accept: false needs subscribe = true (no way to opt in left)");
		return -EINVAL;
	}
	return 0;
}
