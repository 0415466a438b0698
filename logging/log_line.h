/* The one form of every line glassnat writes for people: the run's
 * start-up and shutdown lines, warnings, errors and final statistics on
 * stderr (or the Windows service's log file), and the text events:
 *
 *   [2026-12-01T13:29:42.123Z] [WARN] [HOST] message
 *
 * UTC to the millisecond, a level (DEBUG INFO WARN ERROR) and a component
 * (MAIN ENGINE HOST QUEUE CONTROL TRACE LOG NOTIFY SERVICE ...). A
 * message with newlines becomes one line each, every one with the prefix;
 * control characters are shown as \xNN so a line cannot be forged.
 * Started by systemd (stderr is $JOURNAL_STREAM), each line starts with
 * its syslog priority "<N>", which the journal takes and strips.
 *
 * Threads: log_line() may be called from any thread (a mutex keeps lines
 * whole); only the thread that called log_line_mirror() copies its lines
 * into the events writer, whose producer it must be. */
#ifndef GLASSNAT_LOG_LINE_H
#define GLASSNAT_LOG_LINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

/* "[2026-12-01T13:29:42.123Z] [LEVEL] [COMPONENT] " for ts_ns (Unix
 * time, ns) into out (cap bytes, NUL-terminated, cut to fit). Returns
 * its length. */
size_t log_line_prefix(char *out, size_t cap, uint64_t ts_ns,
		       enum log_level lvl, const char *component);

/* "DEBUG", "INFO", "WARN", "ERROR" (INFO for anything else). */
const char *log_level_name(enum log_level lvl);

/* Writes one line (or one a message line) now, stamped with the wall
 * clock, to the current output (stderr unless log_line_set_output said
 * otherwise), flushed. DEBUG lines only after log_line_verbose(true). */
void log_line(enum log_level lvl, const char *component, const char *fmt,
	      ...) __attribute__((format(printf, 3, 4)));

/* Where lines go from now on; NULL: back to stderr. The caller keeps f
 * open while it is the output. */
void log_line_set_output(FILE *f);

/* The current output (stderr by default). */
FILE *log_line_output(void);

/* Shows DEBUG lines (glassnat run -v) or not (the default). */
void log_line_verbose(int on);

/* Copies every line of level min or above that the calling thread writes
 * into w as a `log` event (docs/events.md), until log_line_mirror(NULL).
 * Not when w writes text to stdout: stderr shows those lines on the same
 * terminal already. The calling thread must be w's producer. */
void log_line_mirror(struct log_writer *w, enum log_level min);

/* A write-only stream for code that writes text lines to a FILE * (the
 * live backends' nat_live_opts.log): each line written becomes a
 * log_line() with component; a line starting "warning: " is a WARN,
 * "error: " an ERROR (the prefix dropped), a following "host: " makes the
 * component HOST. Where the platform has no such streams (Windows) it is
 * the current output itself, lines as written. Close with
 * log_line_stream_close(). */
FILE *log_line_stream(const char *component);
void log_line_stream_close(FILE *f);

#endif
