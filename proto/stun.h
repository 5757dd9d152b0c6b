/* stun: the STUN message format (RFC 8489) with the TURN (RFC 8656,
 * RFC 6062) methods and attributes, and TURN ChannelData framing.
 *
 * Parsing is a pure, bounded function over (buf, len) that indexes the
 * attributes in place: nothing is copied, every length is checked before
 * it is used, and anything malformed is rejected with a reason the caller
 * counts. Building writes into a caller's buffer and never overflows it.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |0 0|     STUN Message Type     |         Message Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Magic Cookie                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Transaction ID (96 bits)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *                     RFC 8489 §5, Figure 2
 *
 * ChannelData (RFC 8656 §12.4): 2-byte channel number 0x4000..0x7FFE,
 * 2-byte length, data; over TCP padded to a multiple of 4.
 */
#ifndef PARLEY_PROTO_STUN_H
#define PARLEY_PROTO_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TXID_LEN 12
#define STUN_FINGERPRINT_XOR 0x5354554eu
#define STUN_MI_LEN 20          /* HMAC-SHA1 */
#define STUN_MI256_LEN 32       /* HMAC-SHA256 (full length; RFC allows 16..32) */
#define STUN_MAX_PEERS 8        /* XOR-PEER-ADDRESS occurrences indexed */
#define STUN_MAX_UNKNOWN 8      /* unknown comprehension-required attributes kept */

/* RFC 8656 §12 narrowed channel numbers to 0x4000-0x4FFF; RFC 5766 allowed
 * up to 0x7FFE and deployed clients (coturn's among them) still use that
 * range, so the relay accepts it. 0x8000 and up stay invalid: their top
 * bit would collide with RTP/DTLS demultiplexing (RFC 7983). */
#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x7FFE
#define TURN_CHANNEL_HEADER_LEN 4

/* Methods (RFC 8489 §18.2, RFC 8656 §18.1, RFC 6062 §6.1). */
enum stun_method {
	STUN_BINDING = 0x001,
	TURN_ALLOCATE = 0x003,
	TURN_REFRESH = 0x004,
	TURN_SEND = 0x006,
	TURN_DATA = 0x007,
	TURN_CREATE_PERMISSION = 0x008,
	TURN_CHANNEL_BIND = 0x009,
	TURN_CONNECT = 0x00a,
	TURN_CONNECTION_BIND = 0x00b,
	TURN_CONNECTION_ATTEMPT = 0x00c,
};

/* Classes (RFC 8489 §5: the C1/C0 bits). */
enum stun_class {
	STUN_REQUEST = 0,
	STUN_INDICATION = 1,
	STUN_SUCCESS = 2,
	STUN_ERROR = 3,
};

/* Attribute types (RFC 8489 §18.3, RFC 8656 §18.2, RFC 6062, RFC 5780). */
enum stun_attr_type {
	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_CHANGE_REQUEST = 0x0003,       /* RFC 5780 */
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_ATTR_CHANNEL_NUMBER = 0x000C,
	STUN_ATTR_LIFETIME = 0x000D,
	STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
	STUN_ATTR_DATA = 0x0013,
	STUN_ATTR_REALM = 0x0014,
	STUN_ATTR_NONCE = 0x0015,
	STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
	STUN_ATTR_EVEN_PORT = 0x0018,
	STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
	STUN_ATTR_DONT_FRAGMENT = 0x001A,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
	STUN_ATTR_USERHASH = 0x001E,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_ATTR_RESERVATION_TOKEN = 0x0022,
	STUN_ATTR_PRIORITY = 0x0024,             /* ICE, RFC 8445 */
	STUN_ATTR_USE_CANDIDATE = 0x0025,        /* ICE */
	STUN_ATTR_PADDING = 0x0026,              /* RFC 5780 */
	STUN_ATTR_RESPONSE_PORT = 0x0027,        /* RFC 5780 */
	STUN_ATTR_CONNECTION_ID = 0x002A,        /* RFC 6062 */
	/* comprehension-optional (0x8000-0xFFFF) */
	STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
	STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
	STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
	STUN_ATTR_ICMP = 0x8004,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_ALTERNATE_SERVER = 0x8023,
	STUN_ATTR_FINGERPRINT = 0x8028,
	STUN_ATTR_ICE_CONTROLLED = 0x8029,
	STUN_ATTR_ICE_CONTROLLING = 0x802A,
	STUN_ATTR_RESPONSE_ORIGIN = 0x802B,      /* RFC 5780 */
	STUN_ATTR_OTHER_ADDRESS = 0x802C,        /* RFC 5780 */
};

/* Error codes used by the relay (RFC 8489 §14.8, RFC 8656 §18.2 / §19,
 * RFC 6062 §6.3). */
enum stun_error_code {
	STUN_ERR_TRY_ALTERNATE = 300,
	STUN_ERR_BAD_REQUEST = 400,
	STUN_ERR_UNAUTHORIZED = 401,
	STUN_ERR_FORBIDDEN = 403,
	STUN_ERR_UNKNOWN_ATTRIBUTE = 420,
	STUN_ERR_ALLOCATION_MISMATCH = 437,
	STUN_ERR_STALE_NONCE = 438,
	STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED = 440,
	STUN_ERR_WRONG_CREDENTIALS = 441,
	STUN_ERR_UNSUPPORTED_TRANSPORT = 442,
	STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH = 443,
	STUN_ERR_CONNECTION_ALREADY_EXISTS = 446,
	STUN_ERR_CONNECTION_TIMEOUT = 447,
	STUN_ERR_ALLOCATION_QUOTA = 486,
	STUN_ERR_SERVER_ERROR = 500,
	STUN_ERR_INSUFFICIENT_CAPACITY = 508,
};

/* Why a buffer was rejected. The relay counts drops by these reasons, so
 * every value has a name (stun_parse_error_name). */
enum stun_parse_error {
	STUN_OK = 0,
	STUN_E_SHORT,          /* fewer than 20 bytes, or a truncated attribute */
	STUN_E_NOT_STUN,       /* top two bits set, or wrong magic cookie */
	STUN_E_LENGTH,         /* message length not a multiple of 4 or not
	                          matching the buffer */
	STUN_E_ATTR_LENGTH,    /* an attribute runs past the message, or a known
	                          attribute has an impossible value length */
	STUN_E_AFTER_INTEGRITY,/* a forbidden attribute after MESSAGE-INTEGRITY(-SHA256) */
	STUN_E_AFTER_FINGERPRINT, /* anything after FINGERPRINT */
	STUN_E_FINGERPRINT,    /* FINGERPRINT present but wrong */
	STUN_E_TOO_MANY,       /* more than STUN_MAX_PEERS peer addresses */
	STUN_E__COUNT
};

/* An indexed message: offsets of known attributes' VALUES into the parsed
 * buffer (0 = absent; a value can never start at offset 0) and their
 * lengths. Only the first occurrence of each attribute counts
 * (RFC 8489 §14), except XOR-PEER-ADDRESS which may repeat. The buffer
 * must outlive the struct. */
struct stun_msg {
	uint16_t method;        /* enum stun_method (12 bits) */
	uint8_t cls;            /* enum stun_class */
	uint8_t txid[STUN_TXID_LEN];
	uint16_t len;           /* total bytes: 20 + message length */

	uint16_t username, username_len;
	uint16_t realm, realm_len;
	uint16_t nonce, nonce_len;
	uint16_t userhash;                  /* 32 bytes when present */
	uint16_t integrity;                 /* MESSAGE-INTEGRITY value (20 bytes) */
	uint16_t integrity256, integrity256_len; /* MESSAGE-INTEGRITY-SHA256 */
	uint16_t fingerprint;               /* value (4 bytes), already verified */
	uint16_t error_code, error_code_len;
	uint16_t lifetime;                  /* 4 bytes */
	uint16_t channel_number;            /* 4 bytes */
	uint16_t requested_transport;       /* 4 bytes */
	uint16_t requested_family;          /* 4 bytes */
	uint16_t additional_family;         /* 4 bytes */
	uint16_t even_port;                 /* 1 byte */
	uint16_t reservation_token;         /* 8 bytes */
	uint16_t dont_fragment;             /* present: non-zero (value empty; the
	                                       offset of its header + 4) */
	uint16_t data, data_len;
	uint16_t xor_mapped, xor_mapped_len;
	uint16_t xor_relayed, xor_relayed_len;
	uint16_t connection_id;             /* 4 bytes */
	uint16_t change_request;            /* 4 bytes */
	uint16_t software, software_len;
	uint16_t password_algorithm, password_algorithm_len;
	uint16_t peers[STUN_MAX_PEERS], peers_len[STUN_MAX_PEERS];
	uint8_t n_peers;

	/* Comprehension-required (0x0000-0x7FFF) attributes this parser does
	 * not know: the request must be answered with 420 listing them. */
	uint16_t unknown[STUN_MAX_UNKNOWN];
	uint8_t n_unknown;
};

/* True when buf starts like a STUN message (two zero bits and the magic
 * cookie). Cheap: for demultiplexing STUN from ChannelData. */
bool stun_is_stun(const uint8_t *buf, size_t len);

/* Parses and indexes one STUN message occupying exactly len bytes.
 * Verifies FINGERPRINT when present. Integrity is NOT checked here (that
 * needs the key: stun_check_integrity). Returns STUN_OK or a
 * stun_parse_error; msg is zeroed first and valid only on STUN_OK. */
int stun_parse(const uint8_t *buf, size_t len, struct stun_msg *msg);

/* Name of a parse error for logs and metrics ("short", "not_stun", ...). */
const char *stun_parse_error_name(int err);

/* For stream transports: how many bytes the frame starting at buf
 * occupies, given the first bytes. STUN: 20 + length. ChannelData: 4 +
 * length rounded up to 4 (RFC 8656 §12.5). Returns the frame length, 0 if
 * fewer than 4 bytes are available to tell, or -EINVAL when the first
 * bytes are neither STUN nor ChannelData (the stream is broken). */
int stun_frame_len(const uint8_t *buf, size_t avail);

/* Decodes an (XOR-)address attribute value at msg offset off with length
 * len (a value from struct stun_msg). xored selects XOR-*-ADDRESS
 * decoding (with the message's transaction id). Returns 0, or -EINVAL for
 * a bad family or length. */
int stun_get_addr(const uint8_t *buf, const struct stun_msg *msg,
		  uint16_t off, uint16_t len, bool xored, union addr *out);

/* Reads a 4-byte big-endian attribute value (LIFETIME, ...). */
uint32_t stun_get_u32(const uint8_t *buf, uint16_t off);

/* ERROR-CODE value → number (e.g. 401), or -EINVAL when malformed. */
int stun_get_error_code(const uint8_t *buf, const struct stun_msg *msg);

/* Checks MESSAGE-INTEGRITY (HMAC-SHA1) or, when present,
 * MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, preferred) of the message in
 * buf against key (for long-term credentials the key is
 * MD5(username ":" realm ":" password), RFC 8489 §9.2.2). The length
 * field is adjusted as §14.5/§14.6 say. The MAC is compared in constant
 * time. Returns true only when an integrity attribute is present and
 * matches. */
bool stun_check_integrity(const uint8_t *buf, const struct stun_msg *msg,
			  const uint8_t *key, size_t key_len);

/* The reason phrase the relay uses for a code ("Unauthorized", ...). */
const char *stun_error_reason(int code);

/* ---- building ---------------------------------------------------------- */

/* A message under construction in a caller's buffer. Once err is set,
 * every later call does nothing and stun_finish returns it. */
struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;   /* bytes written so far (header included) */
	int err;      /* 0 or -ENOSPC / -EINVAL */
};

/* Starts a message: header with method, class, magic cookie and txid. */
void stun_build(struct stun_builder *b, uint8_t *buf, size_t cap,
		uint16_t method, uint8_t cls, const uint8_t txid[STUN_TXID_LEN]);

/* Appends an attribute with a raw value (padded with zeros to 4). */
void stun_put(struct stun_builder *b, uint16_t type, const void *val, size_t len);
void stun_put_u32(struct stun_builder *b, uint16_t type, uint32_t v);
/* XOR-MAPPED/RELAYED/PEER-ADDRESS (xored) or MAPPED-ADDRESS and RFC 5780
 * addresses (not xored). */
void stun_put_addr(struct stun_builder *b, uint16_t type, const union addr *a, bool xored);
/* ERROR-CODE with code and reason (the standard one when reason is NULL). */
void stun_put_error(struct stun_builder *b, int code, const char *reason);
void stun_put_unknown(struct stun_builder *b, const uint16_t *types, size_t n);
/* MESSAGE-INTEGRITY over everything so far (HMAC-SHA1 with key). */
void stun_put_integrity(struct stun_builder *b, const uint8_t *key, size_t key_len);
/* MESSAGE-INTEGRITY-SHA256 (32 bytes). */
void stun_put_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t key_len);
/* FINGERPRINT over everything so far; must be last. */
void stun_put_fingerprint(struct stun_builder *b);
/* Returns the message length (header included) or the first error. */
int stun_finish(struct stun_builder *b);

/* ---- ChannelData ------------------------------------------------------- */

/* True for a first byte pair in TURN_CHANNEL_MIN..TURN_CHANNEL_MAX. */
bool turn_is_channel_data(const uint8_t *buf, size_t len);

/* Parses ChannelData occupying len bytes (a datagram, or one TCP frame
 * from stun_frame_len). On success sets *channel and *data_len (the
 * payload follows the 4-byte header) and returns 0; -EINVAL when the
 * channel is out of range or the length field exceeds len - 4. Trailing
 * padding is allowed. */
int turn_channel_parse(const uint8_t *buf, size_t len, uint16_t *channel,
		       uint16_t *data_len);

/* Writes the 4-byte ChannelData header at hdr. */
void turn_channel_header(uint8_t hdr[TURN_CHANNEL_HEADER_LEN], uint16_t channel,
			 uint16_t data_len);

#endif
