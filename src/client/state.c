/* state: see state.h. */
#include "src/client/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEXT_CAP 16384

const char *state_path(const struct state *st, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", st->dir, name);
	return buf;
}

static int mkdir_p(const char *path)
{
	char tmp[STATE_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int state_open(struct state *st, const char *dir)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int ret;

	memset(st, 0, sizeof(*st));
	if (dir)
		snprintf(st->dir, sizeof(st->dir), "%s", dir);
	else if (xdg && *xdg)
		snprintf(st->dir, sizeof(st->dir), "%s/parley", xdg);
	else if (home && *home)
		snprintf(st->dir, sizeof(st->dir), "%s/.local/state/parley", home);
	else {
		fprintf(stderr, "parley: no state directory: set --state, XDG_STATE_HOME or HOME\n");
		return -ENOENT;
	}
	ret = mkdir_p(st->dir);
	if (ret)
		fprintf(stderr, "parley: state directory %s: %s\n", st->dir, strerror(-ret));
	return ret;
}

int state_write_file(const struct state *st, const char *name, const void *buf, size_t len)
{
	char path[STATE_PATH_MAX], tmp[STATE_PATH_MAX + 8];
	int fd, ret = 0;

	state_path(st, name, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
		ret = errno ? -errno : -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int state_read_file(const struct state *st, const char *name, void *buf, size_t cap)
{
	char path[STATE_PATH_MAX];
	int fd = open(state_path(st, name, path, sizeof(path)), O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap);
	close(fd);
	return n < 0 ? -errno : (int)n;
}

/* Calls fn(ctx, key, value) for each "key=value" line of file name. */
static int read_pairs(const struct state *st, const char *name,
		      void (*fn)(struct state *st, const char *k, const char *v), struct state *out)
{
	char text[TEXT_CAP + 1], *save = NULL;
	int n = state_read_file(st, name, text, TEXT_CAP);

	if (n < 0)
		return n == -ENOENT ? 0 : n;
	text[n] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = '\0';
		fn(out, line, eq + 1);
	}
	return 0;
}

static void take_account(struct state *st, const char *k, const char *v)
{
	if (!strcmp(k, "user"))
		snprintf(st->user, sizeof(st->user), "%s", v);
	else if (!strcmp(k, "server"))
		snprintf(st->server, sizeof(st->server), "%s", v);
	else if (!strcmp(k, "registered"))
		st->registered = !strcmp(v, "yes");
}

static void take_turn(struct state *st, const char *k, const char *v)
{
	if (!strcmp(k, "user"))
		snprintf(st->turn_user, sizeof(st->turn_user), "%s", v);
	else if (!strcmp(k, "password"))
		snprintf(st->turn_password, sizeof(st->turn_password), "%s", v);
	else if (!strcmp(k, "expires"))
		st->turn_expires = strtoull(v, NULL, 10);
}

int state_load(struct state *st)
{
	char text[TEXT_CAP + 1], *save = NULL;
	int ret = read_pairs(st, "account", take_account, st);
	int n;

	if (!ret)
		ret = read_pairs(st, "turn", take_turn, st);
	if (ret)
		return ret;
	n = state_read_file(st, "hostcache", text, TEXT_CAP);
	if (n < 0)
		return n == -ENOENT ? 0 : n;
	text[n] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		union addr a;

		/* A line that does not parse is skipped, not fatal: the cache
		 * is a hint and refills from every supernode contacted. */
		if (!addr_parse(line, 0, &a) && addr_port(&a))
			state_host_add(st, &a);
	}
	return 0;
}

int state_save(const struct state *st)
{
	char text[TEXT_CAP];
	size_t n = 0;
	int ret;

	n = (size_t)snprintf(text, sizeof(text), "user=%s\nserver=%s\nregistered=%s\n", st->user,
			     st->server, st->registered ? "yes" : "no");
	ret = state_write_file(st, "account", text, n);
	if (ret)
		return ret;
	if (st->turn_user[0]) {
		n = (size_t)snprintf(text, sizeof(text), "user=%s\npassword=%s\nexpires=%" PRIu64 "\n",
				     st->turn_user, st->turn_password, st->turn_expires);
		ret = state_write_file(st, "turn", text, n);
		if (ret)
			return ret;
	}
	n = 0;
	for (int i = 0; i < st->n_hosts && n < sizeof(text) - ADDR_STRLEN - 2; i++) {
		char a[ADDR_STRLEN];

		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\n",
				      addr_format(&st->hosts[i], a, sizeof(a)));
	}
	return state_write_file(st, "hostcache", text, n);
}

void state_host_add(struct state *st, const union addr *a)
{
	for (int i = 0; i < st->n_hosts; i++)
		if (addr_equal(&st->hosts[i], a))
			return;
	if (st->n_hosts == STATE_HOSTCACHE_MAX) {
		memmove(st->hosts, st->hosts + 1, sizeof(st->hosts[0]) * (STATE_HOSTCACHE_MAX - 1));
		st->n_hosts--;
	}
	st->hosts[st->n_hosts++] = *a;
}
