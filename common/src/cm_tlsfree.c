// SPDX-License-Identifier: Apache-2.0
/*
 * Frees the SSL of every TLS connection sofia-sip 1.12.11 (Debian 12) closes, on both sides:
 * sofia's tls_free() calls SSL_shutdown(), SSL_CTX_free() and BIO_free() on the socket BIO but
 * never SSL_free(), so every closed TLS connection leaked its SSL (~37 kB RSS each in sip-edge
 * at 10k flows; contact-agent leaked one per reconnect). sofia exposes neither the SSL_CTX nor
 * the SSL, so the only hook is interposing on libssl: the executable defines SSL_shutdown, the
 * dynamic linker binds sofia's (versioned) reference to this definition ahead of libssl's, and
 * it forwards to libssl's.
 *
 * When called from tls_free, and only then (found with dladdr on the return address), it frees
 * the SSL after the shutdown. tls_free then frees the SSL's context and its socket BIO itself
 * (which only balanced the references the leaked SSL held), so it takes one more reference on
 * both first. Any other caller (sofia's STUN code frees its SSL itself; libcurl in
 * contact-agent) gets plain SSL_shutdown.
 *
 * The file is compiled into the sip-edge and contact-agent executables, not into libcm: the
 * definition must be in the executable to take precedence, and an archive member nobody
 * references would not be linked. The name is OpenSSL's, not cm_*, because interposing needs
 * it. The processes are single-threaded (the lazy lookup needs no lock). Measured in
 * docs/performance.md ("Closed TLS flows leaked ~37 kB each").
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <string.h>

typedef int ssl_shutdown_fn(SSL *ssl);

/* Whether the code at return address ra belongs to sofia's tls_free(). */
static int called_from_tls_free(const void *ra)
{
	Dl_info info;

	return dladdr(ra, &info) && info.dli_sname && strcmp(info.dli_sname, "tls_free") == 0;
}

/* Takes and returns what libssl's SSL_shutdown does. Called from sofia's tls_free(), it also
 * frees ssl (see the top of the file): the caller must not use ssl afterwards, which tls_free
 * does not. Returns -1 when libssl's cannot be found (never with libssl linked in). */
int SSL_shutdown(SSL *ssl)
{
	static ssl_shutdown_fn *real;
	const void *ra = __builtin_return_address(0);
	SSL_CTX *ctx;
	BIO *bio;
	int ret;

	if (!real) {
		/* dlsym returns void *; the cast through a union keeps -Wpedantic quiet */
		union {
			void *p;
			ssl_shutdown_fn *f;
		} u = {dlsym(RTLD_NEXT, "SSL_shutdown")};

		real = u.f;
		if (!real)
			return -1;
	}
	ret = real(ssl);
	if (!ssl || !called_from_tls_free(ra))
		return ret;
	/* A failed shutdown (peer gone, handshake never done) leaves errors queued that would be
	 * reported against the next connection. */
	ERR_clear_error();
	/* tls_free goes on with SSL_CTX_free() of the SSL's context (1.12.11 gives each
	 * connection's tls_t the master's type) and BIO_free() of the socket BIO. Without SSL_free
	 * those two drop the references SSL_new and SSL_set_bio took; with it, they would drop one
	 * too many and free the shared SSL_CTX. So keep one more reference on each for tls_free. */
	ctx = SSL_get_SSL_CTX(ssl);
	bio = SSL_get_rbio(ssl);
	if (!ctx || !SSL_CTX_up_ref(ctx))
		return ret; /* leak the SSL as before rather than break tls_free */
	if (bio && !BIO_up_ref(bio)) {
		SSL_CTX_free(ctx);
		return ret;
	}
	SSL_free(ssl);
	return ret;
}
