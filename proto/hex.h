/* hex: base-16 text of binary values (nonces, keys, key files). */
#ifndef PARLEY_PROTO_HEX_H
#define PARLEY_PROTO_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2 * len lower-case hex digits of in to out (no NUL). */
void hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes 2 * out_len hex digits at in into out. Lower case only unless
 * any_case: a value compared as text (a nonce) must have one spelling;
 * one compared decoded (a key an operator pasted) need not. Returns 0 or
 * -EINVAL. */
int hex_decode(const char *in, size_t out_len, uint8_t *out, bool any_case);

#endif
