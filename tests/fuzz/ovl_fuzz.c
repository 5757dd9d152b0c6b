/* libFuzzer target for proto/ovl: the parser every overlay peer applies to
 * untrusted bytes. Build:
 *   clang -fsanitize=fuzzer,address,undefined -I. proto/ovl.c proto/addr.c \
 *         tests/fuzz/ovl_fuzz.c -lcrypto
 * Crashes, sanitizer reports and the invariants asserted below are bugs. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/ovl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovl_msg m;
	union addr a;
	int n = ovl_frame_len(data, size);

	if (n > 0 && (n < OVL_HEADER_LEN || n > OVL_MAX_LEN))
		abort();
	if (ovl_parse(data, size, &m))
		return 0;
	if (m.len != size)
		abort();
	/* Every attribute found lies inside the buffer. */
	for (int i = 0; i < OVL_A__MAX; i++)
		if (m.off[i] && (m.off[i] < OVL_HEADER_LEN + 4 || (size_t)m.off[i] + m.alen[i] > size))
			abort();
	for (unsigned i = 0; i < m.n_addrs; i++)
		(void)ovl_get_addr(data, &m, i, &a);
	(void)ovl_get_u16(data, &m, OVL_A_ERROR_CODE);
	(void)ovl_get_u64(data, &m, OVL_A_EXPIRES);
	return 0;
}
