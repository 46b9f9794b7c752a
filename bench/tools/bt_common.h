// SPDX-License-Identifier: Apache-2.0
/*
 * Shared pieces of the benchmark tools (beckon-regload, beckon-httpload, beckon-uas): a
 * log-linear latency histogram in the spirit of HdrHistogram (32 sub-buckets per power of
 * two, so every recorded value is known within about 3 %, from 1 ns to ~18 minutes, in a
 * fixed 10 kB array with no allocation on the hot path), monotonic time, option parsing
 * helpers and the JSON figures the tools print. The tools are load generators, not services:
 * they print one JSON object on stdout and never link libcm, so they build and run even
 * when the services do not.
 */
#ifndef BT_COMMON_H
#define BT_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#define BT_HIST_SUB 32
#define BT_HIST_MAXEXP 40
#define BT_HIST_N ((BT_HIST_MAXEXP - 4 + 1) * BT_HIST_SUB)

/* A latency histogram of nanosecond values. Zero-initialise; no destructor. */
struct bt_hist {
	uint64_t n;
	uint64_t sum;
	uint64_t max;
	uint64_t b[BT_HIST_N];
};

/* Records one value (ns). Values beyond the range land in the last bucket. */
void bt_hist_add(struct bt_hist *h, uint64_t v);

/* The value (ns) at quantile q in [0, 1]: the middle of the bucket holding it; 0 if empty. */
uint64_t bt_hist_quantile(const struct bt_hist *h, double q);

/* Adds every count of src to dst. */
void bt_hist_merge(struct bt_hist *dst, const struct bt_hist *src);

/* Prints `"name": {"n":..,"mean_us":..,"p50_us":..,"p90_us":..,"p99_us":..,"p999_us":..,
 * "max_us":..}` (no trailing comma) to f. */
void bt_hist_json(FILE *f, const char *name, const struct bt_hist *h);

/* CLOCK_MONOTONIC in ns (the same clock in every process of the machine, which is what lets
 * beckon-uas compute accept → NOTIFY latency from a send time embedded in the request id). */
uint64_t bt_now_ns(void);

/* Parses a decimal integer in [lo, hi] or exits 2 naming the option. */
long bt_parse_long(const char *opt, const char *s, long lo, long hi);

/* Parses "IP:PORT" (IPv4) into *sa or exits 2 naming the option. */
struct sockaddr_in;
void bt_parse_addr(const char *opt, const char *s, struct sockaddr_in *sa);

/* Raises RLIMIT_NOFILE to its hard limit (many TCP flows); returns the new soft limit. */
long bt_raise_nofile(void);

/* Case-insensitive search of needle (NUL-terminated) in [p, p+n). NULL when absent. */
const char *bt_memcasemem(const char *p, size_t n, const char *needle);

/* Length of one SIP/HTTP message at the start of [p, p+n) (headers, blank line and
 * Content-Length body), 0 if incomplete, -1 if the headers exceed max without ending. */
long bt_msg_len(const char *p, size_t n, size_t max);

/* Seconds of user+system CPU this process used so far. */
double bt_cpu_seconds(void);

#endif
