// SPDX-License-Identifier: Apache-2.0
/*
 * beckon-regload: an open-loop REGISTER flood for benchmarking registrars (sip-edge,
 * Kamailio) over UDP or TCP, on one libuv loop. Each of --aors distinct AORs has its own
 * Call-ID and CSeq; the k-th REGISTER goes to AOR k mod aors, so the first pass over the AORs
 * are new registrations and later passes are refreshes, and both are reported apart. Sending
 * follows a schedule (rate × elapsed time), never the answers, so a slow server shows up as
 * loss and latency rather than as a slower generator (no coordinated omission). Answers are
 * matched by the Via branch, which encodes AOR index and CSeq. UDP uses sendmmsg/recvmmsg on
 * raw sockets watched by uv_poll_t: one generator core must outrun the server's core.
 *
 * With --auth-password PW it answers a 401 challenge with digest MD5 (RFC 2617/7616, qop=auth;
 * user name = the AOR's user, one password for all; MD5 through OpenSSL's EVP): each REGISTER
 * is then the challenged pair (401, then the authenticated one; its latency runs from the first
 * send), and the pair counts as one REGISTER. --auth-reuse sends later REGISTERs of an AOR with
 * the last nonce and the next nonce-count straight away, as phones refresh; a 401 (stale or
 * unknown nonce) is answered once more. "New" registrations are then an AOR's first 2xx.
 *
 * Prints one JSON object with every figure on stdout. With --hold S it keeps its sockets
 * (TCP connections) open S seconds after the last answer, printing {"phase":"holding"} on
 * stderr first, so a driver can measure the server's footprint per idle flow.
 */
#define _GNU_SOURCE
#include "bt_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <uv.h>

#define RL_BATCH 256
#define RL_MSG_MAX 1536
#define RL_NONCE_MAX 128
#define RL_REALM_MAX 64
#define RL_RBUF 65536
#define RL_CONNECTING_MAX 256

struct rl_aor {
	uint32_t cseq; /* CSeq of the last REGISTER sent for this AOR (0: none yet) */
	bool pending;  /* the last one has not been answered yet */
	bool resent;   /* auth: the pending one answers a challenge (no second answer) */
	bool ok_once;  /* auth: has had a 2xx (the next one is a refresh) */
	uint32_t nc;   /* auth: nonce-count last used with nonce */
	char *nonce;   /* auth: the last challenge's nonce (malloc'd), NULL before one */
	uint64_t sent_ns;
};

struct rl_conn {
	int idx;
	uint16_t lport;
	char lhost[16]; /* source address: 127.1.x.y, one per --sources slot */
	bool up;
	/* UDP */
	int fd;
	uv_poll_t poll;
	/* TCP */
	uv_tcp_t tcp;
	uv_connect_t creq;
	char *rbuf;
	size_t rlen;
	char *wbuf;
	size_t wlen, wcap;
};

struct rl_write {
	uv_write_t req;
	char *buf;
};

static struct {
	struct sockaddr_in target;
	bool tcp;
	long rate, duration_s, naors, nconns, nsources, drain_ms, hold_s, late_ms, expires;
	unsigned long long user_base;
	const char *domain;
	char run[32];
	bool once, accept, instance;
	/* digest auth (--auth-password): realm of the last challenge, H(A2), counters */
	const char *password;
	bool auth_reuse;
	EVP_MD *md5;
	char realm[RL_REALM_MAX + 1];
	char ha2[33];
	uint64_t challenged, auth_rejected, cnonce_seq;

	uv_loop_t *loop;
	uv_timer_t tick, phase;
	struct rl_aor *aors;
	struct rl_conn *conns;
	long connecting, next_connect, connected, conn_fail;

	uint64_t drain_end;
	uint64_t t0, total; /* schedule start; REGISTERs to send in all */
	uint64_t sent, answered, ok, ok_new, ok_refresh, errors, late, stale, send_fail;
	uint64_t codes[700];
	struct bt_hist h_all, h_new, h_refresh;
	double send_s;
	double cpu0;
	bool sending;
} R;

static void usage(void)
{
	fputs("usage: beckon-regload --target IP:PORT [--transport udp|tcp] [--rate N/s]\n"
	      "  [--duration S] [--aors N] [--conns N] [--user-base N] [--domain D]\n"
	      "  [--expires S] [--once] [--drain-ms MS] [--hold S] [--late-ms MS]\n"
	      "  [--sources N]\n"
	      "  [--no-accept] [--no-instance] [--run ID]\n"
	      "  [--auth-password PW [--auth-reuse]]\n",
	      stderr);
	exit(2);
}

/* The connection (socket) of the k-th REGISTER's AOR: stable per AOR, and 64 consecutive AORs
 * share one so UDP sends still batch. */
static struct rl_conn *rl_conn_of(uint64_t k)
{
	uint64_t idx = k % (uint64_t)R.naors;

	return &R.conns[(idx / 64) % (uint64_t)R.nconns];
}

/* Source address of connection i: 127.1.x.y (all of 127/8 is loopback on Linux), so the load
 * comes from --sources addresses as it would from many endpoints, and a per-address limit in
 * the server meets the load of one endpoint group, not all of it. */
static void rl_source(long i, struct sockaddr_in *sa)
{
	long s = i % R.nsources;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((unsigned)(s / 250 % 250) << 8) |
				    (unsigned)(s % 250 + 1));
}

/* Lower-case hex MD5 of s[0..n) into out (33 bytes). */
static void rl_md5_hex(const char *s, size_t n, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(s, n, md, &len, R.md5, NULL) != 1 || len != 16) {
		fprintf(stderr, "beckon-regload: MD5 failed\n");
		exit(1);
	}
	for (unsigned int i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

/* The Authorization header line for AOR a (user) with its nonce and the next nonce-count. */
static int rl_authorization(char *buf, size_t cap, unsigned long long user, struct rl_aor *a)
{
	char tmp[RL_NONCE_MAX + RL_REALM_MAX + 128], ha1[33], resp[33], cnonce[17];
	int n;

	a->nc++;
	snprintf(cnonce, sizeof(cnonce), "%016llx", (unsigned long long)++R.cnonce_seq);
	n = snprintf(tmp, sizeof(tmp), "%llu:%s:%s", user, R.realm, R.password);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EMSGSIZE;
	rl_md5_hex(tmp, (size_t)n, ha1);
	n = snprintf(tmp, sizeof(tmp), "%s:%s:%08x:%s:auth:%s", ha1, a->nonce, a->nc, cnonce,
		     R.ha2);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EMSGSIZE;
	rl_md5_hex(tmp, (size_t)n, resp);
	n = snprintf(buf, cap,
		     "Authorization: Digest username=\"%llu\", realm=\"%s\", nonce=\"%s\", "
		     "uri=\"sip:%s\", response=\"%s\", algorithm=MD5, qop=auth, nc=%08x, "
		     "cnonce=\"%s\"\r\n",
		     user, R.realm, a->nonce, R.domain, resp, a->nc, cnonce);
	return n < 0 || (size_t)n >= cap ? -EMSGSIZE : n;
}

/* resend: the answer to a challenge, which keeps the first send's time for the latency. */
static int rl_format(char *buf, size_t cap, uint64_t k, struct rl_conn *c, bool resend)
{
	uint64_t idx = k % (uint64_t)R.naors;
	struct rl_aor *a = &R.aors[idx];
	unsigned long long user = R.user_base + idx;
	const char *tp = R.tcp ? "TCP" : "UDP", *tpl = R.tcp ? "tcp" : "udp";
	char inst[96] = "", authz[RL_NONCE_MAX + RL_REALM_MAX + 320] = "";
	int n;

	a->cseq++;
	if (R.password && a->nonce && (resend || R.auth_reuse) &&
	    rl_authorization(authz, sizeof(authz), user, a) < 0)
		return -EMSGSIZE;
	if (R.instance)
		snprintf(inst, sizeof(inst),
			 ";+sip.instance=\"<urn:uuid:00000000-0000-4000-8000-%012llx>\"", user);
	n = snprintf(buf, cap,
		     "REGISTER sip:%s SIP/2.0\r\n"
		     "Via: SIP/2.0/%s %s:%u;branch=z9hG4bKrl.%llu.%u.%s;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:%llu@%s>;tag=rl%llu\r\n"
		     "To: <sip:%llu@%s>\r\n"
		     "Call-ID: rl%llu-%s@bench\r\n"
		     "CSeq: %u REGISTER\r\n"
		     "Contact: <sip:%llu@%s:%u;transport=%s>%s\r\n"
		     "%s"
		     "Expires: %ld\r\n"
		     "%s"
		     "User-Agent: beckon-regload\r\n"
		     "Content-Length: 0\r\n\r\n",
		     R.domain, tp, c->lhost, c->lport, (unsigned long long)idx, a->cseq, R.run,
		     user, R.domain, user, user, R.domain, (unsigned long long)idx, R.run, a->cseq,
		     user, c->lhost, c->lport, tpl, inst,
		     R.accept ? "Accept: application/application-server-contact-me\r\n" : "",
		     R.expires, authz);
	if (n < 0 || (size_t)n >= cap)
		return -EMSGSIZE;
	a->pending = true;
	a->resent = resend;
	if (!resend)
		a->sent_ns = bt_now_ns();
	return n;
}

/* The connection an AOR's REGISTERs go on (and its answers come back on). */
static struct rl_conn *rl_conn_for_aor(uint64_t idx)
{
	return R.once && R.tcp ? &R.conns[idx % (uint64_t)R.nconns] : rl_conn_of(idx);
}

/* Value of parameter name in the header value p[0..n) (quotes removed) into out. */
static int rl_param(const char *p, size_t n, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *end = p + n, *q = p, *v;

	while ((q = bt_memcasemem(q, (size_t)(end - q), name)) != NULL) {
		bool start = q == p || q[-1] == ' ' || q[-1] == ',' || q[-1] == '\t';
		q += nl;
		if (!start || q >= end || *q != '=')
			continue;
		q++;
		if (q < end && *q == '"') {
			v = ++q;
			while (q < end && *q != '"')
				q++;
		} else {
			v = q;
			while (q < end && *q != ',' && *q != ' ' && *q != '\r')
				q++;
		}
		if ((size_t)(q - v) >= cap)
			return -EMSGSIZE;
		memcpy(out, v, (size_t)(q - v));
		out[q - v] = '\0';
		return 0;
	}
	return -ENOENT;
}

/* Takes the MD5 challenge of the 401 p[0..n) for a: realm and a fresh nonce (nc from 0). */
static int rl_challenge(struct rl_aor *a, const char *p, size_t n)
{
	const char *end = p + n, *h = p, *eol;
	char alg[16], nonce[RL_NONCE_MAX + 1], realm[RL_REALM_MAX + 1];

	while ((h = bt_memcasemem(h, (size_t)(end - h), "\nWWW-Authenticate:")) != NULL) {
		h += 18;
		eol = memchr(h, '\n', (size_t)(end - h));
		if (!eol)
			eol = end;
		if (rl_param(h, (size_t)(eol - h), "algorithm", alg, sizeof(alg)) == 0 &&
		    strcasecmp(alg, "MD5") != 0)
			continue;
		if (rl_param(h, (size_t)(eol - h), "nonce", nonce, sizeof(nonce)) < 0 ||
		    rl_param(h, (size_t)(eol - h), "realm", realm, sizeof(realm)) < 0)
			continue;
		free(a->nonce);
		a->nonce = strdup(nonce);
		if (!a->nonce)
			exit(1);
		a->nc = 0;
		memcpy(R.realm, realm, sizeof(realm));
		return 0;
	}
	return -ENOENT;
}

static void rl_tcp_queue(struct rl_conn *c, uint64_t k, bool resend);

/* Answers a's challenge at once on its connection (TCP: flushed after the read). */
static void rl_resend(uint64_t idx)
{
	struct rl_conn *c = rl_conn_for_aor(idx);
	char buf[RL_MSG_MAX];
	int r;

	if (R.tcp) {
		rl_tcp_queue(c, idx, true);
		return;
	}
	r = rl_format(buf, sizeof(buf), idx, c, true);
	if (r < 0)
		exit(1);
	if (send(c->fd, buf, (size_t)r, 0) != r)
		R.send_fail++;
}

static void rl_answer(const char *p, size_t n)
{
	const char *b;
	char *end;
	unsigned long long idx;
	unsigned long cseq;
	int status;
	struct rl_aor *a;
	uint64_t lat;

	if (n < 12 || memcmp(p, "SIP/2.0 ", 8) != 0)
		return;
	status = (p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0');
	if (status < 100 || status > 699)
		return;
	if (status < 200)
		return;
	b = memmem(p, n, "branch=z9hG4bKrl.", 17);
	if (!b)
		return;
	idx = strtoull(b + 17, &end, 10);
	if (*end != '.' || idx >= (unsigned long long)R.naors)
		return;
	cseq = strtoul(end + 1, NULL, 10);
	a = &R.aors[idx];
	if (!a->pending || cseq != a->cseq) {
		R.stale++;
		return;
	}
	if (status == 401 && R.password) {
		if (!a->resent && rl_challenge(a, p, n) == 0) {
			R.challenged++;
			rl_resend(idx);
			return;
		}
		R.auth_rejected++; /* our answer was refused: wrong password or nonce */
	}
	a->pending = false;
	R.answered++;
	lat = bt_now_ns() - a->sent_ns;
	R.codes[status]++;
	if (status >= 300) {
		R.errors++;
		return;
	}
	/* A 2xx after T1: the endpoint has retransmitted already; it counts as bad too. */
	if (lat > (uint64_t)R.late_ms * 1000000ull)
		R.late++;
	R.ok++;
	bt_hist_add(&R.h_all, lat);
	if (R.password ? !a->ok_once : cseq == 1) {
		a->ok_once = true;
		R.ok_new++;
		bt_hist_add(&R.h_new, lat);
	} else {
		R.ok_refresh++;
		bt_hist_add(&R.h_refresh, lat);
	}
}

/* ---- UDP: raw sockets, recvmmsg / sendmmsg ---- */

static void rl_udp_readable(uv_poll_t *h, int status, int events)
{
	struct rl_conn *c = h->data;
	static char bufs[64][2048];
	struct mmsghdr mm[64];
	struct iovec iov[64];
	int i, n;

	if (status < 0)
		return;
	for (;;) {
		for (i = 0; i < 64; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(c->fd, mm, 64, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++)
			rl_answer(bufs[i], mm[i].msg_len);
	}
}

static int rl_udp_open(struct rl_conn *c)
{
	struct sockaddr_in me = {.sin_family = AF_INET};
	socklen_t len = sizeof(me);
	int big = 16 << 20;

	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	/* Root can exceed rmem_max: the generator must never be the one dropping answers. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	rl_source(c->idx, &me);
	inet_ntop(AF_INET, &me.sin_addr, c->lhost, sizeof(c->lhost));
	if (bind(c->fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&R.target, sizeof(R.target)) < 0 ||
	    getsockname(c->fd, (struct sockaddr *)&me, &len) < 0)
		return -errno;
	c->lport = ntohs(me.sin_port);
	c->up = true;
	uv_poll_init(R.loop, &c->poll, c->fd);
	c->poll.data = c;
	uv_poll_start(&c->poll, UV_READABLE, rl_udp_readable);
	R.connected++;
	return 0;
}

static void rl_udp_send(uint64_t count)
{
	static char bufs[RL_BATCH][RL_MSG_MAX];
	struct mmsghdr mm[RL_BATCH];
	struct iovec iov[RL_BATCH];
	struct rl_conn *c;
	uint64_t k;
	int i, n, r;

	while (count) {
		/* One batch per socket at a time: sendmmsg needs a single fd. */
		c = rl_conn_of(R.sent);
		n = 0;
		while (count && n < RL_BATCH) {
			k = R.sent;
			if (rl_conn_of(k) != c)
				break;
			r = rl_format(bufs[n], RL_MSG_MAX, k, c, false);
			if (r < 0)
				exit(1);
			iov[n].iov_base = bufs[n];
			iov[n].iov_len = (size_t)r;
			memset(&mm[n].msg_hdr, 0, sizeof(mm[n].msg_hdr));
			mm[n].msg_hdr.msg_iov = &iov[n];
			mm[n].msg_hdr.msg_iovlen = 1;
			n++;
			count--;
			R.sent++;
		}
		i = 0;
		while (i < n) {
			r = sendmmsg(c->fd, mm + i, (unsigned)(n - i), 0);
			if (r <= 0) {
				R.send_fail += (uint64_t)(n - i);
				break;
			}
			i += r;
		}
	}
}

/* ---- TCP ---- */

static void rl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct rl_conn *c = h->data;

	buf->base = c->rbuf + c->rlen;
	buf->len = RL_RBUF - c->rlen;
}

static void rl_tcp_flush(struct rl_conn *c);

static void rl_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rl_conn *c = s->data;
	size_t off = 0;
	long m;

	if (nread < 0) {
		if (c->up) {
			c->up = false;
			R.conn_fail++;
			uv_read_stop(s);
		}
		return;
	}
	c->rlen += (size_t)nread;
	while ((m = bt_msg_len(c->rbuf + off, c->rlen - off, RL_RBUF / 2)) > 0) {
		rl_answer(c->rbuf + off, (size_t)m);
		off += (size_t)m;
	}
	rl_tcp_flush(c); /* answers to challenges (rl_resend) */
	if (m < 0) {
		c->up = false;
		R.conn_fail++;
		uv_read_stop(s);
		return;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static void rl_write_done(uv_write_t *req, int status)
{
	struct rl_write *w = (struct rl_write *)req;

	if (status < 0)
		R.send_fail++;
	free(w->buf);
	free(w);
}

static void rl_tcp_flush(struct rl_conn *c)
{
	struct rl_write *w;
	uv_buf_t b;

	if (!c->wlen)
		return;
	if (!c->up) {
		R.send_fail++;
		c->wlen = 0;
		return;
	}
	w = malloc(sizeof(*w));
	if (!w)
		exit(1);
	w->buf = c->wbuf;
	b = uv_buf_init(c->wbuf, (unsigned)c->wlen);
	c->wbuf = NULL;
	c->wlen = c->wcap = 0;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, rl_write_done) < 0) {
		R.send_fail++;
		free(w->buf);
		free(w);
	}
}

static void rl_tcp_queue(struct rl_conn *c, uint64_t k, bool resend)
{
	int r;

	if (c->wcap - c->wlen < RL_MSG_MAX) {
		c->wcap = c->wcap ? c->wcap * 2 : 16 * RL_MSG_MAX;
		c->wbuf = realloc(c->wbuf, c->wcap);
		if (!c->wbuf)
			exit(1);
	}
	r = rl_format(c->wbuf + c->wlen, RL_MSG_MAX, k, c, resend);
	if (r < 0)
		exit(1);
	c->wlen += (size_t)r;
}

static void rl_tcp_send(uint64_t count)
{
	struct rl_conn *c;
	long i;

	while (count--) {
		c = R.once ? &R.conns[R.sent % (uint64_t)R.nconns] : rl_conn_of(R.sent);
		rl_tcp_queue(c, R.sent, false);
		R.sent++;
	}
	for (i = 0; i < R.nconns; i++)
		rl_tcp_flush(&R.conns[i]);
}

static void rl_start(void);
static void rl_connect_next(void);

static void rl_connected(uv_connect_t *req, int status)
{
	struct rl_conn *c = req->data;
	struct sockaddr_in me;
	int len = sizeof(me);

	R.connecting--;
	if (status < 0) {
		R.conn_fail++;
	} else {
		uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&me, &len);
		c->lport = ntohs(me.sin_port);
		c->up = true;
		R.connected++;
		uv_read_start((uv_stream_t *)&c->tcp, rl_alloc, rl_tcp_read);
	}
	rl_connect_next();
}

static void rl_connect_next(void)
{
	struct rl_conn *c;

	/* Bounded concurrency: 10k simultaneous SYNs would overflow the listen backlog. */
	while (R.next_connect < R.nconns && R.connecting < RL_CONNECTING_MAX) {
		c = &R.conns[R.next_connect++];
		c->rbuf = malloc(RL_RBUF);
		if (!c->rbuf)
			exit(1);
		uv_tcp_init(R.loop, &c->tcp);
		uv_tcp_nodelay(&c->tcp, 1);
		c->tcp.data = c;
		c->creq.data = c;
		{
			struct sockaddr_in src;

			rl_source(c->idx, &src);
			inet_ntop(AF_INET, &src.sin_addr, c->lhost, sizeof(c->lhost));
			if (uv_tcp_bind(&c->tcp, (struct sockaddr *)&src, 0) < 0) {
				R.conn_fail++;
				continue;
			}
		}
		if (uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&R.target, rl_connected) <
		    0) {
			R.conn_fail++;
			continue;
		}
		R.connecting++;
	}
	if (R.next_connect == R.nconns && R.connecting == 0 && !R.sending && R.t0 == 0)
		rl_start();
}

/* ---- schedule ---- */

static void rl_report(void)
{
	uint64_t lost = R.sent - R.answered;
	double bad = R.sent ? 100.0 * (double)(lost + R.errors + R.late) / (double)R.sent : 0;
	int i;
	bool first = true;

	printf("{\"tool\": \"regload\", \"transport\": \"%s\", \"target_rate\": %ld, "
	       "\"aors\": %ld, \"conns\": %ld, \"connected\": %ld, \"conn_fail\": %ld, "
	       "\"sent\": %llu, \"send_s\": %.3f, \"send_rate\": %.0f, \"send_fail\": %llu, "
	       "\"answered\": %llu, \"ok\": %llu, \"ok_new\": %llu, \"ok_refresh\": %llu, "
	       "\"errors\": %llu, \"late\": %llu, \"late_ms\": %ld, \"stale\": %llu, "
	       "\"lost\": %llu, \"loss_pct\": %.4f, \"bad_pct\": %.4f, \"cpu_s\": %.3f, "
	       "\"auth\": \"%s\", \"challenged\": %llu, \"auth_rejected\": %llu, "
	       "\"codes\": {",
	       R.tcp ? "tcp" : "udp", R.rate, R.naors, R.nconns, R.connected, R.conn_fail,
	       (unsigned long long)R.sent, R.send_s, R.send_s > 0 ? (double)R.sent / R.send_s : 0,
	       (unsigned long long)R.send_fail, (unsigned long long)R.answered,
	       (unsigned long long)R.ok, (unsigned long long)R.ok_new,
	       (unsigned long long)R.ok_refresh, (unsigned long long)R.errors,
	       (unsigned long long)R.late, R.late_ms, (unsigned long long)R.stale,
	       (unsigned long long)lost, R.sent ? 100.0 * (double)lost / (double)R.sent : 0, bad,
	       bt_cpu_seconds() - R.cpu0,
	       !R.password    ? "off"
	       : R.auth_reuse ? "reuse"
			      : "challenge",
	       (unsigned long long)R.challenged, (unsigned long long)R.auth_rejected);
	for (i = 100; i < 700; i++) {
		if (!R.codes[i])
			continue;
		printf("%s\"%d\": %llu", first ? "" : ", ", i, (unsigned long long)R.codes[i]);
		first = false;
	}
	printf("}, ");
	bt_hist_json(stdout, "latency", &R.h_all);
	printf(", ");
	bt_hist_json(stdout, "latency_new", &R.h_new);
	printf(", ");
	bt_hist_json(stdout, "latency_refresh", &R.h_refresh);
	printf("}\n");
	fflush(stdout);
}

static void rl_close_cb(uv_handle_t *h)
{
}

static void rl_stop(uv_timer_t *t)
{
	long i;

	rl_report();
	uv_close((uv_handle_t *)&R.tick, rl_close_cb);
	uv_close((uv_handle_t *)&R.phase, rl_close_cb);
	for (i = 0; i < R.nconns; i++) {
		struct rl_conn *c = &R.conns[i];

		if (!R.tcp && c->fd >= 0) {
			uv_close((uv_handle_t *)&c->poll, rl_close_cb);
		} else if (R.tcp && i < R.next_connect) {
			uv_close((uv_handle_t *)&c->tcp, rl_close_cb);
		}
	}
}

static void rl_drained(uv_timer_t *t)
{
	if (R.hold_s > 0) {
		fprintf(stderr,
			"{\"phase\": \"holding\", \"answered\": %llu, \"connected\": %ld}\n",
			(unsigned long long)R.answered, R.connected);
		fflush(stderr);
		uv_timer_start(&R.phase, rl_stop, (uint64_t)R.hold_s * 1000, 0);
		return;
	}
	rl_stop(t);
}

static void rl_draining(uv_timer_t *t)
{
	if (R.answered + R.stale < R.sent && bt_now_ns() < R.drain_end)
		return;
	uv_timer_stop(&R.phase);
	rl_drained(t);
}

static void rl_tick(uv_timer_t *t)
{
	uint64_t now = bt_now_ns(), due, count, cap;

	due = (uint64_t)((double)(now - R.t0) * (double)R.rate / 1e9);
	if (due > R.total)
		due = R.total;
	if (due <= R.sent)
		goto check_done;
	count = due - R.sent;
	/* A generator stalled for long must not fire its whole backlog in one burst. */
	cap = (uint64_t)R.rate / 50 + 64;
	if (count > cap)
		count = cap;
	if (R.tcp)
		rl_tcp_send(count);
	else
		rl_udp_send(count);
check_done:
	if (R.sent >= R.total) {
		R.sending = false;
		R.send_s = (double)(bt_now_ns() - R.t0) / 1e9;
		uv_timer_stop(&R.tick);
		/* Wait for the last answers; finish early once every REGISTER is answered. */
		R.drain_end = bt_now_ns() + (uint64_t)R.drain_ms * 1000000ull;
		uv_timer_start(&R.phase, rl_draining, 10, 10);
	}
}

static void rl_start(void)
{
	if (R.connected == 0) {
		fprintf(stderr, "beckon-regload: no connection to the target\n");
		rl_report();
		exit(1);
	}
	R.sending = true;
	R.t0 = bt_now_ns();
	R.cpu0 = bt_cpu_seconds();
	uv_timer_start(&R.tick, rl_tick, 1, 1);
}

int main(int argc, char **argv)
{
	const char *target = NULL;
	long i;

	R.rate = 1000;
	R.duration_s = 5;
	R.naors = 100000;
	R.nconns = 1;
	R.drain_ms = 1000;
	R.late_ms = 500;
	R.expires = 3600;
	R.user_base = 7000000000ull;
	R.domain = "bench.example";
	R.accept = R.instance = true;
	snprintf(R.run, sizeof(R.run), "%x", (unsigned)(bt_now_ns() / 1000) ^ (unsigned)getpid());
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--once")) {
			R.once = true;
			continue;
		} else if (!strcmp(a, "--no-accept")) {
			R.accept = false;
			continue;
		} else if (!strcmp(a, "--no-instance")) {
			R.instance = false;
			continue;
		} else if (!strcmp(a, "--auth-reuse")) {
			R.auth_reuse = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--target"))
			target = v;
		else if (!strcmp(a, "--transport") && (!strcmp(v, "udp") || !strcmp(v, "tcp")))
			R.tcp = !strcmp(v, "tcp");
		else if (!strcmp(a, "--rate"))
			R.rate = bt_parse_long(a, v, 1, 10000000);
		else if (!strcmp(a, "--duration"))
			R.duration_s = bt_parse_long(a, v, 1, 3600);
		else if (!strcmp(a, "--aors"))
			R.naors = bt_parse_long(a, v, 1, 10000000);
		else if (!strcmp(a, "--conns"))
			R.nconns = bt_parse_long(a, v, 1, 200000);
		else if (!strcmp(a, "--sources"))
			R.nsources = bt_parse_long(a, v, 1, 62500);
		else if (!strcmp(a, "--user-base"))
			R.user_base = (unsigned long long)bt_parse_long(a, v, 0, 999999999999L);
		else if (!strcmp(a, "--domain"))
			R.domain = v;
		else if (!strcmp(a, "--auth-password") && *v && strlen(v) < 128)
			R.password = v;
		else if (!strcmp(a, "--expires"))
			R.expires = bt_parse_long(a, v, 0, 604800);
		else if (!strcmp(a, "--drain-ms"))
			R.drain_ms = bt_parse_long(a, v, 0, 600000);
		else if (!strcmp(a, "--hold"))
			R.hold_s = bt_parse_long(a, v, 0, 3600);
		else if (!strcmp(a, "--late-ms"))
			R.late_ms = bt_parse_long(a, v, 1, 600000);
		else if (!strcmp(a, "--run") && strlen(v) < sizeof(R.run) &&
			 strspn(v,
				"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
			     strlen(v))
			snprintf(R.run, sizeof(R.run), "%s", v);
		else
			usage();
	}
	if (!target || (R.auth_reuse && !R.password))
		usage();
	if (R.password) {
		char a2[300];
		int n = snprintf(a2, sizeof(a2), "REGISTER:sip:%s", R.domain);

		R.md5 = EVP_MD_fetch(NULL, "MD5", NULL);
		if (!R.md5 || n < 0 || (size_t)n >= sizeof(a2)) {
			fprintf(stderr, "beckon-regload: no MD5 in OpenSSL or domain too long\n");
			return 2;
		}
		rl_md5_hex(a2, (size_t)n, R.ha2);
	}
	if (R.nsources == 0)
		R.nsources = R.nconns;
	bt_parse_addr("--target", target, &R.target);
	if (R.nconns > 1000)
		bt_raise_nofile();
	R.total = R.once ? (uint64_t)R.naors : (uint64_t)R.rate * (uint64_t)R.duration_s;
	R.aors = calloc((size_t)R.naors, sizeof(*R.aors));
	R.conns = calloc((size_t)R.nconns, sizeof(*R.conns));
	if (!R.aors || !R.conns)
		return 1;
	R.loop = uv_default_loop();
	uv_timer_init(R.loop, &R.tick);
	uv_timer_init(R.loop, &R.phase);
	for (i = 0; i < R.nconns; i++) {
		R.conns[i].idx = (int)i;
		R.conns[i].fd = -1;
	}
	if (R.tcp) {
		rl_connect_next();
	} else {
		for (i = 0; i < R.nconns; i++) {
			int r = rl_udp_open(&R.conns[i]);

			if (r < 0) {
				fprintf(stderr, "beckon-regload: udp socket: %s\n", strerror(-r));
				return 1;
			}
		}
		rl_start();
	}
	uv_run(R.loop, UV_RUN_DEFAULT);
	for (i = 0; i < R.nconns; i++) {
		if (R.conns[i].fd >= 0)
			close(R.conns[i].fd);
		free(R.conns[i].rbuf);
		free(R.conns[i].wbuf);
	}
	for (i = 0; i < R.naors; i++)
		free(R.aors[i].nonce);
	free(R.aors);
	free(R.conns);
	EVP_MD_free(R.md5);
	uv_loop_close(R.loop);
	return 0;
}
