/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-global metrics registry rendered in the Prometheus text format 0.0.4 (served by
 * cm_http at GET /metrics). Counters, gauges and histograms with fixed buckets, each with
 * at most two labels. Series are created at start-up (or the first time a label value is
 * seen) and then updated by pointer: the update functions never allocate and accept NULL,
 * so a failed registration only loses that metric. Single-threaded, like the loop.
 *
 * Limits: CM_METRICS_FAMILIES_MAX families, CM_METRICS_SERIES_MAX label combinations per
 * family and CM_METRICS_POOL_MAX in all, from a static pool (the registry never allocates;
 * later combinations share one series per family whose label values are "other"),
 * CM_METRICS_BUCKETS_MAX histogram bounds, label values cut at CM_METRICS_LABEL_MAX - 1.
 */
#ifndef CM_METRICS_H
#define CM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define CM_METRICS_FAMILIES_MAX 96
#define CM_METRICS_SERIES_MAX 64
#define CM_METRICS_POOL_MAX 1024
#define CM_METRICS_BUCKETS_MAX 16
#define CM_METRICS_LABEL_MAX 48

enum cm_metric_type { CM_METRIC_COUNTER, CM_METRIC_GAUGE, CM_METRIC_HISTOGRAM };

struct cm_metric;	 /* one series */
struct cm_metric_family; /* a name, its help and label names, and its series */

/* Registers a family, or returns the existing one of that name (several Redis clients in
 * one process share theirs). label1 and label2 are label names or NULL; bounds (ascending
 * upper bounds, without +Inf, n_bounds <= CM_METRICS_BUCKETS_MAX) only for histograms.
 * All strings are borrowed for the life of the process (pass literals). Returns NULL on a
 * full registry, a bad argument, or a name already registered with another type. */
struct cm_metric_family *cm_metric_family(enum cm_metric_type type, const char *name,
					  const char *help, const char *label1, const char *label2,
					  const double *bounds, int n_bounds);
/* The series of family f for these label values (NULL for an unused label), created on
 * first use (values copied). Returns NULL only if f is NULL. */
struct cm_metric *cm_metric_labels(struct cm_metric_family *f, const char *v1, const char *v2);

/* Shorthands for families without labels: the family's only series. */
struct cm_metric *cm_metric_counter(const char *name, const char *help);
struct cm_metric *cm_metric_gauge(const char *name, const char *help);
struct cm_metric *cm_metric_histogram(const char *name, const char *help, const double *bounds,
				      int n_bounds);

/* Updates; all accept NULL and never allocate. */
void cm_metric_inc(struct cm_metric *m);
void cm_metric_add(struct cm_metric *m, double v);
void cm_metric_set(struct cm_metric *m, double v);
void cm_metric_observe(struct cm_metric *m, double v);

/* Reads (for status pages): a counter's or gauge's value, a histogram's count and sum. */
double cm_metric_value(const struct cm_metric *m);
uint64_t cm_metric_count(const struct cm_metric *m);
double cm_metric_sum(const struct cm_metric *m);

/* Latency buckets in seconds, 1 ms .. 30 s, for cm_metric_histogram(). */
extern const double cm_metrics_latency_bounds[];
extern const int cm_metrics_latency_n;

/* fn(data) runs just before each render, to set gauges from tables (flows, bindings).
 * Up to 8 hooks. Returns 0 or -ENOSPC. */
int cm_metrics_on_collect(void (*fn)(void *data), void *data);

/* Renders every family. On success *out is a NUL-terminated malloc'd text of *len bytes
 * that the caller frees, and 0 is returned; else -ENOMEM. */
int cm_metrics_render(char **out, size_t *len);

#endif
