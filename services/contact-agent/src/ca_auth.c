/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest authentication of contact-agent (ca_auth.h): answering the registrar's challenges
 * through nua, and challenging NOTIFYs. The NOTIFY side uses MD5 only: it is what the
 * operator provisions as `ha1` and what every SIP server can compute; sip-edge answers with
 * the HA1 it holds for this realm and user (beckon:cred:<realm>:<user>). Authorization is
 * parsed by sofia (auth_digest_response_get), the hashes come from OpenSSL.
 */
#include "ca_auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>
#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>

#include "cm/digest.h"
#include "cm/str.h"

int ca_auth_md5(const char *const *parts, size_t n, char out[33])
{
	return cm_digest_hex(CM_DIGEST_MD5, parts, n, ':', out, 32) < 0 ? -EIO : 0;
}

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* A name that fits the credential string and a quoted challenge. */
int ca_auth_init(struct ca_auth *a, const struct ca_settings *set, const char *aor_user, char *err,
		 size_t errlen)
{
	const char *user = set->auth_user && *set->auth_user ? set->auth_user : aor_user;

	memset(a, 0, sizeof(*a));
	a->set = set;
	if (!cm_digest_name_ok(user)) {
		cm_snprintf(err, errlen, "auth-user: not a usable user name");
		return -EINVAL;
	}
	cm_snprintf(a->user, sizeof(a->user), "%s", user);
	if (!set->notify_auth)
		return 0;
	if (!cm_digest_name_ok(set->realm)) {
		cm_snprintf(err, errlen, "realm: not a usable realm");
		return -EINVAL;
	}
	if (set->ha1 && *set->ha1) {
		if (!is_hex(set->ha1, 32)) {
			cm_snprintf(err, errlen, "ha1: expected 32 hex digits (MD5)");
			return -EINVAL;
		}
		for (int i = 0; i < 32; i++)
			a->ha1[i] =
			    (char)(set->ha1[i] >= 'A' && set->ha1[i] <= 'F' ? set->ha1[i] + 32
									    : set->ha1[i]);
		a->ha1[32] = '\0';
		return 0;
	}
	if (!set->password || !*set->password) {
		cm_snprintf(err, errlen, "notify-auth needs ha1 or password");
		return -EINVAL;
	}
	{
		const char *p[] = {a->user, set->realm, set->password};
		if (ca_auth_md5(p, 3, a->ha1) < 0) {
			cm_snprintf(err, errlen, "notify-auth: cannot compute HA1");
			return -EIO;
		}
	}
	return 0;
}

static unsigned *rounds_of(struct ca_auth *a, const void *nh)
{
	for (int i = 0; i < CA_AUTH_HANDLES; i++) {
		if (a->tries[i].nh == nh)
			return &a->tries[i].rounds;
	}
	for (int i = 0; i < CA_AUTH_HANDLES; i++) {
		if (!a->tries[i].nh) {
			a->tries[i].nh = nh;
			a->tries[i].rounds = 0;
			return &a->tries[i].rounds;
		}
	}
	return NULL;
}

void ca_auth_done(struct ca_auth *a, nua_handle_t *nh)
{
	for (int i = 0; i < CA_AUTH_HANDLES; i++) {
		if (a->tries[i].nh == nh) {
			a->tries[i].nh = NULL;
			a->tries[i].rounds = 0;
		}
	}
}

bool ca_auth_answer(struct ca_auth *a, nua_handle_t *nh, int status, sip_t const *sip)
{
	const msg_auth_t *ch =
	    status == 407 ? sip->sip_proxy_authenticate : sip->sip_www_authenticate;
	const char *realm = NULL, *stale = NULL;
	unsigned *rounds;
	char cred[512];

	if (!a->set->password || !*a->set->password || !sip)
		return false;
	for (; ch && !realm; ch = ch->au_next) {
		if (ch->au_scheme && strcasecmp(ch->au_scheme, "Digest") == 0) {
			realm = msg_params_find(ch->au_params, "realm=");
			stale = msg_params_find(ch->au_params, "stale=");
		}
	}
	rounds = rounds_of(a, nh);
	/* A challenge after our answer means a wrong password, unless the nonce only went
	 * stale in between (then once more). */
	if (!realm || !rounds || *rounds >= 3 ||
	    (*rounds > 0 && !(stale && strcasecmp(stale, "true") == 0)))
		return false;
	(*rounds)++;
	/* nua wants "scheme:realm:user:password" with the realm as it appears (quoted). */
	if (cm_snprintf(cred, sizeof(cred), "Digest:%s:%s:%s", realm, a->user, a->set->password) <
	    0)
		return false;
	nua_authenticate(nh, NUTAG_AUTH(cred), TAG_END());
	return true;
}

static void new_challenge(struct ca_auth *a, int64_t now_s, char *chal, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];
	int slot = 0;

	for (int i = 0; i < CA_AUTH_NONCES; i++) {
		if (a->nonces[i].issued_s < a->nonces[slot].issued_s)
			slot = i; /* a free (0) or the oldest one */
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		chal[0] = '\0';
		return;
	}
	for (int i = 0; i < 16; i++) {
		a->nonces[slot].nonce[2 * i] = hex[rnd[i] >> 4];
		a->nonces[slot].nonce[2 * i + 1] = hex[rnd[i] & 15];
	}
	a->nonces[slot].nonce[32] = '\0';
	a->nonces[slot].issued_s = now_s;
	cm_snprintf(chal, size, "Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"",
		    a->set->realm, a->nonces[slot].nonce);
}

int ca_auth_check_notify(struct ca_auth *a, sip_t const *sip, int64_t now_s, char *chal,
			 size_t size, const char **why)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	const sip_authorization_t *au = sip->sip_authorization;
	auth_response_t ar = {.ar_size = sizeof(ar)};
	char ha2[33], want[33];
	int slot = -1;

	*why = "no credentials";
	for (; au; au = au->au_next) {
		if (au->au_scheme && strcasecmp(au->au_scheme, "Digest") == 0)
			break;
	}
	if (!au)
		goto challenge;
	*why = "bad credentials";
	if (auth_digest_response_get(home, &ar, au->au_params) < 0 || !ar.ar_username ||
	    !ar.ar_realm || !ar.ar_nonce || !ar.ar_uri || !ar.ar_response || !ar.ar_nc ||
	    !ar.ar_cnonce || !ar.ar_qop || strcasecmp(ar.ar_qop, "auth") != 0 ||
	    (ar.ar_algorithm && strcasecmp(ar.ar_algorithm, "MD5") != 0) ||
	    strcmp(ar.ar_username, a->user) != 0 || strcmp(ar.ar_realm, a->set->realm) != 0)
		goto challenge;
	for (int i = 0; i < CA_AUTH_NONCES; i++) {
		if (a->nonces[i].issued_s && strcmp(a->nonces[i].nonce, ar.ar_nonce) == 0)
			slot = i;
	}
	if (slot < 0 || now_s - a->nonces[slot].issued_s > CA_AUTH_NONCE_TTL_S) {
		*why = "stale nonce";
		goto challenge;
	}
	{
		const char *p2[] = {sip->sip_request->rq_method_name, ar.ar_uri};
		const char *p[] = {a->ha1, ar.ar_nonce, ar.ar_nc, ar.ar_cnonce, "auth", ha2};
		if (ca_auth_md5(p2, 2, ha2) < 0 || ca_auth_md5(p, 6, want) < 0 ||
		    strcasecmp(want, ar.ar_response) != 0)
			goto challenge;
	}
	/* Single use: a replayed NOTIFY is challenged again. */
	a->nonces[slot].issued_s = 0;
	su_home_deinit(home);
	return 0;
challenge:
	su_home_deinit(home);
	new_challenge(a, now_s, chal, size);
	return -EACCES;
}
