/* clock: the time sources a module is handed (STYLE: effects are passed
 * in). Real programs use clock_mono_ms / clock_real_s; tests pass their
 * own values instead of sleeping. */
#ifndef PARLEY_COMMON_CLOCK_H
#define PARLEY_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000u;
}

/* Realtime nanoseconds: the clock the kernel's SO_TIMESTAMPNS uses. */
static inline uint64_t clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Unix seconds (for credential and nonce expiry, which other hosts read). */
static inline uint64_t clock_real_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

#endif
