/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cm_metrics: registration (idempotent by name, type clash refused), label series, the
 * overflow series, histogram buckets, and the exact Prometheus text rendered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/metrics.h"

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static char *render(void)
{
	char *text = NULL;
	size_t len = 0;

	CHECK(cm_metrics_render(&text, &len) == 0);
	CHECK(text && strlen(text) == len);
	return text;
}

int main(void)
{
	static const double bounds[] = {0.1, 1};
	struct cm_metric *c = cm_metric_counter("t_total", "A counter");
	struct cm_metric_family *f = cm_metric_family(CM_METRIC_COUNTER, "t_codes_total", "By code",
						      "code", "kind", NULL, 0);
	struct cm_metric *h = cm_metric_histogram("t_seconds", "A histogram", bounds, 2);
	struct cm_metric *g = cm_metric_gauge("t_gauge", "A gauge");
	char *text;

	CHECK(c && f && h && g);
	CHECK(cm_metric_counter("t_total", "again") == c);
	CHECK(cm_metric_gauge("t_total", "clash") == NULL);
	CHECK(cm_metric_family(CM_METRIC_HISTOGRAM, "t_bad", "no bounds", NULL, NULL, NULL, 1) ==
	      NULL);

	cm_metric_inc(c);
	cm_metric_add(c, 2);
	cm_metric_inc(NULL); /* a failed registration only loses that metric */
	cm_metric_set(g, -1.5);
	cm_metric_inc(cm_metric_labels(f, "200", "a\"b"));
	cm_metric_inc(cm_metric_labels(f, "200", "a\"b"));
	CHECK(cm_metric_labels(f, "200", "a\"b") == cm_metric_labels(f, "200", "a\"b"));
	cm_metric_observe(h, 0.05);
	cm_metric_observe(h, 0.5);
	cm_metric_observe(h, 5);
	CHECK(cm_metric_value(c) == 3);
	CHECK(cm_metric_count(h) == 3 && cm_metric_sum(h) == 5.55);

	text = render();
	CHECK(strstr(text, "# HELP t_total A counter\n# TYPE t_total counter\nt_total 3\n"));
	CHECK(strstr(text, "t_codes_total{code=\"200\",kind=\"a\\\"b\"} 2\n"));
	CHECK(strstr(text, "t_gauge -1.5\n"));
	CHECK(strstr(text, "t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"1\"} 2\n"
			   "t_seconds_bucket{le=\"+Inf\"} 3\nt_seconds_sum 5.5499999999999998\n"
			   "t_seconds_count 3\n"));
	free(text);

	/* Past CM_METRICS_SERIES_MAX combinations, new values share the "other" series. */
	for (int i = 0; i < CM_METRICS_SERIES_MAX + 5; i++) {
		char v[16];

		snprintf(v, sizeof(v), "%d", i);
		struct cm_metric *m = cm_metric_labels(f, v, "x");

		CHECK(m != NULL);
		cm_metric_inc(m);
	}
	text = render();
	CHECK(strstr(text, "t_codes_total{code=\"other\",kind=\"other\"} 6\n"));
	free(text);

	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
