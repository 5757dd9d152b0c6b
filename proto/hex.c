/* hex: see hex.h. */
#include "proto/hex.h"

#include <errno.h>

static const char hex_digits[16] = "0123456789abcdef";

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0xf];
	}
}

static int hex_value(char c, bool any_case)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (any_case && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, size_t out_len, uint8_t *out, bool any_case)
{
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_value(in[2 * i], any_case);
		int lo = hex_value(in[2 * i + 1], any_case);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
