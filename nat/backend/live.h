/* The one interface every live backend implements (NFQUEUE on Linux,
 * WinDivert on Windows): a small ops table, like a kernel driver's
 * net_device_ops. The caller holds the handle open() returns and reaches
 * the backend only through these calls; nat_plat_live_backend()
 * (platform.h) says which backend this build runs.
 *
 * A run: open() (packets are steered to us from here on), run() until a
 * stop request, counters(), close() (steering removed). One run per
 * process; every call but request_stop() on the thread that calls
 * run().
 *
 * "Engine thread" below: a backend may serve packets on several threads
 * (NFQUEUE: one worker per queue), but it calls the engine and every
 * callback here with one lock held, so they run one at a time, each
 * seeing what the previous one did: as if on one thread, though not
 * always the same one (no thread-local state, no thread ids). The
 * observers' single-producer queues rely on that. */
#ifndef GLASSNAT_LIVE_H
#define GLASSNAT_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "engine.h"

struct nat_live; /* one backend's run; only the backend sees inside */

struct nat_live_opts {
	/* Called about every 100 ms on the engine thread (any worker, with
	 * the engine lock), busy or idle: the app uses it for trace.loss,
	 * SIGHUP, the control socket. */
	void (*on_tick)(void *ctx, uint64_t now_ns);
	/* Called once by run() on the engine thread before the first
	 * packet, with the steering in place (the app starts the control
	 * socket here, so a second glassnat fails on the backend first).
	 * -1 ends the run with the message in errbuf. May be NULL. */
	int (*on_start)(void *ctx, char *errbuf, size_t errlen);
	/* Asked once after on_start: a descriptor (an eventfd) the loop
	 * also waits on when idle, -1 for none. When it is readable the
	 * loop reads it and calls on_wake; on_wake also runs after every
	 * batch (of any worker), so a control request waits for neither a
	 * tick nor a packet. on_wake must be cheap with nothing to do.
	 * Engine thread (with the engine lock).
	 * Either may be NULL (Windows: the tick alone). */
	int (*wake_fd)(void *ctx);
	void (*on_wake)(void *ctx);
	void *ctx;
	bool verbose; /* the steering installed, echoed to log */
	FILE *log;    /* text lines: startup facts and warnings; may be NULL */
};

/* The most counters a backend reports (NFQUEUE: 12 and one per queue). */
enum { NAT_LIVE_COUNTERS_MAX = 32 };

enum nat_live_counter_flags {
	NAT_LIVE_C_LOSS = 1u << 0,   /* non-zero: packets were lost (a WARN) */
	NAT_LIVE_C_QUALIF = 1u << 1, /* printed "(label value)" after the
				      * counter before it, not as "label: value" */
};

/* One counter of a backend, for the final statistics and `stats`. */
struct nat_live_counter {
	const char *name;  /* stable key ("enobufs", "verdict_errors") */
	const char *label; /* the final statistics' words ("ENOBUFS") */
	uint64_t value;
	unsigned line;	/* counters with the same line print together */
	unsigned flags; /* enum nat_live_counter_flags */
};

struct nat_live_ops {
	const char *name; /* "nfqueue", "windivert" */

	/* Starts steering packets to the engine e (created from cfg, hooks
	 * set) as cfg says; o is copied. Returns the handle, or NULL with a
	 * message in errbuf (nothing is left installed then). */
	struct nat_live *(*open)(struct nat_engine *e,
				 const struct nat_config *cfg,
				 const struct nat_live_opts *o, char *errbuf,
				 size_t errlen);

	/* Calls o->on_start, then receives, translates and sends back in
	 * batches until request_stop(). Returns 0 after a stop, -1 with a
	 * message in errbuf. */
	int (*run)(struct nat_live *l, char *errbuf, size_t errlen);

	/* Asks run() to return after the batch in hand. Async-signal-safe,
	 * any thread (a signal handler, a console control handler). */
	void (*request_stop)(struct nat_live *l);

	/* Steers the forwards fw[0..n) in place of cfg's (cfg: the running
	 * config, after a reload) once the engine's forwards changed; the
	 * change is atomic. Engine thread, from on_tick or on_start. Returns
	 * 0, or -1 with errbuf; the old steering then stays. */
	int (*set_forwards)(struct nat_live *l, const struct nat_config *cfg,
			    const struct nat_forward_cfg *fw, size_t n,
			    char *errbuf, size_t errlen);

	/* Writes this backend's counters, at most max, into out and returns
	 * how many; l NULL (open failed): the same counters, all zero.
	 * Engine thread (from a callback) or after run() returned. */
	size_t (*counters)(struct nat_live *l, struct nat_live_counter *out,
			   size_t max);

	/* Removes the steering, releases everything, frees l. NULL is a
	 * no-op. */
	void (*close)(struct nat_live *l);

	/* `glassnat uninstall`: with no run of cfg going, removes what runs
	 * leave installed (the closed steering of a clean stop, everything
	 * of a crashed run) and puts back the host settings a crashed run
	 * changed; one line on log per thing done. Returns 0, -1 with
	 * errbuf (a run is going: nothing touched). NULL: nothing to do. */
	int (*uninstall)(const struct nat_config *cfg, FILE *log,
			 char *errbuf, size_t errlen);
};

/* For a backend's counters(): copies list[i] with values[i] into out, at
 * most max of the n; returns how many. */
size_t nat_live_fill_counters(const struct nat_live_counter *list,
			      const uint64_t *values, size_t n,
			      struct nat_live_counter *out, size_t max);

#endif
