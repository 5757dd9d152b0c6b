/* accounts: the login server's account store, in SQLite.
 *
 * - users: a name (acct_name_valid) and a password hash, scrypt stored
 *   as pwhash's self-describing string "scrypt$LN$R$P$<salt>$<hash>"
 *   (pwhash.h), so the cost can be raised later without invalidating old
 *   hashes: a hash is always checked with the parameters in its own
 *   string, and a successful check re-hashes a weaker one with the
 *   handle's parameters;
 * - devices: up to ACCT_MAX_DEVICES Ed25519 public keys per user. A client
 *   proves its password once per device and registers the device's key;
 *   later logins are a signature challenge the caller verifies, then
 *   acct_check_device says whether the key is registered to the user.
 *
 * The schema lives in accounts.c as a list of migrations, applied in order
 * at open and recorded in PRAGMA user_version; a file from a newer version
 * of the code is refused rather than guessed at.
 *
 * Threads: one struct acct_db is used by one thread at a time (it keeps
 * prepared statements and an error buffer). Give each thread its own
 * handle on the same file: the database runs in WAL mode, so readers do
 * not block the writer, and writers wait up to the busy timeout for each
 * other before failing with -EBUSY.
 *
 * Times are Unix seconds passed in by the caller; nothing here reads a
 * clock. Every function returns 0 (or a count) or -errno; after a
 * failure acct_last_error says what went wrong in one line. */
#ifndef PARLEY_LOGIN_ACCOUNTS_H
#define PARLEY_LOGIN_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/login/pwhash.h"

#define ACCT_NAME_MAX    64   /* bytes in a user name */
#define ACCT_PW_MIN      8    /* bytes in a new password */
#define ACCT_PW_MAX      1024 /* bytes in any password (bounds the work) */
#define ACCT_PUB_LEN     32   /* raw Ed25519 public key (RFC 8032) */
#define ACCT_MAX_DEVICES 16   /* registered device keys per user */

/* The default for new hashes: N = 2^15, r = 8, p = 1, 32 MiB per hash.
 * Measured with OpenSSL 3.0 on the development VM (AMD EPYC, 2 vCPUs):
 * 160-230 ms per hash (2^14 takes 50 ms: the step to 2^15 leaves the
 * cache). A password login is therefore rare and expensive on purpose;
 * repeat logins use device keys, which cost one indexed UPDATE. */
#define ACCT_KDF_DEFAULT ((struct pwhash_kdf){.ln = 15, .r = 8, .p = 1})

#define ACCT_BUSY_MS_DEFAULT 5000 /* how long a writer waits for another */

struct acct_db;

/* Options for acct_open_opts. Zeroed fields take the defaults. */
struct acct_opts {
	/* scrypt cost of new hashes and of the unknown-user dummy. For tests
	 * and benchmarks (and tuning after measuring): lowering it weakens
	 * every password set through this handle. ln == 0 means
	 * ACCT_KDF_DEFAULT; otherwise all three must be valid
	 * (pwhash_kdf_valid). */
	struct pwhash_kdf kdf;
	/* busy timeout in milliseconds; 0 means ACCT_BUSY_MS_DEFAULT */
	uint32_t busy_ms;
};

/* A registered device. */
struct acct_device {
	uint8_t pub[ACCT_PUB_LEN]; /* Ed25519 public key, raw */
	uint64_t created;          /* Unix seconds of the first registration */
	uint64_t last_used;        /* Unix seconds of the last add or check */
};

/* ---- opening --------------------------------------------------------- */

/* Opens the account database at path (a file name), creating the file
 * with mode 0600 when it does not exist (the WAL and shared-memory files
 * SQLite creates beside it take the same mode; an existing file keeps its
 * mode). Sets WAL mode, foreign keys and the busy timeout, runs the
 * migrations the file lacks (each in its own transaction) and prepares
 * every statement. opts may be NULL (defaults).
 *
 * Returns 0 and sets *out, or -errno and sets *out to NULL: -EPROTO when
 * the file was written by a newer version of this code, is another
 * application's SQLite database or is not a database at all; -EINVAL for
 * invalid opts; -EBUSY when another process held the file longer than the
 * busy timeout; -EACCES, -ENOENT, -EIO and others from the file system.
 * After a failure acct_last_error(NULL) says why, from the same thread,
 * without naming the file (the caller prefixes the path). */
int acct_open(const char *path, struct acct_db **out);
int acct_open_opts(const char *path, const struct acct_opts *opts, struct acct_db **out);

/* Finalises the statements and closes the handle. Takes NULL. */
void acct_close(struct acct_db *db);

/* One line about the last failure of a call on db: empty when the last
 * call succeeded, unless a best-effort step inside it failed (a re-hash
 * in acct_check_password), which it then describes for the log. With db
 * NULL, about the calling thread's last failed acct_open. The string
 * belongs to db (or the thread) and is overwritten by the next call. */
const char *acct_last_error(const struct acct_db *db);

/* ---- names (a pure function) ------------------------------------------ */

/* True when name[0..len) is a valid user name: 1..ACCT_NAME_MAX bytes of
 * [a-z0-9._-], the first a letter or a digit. A NUL byte inside is
 * invalid. The certificate module applies the same rule. */
bool acct_name_valid(const char *name, size_t len);

/* ---- users ------------------------------------------------------------ */

/* Passwords are byte strings of pw_len bytes (any bytes, NUL included;
 * no normalisation). The caller wipes its own copy; this module wipes
 * everything it derives. */

/* Adds user name (NUL-terminated) with a password of ACCT_PW_MIN..
 * ACCT_PW_MAX bytes. Returns 0, -EEXIST, -EINVAL (bad name or password
 * length), or a database error. Costs one scrypt. */
int acct_add_user(struct acct_db *db, const char *name, const void *password, size_t pw_len);

/* Replaces the user's password hash (same password rules). Devices stay
 * registered: removing a stolen device is acct_del_device. Returns 0,
 * -ENOENT, -EINVAL, or a database error. */
int acct_set_password(struct acct_db *db, const char *name, const void *password, size_t pw_len);

/* Deletes the user and its devices. Returns 0, -ENOENT, -EINVAL (bad
 * name), or a database error. */
int acct_del_user(struct acct_db *db, const char *name);

/* Sets *n to the number of users. Returns 0 or a database error. */
int acct_count_users(struct acct_db *db, uint64_t *n);

/* Checks a password (0..ACCT_PW_MAX bytes: the length rule of new
 * passwords is not applied, so raising ACCT_PW_MIN locks nobody out).
 * Returns 0 when it is right, -EACCES when it is wrong, -ENOENT when
 * there is no such user, -EINVAL for a malformed name or a password
 * longer than ACCT_PW_MAX (decided before any lookup, so they reveal
 * nothing about which names exist), -EIO for a stored hash that does not
 * parse, or a database error.
 *
 * An unknown user costs the same scrypt as a known one (a dummy record
 * with the handle's parameters) and the result is compared in constant
 * time, so the time taken does not tell which names exist. The caller
 * should still answer -EACCES and -ENOENT alike on the wire, and rate
 * limit attempts: each one costs a full scrypt.
 *
 * After a right password whose stored hash is weaker than the handle's
 * parameters (lower cost, shorter salt or output), the hash is remade
 * with the handle's parameters and stored unless the password changed
 * meanwhile; that costs a second scrypt once, and a failure to store it
 * does not fail the login. */
int acct_check_password(struct acct_db *db, const char *name, const void *password, size_t pw_len);

/* ---- devices ---------------------------------------------------------- */

/* Registers pub for the user at time now. Already registered: refreshes
 * last_used and returns 0. Returns -ENOENT (no such user), -ENOSPC when
 * the user already has ACCT_MAX_DEVICES keys (none is evicted: the user
 * removes one), -EINVAL (bad name, now > INT64_MAX), or a database error.
 * Count and insert are one transaction, so two handles racing cannot
 * exceed the limit. */
int acct_add_device(struct acct_db *db, const char *name, const uint8_t pub[ACCT_PUB_LEN],
                    uint64_t now);

/* Whether pub is registered to the user: 0 (and last_used := now) or
 * -ENOENT (no such user or key); -EINVAL, or a database error. The caller
 * verifies the client's signature with pub first: this only binds the
 * key to the name. The last_used write is committed without an fsync
 * (one less per login; after a power cut it may read older), while
 * every account change is fsynced. */
int acct_check_device(struct acct_db *db, const char *name, const uint8_t pub[ACCT_PUB_LEN],
                      uint64_t now);

/* Removes pub from the user's devices. Returns 0, -ENOENT (no such user
 * or key), -EINVAL, or a database error. */
int acct_del_device(struct acct_db *db, const char *name, const uint8_t pub[ACCT_PUB_LEN]);

/* Lists the user's devices, oldest registration first, into out[0..cap)
 * (out may be NULL when cap is 0). Returns the number of devices the user
 * has, which may exceed cap (then only cap are written); -ENOENT (no
 * such user), -EINVAL, or a database error. An array rather than a
 * callback: the count is bounded, and a callback could not safely call
 * back into db while the statement runs. */
int acct_list_devices(struct acct_db *db, const char *name, struct acct_device *out, size_t cap);

/* ---- observability ---------------------------------------------------- */

/* How many scrypt derivations this handle has run (each password set or
 * check, the dummy included). For metrics, and for tests that check the
 * unknown-user path does the work. */
uint64_t acct_kdf_count(const struct acct_db *db);

#endif
