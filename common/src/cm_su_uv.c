/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sofia-sip's su_root driven by libuv on one thread (docs/event-loop.md). The Debian build
 * of sofia-sip does not install su_port.h, so no custom port is possible; instead we force
 * the epoll port and watch its epoll fd. The fd is not exposed by the API: we find it by
 * comparing this process's eventpoll descriptors before and after su_root_create().
 *
 * su_root_step(root, 0) returns 0 both after handling events and when the next timer is
 * less than 1 ms away, so an unbounded loop around it busy-spins: we step a bounded number
 * of times and let the timer or the poll bring us back.
 */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>

#include "cm/log.h"
#include "cm/su_uv.h"

#define STEPS_PER_WAKEUP 32
#define FD_SCAN_MAX 64

extern su_log_t nta_log[];
extern su_log_t tport_log[];
extern su_log_t nua_log[];

struct cm_su_uv {
	su_root_t *root;
	uv_poll_t poll;
	uv_prepare_t prepare;
	uv_timer_t timer;
	int open_handles;
	bool stepping;
};

/* Lists the fds of this process that are epoll instances. Returns the count or -errno. */
static int epoll_fds(int *out, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char path[300], target[64];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strcmp(target, "anon_inode:[eventpoll]") == 0 && n < max)
			out[n++] = (int)strtol(e->d_name, NULL, 10);
	}
	closedir(d);
	return n;
}

static int find_new_fd(const int *before, int nb, const int *after, int na)
{
	int found = -1;

	for (int i = 0; i < na; i++) {
		bool seen = false;

		for (int j = 0; j < nb; j++)
			seen = seen || before[j] == after[i];
		if (seen)
			continue;
		if (found >= 0)
			return -EEXIST; /* several new epoll fds: cannot tell which is sofia's */
		found = after[i];
	}
	return found >= 0 ? found : -ENOENT;
}

static void on_timer(uv_timer_t *t);

static void step(struct cm_su_uv *s)
{
	su_duration_t t = 0;

	if (s->stepping)
		return;
	s->stepping = true;
	for (int i = 0; i < STEPS_PER_WAKEUP && t == 0; i++)
		t = su_root_step(s->root, 0);
	s->stepping = false;
	if (t == SU_WAIT_FOREVER)
		uv_timer_stop(&s->timer);
	else
		uv_timer_start(&s->timer, on_timer, t < 1 ? 1 : (uint64_t)t, 0);
}

static void on_timer(uv_timer_t *t)
{
	step(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	step(p->data);
}

static void on_prepare(uv_prepare_t *p)
{
	step(p->data);
}

static void on_closed(uv_handle_t *h)
{
	struct cm_su_uv *s = h->data;

	if (--s->open_handles == 0) {
		su_root_destroy(s->root);
		free(s);
	}
}

int cm_su_uv_create(uv_loop_t *loop, void *root_magic, su_root_t **root_out, struct cm_su_uv **out)
{
	static bool initialised;
	int before[FD_SCAN_MAX], after[FD_SCAN_MAX], nb, na, fd;
	struct cm_su_uv *s;

	if (!initialised) {
		if (su_init() != 0)
			return -EIO;
		su_port_prefer(su_epoll_port_create, su_epoll_clone_start);
		initialised = true;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	nb = epoll_fds(before, FD_SCAN_MAX);
	s->root = su_root_create(root_magic);
	na = epoll_fds(after, FD_SCAN_MAX);
	if (!s->root) {
		free(s);
		return -ENOMEM;
	}
	/* Without this, nua_create() starts a thread of its own for the stack. */
	su_root_threading(s->root, 0);
	fd = nb < 0 || na < 0 ? -EIO : find_new_fd(before, nb, after, na);
	if (fd < 0 || uv_poll_init(loop, &s->poll, fd) < 0) {
		cm_log_error("sofia: cannot identify the su_root epoll fd (%d)", fd);
		su_root_destroy(s->root);
		free(s);
		return fd < 0 ? fd : -EIO;
	}
	uv_prepare_init(loop, &s->prepare);
	uv_timer_init(loop, &s->timer);
	s->poll.data = s->prepare.data = s->timer.data = s;
	s->open_handles = 3;
	uv_poll_start(&s->poll, UV_READABLE, on_poll);
	/* Timers that sofia objects set from libuv callbacks are only seen by stepping. */
	uv_prepare_start(&s->prepare, on_prepare);
	*root_out = s->root;
	*out = s;
	return 0;
}

void cm_su_uv_destroy(struct cm_su_uv *s)
{
	if (!s)
		return;
	uv_poll_stop(&s->poll);
	uv_prepare_stop(&s->prepare);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->poll, on_closed);
	uv_close((uv_handle_t *)&s->prepare, on_closed);
	uv_close((uv_handle_t *)&s->timer, on_closed);
}

static void su_logger(void *stream, char const *fmt, va_list ap)
{
	char buf[1024];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n)
		cm_log_debug("sofia: %s", buf);
}

void cm_su_uv_redirect_logs(void)
{
	su_log_redirect(su_log_default, su_logger, NULL);
	su_log_redirect(nta_log, su_logger, NULL);
	su_log_redirect(tport_log, su_logger, NULL);
	su_log_redirect(nua_log, su_logger, NULL);
}
