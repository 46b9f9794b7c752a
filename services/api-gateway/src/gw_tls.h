/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTPS material of api-gateway: reads the PEM files named by tls-cert, tls-key and
 * tls-client-ca into memory for cm_http (libmicrohttpd takes PEM text, not file names). Read
 * once at start: rotating a certificate means restarting the gateway (docs/operations.md).
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>

#include "gw_config.h"

#define GW_TLS_FILE_MAX (1024 * 1024) /* a PEM file larger than this is refused */

struct gw_tls {
	char *cert, *key, *client_ca; /* NUL-terminated PEM text, or NULL */
};

/* Loads the files cfg names (none when insecure-http). Returns 0 or a negative errno with a
 * message naming the setting in err. On failure out holds nothing to free. */
int gw_tls_load(const struct gw_config *cfg, struct gw_tls *out, char *err, size_t errlen);

/* Frees the PEM text (wiping the key first). Safe on a zeroed struct. */
void gw_tls_free(struct gw_tls *t);

#endif
