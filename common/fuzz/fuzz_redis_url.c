/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the redis://[[user]:password@]host[:port][/db] setting, parsed by
 * cm_redis_create (which connects nothing until cm_redis_start). A client that was created is
 * closed again and its handles are run to completion on a private loop, so LeakSanitizer sees every
 * path.
 */
#include <string.h>

#include <uv.h>

#include "cm/redis.h"
#include "fuzz.h"

#define URL_INPUT_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uv_loop_t loop;
	static int loop_ready;
	struct cm_redis *r = NULL;
	char url[URL_INPUT_MAX + 1];
	int rc;

	if (size > URL_INPUT_MAX)
		return 0;
	if (!loop_ready) {
		FUZZ_CHECK(uv_loop_init(&loop) == 0);
		loop_ready = 1;
	}
	memcpy(url, data, size);
	url[size] = '\0';
	rc = cm_redis_create(&loop, url, &r);
	if (rc < 0) {
		FUZZ_CHECK(r == NULL);
		return 0;
	}
	FUZZ_CHECK(r != NULL && !cm_redis_ready(r));
	cm_redis_close(r);
	FUZZ_CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	return 0;
}
