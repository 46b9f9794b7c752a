/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What test_request and test_soap share for reading the example files under proto/: slurping
 * one file and walking one examples directory. No CHECKs here: check.h's counters are per
 * translation unit, so failures are returned and each test checks them itself.
 */
#ifndef GW_TEST_EXAMPLES_H
#define GW_TEST_EXAMPLES_H

#include <stddef.h>

/* Reads the whole file into a NUL-terminated malloc'd buffer (the caller frees it) and sets
 * *len to its length without the NUL. Returns NULL when the file cannot be read. */
char *examples_read(const char *path, size_t *len);

/* Calls fn with "dir/name" for each entry of dir whose name ends in suffix (and is longer than
 * it), in readdir order. Returns how many it called fn for, -errno when dir cannot be opened
 * (the tests run from the project root), or -ENAMETOOLONG when a path would not fit. */
int examples_for_each(const char *dir, const char *suffix, void (*fn)(const char *path));

#endif
