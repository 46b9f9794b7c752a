// SPDX-License-Identifier: Apache-2.0
/*
 * TLS flow memory and TLS policy that sofia-sip 1.12.11 (Debian 12) does not manage, fixed by
 * interposing on two libssl functions; sofia exposes neither the SSL_CTX nor the SSL, so there is
 * no other hook.
 * The executable defines SSL_new and SSL_shutdown, the dynamic linker binds sofia's (versioned)
 * references to these definitions ahead of libssl's, and each forwards to libssl's.
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
 * 2. Closed flows: sofia's tls_free() calls SSL_shutdown(), SSL_CTX_free() and BIO_free() on
 *    the socket BIO but never SSL_free(), so every closed TLS connection leaked its SSL (~37 kB
 *    RSS each at 10k flows: RSS grew without bound with reconnecting clients). SSL_shutdown here,
 * when called from tls_free and only then, frees the SSL after the shutdown. tls_free then frees
 * the SSL's context and its socket BIO itself (which only balanced the references the leaked SSL
 * held), so it takes one more reference on both first. Any other caller (sofia's STUN code frees
 * its SSL itself) gets plain SSL_shutdown.
 *
 * The file is compiled into the sip-edge executable only (not libse): the definitions must be in
 * the executable to take precedence, and an archive member nobody references would not be
 * linked. The names are OpenSSL's, not se_tlsmem_*, because interposing needs them. The process
 * is single-threaded (the lazy lookups need no lock).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <string.h>

/* TLS 1.2 suites allowed on SIP over TLS (issue 4: "TLS 1.2 minimum, modern ciphers"). */
#define SE_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL"

typedef SSL *ssl_new_fn(SSL_CTX *ctx);
typedef int ssl_shutdown_fn(SSL *ssl);

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
		union {
			void *p;
			ssl_shutdown_fn *f;
		} u = {next_symbol("SSL_shutdown")};

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
