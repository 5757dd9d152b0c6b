/* stun: RFC 8489 message parsing, integrity and building, and TURN
 * ChannelData framing (RFC 8656 §12). See stun.h for the wire diagrams.
 *
 * Everything here works on (buf, len) owned by the caller: the parser
 * only reads inside [buf, buf + len), the builder only writes inside
 * [buf, buf + cap). The one piece of global state is the HMAC algorithm
 * handle, fetched from OpenSSL once and shared by all threads. */
#include "proto/stun.h"
#include "proto/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* The offsets in struct stun_msg are uint16_t, so a message (header
 * included) may not exceed this, although the length field alone could
 * describe 65535 + 20 bytes. */
#define STUN_MAX_MSG_LEN 65535u

/* RFC 8489 §14.3, §14.9, §14.10, §14.12: in bytes, as they may appear on
 * the wire ("fewer than 128 characters" can take up to 763 bytes). */
#define STUN_MAX_USERNAME 513
#define STUN_MAX_TEXT 763

#define STUN_MI256_MIN 16

/* ---- padding ---------------------------------------------------------- */

static inline size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* ---- CRC-32 (FINGERPRINT, RFC 8489 §14.7) ------------------------------ */

/* The zlib / IEEE 802.3 CRC (reflected polynomial 0xEDB88320), a nibble at
 * a time: FINGERPRINT covers control messages only, so a 16-entry table
 * is fast enough and keeps the file free of a 256-line constant. */
static const uint32_t crc32_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
	0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
	0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

static uint32_t stun_crc32(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ crc32_nibble[crc & 15];
		crc = (crc >> 4) ^ crc32_nibble[crc & 15];
	}
	return ~crc;
}

/* FINGERPRINT value for a message whose FINGERPRINT attribute header
 * starts at attr_off; the length field must already include it. */
static uint32_t stun_fingerprint(const uint8_t *buf, size_t attr_off)
{
	return stun_crc32(buf, attr_off) ^ STUN_FINGERPRINT_XOR;
}

/* ---- HMAC (MESSAGE-INTEGRITY, RFC 8489 §14.5 / §14.6) ------------------ */

/* Fetching an algorithm walks OpenSSL's provider tables and takes locks;
 * do it once. Racing first callers each fetch, one wins the swap and the
 * others free theirs, so no lock or pthread_once is needed. */
static EVP_MAC *stun_hmac_alg(void)
{
	static _Atomic(EVP_MAC *) cached;
	EVP_MAC *mac = atomic_load_explicit(&cached, memory_order_acquire);
	EVP_MAC *expected = NULL;

	if (mac != NULL)
		return mac;
	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (mac == NULL)
		return NULL;
	if (atomic_compare_exchange_strong_explicit(&cached, &expected, mac,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return mac;
	EVP_MAC_free(mac);
	return expected;
}

/* HMAC (digest "SHA1" or "SHA256") over buf[0, upto) as if the header's
 * length field held msg_len: the integrity attribute's own length is
 * counted although the bytes after upto are not MACed. The header is
 * patched in a copy so the caller's (possibly received, const) buffer is
 * never written. out must hold exactly the digest size, out_len.
 * Returns 0, -ENOMEM or -EINVAL (OpenSSL refused). */
static int stun_hmac(const char *digest, const uint8_t *key, size_t key_len,
		     const uint8_t *buf, size_t upto, uint16_t msg_len,
		     uint8_t *out, size_t out_len)
{
	/* OpenSSL's HMAC only (re)keys on a non-NULL key; an empty key is
	 * still a key (an empty short-term password). */
	static const uint8_t empty_key[1];
	EVP_MAC *alg = stun_hmac_alg();
	EVP_MAC_CTX *ctx;
	OSSL_PARAM params[2];
	uint8_t hdr[STUN_HEADER_LEN];
	size_t got = 0;
	int ret = -EINVAL;

	if (alg == NULL)
		return -EINVAL;
	ctx = EVP_MAC_CTX_new(alg);
	if (ctx == NULL)
		return -ENOMEM;
	memcpy(hdr, buf, STUN_HEADER_LEN);
	wire_put16(hdr + 2, msg_len);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (key == NULL)
		key = empty_key;
	if (EVP_MAC_init(ctx, key, key_len, params) == 1 &&
	    EVP_MAC_update(ctx, hdr, sizeof(hdr)) == 1 &&
	    EVP_MAC_update(ctx, buf + STUN_HEADER_LEN, upto - STUN_HEADER_LEN) == 1 &&
	    EVP_MAC_final(ctx, out, &got, out_len) == 1 && got == out_len)
		ret = 0;
	EVP_MAC_CTX_free(ctx);
	return ret;
}

/* ---- parsing ----------------------------------------------------------- */

bool stun_is_stun(const uint8_t *buf, size_t len)
{
	return buf != NULL && len >= STUN_HEADER_LEN && (buf[0] & 0xc0) == 0 &&
	       wire_get32(buf + 4) == STUN_MAGIC_COOKIE;
}

/* The 14 method bits and 2 class bits are interleaved (RFC 8489 §5,
 * Figure 3): M11..M7 C1 M6..M4 C0 M3..M0. */
static uint16_t stun_type_encode(uint16_t method, uint8_t cls)
{
	return (uint16_t)((method & 0x000f) | (method & 0x0070) << 1 |
			  (method & 0x0f80) << 2 | (cls & 1) << 4 | (cls & 2) << 7);
}

static void stun_type_decode(uint16_t type, uint16_t *method, uint8_t *cls)
{
	*method = (uint16_t)((type & 0x000f) | (type >> 1 & 0x0070) |
			     (type >> 2 & 0x0f80));
	*cls = (uint8_t)((type >> 4 & 1) | (type >> 7 & 2));
}

static bool addr_len_ok(uint16_t len)
{
	return len == 8 || len == 20;
}

/* Value length rules of the attributes this parser knows. Returns 1 for
 * a known attribute with a plausible length, 0 for a known one with an
 * impossible length, -1 for an attribute it does not know. Attributes the
 * relay never reads are still checked: a malformed one is a sign of a
 * broken or hostile sender, and rejecting early is cheaper than a
 * surprise later. */
static int stun_attr_len_ok(uint16_t type, const uint8_t *val, uint16_t len)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case STUN_ATTR_ALTERNATE_SERVER:
	case STUN_ATTR_RESPONSE_ORIGIN:
	case STUN_ATTR_OTHER_ADDRESS:
		return addr_len_ok(len);
	case STUN_ATTR_CHANGE_REQUEST:
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_PRIORITY:
	case STUN_ATTR_CONNECTION_ID:
	case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
	case STUN_ATTR_FINGERPRINT:
		return len == 4;
	case STUN_ATTR_RESPONSE_PORT:
		/* A port plus two bytes of padding, which some senders
		 * count in the length and some leave to attribute padding. */
		return len == 2 || len == 4;
	case STUN_ATTR_USERNAME:
		return len <= STUN_MAX_USERNAME;
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_SOFTWARE:
		return len <= STUN_MAX_TEXT;
	case STUN_ATTR_MESSAGE_INTEGRITY:
		return len == STUN_MI_LEN;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		return len >= STUN_MI256_MIN && len <= STUN_MI256_LEN && len % 4 == 0;
	case STUN_ATTR_ERROR_CODE:
	case STUN_ATTR_ADDRESS_ERROR_CODE:
		return len >= 4 && len <= 4 + STUN_MAX_TEXT;
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
		return len % 2 == 0;
	case STUN_ATTR_EVEN_PORT:
		return len == 1;
	case STUN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_USE_CANDIDATE:
		return len == 0;
	case STUN_ATTR_USERHASH:
		return len == 32;
	case STUN_ATTR_RESERVATION_TOKEN:
	case STUN_ATTR_ICE_CONTROLLED:
	case STUN_ATTR_ICE_CONTROLLING:
	case STUN_ATTR_ICMP:
		return len == 8;
	case STUN_ATTR_PASSWORD_ALGORITHM:
		/* algorithm, parameters length, parameters (§14.12) */
		return len >= 4 && 4u + wire_get16(val + 2) <= len;
	case STUN_ATTR_DATA:
	case STUN_ATTR_PADDING:
	case STUN_ATTR_PASSWORD_ALGORITHMS:
	case STUN_ATTR_ALTERNATE_DOMAIN:
		return 1;
	default:
		return -1;
	}
}

/* Records the first occurrence of an attribute (RFC 8489 §14: later
 * duplicates are ignored). */
static void stun_first(uint16_t *off, uint16_t *lenp, uint16_t voff, uint16_t len)
{
	if (*off != 0)
		return;
	*off = voff;
	if (lenp != NULL)
		*lenp = len;
}

/* Indexes one attribute whose value length is already validated. */
static int stun_index(struct stun_msg *m, uint16_t type, uint16_t voff, uint16_t len)
{
	switch (type) {
	case STUN_ATTR_USERNAME:
		stun_first(&m->username, &m->username_len, voff, len);
		break;
	case STUN_ATTR_REALM:
		stun_first(&m->realm, &m->realm_len, voff, len);
		break;
	case STUN_ATTR_NONCE:
		stun_first(&m->nonce, &m->nonce_len, voff, len);
		break;
	case STUN_ATTR_USERHASH:
		stun_first(&m->userhash, NULL, voff, len);
		break;
	case STUN_ATTR_MESSAGE_INTEGRITY:
		stun_first(&m->integrity, NULL, voff, len);
		break;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		stun_first(&m->integrity256, &m->integrity256_len, voff, len);
		break;
	case STUN_ATTR_FINGERPRINT:
		stun_first(&m->fingerprint, NULL, voff, len);
		break;
	case STUN_ATTR_ERROR_CODE:
		stun_first(&m->error_code, &m->error_code_len, voff, len);
		break;
	case STUN_ATTR_LIFETIME:
		stun_first(&m->lifetime, NULL, voff, len);
		break;
	case STUN_ATTR_CHANNEL_NUMBER:
		stun_first(&m->channel_number, NULL, voff, len);
		break;
	case STUN_ATTR_REQUESTED_TRANSPORT:
		stun_first(&m->requested_transport, NULL, voff, len);
		break;
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
		stun_first(&m->requested_family, NULL, voff, len);
		break;
	case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
		stun_first(&m->additional_family, NULL, voff, len);
		break;
	case STUN_ATTR_EVEN_PORT:
		stun_first(&m->even_port, NULL, voff, len);
		break;
	case STUN_ATTR_RESERVATION_TOKEN:
		stun_first(&m->reservation_token, NULL, voff, len);
		break;
	case STUN_ATTR_DONT_FRAGMENT:
		stun_first(&m->dont_fragment, NULL, voff, len);
		break;
	case STUN_ATTR_DATA:
		stun_first(&m->data, &m->data_len, voff, len);
		break;
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
		stun_first(&m->xor_mapped, &m->xor_mapped_len, voff, len);
		break;
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
		stun_first(&m->xor_relayed, &m->xor_relayed_len, voff, len);
		break;
	case STUN_ATTR_CONNECTION_ID:
		stun_first(&m->connection_id, NULL, voff, len);
		break;
	case STUN_ATTR_CHANGE_REQUEST:
		stun_first(&m->change_request, NULL, voff, len);
		break;
	case STUN_ATTR_SOFTWARE:
		stun_first(&m->software, &m->software_len, voff, len);
		break;
	case STUN_ATTR_PASSWORD_ALGORITHM:
		stun_first(&m->password_algorithm, &m->password_algorithm_len,
			   voff, len);
		break;
	case STUN_ATTR_XOR_PEER_ADDRESS:
		/* The one attribute that may repeat (RFC 8656 §10, one
		 * permission per peer). Refuse rather than silently drop
		 * peers: a partial CreatePermission would lie. */
		if (m->n_peers >= STUN_MAX_PEERS)
			return STUN_E_TOO_MANY;
		m->peers[m->n_peers] = voff;
		m->peers_len[m->n_peers] = len;
		m->n_peers++;
		break;
	default:
		break;
	}
	return STUN_OK;
}

static void stun_add_unknown(struct stun_msg *m, uint16_t type)
{
	for (uint8_t i = 0; i < m->n_unknown; i++)
		if (m->unknown[i] == type)
			return;
	/* Beyond the limit the 420 lists only the first few; the request
	 * fails all the same. */
	if (m->n_unknown < STUN_MAX_UNKNOWN)
		m->unknown[m->n_unknown++] = type;
}

int stun_parse(const uint8_t *buf, size_t len, struct stun_msg *msg)
{
	bool seen_mi = false, seen_mi256 = false;
	size_t off;

	memset(msg, 0, sizeof(*msg));
	if (buf == NULL || len < STUN_HEADER_LEN)
		return STUN_E_SHORT;
	if ((buf[0] & 0xc0) != 0 || wire_get32(buf + 4) != STUN_MAGIC_COOKIE)
		return STUN_E_NOT_STUN;
	if (len > STUN_MAX_MSG_LEN || wire_get16(buf + 2) % 4 != 0 ||
	    STUN_HEADER_LEN + (size_t)wire_get16(buf + 2) != len)
		return STUN_E_LENGTH;

	stun_type_decode(wire_get16(buf), &msg->method, &msg->cls);
	memcpy(msg->txid, buf + 8, STUN_TXID_LEN);
	msg->len = (uint16_t)len;

	/* len and off stay multiples of 4, so a full TLV header always fits
	 * and a padded value never runs past len once its length does not. */
	for (off = STUN_HEADER_LEN; off < len;) {
		uint16_t type, alen, voff;
		int known, err;

		if (len - off < 4)
			return STUN_E_SHORT;
		type = wire_get16(buf + off);
		alen = wire_get16(buf + off + 2);
		voff = (uint16_t)(off + 4);
		if (alen > len - voff)
			return STUN_E_ATTR_LENGTH;

		/* §14.5-§14.7: only the stronger MAC and FINGERPRINT may
		 * follow MESSAGE-INTEGRITY, only FINGERPRINT may follow
		 * MESSAGE-INTEGRITY-SHA256, and FINGERPRINT is last. The RFC
		 * says to ignore what follows; rejecting means no attribute
		 * the MAC does not cover can ever reach the relay. */
		if (msg->fingerprint != 0)
			return STUN_E_AFTER_FINGERPRINT;
		if (seen_mi256 && type != STUN_ATTR_FINGERPRINT)
			return STUN_E_AFTER_INTEGRITY;
		if (seen_mi && type != STUN_ATTR_MESSAGE_INTEGRITY_SHA256 &&
		    type != STUN_ATTR_FINGERPRINT)
			return STUN_E_AFTER_INTEGRITY;

		known = stun_attr_len_ok(type, buf + voff, alen);
		if (known == 0)
			return STUN_E_ATTR_LENGTH;
		if (known < 0) {
			if (type < 0x8000)
				stun_add_unknown(msg, type);
		} else {
			err = stun_index(msg, type, voff, alen);
			if (err != STUN_OK)
				return err;
		}
		if (type == STUN_ATTR_MESSAGE_INTEGRITY)
			seen_mi = true;
		else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
			seen_mi256 = true;
		off = voff + pad4(alen);
	}

	/* FINGERPRINT is last, so the length field already covers it as
	 * §14.7 wants and the CRC runs over the buffer as it is. */
	if (msg->fingerprint != 0 &&
	    wire_get32(buf + msg->fingerprint) !=
		    stun_fingerprint(buf, (size_t)msg->fingerprint - 4))
		return STUN_E_FINGERPRINT;
	return STUN_OK;
}

const char *stun_parse_error_name(int err)
{
	static const char *const names[STUN_E__COUNT] = {
		[STUN_OK] = "ok",
		[STUN_E_SHORT] = "short",
		[STUN_E_NOT_STUN] = "not_stun",
		[STUN_E_LENGTH] = "length",
		[STUN_E_ATTR_LENGTH] = "attr_length",
		[STUN_E_AFTER_INTEGRITY] = "after_integrity",
		[STUN_E_AFTER_FINGERPRINT] = "after_fingerprint",
		[STUN_E_FINGERPRINT] = "fingerprint",
		[STUN_E_TOO_MANY] = "too_many",
	};

	if (err < 0 || err >= STUN_E__COUNT || names[err] == NULL)
		return "unknown";
	return names[err];
}

int stun_frame_len(const uint8_t *buf, size_t avail)
{
	uint16_t first, n;

	if (buf == NULL || avail < 4)
		return 0;
	first = wire_get16(buf);
	n = wire_get16(buf + 2);
	if ((buf[0] & 0xc0) == 0) {
		/* A STUN length is always a multiple of 4; anything else
		 * means the stream lost its framing. The cookie is checked
		 * as soon as it has arrived. */
		if (n % 4 != 0)
			return -EINVAL;
		if (avail >= 8 && wire_get32(buf + 4) != STUN_MAGIC_COOKIE)
			return -EINVAL;
		return STUN_HEADER_LEN + n;
	}
	if (first >= TURN_CHANNEL_MIN && first <= TURN_CHANNEL_MAX)
		return (int)(TURN_CHANNEL_HEADER_LEN + pad4(n));
	return -EINVAL;
}

/* ---- reading values ---------------------------------------------------- */

/* XOR-*-ADDRESS mask (RFC 8489 §14.2): the cookie for the port and an
 * IPv4 address, cookie || transaction id for an IPv6 address. */
static void stun_xor_mask(const uint8_t txid[STUN_TXID_LEN], uint8_t mask[16])
{
	wire_put32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, txid, STUN_TXID_LEN);
}

int stun_get_addr(const uint8_t *buf, const struct stun_msg *msg,
		  uint16_t off, uint16_t len, bool xored, union addr *out)
{
	uint8_t mask[16];
	const uint8_t *v;
	uint16_t port;

	if (buf == NULL || msg == NULL || out == NULL || off < STUN_HEADER_LEN ||
	    (size_t)off + len > msg->len)
		return -EINVAL;
	v = buf + off;
	stun_xor_mask(msg->txid, mask);
	port = wire_get16(v + 2);
	if (xored)
		port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
	memset(out, 0, sizeof(*out));
	if (len == 8 && v[1] == 0x01) {
		uint8_t *ip = (uint8_t *)&out->v4.sin_addr;

		out->v4.sin_family = AF_INET;
		out->v4.sin_port = htons(port);
		for (int i = 0; i < 4; i++)
			ip[i] = (uint8_t)(v[4 + i] ^ (xored ? mask[i] : 0));
		return 0;
	}
	if (len == 20 && v[1] == 0x02) {
		uint8_t *ip = out->v6.sin6_addr.s6_addr;

		out->v6.sin6_family = AF_INET6;
		out->v6.sin6_port = htons(port);
		for (int i = 0; i < 16; i++)
			ip[i] = (uint8_t)(v[4 + i] ^ (xored ? mask[i] : 0));
		return 0;
	}
	out->sa.sa_family = AF_UNSPEC;
	return -EINVAL;
}

uint32_t stun_get_u32(const uint8_t *buf, uint16_t off)
{
	return wire_get32(buf + off);
}

int stun_get_error_code(const uint8_t *buf, const struct stun_msg *msg)
{
	const uint8_t *v;
	int cls, number;

	if (buf == NULL || msg == NULL || msg->error_code == 0 ||
	    msg->error_code_len < 4 ||
	    (size_t)msg->error_code + msg->error_code_len > msg->len)
		return -EINVAL;
	v = buf + msg->error_code;
	cls = v[2] & 0x07;
	number = v[3];
	/* §14.8: class 3..6, number 0..99 */
	if (cls < 3 || cls > 6 || number > 99)
		return -EINVAL;
	return cls * 100 + number;
}

bool stun_check_integrity(const uint8_t *buf, const struct stun_msg *msg,
			  const uint8_t *key, size_t key_len)
{
	uint8_t mac[STUN_MI256_LEN];
	uint16_t off, n;
	bool ok;

	if (buf == NULL || msg == NULL)
		return false;
	if (msg->integrity256 != 0) {
		off = msg->integrity256;
		n = msg->integrity256_len;
		if (off < STUN_HEADER_LEN + 4 || n < STUN_MI256_MIN ||
		    n > STUN_MI256_LEN || (size_t)off + n > msg->len ||
		    stun_hmac("SHA256", key, key_len, buf, off - 4u,
			      (uint16_t)(off + n - STUN_HEADER_LEN), mac,
			      STUN_MI256_LEN) != 0)
			return false;
	} else if (msg->integrity != 0) {
		off = msg->integrity;
		n = STUN_MI_LEN;
		if (off < STUN_HEADER_LEN + 4 || (size_t)off + n > msg->len ||
		    stun_hmac("SHA1", key, key_len, buf, off - 4u,
			      (uint16_t)(off + n - STUN_HEADER_LEN), mac,
			      STUN_MI_LEN) != 0)
			return false;
	} else {
		return false;
	}
	/* A truncated SHA256 MAC compares its leading n bytes (§14.6). */
	ok = CRYPTO_memcmp(mac, buf + off, n) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

const char *stun_error_reason(int code)
{
	switch (code) {
	case STUN_ERR_TRY_ALTERNATE: return "Try Alternate";
	case STUN_ERR_BAD_REQUEST: return "Bad Request";
	case STUN_ERR_UNAUTHORIZED: return "Unauthorized";
	case STUN_ERR_FORBIDDEN: return "Forbidden";
	case STUN_ERR_UNKNOWN_ATTRIBUTE: return "Unknown Attribute";
	case STUN_ERR_ALLOCATION_MISMATCH: return "Allocation Mismatch";
	case STUN_ERR_STALE_NONCE: return "Stale Nonce";
	case STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED: return "Address Family not Supported";
	case STUN_ERR_WRONG_CREDENTIALS: return "Wrong Credentials";
	case STUN_ERR_UNSUPPORTED_TRANSPORT: return "Unsupported Transport Protocol";
	case STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH: return "Peer Address Family Mismatch";
	case STUN_ERR_CONNECTION_ALREADY_EXISTS: return "Connection Already Exists";
	case STUN_ERR_CONNECTION_TIMEOUT: return "Connection Timeout or Failure";
	case STUN_ERR_ALLOCATION_QUOTA: return "Allocation Quota Reached";
	case STUN_ERR_SERVER_ERROR: return "Server Error";
	case STUN_ERR_INSUFFICIENT_CAPACITY: return "Insufficient Capacity";
	default: return "Error";
	}
}

/* ---- building ---------------------------------------------------------- */

void stun_build(struct stun_builder *b, uint8_t *buf, size_t cap,
		uint16_t method, uint8_t cls, const uint8_t txid[STUN_TXID_LEN])
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	if (buf == NULL || txid == NULL || method > 0x0fff || cls > STUN_ERROR) {
		b->err = -EINVAL;
		return;
	}
	if (cap < STUN_HEADER_LEN) {
		b->err = -ENOSPC;
		return;
	}
	wire_put16(buf, stun_type_encode(method, cls));
	wire_put16(buf + 2, 0);
	wire_put32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
	b->len = STUN_HEADER_LEN;
}

/* Appends a TLV header for a value of vlen bytes, zeroes the padding and
 * updates the header's length field (so MESSAGE-INTEGRITY and FINGERPRINT
 * computed next see a length that covers their own attribute). Returns
 * where the value goes, or NULL with b->err set. Nothing is written
 * unless the whole padded attribute fits. */
static uint8_t *stun_reserve(struct stun_builder *b, uint16_t type, size_t vlen)
{
	size_t total;
	uint8_t *p;

	if (b->err != 0)
		return NULL;
	if (vlen > UINT16_MAX) {
		b->err = -EINVAL;
		return NULL;
	}
	total = 4 + pad4(vlen);
	/* The parser refuses messages its uint16_t offsets cannot index,
	 * so never build one. */
	if (total > b->cap - b->len || b->len + total > STUN_MAX_MSG_LEN) {
		b->err = -ENOSPC;
		return NULL;
	}
	p = b->buf + b->len;
	wire_put16(p, type);
	wire_put16(p + 2, (uint16_t)vlen);
	memset(p + 4 + vlen, 0, pad4(vlen) - vlen);
	b->len += total;
	wire_put16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	return p + 4;
}

void stun_put(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p;

	if (b->err == 0 && val == NULL && len != 0) {
		b->err = -EINVAL;
		return;
	}
	p = stun_reserve(b, type, len);
	if (p != NULL && len != 0)
		memcpy(p, val, len);
}

void stun_put_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t val[4];

	wire_put32(val, v);
	stun_put(b, type, val, sizeof(val));
}

void stun_put_addr(struct stun_builder *b, uint16_t type, const union addr *a, bool xored)
{
	uint8_t val[20], mask[16];
	const uint8_t *ip;
	size_t n;

	if (b->err != 0)
		return;
	if (a == NULL) {
		b->err = -EINVAL;
		return;
	}
	val[0] = 0;
	if (a->sa.sa_family == AF_INET) {
		val[1] = 0x01;
		wire_put16(val + 2, ntohs(a->v4.sin_port));
		ip = (const uint8_t *)&a->v4.sin_addr;
		n = 4;
	} else if (a->sa.sa_family == AF_INET6) {
		val[1] = 0x02;
		wire_put16(val + 2, ntohs(a->v6.sin6_port));
		ip = a->v6.sin6_addr.s6_addr;
		n = 16;
	} else {
		b->err = -EINVAL;
		return;
	}
	/* The transaction id was written by stun_build. */
	stun_xor_mask(b->buf + 8, mask);
	if (xored)
		wire_put16(val + 2, wire_get16(val + 2) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
	for (size_t i = 0; i < n; i++)
		val[4 + i] = (uint8_t)(ip[i] ^ (xored ? mask[i] : 0));
	stun_put(b, type, val, 4 + n);
}

void stun_put_error(struct stun_builder *b, int code, const char *reason)
{
	size_t rlen;
	uint8_t *p;

	if (b->err != 0)
		return;
	if (reason == NULL)
		reason = stun_error_reason(code);
	rlen = strnlen(reason, STUN_MAX_TEXT + 1);
	if (code < 300 || code > 699 || rlen > STUN_MAX_TEXT) {
		b->err = -EINVAL;
		return;
	}
	p = stun_reserve(b, STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (p == NULL)
		return;
	p[0] = 0;
	p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	memcpy(p + 4, reason, rlen);
}

void stun_put_unknown(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *p;

	if (b->err != 0)
		return;
	if ((types == NULL && n != 0) || n > UINT16_MAX / 2) {
		b->err = -EINVAL;
		return;
	}
	p = stun_reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	if (p == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		wire_put16(p + 2 * i, types[i]);
}

/* Shared by both integrity attributes: reserve first so the length field
 * already counts the attribute, then MAC everything before its header. */
static void stun_put_mac(struct stun_builder *b, uint16_t type, const char *digest,
			 size_t mac_len, const uint8_t *key, size_t key_len)
{
	uint8_t mac[STUN_MI256_LEN];
	uint8_t *p = stun_reserve(b, type, mac_len);
	int err;

	if (p == NULL)
		return;
	err = stun_hmac(digest, key, key_len, b->buf, (size_t)(p - 4 - b->buf),
			(uint16_t)(b->len - STUN_HEADER_LEN), mac, mac_len);
	if (err != 0) {
		b->err = err;
		return;
	}
	memcpy(p, mac, mac_len);
	OPENSSL_cleanse(mac, sizeof(mac));
}

void stun_put_integrity(struct stun_builder *b, const uint8_t *key, size_t key_len)
{
	stun_put_mac(b, STUN_ATTR_MESSAGE_INTEGRITY, "SHA1", STUN_MI_LEN, key, key_len);
}

void stun_put_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t key_len)
{
	stun_put_mac(b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, "SHA256",
		     STUN_MI256_LEN, key, key_len);
}

void stun_put_fingerprint(struct stun_builder *b)
{
	uint8_t *p = stun_reserve(b, STUN_ATTR_FINGERPRINT, 4);

	if (p != NULL)
		wire_put32(p, stun_fingerprint(b->buf, (size_t)(p - 4 - b->buf)));
}

int stun_finish(struct stun_builder *b)
{
	return b->err != 0 ? b->err : (int)b->len;
}

/* ---- ChannelData (RFC 8656 §12.4) -------------------------------------- */

bool turn_is_channel_data(const uint8_t *buf, size_t len)
{
	uint16_t ch;

	if (buf == NULL || len < TURN_CHANNEL_HEADER_LEN)
		return false;
	ch = wire_get16(buf);
	return ch >= TURN_CHANNEL_MIN && ch <= TURN_CHANNEL_MAX;
}

int turn_channel_parse(const uint8_t *buf, size_t len, uint16_t *channel,
		       uint16_t *data_len)
{
	uint16_t n;

	if (!turn_is_channel_data(buf, len))
		return -EINVAL;
	n = wire_get16(buf + 2);
	if (n > len - TURN_CHANNEL_HEADER_LEN)
		return -EINVAL;
	if (channel != NULL)
		*channel = wire_get16(buf);
	if (data_len != NULL)
		*data_len = n;
	return 0;
}

void turn_channel_header(uint8_t hdr[TURN_CHANNEL_HEADER_LEN], uint16_t channel,
			 uint16_t data_len)
{
	wire_put16(hdr, channel);
	wire_put16(hdr + 2, data_len);
}
