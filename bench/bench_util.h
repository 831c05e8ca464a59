/* bench_util.h: what the benchmark programs share: clocks, TLS contexts,
 * loopback connections and blocking TLS I/O that fails loudly.
 *
 * The programs run bare and under the preload in alternation (bench/run.py);
 * every figure they print is measured inside the process, around the code
 * under test only, so that start-up costs do not blur a ratio.
 */
#ifndef TLSCLOSE_BENCH_UTIL_H
#define TLSCLOSE_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* Nanoseconds on the monotonic clock. */
int64_t now_ns(void);

/* User + system CPU time of this process, in nanoseconds. */
int64_t cpu_ns(void);

/* "--tls1.2" / "--tls1.3" / NULL: the protocol version to pin, 0 for any. */
int tls_version_option(const char *arg);

/* A client context without certificate verification (loopback, the bench
 * measures the cost of the connection, not of trust decisions). */
SSL_CTX *client_ctx(int version);

/* A server context with the certificate and key from files. */
SSL_CTX *server_ctx(const char *cert, const char *key, int version);

/* A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY. */
int connect_loopback(int port);

/* Blocking TLS I/O; any failure ends the process (exit 1). */
void tls_write_all(SSL *ssl, const void *buf, size_t len);
void tls_read_exact(SSL *ssl, void *buf, size_t len);

/* Opens n descriptors of one kind that is not TLS into fds: "devnull"
 * (/dev/null), "pipe" (both ends, so n is even) or "socket" (an unconnected
 * TCP socket). Any failure ends the process. */
void open_plain_batch(const char *kind, int *fds, int n);

/* Item 1's measured region: close() of each descriptor. Never inlined, so
 * that callgrind can count it alone (--toggle-collect=bench_close_batch). */
void bench_close_batch(const int *fds, int n);

/* rounds x (open a batch of one kind, close it in bench_close_batch());
 * returns the nanoseconds spent closing, opening not counted. */
int64_t close_rounds(const char *kind, int *fds, int batch, long rounds);

#endif
