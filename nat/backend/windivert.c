/* The Windows live backend (see windivert.h): two WinDivert handles, one
 * engine thread, batched receive and reinjection.
 *
 * WinDivert.dll is loaded at run time from the executable's directory, so
 * glassnat.exe starts (replay, check, natdump) on machines without it and
 * says exactly what is missing when `run` needs it. The declarations below
 * are written from WinDivert 2.x's published API documentation
 * (https://reqrypt.org/windivert-doc.html); nothing links against it. */
#ifdef _WIN32

#include "windivert.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "hostcfg_win.h"
#include "log_line.h"
#include "platform.h"
#include "portres.h"

/* Win32 error codes WinDivertOpen documents, absent from older headers. */
#ifndef ERROR_INVALID_IMAGE_HASH
#define ERROR_INVALID_IMAGE_HASH 577L
#endif
#ifndef ERROR_DRIVER_FAILED_PRIOR_UNLOAD
#define ERROR_DRIVER_FAILED_PRIOR_UNLOAD 654L
#endif

/* ---- WinDivert 2.x API, as documented ------------------------------- */

enum wd_layer {
	WD_LAYER_NETWORK = 0,
	WD_LAYER_NETWORK_FORWARD = 1,
};

enum wd_param {
	WD_PARAM_QUEUE_LENGTH = 0,
	WD_PARAM_QUEUE_TIME = 1,
	WD_PARAM_QUEUE_SIZE = 2,
	WD_PARAM_VERSION_MAJOR = 3,
	WD_PARAM_VERSION_MINOR = 4,
};

enum { WD_SHUTDOWN_BOTH = 3 };

/* WINDIVERT_ADDRESS: 80 bytes. The flag word's bits, from the low end:
 * Layer (8), Event (8), Sniffed, Outbound, Loopback, Impostor, IPv6,
 * IPChecksum, TCPChecksum, UDPChecksum. Decoded with masks, not C
 * bit-fields, so the layout is explicit. */
struct wd_address {
	int64_t timestamp;
	uint32_t flags;
	uint32_t reserved2;
	union {
		struct {
			uint32_t if_idx, sub_if_idx;
		} network;
		uint8_t reserved3[64];
	} u;
};
_Static_assert(sizeof(struct wd_address) == 80, "WINDIVERT_ADDRESS size");

#define WD_F_OUTBOUND (1u << 17)
#define WD_F_IPV6 (1u << 20)
#define WD_F_CSUM_OK_ALL ((1u << 21) | (1u << 22) | (1u << 23))

#define WD_BATCH_MAX 255 /* WINDIVERT_BATCH_MAX */
#define WD_MTU_MAX (40 + 0xffff)
#define WD_PRIORITY 0
#define WD_QUEUE_LENGTH 8192
#define WD_QUEUE_TIME_MS 2000
#define WD_QUEUE_SIZE (32u << 20)

typedef HANDLE(WINAPI *wd_open_fn)(const char *filter, int layer,
				   int16_t priority, uint64_t flags);
typedef BOOL(WINAPI *wd_recv_ex_fn)(HANDLE h, void *pkt, UINT pkt_len,
				    UINT *recv_len, uint64_t flags,
				    struct wd_address *addr, UINT *addr_len,
				    LPOVERLAPPED ov);
typedef BOOL(WINAPI *wd_send_ex_fn)(HANDLE h, const void *pkt, UINT pkt_len,
				    UINT *send_len, uint64_t flags,
				    const struct wd_address *addr,
				    UINT addr_len, LPOVERLAPPED ov);
typedef BOOL(WINAPI *wd_shutdown_fn)(HANDLE h, int how);
typedef BOOL(WINAPI *wd_close_fn)(HANDLE h);
typedef BOOL(WINAPI *wd_set_param_fn)(HANDLE h, int param, uint64_t value);
typedef BOOL(WINAPI *wd_get_param_fn)(HANDLE h, int param, uint64_t *value);
typedef BOOL(WINAPI *wd_calc_checksums_fn)(void *pkt, UINT pkt_len,
					   struct wd_address *addr,
					   uint64_t flags);
typedef BOOL(WINAPI *wd_compile_filter_fn)(const char *filter, int layer,
					   char *object, UINT obj_len,
					   const char **err_str,
					   UINT *err_pos);

struct wd_api {
	HMODULE dll;
	wd_open_fn open;
	wd_recv_ex_fn recv_ex;
	wd_send_ex_fn send_ex;
	wd_shutdown_fn shutdown;
	wd_close_fn close;
	wd_set_param_fn set_param;
	wd_get_param_fn get_param;
	wd_calc_checksums_fn calc_checksums;
	wd_compile_filter_fn compile_filter;
};

/* The fixes of Hyper-NAT's troubleshooting section, in the order to try. */
#define WD_FIXES                                                             \
	"Fixes: run glassnat as administrator; put WinDivert.dll and "          \
	"WinDivert64.sys (WinDivert 2.2, reqrypt.org/windivert.html) beside "   \
	"glassnat.exe; check that Windows Defender or an antivirus does not "   \
	"block them. See docs/windows.md"

static void win_error(DWORD code, char *buf, size_t len)
{
	DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
					 FORMAT_MESSAGE_IGNORE_INSERTS,
				 NULL, code, 0, buf, (DWORD)len, NULL);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '.'))
		buf[--n] = '\0';
	if (n == 0)
		snprintf(buf, len, "Windows error %lu", (unsigned long)code);
}

static int wd_load(struct wd_api *api, char *errbuf, size_t errlen)
{
	char dir[MAX_PATH], path[MAX_PATH + 32], why[256];

	memset(api, 0, sizeof(*api));
	if (nat_plat_exe_dir(dir, sizeof(dir)) != 0) {
		snprintf(errbuf, errlen,
			 "cannot find the directory of glassnat.exe to load "
			 "WinDivert.dll from");
		return -1;
	}
	snprintf(path, sizeof(path), "%s\\WinDivert.dll", dir);
	/* A full path: never WinDivert.dll from the current directory or
	 * PATH, which another user may control. */
	api->dll = LoadLibraryExA(path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
	if (!api->dll) {
		DWORD code = GetLastError();
		win_error(code, why, sizeof(why));
		snprintf(errbuf, errlen,
			 "cannot load %s: %s (error %lu). " WD_FIXES,
			 path, why, (unsigned long)code);
		return -1;
	}
#define WD_SYM(field, name)                                                  \
	do {                                                                 \
		FARPROC fp = GetProcAddress(api->dll, name);                 \
		if (!fp) {                                                   \
			snprintf(errbuf, errlen,                             \
				 "%s has no %s: not WinDivert 2.x. "         \
				 WD_FIXES,                                    \
				 path, name);                                \
			FreeLibrary(api->dll);                               \
			api->dll = NULL;                                     \
			return -1;                                           \
		}                                                            \
		memcpy(&api->field, &fp, sizeof(fp));                        \
	} while (0)
	WD_SYM(open, "WinDivertOpen");
	WD_SYM(recv_ex, "WinDivertRecvEx");
	WD_SYM(send_ex, "WinDivertSendEx");
	WD_SYM(shutdown, "WinDivertShutdown");
	WD_SYM(close, "WinDivertClose");
	WD_SYM(set_param, "WinDivertSetParam");
	WD_SYM(get_param, "WinDivertGetParam");
	WD_SYM(calc_checksums, "WinDivertHelperCalcChecksums");
	WD_SYM(compile_filter, "WinDivertHelperCompileFilter");
#undef WD_SYM
	return 0;
}

/* What the handles saw; counters() reports them. */
struct wd_stats {
	uint64_t packets;	 /* packets received */
	uint64_t batches;	 /* receives that returned packets */
	uint64_t max_batch;	 /* most packets in one batch */
	uint64_t csum_full;	 /* checksums completed in full (offload) */
	uint64_t truncated;	 /* a batch's bytes ended mid-packet */
	uint64_t verdict_errors; /* reinjections that failed */
};

/* ---- handles --------------------------------------------------------- */

/* One direction: a handle, its receive buffers and its overlapped read. */
struct wd_side {
	const char *name; /* "outbound" / "inbound" */
	int layer;
	enum nat_dir dir;
	HANDLE h;
	OVERLAPPED ov;
	HANDLE event;
	bool pending;
	UINT addr_len;
	char filter[NAT_WD_FILTER_MAX];
	uint8_t *buf; /* WD_BATCH_MAX * WD_MTU_MAX */
	struct wd_address addr[WD_BATCH_MAX];
};

/* WinDivert's own compiler on filter, at s's layer: a refusal names the
 * position and WinDivert's reason. */
static int wd_compile(const struct wd_api *api, const struct wd_side *s,
		      const char *filter, char *errbuf, size_t errlen)
{
	const char *ferr = NULL;
	UINT fpos = 0;

	if (api->compile_filter(filter, s->layer, NULL, 0, &ferr, &fpos))
		return 0;
	snprintf(errbuf, errlen,
		 "WinDivert refused the %s filter at character %u: %s "
		 "(filter: %s)",
		 s->name, fpos, ferr ? ferr : "?", filter);
	return -1;
}

static int wd_open_side(const struct wd_api *api, struct wd_side *s,
			const char *filter, char *errbuf, size_t errlen)
{
	char why[256];
	HANDLE h;

	if (wd_compile(api, s, filter, errbuf, errlen) != 0)
		return -1;
	h = api->open(filter, s->layer, WD_PRIORITY, 0);
	if (h == INVALID_HANDLE_VALUE) {
		DWORD code = GetLastError();
		const char *hint = "";

		win_error(code, why, sizeof(why));
		switch (code) {
		case ERROR_FILE_NOT_FOUND:
			hint = ": WinDivert64.sys is not beside WinDivert.dll";
			break;
		case ERROR_ACCESS_DENIED:
			hint = ": glassnat is not running as administrator";
			break;
		case ERROR_INVALID_IMAGE_HASH:
			hint = ": the driver's signature was refused (Secure "
			       "Boot, or an old WinDivert64.sys)";
			break;
		case ERROR_DRIVER_BLOCKED:
			hint = ": the driver is blocked (antivirus, or a "
			       "driver block list)";
			break;
		case ERROR_SERVICE_DOES_NOT_EXIST:
		case ERROR_DRIVER_FAILED_PRIOR_UNLOAD:
			hint = ": the WinDivert driver service is missing or "
			       "half-unloaded (reboot, then retry)";
			break;
		default:
			break;
		}
		snprintf(errbuf, errlen,
			 "cannot open the %s WinDivert handle: %s (error "
			 "%lu)%s%s. " WD_FIXES,
			 s->name, why, (unsigned long)code, hint,
			 nat_plat_is_admin() ? "" : " (not administrator)");
		return -1;
	}
	api->set_param(h, WD_PARAM_QUEUE_LENGTH, WD_QUEUE_LENGTH);
	api->set_param(h, WD_PARAM_QUEUE_TIME, WD_QUEUE_TIME_MS);
	api->set_param(h, WD_PARAM_QUEUE_SIZE, WD_QUEUE_SIZE);
	s->h = h;
	s->pending = false;
	snprintf(s->filter, sizeof(s->filter), "%s", filter);
	return 0;
}

static void wd_close_side(const struct wd_api *api, struct wd_side *s)
{
	if (!s->h)
		return;
	api->shutdown(s->h, WD_SHUTDOWN_BOTH);
	if (s->pending) {
		DWORD n;
		CancelIoEx(s->h, &s->ov);
		GetOverlappedResult(s->h, &s->ov, &n, TRUE);
		s->pending = false;
	}
	api->close(s->h);
	s->h = NULL;
}

/* Starts an overlapped batch read. Returns 1 when data is already there,
 * 0 when pending, -1 on error. */
static int wd_post_recv(const struct wd_api *api, struct wd_side *s,
			DWORD *got)
{
	UINT n = 0;

	memset(&s->ov, 0, sizeof(s->ov));
	s->ov.hEvent = s->event;
	ResetEvent(s->event);
	s->addr_len = sizeof(s->addr);
	if (api->recv_ex(s->h, s->buf, WD_BATCH_MAX * WD_MTU_MAX, &n, 0,
			 s->addr, &s->addr_len, &s->ov)) {
		*got = n;
		return 1;
	}
	if (GetLastError() == ERROR_IO_PENDING) {
		s->pending = true;
		return 0;
	}
	return -1;
}

/* Length of the IP packet at p (IPv4 total length, IPv6 40 + payload);
 * 0 when it does not fit in left. */
static size_t ip_len(const uint8_t *p, size_t left)
{
	size_t n;

	if (left < 20)
		return 0;
	if ((p[0] >> 4) == 4)
		n = ((size_t)p[2] << 8) | p[3];
	else if ((p[0] >> 4) == 6 && left >= 40)
		n = 40 + (((size_t)p[4] << 8) | p[5]);
	else
		return 0;
	return n >= 20 && n <= left ? n : 0;
}

static uint64_t now_ns(void)
{
	FILETIME ft;
	uint64_t t;

	GetSystemTimePreciseAsFileTime(&ft);
	t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
	/* 100 ns since 1601 -> ns since 1970 */
	return (t - 116444736000000000ull) * 100u;
}

/* Translates one received batch and reinjects what is not dropped. */
static void wd_batch(const struct wd_api *api, struct nat_engine *e,
		     struct wd_side *s, size_t bytes, struct wd_stats *st)
{
	static uint8_t *pkts[WD_BATCH_MAX];
	static size_t lens[WD_BATCH_MAX];
	static struct nat_meta metas[WD_BATCH_MAX];
	static struct nat_result res[WD_BATCH_MAX];
	size_t n_addr = s->addr_len / sizeof(struct wd_address), n = 0;
	size_t off = 0;
	uint64_t ts = now_ns();

	while (n < n_addr && off < bytes) {
		size_t l = ip_len(s->buf + off, bytes - off);
		if (l == 0) {
			st->truncated++;
			break;
		}
		pkts[n] = s->buf + off;
		lens[n] = l;
		metas[n] = (struct nat_meta){ .dir = s->dir, .ts_ns = ts };
		/* A packet from an inside host to our own address arrives on
		 * the inbound handle: hairpin, the engine translates it out
		 * and then in. */
		if (s->dir == NAT_DIR_IN && (s->addr[n].flags & WD_F_IPV6) == 0)
			metas[n].dir = NAT_DIR_UNKNOWN;
		off += l;
		n++;
	}
	if (n == 0)
		return;
	st->packets += n;
	st->batches++;
	if (n > st->max_batch)
		st->max_batch = n;
	nat_process_batch(e, pkts, lens, metas, res, n);
	for (size_t i = 0; i < n; i++) {
		UINT sent = 0;

		/* A held fragment would leave through the fragment sink;
		 * this backend sets none, so the engine never holds one. */
		if (res[i].verdict == NAT_V_DROP ||
		    res[i].verdict == NAT_V_HELD)
			continue;
		/* The engine fixes checksums incrementally; a packet whose
		 * checksums were left to the NIC (offload) is completed here
		 * in full, as the driver would not. */
		if (res[i].verdict == NAT_V_NAT &&
		    (s->addr[i].flags & WD_F_CSUM_OK_ALL) != WD_F_CSUM_OK_ALL) {
			api->calc_checksums(pkts[i], (UINT)lens[i], &s->addr[i],
					    0);
			st->csum_full++;
		}
		if (!api->send_ex(s->h, pkts[i], (UINT)lens[i], &sent, 0,
				  &s->addr[i], sizeof(s->addr[i]), NULL))
			st->verdict_errors++;
	}
}

/* ---- the loop -------------------------------------------------------- */

static int wd_filters(const struct nat_config *cfg, char *out, char *in,
		      char *errbuf, size_t errlen)
{
	if (nat_wd_filter_outbound(cfg, out, NAT_WD_FILTER_MAX, errbuf,
				   errlen) != 0)
		return -1;
	return nat_wd_filter_inbound(cfg, in, NAT_WD_FILTER_MAX, errbuf,
				     errlen);
}

/* Finishes a side's pending read: cancelled, or translated if it
 * completed meanwhile. */
static void wd_settle(const struct wd_api *api, struct nat_engine *e,
		      struct wd_side *s, struct wd_stats *st)
{
	DWORD n = 0;

	if (!s->pending)
		return;
	CancelIoEx(s->h, &s->ov);
	if (GetOverlappedResult(s->h, &s->ov, &n, TRUE))
		wd_batch(api, e, s, n, st);
	s->pending = false;
}

/* Reopens a side with a new filter: the new handle first, so nothing
 * passes undiverted in between. Packets still queued in the old handle
 * when it closes are lost (WinDivert drops them); a reload is rare. */
static int wd_refilter(const struct wd_api *api, struct nat_engine *e,
		       struct wd_side *s, const char *filter,
		       struct wd_stats *st, FILE *log, char *errbuf,
		       size_t errlen)
{
	HANDLE old;
	char old_filter[NAT_WD_FILTER_MAX];

	wd_settle(api, e, s, st);
	old = s->h;
	memcpy(old_filter, s->filter, sizeof(old_filter));
	s->h = NULL;
	if (wd_open_side(api, s, filter, errbuf, errlen) != 0) {
		s->h = old; /* keep the old handle and filter running */
		memcpy(s->filter, old_filter, sizeof(old_filter));
		if (log)
			log_line(LOG_WARN, "QUEUE", "WinDivert %s filter kept: %s",
				 s->name, errbuf);
		return -1;
	}
	api->shutdown(old, WD_SHUTDOWN_BOTH);
	api->close(old);
	if (log)
		log_line(LOG_INFO, "QUEUE", "WinDivert %s filter now: %s",
			 s->name, s->filter);
	return 0;
}

struct nat_live {
	struct wd_api api;
	struct nat_engine *e;
	struct nat_live_opts o;
	struct wd_stats st;
	volatile sig_atomic_t stop; /* request_stop() */
	struct wd_side sides[2];    /* outbound, inbound */
	char f_out[NAT_WD_FILTER_MAX], f_in[NAT_WD_FILTER_MAX];
	struct nat_portres ports;   /* port_range reserved for the run */
};

static int wd_set_forwards(struct nat_live *l, const struct nat_config *cfg,
			   const struct nat_forward_cfg *fw, size_t n,
			   char *errbuf, size_t errlen)
{
	struct nat_config c = *cfg;
	int rc = 0;

	c.forwards = (struct nat_forward_cfg *)fw;
	c.n_forwards = n;
	if (wd_filters(&c, l->f_out, l->f_in, errbuf, errlen) != 0)
		return -1;
	if (strcmp(l->f_out, l->sides[0].filter) != 0)
		rc |= wd_refilter(&l->api, l->e, &l->sides[0], l->f_out, &l->st,
				  l->o.log, errbuf, errlen);
	if (strcmp(l->f_in, l->sides[1].filter) != 0)
		rc |= wd_refilter(&l->api, l->e, &l->sides[1], l->f_in, &l->st,
				  l->o.log, errbuf, errlen);
	return rc ? -1 : 0;
}

static void wd_close(struct nat_live *l)
{
	if (!l)
		return;
	for (int i = 0; i < 2; i++) {
		if (l->api.dll)
			wd_close_side(&l->api, &l->sides[i]);
		if (l->sides[i].event)
			CloseHandle(l->sides[i].event);
		free(l->sides[i].buf);
	}
	if (l->api.dll)
		FreeLibrary(l->api.dll);
	/* After the handles: while they are open, the reservation keeps the
	 * host's own connections out of the captured ports. */
	nat_portres_release(&l->ports);
	free(l);
}

static void host_log(void *ctx, bool warning, const char *line)
{
	/* Lines for people in the one form (logging/log_line.h): on
	 * Windows the backend's FILE is not rewritten into it. */
	if (ctx)
		log_line(warning ? LOG_WARN : LOG_INFO, "HOST", "%s", line);
}

/* Reserves port_range from Windows' dynamic ports (portres.h), after
 * releasing what a crashed run left. Only warnings: the NAT runs without
 * the reservation. The record sits beside the forwards' state file. */
static void wd_reserve_ports(struct nat_live *l, const struct nat_config *cfg)
{
	char path[NAT_PORTRES_PATH_MAX], dir[MAX_PATH], err[800];

	if (cfg->state_file[0])
		snprintf(path, sizeof(path), "%s.ports", cfg->state_file);
	else if (nat_plat_exe_dir(dir, sizeof(dir)) == 0)
		snprintf(path, sizeof(path), "%s\\glassnat.ports", dir);
	else
		snprintf(path, sizeof(path), "glassnat.ports");
	nat_portres_init(&l->ports, &nat_portres_windows, path, host_log,
			 l->o.log);
	if (nat_portres_recover(&l->ports, err, sizeof(err)) != 0) {
		host_log(l->o.log, true, err);
		return;
	}
	nat_portres_apply(&l->ports, cfg->port_range.lo, cfg->port_range.hi);
}

static struct nat_live *wd_open(struct nat_engine *e,
				const struct nat_config *cfg,
				const struct nat_live_opts *o, char *errbuf,
				size_t errlen)
{
	struct nat_live *l = calloc(1, sizeof(*l));
	struct wd_side *sides;

	if (!l) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	l->e = e;
	l->o = *o;
	sides = l->sides;
	if (nat_wd_check_config(cfg, errbuf, errlen) != 0 ||
	    wd_filters(cfg, l->f_out, l->f_in, errbuf, errlen) != 0)
		goto fail;
	/* -v: the filters before anything can fail on the DLL or driver,
	 * for checking the capture by hand (docs/windows.md). */
	if (o->log && o->verbose)
		log_line(LOG_INFO, "QUEUE",
			 "WinDivert outbound (NETWORK_FORWARD) filter: %s\n"
			 "WinDivert inbound (NETWORK) filter: %s",
			 l->f_out, l->f_in);
	if (wd_load(&l->api, errbuf, errlen) != 0)
		goto fail;
	sides[0].name = "outbound";
	sides[0].layer = WD_LAYER_NETWORK_FORWARD;
	sides[0].dir = NAT_DIR_OUT;
	sides[1].name = "inbound";
	sides[1].layer = WD_LAYER_NETWORK;
	sides[1].dir = NAT_DIR_IN;
	for (int i = 0; i < 2; i++) {
		sides[i].buf = malloc((size_t)WD_BATCH_MAX * WD_MTU_MAX);
		sides[i].event = CreateEventA(NULL, TRUE, FALSE, NULL);
		if (!sides[i].buf || !sides[i].event) {
			snprintf(errbuf, errlen, "out of memory");
			goto fail;
		}
	}
	/* Both filters through WinDivert's compiler before either handle
	 * opens: a refused filter is named whatever the driver's state. */
	if (wd_compile(&l->api, &sides[0], l->f_out, errbuf, errlen) != 0 ||
	    wd_compile(&l->api, &sides[1], l->f_in, errbuf, errlen) != 0)
		goto fail;
	wd_reserve_ports(l, cfg);
	if (wd_open_side(&l->api, &sides[0], l->f_out, errbuf, errlen) != 0 ||
	    wd_open_side(&l->api, &sides[1], l->f_in, errbuf, errlen) != 0)
		goto fail;
	if (o->log) {
		uint64_t maj = 0, min = 0;
		l->api.get_param(sides[0].h, WD_PARAM_VERSION_MAJOR, &maj);
		l->api.get_param(sides[0].h, WD_PARAM_VERSION_MINOR, &min);
		log_line(LOG_INFO, "QUEUE",
			 "WinDivert %llu.%llu driver; outbound "
			 "(NETWORK_FORWARD) filter: %s\ninbound (NETWORK) "
			 "filter: %s",
			(unsigned long long)maj, (unsigned long long)min,
			sides[0].filter, sides[1].filter);
	}
	return l;
fail:
	wd_close(l);
	return NULL;
}

static int wd_run(struct nat_live *l, char *errbuf, size_t errlen)
{
	const struct wd_api *api = &l->api;
	struct wd_side *sides = l->sides;
	uint64_t next_tick;

	if (l->o.on_start && l->o.on_start(l->o.ctx, errbuf, errlen) != 0)
		return -1;
	next_tick = GetTickCount64() + 100;
	while (!l->stop) {
		HANDLE ev[2];
		DWORD w, got = 0;

		for (int i = 0; i < 2; i++) {
			while (!sides[i].pending && !l->stop) {
				int r = wd_post_recv(api, &sides[i], &got);
				if (r < 0) {
					char why[256];
					win_error(GetLastError(), why,
						  sizeof(why));
					snprintf(errbuf, errlen,
						 "%s WinDivert receive: %s",
						 sides[i].name, why);
					return -1;
				}
				if (r == 0)
					break;
				wd_batch(api, l->e, &sides[i], got, &l->st);
			}
			ev[i] = sides[i].event;
		}
		w = WaitForMultipleObjects(2, ev, FALSE, 100);
		if (w == WAIT_OBJECT_0 || w == WAIT_OBJECT_0 + 1) {
			struct wd_side *s = &sides[w - WAIT_OBJECT_0];
			s->pending = false;
			if (GetOverlappedResult(s->h, &s->ov, &got, FALSE))
				wd_batch(api, l->e, s, got, &l->st);
		}
		if (GetTickCount64() >= next_tick) {
			uint64_t t = now_ns();
			next_tick = GetTickCount64() + 100;
			nat_engine_tick(l->e, t);
			if (l->o.on_tick)
				l->o.on_tick(l->o.ctx, t);
		}
	}
	return 0;
}

static void wd_request_stop(struct nat_live *l)
{
	l->stop = 1;
}

/* The final statistics print them in this order, two lines. */
static const struct nat_live_counter wd_counter_list[] = {
	{ "batches", "Batches", 0, 0, 0 },
	{ "max_batch", "largest", 0, 0, NAT_LIVE_C_QUALIF },
	{ "csum_full", "checksums computed in full", 0, 0, 0 },
	{ "verdict_errors", "Reinjection errors", 0, 1, 0 },
	{ "truncated", "truncated", 0, 1, 0 },
};

static size_t wd_counters(struct nat_live *l, struct nat_live_counter *out,
			  size_t max)
{
	const size_t all = sizeof(wd_counter_list) / sizeof(wd_counter_list[0]);
	struct wd_stats st = { 0 };

	if (l)
		st = l->st;
	const uint64_t v[] = { st.batches, st.max_batch, st.csum_full,
			       st.verdict_errors, st.truncated };
	_Static_assert(sizeof(v) / sizeof(v[0]) ==
			       sizeof(wd_counter_list) /
				       sizeof(wd_counter_list[0]),
		       "one value per counter");
	return nat_live_fill_counters(wd_counter_list, v, all, out, max);
}

const struct nat_live_ops nat_live_windivert = {
	.name = "windivert",
	.open = wd_open,
	.run = wd_run,
	.request_stop = wd_request_stop,
	.set_forwards = wd_set_forwards,
	.counters = wd_counters,
	.close = wd_close,
};

#else
/* Linux builds leave this file out (Makefile); an empty unit otherwise. */
typedef int nat_windivert_unused;
#endif
