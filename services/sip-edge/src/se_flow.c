/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow table: two chained hash tables over the same nodes, one by flow id (NOTIFY sending,
 * binding moves) and one by transport pointer (a REGISTER on a known connection reuses its
 * flow id, so all bindings of one connection share one id and one reference).
 */
#include "se_flow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

struct se_fbind {
	char bid[33];
	int64_t expires_ms;
};

struct se_flow {
	uint64_t id;
	void *tp;
	unsigned pending; /* REGISTERs in flight */
	struct se_fbind *binds;
	size_t nbinds, cap;
	struct se_flow *next_id, *next_tp;
};

struct se_flows {
	struct se_flow_ops ops;
	uint64_t next_id;
	size_t count;
	struct se_flow *by_id[BUCKETS];
	struct se_flow *by_tp[BUCKETS];
};

static size_t hash_id(uint64_t id)
{
	return (size_t)(id * 0x9E3779B97F4A7C15ULL >> 52) % BUCKETS;
}

static size_t hash_tp(const void *tp)
{
	return hash_id((uint64_t)(uintptr_t)tp >> 4);
}

int se_flows_create(const struct se_flow_ops *ops, struct se_flows **out)
{
	struct se_flows *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->ops = *ops;
	f->next_id = 1;
	*out = f;
	return 0;
}

static struct se_flow *find_id(struct se_flows *f, uint64_t id)
{
	struct se_flow *fl = f->by_id[hash_id(id)];

	while (fl && fl->id != id)
		fl = fl->next_id;
	return fl;
}

static void release(struct se_flows *f, struct se_flow *fl)
{
	struct se_flow **pp;

	for (pp = &f->by_id[hash_id(fl->id)]; *pp != fl; pp = &(*pp)->next_id)
		;
	*pp = fl->next_id;
	for (pp = &f->by_tp[hash_tp(fl->tp)]; *pp != fl; pp = &(*pp)->next_tp)
		;
	*pp = fl->next_tp;
	f->ops.unref(fl->tp);
	free(fl->binds);
	free(fl);
	f->count--;
}

static void release_if_idle(struct se_flows *f, struct se_flow *fl)
{
	if (fl->nbinds == 0 && fl->pending == 0)
		release(f, fl);
}

void se_flows_destroy(struct se_flows *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (f->by_id[i])
			release(f, f->by_id[i]);
	}
	free(f);
}

int se_flows_get(struct se_flows *f, void *tp, uint64_t *id)
{
	size_t h = hash_tp(tp);
	struct se_flow *fl = f->by_tp[h];

	while (fl && fl->tp != tp)
		fl = fl->next_tp;
	if (!fl) {
		if (f->count >= SE_FLOWS_MAX)
			return -ENOSPC;
		fl = calloc(1, sizeof(*fl));
		if (!fl)
			return -ENOMEM;
		fl->id = f->next_id++;
		fl->tp = f->ops.ref(tp);
		fl->next_tp = f->by_tp[h];
		f->by_tp[h] = fl;
		fl->next_id = f->by_id[hash_id(fl->id)];
		f->by_id[hash_id(fl->id)] = fl;
		f->count++;
	}
	fl->pending++;
	*id = fl->id;
	return 0;
}

void se_flows_put(struct se_flows *f, uint64_t id)
{
	struct se_flow *fl = find_id(f, id);

	if (!fl)
		return;
	if (fl->pending)
		fl->pending--;
	release_if_idle(f, fl);
}

int se_flows_bind(struct se_flows *f, uint64_t id, const char *bid, int64_t expires_ms)
{
	struct se_flow *fl = find_id(f, id);

	if (!fl)
		return -ENOENT;
	for (size_t i = 0; i < fl->nbinds; i++) {
		if (strcmp(fl->binds[i].bid, bid) == 0) {
			fl->binds[i].expires_ms = expires_ms;
			return 0;
		}
	}
	if (fl->nbinds == SE_FLOW_BINDINGS_MAX)
		return -ENOSPC;
	if (fl->nbinds == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 4;
		struct se_fbind *b = realloc(fl->binds, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		fl->binds = b;
		fl->cap = cap;
	}
	strncpy(fl->binds[fl->nbinds].bid, bid, sizeof(fl->binds[0].bid) - 1);
	fl->binds[fl->nbinds].bid[sizeof(fl->binds[0].bid) - 1] = '\0';
	fl->binds[fl->nbinds].expires_ms = expires_ms;
	fl->nbinds++;
	return 0;
}

void se_flows_unbind(struct se_flows *f, uint64_t id, const char *bid)
{
	struct se_flow *fl = find_id(f, id);

	if (!fl)
		return;
	for (size_t i = 0; i < fl->nbinds; i++) {
		if (strcmp(fl->binds[i].bid, bid) == 0) {
			fl->binds[i] = fl->binds[--fl->nbinds];
			break;
		}
	}
	release_if_idle(f, fl);
}

void *se_flows_tport(struct se_flows *f, uint64_t id)
{
	struct se_flow *fl = find_id(f, id);

	if (!fl)
		return NULL;
	if (f->ops.is_closed(fl->tp)) {
		/* Kept: se_flows_reap reports its bindings (marked broken in Redis, so requests
		 * wait for the endpoint's re-REGISTER) and releases it. */
		return NULL;
	}
	return fl->tp;
}

size_t se_flows_sweep(struct se_flows *f, int64_t now_ms)
{
	size_t released = 0;

	for (size_t h = 0; h < BUCKETS; h++) {
		struct se_flow *fl = f->by_id[h], *next;
		for (; fl; fl = next) {
			next = fl->next_id;
			for (size_t i = 0; i < fl->nbinds;) {
				if (fl->binds[i].expires_ms <= now_ms)
					fl->binds[i] = fl->binds[--fl->nbinds];
				else
					i++;
			}
			/* A closed flow that still holds bindings is left to se_flows_reap. */
			if (fl->pending == 0 && fl->nbinds == 0) {
				release(f, fl);
				released++;
			}
		}
	}
	return released;
}

size_t se_flows_reap(struct se_flows *f, int64_t now_ms, se_flows_reap_f *cb, void *ctx)
{
	size_t released = 0;

	for (size_t h = 0; h < BUCKETS; h++) {
		struct se_flow *fl = f->by_id[h], *next;
		for (; fl; fl = next) {
			next = fl->next_id;
			if (fl->pending || !f->ops.is_closed(fl->tp))
				continue;
			for (size_t i = 0; i < fl->nbinds; i++) {
				if (fl->binds[i].expires_ms > now_ms)
					cb(ctx, fl->id, fl->binds[i].bid);
			}
			release(f, fl);
			released++;
		}
	}
	return released;
}

size_t se_flows_count(const struct se_flows *f)
{
	return f->count;
}
