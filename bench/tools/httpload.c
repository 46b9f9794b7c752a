// SPDX-License-Identifier: Apache-2.0
/*
 * beckon-httpload: HTTP/1.1 POST load over keep-alive connections, on one libuv loop, for
 * the callback benchmarks (beckon's POST /v1/callbacks, Kamailio's JSON-RPC over xhttp). One
 * request in flight per connection. With --rate 0 it is closed-loop (each connection sends the
 * next request as soon as the answer is in: the maximum rate); with --rate N it is open-loop:
 * requests are due on a schedule, go out on the next idle connection, and their latency is
 * also measured from the scheduled time, so queueing in front of a slow server is not hidden.
 *
 * The body is a template: {id} becomes a unique request id `b-<send ns>-<run>-<seq>` carrying
 * the CLOCK_MONOTONIC send time (beckon-uas reads it back from the NOTIFY payload), {dev}
 * a device number (--dev-base + seq mod --devices) and {seq} the sequence number. An answer
 * counts as good when its status is --expect-status and its body contains --expect-body.
 * Prints one JSON object on stdout.
 */
#define _GNU_SOURCE
#include "bt_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define HL_RBUF 65536
#define HL_REQ_MAX 16384
#define HL_HEADERS_MAX 8

struct hl_conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	bool up, busy, closing;
	uint64_t sched_ns, sent_ns;
	char rbuf[HL_RBUF];
	size_t rlen;
	char wbuf[HL_REQ_MAX];
};

static struct {
	struct sockaddr_in target;
	const char *path, *body, *expect_body;
	const char *headers[HL_HEADERS_MAX];
	int nheaders;
	long conns, rate, duration_s, devices, expect_status;
	unsigned long long dev_base;
	char run[16];

	uv_loop_t *loop;
	uv_timer_t tick, stop;
	struct hl_conn *c;
	uint64_t t0, t_end, seq;
	uint64_t due_sent; /* open loop: scheduled requests already handed to a connection */
	uint64_t backlog_max;
	bool stopping;

	uint64_t sent, done, good, bad_status, bad_body, conn_errors;
	uint64_t codes[600];
	struct bt_hist h_lat, h_sched;
	double cpu0;
	char first_bad[256];
} H;

static void usage(void)
{
	fputs("usage: beckon-httpload --target IP:PORT --path P --body TEMPLATE [--header 'N: V']\n"
	      "  [--conns N] [--rate N/s|0] [--duration S] [--devices N] [--dev-base N]\n"
	      "  [--expect-status N] [--expect-body SUBSTR]\n",
	      stderr);
	exit(2);
}

static void hl_connect(struct hl_conn *c);

/* Expands the body template into out; returns its length or -1 when it does not fit. */
static long hl_body(char *out, size_t cap, uint64_t seq, uint64_t now)
{
	const char *t = H.body;
	size_t o = 0;
	int w;

	while (*t) {
		w = 0;
		if (!strncmp(t, "{id}", 4)) {
			w = snprintf(out + o, cap - o, "b-%llu-%s-%llu", (unsigned long long)now,
				     H.run, (unsigned long long)seq);
			t += 4;
		} else if (!strncmp(t, "{dev}", 5)) {
			w = snprintf(out + o, cap - o, "%llu",
				     H.dev_base + seq % (unsigned long long)H.devices);
			t += 5;
		} else if (!strncmp(t, "{seq}", 5)) {
			w = snprintf(out + o, cap - o, "%llu", (unsigned long long)seq);
			t += 5;
		} else {
			if (o + 1 >= cap)
				return -1;
			out[o] = *t++;
			w = 1;
		}
		if (w < 0 || (size_t)w >= cap - o)
			return -1;
		o += (size_t)w;
	}
	return (long)o;
}

static void hl_written(uv_write_t *req, int status)
{
	struct hl_conn *c = req->data;

	if (status < 0 && c->up) {
		H.conn_errors++;
		c->up = false;
	}
}

static void hl_send(struct hl_conn *c, uint64_t sched)
{
	char body[HL_REQ_MAX / 2];
	uint64_t now = bt_now_ns();
	long bl;
	int n, i;
	uv_buf_t b;

	bl = hl_body(body, sizeof(body), H.seq, now);
	if (bl < 0) {
		fprintf(stderr, "beckon-httpload: body too large\n");
		exit(2);
	}
	n = snprintf(c->wbuf, sizeof(c->wbuf), "POST %s HTTP/1.1\r\nHost: bench\r\n", H.path);
	for (i = 0; i < H.nheaders && n > 0 && (size_t)n < sizeof(c->wbuf); i++)
		n += snprintf(c->wbuf + n, sizeof(c->wbuf) - (size_t)n, "%s\r\n", H.headers[i]);
	if (n > 0 && (size_t)n < sizeof(c->wbuf))
		n += snprintf(c->wbuf + n, sizeof(c->wbuf) - (size_t)n,
			      "Content-Length: %ld\r\n\r\n", bl);
	if (n < 0 || (size_t)n + (size_t)bl > sizeof(c->wbuf)) {
		fprintf(stderr, "beckon-httpload: request too large\n");
		exit(2);
	}
	memcpy(c->wbuf + n, body, (size_t)bl);
	H.seq++;
	c->busy = true;
	c->sched_ns = sched ? sched : now;
	c->sent_ns = now;
	c->wreq.data = c;
	b = uv_buf_init(c->wbuf, (unsigned)(n + bl));
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, hl_written) < 0) {
		H.conn_errors++;
		c->busy = false;
		return;
	}
	H.sent++;
}

/* Hands due requests to idle connections (open loop) or keeps every connection busy. */
static void hl_dispatch(void)
{
	uint64_t now = bt_now_ns(), due;
	long i;

	if (H.stopping)
		return;
	if (H.rate == 0) {
		for (i = 0; i < H.conns; i++)
			if (H.c[i].up && !H.c[i].busy)
				hl_send(&H.c[i], 0);
		return;
	}
	due = (uint64_t)((double)(now - H.t0) * (double)H.rate / 1e9);
	if (due - H.due_sent > H.backlog_max)
		H.backlog_max = due - H.due_sent;
	for (i = 0; i < H.conns && H.due_sent < due; i++) {
		if (H.c[i].up && !H.c[i].busy) {
			/* The scheduled time of this request, for the latency seen by a caller. */
			uint64_t sched =
			    H.t0 + (uint64_t)((double)H.due_sent * 1e9 / (double)H.rate);

			hl_send(&H.c[i], sched);
			H.due_sent++;
		}
	}
}

static void hl_response(struct hl_conn *c, const char *p, size_t n)
{
	uint64_t now = bt_now_ns();
	int status = 0;
	const char *body;

	if (n > 12 && !memcmp(p, "HTTP/1.", 7))
		status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	c->busy = false;
	H.done++;
	if (status >= 100 && status < 600)
		H.codes[status]++;
	if (status != H.expect_status) {
		H.bad_status++;
		goto bad;
	}
	body = memmem(p, n, "\r\n\r\n", 4);
	if (H.expect_body && (!body || !memmem(body, n - (size_t)(body - p), H.expect_body,
					       strlen(H.expect_body)))) {
		H.bad_body++;
		goto bad;
	}
	H.good++;
	bt_hist_add(&H.h_lat, now - c->sent_ns);
	bt_hist_add(&H.h_sched, now - c->sched_ns);
	return;
bad:
	if (!H.first_bad[0])
		snprintf(H.first_bad, sizeof(H.first_bad), "%.*s", (int)(n < 200 ? n : 200), p);
}

static void hl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct hl_conn *c = h->data;

	buf->base = c->rbuf + c->rlen;
	buf->len = sizeof(c->rbuf) - c->rlen;
}

static void hl_closed(uv_handle_t *h)
{
	struct hl_conn *c = h->data;

	c->closing = false;
	if (!H.stopping)
		hl_connect(c);
}

static void hl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hl_conn *c = s->data;
	size_t off = 0;
	long m = 0;

	if (nread < 0) {
		/* The server closed (or reset) the connection: count it, reconnect. */
		if (c->busy)
			H.conn_errors++;
		c->up = c->busy = false;
		if (!c->closing) {
			c->closing = true;
			uv_close((uv_handle_t *)&c->tcp, hl_closed);
		}
		return;
	}
	c->rlen += (size_t)nread;
	while ((m = bt_msg_len(c->rbuf + off, c->rlen - off, sizeof(c->rbuf) / 2)) > 0) {
		hl_response(c, c->rbuf + off, (size_t)m);
		off += (size_t)m;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	if (m < 0 || c->rlen == sizeof(c->rbuf)) {
		H.conn_errors++;
		c->rlen = 0;
	}
	hl_dispatch();
}

static void hl_connected(uv_connect_t *req, int status)
{
	struct hl_conn *c = req->data;

	if (status < 0) {
		H.conn_errors++;
		return;
	}
	c->up = true;
	c->rlen = 0;
	uv_read_start((uv_stream_t *)&c->tcp, hl_alloc, hl_read);
	hl_dispatch();
}

static void hl_connect(struct hl_conn *c)
{
	uv_tcp_init(H.loop, &c->tcp);
	uv_tcp_nodelay(&c->tcp, 1);
	c->tcp.data = c;
	c->creq.data = c;
	if (uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&H.target, hl_connected) < 0)
		H.conn_errors++;
}

static void hl_close_cb(uv_handle_t *h)
{
}

static void hl_report(void)
{
	double secs = (double)(H.t_end - H.t0) / 1e9;
	bool first = true;
	int i;

	printf("{\"tool\": \"httpload\", \"target_rate\": %ld, \"conns\": %ld, \"seconds\": %.3f, "
	       "\"sent\": %llu, \"done\": %llu, \"good\": %llu, \"bad_status\": %llu, "
	       "\"bad_body\": %llu, \"conn_errors\": %llu, \"unanswered\": %llu, "
	       "\"rate\": %.0f, \"backlog_max\": %llu, \"cpu_s\": %.3f, \"codes\": {",
	       H.rate, H.conns, secs, (unsigned long long)H.sent, (unsigned long long)H.done,
	       (unsigned long long)H.good, (unsigned long long)H.bad_status,
	       (unsigned long long)H.bad_body, (unsigned long long)H.conn_errors,
	       (unsigned long long)(H.sent - H.done), secs > 0 ? (double)H.good / secs : 0,
	       (unsigned long long)H.backlog_max, bt_cpu_seconds() - H.cpu0);
	for (i = 100; i < 600; i++) {
		if (!H.codes[i])
			continue;
		printf("%s\"%d\": %llu", first ? "" : ", ", i, (unsigned long long)H.codes[i]);
		first = false;
	}
	printf("}, ");
	bt_hist_json(stdout, "latency", &H.h_lat);
	printf(", ");
	bt_hist_json(stdout, "latency_from_schedule", &H.h_sched);
	printf(", \"first_bad\": \"");
	for (i = 0; H.first_bad[i]; i++) {
		char ch = H.first_bad[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if ((unsigned char)ch < 0x20)
			printf(" ");
		else
			putchar(ch);
	}
	printf("\"}\n");
	fflush(stdout);
}

static void hl_stop(uv_timer_t *t)
{
	long i;

	H.stopping = true;
	uv_close((uv_handle_t *)&H.tick, hl_close_cb);
	uv_close((uv_handle_t *)&H.stop, hl_close_cb);
	for (i = 0; i < H.conns; i++)
		if (!H.c[i].closing)
			uv_close((uv_handle_t *)&H.c[i].tcp, hl_close_cb);
	hl_report();
}

static void hl_check_end(uv_timer_t *t)
{
	uint64_t now = bt_now_ns();
	long i, busy = 0;

	if (H.t_end == 0 && now >= H.t0 + (uint64_t)H.duration_s * 1000000000ull) {
		/* Stop issuing; give answers in flight up to 2 s. */
		H.t_end = now;
		H.stopping = true;
	}
	if (H.t_end) {
		for (i = 0; i < H.conns; i++)
			busy += H.c[i].busy && H.c[i].up;
		if (busy == 0 || now > H.t_end + 2000000000ull)
			hl_stop(t);
		return;
	}
	hl_dispatch();
}

int main(int argc, char **argv)
{
	const char *target = NULL;
	long i;

	H.path = "/v1/callbacks";
	H.conns = 8;
	H.duration_s = 5;
	H.devices = 1;
	H.dev_base = 7000000000ull;
	H.expect_status = 202;
	snprintf(H.run, sizeof(H.run), "%x", (unsigned)getpid());
	for (i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--target"))
			target = v;
		else if (!strcmp(a, "--path"))
			H.path = v;
		else if (!strcmp(a, "--body"))
			H.body = v;
		else if (!strcmp(a, "--header") && H.nheaders < HL_HEADERS_MAX)
			H.headers[H.nheaders++] = v;
		else if (!strcmp(a, "--conns"))
			H.conns = bt_parse_long(a, v, 1, 10000);
		else if (!strcmp(a, "--rate"))
			H.rate = bt_parse_long(a, v, 0, 10000000);
		else if (!strcmp(a, "--duration"))
			H.duration_s = bt_parse_long(a, v, 1, 3600);
		else if (!strcmp(a, "--devices"))
			H.devices = bt_parse_long(a, v, 1, 10000000);
		else if (!strcmp(a, "--dev-base"))
			H.dev_base = (unsigned long long)bt_parse_long(a, v, 0, 999999999999L);
		else if (!strcmp(a, "--expect-status"))
			H.expect_status = bt_parse_long(a, v, 100, 599);
		else if (!strcmp(a, "--expect-body"))
			H.expect_body = v;
		else
			usage();
	}
	if (i != argc || !target || !H.body)
		usage();
	bt_parse_addr("--target", target, &H.target);
	H.c = calloc((size_t)H.conns, sizeof(*H.c));
	if (!H.c)
		return 1;
	H.loop = uv_default_loop();
	uv_timer_init(H.loop, &H.tick);
	uv_timer_init(H.loop, &H.stop);
	H.t0 = bt_now_ns();
	H.cpu0 = bt_cpu_seconds();
	for (i = 0; i < H.conns; i++)
		hl_connect(&H.c[i]);
	uv_timer_start(&H.tick, hl_check_end, 1, 1);
	uv_run(H.loop, UV_RUN_DEFAULT);
	free(H.c);
	uv_loop_close(H.loop);
	return 0;
}
