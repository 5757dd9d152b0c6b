/* pwhash: scrypt password hashes and their string form. See pwhash.h for
 * the contract. */
#include "src/login/pwhash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "proto/cred.h"

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

/* RFC 7914 §2 gives r * p < 2^30 and N < 2^(128 r / 8); the memory
 * ceiling is computed as OpenSSL does (B: 128 r p bytes, V: 128 r
 * (N + 2)), so a valid hash never fails later inside the KDF. */
bool pwhash_kdf_valid(const struct pwhash_kdf *k)
{
	uint64_t n;

	if (k->ln < 1 || k->ln > 30 || k->r < 1 || k->r > 65536 || k->p < 1 || k->p > 65536)
		return false;
	if ((uint64_t)k->r * k->p >= (UINT64_C(1) << 30))
		return false;
	if (k->r < 4 && k->ln >= 16 * k->r)
		return false;
	n = UINT64_C(1) << k->ln;
	return 128 * (uint64_t)k->r * (n + 2 + k->p) <= PWHASH_KDF_MAXMEM;
}

bool pwhash_weaker(const struct pwhash *h, const struct pwhash_kdf *k)
{
	uint64_t h_mem = (uint64_t)h->kdf.r << h->kdf.ln, k_mem = (uint64_t)k->r << k->ln;

	return h_mem * h->kdf.p < k_mem * k->p || h_mem < k_mem || h->salt_len < PWHASH_SALT_LEN ||
	       h->hash_len < PWHASH_HASH_LEN;
}

/* ------------------------------------------------------------------ */
/* Hash strings                                                        */
/* ------------------------------------------------------------------ */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict padded base64: one spelling per value (unused bits zero), '='
 * only at the end. Returns the decoded length or -EINVAL (also when it
 * exceeds cap). */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t pad, n, o = 0;

	if (len == 0 || len % 4 != 0)
		return -EINVAL;
	pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
	n = len / 4 * 3 - pad;
	if (n > cap)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t acc = 0;
		size_t used = i + 4 == len ? 4 - pad : 4;

		for (size_t j = 0; j < 4; j++) {
			int v = j < used ? b64_value(in[i + j]) : 0;

			if (v < 0)
				return -EINVAL;
			acc = acc << 6 | (uint32_t)v;
		}
		if ((pad == 1 && i + 4 == len && (acc & 0xff) != 0) ||
		    (pad == 2 && i + 4 == len && (acc & 0xffff) != 0))
			return -EINVAL;
		for (int shift = 16; shift >= 0 && o < n; shift -= 8)
			out[o++] = (uint8_t)(acc >> shift);
	}
	return (int)n;
}

/* Reads a decimal field of s[*pos..len) up to '$' or the end: no sign,
 * no leading zero, at most max. Advances *pos past it. */
static int parse_uint(const char *s, size_t len, size_t *pos, uint32_t max, uint32_t *out)
{
	size_t i = *pos;
	uint64_t v = 0;

	if (i >= len || s[i] < '0' || s[i] > '9' || (s[i] == '0' && i + 1 < len && s[i + 1] != '$'))
		return -EINVAL;
	for (; i < len && s[i] != '$'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return -EINVAL;
	}
	*pos = i;
	*out = (uint32_t)v;
	return 0;
}

/* Expects '$' at *pos and steps over it. */
static int expect_dollar(const char *s, size_t len, size_t *pos)
{
	if (*pos >= len || s[*pos] != '$')
		return -EINVAL;
	(*pos)++;
	return 0;
}

int pwhash_parse(const char *s, size_t len, struct pwhash *out)
{
	static const char tag[] = "scrypt$";
	size_t pos = sizeof(tag) - 1, field;
	int n;

	memset(out, 0, sizeof(*out));
	if (len > PWHASH_STR_MAX || len < pos || memcmp(s, tag, pos) != 0)
		return -EINVAL;
	if (parse_uint(s, len, &pos, 30, &out->kdf.ln) < 0 || expect_dollar(s, len, &pos) < 0 ||
	    parse_uint(s, len, &pos, 65536, &out->kdf.r) < 0 || expect_dollar(s, len, &pos) < 0 ||
	    parse_uint(s, len, &pos, 65536, &out->kdf.p) < 0 || expect_dollar(s, len, &pos) < 0)
		return -EINVAL;
	if (!pwhash_kdf_valid(&out->kdf))
		return -EINVAL;

	field = pos;
	while (pos < len && s[pos] != '$')
		pos++;
	n = b64_decode(s + field, pos - field, out->salt, sizeof(out->salt));
	if (n < 1 || expect_dollar(s, len, &pos) < 0)
		return -EINVAL;
	out->salt_len = (size_t)n;

	n = b64_decode(s + pos, len - pos, out->hash, sizeof(out->hash));
	if (n < PWHASH_HASH_MIN)
		return -EINVAL;
	out->hash_len = (size_t)n;
	return 0;
}

int pwhash_format(const struct pwhash *h, char *out, size_t out_len)
{
	char salt[(PWHASH_SALT_MAX + 2) / 3 * 4 + 1];
	char hash[(PWHASH_HASH_MAX + 2) / 3 * 4 + 1];
	int n = -EINVAL;

	if (!pwhash_kdf_valid(&h->kdf) || h->salt_len < 1 || h->salt_len > PWHASH_SALT_MAX ||
	    h->hash_len < PWHASH_HASH_MIN || h->hash_len > PWHASH_HASH_MAX)
		return -EINVAL;
	if (cred_base64(h->salt, h->salt_len, salt, sizeof(salt)) < 0 ||
	    cred_base64(h->hash, h->hash_len, hash, sizeof(hash)) < 0)
		goto out;
	n = snprintf(out, out_len, "scrypt$%u$%u$%u$%s$%s", h->kdf.ln, h->kdf.r, h->kdf.p, salt,
	             hash);
	if (n < 0)
		n = -EINVAL;
	else if ((size_t)n >= out_len)
		n = -ENOSPC;
out:
	cred_wipe(hash, sizeof(hash));
	return n;
}

/* ------------------------------------------------------------------ */
/* scrypt                                                              */
/* ------------------------------------------------------------------ */

int pwhash_derive(EVP_KDF *scrypt, const struct pwhash_kdf *k, const uint8_t *salt, size_t salt_len,
                  const void *pw, size_t pw_len, uint8_t *out, size_t out_len)
{
	uint64_t n = UINT64_C(1) << k->ln, maxmem = PWHASH_KDF_MAXMEM;
	uint32_t r = k->r, p = k->p;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	                                      (void *)(pw != NULL ? pw : ""), pw_len),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
	    OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
	    OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
	    OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
	    OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
	    OSSL_PARAM_construct_end(),
	};
	EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(scrypt);
	int ok;

	if (ctx == NULL)
		return -ENOMEM;
	ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
	EVP_KDF_CTX_free(ctx);
	if (!ok) {
		cred_wipe(out, out_len);
		return -EIO;
	}
	return 0;
}
