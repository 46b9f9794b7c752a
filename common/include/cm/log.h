/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process logger: one JSON object per line on stderr, {"ts","level","service","msg"}, plus
 * structured fields: process-wide ones (cm_log_field, e.g. "edge") on every line, and per
 * line ones (cm_log_kv: "request_id", "call_id", "device", "binding" ...), so logs can be
 * filtered by key while "msg" keeps its human-readable text.
 * A log line says what was being done and for whom (request id, Call-ID, peer).
 *
 * The level can be changed at run time: SIGUSR1 switches to debug, SIGUSR2 back to the
 * configured level (cm_log_init installs both handlers; they only store the wish, which
 * the next log call reads, so they are async-signal-safe).
 */
#ifndef CM_LOG_H
#define CM_LOG_H

enum cm_log_level { CM_LOG_ERROR, CM_LOG_WARN, CM_LOG_INFO, CM_LOG_DEBUG };

/* service is borrowed for the life of the process. */
void cm_log_init(const char *service, enum cm_log_level level);
void cm_log_set_level(enum cm_log_level level);
enum cm_log_level cm_log_get_level(void);
/* Returns the level for "error", "warn", "info", "debug", or -EINVAL. */
int cm_log_level_parse(const char *s);

void cm_log(enum cm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CM_LOG_FIELDS_MAX 4

/* Adds key=value to every later line, e.g. ("edge", edge_id), or replaces the value of key.
 * key is borrowed for the life of the process (a literal); value is copied (cut at 127
 * bytes). Returns 0, or -ENOSPC beyond CM_LOG_FIELDS_MAX keys. */
int cm_log_field(const char *key, const char *value);

/* Like cm_log, with fields: kv is a NULL-key-terminated array of key, value pairs (values
 * may be NULL or "": then the key is left out). Build it with CM_KV("request_id", id, ...). */
void cm_log_kv(enum cm_log_level level, const char *const *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define CM_KV(...) ((const char *const[]){__VA_ARGS__, NULL, NULL})

#define cm_log_error(...) cm_log(CM_LOG_ERROR, __VA_ARGS__)
#define cm_log_warn(...) cm_log(CM_LOG_WARN, __VA_ARGS__)
#define cm_log_info(...) cm_log(CM_LOG_INFO, __VA_ARGS__)
#define cm_log_debug(...)                                                                          \
	do {                                                                                       \
		if (cm_log_get_level() >= CM_LOG_DEBUG)                                            \
			cm_log(CM_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

#endif
