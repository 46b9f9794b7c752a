/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-lines logger. Each call writes one complete line with a single write(2), so lines
 * from several processes sharing a pipe do not interleave. jansson does the escaping.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cm/log.h"

static const char *log_service = "beckon";
static enum cm_log_level log_level = CM_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cm_log_init(const char *service, enum cm_log_level level)
{
	log_service = service;
	log_level = level;
}

void cm_log_set_level(enum cm_log_level level)
{
	log_level = level;
}

enum cm_log_level cm_log_get_level(void)
{
	return log_level;
}

int cm_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

void cm_log(enum cm_log_level level, const char *fmt, ...)
{
	char msg[2048], ts[40];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	json_t *o;
	char *line;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ", (long)tv.tv_usec / 1000);

	o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "service",
		      log_service, "msg", msg);
	if (!o) {
		/* Not valid UTF-8 (peer data, or a character cut at the size limit): keep the
		 * line a single valid JSON object rather than printing raw bytes. */
		for (char *c = msg; *c; c++)
			if ((unsigned char)*c >= 0x80)
				*c = '?';
		o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
			      "service", log_service, "msg", msg);
	}
	line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	if (line) {
		size_t n = strlen(line);

		line[n] = '\n';
		/* json_dumps allocated n+1 bytes; the NUL becomes the newline. */
		if (write(STDERR_FILENO, line, n + 1) < 0) {
			/* nowhere left to report it */
		}
		free(line);
	} else {
		fprintf(stderr, "%s %s %s: %s\n", ts, level_names[level], log_service, msg);
	}
	json_decref(o);
}
