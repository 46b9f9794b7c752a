/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The --wrap side of allocation-failure injection (see allocfail.h). The wrappers count
 * calls and, when the count reaches the armed number, return NULL with errno = ENOMEM
 * instead of calling the real allocator. A free of NULL is not counted; a realloc to a new
 * size counts as one allocation and, when failed, leaves the old block alone (as the real
 * one does). Single-threaded, like the code under test.
 */
#include <errno.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "allocfail.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
json_t *__real_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);
json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);
char *__real_json_dumps(const json_t *json, size_t flags);
char *__wrap_json_dumps(const json_t *json, size_t flags);

static long alloc_count; /* allocations since the last arm() */
static long fail_at;	 /* 0: never fail */
static bool did_fail;
static long live;
static int suspended;		/* inside json_loadb/json_dumps: count nothing, fail nothing */
static int show_backtrace = -1; /* ALLOCFAIL_BACKTRACE=1: where each injected failure hit */

static void arm(long n)
{
	alloc_count = 0;
	fail_at = n;
	did_fail = false;
}

/* Counts one allocation; true when this one must fail. */
static bool must_fail(void)
{
	if (suspended)
		return false;
	if (++alloc_count == fail_at) {
		did_fail = true;
		if (show_backtrace < 0)
			show_backtrace = getenv("ALLOCFAIL_BACKTRACE") != NULL;
		if (show_backtrace) {
			void *frames[16];

			fprintf(stderr, "allocfail: failing allocation %ld here:\n", fail_at);
			backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
		}
		errno = ENOMEM;
		return true;
	}
	return false;
}

static void *counted(void *p)
{
	if (p)
		live++;
	return p;
}

void *__wrap_malloc(size_t size)
{
	return must_fail() ? NULL : counted(__real_malloc(size));
}

void *__wrap_calloc(size_t n, size_t size)
{
	return must_fail() ? NULL : counted(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t size)
{
	void *q;

	if (must_fail())
		return NULL;
	q = __real_realloc(p, size);
	if (!p && q)
		live++;
	else if (p && !q && size == 0)
		live--;
	return q;
}

void __wrap_free(void *p)
{
	if (p)
		live--;
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	return must_fail() ? NULL : counted(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
	return must_fail() ? NULL : counted(__real_strndup(s, n));
}

/*
 * jansson 2.14's lexer ignores a failed allocation while saving token text (lex_save() drops
 * strbuffer_append_byte()'s error; fixed upstream after 2.14 in commit 5cf038c): on OOM a
 * string silently loses characters, or an escape sequence loses its letter and the lexer
 * hits assert(0). Failing allocations inside json_loadb therefore tests jansson, not us. So
 * the whole call counts as one allocation: failing it makes json_loadb return NULL with
 * json_error_out_of_memory, as a fixed jansson would, and allocations inside it are neither
 * counted nor failed.
 */
json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error)
{
	json_t *j;

	if (must_fail()) {
		if (error) {
			memset(error, 0, sizeof(*error));
			snprintf(error->text, sizeof(error->text), "not enough memory");
			error->text[JSON_ERROR_TEXT_LENGTH - 1] = json_error_out_of_memory;
		}
		return NULL;
	}
	suspended++;
	j = __real_json_loadb(buffer, buflen, flags, error);
	suspended--;
	return j;
}

/*
 * The same for json_dumps: jansson (2.14 and still upstream) ignores dump_string()'s result
 * for object keys (dump.c, both key loops), so a failed allocation while writing a key
 * leaves that key out and json_dumps returns corrupt JSON as if all went well. One virtual
 * allocation for the whole call; failing it returns NULL as a correct jansson would.
 */
char *__wrap_json_dumps(const json_t *json, size_t flags)
{
	char *s;

	if (must_fail())
		return NULL;
	suspended++;
	s = __real_json_dumps(json, flags);
	suspended--;
	return s;
}

long allocfail_count(void)
{
	return alloc_count;
}

long allocfail_live(void)
{
	return live;
}

void allocfail_init(void)
{
	json_set_alloc_funcs(__wrap_malloc, __wrap_free);
}

int allocfail_run(const char *name, allocfail_fn *fn, void *ctx, unsigned flags)
{
	long need, before = live, absorbed = 0;
	int failures = 0, rc;

	arm(0);
	rc = fn(ctx);
	need = alloc_count;
	if ((rc < 0) != !!(flags & ALLOCFAIL_EXPECT_ERROR)) {
		fprintf(stderr, "%s: returns %d without any injected failure\n", name, rc);
		failures++;
	}
	if (live != before) {
		fprintf(stderr, "%s: %ld allocations left live without injection\n", name,
			live - before);
		failures++;
		before = live;
	}
	for (long n = 1; n <= need; n++) {
		arm(n);
		rc = fn(ctx);
		if (!did_fail) {
			/* Fewer allocations this time: the code is not deterministic. */
			fprintf(stderr, "%s: allocation %ld of %ld never happened\n", name, n,
				need);
			failures++;
		} else if (rc >= 0 && !(flags & ALLOCFAIL_MAY_SUCCEED)) {
			fprintf(stderr, "%s: allocation %ld of %ld failed but the call succeeded\n",
				name, n, need);
			failures++;
		} else if (rc >= 0) {
			absorbed++;
		}
		if (live != before) {
			fprintf(stderr,
				"%s: allocation %ld of %ld failed: %ld allocations leaked\n", name,
				n, need, live - before);
			failures++;
			before = live;
		}
	}
	arm(0);
	printf("%-44s %3ld allocations, each failed in turn: %s", name, need,
	       failures ? "FAILED" : "ok");
	if (absorbed)
		printf(" (%ld absorbed without an error)", absorbed);
	printf("\n");
	return failures;
}
