/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the flow table with fake transports: reference counting, reuse by
 * transport, release on last unbind / expiry / close. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/tests/check.h"
#include "cm/str.h"
#include "se_flow.h"

struct fake {
	int refs;
	bool closed;
};

static void *fref(void *tp)
{
	((struct fake *)tp)->refs++;
	return tp;
}
static void funref(void *tp)
{
	((struct fake *)tp)->refs--;
}
static bool fclosed(void *tp)
{
	return ((struct fake *)tp)->closed;
}

static int reaped;
static uint64_t reaped_id;
static char reaped_bid[40];

static void on_reap(void *ctx, uint64_t id, const char *bid)
{
	(void)ctx;
	reaped++;
	reaped_id = id;
	cm_snprintf(reaped_bid, sizeof(reaped_bid), "%s", bid);
}

int main(void)
{
	const struct se_flow_ops ops = {fref, funref, fclosed};
	struct se_flows *f;
	struct fake a = {0}, b = {0};
	uint64_t ia, ia2, ib;

	CHECK(se_flows_create(&ops, &f) == 0);
	CHECK(se_flows_get(f, &a, &ia) == 0);
	CHECK(a.refs == 1);
	CHECK(se_flows_get(f, &a, &ia2) == 0 && ia2 == ia);
	CHECK(a.refs == 1);
	CHECK(se_flows_get(f, &b, &ib) == 0 && ib != ia);
	CHECK(se_flows_count(f) == 2);
	CHECK(se_flows_bind(f, ia, "b1", 1000) == 0);
	CHECK(se_flows_bind(f, ia, "b2", 5000) == 0);
	CHECK(se_flows_bind(f, ia, "b1", 2000) == 0);
	se_flows_put(f, ia);
	se_flows_put(f, ia);
	se_flows_put(f, ib); /* no bindings: released */
	CHECK(b.refs == 0);
	CHECK(se_flows_count(f) == 1);
	CHECK(se_flows_tport(f, ia) == &a);
	CHECK(se_flows_tport(f, ib) == NULL);
	CHECK(se_flows_bind(f, 999, "x", 1) == -ENOENT);
	/* expiry: b1 gone at 3000, b2 still there */
	CHECK(se_flows_sweep(f, 3000) == 0);
	CHECK(a.refs == 1);
	se_flows_unbind(f, ia, "b2");
	CHECK(a.refs == 0 && se_flows_count(f) == 0);
	/* closed connection */
	CHECK(se_flows_get(f, &a, &ia) == 0);
	CHECK(se_flows_bind(f, ia, "b1", 10000) == 0);
	se_flows_put(f, ia);
	a.closed = true;
	CHECK(se_flows_tport(f, ia) == NULL);
	/* kept until reaped, which reports the live binding once */
	CHECK(a.refs == 1 && se_flows_count(f) == 1);
	CHECK(se_flows_sweep(f, 3000) == 0);
	CHECK(se_flows_reap(f, 3000, on_reap, NULL) == 1);
	CHECK(reaped == 1 && reaped_id == ia && strcmp(reaped_bid, "b1") == 0);
	CHECK(a.refs == 0 && se_flows_count(f) == 0);
	CHECK(se_flows_reap(f, 3000, on_reap, NULL) == 0 && reaped == 1);
	/* an expired binding is not reported; a flow with a REGISTER in flight waits */
	a.closed = false;
	CHECK(se_flows_get(f, &a, &ia) == 0);
	CHECK(se_flows_bind(f, ia, "old", 100) == 0);
	a.closed = true;
	CHECK(se_flows_reap(f, 3000, on_reap, NULL) == 0);
	se_flows_put(f, ia);
	CHECK(se_flows_reap(f, 3000, on_reap, NULL) == 1 && reaped == 1);
	CHECK(a.refs == 0);
	a.closed = false;
	CHECK(se_flows_get(f, &a, &ia) == 0);
	se_flows_destroy(f);
	CHECK(a.refs == 0);
	return check_done();
}
