/* tls: see tls.h. */
#include "src/common/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "proto/ovl.h"

#define CERT_YEARS 20

const char *tls_error_string(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e)
		snprintf(buf, len, "no OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static X509 *self_signed(EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *n;

	if (!x)
		return NULL;
	n = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_YEARS * 365 * 86400) ||
	    !X509_set_pubkey(x, k) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"parley-login",
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, n) || !X509_sign(x, k, NULL)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

SSL_CTX *tls_server_ctx(const uint8_t seed[32], char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	SSL_CTX *ctx = NULL;
	X509 *x = NULL;
	char e[256];

	if (!k || !(x = self_signed(k))) {
		snprintf(err, errlen, "cannot make the TLS certificate: %s",
			 tls_error_string(e, sizeof(e)));
		goto out;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_use_certificate(ctx, x) || !SSL_CTX_use_PrivateKey(ctx, k) ||
	    !SSL_CTX_check_private_key(ctx)) {
		snprintf(err, errlen, "cannot set up TLS: %s", tls_error_string(e, sizeof(e)));
		SSL_CTX_free(ctx);
		ctx = NULL;
		goto out;
	}
	/* One request per connection: no session tickets to keep. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return ctx;
}

SSL_CTX *tls_client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* No CA check: the server's key is pinned (tls_peer_key). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	return ctx;
}

int tls_peer_key(SSL *ssl, uint8_t pub[32])
{
	X509 *x = SSL_get1_peer_certificate(ssl);
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
	size_t len = 32;
	int ret = -EBADMSG;

	if (k && EVP_PKEY_id(k) == EVP_PKEY_ED25519 &&
	    EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32)
		ret = 0;
	X509_free(x);
	return ret;
}

int tls_bind_nonce(SSL *ssl, const uint8_t nonce[32], uint8_t out[32])
{
	static const char label[] = "EXPORTER-parley-login-challenge";
	static const char domain[] = "parley-login-binding-v1";
	uint8_t ekm[32];
	unsigned int len = 32;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ret = -EIO;

	if (md && SSL_export_keying_material(ssl, ekm, sizeof(ekm), label, sizeof(label) - 1, NULL,
					     0, 0) == 1 &&
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, domain, sizeof(domain) - 1) == 1 &&
	    EVP_DigestUpdate(md, nonce, 32) == 1 && EVP_DigestUpdate(md, ekm, sizeof(ekm)) == 1 &&
	    EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32)
		ret = 0;
	EVP_MD_CTX_free(md);
	OPENSSL_cleanse(ekm, sizeof(ekm));
	return ret;
}

int tls_set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

/* Maps a failed SSL_read/SSL_write. */
static int io_error(SSL *ssl, int ret)
{
	int e = SSL_get_error(ssl, ret);

	ERR_clear_error();
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -ETIMEDOUT;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -ETIMEDOUT;
	return -EIO;
}

static int read_exact(SSL *ssl, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		int n = SSL_read(ssl, buf + got, (int)(len - got));

		if (n <= 0) {
			n = io_error(ssl, n);
			return n == 0 && got ? -EIO : n;
		}
		got += (size_t)n;
	}
	return 1;
}

int tls_read_msg(SSL *ssl, uint8_t *buf, size_t cap)
{
	int ret, total;

	if (cap < OVL_HEADER_LEN)
		return -EBADMSG;
	ret = read_exact(ssl, buf, OVL_HEADER_LEN);
	if (ret <= 0)
		return ret;
	total = ovl_frame_len(buf, OVL_HEADER_LEN);
	if (total < 0 || (size_t)total > cap)
		return -EBADMSG;
	ret = read_exact(ssl, buf + OVL_HEADER_LEN, (size_t)total - OVL_HEADER_LEN);
	if (ret < 0 || (ret == 0 && total > OVL_HEADER_LEN))
		return ret < 0 ? ret : -EIO;
	return total;
}

int tls_write_all(SSL *ssl, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		int n = SSL_write(ssl, buf + done, (int)(len - done));

		if (n <= 0) {
			n = io_error(ssl, n);
			return n ? n : -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}
