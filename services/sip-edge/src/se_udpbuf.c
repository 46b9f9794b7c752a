/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel buffers of the UDP SIP sockets. With the default receive buffer (net.core.rmem_default,
 * often 212 kB) a short stall of the loop (a Redis rehash, the core shared with Redis) overflows
 * it and REGISTERs are lost while latency is still low (docs/performance.md). sofia-sip has no
 * accessor for a tport's socket, so this finds sofia's UDP sockets among the process's
 * descriptors by their local address (tport_get_address of each UDP primary). SO_RCVBUFFORCE is
 * tried first (works with CAP_NET_ADMIN, e.g. as root in a container); otherwise SO_RCVBUF,
 * which the kernel caps at net.core.rmem_max (raise it: sysctl -w net.core.rmem_max=8388608).
 */
#include "se_udpbuf.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/tport.h>

#include "cm/log.h"

#define SE_UDPBUF_FDS_MAX 4096 /* descriptors looked at; sofia's sockets come first */

static bool same_addr(const struct sockaddr_storage *a, const su_sockaddr_t *b)
{
	if (a->ss_family != b->su_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		return x->sin_port == b->su_sin.sin_port &&
		       x->sin_addr.s_addr == b->su_sin.sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		return x->sin6_port == b->su_sin6.sin6_port &&
		       memcmp(&x->sin6_addr, &b->su_sin6.sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* True if fd is a UDP socket bound to the address of one of the agent's UDP primaries. */
static bool is_sip_udp(nta_agent_t *agent, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = 0;
	socklen_t tl = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM)
		return false;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	for (tport_t *tp = tport_primaries(nta_agent_tports(agent)); tp; tp = tport_next(tp)) {
		const su_addrinfo_t *ai = tport_get_address(tp);

		if (tport_is_udp(tp) && ai && ai->ai_addr &&
		    same_addr(&ss, (const su_sockaddr_t *)ai->ai_addr))
			return true;
	}
	return false;
}

static int set_buf(int fd, int force, int plain, long bytes, long *got)
{
	int v = (int)bytes;
	socklen_t l = sizeof(v);

	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v)) < 0)
		return -errno;
	v = 0;
	if (getsockopt(fd, SOL_SOCKET, plain, &v, &l) < 0)
		return -errno;
	*got = v / 2; /* Linux reports twice the value it books for payload */
	return 0;
}

int se_udpbuf_apply(nta_agent_t *agent, long rcvbuf, long sndbuf)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0, looked = 0;

	if (!d) {
		cm_log_warn("udp-rcvbuf: cannot list /proc/self/fd: %s", strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)) != NULL && looked++ < SE_UDPBUF_FDS_MAX) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		long r = 0, s = 0;
		int rc;

		if (*end || end == de->d_name || fd == dirfd(d) || !is_sip_udp(agent, (int)fd))
			continue;
		rc = set_buf((int)fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf, &r);
		if (rc == 0)
			rc = set_buf((int)fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf, &s);
		if (rc < 0) {
			cm_log_warn("udp-rcvbuf: setsockopt: %s", strerror(-rc));
			continue;
		}
		if (r < rcvbuf)
			cm_log_warn("udp-rcvbuf: kernel granted %ld of %ld bytes (raise "
				    "net.core.rmem_max, or run with CAP_NET_ADMIN)",
				    r, rcvbuf);
		cm_log_info("udp socket buffers fd=%ld rcvbuf=%ld sndbuf=%ld", fd, r, s);
		n++;
	}
	closedir(d);
	return n;
}
