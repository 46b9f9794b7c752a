/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process logger: one JSON object per line on stderr, {"ts","level","service","msg"}.
 * A log line says what was being done and for whom (request id, Call-ID, peer).
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

#define cm_log_error(...) cm_log(CM_LOG_ERROR, __VA_ARGS__)
#define cm_log_warn(...) cm_log(CM_LOG_WARN, __VA_ARGS__)
#define cm_log_info(...) cm_log(CM_LOG_INFO, __VA_ARGS__)
#define cm_log_debug(...)                                                                          \
	do {                                                                                       \
		if (cm_log_get_level() >= CM_LOG_DEBUG)                                            \
			cm_log(CM_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

#endif
