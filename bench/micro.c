/* parley-micro: nanoseconds per operation of the relay's hot functions.
 *
 *   STUN parse of an authenticated Allocate, integrity check, building a
 *   signed and fingerprinted Allocate answer, ChannelData parse, and the
 *   allocation lookup (the per-packet hash probe plus channel scan) on
 *   one thread and on every CPU at once (each thread its own table, as
 *   each worker owns its own).
 *
 * Prints a Markdown table and, with --json FILE, the same as JSON.
 * Reports; asserts nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/cred.h"
#include "proto/stun.h"
#include "src/common/clock.h"
#include "src/sn/alloc.h"

#define N_ALLOCS 20000

static volatile uint64_t sink;
static uint64_t scale = 1; /* --quick divides every count by 20 */

struct result {
	const char *name;
	double ns;
	double mops;
};

static struct result results[16];
static int n_results;

static void report(const char *name, uint64_t ops, uint64_t ns, int threads)
{
	struct result *r = &results[n_results++];

	r->name = name;
	r->ns = (double)ns / (double)ops * threads;
	r->mops = (double)ops / ((double)ns / 1e9) / 1e6;
}

static uint8_t key[CRED_KEY_LEN];
static uint8_t request[512];
static int request_len;

static void make_request(void)
{
	static const uint8_t txid[STUN_TXID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct stun_builder b;
	uint8_t transport[4] = { 17, 0, 0, 0 };

	cred_longterm_key("alice", 5, "parley", 6, "wonderland", 10, key);
	stun_build(&b, request, sizeof(request), TURN_ALLOCATE, STUN_REQUEST, txid);
	stun_put(&b, STUN_ATTR_REQUESTED_TRANSPORT, transport, 4);
	stun_put_u32(&b, STUN_ATTR_LIFETIME, 600);
	stun_put(&b, STUN_ATTR_USERNAME, "alice", 5);
	stun_put(&b, STUN_ATTR_REALM, "parley", 6);
	stun_put(&b, STUN_ATTR_NONCE, "0123456789abcdef0123456789abcdef", 32);
	stun_put_integrity(&b, key, sizeof(key));
	stun_put_fingerprint(&b);
	request_len = stun_finish(&b);
}

static void bench_proto(void)
{
	struct stun_msg m;
	uint64_t t0, n;
	union addr a;
	uint8_t out[512];
	uint8_t cd[176];

	make_request();
	n = 2000000 / scale;
	t0 = clock_mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		sink += (uint64_t)stun_parse(request, (size_t)request_len, &m);
		sink += m.nonce;
	}
	report("STUN parse (Allocate, 8 attributes, FINGERPRINT verified)", n, clock_mono_ns() - t0, 1);

	n = 300000 / scale;
	t0 = clock_mono_ns();
	for (uint64_t i = 0; i < n; i++)
		sink += stun_check_integrity(request, &m, key, sizeof(key));
	report("MESSAGE-INTEGRITY check (HMAC-SHA1)", n, clock_mono_ns() - t0, 1);

	addr_parse("192.0.2.1:49152", 0, &a);
	n = 300000 / scale;
	t0 = clock_mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		struct stun_builder b;

		stun_build(&b, out, sizeof(out), TURN_ALLOCATE, STUN_SUCCESS, m.txid);
		stun_put_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, &a, true);
		stun_put_u32(&b, STUN_ATTR_LIFETIME, 600);
		stun_put_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &a, true);
		stun_put_integrity(&b, key, sizeof(key));
		stun_put_fingerprint(&b);
		sink += (uint64_t)stun_finish(&b);
	}
	report("Allocate answer build (MI + FINGERPRINT)", n, clock_mono_ns() - t0, 1);

	turn_channel_header(cd, 0x4001, 172);
	n = 20000000 / scale;
	t0 = clock_mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint16_t ch, len;

		sink += (uint64_t)turn_channel_parse(cd, sizeof(cd), &ch, &len) + ch + len;
	}
	report("ChannelData parse", n, clock_mono_ns() - t0, 1);
}

struct lookup_arg {
	uint64_t ops, ns;
	int seed;
};

/* The per-packet lookup: 5-tuple hash probe, then the channel by number. */
static void *lookup_thread(void *p)
{
	struct lookup_arg *arg = p;
	struct alloc_table t;
	union addr *clients = calloc(N_ALLOCS, sizeof(*clients));
	union addr peer;
	uint64_t x = (uint64_t)arg->seed * 0x9E3779B97F4A7C15ull + 1, t0;
	uintptr_t local = 0; /* per thread: a shared sink would bounce a cache line */

	alloc_table_init(&t, N_ALLOCS, (uint64_t)arg->seed);
	addr_parse("192.0.2.200:5000", 0, &peer);
	for (uint32_t i = 0; i < N_ALLOCS; i++) {
		struct alloc *a;
		char s[64];

		snprintf(s, sizeof(s), "198.51.100.%u:%u", i % 250 + 1, 1024 + i);
		addr_parse(s, 0, &clients[i]);
		a = alloc_insert(&t, 17, 0, &clients[i]);
		alloc_channel_bind(a, 0x4000, &peer, 0);
	}
	arg->ops = 10000000 / scale;
	t0 = clock_mono_ns();
	for (uint64_t i = 0; i < arg->ops; i++) {
		struct alloc *a;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a = alloc_find(&t, 17, 0, &clients[x % N_ALLOCS]);
		local += (uintptr_t)alloc_channel_by_number(a, 0x4000, 1);
	}
	arg->ns = clock_mono_ns() - t0;
	sink += local;
	alloc_table_fini(&t);
	free(clients);
	return NULL;
}

static void bench_lookup(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct lookup_arg one = { .seed = 1 }, *many;
	pthread_t *th;
	uint64_t ops = 0, ns = 0;

	lookup_thread(&one);
	report("allocation + channel lookup, 1 thread (20k allocations)", one.ops, one.ns, 1);

	if (ncpu < 1)
		ncpu = 1;
	many = calloc((size_t)ncpu, sizeof(*many));
	th = calloc((size_t)ncpu, sizeof(*th));
	for (long i = 0; i < ncpu; i++) {
		many[i].seed = (int)i + 2;
		pthread_create(&th[i], NULL, lookup_thread, &many[i]);
	}
	for (long i = 0; i < ncpu; i++) {
		pthread_join(th[i], NULL);
		ops += many[i].ops;
		ns = many[i].ns > ns ? many[i].ns : ns;
	}
	report(ncpu > 1 ? "allocation + channel lookup, all CPUs (aggregate)"
			: "allocation + channel lookup, all CPUs (1 CPU)",
	       ops, ns, (int)ncpu);
	free(many);
	free(th);
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			scale = 20;
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: parley-micro [--quick] [--json FILE]\n");
			return 2;
		}
	}
	bench_proto();
	bench_lookup();
	printf("| operation | ns/op | Mops/s |\n| --- | ---: | ---: |\n");
	for (int i = 0; i < n_results; i++)
		printf("| %s | %.1f | %.2f |\n", results[i].name, results[i].ns, results[i].mops);
	if (json && (f = fopen(json, "w"))) {
		fprintf(f, "[");
		for (int i = 0; i < n_results; i++)
			fprintf(f, "%s{\"op\":\"%s\",\"ns_per_op\":%.2f,\"mops\":%.3f}", i ? "," : "",
				results[i].name, results[i].ns, results[i].mops);
		fprintf(f, "]\n");
		fclose(f);
	}
	return 0;
}
