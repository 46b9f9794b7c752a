/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Borrowed string views. Wire data is read as (pointer, length) pairs and never
 * relies on NUL termination; a view borrows the memory it points into.
 */
#ifndef CM_STR_H
#define CM_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct cm_str {
	const char *p;
	size_t len;
};

#define CM_STR_NULL ((struct cm_str){NULL, 0})
#define CM_STR_LIT(s) ((struct cm_str){(s), sizeof(s) - 1})

static inline struct cm_str cm_str_c(const char *s)
{
	return (struct cm_str){s, s ? strlen(s) : 0};
}

static inline bool cm_str_eq(struct cm_str a, struct cm_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ASCII case-insensitive equality. */
bool cm_str_caseeq(struct cm_str a, struct cm_str b);

/* Copies a view into a new NUL-terminated heap string; the caller frees it. NULL on ENOMEM. */
char *cm_str_dup(struct cm_str s);

/* Formats into buf (always NUL-terminated when size > 0). Returns the length written, or
 * -ENOSPC when the output did not fit. */
int cm_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
