/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SIP side of contact-agent: a sofia-sip nua user agent driven from the libuv loop
 * (cm_su_uv) that registers the AOR with the contact-me opt-in (Accept entries, or explicit
 * SUBSCRIBEs after registering), keeps the registration and the NAT binding alive, sends the
 * hello, answers application-server-contact-me NOTIFYs and hands each new request to the
 * callback pool, at once or when its time-slot opens.
 *
 * Ownership: struct ca_agent is the caller's (embedded or static); ca_agent_start fills it,
 * ca_agent_stop tears it down asynchronously and calls done once everything is released.
 */
#ifndef CA_AGENT_H
#define CA_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "ca_auth.h"
#include "ca_callback.h"
#include "ca_dedup.h"
#include "ca_hello.h"
#include "ca_packages.h"
#include "ca_settings.h"
#include "ca_slot.h"
#include "ca_trust.h"

#ifndef CA_VERSION
#define CA_VERSION "0"
#endif

struct cm_su_uv;
struct su_root_s;
struct nua_s;
struct nua_handle_s;

struct ca_agent;
/* clean is false when sofia did not finish its shutdown in time (objects were leaked). */
typedef void ca_agent_done_cb(struct ca_agent *a, bool clean);

struct ca_agent {
	uv_loop_t *loop;
	const struct ca_settings *set; /* borrowed for the agent's life */
	struct ca_trust trust;
	struct ca_auth auth; /* digest credentials and NOTIFY challenges */
	struct ca_callbacks callbacks;
	const char *device; /* instance-id when set, else the aor */
	struct cm_su_uv *su;
	struct su_root_s *root;
	struct nua_s *nua;
	struct nua_handle_s *reg;
	const char *registrar; /* set->registrar or set->backup_registrar: the one in use */
	/* With backup-registrar: an OPTIONS to the registrar in use every keepalive seconds
	 * (nua's own keepalive reports no failure); 408 or 5xx switches registrars. */
	uv_timer_t probe_timer;
	bool probe_timer_init;
	bool probing; /* an OPTIONS probe awaits its answer */
	struct nua_handle_s *probe;
	uv_timer_t timer; /* register retry, later shutdown guard / finish */
	bool timer_init;
	bool stopping;
	bool leaked; /* sofia did not finish its shutdown in time */
	ca_agent_done_cb *done;
	char expires[16];
	char sub_expires[16];
	char sub_contact[600]; /* Contact of our SUBSCRIBEs; empty: nua's own */

	struct ca_packages packages;
	struct ca_dedup dedup;	    /* requests seen in the last 10 minutes */
	struct ca_slot_queue slots; /* callbacks waiting for their time-slot */
	struct ca_hello hello;	    /* unused (url NULL) without hello-url */
	bool registered_once;	    /* a REGISTER has succeeded */
	bool reg_failed;	    /* the last REGISTER failed */
	/* Explicit subscription mode: one handle (dialog) per package, NULL when there is no
	 * subscription; sub_timer re-subscribes after a failure or termination. */
	struct nua_handle_s *sub[CA_PACKAGES_MAX];
	uv_timer_t sub_timer;
	bool sub_timer_init;
	unsigned unsubscribing; /* un-SUBSCRIBEs awaiting their answer at shutdown */
};

/*
 * Creates the UA on loop and sends the first REGISTER. set is borrowed and must outlive the
 * agent. Returns 0, or a negative errno with a message in err; on failure call ca_agent_stop
 * anyway (it copes with a half-built agent). Callbacks into sofia or curl never call the
 * caller, except done from ca_agent_stop.
 */
int ca_agent_start(struct ca_agent *a, uv_loop_t *loop, const struct ca_settings *set, char *err,
		   size_t errlen);

/*
 * Unregisters (nua_shutdown), destroys the UA and closes its handles; calls done from the
 * loop when finished (never from inside this call). Callback jobs still in the thread pool
 * finish on their own; run the loop until it has no more work.
 */
void ca_agent_stop(struct ca_agent *a, ca_agent_done_cb *done);

#endif
