/* The control socket: runtime port forwards, flows, stats, tracing and
 * reload over a Unix socket (a named pipe on Windows), one JSON request
 * per line, one JSON response per line (docs/control.md is the contract).
 *
 * Three parts, each with its header: the protocol (protocol.h: parse a
 * request line, execute it, build the response; no I/O), the state file
 * (state.h: runtime forwards kept across restarts) and the server
 * (server.h: one core, a Unix-socket and a named-pipe transport). */
#ifndef GLASSNAT_CONTROL_H
#define GLASSNAT_CONTROL_H

#include "protocol.h"
#include "server.h"
#include "state.h"

#endif
