/* The state file: the port forwards added at run time, kept across
 * restarts (docs/control.md). */
#ifndef GLASSNAT_STATE_H
#define GLASSNAT_STATE_H

#include <stddef.h>

#include "config.h"
#include "engine.h"

/* The format:
 * {"version":1,"forwards":[{"name":..,"protocol":..,"external_port":..,
 * "internal_ip":..,"internal_port":..}, ...]} */

/* Writes the runtime forwards of e to path atomically (nat_file_replace:
 * a private temporary file in the same directory, flushed, then put in
 * path's place; the directory is created 0750 when missing; symlinks are
 * never followed). Returns -1 with errbuf. */
int nat_ctl_state_save(const char *path, const struct nat_engine *e,
		       char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Reads path into *out (malloc'd, *n entries, runtime = true). A missing
 * file is no forwards (returns 0). Returns -1 with "PATH: ..." in errbuf
 * for a file that is not a valid state file. */
int nat_ctl_state_load(const char *path, struct nat_forward_cfg **out,
		       size_t *n, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

#endif
