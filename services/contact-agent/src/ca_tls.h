/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS material for contact-agent's SIP connection to sip-edge. sofia-sip 1.12.11 takes one
 * directory (TPTAG_CERTIFICATE) holding cafile.pem (the CAs the registrar's certificate must
 * chain to) and optionally agent.pem (client key + certificate, for an edge that verifies
 * clients). ca_tls assembles it in a private temporary directory at start-up and removes it
 * once the transport has read it. (The same assembly as sip-edge's se_tls; a candidate for
 * libcm.)
 */
#ifndef CA_TLS_H
#define CA_TLS_H

#include <stdbool.h>
#include <stddef.h>

#define CA_TLS_FILE_MAX (1024 * 1024) /* bytes read from one PEM file */
#define CA_TLS_DIR_MAX 256

/*
 * Creates a private directory (mode 0700, under $TMPDIR or /tmp) holding cafile.pem = ca and,
 * when cert and key are both set, agent.pem = key + cert. Writes the path into dir. All paths
 * are borrowed. Returns 0, or a negative errno with a message naming the file in err; on
 * failure nothing is left on disk.
 */
int ca_tls_dir_create(const char *cert, const char *key, const char *ca, char *dir, size_t dirsize,
		      char *err, size_t errlen);

/* Removes what ca_tls_dir_create made. dir may be "" (nothing done). */
void ca_tls_dir_remove(const char *dir);

/* The TPTAG_TLS_VERIFY_POLICY value: the registrar's certificate must chain to cafile.pem
 * and name the host the agent connected to (CN or DNS subjectAltName: sofia 1.12.11 compares
 * IP address subjectAltNames as raw bytes, so an IP literal must also be the CN). */
unsigned ca_tls_policy(void);

#endif
