/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven settings. Each service declares every setting once in a cm_opt table; the
 * same table drives --help, validation, `--config FILE` lines and BECKON_<NAME> environment
 * variables. Precedence, lowest first: default, config file, environment, command line.
 *
 * Setting name "sip-listen" is the flag --sip-listen (or --sip-listen=...), the environment
 * variable BECKON_SIP_LISTEN and the config line `sip-listen = ...` (# starts a comment).
 */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cm_opt_type {
	CM_OPT_STR,  /* char * (heap, freed by cm_config_free) */
	CM_OPT_INT,  /* long, within [min, max] */
	CM_OPT_BOOL, /* bool: true/false/yes/no/on/off/1/0 */
};

struct cm_opt {
	const char *name;
	enum cm_opt_type type;
	size_t offset;	 /* of the field in the settings struct */
	const char *def; /* default, as text; NULL means unset (NULL string, 0, false) */
	long min, max;	 /* CM_OPT_INT only */
	bool required;
	const char *help;
	/* CM_OPT_STR only, optional: returns 0, or -EINVAL with *why set to a static phrase;
	 * runs on every value whatever its source, so errors always name the setting. */
	int (*check)(const char *value, const char **why);
};

#define CM_OPT_STR_(st, field, nm, dflt, req, hlp)                                                 \
	{                                                                                          \
		.name = nm, .type = CM_OPT_STR, .offset = offsetof(st, field), .def = dflt,        \
		.required = req, .help = hlp                                                       \
	}
#define CM_OPT_CHECKED_(st, field, nm, dflt, req, chk, hlp)                                        \
	{                                                                                          \
		.name = nm, .type = CM_OPT_STR, .offset = offsetof(st, field), .def = dflt,        \
		.required = req, .check = chk, .help = hlp                                         \
	}
#define CM_OPT_INT_(st, field, nm, dflt, lo, hi, hlp)                                              \
	{                                                                                          \
		.name = nm, .type = CM_OPT_INT, .offset = offsetof(st, field), .def = dflt,        \
		.min = lo, .max = hi, .help = hlp                                                  \
	}
#define CM_OPT_BOOL_(st, field, nm, dflt, hlp)                                                     \
	{                                                                                          \
		.name = nm, .type = CM_OPT_BOOL, .offset = offsetof(st, field), .def = dflt,       \
		.help = hlp                                                                        \
	}

/*
 * Fills settings from defaults, the file named by --config / BECKON_CONFIG, the environment
 * and argv. Returns 0 on success, 1 when --help was asked for (usage already printed on
 * stdout; the caller exits 0), or a negative errno with a message naming the setting in err.
 * On failure the caller still calls cm_config_free().
 */
int cm_config_load(const struct cm_opt *opts, size_t n, void *settings, const char *prog, int argc,
		   char **argv, char *err, size_t errlen);

/* Same as cm_config_load, but without environment or argv: just defaults plus the given text
 * in config-file syntax. For tests and fuzzing. */
int cm_config_load_text(const struct cm_opt *opts, size_t n, void *settings, const char *text,
			size_t len, char *err, size_t errlen);

void cm_config_usage(FILE *out, const char *prog, const struct cm_opt *opts, size_t n);

/* Validators for cm_opt.check. */
int cm_check_log_level(const char *v, const char **why);   /* error|warn|info|debug */
int cm_check_listen_list(const char *v, const char **why); /* udp:IP:port,tcp:... */
int cm_check_ip_port(const char *v, const char **why);	   /* IP:port or [IPv6]:port */

/* Frees the strings cm_config_load stored in settings. Safe on a half-filled struct. */
void cm_config_free(const struct cm_opt *opts, size_t n, void *settings);

#endif
