/* state: what the client keeps between runs, in one directory (--state,
 * else $XDG_STATE_HOME/parley, else ~/.local/state/parley), mode 0700:
 *
 *   device.key   the device's Ed25519 seed (0600): its identity
 *   server.pub   the login server's key, pinned at first use (hex)
 *   account      user, login server address, whether this device is
 *                registered (key=value lines)
 *   cert         the certificate of the last login (binary, proto/cert.h)
 *   turn         TURN credentials from the last login (key=value)
 *   hostcache    supernode addresses, one per line, at most 200
 *
 * Small text files written whole (temp file + rename), so a crash never
 * leaves half a file. */
#ifndef PARLEY_CLIENT_STATE_H
#define PARLEY_CLIENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"

#define STATE_PATH_MAX 4096
#define STATE_HOSTCACHE_MAX 200
#define STATE_USER_MAX 64

struct state {
	char dir[STATE_PATH_MAX];
	/* account */
	char user[STATE_USER_MAX + 1];
	char server[128];            /* login server HOST:PORT as given */
	bool registered;             /* this device's key is registered for user */
	/* turn */
	char turn_user[257], turn_password[257];
	uint64_t turn_expires;
	/* hostcache */
	union addr hosts[STATE_HOSTCACHE_MAX];
	int n_hosts;
};

/* Fills st->dir from dir (NULL: the default) and creates it (0700).
 * Returns 0 or -errno (after printing one line). */
int state_open(struct state *st, const char *dir);

/* Path of file name in the state directory. */
const char *state_path(const struct state *st, const char *name, char *buf, size_t len);

/* Loads account, turn and hostcache (absent files leave defaults). */
int state_load(struct state *st);

/* Writes account, turn and hostcache. Returns 0 or -errno. */
int state_save(const struct state *st);

/* Writes len bytes to file name atomically (temp + fsync + rename), mode
 * 0600. Returns 0 or -errno. */
int state_write_file(const struct state *st, const char *name, const void *buf, size_t len);

/* Reads file name (at most cap bytes). Returns its length or -errno. */
int state_read_file(const struct state *st, const char *name, void *buf, size_t cap);

/* Adds a to the host cache unless present; drops the oldest entry when
 * full. */
void state_host_add(struct state *st, const union addr *a);

#endif
