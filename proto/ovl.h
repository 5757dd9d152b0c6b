/* ovl: parley's overlay messages, the binary format every control
 * exchange of the network uses (client <-> login server inside TLS 1.3;
 * later client <-> supernode and supernode <-> supernode). Pure functions
 * over byte buffers, so they are unit-tested and fuzzed like the STUN
 * codec.
 *
 * A message is an 8-byte header and a list of attributes:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  magic 0xC7   |     type      |     length of the attributes  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                          request id                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  attribute type              |  attribute length (bytes)      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  value (length bytes, no padding) ...          next attribute |
 *
 * The magic byte (0xC7) is neither STUN (first two bits 00) nor
 * ChannelData (01), so one TCP port could carry both; over a stream the
 * header's length is the framing. An answer carries its request's id.
 * Unknown attributes are skipped (a newer peer may add some); a
 * known attribute with a wrong length makes the whole message invalid. */
#ifndef PARLEY_PROTO_OVL_H
#define PARLEY_PROTO_OVL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"

#define OVL_MAGIC 0xC7
#define OVL_HEADER_LEN 8
#define OVL_MAX_LEN (OVL_HEADER_LEN + 8192)  /* longest message accepted */
#define OVL_MAX_ADDRS 32                     /* ADDR attributes indexed per message */
#define OVL_MAX_NODES 32                     /* NODE attributes indexed per message */
#define OVL_NODE_V4_LEN 20                   /* NODE with an IPv4 address */
#define OVL_NODE_V6_LEN 32                   /* NODE with an IPv6 address */

enum ovl_type {
	/* client -> login server */
	OVL_LOGIN_PASSWORD = 1,  /* USER, PASSWORD, DEVICE_KEY: registers the device */
	OVL_LOGIN_DEVICE = 2,    /* USER, DEVICE_KEY: asks for a challenge */
	OVL_LOGIN_PROOF = 3,     /* SIGNATURE over the challenge (cert.h) */
	OVL_BOOTSTRAP_GET = 4,   /* no attributes */
	/* supernode <-> supernode membership (SWIM), over UDP */
	OVL_SWIM_PING = 16,      /* SEQ, NODE (the sender), NODE* (gossip) */
	OVL_SWIM_ACK = 17,       /* SEQ, NODE (the sender), NODE* (gossip) */
	OVL_SWIM_PING_REQ = 18,  /* SEQ, NODE (the sender), TARGET, NODE* (gossip) */
	/* login server -> client */
	OVL_CHALLENGE = 64,      /* NONCE */
	OVL_LOGIN_OK = 65,       /* CERT, TURN_USER, TURN_PASSWORD, EXPIRES (TURN),
	                            TIME (server clock), ADDR* (bootstrap supernodes) */
	OVL_BOOTSTRAP = 66,      /* ADDR* */
	/* either way */
	OVL_ERROR = 127,         /* ERROR_CODE, TEXT */
};

enum ovl_attr {
	OVL_A_USER = 1,           /* 1..64 bytes */
	OVL_A_PASSWORD = 2,       /* 1..1024 bytes */
	OVL_A_DEVICE_KEY = 3,     /* 32 bytes: Ed25519 public key */
	OVL_A_NONCE = 4,          /* 32 bytes */
	OVL_A_SIGNATURE = 5,      /* 64 bytes: Ed25519 */
	OVL_A_CERT = 6,           /* an encoded certificate (cert.h), 1..512 bytes */
	OVL_A_TURN_USER = 7,      /* 1..256 bytes */
	OVL_A_TURN_PASSWORD = 8,  /* 1..256 bytes */
	OVL_A_EXPIRES = 9,        /* 8 bytes: Unix seconds */
	OVL_A_TIME = 10,          /* 8 bytes: Unix seconds */
	OVL_A_ADDR = 11,          /* 8 (IPv4) or 20 (IPv6) bytes: family, 0, port, IP */
	OVL_A_ERROR_CODE = 12,    /* 2 bytes */
	OVL_A_TEXT = 13,          /* 0..512 bytes of UTF-8 */
	OVL_A_SEQ = 14,           /* 4 bytes: a probe's sequence number */
	OVL_A_NODE = 15,          /* 20 or 32 bytes: a supernode and what is known of it:
	                             id (8), incarnation (4), state (1), family (1: 1 = IPv4,
	                             2 = IPv6), port (2), 0 (2), IP (4 or 16) */
	OVL_A_TARGET = 16,        /* as NODE: the supernode a PING_REQ asks to probe */
	OVL_A__MAX,
};

/* Error codes (OVL_A_ERROR_CODE), in the spirit of STUN's. */
enum ovl_error {
	OVL_E_BAD_REQUEST = 400,     /* malformed or unexpected message */
	OVL_E_UNAUTHORIZED = 401,    /* wrong user name or password */
	OVL_E_UNKNOWN_DEVICE = 403,  /* device not registered: log in with the password */
	OVL_E_TOO_MANY = 429,        /* rate limit or device limit */
	OVL_E_SERVER = 500,
	OVL_E_UNAVAILABLE = 503,
};

/* A parsed message: offsets (from the buffer's start) and lengths of the
 * attributes it carries; 0 offset = absent. */
struct ovl_msg {
	uint8_t type;                      /* enum ovl_type */
	uint32_t id;                       /* request id */
	uint16_t len;                      /* total bytes, header included */
	uint16_t off[OVL_A__MAX];          /* first occurrence of each known attribute */
	uint16_t alen[OVL_A__MAX];
	uint8_t n_addrs;                   /* ADDR attributes, in order */
	uint16_t addrs[OVL_MAX_ADDRS];     /* their offsets */
	uint8_t n_nodes;                   /* NODE attributes, in order (the first is
	                                      also off[OVL_A_NODE]) */
	uint16_t nodes[OVL_MAX_NODES];     /* their offsets */
};

/* Bytes a complete message at buf (avail bytes) takes: > 0 when the
 * header is there (the message may still be incomplete), 0 when fewer
 * than OVL_HEADER_LEN bytes are available, -EBADMSG when it is not an
 * overlay message or is longer than OVL_MAX_LEN. For stream framing. */
int ovl_frame_len(const uint8_t *buf, size_t avail);

/* Parses one whole message (exactly len bytes). Returns 0, or -EBADMSG
 * (bad magic, length, truncated or malformed attribute, a known
 * attribute of the wrong size). */
int ovl_parse(const uint8_t *buf, size_t len, struct ovl_msg *m);

/* Attribute accessors on a parsed message. */
static inline bool ovl_has(const struct ovl_msg *m, enum ovl_attr a)
{
	return m->off[a] != 0;
}
uint16_t ovl_get_u16(const uint8_t *buf, const struct ovl_msg *m, enum ovl_attr a);
uint64_t ovl_get_u64(const uint8_t *buf, const struct ovl_msg *m, enum ovl_attr a);
/* Decodes the i-th ADDR. Returns 0 or -EINVAL. */
int ovl_get_addr(const uint8_t *buf, const struct ovl_msg *m, unsigned i, union addr *out);

/* Builds a message into a caller buffer; errors are sticky and reported
 * by ovl_finish. */
struct ovl_builder {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};

void ovl_build(struct ovl_builder *b, uint8_t *buf, size_t cap, enum ovl_type type, uint32_t id);
void ovl_put(struct ovl_builder *b, enum ovl_attr a, const void *val, size_t len);
void ovl_put_str(struct ovl_builder *b, enum ovl_attr a, const char *s);
void ovl_put_u16(struct ovl_builder *b, enum ovl_attr a, uint16_t v);
void ovl_put_u64(struct ovl_builder *b, enum ovl_attr a, uint64_t v);
void ovl_put_addr(struct ovl_builder *b, const union addr *a);
/* Writes the length. Returns the message's bytes, or -ENOSPC. */
int ovl_finish(struct ovl_builder *b);

/* A supernode as NODE and TARGET carry it. */
struct ovl_node {
	uint64_t id;             /* random at the node's start: a restarted node is new */
	uint32_t incarnation;    /* raised by the node itself to refute a suspicion */
	uint8_t state;           /* the sender's view: 0 alive, 1 suspect, 2 dead, 3 left */
	union addr addr;         /* its overlay (UDP) address */
};

/* Decodes the NODE or TARGET value of vlen bytes at p. Returns 0 or -EINVAL. */
int ovl_node_decode(const uint8_t *p, size_t vlen, struct ovl_node *out);
/* The i-th NODE of m. Returns 0 or -EINVAL. */
int ovl_get_node(const uint8_t *buf, const struct ovl_msg *m, unsigned i, struct ovl_node *out);
/* Appends a NODE (or, with a == OVL_A_TARGET, a TARGET). */
void ovl_put_node(struct ovl_builder *b, enum ovl_attr a, const struct ovl_node *n);

/* An OVL_ERROR answer to request id. Returns bytes or -ENOSPC. */
int ovl_build_error(uint8_t *buf, size_t cap, uint32_t id, enum ovl_error code, const char *text);

#endif
