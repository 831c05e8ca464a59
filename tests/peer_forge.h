/* peer_forge.h: a close_notify alert at fatal level from an OpenSSL peer.
 *
 * OpenSSL's API sends close_notify at warning level only (SSL_shutdown).
 * Receivers differ on a fatal-level one (OpenSSL reports TLS 1.2's as a
 * fatal error, reason 1000; TLS 1.3 ignores the level), so the strict peer
 * must be able to send it: peer_forge.c rewrites the record SSL_shutdown
 * produced, with the connection's own keys.
 */

#ifndef TLSCLOSE_TESTS_PEER_FORGE_H
#define TLSCLOSE_TESTS_PEER_FORGE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* The largest record forge_close_notify() writes. */
#define FORGED_RECORD_MAX 64

/* Prepares a context for forging: restricts it to AES-128-GCM (the one
 * record protection peer_forge.c implements) and records the TLS 1.3
 * traffic secrets of its connections. Call before the first SSL_new().
 * False (with an OpenSSL error queued) on failure. */
bool forge_prepare_ctx(SSL_CTX *ctx);

/* Calls SSL_shutdown() with a memory BIO in place of the socket, so that
 * OpenSSL's close_notify record does not reach the wire, and rewrites that
 * record with the alert level `level` (SSL3_AL_FATAL) into out (at least
 * FORGED_RECORD_MAX bytes). OpenSSL's state is that of a connection that sent
 * close_notify (SSL_SENT_SHUTDOWN, sequence number used), so the caller only
 * has to write the `return value` bytes to the socket. Returns 0 and sets
 * *why on failure. */
size_t forge_close_notify(SSL *ssl, int level, unsigned char *out, const char **why);

#endif
