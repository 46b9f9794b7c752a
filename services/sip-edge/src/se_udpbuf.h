/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel socket buffers of sip-edge's UDP SIP sockets (settings udp-rcvbuf, udp-sndbuf): the
 * default receive buffer overflows during short loop stalls at high REGISTER rates.
 */
#ifndef SE_UDPBUF_H
#define SE_UDPBUF_H

#include <sofia-sip/nta.h>

/*
 * Sets SO_RCVBUF/SO_SNDBUF (the FORCE variants when permitted) on every UDP socket of agent's
 * primary transports. Logs what the kernel granted. Returns the number of sockets changed, or a
 * negative errno when the descriptors cannot be listed. Call after the transports exist.
 */
int se_udpbuf_apply(nta_agent_t *agent, long rcvbuf, long sndbuf);

#endif
