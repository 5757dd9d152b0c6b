/* tls: TLS 1.3 for the login server and its clients (OpenSSL), with the
 * server authenticated by a pinned Ed25519 key rather than a CA.
 *
 * The login server's identity is one Ed25519 key: it signs the users'
 * certificates (proto/cert.h) and it is the key of the self-signed X.509
 * certificate its TLS listener presents. A client that knows the key
 * (given, or trusted on first use and remembered) checks after the
 * handshake that the server's certificate carries exactly that key; TLS
 * 1.3's CertificateVerify has already proved the server holds it. No
 * CA, no chain, no names: one pinned key.
 *
 * I/O is blocking on sockets with SO_RCVTIMEO/SO_SNDTIMEO set by the
 * caller (tls_set_timeouts): neither side is on a packet path. */
#ifndef PARLEY_COMMON_TLS_H
#define PARLEY_COMMON_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A server context: TLS 1.3 only, presenting a self-signed certificate
 * of the Ed25519 key with this seed. NULL on failure (err gets a line). */
SSL_CTX *tls_server_ctx(const uint8_t seed[32], char *err, size_t errlen);

/* A client context: TLS 1.3 only; the server is checked by tls_peer_key
 * after the handshake. NULL on failure. */
SSL_CTX *tls_client_ctx(void);

/* The Ed25519 public key of the peer's certificate. Returns 0 or
 * -EBADMSG (no certificate, or not an Ed25519 key). */
int tls_peer_key(SSL *ssl, uint8_t pub[32]);

/* Read and write timeouts of a blocking socket, in milliseconds. */
int tls_set_timeouts(int fd, unsigned ms);

/* Reads one whole overlay message (proto/ovl.h framing) into buf.
 * Returns its length, 0 at a clean end of stream, -EBADMSG for bytes
 * that are not an overlay message or too long for cap, -ETIMEDOUT, or
 * -EIO. */
int tls_read_msg(SSL *ssl, uint8_t *buf, size_t cap);

/* Writes len bytes. Returns 0, -ETIMEDOUT or -EIO. */
int tls_write_all(SSL *ssl, const uint8_t *buf, size_t len);

/* Binds a login challenge to this TLS connection: out = SHA-256(label ||
 * nonce || the connection's exporter value, RFC 8446 §7.5). Both ends
 * compute the same value only on the same connection, so a signature
 * over it cannot be relayed to another one. Returns 0 or -EIO. */
int tls_bind_nonce(SSL *ssl, const uint8_t nonce[32], uint8_t out[32]);

/* The last OpenSSL error as one line (for logs). */
const char *tls_error_string(char *buf, size_t len);

#endif
