// SPDX-License-Identifier: Apache-2.0
/*
 * Histogram, clock, option and framing helpers shared by the benchmark tools (see
 * bt_common.h). Nothing here allocates: the tools record millions of values per run.
 */
#include "bt_common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static unsigned bt_hist_index(uint64_t v)
{
	unsigned msb;

	if (v < BT_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > BT_HIST_MAXEXP)
		return BT_HIST_N - 1;
	return (msb - 4) * BT_HIST_SUB + (unsigned)((v >> (msb - 5)) & (BT_HIST_SUB - 1));
}

static uint64_t bt_hist_value(unsigned idx)
{
	unsigned msb, sub;
	uint64_t low;

	if (idx < BT_HIST_SUB)
		return idx;
	msb = idx / BT_HIST_SUB + 4;
	sub = idx % BT_HIST_SUB;
	low = (uint64_t)(BT_HIST_SUB + sub) << (msb - 5);
	return low + ((1ull << (msb - 5)) >> 1);
}

void bt_hist_add(struct bt_hist *h, uint64_t v)
{
	h->b[bt_hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

uint64_t bt_hist_quantile(const struct bt_hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (i = 0; i < BT_HIST_N; i++) {
		seen += h->b[i];
		if (seen > want) {
			uint64_t v = bt_hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

void bt_hist_merge(struct bt_hist *dst, const struct bt_hist *src)
{
	unsigned i;

	for (i = 0; i < BT_HIST_N; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

void bt_hist_json(FILE *f, const char *name, const struct bt_hist *h)
{
	fprintf(f,
		"\"%s\": {\"n\": %llu, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, "
		"\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f}",
		name, (unsigned long long)h->n, h->n ? (double)h->sum / (double)h->n / 1e3 : 0.0,
		(double)bt_hist_quantile(h, 0.50) / 1e3, (double)bt_hist_quantile(h, 0.90) / 1e3,
		(double)bt_hist_quantile(h, 0.99) / 1e3, (double)bt_hist_quantile(h, 0.999) / 1e3,
		(double)h->max / 1e3);
}

uint64_t bt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long bt_parse_long(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: '%s' is not a number in [%ld, %ld]\n", opt, s, lo, hi);
		exit(2);
	}
	return v;
}

void bt_parse_addr(const char *opt, const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon || (hl = (size_t)(colon - s)) == 0 || hl >= sizeof(host)) {
		fprintf(stderr, "%s: '%s' must be IPv4:PORT\n", opt, s);
		exit(2);
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)bt_parse_long(opt, colon + 1, 0, 65535));
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		fprintf(stderr, "%s: '%s' is not an IPv4 address\n", opt, host);
		exit(2);
	}
}

long bt_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	return (long)rl.rlim_cur;
}

const char *bt_memcasemem(const char *p, size_t n, const char *needle)
{
	size_t k = strlen(needle), i, j;

	if (k == 0 || k > n)
		return NULL;
	for (i = 0; i + k <= n; i++) {
		for (j = 0; j < k; j++)
			if (tolower((unsigned char)p[i + j]) != tolower((unsigned char)needle[j]))
				break;
		if (j == k)
			return p + i;
	}
	return NULL;
}

long bt_msg_len(const char *p, size_t n, size_t max)
{
	const char *end = NULL, *cl;
	size_t hlen, i;
	long body = 0;

	for (i = 0; i + 3 < n; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
			end = p + i + 4;
			break;
		}
	}
	if (!end)
		return n > max ? -1 : 0;
	hlen = (size_t)(end - p);
	cl = bt_memcasemem(p, hlen, "\ncontent-length:");
	if (!cl)
		cl = bt_memcasemem(p, hlen, "\nl:");
	if (cl) {
		cl = memchr(cl, ':', hlen - (size_t)(cl - p)) + 1;
		while (*cl == ' ' || *cl == '\t')
			cl++;
		while (isdigit((unsigned char)*cl))
			body = body * 10 + (*cl++ - '0');
	}
	if (hlen + (size_t)body > n)
		return 0;
	return (long)(hlen + (size_t)body);
}

double bt_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
