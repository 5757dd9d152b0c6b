/* Unit tests for proto/sig. Known answers are RFC 8032 §7.1 TEST 1-3
 * (Ed25519), as published. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/sig.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void unhex(const char *s, uint8_t *out, size_t len)
{
	cr_assert_eq(strlen(s), 2 * len, "%s", s);
	for (size_t i = 0; i < len; i++) {
		unsigned int v;

		cr_assert_eq(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void hex(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/* ------------------------------------------------------------------ */
/* RFC 8032 §7.1 known answers                                         */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name, *seed, *pub, *msg, *sig;
} rfc8032[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

Test(sig, rfc8032_known_answers)
{
	for (size_t t = 0; t < ARRAY_LEN(rfc8032); t++) {
		uint8_t seed[SIG_SEED_LEN], pub[SIG_PUB_LEN], sig[SIG_LEN], msg[2];
		char h[2 * SIG_LEN + 1];
		size_t mlen = strlen(rfc8032[t].msg) / 2;

		unhex(rfc8032[t].seed, seed, sizeof(seed));
		unhex(rfc8032[t].msg, msg, mlen);

		cr_assert_eq(sig_pub_from_seed(seed, pub), 0);
		hex(pub, sizeof(pub), h);
		cr_expect_str_eq(h, rfc8032[t].pub, "%s public key", rfc8032[t].name);

		/* TEST 1 signs the empty message: pass NULL for it. */
		cr_assert_eq(sig_sign(seed, mlen ? msg : NULL, mlen, sig), 0);
		hex(sig, sizeof(sig), h);
		cr_expect_str_eq(h, rfc8032[t].sig, "%s signature", rfc8032[t].name);
		cr_expect(sig_verify(pub, mlen ? msg : NULL, mlen, sig), "%s", rfc8032[t].name);
		cr_expect(sig_verify(pub, msg, mlen, sig), "%s", rfc8032[t].name);
	}
}

Test(sig, null_message_with_length_refused)
{
	uint8_t seed[SIG_SEED_LEN] = {1}, pub[SIG_PUB_LEN], sig[SIG_LEN];

	cr_assert_eq(sig_pub_from_seed(seed, pub), 0);
	cr_expect_eq(sig_sign(seed, NULL, 1, sig), -EINVAL);
	cr_assert_eq(sig_sign(seed, NULL, 0, sig), 0);
	cr_expect_not(sig_verify(pub, NULL, 1, sig));
}

/* ------------------------------------------------------------------ */
/* Round trip and tampering                                            */
/* ------------------------------------------------------------------ */

Test(sig, keygen_sign_verify_round_trip)
{
	uint8_t seed[SIG_SEED_LEN], seed2[SIG_SEED_LEN];
	uint8_t pub[SIG_PUB_LEN], pub2[SIG_PUB_LEN], derived[SIG_PUB_LEN];
	uint8_t sig[SIG_LEN], sig2[SIG_LEN];
	static const char msg[] = "hello, supernode";

	cr_assert_eq(sig_keygen(seed, pub), 0);
	cr_assert_eq(sig_keygen(seed2, pub2), 0);
	cr_expect_neq(memcmp(seed, seed2, sizeof(seed)), 0, "two keygens gave one seed");
	cr_expect_neq(memcmp(pub, pub2, sizeof(pub)), 0);

	cr_assert_eq(sig_pub_from_seed(seed, derived), 0);
	cr_expect_eq(memcmp(pub, derived, sizeof(pub)), 0);

	cr_assert_eq(sig_sign(seed, msg, sizeof(msg), sig), 0);
	cr_expect(sig_verify(pub, msg, sizeof(msg), sig));
	cr_expect_not(sig_verify(pub2, msg, sizeof(msg), sig), "verified under another key");
	cr_expect_not(sig_verify(pub, msg, sizeof(msg) - 1, sig), "verified a prefix");

	/* Ed25519 is deterministic. */
	cr_assert_eq(sig_sign(seed, msg, sizeof(msg), sig2), 0);
	cr_expect_eq(memcmp(sig, sig2, sizeof(sig)), 0);
}

Test(sig, any_flipped_bit_fails)
{
	uint8_t seed[SIG_SEED_LEN], pub[SIG_PUB_LEN], sig[SIG_LEN];
	uint8_t msg[24];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 37 + 5);
	cr_assert_eq(sig_keygen(seed, pub), 0);
	cr_assert_eq(sig_sign(seed, msg, sizeof(msg), sig), 0);
	cr_assert(sig_verify(pub, msg, sizeof(msg), sig));

	for (size_t bit = 0; bit < 8 * sizeof(msg); bit++) {
		msg[bit / 8] ^= (uint8_t)(1u << bit % 8);
		cr_expect_not(sig_verify(pub, msg, sizeof(msg), sig), "message bit %zu", bit);
		msg[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
	for (size_t bit = 0; bit < 8 * sizeof(sig); bit++) {
		sig[bit / 8] ^= (uint8_t)(1u << bit % 8);
		cr_expect_not(sig_verify(pub, msg, sizeof(msg), sig), "signature bit %zu", bit);
		sig[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
	for (size_t bit = 0; bit < 8 * sizeof(pub); bit++) {
		pub[bit / 8] ^= (uint8_t)(1u << bit % 8);
		cr_expect_not(sig_verify(pub, msg, sizeof(msg), sig), "key bit %zu", bit);
		pub[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
	cr_expect(sig_verify(pub, msg, sizeof(msg), sig), "restored input must verify");
}

/* ------------------------------------------------------------------ */
/* Public key hex                                                      */
/* ------------------------------------------------------------------ */

Test(sig, pub_hex_round_trip)
{
	uint8_t pub[SIG_PUB_LEN], back[SIG_PUB_LEN];
	char h[SIG_PUB_HEX_LEN + 1];
	char upper[SIG_PUB_HEX_LEN + 1];

	unhex(rfc8032[0].pub, pub, sizeof(pub));
	cr_assert_eq(sig_pub_hex(pub, h), 0);
	cr_expect_str_eq(h, rfc8032[0].pub);
	cr_assert_eq(sig_pub_parse_hex(h, back), 0);
	cr_expect_eq(memcmp(pub, back, sizeof(pub)), 0);

	/* An operator may paste an upper-case key. */
	for (size_t i = 0; i <= SIG_PUB_HEX_LEN; i++)
		upper[i] = (char)(h[i] >= 'a' && h[i] <= 'f' ? h[i] - 'a' + 'A' : h[i]);
	memset(back, 0, sizeof(back));
	cr_assert_eq(sig_pub_parse_hex(upper, back), 0);
	cr_expect_eq(memcmp(pub, back, sizeof(pub)), 0);
}

Test(sig, pub_parse_hex_rejects_malformed)
{
	char s[SIG_PUB_HEX_LEN + 2];
	uint8_t pub[SIG_PUB_LEN], keep[SIG_PUB_LEN];

	memset(keep, 0xa5, sizeof(keep));
	memcpy(pub, keep, sizeof(pub));
	cr_expect_eq(sig_pub_parse_hex(NULL, pub), -EINVAL);
	cr_expect_eq(sig_pub_parse_hex("", pub), -EINVAL);

	memset(s, 'a', sizeof(s));
	s[SIG_PUB_HEX_LEN - 1] = '\0'; /* 63 */
	cr_expect_eq(sig_pub_parse_hex(s, pub), -EINVAL, "63 characters");
	s[SIG_PUB_HEX_LEN - 1] = 'a';
	s[SIG_PUB_HEX_LEN + 1] = '\0'; /* 65 */
	cr_expect_eq(sig_pub_parse_hex(s, pub), -EINVAL, "65 characters");
	s[SIG_PUB_HEX_LEN] = '\n'; /* 64 + newline */
	cr_expect_eq(sig_pub_parse_hex(s, pub), -EINVAL, "trailing newline");
	s[SIG_PUB_HEX_LEN] = '\0';
	for (size_t i = 0; i < SIG_PUB_HEX_LEN; i++) {
		static const char bad[] = {'g', 'G', ' ', '-', 'x', '\x80'};

		for (size_t b = 0; b < sizeof(bad); b++) {
			s[i] = bad[b];
			cr_expect_eq(sig_pub_parse_hex(s, pub), -EINVAL, "0x%02x at %zu",
			             (unsigned char)bad[b], i);
		}
		s[i] = 'a';
	}
	cr_expect_eq(memcmp(pub, keep, sizeof(pub)), 0, "a refused parse wrote the key");
	cr_expect_eq(sig_pub_parse_hex(s, pub), 0);
}

/* ------------------------------------------------------------------ */
/* Seed files                                                          */
/* ------------------------------------------------------------------ */

/* Each test runs in its own process (Criterion), with its own directory. */
static char dir[64];

static void dir_setup(void)
{
	strcpy(dir, "/tmp/sig_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void dir_teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	rmdir(dir);
}

static size_t dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void path_in_dir(char *out, size_t cap, const char *name)
{
	cr_assert_lt((size_t)snprintf(out, cap, "%s/%s", dir, name), cap);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0); /* exact mode, whatever the umask */
	close(fd);
}

Test(sig, seed_file_round_trip, .init = dir_setup, .fini = dir_teardown)
{
	uint8_t seed[SIG_SEED_LEN], back[SIG_SEED_LEN];
	char path[128], text[128], want[2 * SIG_SEED_LEN + 2];
	struct stat st;
	ssize_t n;
	int fd;

	unhex(rfc8032[1].seed, seed, sizeof(seed));
	path_in_dir(path, sizeof(path), "login.key");
	cr_assert_eq(sig_seed_save(path, seed), 0);

	cr_assert_eq(stat(path, &st), 0);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_expect_eq(dir_entries(), 1, "temporary file left behind");

	/* One line an operator can read: 64 lower-case hex and a newline. */
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	cr_assert_eq(n, 2 * SIG_SEED_LEN + 1);
	text[n] = '\0';
	snprintf(want, sizeof(want), "%s\n", rfc8032[1].seed);
	cr_expect_str_eq(text, want);

	cr_assert_eq(sig_seed_load(path, back), 0);
	cr_expect_eq(memcmp(seed, back, sizeof(seed)), 0);
}

Test(sig, seed_file_replaced_atomically, .init = dir_setup, .fini = dir_teardown)
{
	uint8_t a[SIG_SEED_LEN], b[SIG_SEED_LEN], back[SIG_SEED_LEN], pub[SIG_PUB_LEN];
	char path[128];

	cr_assert_eq(sig_keygen(a, pub), 0);
	cr_assert_eq(sig_keygen(b, pub), 0);
	path_in_dir(path, sizeof(path), "device.key");
	cr_assert_eq(sig_seed_save(path, a), 0);
	cr_assert_eq(sig_seed_save(path, b), 0);
	cr_assert_eq(sig_seed_load(path, back), 0);
	cr_expect_eq(memcmp(b, back, sizeof(b)), 0);
	cr_expect_eq(dir_entries(), 1);
}

Test(sig, seed_file_relative_path, .init = dir_setup, .fini = dir_teardown)
{
	uint8_t seed[SIG_SEED_LEN] = {7}, back[SIG_SEED_LEN];

	/* No '/' in the name: the directory fsynced is ".". */
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(sig_seed_save("rel.key", seed), 0);
	cr_assert_eq(sig_seed_load("rel.key", back), 0);
	cr_expect_eq(memcmp(seed, back, sizeof(seed)), 0);
}

Test(sig, seed_save_errors, .init = dir_setup, .fini = dir_teardown)
{
	uint8_t seed[SIG_SEED_LEN] = {1};
	char path[128];
	char *long_path;

	path_in_dir(path, sizeof(path), "missing/dir/x.key");
	cr_expect_eq(sig_seed_save(path, seed), -ENOENT);
	cr_expect_eq(sig_seed_save("", seed), -ENOENT);

	long_path = malloc(PATH_MAX + 16);
	cr_assert_not_null(long_path);
	memset(long_path, 'a', PATH_MAX + 15);
	long_path[PATH_MAX + 15] = '\0';
	cr_expect_eq(sig_seed_save(long_path, seed), -ENAMETOOLONG);
	free(long_path);
	cr_expect_eq(dir_entries(), 0);

	/* rename fails (a directory is in the way): the temporary file,
	 * already written, must go. */
	path_in_dir(path, sizeof(path), "in-the-way");
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_expect_eq(sig_seed_save(path, seed), -EISDIR);
	cr_expect_eq(dir_entries(), 1, "temporary file left behind");
	rmdir(path);
}

Test(sig, seed_load_refuses_open_permissions, .init = dir_setup, .fini = dir_teardown)
{
	static const mode_t refused[] = {0644, 0640, 0604, 0660, 0610, 0601, 0666, 0620};
	static const mode_t accepted[] = {0600, 0400, 0700};
	uint8_t seed[SIG_SEED_LEN] = {1, 2, 3}, back[SIG_SEED_LEN];
	char path[128];

	path_in_dir(path, sizeof(path), "perm.key");
	cr_assert_eq(sig_seed_save(path, seed), 0);
	for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
		cr_assert_eq(chmod(path, refused[i]), 0);
		memset(back, 0xee, sizeof(back));
		cr_expect_eq(sig_seed_load(path, back), -EPERM, "mode %o", refused[i]);
		for (size_t j = 0; j < sizeof(back); j++)
			cr_expect_eq(back[j], 0, "mode %o left seed bytes", refused[i]);
	}
	for (size_t i = 0; i < ARRAY_LEN(accepted); i++) {
		cr_assert_eq(chmod(path, accepted[i]), 0);
		cr_expect_eq(sig_seed_load(path, back), 0, "mode %o", accepted[i]);
		cr_expect_eq(memcmp(seed, back, sizeof(seed)), 0);
	}
}

Test(sig, seed_load_refuses_malformed, .init = dir_setup, .fini = dir_teardown)
{
	static const char h64[] =
	    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
	static const struct {
		const char *what;
		const char *text;
	} bad[] = {
	    {"empty", ""},
	    {"newline only", "\n"},
	    {"63 hex", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6f\n"},
	    {"65 hex", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fbb"},
	    {"two newlines",
	     "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb\n\n"},
	    {"CRLF", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb\r\n"},
	    {"trailing space", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb "},
	    {"leading space", " 4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"},
	    {"non-hex", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fg\n"},
	    {"second line", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb\nx"},
	    {"binary seed", "\x4c\xcd\x08\x9b\x28\xff\x96\xda\x9d\xb6\xc3\x46\xec\x11\x4e\x0f"
	                    "\x5b\x8a\x31\x9f\x35\xab\xa6\x24\xda\x8c\xf6\xed\x4f\xb8\xa6\xfb"},
	};
	uint8_t want[SIG_SEED_LEN], back[SIG_SEED_LEN], big[4096];
	char path[128], text[80];

	unhex(h64, want, sizeof(want));
	path_in_dir(path, sizeof(path), "bad.key");
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		write_file(path, bad[i].text, strlen(bad[i].text), 0600);
		memset(back, 0xee, sizeof(back));
		cr_expect_eq(sig_seed_load(path, back), -EINVAL, "%s", bad[i].what);
		for (size_t j = 0; j < sizeof(back); j++)
			cr_expect_eq(back[j], 0, "%s left seed bytes", bad[i].what);
	}

	memset(big, 'a', sizeof(big));
	write_file(path, big, sizeof(big), 0600);
	cr_expect_eq(sig_seed_load(path, back), -EINVAL, "4 KiB of hex");

	/* Accepted: without the final newline, and in upper case. */
	write_file(path, h64, strlen(h64), 0600);
	cr_expect_eq(sig_seed_load(path, back), 0, "no final newline");
	cr_expect_eq(memcmp(want, back, sizeof(want)), 0);
	for (size_t i = 0; i <= strlen(h64); i++)
		text[i] = (char)(h64[i] >= 'a' && h64[i] <= 'f' ? h64[i] - 'a' + 'A' : h64[i]);
	strcat(text, "\n");
	write_file(path, text, strlen(text), 0600);
	memset(back, 0, sizeof(back));
	cr_expect_eq(sig_seed_load(path, back), 0, "upper case");
	cr_expect_eq(memcmp(want, back, sizeof(want)), 0);
}

Test(sig, seed_load_missing_and_not_regular, .init = dir_setup, .fini = dir_teardown)
{
	uint8_t back[SIG_SEED_LEN];
	char path[128];

	path_in_dir(path, sizeof(path), "absent.key");
	cr_expect_eq(sig_seed_load(path, back), -ENOENT);

	path_in_dir(path, sizeof(path), "subdir");
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_expect_eq(sig_seed_load(path, back), -EINVAL, "a directory");
	rmdir(path);

	/* A FIFO must be refused, not block start-up. */
	path_in_dir(path, sizeof(path), "fifo");
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_expect_eq(sig_seed_load(path, back), -EINVAL, "a FIFO");
}
