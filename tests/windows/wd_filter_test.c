/* glassnat's WinDivert filters against WinDivert's own filter compiler
 * and evaluator (the real WinDivert.dll, built from its unmodified source
 * by mk/windows.mk and loaded from beside this program; under wine only
 * opening a handle needs the driver).
 *
 *   wd_filter_test.exe compile CONFIG...   every filter of each config
 *                                          compiles at its layer
 *   wd_filter_test.exe table               the packet table below
 *
 * The table's expected answers are what the engine needs (nat/core/
 * engine.c, docs/translation.md) and what the host needs to keep for
 * itself, written here by hand, never derived from the generator. Each
 * packet is evaluated with the WINDIVERT_ADDRESS WinDivert's driver fills
 * on that layer (WinDivert 2.2 sys/windivert.c): NETWORK_FORWARD packets
 * are Outbound=1, Loopback=0, IfIdx the destination interface; NETWORK
 * inbound packets Outbound=0, Loopback=0 (loopback is only ever shown
 * outbound), IfIdx the arrival interface, and never a fragment (the
 * driver skips fragments there and shows the reassembled datagram).
 *
 * Output: "ok - ..." / "not ok - ..." lines for tests/windows/
 * windivert_test.sh, and "# ..." notes. Exit 0 when every line is ok. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include WD_HEADER /* WinDivert's include/windivert.h, by full path */

#include "config.h"
#include "windivert.h" /* glassnat's: nat/backend/windivert.h */

static __typeof__(WinDivertHelperCompileFilter) *wd_compile;
static __typeof__(WinDivertHelperEvalFilter) *wd_eval;
static unsigned n_ok, n_fail;

static void result(bool good, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void result(bool good, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", good ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (good)
		n_ok++;
	else
		n_fail++;
}

static int load_dll(void)
{
	char path[MAX_PATH];
	DWORD n = GetModuleFileNameA(NULL, path, sizeof(path));
	HMODULE dll;
	char *slash;

	if (n == 0 || n >= sizeof(path) || !(slash = strrchr(path, '\\')))
		return -1;
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path),
		 "WinDivert.dll");
	dll = LoadLibraryExA(path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
	if (!dll) {
		printf("not ok - load %s (error %lu)\n", path,
		       (unsigned long)GetLastError());
		return -1;
	}
	FARPROC c = GetProcAddress(dll, "WinDivertHelperCompileFilter");
	FARPROC e = GetProcAddress(dll, "WinDivertHelperEvalFilter");
	if (!c || !e) {
		printf("not ok - %s exports the filter helpers\n", path);
		return -1;
	}
	memcpy(&wd_compile, &c, sizeof(c));
	memcpy(&wd_eval, &e, sizeof(e));
	printf("# WinDivert.dll: %s\n", path);
	return 0;
}

/* ---- compile ---------------------------------------------------------- */

static void compile_one(const char *name, const char *what,
			WINDIVERT_LAYER layer, const char *filter)
{
	const char *err = NULL;
	UINT pos = 0;

	if (wd_compile(filter, layer, NULL, 0, &err, &pos))
		result(true, "%s: the %s filter compiles (%zu chars)", name,
		       what, strlen(filter));
	else
		result(false, "%s: the %s filter compiles: refused at %u: %s: %s",
		       name, what, pos, err ? err : "?", filter);
}

static int cmd_compile(int argc, char **argv)
{
	static char out[NAT_WD_FILTER_MAX], in[NAT_WD_FILTER_MAX];
	char err[1024];
	const char *why = NULL;
	UINT pos = 0;

	/* The check can fail: WinDivert refuses a broken filter, with its
	 * position. */
	result(!wd_compile("ip and (tcp.DstPort ==", WINDIVERT_LAYER_NETWORK,
			   NULL, 0, &why, &pos) &&
		       why != NULL && pos > 0,
	       "WinDivert refuses a broken filter (at %u: %s)", pos,
	       why ? why : "?");
	for (int i = 0; i < argc; i++) {
		struct nat_config cfg;

		memset(&cfg, 0, sizeof(cfg));
		if (nat_config_load(argv[i], &cfg, err, sizeof(err)) != 0) {
			result(false, "%s loads: %s", argv[i], err);
			continue;
		}
		if (nat_wd_filter_outbound(&cfg, out, sizeof(out), err,
					   sizeof(err)) != 0 ||
		    nat_wd_filter_inbound(&cfg, in, sizeof(in), err,
					  sizeof(err)) != 0) {
			result(false, "%s: filters generated: %s", argv[i],
			       err);
			nat_config_free(&cfg);
			continue;
		}
		compile_one(argv[i], "outbound", WINDIVERT_LAYER_NETWORK_FORWARD,
			    out);
		compile_one(argv[i], "inbound", WINDIVERT_LAYER_NETWORK, in);
		if (nat_wd_check_config(&cfg, err, sizeof(err)) != 0)
			printf("# %s: the Windows backend refuses it: %s\n",
			       argv[i], err);
		nat_config_free(&cfg);
	}
	return 0;
}

/* ---- the packet table ------------------------------------------------- */

/* The table's configs. Addresses from the documentation ranges. */
static const char *const table_cfg[] = {
	/* 0: the Hyper-V host: two external addresses, bypass, forwards */
	"nat_ip: 203.0.113.1\n"
	"internal_network: 172.17.240.0/24\n"
	"host_internal_ip: 172.17.240.1\n"
	"port_range: \"40000-60000\"\n"
	"rules:\n"
	"  - {name: lan, destination: 198.51.100.0/24, action: bypass}\n"
	"  - {name: second, source: 172.17.240.128/25, destination: "
	"192.0.2.0/24, action: snat, to_address: 203.0.113.2}\n"
	"  - {name: internet, destination: 0.0.0.0/0, action: nat}\n"
	"port_forward:\n"
	"  - {name: web, protocol: tcp, external_port: 8080, internal_ip: "
	"172.17.240.21, internal_port: 80}\n"
	"  - {name: mdns, protocol: udp, external_port: 5353, internal_ip: "
	"172.17.240.100}\n"
	"  - {name: ssh, protocol: tcp, external_port: 2222, internal_ip: "
	"172.17.240.22, internal_port: 22}\n",
	/* 1: port_range at the top edge */
	"nat_ip: 203.0.113.1\n"
	"internal_network: 172.17.240.0/24\n"
	"port_range: \"61000-65535\"\n",
	/* 2: port_range low */
	"nat_ip: 203.0.113.1\n"
	"internal_network: 172.17.240.0/24\n"
	"port_range: \"1024-2047\"\n",
};

enum kind { TCP, UDP, ECHO_REQ, ECHO_REP, ICMP_ERR, ICMP_OTHER };

#define FWD WINDIVERT_LAYER_NETWORK_FORWARD
#define NET WINDIVERT_LAYER_NETWORK
#define IF_OUT 7 /* the external interface */
#define IF_IN 5	 /* vEthernet (the internal switch) */
#define IF_LO 1

struct row {
	int cfg;
	WINDIVERT_LAYER layer;
	int outbound, loopback;
	uint32_t if_idx;
	enum kind kind;
	const char *src, *dst;
	uint16_t sport, dport; /* echo: id, sequence number */
	/* ICMP_ERR / ICMP_OTHER: type, code; the quoted packet */
	uint8_t type, code, in_proto;
	const char *in_src, *in_dst;
	uint16_t in_sport, in_dport;
	/* fragments (forward layer only): MF, offset in 8-byte units */
	int mf;
	uint16_t frag_off;
	int ihl_words; /* outer header, 0 = 5 */
	int want;
	const char *what;
};

/* Shorthands for the rows. */
#define OUT_FWD 0, FWD, 1, 0, IF_OUT
#define IN_NET 0, NET, 0, 0, IF_OUT
#define HAIRPIN 0, NET, 0, 0, IF_IN
#define HOST_OUT 0, NET, 1, 0, IF_OUT

static const struct row rows[] = {
	/* Outbound from the inside: the forward layer. The engine needs
	 * every packet an inside host sends through the host: the rules
	 * decide (nat, snat, bypass, drop) and bypassed flows are logged. */
	{ OUT_FWD, TCP, "172.17.240.21", "192.0.2.80", 51000, 443,
	  .want = 1, .what = "inside -> internet, TCP SYN (translated)" },
	{ OUT_FWD, UDP, "172.17.240.22", "192.0.2.53", 5000, 53, .want = 1,
	  .what = "inside -> internet, UDP DNS query" },
	{ OUT_FWD, ECHO_REQ, "172.17.240.21", "192.0.2.1", 777, 1,
	  .want = 1, .what = "inside -> internet, ICMP echo request" },
	{ OUT_FWD, TCP, "172.17.240.21", "198.51.100.10", 51001, 22,
	  .want = 1,
	  .what = "inside -> bypassed network (the bypass rule decides, and "
		  "the flow is logged)" },
	{ OUT_FWD, TCP, "172.17.240.200", "192.0.2.9", 40001, 80, .want = 1,
	  .what = "inside -> internet through the snat rule" },
	{ OUT_FWD, TCP, "172.17.240.1", "192.0.2.80", 51002, 443, .want = 0,
	  .what = "from host_internal_ip (never translated)" },
	{ 0, FWD, 1, 0, IF_IN, TCP, "172.17.240.21", "172.17.240.22", 51003,
	  80, .want = 1,
	  .what = "VM -> VM routed through the host (rules decide)" },
	{ 0, FWD, 1, 0, IF_IN, TCP, "198.51.100.10", "172.17.240.21", 22,
	  51001, .want = 0,
	  .what = "outside -> inside forwarded (a bypassed flow's reply: "
		  "not from inside)" },
	{ OUT_FWD, TCP, "192.0.2.50", "198.51.100.7", 1000, 80, .want = 0,
	  .what = "another network's packet routed through the host" },
	{ OUT_FWD, UDP, "172.17.240.21", "192.0.2.53", 5001, 53, .mf = 1,
	  .want = 1, .what = "inside -> internet, first fragment (MF)" },
	{ OUT_FWD, UDP, "172.17.240.21", "192.0.2.53", 0, 0, .mf = 1,
	  .frag_off = 185, .want = 1,
	  .what = "inside -> internet, middle fragment (no ports)" },
	{ OUT_FWD, UDP, "172.17.240.21", "192.0.2.53", 0, 0, .frag_off = 370,
	  .want = 1, .what = "inside -> internet, last fragment" },
	{ OUT_FWD, ICMP_ERR, "172.17.240.21", "192.0.2.80", .type = 3,
	  .code = 3, .in_proto = 17, .in_src = "192.0.2.80",
	  .in_dst = "172.17.240.21", .in_sport = 9999, .in_dport = 5353,
	  .want = 1,
	  .what = "inside -> internet, ICMP error about a forwarded flow" },

	/* Inbound to the external addresses: the network layer. Mapped
	 * ports come from port_range only in live mode (no port
	 * preservation), forwards from port_forward. */
	{ IN_NET, TCP, "192.0.2.80", "203.0.113.1", 443, 40000, .want = 1,
	  .what = "reply to mapped TCP port 40000 (port_range's first)" },
	{ IN_NET, TCP, "192.0.2.80", "203.0.113.1", 443, 60000, .want = 1,
	  .what = "reply to mapped TCP port 60000 (port_range's last)" },
	{ IN_NET, UDP, "192.0.2.53", "203.0.113.1", 53, 45123, .want = 1,
	  .what = "reply to mapped UDP port 45123" },
	{ IN_NET, TCP, "192.0.2.80", "203.0.113.1", 443, 39999, .want = 0,
	  .what = "TCP to 39999, below port_range (the host's)" },
	{ IN_NET, TCP, "192.0.2.80", "203.0.113.1", 443, 60001, .want = 0,
	  .what = "TCP reply to 60001, above port_range (the host's own "
		  "connection)" },
	{ IN_NET, UDP, "192.0.2.53", "203.0.113.1", 53, 61000, .want = 0,
	  .what = "UDP reply to 61000 (the host's own DNS query)" },
	{ IN_NET, TCP, "192.0.2.7", "203.0.113.1", 51000, 8080, .want = 1,
	  .what = "TCP to forwarded port 8080" },
	{ IN_NET, UDP, "192.0.2.7", "203.0.113.1", 5353, 5353, .want = 1,
	  .what = "UDP to forwarded port 5353" },
	{ IN_NET, TCP, "192.0.2.7", "203.0.113.1", 51000, 2222, .want = 1,
	  .what = "TCP to forwarded port 2222" },
	{ IN_NET, TCP, "192.0.2.7", "203.0.113.1", 51000, 5353, .want = 0,
	  .what = "TCP to 5353 (forwarded for UDP only)" },
	{ IN_NET, UDP, "192.0.2.7", "203.0.113.1", 5000, 8080, .want = 0,
	  .what = "UDP to 8080 (forwarded for TCP only)" },
	{ IN_NET, TCP, "192.0.2.7", "203.0.113.1", 51000, 3389, .want = 0,
	  .what = "TCP to the host's RDP service (3389)" },
	{ IN_NET, TCP, "192.0.2.7", "203.0.113.1", 51000, 445, .want = 0,
	  .what = "TCP to the host's SMB service (445)" },
	{ IN_NET, TCP, "192.0.2.9", "203.0.113.2", 80, 41000, .want = 1,
	  .what = "reply to the snat address's mapped port 41000" },
	{ IN_NET, TCP, "192.0.2.9", "203.0.113.2", 51000, 3389, .want = 0,
	  .what = "TCP to the snat address's port 3389 (the host's)" },
	{ IN_NET, TCP, "192.0.2.9", "203.0.113.2", 51000, 8080, .want = 0,
	  .what = "TCP to 8080 on the snat address (forwards are on nat_ip "
		  "only)" },
	{ IN_NET, TCP, "192.0.2.9", "203.0.113.9", 80, 41000, .want = 0,
	  .what = "TCP to an address that is not ours" },
	{ IN_NET, UDP, "192.0.2.53", "203.0.113.1", 53, 41000, .want = 1,
	  .what = "a reassembled UDP datagram (as the driver shows it) to "
		  "mapped port 41000" },
	{ IN_NET, ECHO_REQ, "192.0.2.7", "203.0.113.1", 1, 1, .want = 0,
	  .what = "ICMP echo request to nat_ip (the host answers)" },
	{ IN_NET, ECHO_REQ, "192.0.2.7", "203.0.113.1", 45000, 1, .want = 0,
	  .what = "ICMP echo request to nat_ip, identifier in port_range" },
	{ IN_NET, ECHO_REQ, "192.0.2.7", "203.0.113.2", 1, 1, .want = 0,
	  .what = "ICMP echo request to the snat address" },
	{ IN_NET, ECHO_REP, "192.0.2.1", "203.0.113.1", 40000, 0, .want = 1,
	  .what = "ICMP echo reply, mapped identifier 40000" },
	{ IN_NET, ECHO_REP, "192.0.2.1", "203.0.113.1", 60000, 65535,
	  .want = 1,
	  .what = "ICMP echo reply, mapped identifier 60000, sequence 65535" },
	{ IN_NET, ECHO_REP, "192.0.2.1", "203.0.113.1", 39999, 65535,
	  .want = 0,
	  .what = "ICMP echo reply, identifier 39999 (the host's own ping)" },
	{ IN_NET, ECHO_REP, "192.0.2.1", "203.0.113.1", 60001, 0, .want = 0,
	  .what = "ICMP echo reply, identifier 60001 (the host's own ping)" },
	{ IN_NET, ECHO_REP, "192.0.2.1", "203.0.113.2", 45000, 7, .want = 1,
	  .what = "ICMP echo reply to the snat address, identifier 45000" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 3,
	  .code = 3, .in_proto = 17, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.53", .in_sport = 41000, .in_dport = 53,
	  .want = 1, .what = "port unreachable quoting mapped UDP 41000" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 3,
	  .code = 4, .in_proto = 6, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.80", .in_sport = 50000, .in_dport = 443,
	  .want = 1,
	  .what = "fragmentation needed quoting mapped TCP 50000" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 11,
	  .code = 0, .in_proto = 1, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.1", .in_sport = 41000, .in_dport = 3,
	  .want = 1,
	  .what = "time exceeded quoting an echo request, mapped id 41000" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 12,
	  .code = 0, .in_proto = 6, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.80", .in_sport = 40000, .in_dport = 443,
	  .want = 1,
	  .what = "parameter problem quoting mapped TCP 40000" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.2", .type = 3,
	  .code = 1, .in_proto = 6, .in_src = "203.0.113.2",
	  .in_dst = "192.0.2.9", .in_sport = 41000, .in_dport = 80,
	  .want = 1,
	  .what = "host unreachable to the snat address, quoting its mapped "
		  "TCP 41000" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 3,
	  .code = 4, .in_proto = 6, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.80", .in_sport = 61000, .in_dport = 443,
	  .want = 0,
	  .what = "fragmentation needed about the host's own TCP 61000 "
		  "(its path MTU discovery)" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 11,
	  .code = 0, .in_proto = 17, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.53", .in_sport = 39999, .in_dport = 53,
	  .want = 0, .what = "time exceeded about the host's own UDP 39999" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 11,
	  .code = 0, .in_proto = 1, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.1", .in_sport = 39999, .in_dport = 3,
	  .want = 0,
	  .what = "time exceeded about the host's own ping, id 39999 "
		  "(its traceroute)" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 3,
	  .code = 4, .in_proto = 6, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.7", .in_sport = 8080, .in_dport = 51000,
	  .want = 1,
	  .what = "fragmentation needed quoting forwarded TCP 8080's reply" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 3,
	  .code = 3, .in_proto = 17, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.7", .in_sport = 5353, .in_dport = 5353,
	  .want = 1, .what = "port unreachable quoting forwarded UDP 5353" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 3,
	  .code = 3, .in_proto = 6, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.7", .in_sport = 5353, .in_dport = 5353,
	  .want = 0,
	  .what = "an error quoting TCP 5353 (forwarded for UDP only)" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.1", .type = 3,
	  .code = 4, .in_proto = 6, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.80", .in_sport = 61000, .in_dport = 443,
	  .ihl_words = 6, .want = 1,
	  .what = "an error with IP options (quote not at the usual offset: "
		  "taken, the engine sorts it out)" },
	{ IN_NET, ICMP_ERR, "192.0.2.254", "203.0.113.9", .type = 3,
	  .code = 3, .in_proto = 17, .in_src = "203.0.113.9",
	  .in_dst = "192.0.2.53", .in_sport = 41000, .in_dport = 53,
	  .want = 0, .what = "an error to an address that is not ours" },
	{ IN_NET, ICMP_OTHER, "192.0.2.7", "203.0.113.1", .type = 13,
	  .want = 0, .what = "ICMP timestamp request (the host's)" },

	/* The host's own packets leaving, and the host talking to itself:
	 * never the inbound handle's. */
	{ HOST_OUT, TCP, "203.0.113.1", "192.0.2.80", 61000, 443, .want = 0,
	  .what = "the host's own connection leaving" },
	{ HOST_OUT, TCP, "203.0.113.1", "192.0.2.7", 3389, 51000, .want = 0,
	  .what = "the host's RDP service answering" },
	{ 0, NET, 1, 1, IF_LO, TCP, "203.0.113.1", "203.0.113.1", 61001,
	  41000, .want = 0,
	  .what = "loopback: the host to its own address, port 41000" },

	/* Inside hosts to the external address (local delivery, network
	 * layer, arriving on the internal switch). */
	{ HAIRPIN, TCP, "172.17.240.21", "203.0.113.1", 51000, 8080,
	  .want = 1, .what = "hairpin: VM -> nat_ip:8080 (forwarded)" },
	{ HAIRPIN, UDP, "172.17.240.21", "203.0.113.1", 5000, 42000,
	  .want = 1, .what = "hairpin: VM -> nat_ip:42000 (a mapped port)" },
	{ HAIRPIN, TCP, "172.17.240.21", "203.0.113.1", 51000, 445,
	  .want = 0, .what = "VM -> the host's SMB on nat_ip" },
	{ HAIRPIN, TCP, "172.17.240.21", "172.17.240.1", 51000, 445,
	  .want = 0, .what = "VM -> the host's inside address" },
	{ HAIRPIN, ECHO_REQ, "172.17.240.21", "203.0.113.1", 40500, 1,
	  .want = 0, .what = "VM pings nat_ip (the host answers)" },

	/* port_range at the edges of the port space. */
	{ 1, NET, 0, 0, IF_OUT, TCP, "192.0.2.80", "203.0.113.1", 443, 65535,
	  .want = 1, .what = "range 61000-65535: TCP reply to 65535" },
	{ 1, NET, 0, 0, IF_OUT, TCP, "192.0.2.80", "203.0.113.1", 443, 60999,
	  .want = 0, .what = "range 61000-65535: TCP to 60999" },
	{ 1, NET, 0, 0, IF_OUT, ECHO_REP, "192.0.2.1", "203.0.113.1", 65535,
	  65535, .want = 1,
	  .what = "range 61000-65535: echo reply id 65535 seq 65535" },
	{ 1, NET, 0, 0, IF_OUT, ECHO_REP, "192.0.2.1", "203.0.113.1", 60999,
	  65535, .want = 0,
	  .what = "range 61000-65535: echo reply id 60999" },
	{ 1, NET, 0, 0, IF_OUT, ICMP_ERR, "192.0.2.254", "203.0.113.1",
	  .type = 3, .code = 3, .in_proto = 17, .in_src = "203.0.113.1",
	  .in_dst = "192.0.2.53", .in_sport = 65535, .in_dport = 53,
	  .want = 1,
	  .what = "range 61000-65535: error quoting UDP 65535" },
	{ 2, NET, 0, 0, IF_OUT, ECHO_REP, "192.0.2.1", "203.0.113.1", 1024, 0,
	  .want = 1, .what = "range 1024-2047: echo reply id 1024 seq 0" },
	{ 2, NET, 0, 0, IF_OUT, ECHO_REP, "192.0.2.1", "203.0.113.1", 1023,
	  65535, .want = 0,
	  .what = "range 1024-2047: echo reply id 1023 seq 65535" },
	{ 2, NET, 0, 0, IF_OUT, UDP, "192.0.2.53", "203.0.113.1", 53, 2047,
	  .want = 1, .what = "range 1024-2047: UDP reply to 2047" },
	{ 2, NET, 0, 0, IF_OUT, UDP, "192.0.2.53", "203.0.113.1", 53, 2048,
	  .want = 0, .what = "range 1024-2047: UDP to 2048" },
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_ip(uint8_t *p, const char *dotted)
{
	unsigned a, b, c, d;

	if (sscanf(dotted, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
		abort();
	p[0] = (uint8_t)a;
	p[1] = (uint8_t)b;
	p[2] = (uint8_t)c;
	p[3] = (uint8_t)d;
}

/* An IPv4 header of ihl words at p (options: NOPs), total length tot. */
static void ip_hdr(uint8_t *p, int ihl, uint16_t tot, uint8_t proto,
		   const char *src, const char *dst, int mf, uint16_t off)
{
	memset(p, 0, (size_t)ihl * 4);
	p[0] = (uint8_t)(0x40 | ihl);
	put16(p + 2, tot);
	put16(p + 4, 0x1234);
	put16(p + 6, (uint16_t)((mf ? 0x2000 : 0) | off));
	p[8] = 64;
	p[9] = proto;
	put_ip(p + 12, src);
	put_ip(p + 16, dst);
	for (int i = 20; i < ihl * 4; i++)
		p[i] = 1; /* NOP */
}

/* The transport header (and 8 payload bytes) for a TCP/UDP/echo packet. */
static size_t l4(uint8_t *p, enum kind k, uint16_t sport, uint16_t dport)
{
	memset(p, 0, 28);
	switch (k) {
	case TCP:
		put16(p, sport);
		put16(p + 2, dport);
		p[12] = 0x50;
		p[13] = 0x02; /* SYN */
		put16(p + 14, 65535);
		return 28;
	case UDP:
		put16(p, sport);
		put16(p + 2, dport);
		put16(p + 4, 16);
		return 16;
	default: /* echo: type, code, checksum, id, sequence */
		p[0] = k == ECHO_REQ ? 8 : 0;
		put16(p + 4, sport);
		put16(p + 6, dport);
		return 16;
	}
}

static uint8_t proto_of(enum kind k)
{
	return k == TCP ? 6 : k == UDP ? 17 : 1;
}

/* Builds r's packet into p; returns its length. */
static size_t build(const struct row *r, uint8_t *p)
{
	int ihl = r->ihl_words ? r->ihl_words : 5;
	size_t h = (size_t)ihl * 4, n;

	if (r->kind == ICMP_ERR) {
		uint8_t *q = p + h;
		enum kind ik = r->in_proto == 6	   ? TCP
			       : r->in_proto == 17 ? UDP
						   : ECHO_REQ;
		memset(q, 0, 8);
		q[0] = r->type;
		q[1] = r->code;
		/* The quote: the sent packet's IP header and 8 bytes. */
		ip_hdr(q + 8, 5, 60, r->in_proto, r->in_src, r->in_dst, 0, 0);
		l4(q + 28, ik, r->in_sport, r->in_dport);
		n = h + 8 + 28;
		ip_hdr(p, ihl, (uint16_t)n, 1, r->src, r->dst, 0, 0);
		return n;
	}
	if (r->kind == ICMP_OTHER) {
		memset(p + h, 0, 20);
		p[h] = r->type;
		n = h + 20;
		ip_hdr(p, ihl, (uint16_t)n, 1, r->src, r->dst, 0, 0);
		return n;
	}
	if (r->frag_off) { /* a later fragment: payload only */
		memset(p + h, 0xab, 64);
		n = h + 64;
	} else {
		n = h + l4(p + h, r->kind, r->sport, r->dport);
	}
	ip_hdr(p, ihl, (uint16_t)n, proto_of(r->kind), r->src, r->dst, r->mf,
	       r->frag_off);
	return n;
}

static int cmd_table(void)
{
	enum { N_CFG = sizeof(table_cfg) / sizeof(table_cfg[0]) };
	static char out[N_CFG][NAT_WD_FILTER_MAX], in[N_CFG][NAT_WD_FILTER_MAX];
	const size_t n_rows = sizeof(rows) / sizeof(rows[0]);
	char err[1024];

	for (int c = 0; c < N_CFG; c++) {
		struct nat_config cfg;
		char name[32];

		memset(&cfg, 0, sizeof(cfg));
		snprintf(name, sizeof(name), "table-%d.yaml", c);
		if (nat_config_load_mem(name, table_cfg[c], strlen(table_cfg[c]),
					&cfg, err, sizeof(err)) != 0 ||
		    nat_wd_filter_outbound(&cfg, out[c], NAT_WD_FILTER_MAX, err,
					   sizeof(err)) != 0 ||
		    nat_wd_filter_inbound(&cfg, in[c], NAT_WD_FILTER_MAX, err,
					  sizeof(err)) != 0) {
			result(false, "table config %d: %s", c, err);
			return 1;
		}
		printf("# table config %d outbound: %s\n# table config %d "
		       "inbound: %s\n",
		       c, out[c], c, in[c]);
		nat_config_free(&cfg);
	}
	for (size_t i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		uint8_t pkt[256];
		WINDIVERT_ADDRESS addr;
		size_t len = build(r, pkt);
		const char *f = r->layer == FWD ? out[r->cfg] : in[r->cfg];
		BOOL got;
		DWORD e;

		memset(&addr, 0, sizeof(addr));
		addr.Layer = r->layer;
		addr.Outbound = r->outbound;
		addr.Loopback = r->loopback;
		addr.Network.IfIdx = r->if_idx;
		addr.IPChecksum = addr.TCPChecksum = addr.UDPChecksum = 1;
		SetLastError(0);
		got = wd_eval(f, pkt, (UINT)len, &addr);
		e = GetLastError();
		if (!got && e != 0) {
			result(false, "row %zu (%s handle): %s: evaluation failed "
				      "(error %lu)",
			       i + 1, r->layer == FWD ? "outbound" : "inbound",
			       r->what, (unsigned long)e);
			continue;
		}
		result((got != 0) == (r->want != 0),
		       "row %zu (%s handle): %s: %s%s", i + 1,
		       r->layer == FWD ? "outbound" : "inbound", r->what,
		       got ? "captured" : "not captured",
		       (got != 0) == (r->want != 0)
			       ? ""
			       : (r->want ? " (expected captured)"
					  : " (expected not captured)"));
	}
	printf("# packet table: %zu rows\n", n_rows);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: wd_filter_test.exe compile CONFIG... "
				"| table\n");
		return 2;
	}
	if (load_dll() != 0)
		return 1;
	if (strcmp(argv[1], "compile") == 0)
		cmd_compile(argc - 2, argv + 2);
	else if (strcmp(argv[1], "table") == 0)
		cmd_table();
	else {
		fprintf(stderr, "unknown command %s\n", argv[1]);
		return 2;
	}
	printf("# %u ok, %u not ok\n", n_ok, n_fail);
	return n_fail ? 1 : 0;
}
