/* Unit tests for src/login/accounts. Each test gets its own temporary
 * directory. Handles are opened with a tiny scrypt cost (TEST_KDF) so the
 * suite runs fast; default_parameters uses the real cost once.
 *
 * The stored-hash known answer is RFC 7914 §12's second vector
 * (P "password", S "NaCl", N 1024, r 8, p 16, 64 bytes), cross-checked
 * with `openssl kdf -keylen 64 -kdfopt pass:password -kdfopt salt:NaCl
 * -kdfopt n:1024 -kdfopt r:8 -kdfopt p:16 SCRYPT` and Python's
 * hashlib.scrypt. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/login/accounts.h"
#include "src/login/pwhash.h"

#define S(lit) (lit), (sizeof(lit) - 1)
#define PW     S("correct horse")

static const struct acct_opts test_opts = {.kdf = {.ln = 4, .r = 8, .p = 1}};

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/acct_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/accounts.db", dir);
}

static void teardown(void)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[160];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

TestSuite(accounts, .init = setup, .fini = teardown);

static struct acct_db *open_test(void)
{
	struct acct_db *db = NULL;

	cr_assert_eq(acct_open_opts(path, &test_opts, &db), 0, "%s", acct_last_error(NULL));
	cr_assert_not_null(db);
	return db;
}

static struct acct_db *open_kdf(uint32_t ln)
{
	struct acct_opts o = {.kdf = {.ln = ln, .r = 8, .p = 1}};
	struct acct_db *db = NULL;

	cr_assert_eq(acct_open_opts(path, &o, &db), 0, "%s", acct_last_error(NULL));
	return db;
}

/* Raw SQL on the file, behind the module's back (a second connection). */
static void sql_exec(const char *sql)
{
	sqlite3 *s;

	cr_assert_eq(sqlite3_open(path, &s), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(s, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
	             sqlite3_errmsg(s));
	sqlite3_close(s);
}

static int64_t sql_int(const char *sql)
{
	sqlite3_stmt *st;
	sqlite3 *s;
	int64_t v;

	cr_assert_eq(sqlite3_open(path, &s), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(s);
	return v;
}

static void sql_text(const char *sql, char *out, size_t len)
{
	sqlite3_stmt *st;
	sqlite3 *s;

	cr_assert_eq(sqlite3_open(path, &s), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
	snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(s);
}

static void stored_hash(const char *name, char *out, size_t len)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT pwhash FROM users WHERE name = '%s'", name);
	sql_text(sql, out, len);
}

static void set_stored_hash(const char *name, const char *hash)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "UPDATE users SET pwhash = '%s' WHERE name = '%s'", hash, name);
	sql_exec(sql);
}

static void key(uint8_t pub[ACCT_PUB_LEN], uint8_t seed)
{
	for (int i = 0; i < ACCT_PUB_LEN; i++)
		pub[i] = (uint8_t)(seed * 31 + i);
}

/* ------------------------------------------------------------------ */
/* Users and passwords                                                 */
/* ------------------------------------------------------------------ */

Test(accounts, add_and_check_password)
{
	struct acct_db *db = open_test();
	uint64_t n = 99;

	cr_assert_eq(acct_count_users(db, &n), 0);
	cr_expect_eq(n, 0);
	cr_assert_eq(acct_add_user(db, "alice", PW), 0, "%s", acct_last_error(db));
	cr_expect_str_empty(acct_last_error(db));
	cr_expect_eq(acct_check_password(db, "alice", PW), 0);
	cr_expect_eq(acct_check_password(db, "alice", S("correct horsf")), -EACCES);
	cr_expect(strstr(acct_last_error(db), "wrong password") != NULL, "%s", acct_last_error(db));
	cr_expect_eq(acct_check_password(db, "alice", S("correct hors")), -EACCES);
	cr_expect_eq(acct_check_password(db, "alice", NULL, 0), -EACCES);
	cr_expect_eq(acct_check_password(db, "bob", PW), -ENOENT);
	cr_assert_eq(acct_count_users(db, &n), 0);
	cr_expect_eq(n, 1);
	acct_close(db);
}

/* Checked through the counter hook: the unknown-user path runs exactly
 * one scrypt, as a known user does, and adds no database write. */
Test(accounts, unknown_user_costs_a_scrypt)
{
	struct acct_db *db = open_test();
	uint64_t before;

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	before = acct_kdf_count(db);
	cr_expect_eq(acct_check_password(db, "alice", PW), 0);
	cr_expect_eq(acct_kdf_count(db), before + 1);
	cr_expect_eq(acct_check_password(db, "alice", S("wrong password")), -EACCES);
	cr_expect_eq(acct_kdf_count(db), before + 2);
	cr_expect_eq(acct_check_password(db, "mallory", PW), -ENOENT);
	cr_expect_eq(acct_kdf_count(db), before + 3);
	/* Rejected before any lookup: no scrypt, and no hint either way. */
	cr_expect_eq(acct_check_password(db, "Mallory", PW), -EINVAL);
	cr_expect_eq(acct_kdf_count(db), before + 3);
	acct_close(db);
}

Test(accounts, set_password_replaces_the_old_one)
{
	struct acct_db *db = open_test();

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	cr_assert_eq(acct_set_password(db, "alice", S("battery staple")), 0);
	cr_expect_eq(acct_check_password(db, "alice", PW), -EACCES);
	cr_expect_eq(acct_check_password(db, "alice", S("battery staple")), 0);
	cr_expect_eq(acct_set_password(db, "bob", S("battery staple")), -ENOENT);
	cr_expect_eq(acct_set_password(db, "alice", S("short")), -EINVAL);
	cr_expect_eq(acct_set_password(db, "ALICE", S("battery staple")), -EINVAL);
	cr_expect_eq(acct_check_password(db, "alice", S("battery staple")), 0);
	acct_close(db);
}

Test(accounts, duplicate_user)
{
	struct acct_db *db = open_test();
	uint64_t before, n;

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	before = acct_kdf_count(db);
	cr_expect_eq(acct_add_user(db, "alice", S("another password")), -EEXIST);
	cr_expect_eq(acct_kdf_count(db), before, "a duplicate should fail before hashing");
	cr_expect_eq(acct_check_password(db, "alice", PW), 0);
	cr_assert_eq(acct_count_users(db, &n), 0);
	cr_expect_eq(n, 1);
	acct_close(db);
}

Test(accounts, name_rule)
{
	char max[ACCT_NAME_MAX + 2];

	memset(max, 'a', sizeof(max));
	cr_expect(acct_name_valid(max, ACCT_NAME_MAX));
	cr_expect_not(acct_name_valid(max, ACCT_NAME_MAX + 1));
	cr_expect(acct_name_valid(S("a")));
	cr_expect(acct_name_valid(S("7")));
	cr_expect(acct_name_valid(S("a.b_c-d9")));
	cr_expect(acct_name_valid(S("0day.")));
	cr_expect_not(acct_name_valid(S("")));
	cr_expect_not(acct_name_valid(NULL, 0));
	cr_expect_not(acct_name_valid(S("Alice")));
	cr_expect_not(acct_name_valid(S("al/ice")));
	cr_expect_not(acct_name_valid(S("al ice")));
	cr_expect_not(acct_name_valid(S(".alice")));
	cr_expect_not(acct_name_valid(S("-alice")));
	cr_expect_not(acct_name_valid(S("_alice")));
	cr_expect_not(acct_name_valid(S("al\0ice")));
	cr_expect_not(acct_name_valid(S("alice\0")));
	cr_expect_not(acct_name_valid(S("al\xc3\xa9")));
	cr_expect_not(acct_name_valid(S("al:ice")));
	cr_expect_not(acct_name_valid(S("al@ice")));
}

Test(accounts, bad_names_refused)
{
	static const char *const bad[] = {"",       "Alice", "al/ice", "al ice",
	                                  ".alice", "-x",    "x\n",    "al'ice"};
	struct acct_db *db = open_test();
	uint8_t pub[ACCT_PUB_LEN];
	char max[ACCT_NAME_MAX + 2];
	uint64_t n;

	key(pub, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(acct_add_user(db, bad[i], PW), -EINVAL, "'%s'", bad[i]);
		cr_expect(strstr(acct_last_error(db), "invalid user name") != NULL);
		cr_expect_eq(acct_check_password(db, bad[i], PW), -EINVAL);
		cr_expect_eq(acct_del_user(db, bad[i]), -EINVAL);
		cr_expect_eq(acct_add_device(db, bad[i], pub, 1), -EINVAL);
		cr_expect_eq(acct_check_device(db, bad[i], pub, 1), -EINVAL);
		cr_expect_eq(acct_list_devices(db, bad[i], NULL, 0), -EINVAL);
	}
	cr_expect_eq(acct_add_user(db, NULL, PW), -EINVAL);
	memset(max, 'a', sizeof(max));
	max[ACCT_NAME_MAX + 1] = '\0'; /* 65 bytes */
	cr_expect_eq(acct_add_user(db, max, PW), -EINVAL);
	max[ACCT_NAME_MAX] = '\0'; /* 64 bytes */
	cr_expect_eq(acct_add_user(db, max, PW), 0, "%s", acct_last_error(db));
	cr_expect_eq(acct_check_password(db, max, PW), 0);
	cr_assert_eq(acct_count_users(db, &n), 0);
	cr_expect_eq(n, 1);
	acct_close(db);
}

Test(accounts, password_lengths)
{
	static char big[ACCT_PW_MAX + 1];
	struct acct_db *db = open_test();

	memset(big, 'x', sizeof(big));
	cr_expect_eq(acct_add_user(db, "a", S("1234567")), -EINVAL);
	cr_expect_eq(acct_add_user(db, "a", NULL, 0), -EINVAL);
	cr_expect_eq(acct_add_user(db, "a", big, ACCT_PW_MAX + 1), -EINVAL);
	cr_expect_eq(acct_add_user(db, "a", S("12345678")), 0);
	cr_expect_eq(acct_add_user(db, "b", big, ACCT_PW_MAX), 0);
	cr_expect_eq(acct_check_password(db, "a", S("12345678")), 0);
	cr_expect_eq(acct_check_password(db, "b", big, ACCT_PW_MAX), 0);
	cr_expect_eq(acct_check_password(db, "b", big, ACCT_PW_MAX + 1), -EINVAL);
	cr_expect_eq(acct_check_password(db, "nobody", big, ACCT_PW_MAX + 1), -EINVAL);
	/* Bytes, not C strings: a NUL inside counts. */
	cr_expect_eq(acct_add_user(db, "c", S("abcd\0efgh")), 0);
	cr_expect_eq(acct_check_password(db, "c", S("abcd\0efgh")), 0);
	cr_expect_eq(acct_check_password(db, "c", S("abcd\0efgX")), -EACCES);
	cr_expect_eq(acct_check_password(db, "c", S("abcd")), -EACCES);
	acct_close(db);
}

Test(accounts, salts_differ)
{
	struct acct_db *db = open_test();
	char a[PWHASH_STR_MAX + 1], b[PWHASH_STR_MAX + 1];

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	cr_assert_eq(acct_add_user(db, "bob", PW), 0);
	stored_hash("alice", a, sizeof(a));
	stored_hash("bob", b, sizeof(b));
	cr_expect_str_neq(a, b);
	acct_close(db);
}

Test(accounts, del_user_removes_devices)
{
	struct acct_db *db = open_test();
	uint8_t pub[ACCT_PUB_LEN];
	uint64_t n;

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	cr_assert_eq(acct_add_user(db, "bob", PW), 0);
	for (uint8_t i = 0; i < 3; i++) {
		key(pub, i);
		cr_assert_eq(acct_add_device(db, "alice", pub, 100 + i), 0);
	}
	key(pub, 9);
	cr_assert_eq(acct_add_device(db, "bob", pub, 100), 0);
	cr_expect_eq(sql_int("SELECT count(*) FROM devices"), 4);

	cr_expect_eq(acct_del_user(db, "alice"), 0);
	cr_expect_eq(acct_del_user(db, "alice"), -ENOENT);
	cr_expect_eq(sql_int("SELECT count(*) FROM devices"), 1);
	key(pub, 0);
	cr_expect_eq(acct_check_device(db, "alice", pub, 200), -ENOENT);
	cr_expect_eq(acct_check_password(db, "alice", PW), -ENOENT);
	cr_assert_eq(acct_count_users(db, &n), 0);
	cr_expect_eq(n, 1);

	/* A new account under the old name starts clean. */
	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	cr_expect_eq(acct_list_devices(db, "alice", NULL, 0), 0);
	cr_expect_eq(acct_check_device(db, "alice", pub, 200), -ENOENT);
	key(pub, 9);
	cr_expect_eq(acct_check_device(db, "bob", pub, 200), 0);
	acct_close(db);
}

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

Test(accounts, devices)
{
	struct acct_db *db = open_test();
	struct acct_device list[4];
	uint8_t k1[ACCT_PUB_LEN], k2[ACCT_PUB_LEN];

	key(k1, 1);
	key(k2, 2);
	cr_expect_eq(acct_add_device(db, "alice", k1, 100), -ENOENT);
	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	cr_assert_eq(acct_add_user(db, "bob", PW), 0);
	cr_expect_eq(acct_list_devices(db, "alice", list, 4), 0);
	cr_expect_eq(acct_list_devices(db, "carol", list, 4), -ENOENT);

	cr_assert_eq(acct_add_device(db, "alice", k1, 100), 0);
	cr_assert_eq(acct_add_device(db, "alice", k2, 110), 0);
	cr_expect_eq(acct_check_device(db, "alice", k1, 120), 0);
	cr_expect_eq(acct_check_device(db, "bob", k1, 120), -ENOENT);
	cr_expect_eq(acct_check_device(db, "carol", k1, 120), -ENOENT);
	/* Registering again refreshes last_used, keeps created. */
	cr_expect_eq(acct_add_device(db, "alice", k2, 130), 0);

	cr_assert_eq(acct_list_devices(db, "alice", list, 4), 2);
	cr_expect_arr_eq(list[0].pub, k1, ACCT_PUB_LEN);
	cr_expect_eq(list[0].created, 100);
	cr_expect_eq(list[0].last_used, 120);
	cr_expect_arr_eq(list[1].pub, k2, ACCT_PUB_LEN);
	cr_expect_eq(list[1].created, 110);
	cr_expect_eq(list[1].last_used, 130);

	cr_expect_eq(acct_del_device(db, "alice", k1), 0);
	cr_expect_eq(acct_del_device(db, "alice", k1), -ENOENT);
	cr_expect_eq(acct_del_device(db, "bob", k2), -ENOENT);
	cr_expect_eq(acct_check_device(db, "alice", k1, 140), -ENOENT);
	cr_expect_eq(acct_check_device(db, "alice", k2, 140), 0);
	cr_expect_eq(acct_list_devices(db, "alice", list, 4), 1);
	cr_expect_arr_eq(list[0].pub, k2, ACCT_PUB_LEN);
	cr_expect_eq(list[0].last_used, 140);

	cr_expect_eq(acct_add_device(db, "alice", k1, (uint64_t)INT64_MAX + 1), -EINVAL);
	cr_expect_eq(acct_check_device(db, "alice", k2, UINT64_MAX), -EINVAL);
	cr_expect_eq(acct_check_device(db, "alice", k2, INT64_MAX), 0);
	acct_close(db);
}

Test(accounts, device_limit)
{
	struct acct_db *db = open_test();
	struct acct_device list[ACCT_MAX_DEVICES];
	uint8_t pub[ACCT_PUB_LEN];

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	for (uint8_t i = 0; i < ACCT_MAX_DEVICES; i++) {
		key(pub, i);
		cr_assert_eq(acct_add_device(db, "alice", pub, 1000 + i), 0, "%u", i);
	}
	key(pub, ACCT_MAX_DEVICES);
	cr_expect_eq(acct_add_device(db, "alice", pub, 2000), -ENOSPC);
	cr_expect(strstr(acct_last_error(db), "remove one") != NULL, "%s", acct_last_error(db));
	/* Nothing was evicted to make room. */
	cr_expect_eq(acct_list_devices(db, "alice", NULL, 0), ACCT_MAX_DEVICES);
	key(pub, 0);
	cr_expect_eq(acct_check_device(db, "alice", pub, 2001), 0);
	/* A registered key at the limit still refreshes. */
	key(pub, 5);
	cr_expect_eq(acct_add_device(db, "alice", pub, 2002), 0);
	/* cap below the count: the count, and only cap written. */
	cr_expect_eq(acct_list_devices(db, "alice", list, 3), ACCT_MAX_DEVICES);
	key(pub, 0);
	cr_expect_arr_eq(list[0].pub, pub, ACCT_PUB_LEN);

	cr_assert_eq(acct_del_device(db, "alice", pub), 0);
	key(pub, ACCT_MAX_DEVICES);
	cr_expect_eq(acct_add_device(db, "alice", pub, 2003), 0);
	cr_expect_eq(acct_list_devices(db, "alice", list, ACCT_MAX_DEVICES), ACCT_MAX_DEVICES);
	acct_close(db);
}

/* ------------------------------------------------------------------ */
/* Opening and migrations                                              */
/* ------------------------------------------------------------------ */

Test(accounts, new_file_mode_0600)
{
	struct acct_db *db;
	struct stat st;
	char p[160];
	mode_t old = umask(0); /* the mode must not depend on the umask */

	db = open_test();
	umask(old);
	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "%o", st.st_mode & 0777);
	snprintf(p, sizeof(p), "%s-wal", path);
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "wal %o", st.st_mode & 0777);
	snprintf(p, sizeof(p), "%s-shm", path);
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "shm %o", st.st_mode & 0777);
	acct_close(db);
}

Test(accounts, open_failures)
{
	struct acct_db *db = (struct acct_db *)1;
	struct acct_opts o = {.kdf = {.ln = 31, .r = 8, .p = 1}};
	char p[160];

	cr_expect_eq(acct_open_opts(path, &o, &db), -EINVAL);
	cr_expect_null(db);
	cr_expect(strstr(acct_last_error(NULL), "scrypt") != NULL, "%s", acct_last_error(NULL));
	o.kdf = (struct pwhash_kdf){.ln = 16, .r = 1, .p = 1}; /* RFC 7914: N < 2^(16 r) */
	cr_expect_eq(acct_open_opts(path, &o, &db), -EINVAL);
	o.kdf = (struct pwhash_kdf){.ln = 20, .r = 8, .p = 1}; /* 1 GiB and a bit */
	cr_expect_eq(acct_open_opts(path, &o, &db), -EINVAL);
	snprintf(p, sizeof(p), "%s/no/such/dir.db", dir);
	cr_expect_eq(acct_open(p, &db), -ENOENT);
	cr_expect_null(db);
	cr_expect_str_neq(acct_last_error(NULL), "");
	acct_close(NULL);
}

Test(accounts, migrate_empty_file)
{
	struct acct_db *db;
	char mode[16];
	int fd = open(path, O_CREAT | O_WRONLY, 0600);

	cr_assert_geq(fd, 0);
	close(fd);
	db = open_test();
	cr_expect_gt(sql_int("PRAGMA user_version"), 0);
	cr_expect_eq(sql_int("PRAGMA application_id"), 0x70726c79);
	sql_text("PRAGMA journal_mode", mode, sizeof(mode));
	cr_expect_str_eq(mode, "wal");
	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	acct_close(db);
}

Test(accounts, reopen_current_version)
{
	struct acct_db *db = open_test();
	uint8_t pub[ACCT_PUB_LEN];
	int64_t version;

	key(pub, 3);
	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	cr_assert_eq(acct_add_device(db, "alice", pub, 5), 0);
	acct_close(db);
	version = sql_int("PRAGMA user_version");

	db = open_test();
	cr_expect_eq(sql_int("PRAGMA user_version"), version);
	cr_expect_eq(acct_check_password(db, "alice", PW), 0);
	cr_expect_eq(acct_check_device(db, "alice", pub, 6), 0);
	acct_close(db);
}

Test(accounts, newer_version_refused)
{
	struct acct_db *db = open_test();

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	acct_close(db);
	sql_exec("PRAGMA user_version = 1000");
	db = (struct acct_db *)1;
	cr_expect_eq(acct_open_opts(path, &test_opts, &db), -EPROTO);
	cr_expect_null(db);
	cr_expect(strstr(acct_last_error(NULL), "newer") != NULL, "%s", acct_last_error(NULL));
	/* Untouched: a newer program can still use it. */
	cr_expect_eq(sql_int("PRAGMA user_version"), 1000);
	cr_expect_eq(sql_int("SELECT count(*) FROM users"), 1);
}

Test(accounts, foreign_files_refused)
{
	struct acct_db *db;
	FILE *f;

	/* Another program's database: tables, no version. */
	sql_exec("CREATE TABLE songs (title TEXT)");
	cr_expect_eq(acct_open_opts(path, &test_opts, &db), -EPROTO);
	cr_expect(strstr(acct_last_error(NULL), "not a parley") != NULL, "%s",
	          acct_last_error(NULL));
	cr_expect_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'users'"), 0);
	/* Versioned, but not ours. */
	sql_exec("PRAGMA user_version = 1");
	cr_expect_eq(acct_open_opts(path, &test_opts, &db), -EPROTO);
	cr_expect(strstr(acct_last_error(NULL), "application_id") != NULL, "%s",
	          acct_last_error(NULL));
	teardown();
	setup();
	/* Not a database at all. */
	f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 64; i++)
		fputs("this is a text file, not an SQLite database\n", f);
	fclose(f);
	cr_expect_eq(acct_open_opts(path, &test_opts, &db), -EPROTO);
	cr_expect_null(db);
}

Test(accounts, two_handles_see_each_other)
{
	struct acct_db *a = open_test(), *b = open_test();
	uint8_t pub[ACCT_PUB_LEN];
	uint64_t n;

	key(pub, 7);
	cr_assert_eq(acct_add_user(a, "alice", PW), 0);
	cr_expect_eq(acct_check_password(b, "alice", PW), 0);
	cr_assert_eq(acct_add_device(b, "alice", pub, 10), 0);
	cr_expect_eq(acct_check_device(a, "alice", pub, 11), 0);
	cr_assert_eq(acct_set_password(b, "alice", S("battery staple")), 0);
	cr_expect_eq(acct_check_password(a, "alice", PW), -EACCES);
	cr_assert_eq(acct_del_user(a, "alice"), 0);
	cr_expect_eq(acct_check_device(b, "alice", pub, 12), -ENOENT);
	cr_assert_eq(acct_count_users(b, &n), 0);
	cr_expect_eq(n, 0);
	acct_close(a);
	acct_close(b);
}

/* Threads each with their own handle, as the login server runs. */
#define RACERS 4

static pthread_barrier_t start;

struct racer {
	int id;
	int ok, full, other; /* add_device results */
	int open_ret;
};

static void *race_open(void *arg)
{
	struct racer *r = arg;
	struct acct_db *db = NULL;

	pthread_barrier_wait(&start);
	r->open_ret = acct_open_opts(path, &test_opts, &db);
	acct_close(db);
	return NULL;
}

/* Several servers opening one new file at once: each migration step is
 * applied once, and every open succeeds. */
Test(accounts, concurrent_open)
{
	struct racer r[RACERS] = {0};
	pthread_t t[RACERS];
	struct acct_db *db;

	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, race_open, &r[i]), 0);
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(r[i].open_ret, 0, "racer %d: %d", i, r[i].open_ret);
	}
	pthread_barrier_destroy(&start);
	db = open_test();
	cr_expect_eq(acct_add_user(db, "alice", PW), 0);
	acct_close(db);
}

static void *race_devices(void *arg)
{
	struct racer *r = arg;
	struct acct_db *db = NULL;
	uint8_t pub[ACCT_PUB_LEN];

	r->open_ret = acct_open_opts(path, &test_opts, &db);
	pthread_barrier_wait(&start);
	if (r->open_ret < 0)
		return NULL;
	for (int i = 0; i < ACCT_MAX_DEVICES; i++) {
		int ret;

		key(pub, (uint8_t)(r->id * ACCT_MAX_DEVICES + i));
		ret = acct_add_device(db, "alice", pub, (uint64_t)i);
		if (ret == 0)
			r->ok++;
		else if (ret == -ENOSPC)
			r->full++;
		else
			r->other++;
	}
	acct_close(db);
	return NULL;
}

/* The count and the insert are one transaction: racing handles fill the
 * limit exactly, and writers wait for each other instead of failing. */
Test(accounts, concurrent_device_limit)
{
	struct racer r[RACERS] = {0};
	pthread_t t[RACERS];
	struct acct_db *db = open_test();
	int ok = 0, full = 0;

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i].id = i;
		cr_assert_eq(pthread_create(&t[i], NULL, race_devices, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(r[i].open_ret, 0);
		cr_expect_eq(r[i].other, 0, "racer %d: %d other errors", i, r[i].other);
		ok += r[i].ok;
		full += r[i].full;
	}
	pthread_barrier_destroy(&start);
	cr_expect_eq(ok, ACCT_MAX_DEVICES);
	cr_expect_eq(full, (RACERS - 1) * ACCT_MAX_DEVICES);
	cr_expect_eq(acct_list_devices(db, "alice", NULL, 0), ACCT_MAX_DEVICES);
	acct_close(db);
}

/* ------------------------------------------------------------------ */
/* Stored hashes                                                       */
/* ------------------------------------------------------------------ */

Test(accounts, stored_hash_format)
{
	struct acct_db *db = open_test();
	char s[PWHASH_STR_MAX + 1], again[PWHASH_STR_MAX + 1];
	struct pwhash h;

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	stored_hash("alice", s, sizeof(s));
	cr_expect_eq(strncmp(s, "scrypt$4$8$1$", 13), 0, "%s", s);
	cr_assert_eq(pwhash_parse(s, strlen(s), &h), 0, "%s", s);
	cr_expect_eq(h.kdf.ln, 4);
	cr_expect_eq(h.kdf.r, 8);
	cr_expect_eq(h.kdf.p, 1);
	cr_expect_eq(h.salt_len, PWHASH_SALT_LEN);
	cr_expect_eq(h.hash_len, PWHASH_HASH_LEN);
	/* 13 + 24 (salt) + 1 + 44 (hash) */
	cr_expect_eq(strlen(s), 82, "%s", s);
	cr_assert_eq(pwhash_format(&h, again, sizeof(again)), (int)strlen(s));
	cr_expect_str_eq(again, s);
	cr_expect_eq(pwhash_format(&h, again, strlen(s)), -ENOSPC);
	acct_close(db);
}

/* RFC 7914 §12 vector planted as a stored record: a hash made with other
 * parameters (N 1024, p 16), a 4-byte salt and 64-byte output verifies,
 * because the parameters come from the string. Its short salt makes it
 * weaker than a new hash, so the right password re-hashes it. */
Test(accounts, stored_parameters_win)
{
	static const char rfc[] = "scrypt$10$8$16$TmFDbA==$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3"
	                          "MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA==";
	struct acct_db *db = open_test();
	char s[PWHASH_STR_MAX + 1];
	uint64_t before;

	cr_assert_eq(acct_add_user(db, "alice", PW), 0);
	set_stored_hash("alice", rfc);
	before = acct_kdf_count(db);
	cr_expect_eq(acct_check_password(db, "alice", S("passwore")), -EACCES);
	cr_expect_eq(acct_kdf_count(db), before + 1);
	stored_hash("alice", s, sizeof(s));
	cr_expect_str_eq(s, rfc, "a wrong password must not re-hash");
	cr_expect_eq(acct_check_password(db, "alice", S("password")), 0, "%s", acct_last_error(db));
	cr_expect_eq(acct_kdf_count(db), before + 3, "check and re-hash");
	stored_hash("alice", s, sizeof(s));
	cr_expect_eq(strncmp(s, "scrypt$4$8$1$", 13), 0, "%s", s);
	cr_expect_eq(acct_check_password(db, "alice", S("password")), 0);
	cr_expect_eq(acct_kdf_count(db), before + 4, "no second re-hash");

	/* A malformed record is an error, not a wrong password. */
	set_stored_hash("alice", "scrypt$4$8$1$garbage");
	cr_expect_eq(acct_check_password(db, "alice", S("password")), -EIO);
	cr_expect(strstr(acct_last_error(db), "malformed") != NULL);
	acct_close(db);
}

/* Lower parameters in a stored hash verify and are upgraded by a handle
 * with higher ones; a handle with lower ones never downgrades. */
Test(accounts, weaker_hash_upgraded_not_downgraded)
{
	struct acct_db *lo = open_kdf(4), *hi = open_kdf(6);
	char s[PWHASH_STR_MAX + 1];
	uint64_t before;

	cr_assert_eq(acct_add_user(lo, "alice", PW), 0);
	cr_assert_eq(acct_add_user(hi, "bob", PW), 0);

	before = acct_kdf_count(hi);
	cr_expect_eq(acct_check_password(hi, "alice", PW), 0);
	cr_expect_eq(acct_kdf_count(hi), before + 2);
	stored_hash("alice", s, sizeof(s));
	cr_expect_eq(strncmp(s, "scrypt$6$8$1$", 13), 0, "%s", s);
	cr_expect_eq(acct_check_password(lo, "alice", PW), 0);

	before = acct_kdf_count(lo);
	cr_expect_eq(acct_check_password(lo, "bob", PW), 0);
	cr_expect_eq(acct_kdf_count(lo), before + 1);
	stored_hash("bob", s, sizeof(s));
	cr_expect_eq(strncmp(s, "scrypt$6$8$1$", 13), 0, "%s", s);
	acct_close(lo);
	acct_close(hi);
}

static double seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Once with the real cost: what the login server runs. */
Test(accounts, default_parameters, .timeout = 60)
{
	struct acct_db *db = NULL;
	char s[PWHASH_STR_MAX + 1];
	double t0, t1;

	cr_assert_eq(acct_open(path, &db), 0, "%s", acct_last_error(NULL));
	cr_assert_eq(acct_add_user(db, "alice", PW), 0, "%s", acct_last_error(db));
	stored_hash("alice", s, sizeof(s));
	cr_expect_eq(strncmp(s, "scrypt$15$8$1$", 14), 0, "%s", s);
	t0 = seconds();
	cr_expect_eq(acct_check_password(db, "alice", PW), 0);
	t1 = seconds();
	cr_expect_eq(acct_check_password(db, "nobody", PW), -ENOENT);
	cr_log_info("scrypt N=2^15 r=8 p=1: known user %.0f ms, unknown user %.0f ms\n",
	            (t1 - t0) * 1e3, (seconds() - t1) * 1e3);
	acct_close(db);
}
