/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives a sofia-sip su_root from the process's libuv loop, on the same thread (see
 * docs/event-loop.md for why this and not a second thread). sofia's epoll port is forced;
 * its epoll fd is watched with a uv_poll_t, and su_root_step() is called a bounded number
 * of times from the poll callback and from a uv_prepare_t, after which a uv_timer_t is
 * armed with the timeout sofia reports. Idle cost: zero wake-ups.
 *
 * Link with libcm_sofia (not part of libcm: api-gateway does not link sofia-sip).
 */
#ifndef CM_SU_UV_H
#define CM_SU_UV_H

#include <sofia-sip/su_wait.h>
#include <uv.h>

struct cm_su_uv;

/*
 * Initialises sofia (su_init, once per process), creates a root on the epoll port and
 * attaches it to loop. *root_out is owned by the returned object. Returns 0 or a negative
 * errno (-ENOENT if the port's epoll fd could not be identified).
 */
int cm_su_uv_create(uv_loop_t *loop, void *root_magic, su_root_t **root_out, struct cm_su_uv **out);

/* Detaches from the loop and destroys the root. Call after every sofia object using the
 * root is destroyed. The uv handles close asynchronously; run the loop once more before
 * uv_loop_close(). Safe on NULL. */
void cm_su_uv_destroy(struct cm_su_uv *s);

/* Routes su_log output (nta, tport, default) into cm_log at debug level. */
void cm_su_uv_redirect_logs(void);

#endif
