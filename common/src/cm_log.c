/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-lines logger. Each call writes one complete line with a single write(2), so lines
 * from several processes sharing a pipe do not interleave. jansson does the escaping.
 */
#include <errno.h>
#include <signal.h>
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
/* Set by SIGUSR1 (debug) and SIGUSR2 (-1: the configured level). */
static volatile sig_atomic_t signal_level = -1;
static const char *fields[2 * CM_LOG_FIELDS_MAX];
static char field_values[CM_LOG_FIELDS_MAX][128];
static int n_fields;

static void on_level_signal(int signo)
{
	signal_level = signo == SIGUSR1 ? CM_LOG_DEBUG : -1;
}

void cm_log_init(const char *service, enum cm_log_level level)
{
	struct sigaction sa = {0};

	log_service = service;
	log_level = level;
	sa.sa_handler = on_level_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
}

int cm_log_field(const char *key, const char *value)
{
	int i;

	for (i = 0; i < n_fields; i++)
		if (strcmp(fields[2 * i], key) == 0)
			break;
	if (i == CM_LOG_FIELDS_MAX)
		return -ENOSPC;
	snprintf(field_values[i], sizeof(field_values[i]), "%s", value);
	fields[2 * i] = key;
	fields[2 * i + 1] = field_values[i];
	if (i == n_fields)
		n_fields++;
	return 0;
}

void cm_log_set_level(enum cm_log_level level)
{
	log_level = level;
}

enum cm_log_level cm_log_get_level(void)
{
	sig_atomic_t s = signal_level;

	return s >= 0 ? (enum cm_log_level)s : log_level;
}

int cm_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

/* Adds the pairs of kv whose values are set; a value that is not valid UTF-8 becomes "?". */
static void add_fields(json_t *o, const char *const *kv, int max_pairs)
{
	for (int i = 0; o && i < max_pairs && kv[2 * i]; i++) {
		const char *v = kv[2 * i + 1];

		if (!v || !*v || json_object_get(o, kv[2 * i]))
			continue;
		if (json_object_set_new(o, kv[2 * i], json_string(v)) < 0)
			json_object_set_new(o, kv[2 * i], json_string("?"));
	}
}

static void vlog(enum cm_log_level level, const char *const *kv, const char *fmt, va_list ap)
{
	char msg[2048], ts[40];
	struct timeval tv;
	struct tm tm;
	json_t *o;
	char *line;

	if (level > cm_log_get_level())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);

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
	if (kv)
		add_fields(o, kv, 16);
	add_fields(o, fields, n_fields);
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

void cm_log(enum cm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void cm_log_kv(enum cm_log_level level, const char *const *kv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, kv, fmt, ap);
	va_end(ap);
}
