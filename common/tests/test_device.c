/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of device id classification and the index keys derived from it. */
#include <errno.h>
#include <string.h>

#include "cm/device.h"
#include "check.h"

static const char *key(const char *id)
{
	static char buf[CM_DEVICE_MAX + 32];
	struct cm_device d;

	if (cm_device_parse(id, strlen(id), &d, NULL) < 0)
		return "(invalid)";
	cm_device_key(&d, buf, sizeof(buf));
	return buf;
}

int main(void)
{
	char aor[128];
	const char *why = NULL;
	struct cm_device d;

	CHECK(strcmp(key("7546658000"), "beckon:dev:num:7546658000") == 0);
	CHECK(strcmp(key("+14155550100"), "beckon:dev:num:+14155550100") == 0);
	/* twelve decimal digits stay a number, not a MAC */
	CHECK(strcmp(key("754665800012"), "beckon:dev:num:754665800012") == 0);
	CHECK(strcmp(key("SIP:7546658000@Example.COM:5060;transport=tcp"),
		     "beckon:dev:aor:sip:7546658000@example.com:5060") == 0,
	      "%s", key("SIP:7546658000@Example.COM:5060;transport=tcp"));
	CHECK(strcmp(key("sips:alice@example.com?subject=x"),
		     "beckon:dev:aor:sips:alice@example.com") == 0);
	CHECK(strcmp(key("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
		     "beckon:dev:inst:urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6") == 0);
	CHECK(strcmp(key("URN:uuid:ABC"), "beckon:dev:inst:urn:uuid:ABC") == 0);
	CHECK(strcmp(key("00:11:22:AA:BB:CC"), "beckon:dev:mac:001122aabbcc") == 0);
	CHECK(strcmp(key("00-11-22-aa-bb-cc"), "beckon:dev:mac:001122aabbcc") == 0);
	CHECK(strcmp(key("0011.22aa.bbcc"), "beckon:dev:mac:001122aabbcc") == 0);
	CHECK(strcmp(key("001122AABBCC"), "beckon:dev:mac:001122aabbcc") == 0);
	CHECK(strcmp(key("urn:dev:mac:001122aabbcc"), "beckon:dev:mac:001122aabbcc") == 0);
	CHECK(strcmp(key("urn:dev:mac:001122334455"), "beckon:dev:mac:001122334455") == 0);
	CHECK(strcmp(key("00:11:22:aa:bb-cc"), "(invalid)") == 0);

	CHECK(cm_device_parse("", 0, &d, &why) == -EINVAL && why);
	CHECK(cm_device_parse("a b", 3, &d, &why) == -EINVAL && strstr(why, "spaces"));
	CHECK(cm_device_parse("alice@example.com", 17, &d, &why) == -EINVAL);
	CHECK(cm_device_parse("sip:@example.com", 16, &d, &why) == -EINVAL);
	CHECK(cm_device_parse("sip:alice@bad_host", 18, &d, &why) == -EINVAL);

	CHECK(cm_aor_normalize("sip:bob@EXAMPLE.com;user=phone", 30, aor, sizeof(aor)) == 0 &&
	      strcmp(aor, "sip:bob@example.com") == 0);
	CHECK(cm_aor_normalize("sip:example.com", 15, aor, sizeof(aor)) == 0 &&
	      strcmp(aor, "sip:example.com") == 0);
	CHECK(cm_aor_normalize("sip:bob@example.com", 19, aor, 8) == -ENOSPC);
	CHECK(cm_aor_normalize("tel:+123", 8, aor, sizeof(aor)) == -EINVAL);
	return check_done();
}
