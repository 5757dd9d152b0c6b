/* cred: STUN/TURN credentials. See cred.h for the contract. */
#include "proto/cred.h"
#include "proto/hex.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_EXPIRY_HEX 8
#define NONCE_MAC_LEN 12 /* bytes of HMAC-SHA256 kept: 96 bits */

/* ------------------------------------------------------------------ */
/* Long-term and shared-secret credentials                             */
/* ------------------------------------------------------------------ */

int cred_longterm_key(const char *user, size_t user_len, const char *realm,
		      size_t realm_len, const char *pass, size_t pass_len,
		      uint8_t key[CRED_KEY_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	if (ctx == NULL)
		return -EIO;
	/* Fed piece by piece so the password never sits in a joined
	 * buffer that would need wiping. */
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, user, user_len) == 1 &&
	     EVP_DigestUpdate(ctx, ":", 1) == 1 &&
	     EVP_DigestUpdate(ctx, realm, realm_len) == 1 &&
	     EVP_DigestUpdate(ctx, ":", 1) == 1 &&
	     EVP_DigestUpdate(ctx, pass, pass_len) == 1 &&
	     EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == CRED_KEY_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int cred_secret_password(const uint8_t *secret, size_t secret_len,
			 const char *username, size_t username_len, char *out,
			 size_t out_len)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int ret;

	if (out_len < CRED_SECRET_PASSWORD_LEN + 1)
		return -ENOSPC;
	if (secret_len > INT_MAX) /* HMAC() takes an int key length */
		return -EIO;
	if (HMAC(EVP_sha1(), secret, (int)secret_len,
		 (const unsigned char *)username, username_len, md,
		 &md_len) == NULL ||
	    md_len != 20) {
		cred_wipe(md, sizeof(md));
		return -EIO;
	}
	ret = cred_base64(md, md_len, out, out_len);
	cred_wipe(md, sizeof(md));
	return ret < 0 ? ret : 0;
}

/* The TURN REST API puts the expiry first ("1700000000:alice"). 12 digits
 * reach the year 33658, well past any real expiry, and cannot overflow. */
int cred_secret_expiry(const char *username, size_t username_len, char sep,
		       int64_t *expiry)
{
	int64_t v = 0;
	size_t n = 0;

	for (; n < username_len && username[n] != sep; n++) {
		if (username[n] < '0' || username[n] > '9' || n >= 12)
			return -EINVAL;
		v = v * 10 + (username[n] - '0');
	}
	if (n == 0)
		return -EINVAL;
	*expiry = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Stateless nonces                                                    */
/* ------------------------------------------------------------------ */

int cred_nonce_key_init(struct cred_nonce_key *k)
{
	return RAND_bytes(k->key, sizeof(k->key)) == 1 ? 0 : -EIO;
}

/* MAC over expiry_be32 || version byte (4 or 6) || IP bytes. A
 * v4-mapped client is bound as plain IPv4, so a nonce stays good when
 * the same host reaches us through a dual-stack socket and a v4 one. */
static int nonce_mac(const struct cred_nonce_key *k, const union addr *client,
		     uint32_t expiry, uint8_t mac[NONCE_MAC_LEN])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint8_t msg[4 + 1 + 16];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	size_t len;

	msg[0] = (uint8_t)(expiry >> 24);
	msg[1] = (uint8_t)(expiry >> 16);
	msg[2] = (uint8_t)(expiry >> 8);
	msg[3] = (uint8_t)expiry;
	switch (client->sa.sa_family) {
	case AF_INET:
		msg[4] = 4;
		memcpy(msg + 5, &client->v4.sin_addr, 4);
		len = 5 + 4;
		break;
	case AF_INET6:
		if (memcmp(client->v6.sin6_addr.s6_addr, mapped, 12) == 0) {
			msg[4] = 4;
			memcpy(msg + 5, client->v6.sin6_addr.s6_addr + 12, 4);
			len = 5 + 4;
		} else {
			msg[4] = 6;
			memcpy(msg + 5, client->v6.sin6_addr.s6_addr, 16);
			len = 5 + 16;
		}
		break;
	default:
		return -EINVAL;
	}

	if (HMAC(EVP_sha256(), k->key, sizeof(k->key), msg, len, md,
		 &md_len) == NULL ||
	    md_len < NONCE_MAC_LEN) {
		cred_wipe(md, sizeof(md));
		return -EIO;
	}
	memcpy(mac, md, NONCE_MAC_LEN);
	cred_wipe(md, sizeof(md));
	return 0;
}

/* The expiry saturates at UINT32_MAX rather than wrapping, which would
 * make a fresh nonce look long expired. */
int cred_nonce_make(const struct cred_nonce_key *k, const union addr *client,
		    uint64_t now_s, uint32_t ttl_s, char out[CRED_NONCE_LEN + 1])
{
	uint64_t end = now_s + ttl_s;
	uint32_t expiry = end < now_s || end > UINT32_MAX ? UINT32_MAX
							   : (uint32_t)end;
	uint8_t be[4] = {
		(uint8_t)(expiry >> 24), (uint8_t)(expiry >> 16),
		(uint8_t)(expiry >> 8), (uint8_t)expiry,
	};
	uint8_t mac[NONCE_MAC_LEN];
	int ret;

	ret = nonce_mac(k, client, expiry, mac);
	if (ret < 0)
		return ret;
	hex_encode(be, sizeof(be), out);
	hex_encode(mac, sizeof(mac), out + NONCE_EXPIRY_HEX);
	out[CRED_NONCE_LEN] = '\0';
	return 0;
}

int cred_nonce_check(const struct cred_nonce_key *k, const union addr *client,
		     uint64_t now_s, const uint8_t *nonce, size_t len)
{
	uint8_t be[4], got[NONCE_MAC_LEN], want[NONCE_MAC_LEN];
	uint32_t expiry;

	if (nonce == NULL || len != CRED_NONCE_LEN)
		return -EINVAL;
	if (hex_decode((const char *)nonce, sizeof(be), be, false) < 0 ||
	    hex_decode((const char *)nonce + NONCE_EXPIRY_HEX, sizeof(got), got, false) < 0)
		return -EINVAL;
	expiry = (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 |
		 (uint32_t)be[2] << 8 | be[3];
	if (nonce_mac(k, client, expiry, want) < 0)
		return -EINVAL;
	/* The MAC is checked before the expiry so a forged nonce can never
	 * earn "stale" (and with it a hint that its format was right). */
	if (!cred_equal(got, want, sizeof(want)))
		return -EINVAL;
	if (now_s > expiry)
		return -ESTALE;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

bool cred_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void cred_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

int cred_base64(const uint8_t *in, size_t in_len, char *out, size_t out_len)
{
	size_t need;

	/* EVP_EncodeBlock takes and returns int. */
	if (in_len > (size_t)(INT_MAX / 4) * 3)
		return -ENOSPC;
	need = (in_len + 2) / 3 * 4;
	if (out_len < need + 1)
		return -ENOSPC;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)in_len);
}
