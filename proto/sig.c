/* sig: Ed25519 keys and signatures. See sig.h for the contract. */
#include "proto/sig.h"
#include "proto/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "proto/cred.h"

#define SEED_HEX_LEN (2 * SIG_SEED_LEN)
#define TMP_SUFFIX   ".tmpXXXXXX"

/* ------------------------------------------------------------------ */
/* Keys and signatures                                                 */
/* ------------------------------------------------------------------ */

/* OpenSSL rejects a NULL message pointer on some paths even when its
 * length is 0 (RFC 8032 test 1 signs the empty message). */
static const uint8_t empty_msg[1];

int sig_pub_from_seed(const uint8_t seed[SIG_SEED_LEN], uint8_t pub[SIG_PUB_LEN])
{
	EVP_PKEY *pkey;
	size_t n = SIG_PUB_LEN;
	int ok;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, SIG_SEED_LEN);
	if (pkey == NULL)
		return -EIO;
	ok = EVP_PKEY_get_raw_public_key(pkey, pub, &n) == 1 && n == SIG_PUB_LEN;
	EVP_PKEY_free(pkey); /* cleanses its copy of the seed */
	return ok ? 0 : -EIO;
}

int sig_keygen(uint8_t seed[SIG_SEED_LEN], uint8_t pub[SIG_PUB_LEN])
{
	if (RAND_bytes(seed, SIG_SEED_LEN) != 1 || sig_pub_from_seed(seed, pub) < 0) {
		cred_wipe(seed, SIG_SEED_LEN);
		cred_wipe(pub, SIG_PUB_LEN);
		return -EIO;
	}
	return 0;
}

int sig_sign(const uint8_t seed[SIG_SEED_LEN], const void *msg, size_t len, uint8_t sig[SIG_LEN])
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	size_t n = SIG_LEN;
	int ok;

	if (msg == NULL) {
		if (len != 0)
			return -EINVAL;
		msg = empty_msg;
	}
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, SIG_SEED_LEN);
	if (pkey == NULL)
		return -EIO;
	ctx = EVP_MD_CTX_new();
	/* Ed25519 takes no digest (NULL) and only the one-shot call. */
	ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	     EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == SIG_LEN;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	if (!ok) {
		cred_wipe(sig, SIG_LEN);
		return -EIO;
	}
	return 0;
}

bool sig_verify(const uint8_t pub[SIG_PUB_LEN], const void *msg, size_t len,
                const uint8_t sig[SIG_LEN])
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	bool ok;

	if (msg == NULL) {
		if (len != 0)
			return false;
		msg = empty_msg;
	}
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, SIG_PUB_LEN);
	if (pkey == NULL)
		return false;
	ctx = EVP_MD_CTX_new();
	/* EVP_DigestVerify returns 1 for a good signature, 0 for a bad one
	 * and a negative value on other errors: only 1 is a yes. */
	ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

int sig_pub_hex(const uint8_t pub[SIG_PUB_LEN], char out[SIG_PUB_HEX_LEN + 1])
{
	hex_encode(pub, SIG_PUB_LEN, out);
	out[SIG_PUB_HEX_LEN] = '\0';
	return 0;
}

int sig_pub_parse_hex(const char *s, uint8_t pub[SIG_PUB_LEN])
{
	uint8_t tmp[SIG_PUB_LEN];

	/* strnlen: never look further than one past the expected end. */
	if (s == NULL || strnlen(s, SIG_PUB_HEX_LEN + 1) != SIG_PUB_HEX_LEN ||
	    hex_decode(s, SIG_PUB_LEN, tmp, true) < 0)
		return -EINVAL;
	memcpy(pub, tmp, SIG_PUB_LEN);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Seed files                                                          */
/* ------------------------------------------------------------------ */

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsyncs the directory that holds path, so a rename into it is durable.
 * Some file systems refuse fsync on a directory (EINVAL): the data is
 * then as safe as that file system makes it, which is not our error. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd, ret = 0;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else {
		len = slash == path ? 1 : (size_t)(slash - path); /* "/key" */
		memcpy(dir, path, len); /* len < strlen(path) < PATH_MAX */
		dir[len] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		ret = -errno;
	close(fd);
	return ret;
}

int sig_seed_save(const char *path, const uint8_t seed[SIG_SEED_LEN])
{
	char tmp[PATH_MAX];
	char text[SEED_HEX_LEN + 1];
	size_t plen = strlen(path);
	int fd, ret;

	if (plen == 0)
		return -ENOENT;
	if (plen + sizeof(TMP_SUFFIX) > sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, TMP_SUFFIX, sizeof(TMP_SUFFIX));

	/* mkostemp creates the file 0600 and O_EXCL: the seed is never in
	 * a file anyone else could open, even for an instant. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;

	hex_encode(seed, SIG_SEED_LEN, text);
	text[SEED_HEX_LEN] = '\n';
	ret = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (ret == 0)
		ret = write_all(fd, text, sizeof(text));
	cred_wipe(text, sizeof(text));
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	/* close can report a deferred write error (NFS). */
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return ret;
	}
	return sync_parent(path);
}

int sig_seed_load(const char *path, uint8_t seed[SIG_SEED_LEN])
{
	/* Room for the longest valid file (64 hex + '\n') and one byte
	 * more, so an overlong file is seen without reading all of it. */
	char buf[SEED_HEX_LEN + 2];
	struct stat st;
	size_t len = 0;
	int fd, ret = 0;

	memset(seed, 0, SIG_SEED_LEN);
	/* O_NONBLOCK so a FIFO planted at path cannot hang start-up; it has
	 * no effect on the regular file we insist on below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* fstat, not stat: the file checked is the file read. */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if (st.st_mode & 077) {
		ret = -EPERM;
		goto out;
	}
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len < SEED_HEX_LEN || len > SEED_HEX_LEN + 1 ||
	    (len == SEED_HEX_LEN + 1 && buf[SEED_HEX_LEN] != '\n') ||
	    hex_decode(buf, SIG_SEED_LEN, seed, true) < 0) {
		cred_wipe(seed, SIG_SEED_LEN);
		ret = -EINVAL;
	}
out:
	cred_wipe(buf, sizeof(buf));
	close(fd);
	return ret;
}
