/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest authentication on the endpoint side, both ways. Outgoing: a 401/407 to the REGISTER
 * or a SUBSCRIBE is answered with nua_authenticate (auth-user / password), again only for a
 * stale nonce, so a wrong password cannot loop. Incoming (notify-auth): every contact-me
 * NOTIFY is challenged with 401 (MD5, qop=auth, a single-use nonce of our own) and only a
 * retry whose Authorization verifies against the HA1 (the `ha1` setting, or computed from
 * auth-user, realm and password) is processed, which proves the sender holds the device's
 * credentials: the SIP server authenticates itself to the endpoint.
 *
 * Ownership: struct ca_auth is embedded in struct ca_agent; no allocation, no callbacks.
 */
#ifndef CA_AUTH_H
#define CA_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include <sofia-sip/nua.h>
#include <sofia-sip/sip.h>

#include "ca_settings.h"

#define CA_AUTH_NONCES 32      /* outstanding NOTIFY challenges */
#define CA_AUTH_NONCE_TTL_S 32 /* a challenge's lifetime (the NOTIFY's timer F) */
#define CA_AUTH_HANDLES 16     /* handles whose challenge rounds are counted */

struct ca_auth {
	char user[129];
	char ha1[33]; /* MD5 HA1 for verifying NOTIFYs; "" when notify-auth is off */
	const struct ca_settings *set;
	struct {
		char nonce[33];
		int64_t issued_s; /* 0: free */
	} nonces[CA_AUTH_NONCES];
	struct {
		const void *nh;
		unsigned rounds;
	} tries[CA_AUTH_HANDLES];
};

/* Fills a from set (borrowed; must outlive a); aor_user is the AOR's user, the default
 * auth-user. Returns 0 or -EINVAL with the reason in err (notify-auth without ha1 or
 * password, a malformed ha1). */
int ca_auth_init(struct ca_auth *a, const struct ca_settings *set, const char *aor_user, char *err,
		 size_t errlen);

/*
 * For a 401/407 answer to a request of nh: calls nua_authenticate with the configured
 * password for the challenge's realm and returns true, or returns false when there is no
 * password, no usable challenge, or nh was challenged again after an answer without
 * stale=true (a wrong password: the caller then treats the answer as a failure). Call from
 * nua's callback.
 */
bool ca_auth_answer(struct ca_auth *a, nua_handle_t *nh, int status, sip_t const *sip);

/* A final answer other than 401/407 to a request of nh ends its challenge round. */
void ca_auth_done(struct ca_auth *a, nua_handle_t *nh);

/*
 * notify-auth: checks the Authorization of a NOTIFY. Returns 0 when it verifies (its nonce
 * is then used up); otherwise writes the WWW-Authenticate value of a fresh challenge into
 * chal (size bytes), sets *why ("no credentials", "bad credentials", "stale nonce") and
 * returns -EACCES.
 */
int ca_auth_check_notify(struct ca_auth *a, sip_t const *sip, int64_t now_s, char *chal,
			 size_t size, const char **why);

/* MD5 hex of parts joined by ':' into out (33 bytes). Returns 0 or -EIO. For tests. */
int ca_auth_md5(const char *const *parts, size_t n, char out[33]);

#endif
