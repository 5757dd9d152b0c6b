/* mix: picks the kernel table once, by what the build compiled
 * (MIX_HAVE_<ISA>, set by mixer/meson.build for each SIMD library it
 * built) and what the CPU reports. */
#include <string.h>

#include "mixer/mix_impl.h"

struct mix_isa {
	const struct mix_ops *ops;
	int (*cpu_runs)(void);
};

#if defined(__x86_64__) || defined(__i386__)
/* __builtin_cpu_supports also checks that the OS saves the wider
 * registers (XCR0), so an AVX-512 CPU under a kernel or hypervisor that
 * disabled it is reported as without. */
static int cpu_sse2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse2");
}

static int cpu_sse41(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.1");
}

static int cpu_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

static int cpu_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl");
}
#endif

static int cpu_any(void)
{
	return 1;
}

/* Slowest first; mix_ops_best takes the last one the CPU runs. AVX-512
 * is last because it measured fastest for every kernel where it was
 * tried (bench/mix_bench.c on an AMD EPYC with full-width AVX-512: 1.3x
 * to 2x AVX2; masked tails instead of scalar ones help 960-sample
 * frames). On Intel parts that lower their clock for 512-bit code it may
 * not win; an operator can pin "avx2" through mix_ops_get. */
static const struct mix_isa isas[] = {
	{&mix_ops_scalar, cpu_any},
#ifdef MIX_HAVE_SSE2
	{&mix_ops_sse2, cpu_sse2},
#endif
#ifdef MIX_HAVE_SSE41
	{&mix_ops_sse41, cpu_sse41},
#endif
#ifdef MIX_HAVE_AVX2
	{&mix_ops_avx2, cpu_avx2},
#endif
#ifdef MIX_HAVE_AVX512
	{&mix_ops_avx512, cpu_avx512},
#endif
};

#define N_ISAS (sizeof(isas) / sizeof(isas[0]))

size_t mix_ops_list(const struct mix_ops **out, size_t max)
{
	size_t count = 0;

	for (size_t i = 0; i < N_ISAS; i++) {
		if (!isas[i].cpu_runs())
			continue;
		if (count < max)
			out[count] = isas[i].ops;
		count++;
	}
	return count;
}

const struct mix_ops *mix_ops_get(const char *name)
{
	for (size_t i = 0; i < N_ISAS; i++)
		if (!strcmp(isas[i].ops->name, name))
			return isas[i].cpu_runs() ? isas[i].ops : NULL;
	return NULL;
}

const struct mix_ops *mix_ops_best(void)
{
	/* Every thread that races here computes the same pointer; the atomics
	 * only make the benign race a defined one. */
	static const struct mix_ops *best;
	const struct mix_ops *ops = __atomic_load_n(&best, __ATOMIC_ACQUIRE);

	if (!ops) {
		const struct mix_ops *all[N_ISAS];
		size_t count = mix_ops_list(all, N_ISAS);

		ops = all[count - 1];
		__atomic_store_n(&best, ops, __ATOMIC_RELEASE);
	}
	return ops;
}
