/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal test helper: CHECK counts failures and reports the expression and location;
 * main returns check_done().
 */
#ifndef CM_TEST_CHECK_H
#define CM_TEST_CHECK_H

#include <stdio.h>

#include <stdarg.h>

static int check_failures, check_count;

#pragma GCC diagnostic ignored "-Wformat-zero-length"
static inline void __attribute__((format(printf, 1, 2))) check_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
			check_note("" __VA_ARGS__);                                                \
		}                                                                                  \
	} while (0)

static inline int check_done(void)
{
	printf("%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
