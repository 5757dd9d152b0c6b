/* client: one simulated TURN client (RFC 8656) of parley-load's relay
 * mode, as a state machine the worker loop (engine.c) drives.
 *
 * A call is two clients on the same worker, numbered 2k and 2k+1. Each
 * allocates with long-term credentials (RFC 8489 §9.2: a first request
 * without them draws 401 with REALM and NONCE; 438 Stale Nonce is
 * answered by retrying with the new nonce), and once both have relayed
 * addresses each binds a channel to the other's (or, with Send
 * indications, installs a permission for it). When both are bound the
 * call is up: each sends an RTP-shaped stream to the other through its
 * relay and accounts for what arrives from the other.
 *
 *   IDLE --start--> [CONNECTING (TCP)] --> ALLOCATING --> ALLOCATED
 *     --both allocated--> BINDING --> READY --both ready--> media
 *   any set-up failure --> FAILED (and the other client of the call too)
 *
 * With TCP allocations (RFC 6062) both legs allocate TCP relays and
 * install a permission for the other's relayed address; then the even
 * client Connects to the odd one's relayed address, the odd one learns of
 * the connection from a ConnectionAttempt, and each opens a data
 * connection and sends ConnectionBind on it. When both data connections
 * are bound the call is up, and the media packets below travel on them
 * with RFC 4571's 16-bit length in front.
 *
 * Requests are retransmitted as RFC 8489 §6.2.1 says (UDP: RTO 500 ms,
 * doubled, 7 transmissions, then 16 RTO; TCP: once, 39.5 s); one
 * transaction at a time per client. Allocations are refreshed at half
 * their lifetime, channels and permissions at half a permission's (a
 * ChannelBind refresh also refreshes the permission it installed, which
 * lasts 300 s where the channel lasts 600 s); --refresh overrides both.
 *
 * Media packets (the payload inside ChannelData or a Send indication):
 *
 *   0               1               2               3
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |V=2|P|X|  CC   |M|   PT=111    |       sequence number         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            timestamp (+960 per packet: 20 ms at 48 kHz)       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 SSRC = stream id (sender's client id + 1)     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         send time, CLOCK_MONOTONIC ns, 64 bits big-endian     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  zero padding up to --size bytes              |
 *            RTP header: RFC 3550 §5.1; the rest is parley-load's
 *
 * Each stream's frame (ChannelData or Send-indication header + packet)
 * is built once; sending patches 14 bytes. */
#ifndef PARLEY_LOAD_CLIENT_H
#define PARLEY_LOAD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/addr.h"
#include "proto/cred.h"
#include "proto/stun.h"
#include "src/load/stats.h"

#define CLIENT_REQ_CAP 768     /* one request: the longest we build (a 266-byte
                                  username, realm, nonce, v6 peer) fits */
#define CLIENT_TEXT_CAP 128    /* realm and nonce kept (longer: failure) */
#define CLIENT_RTP_HEADER 12
#define CLIENT_PACKET_MIN 28   /* RTP header + send time + 8 */
#define CLIENT_PACKET_MAX 1200
#define CLIENT_FRAME_MAX (48 + CLIENT_PACKET_MAX + 4) /* Send indication to v6 + pad */
#define CLIENT_MEDIA_SLOTS 2   /* UDP frames per stream that may be in flight */

/* Send tags (the generation field of a send's user_data). */
#define CLIENT_TAG_REQ 0
#define CLIENT_TAG_MEDIA 1     /* + slot */

struct engine;

enum client_state {
	CLIENT_IDLE = 0,    /* before its start time (--ramp) */
	CLIENT_CONNECTING,  /* TCP connect in flight */
	CLIENT_ALLOCATING,
	CLIENT_ALLOCATED,   /* has a relayed address; waits for the other's */
	CLIENT_BINDING,     /* ChannelBind / CreatePermission in flight */
	CLIENT_READY,       /* bound; media flows once the other is too */
	CLIENT_FAILED,
};

/* What the transaction in flight (or wanted next) is for. */
enum client_job {
	JOB_NONE = 0,
	JOB_ALLOCATE,
	JOB_BIND,           /* ChannelBind or CreatePermission, first time */
	JOB_REFRESH,        /* Refresh of the allocation */
	JOB_REBIND,         /* refresh of the channel or permission */
	JOB_DEALLOCATE,     /* Refresh with LIFETIME 0, at the end; never retried */
	JOB_CONNECT,        /* TCP allocations: Connect to the other's relayed address */
	JOB_CONNBIND,       /* ConnectionBind, sent on the data connection */
};

struct client {
	uint32_t id;                /* index in the engine (also its socket's) */
	uint32_t ssrc;              /* stream id of what it sends */
	uint8_t state;              /* enum client_state */
	uint8_t job;                /* enum client_job of the transaction in flight */
	uint8_t want;               /* bit (1 << job): jobs waiting their turn */
	bool txn_active;            /* a transaction is waiting for its answer */
	bool txn_authed;            /* ... and was sent with credentials */
	uint8_t tries;              /* transmissions of it so far */
	uint8_t stale_left;         /* 438 retries left for it */
	bool have_auth;             /* realm, nonce and key are known */
	bool has_alloc;             /* the server holds an allocation of ours */
	bool media_on;              /* the call is up: the stream is sending */
	uint8_t slot_busy;          /* UDP media slots in flight (bit per slot) */
	uint8_t req_inflight;       /* UDP sends of req in flight */
	uint16_t channel;           /* channel number to the other's relay */
	uint16_t req_len;
	uint16_t frame_len;         /* media frame bytes, headers and padding included */
	uint16_t payload_off;       /* where the RTP packet starts in the frame */
	uint16_t seq;               /* next RTP sequence number */
	uint32_t rtp_ts;            /* next RTP timestamp */
	uint32_t rto_ms;            /* current retransmission timeout */
	uint64_t next_send_ns;      /* when the next media packet is due */
	uint64_t start_ms;          /* IDLE: when to start */
	uint64_t txn_due_ms;        /* retransmission or failure of the transaction */
	uint64_t refresh_ms;        /* allocation refresh due (0 = none) */
	uint64_t rebind_ms;         /* channel/permission refresh due (0 = none) */
	uint64_t retry_ms;          /* a wanted job waits for the request buffer */
	union addr relayed;         /* our XOR-RELAYED-ADDRESS */
	uint32_t conn_id;           /* TCP allocations: CONNECTION-ID to bind */
	bool data_open;             /* ... the data connection was started */
	bool data_bound;            /* ... and its ConnectionBind succeeded */
	uint8_t txid[STUN_TXID_LEN];
	uint8_t key[CRED_KEY_LEN];  /* long-term key for realm */
	uint8_t realm_len, nonce_len;
	char realm[CLIENT_TEXT_CAP];
	char nonce[CLIENT_TEXT_CAP];
	uint8_t req[CLIENT_REQ_CAP]; /* the request in flight (retransmitted as is) */
	struct stats_stream rx;     /* the stream arriving from the other client */
};

/* Sets up client id (ssrc = stream id) to start at start_ms. */
void client_init(struct client *c, uint32_t id, uint32_t ssrc, uint64_t start_ms);

/* The client's control timer fired (start, retransmission, refresh). */
void client_on_timer(struct engine *e, struct client *c);

/* Its media timer fired: sends what is due. */
void client_on_media_timer(struct engine *e, struct client *c);

/* TCP connect finished with res (0 or -errno). */
void client_on_connected(struct engine *e, struct client *c, int res);

/* A datagram (UDP) or one whole frame (TCP) from the server. p is only
 * valid during the call. */
void client_on_packet(struct engine *e, struct client *c, const uint8_t *p, uint32_t len);

/* TCP allocations: the data connection's connect finished with res. */
void client_on_data_connected(struct engine *e, struct client *c, int res);

/* TCP allocations: one frame from the data connection (STUN before the
 * ConnectionBind succeeded, RFC 4571-framed media after). */
void client_on_data(struct engine *e, struct client *c, const uint8_t *p, uint32_t len);

/* A UDP send with tag finished with res (bytes or -errno). */
void client_on_sent(struct engine *e, struct client *c, uint32_t tag, int res);

/* The TCP connection is gone (err: -errno or 0 for an orderly close). */
void client_on_closed(struct engine *e, struct client *c, int err);

/* Set-up time is over: a call that is not up now counts as failed. */
void client_setup_over(struct engine *e, struct client *c);

/* End of the run: asks the server to delete the allocation (Refresh
 * LIFETIME 0, sent once, never retried). */
void client_deallocate(struct engine *e, struct client *c);

#endif
