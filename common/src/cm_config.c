/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven settings: defaults, then `--config FILE` lines, then BECKON_* environment
 * variables, then command-line flags, each layer overriding the one before. Every value is
 * validated by the same function whatever its source, and errors name the setting and
 * where the bad value came from.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm/config.h"
#include "cm/hostport.h"
#include "cm/log.h"

#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_LINE_MAX 4096

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct cm_opt *find_opt(const struct cm_opt *opts, size_t n, const char *name,
				     size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Stores value (NUL-terminated) into the setting. from names the source for messages. */
static int set_value(const struct cm_opt *o, void *settings, const char *value, const char *from,
		     char *err, size_t errlen)
{
	char *field = (char *)settings + o->offset;

	switch (o->type) {
	case CM_OPT_STR: {
		char **sp = (char **)field;
		const char *why = "is not valid";
		char *copy;

		if (o->check && o->check(value, &why) < 0) {
			seterr(err, errlen, "%s: '%s' %s (from %s)", o->name, value, why, from);
			return -EINVAL;
		}
		copy = strdup(value);

		if (!copy) {
			seterr(err, errlen, "out of memory");
			return -ENOMEM;
		}
		free(*sp);
		*sp = copy;
		return 0;
	}
	case CM_OPT_INT: {
		char *end;
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end != '\0' || v < o->min || v > o->max) {
			seterr(err, errlen, "%s: '%s' must be an integer in %ld..%ld (from %s)",
			       o->name, value, o->min, o->max, from);
			return -EINVAL;
		}
		*(long *)field = v;
		return 0;
	}
	case CM_OPT_BOOL:
		if (parse_bool(value, (bool *)field) < 0) {
			seterr(err, errlen, "%s: '%s' must be true or false (from %s)", o->name,
			       value, from);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int load_text(const struct cm_opt *opts, size_t n, void *settings, const char *text,
		     size_t len, const char *origin, char *err, size_t errlen)
{
	size_t pos = 0;
	int lineno = 0;

	if (len > CONFIG_FILE_MAX) {
		seterr(err, errlen, "%s: larger than %d bytes", origin, CONFIG_FILE_MAX);
		return -EFBIG;
	}
	while (pos < len) {
		char line[CONFIG_LINE_MAX + 1], from[256], *eq, *key, *val;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const struct cm_opt *o;
		int rc;

		lineno++;
		if (l > CONFIG_LINE_MAX) {
			seterr(err, errlen, "%s:%d: line longer than %d bytes", origin, lineno,
			       CONFIG_LINE_MAX);
			return -EINVAL;
		}
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + (nl ? 1 : 0);
		if (memchr(line, '\0', l)) {
			seterr(err, errlen, "%s:%d: NUL byte in line", origin, lineno);
			return -EINVAL;
		}
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			seterr(err, errlen, "%s:%d: expected 'name = value'", origin, lineno);
			return -EINVAL;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		o = find_opt(opts, n, key, strlen(key));
		if (!o) {
			seterr(err, errlen, "%s:%d: unknown setting '%s'", origin, lineno, key);
			return -EINVAL;
		}
		snprintf(from, sizeof(from), "%s:%d", origin, lineno);
		rc = set_value(o, settings, val, from, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int load_defaults(const struct cm_opt *opts, size_t n, void *settings, char *err,
			 size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (!opts[i].def)
			continue;
		rc = set_value(&opts[i], settings, opts[i].def, "default", err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int load_file(const struct cm_opt *opts, size_t n, void *settings, const char *path,
		     char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		seterr(err, errlen, "config: cannot open '%s': %s", path, strerror(errno));
		return rc;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		seterr(err, errlen, "config: cannot read '%s'", path);
		rc = -EIO;
	} else {
		rc = load_text(opts, n, settings, buf, len, path, err, errlen);
	}
	free(buf);
	fclose(f);
	return rc;
}

static void env_name(const char *name, char *out, size_t size)
{
	size_t j = 0;

	j = (size_t)snprintf(out, size, "BECKON_");
	for (size_t i = 0; name[i] && j + 1 < size; i++, j++)
		out[j] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	out[j < size ? j : size - 1] = '\0';
}

static int load_env(const struct cm_opt *opts, size_t n, void *settings, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char name[128];
		const char *v;
		int rc;

		env_name(opts[i].name, name, sizeof(name));
		v = getenv(name);
		if (!v)
			continue;
		rc = set_value(&opts[i], settings, v, name, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int check_required(const struct cm_opt *opts, size_t n, void *settings, char *err,
			  size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char *const *sp = (char *const *)((char *)settings + opts[i].offset);

		if (opts[i].required && opts[i].type == CM_OPT_STR && (!*sp || !**sp)) {
			char env[128];

			env_name(opts[i].name, env, sizeof(env));
			seterr(err, errlen, "%s: required (--%s or %s)", opts[i].name, opts[i].name,
			       env);
			return -EINVAL;
		}
	}
	return 0;
}

void cm_config_usage(FILE *out, const char *prog, const struct cm_opt *opts, size_t n)
{
	static const char *const type_names[] = {"TEXT", "NUMBER", "BOOL"};

	fprintf(out, "Usage: %s [--config FILE] [--NAME VALUE]...\n\n", prog);
	fprintf(out, "Every setting is a flag --NAME, an environment variable BECKON_NAME, or a\n"
		     "line 'NAME = VALUE' of the --config file (flags > environment > file).\n\n");
	fprintf(out, "  --config FILE   (BECKON_CONFIG) read settings from FILE\n");
	fprintf(out, "  --help          show this help\n");
	for (size_t i = 0; i < n; i++) {
		const struct cm_opt *o = &opts[i];
		char env[128];

		env_name(o->name, env, sizeof(env));
		fprintf(out, "  --%s %s   (%s)%s\n      %s", o->name, type_names[o->type], env,
			o->required ? " required" : "", o->help);
		if (o->type == CM_OPT_INT)
			fprintf(out, " [%ld..%ld]", o->min, o->max);
		if (o->def)
			fprintf(out, " (default: %s)", o->def);
		fputc('\n', out);
	}
}

int cm_config_load(const struct cm_opt *opts, size_t n, void *settings, const char *prog, int argc,
		   char **argv, char *err, size_t errlen)
{
	const char *config = getenv("BECKON_CONFIG");
	int rc;

	/* First pass: --help and --config, and reject malformed flags early. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cm_config_usage(stdout, prog, opts, n);
			return 1;
		}
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				seterr(err, errlen, "--config needs a file name");
				return -EINVAL;
			}
			config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config = argv[i] + 9;
		}
	}

	rc = load_defaults(opts, n, settings, err, errlen);
	if (rc == 0 && config && *config)
		rc = load_file(opts, n, settings, config, err, errlen);
	if (rc == 0)
		rc = load_env(opts, n, settings, err, errlen);
	for (int i = 1; rc == 0 && i < argc; i++) {
		const char *a = argv[i], *name, *eq, *value;
		const struct cm_opt *o;
		char from[160];
		size_t len;

		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		if (strncmp(a, "--", 2) != 0) {
			seterr(err, errlen, "unexpected argument '%s' (settings are --NAME VALUE)",
			       a);
			return -EINVAL;
		}
		name = a + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		o = find_opt(opts, n, name, len);
		if (!o) {
			seterr(err, errlen, "unknown option '--%.*s' (see --help)", (int)len, name);
			return -EINVAL;
		}
		if (eq) {
			value = eq + 1;
		} else if (o->type == CM_OPT_BOOL &&
			   (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
			value = "true";
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			seterr(err, errlen, "--%s needs a value", o->name);
			return -EINVAL;
		}
		snprintf(from, sizeof(from), "--%s", o->name);
		rc = set_value(o, settings, value, from, err, errlen);
	}
	if (rc == 0)
		rc = check_required(opts, n, settings, err, errlen);
	return rc;
}

int cm_config_load_text(const struct cm_opt *opts, size_t n, void *settings, const char *text,
			size_t len, char *err, size_t errlen)
{
	int rc = load_defaults(opts, n, settings, err, errlen);

	return rc < 0 ? rc : load_text(opts, n, settings, text, len, "config", err, errlen);
}

void cm_config_free(const struct cm_opt *opts, size_t n, void *settings)
{
	for (size_t i = 0; i < n; i++) {
		if (opts[i].type == CM_OPT_STR) {
			char **sp = (char **)((char *)settings + opts[i].offset);

			free(*sp);
			*sp = NULL;
		}
	}
}

int cm_check_log_level(const char *v, const char **why)
{
	*why = "must be error, warn, info or debug";
	return cm_log_level_parse(v) < 0 ? -EINVAL : 0;
}

int cm_check_listen_list(const char *v, const char **why)
{
	static char reason[160];
	struct cm_listen l[CM_LISTEN_MAX];
	int n = cm_listen_parse(v, l, CM_LISTEN_MAX, reason, sizeof(reason));

	if (n < 0) {
		*why = reason;
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (cm_host_check(l[i].host, strlen(l[i].host)) == CM_HOST_NAME) {
			*why = "must name an IP address, not a host name";
			return -EINVAL;
		}
	}
	return 0;
}

int cm_check_ip_port(const char *v, const char **why)
{
	struct cm_hostport hp;

	*why = "must be IP:port or [IPv6]:port, port 0..65535";
	if (cm_hostport_parse(v, strlen(v), &hp) < 0 || hp.port < 0 || hp.kind == CM_HOST_NAME)
		return -EINVAL;
	return 0;
}
