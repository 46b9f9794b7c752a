/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by every fuzz target: the libFuzzer entry point's prototype and FUZZ_CHECK, which
 * turns a broken property (a round trip that does not round-trip, a limit not kept) into an
 * abort, so libFuzzer records the input and the corpus replay fails loudly.
 */
#ifndef CM_FUZZ_H
#define CM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
