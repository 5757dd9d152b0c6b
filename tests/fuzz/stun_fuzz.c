/* libFuzzer target for proto/stun: every reader the relay applies to
 * untrusted bytes. Build:
 *   clang -fsanitize=fuzzer,address,undefined -I. proto/stun.c \
 *         tests/fuzz/stun_fuzz.c -lcrypto
 * Crashes, sanitizer reports and the invariants asserted below are bugs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed message must describe only bytes inside the buffer. */
static void check_span(uint16_t off, size_t len, size_t total)
{
	if (off != 0 && (off < STUN_HEADER_LEN + 4 || (size_t)off + len > total))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[] = "fuzz-key";
	struct stun_msg m;
	union addr a;
	uint16_t ch, dl;
	int n;

	/* A well-formed start must frame; a STUN length that is not a
	 * multiple of 4 is a broken stream and may be refused. */
	n = stun_frame_len(data, size);
	if (n < 0 && (turn_is_channel_data(data, size) ||
		      (stun_is_stun(data, size) && data[3] % 4 == 0)))
		abort();

	if (turn_channel_parse(data, size, &ch, &dl) == 0 &&
	    ((size_t)dl + TURN_CHANNEL_HEADER_LEN > size ||
	     ch < TURN_CHANNEL_MIN || ch > TURN_CHANNEL_MAX))
		abort();

	if (stun_parse(data, size, &m) != STUN_OK)
		return 0;
	if (m.len != size || m.n_peers > STUN_MAX_PEERS ||
	    m.n_unknown > STUN_MAX_UNKNOWN)
		abort();
	check_span(m.username, m.username_len, size);
	check_span(m.realm, m.realm_len, size);
	check_span(m.nonce, m.nonce_len, size);
	check_span(m.data, m.data_len, size);
	check_span(m.integrity, STUN_MI_LEN, size);
	check_span(m.integrity256, m.integrity256_len, size);
	check_span(m.fingerprint, 4, size);
	check_span(m.lifetime, 4, size);
	check_span(m.userhash, 32, size);

	(void)stun_get_addr(data, &m, m.xor_mapped, m.xor_mapped_len, true, &a);
	(void)stun_get_addr(data, &m, m.xor_relayed, m.xor_relayed_len, true, &a);
	for (int i = 0; i < m.n_peers; i++) {
		check_span(m.peers[i], m.peers_len[i], size);
		(void)stun_get_addr(data, &m, m.peers[i], m.peers_len[i], true, &a);
	}
	if (m.lifetime != 0)
		(void)stun_get_u32(data, m.lifetime);
	(void)stun_get_error_code(data, &m);
	(void)stun_check_integrity(data, &m, key, sizeof(key) - 1);
	return 0;
}
