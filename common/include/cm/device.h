/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device ids and the Redis key names derived from them (proto/redis.md). A device is named
 * by its directory number (the AOR's user part), its full AOR URI, its +sip.instance URN,
 * or its MAC address (carried as +sip.instance="<urn:dev:mac:...>", RFC 9039). The same
 * normalisation runs when sip-edge indexes a binding and when api-gateway looks one up.
 */
#ifndef CM_DEVICE_H
#define CM_DEVICE_H

#include <stddef.h>

#define CM_KEY_PREFIX "beckon:"
#define CM_KEY_BINDING CM_KEY_PREFIX "binding:"	  /* + binding id: hash */
#define CM_KEY_DEVICE CM_KEY_PREFIX "dev:"	  /* + kind ":" + value: zset of binding ids */
#define CM_KEY_REQUEST CM_KEY_PREFIX "req:"	  /* + request id: hash */
#define CM_KEY_EDGE_CHANNEL CM_KEY_PREFIX "edge:" /* + edge id: pub/sub wake-up channel */

enum cm_device_kind { CM_DEV_NUM, CM_DEV_AOR, CM_DEV_INST, CM_DEV_MAC };

#define CM_DEVICE_MAX 256

struct cm_device {
	enum cm_device_kind kind;
	char value[CM_DEVICE_MAX + 1]; /* normalised, NUL-terminated */
};

/*
 * Classifies and normalises a device id given by an API client:
 *   "sip:..." / "sips:..."            -> AOR (scheme and host lower-cased, params dropped)
 *   "urn:dev:mac:<hex>", or a MAC in any of 00:11:22:aa:bb:cc, 00-11-..., 0011.22aa.bbcc,
 *   001122aabbcc (12 hex digits)      -> MAC (12 lower-case hex digits)
 *   "urn:..."                         -> instance id (as given; "urn:" lower-cased)
 *   anything else                     -> number (user part, as given)
 * Returns 0 or -EINVAL with a static reason in *why.
 */
int cm_device_parse(const char *s, size_t len, struct cm_device *out, const char **why);

/* Normalises an AOR URI "sip:user@host[:port][;params]" into out. Returns 0 or -EINVAL. */
int cm_aor_normalize(const char *s, size_t len, char *out, size_t size);

const char *cm_device_kind_name(enum cm_device_kind kind);

/* Writes "beckon:dev:<kind>:<value>". Returns the length or -ENOSPC. */
int cm_device_key(const struct cm_device *d, char *buf, size_t size);

#endif
