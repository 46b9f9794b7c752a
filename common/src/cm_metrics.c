/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry: a fixed array of families, each with a small list of series found
 * by comparing label values (a handful per family, so a linear scan is cheaper than any
 * index). Rendering builds the whole text in one growing buffer; scrapes are rare and
 * the text is small.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/metrics.h"

struct cm_metric {
	struct cm_metric_family *family;
	char v1[CM_METRICS_LABEL_MAX], v2[CM_METRICS_LABEL_MAX];
	double value; /* counter/gauge value, or histogram sum */
	uint64_t count;
	uint64_t buckets[CM_METRICS_BUCKETS_MAX]; /* per bucket, not cumulative */
};

struct cm_metric_family {
	enum cm_metric_type type;
	const char *name, *help, *label1, *label2;
	double bounds[CM_METRICS_BUCKETS_MAX];
	int n_bounds;
	struct cm_metric *series[CM_METRICS_SERIES_MAX];
	int n_series;
	struct cm_metric overflow;
	bool overflowed;
};

struct collect_hook {
	void (*fn)(void *data);
	void *data;
};

static struct cm_metric_family families[CM_METRICS_FAMILIES_MAX];
static int n_families;
/* Series come from a static pool: the registry never calls malloc (nothing to leak, nothing
 * to fail at run time). */
static struct cm_metric pool[CM_METRICS_POOL_MAX];
static int n_pool;
static struct collect_hook hooks[8];
static int n_hooks;

const double cm_metrics_latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					    0.25,  0.5,	   1,	  2.5,	5,     10,   30};
const int cm_metrics_latency_n =
    (int)(sizeof(cm_metrics_latency_bounds) / sizeof(cm_metrics_latency_bounds[0]));

struct cm_metric_family *cm_metric_family(enum cm_metric_type type, const char *name,
					  const char *help, const char *label1, const char *label2,
					  const double *bounds, int n_bounds)
{
	struct cm_metric_family *f;

	if (!name || !help || (label2 && !label1) || n_bounds < 0 ||
	    n_bounds > CM_METRICS_BUCKETS_MAX || (type == CM_METRIC_HISTOGRAM && !bounds))
		return NULL;
	for (int i = 0; i < n_families; i++)
		if (strcmp(families[i].name, name) == 0)
			return families[i].type == type ? &families[i] : NULL;
	if (n_families == CM_METRICS_FAMILIES_MAX)
		return NULL;
	f = &families[n_families++];
	f->type = type;
	f->name = name;
	f->help = help;
	f->label1 = label1;
	f->label2 = label2;
	if (type == CM_METRIC_HISTOGRAM) {
		memcpy(f->bounds, bounds, (size_t)n_bounds * sizeof(double));
		f->n_bounds = n_bounds;
	}
	return f;
}

static void series_init(struct cm_metric *m, struct cm_metric_family *f, const char *v1,
			const char *v2)
{
	m->family = f;
	snprintf(m->v1, sizeof(m->v1), "%s", v1 ? v1 : "");
	snprintf(m->v2, sizeof(m->v2), "%s", v2 ? v2 : "");
}

static bool label_eq(const char *have, const char *want)
{
	/* Values were cut to the buffer size when stored; compare the same prefix. */
	return strncmp(have, want ? want : "", CM_METRICS_LABEL_MAX - 1) == 0;
}

struct cm_metric *cm_metric_labels(struct cm_metric_family *f, const char *v1, const char *v2)
{
	struct cm_metric *m;

	if (!f)
		return NULL;
	for (int i = 0; i < f->n_series; i++)
		if (label_eq(f->series[i]->v1, v1) && label_eq(f->series[i]->v2, v2))
			return f->series[i];
	if (f->n_series == CM_METRICS_SERIES_MAX || n_pool == CM_METRICS_POOL_MAX) {
		/* Peer-chosen values (status codes) must not grow the registry without end. */
		if (!f->overflowed)
			series_init(&f->overflow, f, f->label1 ? "other" : NULL,
				    f->label2 ? "other" : NULL);
		f->overflowed = true;
		return &f->overflow;
	}
	m = &pool[n_pool++];
	series_init(m, f, v1, v2);
	f->series[f->n_series++] = m;
	return m;
}

struct cm_metric *cm_metric_counter(const char *name, const char *help)
{
	return cm_metric_labels(
	    cm_metric_family(CM_METRIC_COUNTER, name, help, NULL, NULL, NULL, 0), NULL, NULL);
}

struct cm_metric *cm_metric_gauge(const char *name, const char *help)
{
	return cm_metric_labels(cm_metric_family(CM_METRIC_GAUGE, name, help, NULL, NULL, NULL, 0),
				NULL, NULL);
}

struct cm_metric *cm_metric_histogram(const char *name, const char *help, const double *bounds,
				      int n_bounds)
{
	return cm_metric_labels(
	    cm_metric_family(CM_METRIC_HISTOGRAM, name, help, NULL, NULL, bounds, n_bounds), NULL,
	    NULL);
}

void cm_metric_inc(struct cm_metric *m)
{
	if (m)
		m->value += 1;
}

void cm_metric_add(struct cm_metric *m, double v)
{
	if (m)
		m->value += v;
}

void cm_metric_set(struct cm_metric *m, double v)
{
	if (m)
		m->value = v;
}

void cm_metric_observe(struct cm_metric *m, double v)
{
	struct cm_metric_family *f;

	if (!m)
		return;
	f = m->family;
	m->count++;
	m->value += v;
	for (int i = 0; i < f->n_bounds; i++)
		if (v <= f->bounds[i]) {
			m->buckets[i]++;
			return;
		}
	/* Above the last bound: only in +Inf, which is the count. */
}

double cm_metric_value(const struct cm_metric *m)
{
	return m ? m->value : 0;
}

uint64_t cm_metric_count(const struct cm_metric *m)
{
	return m ? m->count : 0;
}

double cm_metric_sum(const struct cm_metric *m)
{
	return m ? m->value : 0;
}

int cm_metrics_on_collect(void (*fn)(void *data), void *data)
{
	if (n_hooks == (int)(sizeof(hooks) / sizeof(hooks[0])))
		return -ENOSPC;
	hooks[n_hooks].fn = fn;
	hooks[n_hooks].data = data;
	n_hooks++;
	return 0;
}

struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (b->failed)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 8192;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* Label values come from peers (status codes, routes): escape per the text format. */
static void put_escaped(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(b, "\\\\");
		else if (*s == '"')
			put(b, "\\\"");
		else if (*s == '\n')
			put(b, "\\n");
		else
			put(b, "%c", *s);
	}
}

/* Writes {l1="v1",l2="v2"[,le="x"]} or nothing. */
static void put_labels(struct buf *b, const struct cm_metric *m, const char *le)
{
	const struct cm_metric_family *f = m->family;

	if (!f->label1 && !le)
		return;
	put(b, "{");
	if (f->label1) {
		put(b, "%s=\"", f->label1);
		put_escaped(b, m->v1);
		put(b, "\"");
		if (f->label2) {
			put(b, ",%s=\"", f->label2);
			put_escaped(b, m->v2);
			put(b, "\"");
		}
	}
	if (le)
		put(b, "%sle=\"%s\"", f->label1 ? "," : "", le);
	put(b, "}");
}

static void put_series(struct buf *b, const struct cm_metric *m)
{
	const struct cm_metric_family *f = m->family;
	uint64_t cum = 0;
	char le[32];

	if (f->type != CM_METRIC_HISTOGRAM) {
		put(b, "%s", f->name);
		put_labels(b, m, NULL);
		put(b, " %.17g\n", m->value);
		return;
	}
	for (int i = 0; i < f->n_bounds; i++) {
		cum += m->buckets[i];
		snprintf(le, sizeof(le), "%g", f->bounds[i]);
		put(b, "%s_bucket", f->name);
		put_labels(b, m, le);
		put(b, " %llu\n", (unsigned long long)cum);
	}
	put(b, "%s_bucket", f->name);
	put_labels(b, m, "+Inf");
	put(b, " %llu\n%s_sum", (unsigned long long)m->count, f->name);
	put_labels(b, m, NULL);
	put(b, " %.17g\n%s_count", m->value, f->name);
	put_labels(b, m, NULL);
	put(b, " %llu\n", (unsigned long long)m->count);
}

int cm_metrics_render(char **out, size_t *len)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	struct buf b = {0};

	for (int i = 0; i < n_hooks; i++)
		hooks[i].fn(hooks[i].data);
	put(&b, "%s", "");
	for (int i = 0; i < n_families; i++) {
		const struct cm_metric_family *f = &families[i];

		put(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		    type_names[f->type]);
		for (int j = 0; j < f->n_series; j++)
			put_series(&b, f->series[j]);
		if (f->overflowed)
			put_series(&b, &f->overflow);
	}
	if (b.failed) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
