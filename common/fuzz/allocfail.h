/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation-failure injection for tests: "fail the Nth allocation, for every N". A test
 * binary linked with ALLOCFAIL_LINK_ARGS (-Wl,--wrap=malloc,...) sends every malloc,
 * calloc, realloc, strdup, strndup and free made by its own objects and the static
 * libraries (libcm, libgw) through counters here; allocfail_init() routes jansson's
 * allocations through the same counters (json_set_alloc_funcs), since libjansson.so is not
 * touched by --wrap. Allocations inside other shared libraries (libc, OpenSSL, libuv) are
 * neither counted nor failed.
 */
#ifndef CM_ALLOCFAIL_H
#define CM_ALLOCFAIL_H

#include <stdbool.h>
#include <stddef.h>

/* One call of the code under test, cleaning up after itself: returns 0 on success or a
 * negative errno / CM_E_* code, and frees whatever the call handed it either way. */
typedef int allocfail_fn(void *ctx);

enum {
	/* The function may absorb a failed allocation and still succeed (documented
	 * degradation, e.g. a field rendered as null); it must still not crash or leak. */
	ALLOCFAIL_MAY_SUCCEED = 1,
	/* The input is invalid: the call fails even without injection; every N must still
	 * fail cleanly (error paths allocate too: details, half-built JSON). */
	ALLOCFAIL_EXPECT_ERROR = 2,
};

/* Hooks jansson. Call first in main, before anything uses jansson. */
void allocfail_init(void);

/*
 * Runs fn once without failures to learn how many allocations a run needs (K), then
 * K times more, failing allocation N = 1..K. Checks, every time: the run returns an error
 * (unless ALLOCFAIL_MAY_SUCCEED), and as many allocations are live afterwards as before (no
 * leak). Prints each problem to stderr and a summary line to stdout. Returns the number of
 * failed checks (0 = all good).
 */
int allocfail_run(const char *name, allocfail_fn *fn, void *ctx, unsigned flags);

/* Allocations counted since the last allocfail_run step; outstanding allocations. */
long allocfail_count(void);
long allocfail_live(void);

#endif
