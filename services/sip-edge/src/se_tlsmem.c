// SPDX-License-Identifier: Apache-2.0
/*
 * TLS flow memory and TLS policy that sofia-sip 1.12.11 (Debian 12) does not manage, fixed by
 * interposing on libssl's SSL_new; sofia exposes neither the SSL_CTX nor the SSL, so there is
 * no other hook. The executable defines SSL_new, the dynamic linker binds sofia's (versioned)
 * reference to this definition ahead of libssl's, and it forwards to libssl's.
 *
 * 1. Idle flows: tport_tls creates one SSL per connection and never sets
 *    SSL_MODE_RELEASE_BUFFERS, so every TLS flow kept a ~16.6 kB read and a ~16.6 kB write
 *    record buffer for its whole life: 48.7 kB RSS per idle flow at 10k flows, over issue 6's
 *    40 kB target. SSL_new here sets the mode: OpenSSL frees a buffer as soon as it is empty
 *    and allocates it again for the next record (nginx does this on every connection).
 *    Measured 46-49 → 30-32 kB per idle TLS flow (docs/performance.md, "Footprint").
 * 0. Policy: sofia's context allows TLS 1.0 and `ALL:!ADH:!LOW:!EXP:!MD5`, CBC and
 *    non-forward-secret suites included, and has no tag to change either. SSL_new here sets
 *    TLS 1.2 as the minimum and, for TLS 1.2, ECDHE/DHE with AES-GCM or ChaCha20-Poly1305 only
 *    (TLS 1.3 suites are all AEAD and forward-secret). If libssl refuses either, the connection
 *    gets no SSL (fails closed) rather than sofia's list.
 * 2. Closed flows: sofia's tls_free() never frees the SSL; common/src/cm_tlsfree.c (linked into
 *    this executable and contact-agent) interposes on SSL_shutdown for that.
 *
 * The file is compiled into the sip-edge executable only (not libse): the definition must be in
 * the executable to take precedence, and an archive member nobody references would not be
 * linked. The name is OpenSSL's, not se_tlsmem_*, because interposing needs it. The process is
 * single-threaded (the lazy lookup needs no lock).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <stddef.h>

/* TLS 1.2 suites allowed on SIP over TLS (issue 4: "TLS 1.2 minimum, modern ciphers"). */
#define SE_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL"

typedef SSL *ssl_new_fn(SSL_CTX *ctx);

/* libssl's definition of name (the next one after this executable), or NULL. */
static void *next_symbol(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Takes and returns what libssl's SSL_new does; NULL when libssl's cannot be found (never with
 * libssl linked in) or when it fails. Single-threaded process: the lazy lookup needs no lock. */
SSL *SSL_new(SSL_CTX *ctx)
{
	static ssl_new_fn *real;
	SSL *ssl;

	if (!real) {
		/* dlsym returns void *; the cast through a union keeps -Wpedantic quiet */
		union {
			void *p;
			ssl_new_fn *f;
		} u = {next_symbol("SSL_new")};

		real = u.f;
		if (!real)
			return NULL;
	}
	ssl = real(ctx);
	if (!ssl)
		return NULL;
	if (!SSL_set_min_proto_version(ssl, TLS1_2_VERSION) ||
	    !SSL_set_cipher_list(ssl, SE_TLS12_CIPHERS)) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	return ssl;
}
