/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS material for sofia-sip's tport. sofia 1.12.11 takes one directory (TPTAG_CERTIFICATE)
 * holding agent.pem (private key + certificate chain) and cafile.pem (the CAs it verifies
 * peers against); operators have separate files. sip-edge and contact-agent assemble that
 * directory in a private temporary directory at start-up and remove it once the TLS
 * transports have read it (sofia reads the files only while creating the transport).
 */
#ifndef CM_TLSDIR_H
#define CM_TLSDIR_H

#include <stddef.h>

#define CM_TLSDIR_FILE_MAX (1024 * 1024) /* bytes read from one PEM file */
#define CM_TLSDIR_MAX 256

/*
 * Creates a private directory (mode 0700, under $TMPDIR or /tmp) holding cafile.pem = ca
 * (empty when ca is NULL or "") and, when cert and key are both set, agent.pem = key + cert.
 * Writes the path into dir. All paths are borrowed. Returns 0, or a negative errno with a
 * message naming the file in err; on failure nothing is left on disk.
 */
int cm_tlsdir_create(const char *cert, const char *key, const char *ca, char *dir, size_t dirsize,
		     char *err, size_t errlen);

/* Removes what cm_tlsdir_create made. dir may be "" (nothing done). */
void cm_tlsdir_remove(const char *dir);

#endif
