/* flags: parsing the numbers programs take on their command lines, with
 * the same rules everywhere: decimal only, no sign, inside [lo, hi]. The
 * caller names the flag in its one-line error. */
#ifndef PARLEY_COMMON_FLAGS_H
#define PARLEY_COMMON_FLAGS_H

#include <stdint.h>

/* Parses s as a decimal in [lo, hi] into *out. Returns 0 or -EINVAL
 * (empty, signed, trailing junk, out of range). */
int flags_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);

#endif
