/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the contact-me payload codec. Every file in proto/examples/payload/valid
 * must parse and re-encode byte for byte (unknown labels aside); every file in invalid/
 * must be refused with the reason its "# why:" line names.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cm/payload.h"
#include "check.h"

#define DIR_VALID "proto/examples/payload/valid"
#define DIR_INVALID "proto/examples/payload/invalid"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(CM_PAYLOAD_MAX * 2);

	*len = 0;
	if (f && buf)
		*len = fread(buf, 1, CM_PAYLOAD_MAX * 2, f);
	if (f)
		fclose(f);
	return buf;
}

static int for_each(const char *dir, void (*fn)(const char *path))
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	CHECK(d != NULL, "cannot open %s (run from the source root)", dir);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[512];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fn(path);
		n++;
	}
	closedir(d);
	return n;
}

static void valid_case(const char *path)
{
	struct cm_payload p;
	const char *why = NULL;
	char out[CM_PAYLOAD_MAX + 1];
	size_t len;
	char *body = slurp(path, &len);
	int rc = cm_payload_parse(body, len, &p, &why);

	CHECK(rc == 0, "%s: refused: %s", path, why ? why : "?");
	if (rc == 0 && !strstr(path, "unknown-label")) {
		rc = cm_payload_format(&p, out, sizeof(out), &why);
		CHECK(rc == (int)len && memcmp(out, body, len) == 0, "%s: re-encoding differs",
		      path);
	}
	free(body);
}

static void invalid_case(const char *path)
{
	struct cm_payload p;
	const char *why = NULL;
	size_t len;
	char *file = slurp(path, &len), *nl = memchr(file, '\n', len), expect[128];
	size_t hlen;

	CHECK(nl && strncmp(file, "# why: ", 7) == 0, "%s: no '# why:' line", path);
	if (!nl) {
		free(file);
		return;
	}
	hlen = (size_t)(nl - file) - 7;
	snprintf(expect, sizeof(expect), "%.*s", (int)hlen, file + 7);
	CHECK(cm_payload_parse(nl + 1, len - (size_t)(nl + 1 - file), &p, &why) == -EINVAL,
	      "%s: accepted", path);
	CHECK(why && strstr(why, expect), "%s: reason '%s' does not contain '%s'", path,
	      why ? why : "(none)", expect);
	free(file);
}

static void test_encode_rules(void)
{
	struct cm_payload p = {0};
	const char *why;
	char small[16], buf[CM_PAYLOAD_MAX + 1];

	CHECK(cm_payload_format(&p, buf, sizeof(buf), &why) == -EINVAL, "no request-id");
	p.request_id = cm_str_c("abc");
	p.protocol = cm_str_c("gopher");
	CHECK(cm_payload_format(&p, buf, sizeof(buf), &why) == -EINVAL && strstr(why, "http"));
	p.protocol = cm_str_c("http");
	p.server = cm_str_c("host.example.com:8080");
	CHECK(cm_payload_format(&p, small, sizeof(small), &why) == -ENOSPC);
	CHECK(cm_payload_format(&p, buf, sizeof(buf), &why) > 0);
	CHECK(strcmp(buf, "request-id=abc\r\nserver=host.example.com:8080\r\nprotocol=http\r\n") ==
		  0,
	      "got %s", buf);
	/* a value with CR LF would smuggle a line: refused by every label's grammar */
	p.path = cm_str_c("/a\r\nserver=evil.example.com");
	CHECK(cm_payload_format(&p, buf, sizeof(buf), &why) == -EINVAL);
}

static void test_not_nul_terminated(void)
{
	/* the parser reads (pointer, length) only: bytes past len must not matter */
	const char text[] = "request-id=abc\r\nGARBAGE";
	struct cm_payload p;

	CHECK(cm_payload_parse(text, 16, &p, NULL) == 0);
	CHECK(p.request_id.len == 3 && memcmp(p.request_id.p, "abc", 3) == 0);
}

static void test_records(void)
{
	const char two[] = "request-id=a\r\nserver=x.example.com\r\n\r\nrequest-id=b\r\n";
	const char bad_sep[] = "request-id=a\r\n\r\n";
	const char empty_rec[] = "\r\nrequest-id=a\r\n";
	struct cm_payload p;
	const char *why = NULL;
	size_t pos = 0;

	CHECK(cm_payload_next(two, sizeof(two) - 1, &pos, &p, &why) == 1 && p.request_id.len == 1 &&
		  p.request_id.p[0] == 'a' && p.server.len == 13,
	      "%s", why ? why : "");
	CHECK(cm_payload_next(two, sizeof(two) - 1, &pos, &p, &why) == 1 &&
	      p.request_id.p[0] == 'b');
	CHECK(cm_payload_next(two, sizeof(two) - 1, &pos, &p, &why) == 0);
	pos = 0;
	CHECK(cm_payload_next("", 0, &pos, &p, &why) == 0, "empty body: none pending");
	pos = 0;
	CHECK(cm_payload_next(bad_sep, sizeof(bad_sep) - 1, &pos, &p, &why) == -EINVAL);
	pos = 0;
	CHECK(cm_payload_next(empty_rec, sizeof(empty_rec) - 1, &pos, &p, &why) == -EINVAL);
}

/* valid-until: one RFC 3339 date-time, written last, and the room gw_request_valid_until
 * reserves is exactly one such line. */
static void test_valid_until(void)
{
	const char body[] = "request-id=a\r\nvalid-until=2026-11-26T10:00:32Z\r\n";
	struct cm_payload p = {0};
	const char *why = NULL;
	char buf[CM_PAYLOAD_MAX + 1];
	int64_t ms;

	CHECK(cm_payload_parse(body, sizeof(body) - 1, &p, &why) == 0, "%s", why ? why : "");
	CHECK(p.valid_until.len == 20 && memcmp(p.valid_until.p, "2026-11-26T10:00:32Z", 20) == 0);
	CHECK(cm_payload_date_time(p.valid_until.p, p.valid_until.len, &ms) == 0 &&
	      ms == 1795687232000LL);
	CHECK(cm_payload_date_time(NULL, 0, &ms) == -EINVAL);
	CHECK(cm_payload_date_time("2026-11-26T10:00:32", 19, &ms) == -EINVAL);
	CHECK(strcmp(cm_payload_label_name(CM_PL_VALID_UNTIL), "valid-until") == 0);
	CHECK(cm_payload_check(CM_PL_VALID_UNTIL, "2026-11-26T10:00:32+01:00", 25, &why) == 0);
	CHECK(cm_payload_check(CM_PL_VALID_UNTIL, "soon", 4, &why) == -EINVAL &&
	      strstr(why, "RFC 3339"));
	memset(&p, 0, sizeof(p));
	p.request_id = cm_str_c("a");
	p.valid_until = cm_str_c("2026-11-26T10:00:32Z");
	p.time_slot = cm_str_c("2026-11-26T10:00:00Z/2026-11-26T10:30:00Z");
	CHECK(cm_payload_format(&p, buf, sizeof(buf), &why) > 0 &&
		  strcmp(buf, "request-id=a\r\ntime-slot=2026-11-26T10:00:00Z/2026-11-26T10:30:00Z"
			      "\r\nvalid-until=2026-11-26T10:00:32Z\r\n") == 0,
	      "got %s", buf);
	CHECK(CM_PAYLOAD_VALID_UNTIL_LINE == strlen("valid-until=2026-11-26T10:00:32.000Z\r\n"));
}

int main(void)
{
	test_records();
	test_valid_until();
	CHECK(for_each(DIR_VALID, valid_case) >= 4, "too few valid examples");
	CHECK(for_each(DIR_INVALID, invalid_case) >= 10, "too few invalid examples");
	test_encode_rules();
	test_not_nul_terminated();
	return check_done();
}
