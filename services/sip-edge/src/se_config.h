/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sip-edge settings: the one cm_opt table that drives --help, BECKON_* variables and
 * `--config FILE`, plus the checks that need more than a type and a range (edge id syntax,
 * listen specs, the ordering of the expiry bounds).
 */
#ifndef SE_CONFIG_H
#define SE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cm/config.h"
#include "cm/hostport.h"

#define SE_EDGE_ID_MAX 64
#define SE_PACKAGES_MAX 8 /* event packages one edge serves */
#define SE_PACKAGE_MAX 64 /* length of one package name */
#define SE_URL_MAX 512	  /* notice URL, gateway URL */
#define SE_DEFAULT_PACKAGE "application-server-contact-me"

/* One configured event package; its media type is application/<name>. */
struct se_package {
	char name[SE_PACKAGE_MAX + 1];
	char media[SE_PACKAGE_MAX + 13];
	char notice_url[SE_URL_MAX + 1]; /* "" when no registration notice is configured */
};

struct se_config {
	char *sip_listen;
	char *http_listen;
	char *redis_url;
	long redis_timeout_ms;	     /* reply timeout, then reconnect */
	char *redis_sentinels;	     /* "" or IP:PORT,... */
	char *redis_sentinel_master; /* name the sentinels know the master by */
	char *redis_sentinel_auth;   /* "" or [USER]:PASSWORD for the sentinels */
	long redis_wait_replicas;    /* WAIT for this many replicas after each script */
	char *edge_id;
	char *log_level;
	long min_expires;
	long max_expires;
	long default_expires;
	/* RFC 5626 Flow-Timer for outbound registrations (first hop), seconds */
	long flow_timer;
	char *packages;	   /* comma list of event packages */
	char *notice_urls; /* "<package>=<url>,..." */
	char *gateway_url; /* what app servers should call, named in registration notices */
	char *tls_cert;	   /* PEM chain of the tls: transports; "" when unset */
	char *tls_key;	   /* PEM private key of tls_cert */
	char *tls_ca;	   /* PEM CAs for client certificates; "" when unset */
	bool tls_verify_client;
	long udp_rcvbuf; /* SO_RCVBUF of the UDP SIP sockets, bytes */
	long udp_sndbuf; /* SO_SNDBUF of the UDP SIP sockets, bytes */
	/* SIGTERM: seconds to finish NOTIFYs and hand work back */
	long drain_timeout;
	/* digest authentication of REGISTER and SUBSCRIBE (se_auth.c) */
	bool auth;
	char *realm;	      /* digest realm; credentials are beckon:cred:<realm>:<user> */
	bool auth_sha256;     /* also challenge with SHA-256 (RFC 7616), listed first */
	long auth_nonce_ttl;  /* seconds a nonce stays fresh */
	long auth_fail_max;   /* failures from one source address that block it */
	long auth_block_time; /* seconds a block (and a failure count) lasts */
	/* derived by se_config_check */
	struct cm_listen listen[CM_LISTEN_MAX];
	size_t n_listen;
	bool tls; /* some listen spec is tls: */
	int log_level_num;
	struct se_package pkg[SE_PACKAGES_MAX];
	size_t n_pkg;
	char allow_events[SE_PACKAGES_MAX * (SE_PACKAGE_MAX + 2)]; /* "a, b" */
};

/* The configured package named name[0..len), or NULL. */
const struct se_package *se_config_package(const struct se_config *cfg, const char *name,
					   size_t len);

/* True if s is an RFC 6665 event-type token (the alphabet of package names). */
bool se_package_name_valid(const char *s, size_t len);

extern const struct cm_opt se_config_opts[];
extern const size_t se_config_n_opts;

/* True if s is a valid edge id: [A-Za-z0-9._-]{1,64}. */
bool se_edge_id_valid(const char *s);

/*
 * Validates cfg after cm_config_load and fills the derived fields. A missing edge-id is
 * replaced by the host name (heap copy, freed by cm_config_free). Returns 0 or -EINVAL with
 * a message naming the setting in err.
 */
int se_config_check(struct se_config *cfg, char *err, size_t errlen);

#endif
