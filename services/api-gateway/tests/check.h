/* SPDX-License-Identifier: Apache-2.0 */
/* api-gateway's unit tests use the project's one test helper. */
#include "../../../common/tests/check.h"
