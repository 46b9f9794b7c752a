/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS material for sofia-sip's tport. sofia 1.12.11 takes one directory (TPTAG_CERTIFICATE)
 * holding agent.pem (private key + certificate chain) and cafile.pem (the CAs it verifies
 * peers against); operators have separate files. se_tls assembles that directory in a private
 * temporary directory at start-up and removes it once the TLS transports have read it.
 */
#ifndef SE_TLS_H
#define SE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#define SE_TLS_FILE_MAX (1024 * 1024) /* bytes read from one PEM file */
#define SE_TLS_DIR_MAX 256

/*
 * Creates a private directory (mode 0700, under $TMPDIR or /tmp) holding agent.pem = key +
 * cert and cafile.pem = ca (or cert when ca is NULL or empty: sofia refuses to start without a
 * CA file). Writes the path into dir. All paths are borrowed. Returns 0, or a negative errno
 * with a message naming the file in err; on failure nothing is left on disk.
 */
int se_tls_dir_create(const char *cert, const char *key, const char *ca, char *dir, size_t dirsize,
		      char *err, size_t errlen);

/* Removes what se_tls_dir_create made. dir may be "" (nothing done). */
void se_tls_dir_remove(const char *dir);

/* The TPTAG_TLS_VERIFY_POLICY value: outgoing connections always verified, incoming ones
 * (client certificates) when verify_client. */
unsigned se_tls_policy(bool verify_client);

#endif
