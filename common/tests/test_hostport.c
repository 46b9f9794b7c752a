/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of hostport and listen-spec parsing. */
#include <errno.h>
#include <string.h>

#include "cm/hostport.h"
#include "check.h"

static int hp(const char *s, int *port)
{
	struct cm_hostport h;
	int rc = cm_hostport_parse(s, strlen(s), &h);

	if (rc == 0 && port)
		*port = h.port;
	return rc == 0 ? (int)h.kind : rc;
}

int main(void)
{
	struct cm_listen l[CM_LISTEN_MAX];
	char err[128], buf[64];
	int port = 0;

	CHECK(hp("example.com", &port) == CM_HOST_NAME && port == -1);
	CHECK(hp("a-b.example.com.:5060", &port) == CM_HOST_NAME && port == 5060);
	CHECK(hp("127.0.0.1:65535", &port) == CM_HOST_IPV4 && port == 65535);
	CHECK(hp("[2001:db8::1]:80", &port) == CM_HOST_IPV6 && port == 80);
	CHECK(hp("[::ffff:192.0.2.1]", &port) == CM_HOST_IPV6 && port == -1);
	CHECK(hp("127.0.0.1:65536", NULL) == -EINVAL);
	CHECK(hp("127.0.0.1:", NULL) == -EINVAL);
	CHECK(hp("127.0.0.1:8a", NULL) == -EINVAL);
	CHECK(hp("2001:db8::1", NULL) == -EINVAL);
	CHECK(hp("[127.0.0.1]", NULL) == -EINVAL);
	CHECK(hp("-bad.example.com", NULL) == -EINVAL);
	CHECK(hp("bad-.example.com", NULL) == -EINVAL);
	CHECK(hp("a..b", NULL) == -EINVAL);
	CHECK(hp("host.123", NULL) == -EINVAL);
	CHECK(hp("", NULL) == -EINVAL);
	CHECK(hp("[::1]x", NULL) == -EINVAL);

	CHECK(cm_hostport_format(buf, sizeof(buf), "::1", 3, 5060) == 10 &&
	      strcmp(buf, "[::1]:5060") == 0);
	CHECK(cm_hostport_format(buf, 4, "example.com", 11, 1) == -ENOSPC);

	CHECK(cm_listen_parse("udp:127.0.0.1:5060,tcp:[::1]:0", l, CM_LISTEN_MAX, err,
			      sizeof(err)) == 2);
	CHECK(l[0].tp == CM_TP_UDP && strcmp(l[0].host, "127.0.0.1") == 0 && l[0].port == 5060);
	CHECK(l[1].tp == CM_TP_TCP && strcmp(l[1].host, "::1") == 0 && l[1].port == 0);
	CHECK(cm_listen_parse("sctp:127.0.0.1:5060", l, CM_LISTEN_MAX, err, sizeof(err)) ==
		  -EINVAL &&
	      strstr(err, "udp:"));
	CHECK(cm_listen_parse("udp:127.0.0.1", l, CM_LISTEN_MAX, err, sizeof(err)) == -EINVAL);
	CHECK(cm_listen_parse("udp:127.0.0.1:1,", l, CM_LISTEN_MAX, err, sizeof(err)) == -EINVAL);
	CHECK(cm_listen_parse("", l, CM_LISTEN_MAX, err, sizeof(err)) == -EINVAL);
	return check_done();
}
