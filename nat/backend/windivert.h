/* The Windows live backend (WinDivert 2.x, live.h), and the WinDivert
 * filter strings it opens its handles with.
 *
 * Hyper-NAT's capture design: one handle at the NETWORK_FORWARD layer
 * takes what the inside hosts send through the host (source in
 * internal_network): SNAT, bypass, drops. One handle at the NETWORK layer
 * takes inbound packets to our external addresses (nat_ip and the snat
 * rules' to_address) on port_range, the forwarded ports (nat_ip only),
 * and the ICMP echo replies and errors that belong to those: replies,
 * DNAT, ICMP errors. Everything else, the host's own traffic included,
 * never leaves the kernel.
 *
 * The filter builders are plain string code and build on every platform
 * (tests/unit/test_windivert_filter.c); nat_live_windivert exists only in
 * the Windows build. docs/windows.md lists the filters and what has not
 * been tested on a live Windows host. */
#ifndef GLASSNAT_WINDIVERT_H
#define GLASSNAT_WINDIVERT_H

#include <stddef.h>

#include "config.h"
#include "engine.h"
#include "live.h"

/* The longest filter string the builders write, NUL included. WinDivert
 * compiles at most 256 filter instructions (WINDIVERT_FILTER_MAXLEN); the
 * builders merge forwarded ports into ranges and stay well below. */
#define NAT_WD_FILTER_MAX 4096

/* Forwarded port ranges per protocol kept apart in the inbound filter;
 * beyond this the filter takes the span from the lowest to the highest
 * forwarded port of the protocol and the engine passes what is not ours
 * (reason to_host, a counted pass, not a drop). */
#define NAT_WD_MAX_RANGES 24

/* Writes the NETWORK_FORWARD layer filter for cfg into buf: IPv4 from
 * internal_network, not from host_internal_ip. Returns 0, or -1 with a
 * message in errbuf when buf is too small. */
int nat_wd_filter_outbound(const struct nat_config *cfg, char *buf,
			   size_t len, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Writes the NETWORK layer filter for cfg into buf: inbound IPv4 to an
 * external address of ours that is a fragment, TCP/UDP to port_range or
 * to a forwarded port, an echo reply with an identifier in port_range, or
 * an ICMP error quoting a packet from port_range or a forwarded port
 * (never an echo request: that is the host's). Same returns. */
int nat_wd_filter_inbound(const struct nat_config *cfg, char *buf, size_t len,
			  char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* What the Windows backend refuses in a config that loads everywhere:
 * a masquerade rule (no out interface to follow on Windows). Returns 0, or
 * -1 with "FILE:LINE: rule 'NAME': ..." in errbuf. */
int nat_wd_check_config(const struct nat_config *cfg, char *errbuf,
			size_t errlen) __attribute__((warn_unused_result));

/* The backend. open() loads WinDivert.dll from the executable's directory
 * (never from the search path) and opens both handles; run() receives,
 * translates and reinjects in batches on the calling thread, which owns
 * the engine. open() and run() fail with a message in errbuf (missing
 * WinDivert.dll or driver, no administrator rights, a filter WinDivert
 * refused: each names the file and the fixes). set_forwards() regenerates
 * both filters and reopens a handle whose filter changed (the new handle
 * opens before the old one closes, so nothing passes undiverted). Windows
 * only. */
extern const struct nat_live_ops nat_live_windivert;

#endif
