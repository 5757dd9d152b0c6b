/* accounts: the login server's account store. See accounts.h for the
 * contract. */
#include "src/login/accounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "proto/cred.h"
#include "src/login/pwhash.h"

#define ERR_LEN 256

/* Marks the file as ours: "prly" (0x70726c79), so another program's
 * SQLite database is refused instead of migrated. Decimal, because it is
 * pasted into the first migration's PRAGMA. */
#define ACCT_APPLICATION_ID 1886547065
#define STR_(x)             #x
#define STR(x)              STR_(x)

/* ------------------------------------------------------------------ */
/* Schema                                                              */
/* ------------------------------------------------------------------ */

/* Migration i takes the schema from version i to i + 1. Append only:
 * a released step is never edited, since files in the field already
 * carry its result. Each runs in its own transaction together with the
 * user_version bump, so a crash leaves the file at one version or the
 * next, never between. */
static const char *const migrations[] = {
    /* 1: users and their device keys. AUTOINCREMENT so an id is never
     * reused for a different person; devices go with their user. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  pwhash TEXT NOT NULL"
    ");"
    "CREATE TABLE devices ("
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  pub BLOB NOT NULL CHECK (typeof(pub) = 'blob' AND length(pub) = 32),"
    "  created INTEGER NOT NULL CHECK (created >= 0),"
    "  last_used INTEGER NOT NULL CHECK (last_used >= 0),"
    "  PRIMARY KEY (user_id, pub)"
    ") WITHOUT ROWID;"
    "PRAGMA application_id = " STR(ACCT_APPLICATION_ID) ";",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The statements every call uses, prepared once at open. */
enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_USER_GET,
	ST_USER_ADD,
	ST_USER_SETPW,
	ST_USER_REHASH,
	ST_USER_DEL,
	ST_USER_COUNT,
	ST_DEV_TOUCH,
	ST_DEV_COUNT,
	ST_DEV_ADD,
	ST_DEV_CHECK,
	ST_DEV_DEL,
	ST_DEV_LIST,
	ST_SYNC_NORMAL,
	ST_SYNC_FULL,
	ST_COUNT
};

static const char *const st_sql[ST_COUNT] = {
    /* IMMEDIATE takes the write lock at once: a read that later
     * upgrades can fail with SQLITE_BUSY_SNAPSHOT in WAL mode without
     * waiting, where this waits the busy timeout. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_USER_GET] = "SELECT id, pwhash FROM users WHERE name = ?1",
    [ST_USER_ADD] = "INSERT INTO users (name, pwhash) VALUES (?1, ?2)",
    [ST_USER_SETPW] = "UPDATE users SET pwhash = ?2 WHERE name = ?1",
    /* Only if the hash is still the one just checked: a concurrent
     * acct_set_password wins over a re-hash of the old password. */
    [ST_USER_REHASH] = "UPDATE users SET pwhash = ?3 WHERE name = ?1 AND pwhash = ?2",
    [ST_USER_DEL] = "DELETE FROM users WHERE name = ?1",
    [ST_USER_COUNT] = "SELECT count(*) FROM users",
    [ST_DEV_TOUCH] = "UPDATE devices SET last_used = ?3 WHERE user_id = ?1 AND pub = ?2",
    [ST_DEV_COUNT] = "SELECT count(*) FROM devices WHERE user_id = ?1",
    [ST_DEV_ADD] = "INSERT INTO devices (user_id, pub, created, last_used)"
                   " VALUES (?1, ?2, ?3, ?3)",
    [ST_DEV_CHECK] = "UPDATE devices SET last_used = ?3"
                     " WHERE pub = ?2 AND user_id = (SELECT id FROM users WHERE name = ?1)",
    [ST_DEV_DEL] = "DELETE FROM devices"
                   " WHERE pub = ?2 AND user_id = (SELECT id FROM users WHERE name = ?1)",
    /* One statement, one snapshot: no row means no user, a NULL pub a
     * user without devices. */
    [ST_DEV_LIST] = "SELECT d.pub, d.created, d.last_used"
                    " FROM users u LEFT JOIN devices d ON d.user_id = u.id"
                    " WHERE u.name = ?1 ORDER BY d.created, d.pub",
    /* Durability per write, see lazy_begin. */
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
};

struct acct_db {
	sqlite3 *sql;               /* the connection (SQLITE_OPEN_NOMUTEX) */
	EVP_KDF *scrypt;            /* fetched once: fetching is a provider lookup */
	struct pwhash_kdf kdf;      /* cost of new hashes and of the dummy */
	uint64_t kdf_calls;         /* scrypt derivations run */
	sqlite3_stmt *st[ST_COUNT]; /* prepared statements, by ST_ */
	char err[ERR_LEN];          /* last failure, one line */
};

/* Why the calling thread's last acct_open failed: there is no handle to
 * hold the message. */
static _Thread_local char open_err[ERR_LEN];

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int fail(struct acct_db *db, int ret, const char *fmt,
                                                      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
	return ret;
}

/* SQLite result code (extended codes are on) to -errno. */
static int sql_errno(sqlite3 *sql, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CONSTRAINT:
		/* A duplicate is the caller's -EEXIST; a CHECK or NOT NULL
		 * failure is a bad argument that got past the checks. */
		return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
		           ? -EEXIST
		           : -EINVAL;
	case SQLITE_NOTADB:
		return -EPROTO;
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
		return -EINVAL;
	case SQLITE_CANTOPEN:
		/* The OS knows why (ENOENT for a missing directory, EACCES). */
		sys = sqlite3_system_errno(sql);
		return sys > 0 ? -sys : -EIO;
	default:
		/* IOERR, FULL, CORRUPT, ERROR, ...: -EIO and the message. Not
		 * -ENOSPC for a full disk: that means "device limit" here. */
		return -EIO;
	}
}

/* Records rc's message (SQLite's, which must still be current: call
 * this right after the failing call) and returns its -errno. */
static int fail_sql(struct acct_db *db, int rc, const char *what)
{
	return fail(db, sql_errno(db->sql, rc), "%s: %s", what, sqlite3_errmsg(db->sql));
}

/* Every public call starts here, so acct_last_error describes this call. */
static void call_start(struct acct_db *db)
{
	db->err[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

/* Ends a use of a kept statement. sqlite3_reset returns the last step's
 * error again, which the caller has already handled, and clearing the
 * bindings (always SQLITE_OK) drops pointers to the caller's buffers,
 * which are bound SQLITE_STATIC. */
static void st_done(sqlite3_stmt *s)
{
	(void)sqlite3_reset(s);
	(void)sqlite3_clear_bindings(s);
}

static int bind_text(struct acct_db *db, sqlite3_stmt *s, int i, const char *v, size_t len)
{
	int rc = sqlite3_bind_text(s, i, v, (int)len, SQLITE_STATIC);

	return rc == SQLITE_OK ? 0 : fail_sql(db, rc, "bind");
}

static int bind_blob(struct acct_db *db, sqlite3_stmt *s, int i, const void *v, size_t len)
{
	int rc = sqlite3_bind_blob(s, i, v, (int)len, SQLITE_STATIC);

	return rc == SQLITE_OK ? 0 : fail_sql(db, rc, "bind");
}

static int bind_i64(struct acct_db *db, sqlite3_stmt *s, int i, int64_t v)
{
	int rc = sqlite3_bind_int64(s, i, v);

	return rc == SQLITE_OK ? 0 : fail_sql(db, rc, "bind");
}

/* Steps s once: 1 for a row, 0 when done, or -errno. */
static int st_step(struct acct_db *db, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return fail_sql(db, rc, what);
}

/* Runs a statement without results and resets it. Returns 0 or -errno. */
static int st_run(struct acct_db *db, sqlite3_stmt *s, const char *what)
{
	int ret = st_step(db, s, what);

	st_done(s);
	if (ret > 0)
		return fail(db, -EIO, "%s: unexpected row", what);
	return ret;
}

static int tx_begin(struct acct_db *db)
{
	return st_run(db, db->st[ST_BEGIN], "begin");
}

/* Commits when ret >= 0, else rolls back; returns ret or the commit's
 * error. Some errors end the transaction themselves, hence the
 * autocommit test before ROLLBACK. */
static int tx_end(struct acct_db *db, int ret)
{
	if (ret >= 0) {
		int c = st_run(db, db->st[ST_COMMIT], "commit");

		if (c == 0)
			return ret;
		ret = c;
	}
	if (!sqlite3_get_autocommit(db->sql)) {
		/* The first error is the one worth reporting: keep its
		 * message, whatever ROLLBACK says. */
		char keep[ERR_LEN];

		memcpy(keep, db->err, sizeof(keep));
		(void)st_run(db, db->st[ST_ROLLBACK], "rollback");
		memcpy(db->err, keep, sizeof(keep));
	}
	return ret;
}

/* Account changes commit with synchronous = FULL (set at open): each
 * fsyncs the WAL, so a password change or a removed device survives a
 * power cut. Bookkeeping writes whose loss is harmless (last_used, a
 * re-hash: the old hash stays valid) commit with NORMAL, no fsync: about
 * 2.5 ms less per device login on the development VM's disk, and the
 * writers serialise. The next FULL commit syncs them too. The setting is
 * a flag on the connection, no I/O. */
static int lazy_begin(struct acct_db *db)
{
	return st_run(db, db->st[ST_SYNC_NORMAL], "synchronous = NORMAL");
}

static int lazy_end(struct acct_db *db, int ret)
{
	int r = st_run(db, db->st[ST_SYNC_FULL], "synchronous = FULL");

	return ret < 0 ? ret : r;
}

/* Runs SQL text (pragmas, migrations). Returns 0 or -errno. */
static int exec_sql(struct acct_db *db, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail_sql(db, rc, what);
}

/* Runs a one-row query (a pragma) and reads column 0 as an integer or,
 * with text non-NULL, as text into text[0..text_len). */
static int query_one(struct acct_db *db, const char *sql, int64_t *v, char *text, size_t text_len)
{
	sqlite3_stmt *s = NULL;
	int rc, ret;

	rc = sqlite3_prepare_v2(db->sql, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return fail_sql(db, rc, sql);
	ret = st_step(db, s, sql);
	if (ret == 0)
		ret = fail(db, -EIO, "%s: no result", sql);
	if (ret > 0) {
		ret = 0;
		if (v != NULL)
			*v = sqlite3_column_int64(s, 0);
		if (text != NULL) {
			const unsigned char *t = sqlite3_column_text(s, 0);

			snprintf(text, text_len, "%s", t != NULL ? (const char *)t : "");
		}
	}
	(void)sqlite3_finalize(s); /* repeats the step's error, handled */
	return ret;
}

/* ------------------------------------------------------------------ */
/* Names and passwords                                                 */
/* ------------------------------------------------------------------ */

bool acct_name_valid(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > ACCT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '.' || c == '_' || c == '-'))
			continue;
		return false;
	}
	return true;
}

/* Validates a NUL-terminated name argument and sets *len. */
static int check_name(struct acct_db *db, const char *name, size_t *len)
{
	*len = name != NULL ? strnlen(name, ACCT_NAME_MAX + 1) : 0;
	if (!acct_name_valid(name, *len))
		/* Not echoed: it may come from the network. */
		return fail(db, -EINVAL,
		            "invalid user name: expected 1-%d bytes of a-z 0-9 . _ -, "
		            "starting with a letter or digit",
		            ACCT_NAME_MAX);
	return 0;
}

static int check_new_password(struct acct_db *db, size_t pw_len)
{
	if (pw_len < ACCT_PW_MIN || pw_len > ACCT_PW_MAX)
		return fail(db, -EINVAL, "password must be %d to %d bytes, got %zu", ACCT_PW_MIN,
		            ACCT_PW_MAX, pw_len);
	return 0;
}

/* ------------------------------------------------------------------ */
/* scrypt                                                              */
/* ------------------------------------------------------------------ */

/* The unknown-user dummy: hashed like a real record, compared against
 * zeros (which no scrypt output is in practice; the result is ignored
 * anyway). */
static const uint8_t dummy_salt[PWHASH_SALT_LEN] = "parley:no-user:";

/* pwhash_derive with the handle's KDF, counted and its failure
 * described. Returns 0 or -EIO. */
static int kdf_derive(struct acct_db *db, const struct pwhash_kdf *k, const uint8_t *salt,
                      size_t salt_len, const void *pw, size_t pw_len, uint8_t *out, size_t out_len)
{
	int ret;

	db->kdf_calls++;
	ret = pwhash_derive(db->scrypt, k, salt, salt_len, pw, pw_len, out, out_len);
	if (ret == -ENOMEM)
		return fail(db, -EIO, "scrypt: cannot allocate a context");
	if (ret < 0)
		return fail(db, -EIO, "scrypt: derivation failed (ln %u r %u p %u)", k->ln, k->r,
		            k->p);
	return 0;
}

/* A fresh hash string of the password with the handle's parameters and
 * a random salt into out[PWHASH_STR_MAX + 1]. Returns its length or
 * -errno. */
static int hash_new(struct acct_db *db, const void *pw, size_t pw_len, char *out)
{
	struct pwhash h = {
	    .kdf = db->kdf, .salt_len = PWHASH_SALT_LEN, .hash_len = PWHASH_HASH_LEN};
	int ret;

	if (RAND_bytes(h.salt, PWHASH_SALT_LEN) != 1)
		return fail(db, -EIO, "no random bytes for a salt");
	ret = kdf_derive(db, &h.kdf, h.salt, h.salt_len, pw, pw_len, h.hash, h.hash_len);
	if (ret == 0) {
		ret = pwhash_format(&h, out, PWHASH_STR_MAX + 1);
		if (ret < 0)
			fail(db, ret, "cannot format a password hash");
	}
	cred_wipe(&h, sizeof(h));
	return ret;
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

/* Reads the schema version and refuses files that are not ours or are
 * newer than this code. Sets *version. */
static int schema_version(struct acct_db *db, int *version)
{
	int64_t v, app, objects;
	int ret;

	ret = query_one(db, "PRAGMA user_version", &v, NULL, 0);
	if (ret < 0)
		return ret;
	if (v > SCHEMA_VERSION)
		return fail(db, -EPROTO,
		            "account database has schema version %lld, newer than this "
		            "program's %d: run a newer parley-login",
		            (long long)v, SCHEMA_VERSION);
	if (v < 0)
		return fail(db, -EPROTO, "not a parley account database (user_version %lld)",
		            (long long)v);
	if (v == 0) {
		/* Version 0 is an empty file: tables without a version
		 * belong to someone else. */
		ret = query_one(db, "SELECT count(*) FROM sqlite_master", &objects, NULL, 0);
		if (ret < 0)
			return ret;
		if (objects != 0)
			return fail(db, -EPROTO,
			            "not a parley account database (tables but no schema version)");
	} else {
		ret = query_one(db, "PRAGMA application_id", &app, NULL, 0);
		if (ret < 0)
			return ret;
		if (app != ACCT_APPLICATION_ID)
			return fail(db, -EPROTO,
			            "not a parley account database (application_id %#llx)",
			            (unsigned long long)app);
	}
	*version = (int)v;
	return 0;
}

/* Brings the schema to SCHEMA_VERSION, one step per transaction. The
 * version is read again under the write lock, so two servers opening an
 * old file at once apply each step once. */
static int migrate(struct acct_db *db)
{
	for (;;) {
		char bump[64];
		int v, again, ret;

		ret = schema_version(db, &v);
		if (ret < 0 || v == SCHEMA_VERSION)
			return ret;
		ret = exec_sql(db, "BEGIN IMMEDIATE", "migration: begin");
		if (ret < 0)
			return ret;
		ret = schema_version(db, &again);
		if (ret == 0 && again == v) {
			snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
			ret = exec_sql(db, migrations[v], "migration");
			if (ret == 0)
				ret = exec_sql(db, bump, "migration: user_version");
		}
		if (ret == 0)
			ret = exec_sql(db, "COMMIT", "migration: commit");
		if (ret < 0) {
			if (!sqlite3_get_autocommit(db->sql)) {
				char keep[ERR_LEN];

				memcpy(keep, db->err, sizeof(keep));
				(void)exec_sql(db, "ROLLBACK", "migration: rollback");
				memcpy(db->err, keep, sizeof(keep));
			}
			return ret;
		}
	}
}

/* Connection settings. Foreign keys are off by default in SQLite and
 * per connection; deleting a user relies on them, so they are read back.
 * secure_delete zeroes freed pages, so a deleted user's hash does not
 * linger in the file. */
static int configure(struct acct_db *db, uint32_t busy_ms)
{
	char mode[16];
	int64_t fk;
	int rc, ret;

	rc = sqlite3_extended_result_codes(db->sql, 1);
	if (rc == SQLITE_OK)
		rc =
		    sqlite3_busy_timeout(db->sql, (int)(busy_ms > INT32_MAX ? INT32_MAX : busy_ms));
	if (rc != SQLITE_OK)
		return fail_sql(db, rc, "configure");
	ret = exec_sql(db,
	               "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"
	               " PRAGMA synchronous = FULL",
	               "pragma");
	if (ret < 0)
		return ret;
	ret = query_one(db, "PRAGMA foreign_keys", &fk, NULL, 0);
	if (ret < 0)
		return ret;
	if (fk != 1)
		return fail(db, -ENOTSUP, "this SQLite has no foreign key support");
	/* The first statement that reads the file: a non-database fails
	 * here with SQLITE_NOTADB. */
	ret = query_one(db, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
	if (ret < 0)
		return ret;
	if (strcmp(mode, "wal") != 0)
		return fail(db, -ENOTSUP, "cannot use WAL mode (journal_mode is %s)", mode);
	return 0;
}

static int prepare_all(struct acct_db *db)
{
	for (int i = 0; i < ST_COUNT; i++) {
		int rc = sqlite3_prepare_v3(db->sql, st_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                            &db->st[i], NULL);

		if (rc != SQLITE_OK)
			return fail_sql(db, rc, st_sql[i]);
	}
	return 0;
}

int acct_open_opts(const char *path, const struct acct_opts *opts, struct acct_db **out)
{
	uint32_t busy_ms = ACCT_BUSY_MS_DEFAULT;
	struct acct_db *db;
	int fd, rc, ret;

	*out = NULL;
	open_err[0] = '\0';
	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		snprintf(open_err, sizeof(open_err), "out of memory");
		return -ENOMEM;
	}
	db->kdf = ACCT_KDF_DEFAULT;
	if (opts != NULL && opts->kdf.ln != 0)
		db->kdf = opts->kdf;
	if (opts != NULL && opts->busy_ms != 0)
		busy_ms = opts->busy_ms;
	if (!pwhash_kdf_valid(&db->kdf)) {
		ret = fail(db, -EINVAL, "invalid scrypt parameters ln %u r %u p %u", db->kdf.ln,
		           db->kdf.r, db->kdf.p);
		goto err;
	}

	/* Created here, not by SQLite, which would use 0644: the file
	 * holds password hashes. SQLite gives its -wal and -shm files the
	 * main file's mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		fail(db, ret, "cannot open: %s", strerror(errno));
		goto err;
	}
	close(fd);
	/* No SQLITE_OPEN_CREATE: the file exists, and if it vanished
	 * meanwhile SQLite must not recreate it with its own mode. NOMUTEX:
	 * one thread at a time uses a handle (the header's contract). */
	rc = sqlite3_open_v2(path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		ret = db->sql != NULL ? fail_sql(db, rc, "open")
		                      : fail(db, -ENOMEM, "open: out of memory");
		goto err;
	}
	db->scrypt = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SCRYPT, NULL);
	if (db->scrypt == NULL) {
		ret = fail(db, -ENOTSUP, "OpenSSL offers no SCRYPT KDF (FIPS-only provider?)");
		goto err;
	}
	ret = configure(db, busy_ms);
	if (ret == 0)
		ret = migrate(db);
	if (ret == 0)
		ret = prepare_all(db);
	if (ret < 0)
		goto err;
	*out = db;
	return 0;
err:
	snprintf(open_err, sizeof(open_err), "%s", db->err);
	acct_close(db);
	return ret;
}

int acct_open(const char *path, struct acct_db **out)
{
	return acct_open_opts(path, NULL, out);
}

void acct_close(struct acct_db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		(void)sqlite3_finalize(db->st[i]); /* takes NULL; repeats old errors */
	/* close_v2 cannot fail with statements left over (there are none),
	 * and checkpoints the WAL when this is the last connection. */
	(void)sqlite3_close_v2(db->sql);
	EVP_KDF_free(db->scrypt);
	free(db);
}

const char *acct_last_error(const struct acct_db *db)
{
	return db != NULL ? db->err : open_err;
}

uint64_t acct_kdf_count(const struct acct_db *db)
{
	return db->kdf_calls;
}

/* ------------------------------------------------------------------ */
/* Users                                                               */
/* ------------------------------------------------------------------ */

/* Looks up a user: 1 when found (sets *id and, when hash is non-NULL,
 * copies the hash string into hash[PWHASH_STR_MAX + 1] and its
 * length into *hash_len), 0 when not, or -errno. */
static int user_find(struct acct_db *db, const char *name, size_t nlen, int64_t *id, char *hash,
                     size_t *hash_len)
{
	sqlite3_stmt *s = db->st[ST_USER_GET];
	int ret;

	ret = bind_text(db, s, 1, name, nlen);
	if (ret == 0)
		ret = st_step(db, s, "find user");
	if (ret > 0) {
		*id = sqlite3_column_int64(s, 0);
		if (hash != NULL) {
			const unsigned char *t = sqlite3_column_text(s, 1);
			int len = sqlite3_column_bytes(s, 1);

			if (t == NULL || len < 0 || (size_t)len > PWHASH_STR_MAX) {
				/* Empty, oversized or out of memory: treated as
				 * malformed, which the caller reports. */
				len = 0;
				t = (const unsigned char *)"";
			}
			memcpy(hash, t, (size_t)len);
			hash[len] = '\0';
			*hash_len = (size_t)len;
		}
	}
	st_done(s);
	return ret;
}

int acct_add_user(struct acct_db *db, const char *name, const void *password, size_t pw_len)
{
	char hash[PWHASH_STR_MAX + 1];
	sqlite3_stmt *s = db->st[ST_USER_ADD];
	size_t nlen;
	int64_t id;
	int ret, hlen;

	call_start(db);
	ret = check_name(db, name, &nlen);
	if (ret == 0)
		ret = check_new_password(db, pw_len);
	if (ret == 0)
		ret = user_find(db, name, nlen, &id, NULL, NULL);
	if (ret > 0)
		return fail(db, -EEXIST, "user %s exists", name);
	if (ret < 0)
		return ret;
	/* The scrypt runs outside any transaction: holding the write lock
	 * for it would stall every other writer. A racing add of the same
	 * name loses at the UNIQUE constraint. */
	hlen = hash_new(db, password, pw_len, hash);
	if (hlen < 0)
		return hlen;
	ret = bind_text(db, s, 1, name, nlen);
	if (ret == 0)
		ret = bind_text(db, s, 2, hash, (size_t)hlen);
	if (ret == 0)
		ret = st_run(db, s, "add user");
	else
		st_done(s);
	cred_wipe(hash, sizeof(hash));
	if (ret == -EEXIST)
		return fail(db, -EEXIST, "user %s exists", name);
	return ret;
}

int acct_set_password(struct acct_db *db, const char *name, const void *password, size_t pw_len)
{
	char hash[PWHASH_STR_MAX + 1];
	sqlite3_stmt *s = db->st[ST_USER_SETPW];
	size_t nlen;
	int64_t id;
	int ret, hlen;

	call_start(db);
	ret = check_name(db, name, &nlen);
	if (ret == 0)
		ret = check_new_password(db, pw_len);
	if (ret == 0)
		ret = user_find(db, name, nlen, &id, NULL, NULL);
	if (ret == 0)
		return fail(db, -ENOENT, "no user %s", name);
	if (ret < 0)
		return ret;
	hlen = hash_new(db, password, pw_len, hash);
	if (hlen < 0)
		return hlen;
	ret = bind_text(db, s, 1, name, nlen);
	if (ret == 0)
		ret = bind_text(db, s, 2, hash, (size_t)hlen);
	if (ret == 0)
		ret = st_run(db, s, "set password");
	else
		st_done(s);
	cred_wipe(hash, sizeof(hash));
	/* Deleted between the lookup and the update. */
	if (ret == 0 && sqlite3_changes(db->sql) == 0)
		ret = fail(db, -ENOENT, "no user %s", name);
	return ret;
}

int acct_del_user(struct acct_db *db, const char *name)
{
	sqlite3_stmt *s = db->st[ST_USER_DEL];
	size_t nlen;
	int ret;

	call_start(db);
	ret = check_name(db, name, &nlen);
	if (ret < 0)
		return ret;
	/* The devices go by ON DELETE CASCADE, in the same statement. */
	ret = bind_text(db, s, 1, name, nlen);
	if (ret == 0)
		ret = st_run(db, s, "delete user");
	else
		st_done(s);
	if (ret == 0 && sqlite3_changes(db->sql) == 0)
		ret = fail(db, -ENOENT, "no user %s", name);
	return ret;
}

int acct_count_users(struct acct_db *db, uint64_t *n)
{
	sqlite3_stmt *s = db->st[ST_USER_COUNT];
	int ret;

	call_start(db);
	ret = st_step(db, s, "count users");
	if (ret > 0) {
		*n = (uint64_t)sqlite3_column_int64(s, 0);
		ret = 0;
	} else if (ret == 0) {
		ret = fail(db, -EIO, "count users: no result");
	}
	st_done(s);
	return ret;
}

/* Best effort after a right password: see acct_check_password. */
static void rehash(struct acct_db *db, const char *name, size_t nlen, const char *old,
                   size_t old_len, const void *pw, size_t pw_len)
{
	char hash[PWHASH_STR_MAX + 1];
	sqlite3_stmt *s = db->st[ST_USER_REHASH];
	int ret, hlen;

	hlen = hash_new(db, pw, pw_len, hash);
	if (hlen < 0)
		return;
	ret = lazy_begin(db);
	if (ret == 0)
		ret = bind_text(db, s, 1, name, nlen);
	if (ret == 0)
		ret = bind_text(db, s, 2, old, old_len);
	if (ret == 0)
		ret = bind_text(db, s, 3, hash, (size_t)hlen);
	if (ret == 0)
		ret = st_run(db, s, "re-hash password");
	else
		st_done(s);
	/* Failures leave their message for the log; the login stands. */
	(void)lazy_end(db, ret);
	cred_wipe(hash, sizeof(hash));
}

int acct_check_password(struct acct_db *db, const char *name, const void *password, size_t pw_len)
{
	char stored[PWHASH_STR_MAX + 1];
	uint8_t got[PWHASH_HASH_MAX];
	struct pwhash h;
	size_t nlen, slen = 0;
	int64_t id;
	bool match;
	int ret, found;

	call_start(db);
	if (pw_len > ACCT_PW_MAX)
		return fail(db, -EINVAL, "password longer than %d bytes", ACCT_PW_MAX);
	ret = check_name(db, name, &nlen);
	if (ret < 0)
		return ret;
	found = user_find(db, name, nlen, &id, stored, &slen);
	if (found < 0)
		return found;
	if (found) {
		if (pwhash_parse(stored, slen, &h) < 0) {
			cred_wipe(stored, sizeof(stored));
			return fail(db, -EIO, "user %s: stored password hash is malformed", name);
		}
	} else {
		/* Same cost as a user hashed with this handle's parameters,
		 * the common case. */
		memset(&h, 0, sizeof(h));
		h.kdf = db->kdf;
		h.salt_len = PWHASH_SALT_LEN;
		h.hash_len = PWHASH_HASH_LEN;
		memcpy(h.salt, dummy_salt, PWHASH_SALT_LEN);
	}
	ret = kdf_derive(db, &h.kdf, h.salt, h.salt_len, password, pw_len, got, h.hash_len);
	match = ret == 0 && cred_equal(got, h.hash, h.hash_len);
	cred_wipe(got, sizeof(got));
	if (ret == 0 && !found)
		ret = fail(db, -ENOENT, "no user %s", name);
	else if (ret == 0 && !match)
		ret = fail(db, -EACCES, "wrong password for %s", name);
	else if (ret == 0 && pwhash_weaker(&h, &db->kdf))
		rehash(db, name, nlen, stored, slen, password, pw_len);
	cred_wipe(&h, sizeof(h));
	cred_wipe(stored, sizeof(stored));
	return ret;
}

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

static int check_now(struct acct_db *db, uint64_t now)
{
	if (now > INT64_MAX)
		return fail(db, -EINVAL, "time %llu out of range", (unsigned long long)now);
	return 0;
}

/* The body of acct_add_device, inside its transaction. */
static int add_device_tx(struct acct_db *db, const char *name, size_t nlen, const uint8_t *pub,
                         int64_t now)
{
	sqlite3_stmt *s;
	int64_t id, count;
	int ret;

	ret = user_find(db, name, nlen, &id, NULL, NULL);
	if (ret == 0)
		return fail(db, -ENOENT, "no user %s", name);
	if (ret < 0)
		return ret;

	s = db->st[ST_DEV_TOUCH];
	ret = bind_i64(db, s, 1, id);
	if (ret == 0)
		ret = bind_blob(db, s, 2, pub, ACCT_PUB_LEN);
	if (ret == 0)
		ret = bind_i64(db, s, 3, now);
	if (ret == 0)
		ret = st_run(db, s, "refresh device");
	else
		st_done(s);
	if (ret < 0)
		return ret;
	if (sqlite3_changes(db->sql) > 0)
		return 0; /* already registered */

	s = db->st[ST_DEV_COUNT];
	ret = bind_i64(db, s, 1, id);
	if (ret == 0)
		ret = st_step(db, s, "count devices");
	count = ret > 0 ? sqlite3_column_int64(s, 0) : 0;
	st_done(s);
	if (ret == 0)
		return fail(db, -EIO, "count devices: no result");
	if (ret < 0)
		return ret;
	if (count >= ACCT_MAX_DEVICES)
		return fail(db, -ENOSPC, "user %s has %d devices, the most allowed: remove one",
		            name, ACCT_MAX_DEVICES);

	s = db->st[ST_DEV_ADD];
	ret = bind_i64(db, s, 1, id);
	if (ret == 0)
		ret = bind_blob(db, s, 2, pub, ACCT_PUB_LEN);
	if (ret == 0)
		ret = bind_i64(db, s, 3, now);
	if (ret == 0)
		ret = st_run(db, s, "add device");
	else
		st_done(s);
	return ret;
}

int acct_add_device(struct acct_db *db, const char *name, const uint8_t pub[ACCT_PUB_LEN],
                    uint64_t now)
{
	size_t nlen;
	int ret;

	call_start(db);
	ret = check_name(db, name, &nlen);
	if (ret == 0)
		ret = check_now(db, now);
	if (ret == 0)
		ret = tx_begin(db);
	if (ret < 0)
		return ret;
	return tx_end(db, add_device_tx(db, name, nlen, pub, (int64_t)now));
}

int acct_check_device(struct acct_db *db, const char *name, const uint8_t pub[ACCT_PUB_LEN],
                      uint64_t now)
{
	sqlite3_stmt *s = db->st[ST_DEV_CHECK];
	size_t nlen;
	int ret, changed;

	call_start(db);
	ret = check_name(db, name, &nlen);
	if (ret == 0)
		ret = check_now(db, now);
	if (ret < 0)
		return ret;
	ret = lazy_begin(db);
	if (ret < 0)
		return ret;
	ret = bind_text(db, s, 1, name, nlen);
	if (ret == 0)
		ret = bind_blob(db, s, 2, pub, ACCT_PUB_LEN);
	if (ret == 0)
		ret = bind_i64(db, s, 3, (int64_t)now);
	if (ret == 0)
		ret = st_run(db, s, "check device");
	else
		st_done(s);
	changed = ret == 0 ? sqlite3_changes(db->sql) : 0;
	ret = lazy_end(db, ret);
	if (ret == 0 && changed == 0)
		ret = fail(db, -ENOENT, "device not registered to %s", name);
	return ret;
}

int acct_del_device(struct acct_db *db, const char *name, const uint8_t pub[ACCT_PUB_LEN])
{
	sqlite3_stmt *s = db->st[ST_DEV_DEL];
	size_t nlen;
	int ret;

	call_start(db);
	ret = check_name(db, name, &nlen);
	if (ret < 0)
		return ret;
	ret = bind_text(db, s, 1, name, nlen);
	if (ret == 0)
		ret = bind_blob(db, s, 2, pub, ACCT_PUB_LEN);
	if (ret == 0)
		ret = st_run(db, s, "delete device");
	else
		st_done(s);
	if (ret == 0 && sqlite3_changes(db->sql) == 0)
		ret = fail(db, -ENOENT, "device not registered to %s", name);
	return ret;
}

int acct_list_devices(struct acct_db *db, const char *name, struct acct_device *out, size_t cap)
{
	sqlite3_stmt *s = db->st[ST_DEV_LIST];
	bool user = false;
	size_t count = 0;
	size_t nlen;
	int ret;

	call_start(db);
	ret = check_name(db, name, &nlen);
	if (ret < 0)
		return ret;
	ret = bind_text(db, s, 1, name, nlen);
	while (ret == 0 && (ret = st_step(db, s, "list devices")) > 0) {
		const void *pub;

		ret = 0;
		user = true;
		if (sqlite3_column_type(s, 0) == SQLITE_NULL)
			break; /* a user without devices */
		pub = sqlite3_column_blob(s, 0);
		if (pub == NULL || sqlite3_column_bytes(s, 0) != ACCT_PUB_LEN) {
			ret = fail(db, -EIO, "list devices: malformed key for %s", name);
			break;
		}
		if (count < cap) {
			memcpy(out[count].pub, pub, ACCT_PUB_LEN);
			out[count].created = (uint64_t)sqlite3_column_int64(s, 1);
			out[count].last_used = (uint64_t)sqlite3_column_int64(s, 2);
		}
		count++;
	}
	st_done(s);
	if (ret < 0)
		return ret;
	if (!user)
		return fail(db, -ENOENT, "no user %s", name);
	return (int)count;
}
