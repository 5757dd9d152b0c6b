/* libFuzzer target for proto/cert: the decoder every supernode and peer
 * applies to certificates from the network. Build:
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. proto/cert.c \
 *         proto/sig.c proto/cred.c proto/hex.c tests/fuzz/cert_fuzz.c -lcrypto
 * Crashes, sanitizer reports and the invariants asserted below are bugs. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* RFC 8032 TEST 1's public key, which signed the known-answer
	 * certificate in tests/unit/cert_test.c: seeded with that, the fuzzer
	 * reaches the accepting path too. Anything else it makes must be
	 * refused, and only as a bad signature: the times are good (now =
	 * issued) and the form was checked by decode. */
	static const uint8_t issuer_pub[SIG_PUB_LEN] = {
	    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
	    0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
	    0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
	};
	uint8_t buf[CERT_MAX_LEN];
	struct cert c;
	int n, ret;

	if (cert_decode(data, size, &c) != 0)
		return 0;

	/* What decodes is well formed and the name is a C string that says
	 * exactly what was signed. */
	if (size < CERT_MIN_LEN || size > CERT_MAX_LEN || c.version != CERT_VERSION ||
	    !cert_user_valid(c.user, c.user_len) || strlen(c.user) != c.user_len ||
	    c.expires <= c.issued)
		abort();

	/* One encoding per certificate: re-encoding gives the input back,
	 * which is what lets verify check the signature over it. */
	n = cert_encode(&c, buf, sizeof(buf));
	if (n < 0 || (size_t)n != size || memcmp(buf, data, size) != 0)
		abort();

	ret = cert_verify(&c, issuer_pub, c.issued);
	if (ret != 0 && ret != -EBADMSG && ret != -EIO)
		abort();
	return 0;
}
