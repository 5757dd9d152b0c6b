/* log: leveled log lines to stderr, one fprintf per line (stdio locks
 * per call, so lines from several threads do not interleave). Never on
 * the per-packet path above debug level. */
#ifndef PARLEY_COMMON_LOG_H
#define PARLEY_COMMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Process-wide level; lines above it are not formatted at all. */
extern enum log_level log_level;

/* Parses "error", "warn", "info", "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Sets a short program tag printed on every line ("parley-sn"). */
void log_set_tag(const char *tag);

__attribute__((format(printf, 2, 3)))
void log_write(enum log_level level, const char *fmt, ...);

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) do { if (log_level >= LOG_WARN) log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...) do { if (log_level >= LOG_INFO) log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level >= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
