// SPDX-License-Identifier: Apache-2.0
/*
 * beckon-uas: the endpoint side of the callback benchmarks, on one libuv loop over one UDP
 * socket. It first REGISTERs --aors AORs (each with --instances bindings, distinct
 * +sip.instance ids) at --register-to with the contact-me Accept entry, paced and
 * retransmitted, and prints {"phase":"registered",...} on stderr when all are answered. Then
 * it answers every request it receives (NOTIFY, OPTIONS, ...) 200 OK at once, copying the
 * transaction headers.
 *
 * Latency without correlation files: when a NOTIFY payload carries `request-id=b-<ns>-...`
 * (beckon-httpload puts its CLOCK_MONOTONIC send time there), the time from that HTTP send to
 * this NOTIFY's arrival goes into a histogram; the clock is the machine's, shared by every
 * process. SIGUSR1 prints the figures as one JSON line on stdout and resets them; SIGTERM or
 * SIGINT prints them and exits.
 */
#define _GNU_SOURCE
#include "bt_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define UA_MSG_MAX 4096

struct ua_reg {
	uint32_t cseq;
	bool done;
	uint8_t tries;
	uint64_t sent_ns;
};

static struct {
	struct sockaddr_in bind, registrar;
	bool do_register;
	long naors, instances, reg_rate, expires;
	unsigned long long user_base;
	const char *domain;
	char run[32];

	uv_loop_t *loop;
	int fd;
	uint16_t lport;
	uv_poll_t poll;
	uv_timer_t reg_timer;
	uv_signal_t sig_usr1, sig_term, sig_int;

	struct ua_reg *regs; /* naors * instances */
	long nregs, reg_next, reg_ok, reg_fail;
	uint64_t reg_t0;

	uint64_t requests, notifies, timed, bad, send_fail;
	struct bt_hist h_notify;
	double cpu0;
} U;

static void usage(void)
{
	fputs("usage: beckon-uas [--bind IP:PORT] [--register-to IP:PORT] [--aors N]\n"
	      "  [--instances K] [--user-base N] [--domain D] [--reg-rate N/s] [--expires S]\n",
	      stderr);
	exit(2);
}

static void ua_send(const char *p, size_t n, const struct sockaddr_in *to)
{
	if (sendto(U.fd, p, n, 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
		U.send_fail++;
}

static void ua_register_one(long i)
{
	struct ua_reg *r = &U.regs[i];
	long aor = i / U.instances, inst = i % U.instances;
	unsigned long long user = U.user_base + (unsigned long long)aor;
	char buf[UA_MSG_MAX];
	int n;

	r->cseq++;
	r->tries++;
	r->sent_ns = bt_now_ns();
	/* One Call-ID per binding (instance): each is its own registration, as three phones on
	 * one number would be. */
	n = snprintf(buf, sizeof(buf),
		     "REGISTER sip:%s SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKua.%ld.%u.%s;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:%llu@%s>;tag=ua%ld\r\n"
		     "To: <sip:%llu@%s>\r\n"
		     "Call-ID: ua%ld-%s@bench\r\n"
		     "CSeq: %u REGISTER\r\n"
		     "Contact: <sip:%llu@127.0.0.1:%u;transport=udp;i=%ld>;+sip.instance="
		     "\"<urn:uuid:00000000-0000-4000-%04lx-%012llx>\"\r\n"
		     "Accept: application/application-server-contact-me\r\n"
		     "Expires: %ld\r\n"
		     "Content-Length: 0\r\n\r\n",
		     U.domain, U.lport, i, r->cseq, U.run, user, U.domain, i, user, U.domain, i,
		     U.run, r->cseq, user, U.lport, inst, (unsigned long)(0x8000 + inst), user,
		     U.expires);
	if (n > 0 && (size_t)n < sizeof(buf))
		ua_send(buf, (size_t)n, &U.registrar);
}

static void ua_report(const char *phase)
{
	printf("{\"tool\": \"uas\", \"phase\": \"%s\", \"requests\": %llu, \"notifies\": %llu, "
	       "\"timed\": %llu, \"bad\": %llu, \"send_fail\": %llu, \"cpu_s\": %.3f, ",
	       phase, (unsigned long long)U.requests, (unsigned long long)U.notifies,
	       (unsigned long long)U.timed, (unsigned long long)U.bad,
	       (unsigned long long)U.send_fail, bt_cpu_seconds() - U.cpu0);
	bt_hist_json(stdout, "http_send_to_notify", &U.h_notify);
	printf("}\n");
	fflush(stdout);
}

static void ua_reset(void)
{
	U.requests = U.notifies = U.timed = U.bad = U.send_fail = 0;
	memset(&U.h_notify, 0, sizeof(U.h_notify));
	U.cpu0 = bt_cpu_seconds();
}

/* Finds header `name` or its compact form `c` at a line start in [p, p+n); returns the whole
 * line (without CRLF) in *line / *len, starting at off. */
static const char *ua_header(const char *p, size_t n, const char *name, char c, size_t *len,
			     const char *from)
{
	const char *s = from ? from : memchr(p, '\n', n), *e = p + n, *nl;
	size_t k = strlen(name);

	while (s && s < e) {
		s++;
		if (s >= e || *s == '\r')
			return NULL;
		nl = memchr(s, '\n', (size_t)(e - s));
		if (!nl)
			return NULL;
		if (((size_t)(nl - s) > k && !strncasecmp(s, name, k) &&
		     (s[k] == ':' || s[k] == ' ')) ||
		    ((s[0] | 0x20) == c && (s[1] == ':' || s[1] == ' '))) {
			*len = (size_t)(nl - s);
			if (*len && s[*len - 1] == '\r')
				(*len)--;
			return s;
		}
		s = nl;
	}
	return NULL;
}

static void ua_answer_request(const char *p, size_t n, const struct sockaddr_in *from)
{
	char out[UA_MSG_MAX];
	size_t o = 0, len;
	const char *h = NULL, *body;
	const char *names[] = {"From", "To", "Call-ID", "CSeq"};
	const char cs[] = {'f', 't', 'i', 0};
	int i, w;

	U.requests++;
	if (n > 7 && !memcmp(p, "NOTIFY ", 7))
		U.notifies++;
	w = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\n");
	o = (size_t)w;
	while ((h = ua_header(p, n, "Via", 'v', &len, h ? h + len : NULL))) {
		if (o + len + 2 >= sizeof(out))
			goto bad;
		memcpy(out + o, h, len);
		o += len;
		out[o++] = '\r';
		out[o++] = '\n';
	}
	for (i = 0; i < 4; i++) {
		h = ua_header(p, n, names[i], cs[i], &len, NULL);
		if (!h || o + len + 32 >= sizeof(out))
			goto bad;
		memcpy(out + o, h, len);
		o += len;
		if (i == 1 && !bt_memcasemem(h, len, ";tag=")) {
			memcpy(out + o, ";tag=uas", 8);
			o += 8;
		}
		out[o++] = '\r';
		out[o++] = '\n';
	}
	w = snprintf(out + o, sizeof(out) - o, "Content-Length: 0\r\n\r\n");
	if (w < 0 || (size_t)w >= sizeof(out) - o)
		goto bad;
	o += (size_t)w;
	ua_send(out, o, from);

	body = memmem(p, n, "request-id=b-", 13);
	if (body) {
		uint64_t t = strtoull(body + 13, NULL, 10), now = bt_now_ns();

		if (t && t <= now) {
			bt_hist_add(&U.h_notify, now - t);
			U.timed++;
		}
	}
	return;
bad:
	U.bad++;
}

static void ua_answer_response(const char *p, size_t n)
{
	const char *b = memmem(p, n, "branch=z9hG4bKua.", 17);
	char *end;
	long i;
	int status;

	if (!b || n < 12)
		return;
	status = (p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0');
	if (status < 200)
		return;
	i = strtol(b + 17, &end, 10);
	if (*end != '.' || i < 0 || i >= U.nregs || U.regs[i].done)
		return;
	U.regs[i].done = true;
	if (status < 300)
		U.reg_ok++;
	else
		U.reg_fail++;
	if (U.reg_ok + U.reg_fail == U.nregs) {
		uv_timer_stop(&U.reg_timer);
		fprintf(stderr,
			"{\"phase\": \"registered\", \"ok\": %ld, \"failed\": %ld, \"port\": %u, "
			"\"seconds\": %.3f}\n",
			U.reg_ok, U.reg_fail, U.lport, (double)(bt_now_ns() - U.reg_t0) / 1e9);
		fflush(stderr);
	}
}

static void ua_readable(uv_poll_t *h, int status, int events)
{
	static char bufs[32][UA_MSG_MAX];
	struct sockaddr_in from[32];
	struct mmsghdr mm[32];
	struct iovec iov[32];
	int i, n;

	if (status < 0)
		return;
	for (;;) {
		for (i = 0; i < 32; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_name = &from[i];
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(U.fd, mm, 32, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			if (mm[i].msg_len > 8 && !memcmp(bufs[i], "SIP/2.0 ", 8))
				ua_answer_response(bufs[i], mm[i].msg_len);
			else
				ua_answer_request(bufs[i], mm[i].msg_len, &from[i]);
		}
	}
}

static void ua_reg_tick(uv_timer_t *t)
{
	uint64_t now = bt_now_ns();
	long due = (long)((double)(now - U.reg_t0) * (double)U.reg_rate / 1e9), i;

	if (due > U.nregs)
		due = U.nregs;
	while (U.reg_next < due)
		ua_register_one(U.reg_next++);
	/* Retransmit what is unanswered after a second (a loaded registrar may drop some). */
	if (U.reg_next == U.nregs) {
		for (i = 0; i < U.nregs; i++) {
			struct ua_reg *r = &U.regs[i];

			if (r->done || now - r->sent_ns < 1000000000ull)
				continue;
			if (r->tries >= 5) {
				r->done = true;
				U.reg_fail++;
				continue;
			}
			ua_register_one(i);
		}
		if (U.reg_ok + U.reg_fail == U.nregs) {
			uv_timer_stop(&U.reg_timer);
			fprintf(stderr,
				"{\"phase\": \"registered\", \"ok\": %ld, \"failed\": %ld}\n",
				U.reg_ok, U.reg_fail);
			fflush(stderr);
		}
	}
}

static void ua_close_cb(uv_handle_t *h)
{
}

static void ua_signal(uv_signal_t *s, int signum)
{
	if (signum == SIGUSR1) {
		ua_report("interval");
		ua_reset();
		return;
	}
	ua_report("final");
	uv_close((uv_handle_t *)&U.poll, ua_close_cb);
	uv_close((uv_handle_t *)&U.reg_timer, ua_close_cb);
	uv_close((uv_handle_t *)&U.sig_usr1, ua_close_cb);
	uv_close((uv_handle_t *)&U.sig_term, ua_close_cb);
	uv_close((uv_handle_t *)&U.sig_int, ua_close_cb);
}

int main(int argc, char **argv)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int big = 16 << 20;
	long i;

	bt_parse_addr("--bind", "127.0.0.1:0", &U.bind);
	U.naors = 1;
	U.instances = 1;
	U.reg_rate = 5000;
	U.expires = 3600;
	U.user_base = 7000000000ull;
	U.domain = "bench.example";
	snprintf(U.run, sizeof(U.run), "%x", (unsigned)(bt_now_ns() / 1000) ^ (unsigned)getpid());
	for (i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--bind"))
			bt_parse_addr(a, v, &U.bind);
		else if (!strcmp(a, "--register-to")) {
			bt_parse_addr(a, v, &U.registrar);
			U.do_register = true;
		} else if (!strcmp(a, "--aors"))
			U.naors = bt_parse_long(a, v, 1, 1000000);
		else if (!strcmp(a, "--instances"))
			U.instances = bt_parse_long(a, v, 1, 16);
		else if (!strcmp(a, "--user-base"))
			U.user_base = (unsigned long long)bt_parse_long(a, v, 0, 999999999999L);
		else if (!strcmp(a, "--domain"))
			U.domain = v;
		else if (!strcmp(a, "--reg-rate"))
			U.reg_rate = bt_parse_long(a, v, 1, 1000000);
		else if (!strcmp(a, "--expires"))
			U.expires = bt_parse_long(a, v, 1, 604800);
		else
			usage();
	}
	if (i != argc)
		usage();
	U.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (U.fd < 0)
		return 1;
	if (setsockopt(U.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(U.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(U.fd, (struct sockaddr *)&U.bind, sizeof(U.bind)) < 0 ||
	    getsockname(U.fd, (struct sockaddr *)&me, &len) < 0) {
		fprintf(stderr, "beckon-uas: bind: %s\n", strerror(errno));
		return 1;
	}
	U.lport = ntohs(me.sin_port);
	U.loop = uv_default_loop();
	uv_poll_init(U.loop, &U.poll, U.fd);
	uv_poll_start(&U.poll, UV_READABLE, ua_readable);
	uv_timer_init(U.loop, &U.reg_timer);
	uv_signal_init(U.loop, &U.sig_usr1);
	uv_signal_start(&U.sig_usr1, ua_signal, SIGUSR1);
	uv_signal_init(U.loop, &U.sig_term);
	uv_signal_start(&U.sig_term, ua_signal, SIGTERM);
	uv_signal_init(U.loop, &U.sig_int);
	uv_signal_start(&U.sig_int, ua_signal, SIGINT);
	U.cpu0 = bt_cpu_seconds();
	fprintf(stderr, "{\"phase\": \"listening\", \"port\": %u}\n", U.lport);
	fflush(stderr);
	if (U.do_register) {
		U.nregs = U.naors * U.instances;
		U.regs = calloc((size_t)U.nregs, sizeof(*U.regs));
		if (!U.regs)
			return 1;
		U.reg_t0 = bt_now_ns();
		uv_timer_start(&U.reg_timer, ua_reg_tick, 1, 1);
	}
	uv_run(U.loop, UV_RUN_DEFAULT);
	close(U.fd);
	free(U.regs);
	uv_loop_close(U.loop);
	return 0;
}
