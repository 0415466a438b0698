/* The help texts of `glassnat` and its commands (glassnat(8) says the
 * same at length). */
#include "app.h"
#include "config.h"
#include "service.h"

/* Laid out as they print; clang-format would split the lines. */
/* clang-format off */

const char app_help_main[] =
	"usage: glassnat [COMMAND] [OPTIONS]\n"
	"\n"
	"glassnat is a user-space IPv4 NAT gateway that records how every\n"
	"packet was translated and why.\n"
	"\n"
	"commands:\n"
	"  run       run the live gateway (the default command)\n"
	"  replay    translate a capture file offline, write the result\n"
	"  check     validate a config file and print the plan\n"
	"  forward   list, add or remove port forwards (control socket)\n"
	"  flows     list the live flows (control socket)\n"
	"  flow      delete flows: flow delete ID|FILTERS (control socket)\n"
	"  watch     print flow events and drops as they happen (control socket)\n"
	"  stats     print the live counters (control socket)\n"
	"  trace     turn packet tracing on or off (control socket)\n"
	"  reload    re-read the config in the running gateway (control socket)\n"
	"  uninstall remove what stopped or crashed runs left installed\n"
	"  version   print the version\n"
	"  service   install, remove, start, stop the Windows service\n"
	"\n"
	"options without a command are those of `run`:\n"
	"  -c, --config FILE   the config file (Hyper-NAT: -config FILE)\n"
	"  -v, --verbose       DEBUG lines in the text log (Hyper-NAT: -verbose)\n"
	"      --version       print the version (Hyper-NAT: -version)\n"
	"  -h, --help          this text; `glassnat COMMAND --help` for a command\n"
	"  (`glassnat run --help` lists run's trace and event options)\n"
	"\n"
	"exit status: 0 ok, 1 runtime failure, 2 usage or config error.\n"
	"\n"
	"examples:\n"
	"  glassnat check -c configs/hyper-nat.yaml\n"
	"  glassnat replay -c configs/hyper-nat.yaml in.pcapng -o out.pcapng\n"
	"  glassnat -config configs/hyper-nat.yaml -verbose\n";

const char app_help_run[] =
	"usage: glassnat run [-c FILE] [--trace DIR] [--trace-filter BPF]\n"
	"                    [--events FILE|-] [--log-format text|json] [-v]\n"
	"                    [--no-fastpath]\n"
	"\n"
	"Runs the live gateway (the default command: `glassnat -c FILE` is the\n"
	"same). The config is loaded and validated first; the command line\n"
	"overrides the config's trace and logging settings.\n"
	"\n"
	"Needs root (CAP_NET_ADMIN). At start glassnat binds nfnetlink queue\n"
	"0 and installs its iptables chains GLASSNAT-RAW (raw), GLASSNAT-IN\n"
	"and GLASSNAT-OUT (mangle); Ctrl+C or SIGTERM removes them and prints\n"
	"the final statistics. After a crash the chains stay and drop what\n"
	"they queue (fail closed) until the next start removes them.\n"
	"Once running it answers on its control socket (control_socket,\n"
	"root only: glassnat forward/flows/stats/trace/reload) and restores\n"
	"the forwards kept in state_file. SIGHUP reopens the events file and\n"
	"reloads the config.\n"
	"Every line it writes for people (stderr) is\n"
	"`[UTC time with ms] [LEVEL] [COMPONENT] message`. Under systemd\n"
	"(NOTIFY_SOCKET) it reports READY=1, STATUS=, WATCHDOG=1, RELOADING=1\n"
	"and STOPPING=1 (glassnat.service).\n"
	"See docs/troubleshooting.md.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE        the config file (Hyper-NAT's -config FILE\n"
	"                           is accepted); without it\n"
	"                           " NAT_PLAT_CONFIG_DEFAULT "\n"
	"      --trace DIR          write before/after pcapng ring files into DIR\n"
	"                           (overrides trace.dir, turns tracing on)\n"
	"      --trace-filter BPF   trace only flows matching BPF (libpcap\n"
	"                           syntax, checked at start)\n"
	"      --events FILE|-      write the flows' events to FILE (JSON lines\n"
	"                           unless --log-format text; reopened on\n"
	"                           SIGHUP for logrotate) or - (stdout, text\n"
	"                           unless --log-format json)\n"
	"      --log-format text|json\n"
	"                           the events' format\n"
	"  -v, --verbose            DEBUG lines in the text log (Hyper-NAT:\n"
	"                           -verbose)\n"
	"      --no-fastpath        never load the kernel fast path (as\n"
	"                           fastpath: off): every packet goes through\n"
	"                           the engine in user space\n"
	"  -h, --help               this text\n"
	"\n"
	"examples:\n"
	"  glassnat run -c /etc/glassnat.yaml --events - --log-format json\n"
	"  glassnat run -c gw.yaml --trace /var/lib/glassnat/trace \\\n"
	"      --trace-filter 'host 172.17.240.21 and tcp port 443'\n"
	"  glassnat -config configs/hyper-nat.yaml -verbose\n";

const char app_help_replay[] =
	"usage: glassnat replay -c FILE IN.pcap[ng] -o OUT.pcapng\n"
	"                       [--trace DIR] [--trace-filter BPF]\n"
	"                       [--events FILE|-] [--log-format text|json]\n"
	"                       [-v] [-q]\n"
	"\n"
	"Translates the capture IN offline through the engine, as the live\n"
	"gateway would, and writes every packet that was not dropped, after\n"
	"translation, to OUT (pcapng). Each written packet carries a comment\n"
	"\"flow=ID dir=in|out verdict=V rule=NAME\" (frame.comment in\n"
	"Wireshark). A packet's direction comes from the pcapng direction flag,\n"
	"else the interface name (inside/outside), else its addresses; its\n"
	"capture time drives the timeouts. A summary is printed on stdout.\n"
	"With --trace and --events the run tells the same story a live\n"
	"gateway would: offline, the writers are waited for, so nothing is\n"
	"lost to a full queue; a failed write (a full disk) is said at once\n"
	"and makes replay exit 1, its last line saying what was lost. Flows\n"
	"still open at the end of IN are closed (reason shutdown).\n"
	"\n"
	"options:\n"
	"  -c, --config FILE    the config file (required)\n"
	"  -o, --output OUT     the output pcapng file (required)\n"
	"      --trace DIR      write every selected packet before and after\n"
	"                       translation into zstd pcapng ring files in DIR\n"
	"                       (natdump and Wireshark read them)\n"
	"      --trace-filter BPF\n"
	"                       trace only flows matching BPF (libpcap syntax,\n"
	"                       either side of the translation, sticky per flow)\n"
	"      --events FILE|-  write the flows' events to FILE (JSON lines\n"
	"                       unless --log-format text) or - (stdout, text\n"
	"                       unless --log-format json)\n"
	"      --log-format text|json\n"
	"                       the events' format\n"
	"  -v, --verbose        DEBUG lines (state changes, bypasses) in text\n"
	"  -q, --quiet          do not print the summary\n"
	"  -h, --help           this text\n"
	"\n"
	"examples:\n"
	"  glassnat replay -c configs/hyper-nat.yaml in.pcapng -o out.pcapng\n"
	"  tshark -r out.pcapng -T fields -e ip.src -e ip.dst -e frame.comment\n"
	"  glassnat replay -c gw.yaml in.pcap -o out.pcapng --trace tr \\\n"
	"      --events ev.json && jq 'select(.flow==3)' ev.json\n";

const char app_help_check[] =
	"usage: glassnat check [-c FILE]   (default: the installed config)\n"
	"\n"
	"Loads and validates FILE and prints the compiled plan: addresses,\n"
	"rules in the order they match, port forwards, port range, filtering,\n"
	"timeouts, limits, policies, trace and logging settings, and the memory\n"
	"the engine reserves for it. On an error, prints FILE:LINE:COLUMN and\n"
	"what is wrong, and exits 2. Then warns (exit 0) about rules that can\n"
	"never match (shadowed by one above), forwards outside\n"
	"internal_network and, run on the gateway (the host that has nat_ip),\n"
	"nat_ip or snat addresses the host does not have, masquerade out\n"
	"interfaces without an IPv4 address, internal_network on\n"
	"no interface and port_range over the host's ephemeral ports.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   the config file (required; -config FILE too)\n"
	"  -h, --help          this text\n"
	"\n"
	"example:\n"
	"  glassnat check -c configs/hyper-nat.yaml\n";

#define CONTROL_OPTIONS                                                      \
	"  -s, --socket PATH   the control socket (default: control_socket of\n" \
	"                      the config given with -c, else\n"                \
	"                      " NAT_CONTROL_SOCKET_DEFAULT ")\n"                \
	"  -c, --config FILE   take the control socket path from FILE\n"        \
	"      --json          print the answer as JSON\n"                      \
	"  -h, --help          this text\n"

#define CONTROL_NOTE                                                         \
	"The gateway answers on its control socket (root only); when it is\n" \
	"not running the command says so and exits 1. docs/control.md has\n" \
	"the protocol.\n"

const char app_help_forward[] =
	"usage: glassnat forward list [OPTIONS]\n"
	"       glassnat forward add PROTO/EXT_PORT:INT_IP[:INT_PORT] [--name N]\n"
	"       glassnat forward add --name N --proto P --port EXT_PORT\n"
	"                            --to INT_IP[:INT_PORT]\n"
	"       glassnat forward remove EXT_PORT [--proto P] | --name N\n"
	"\n"
	"Lists, adds or removes port forwards (DNAT) in the running gateway,\n"
	"over its control socket. PROTO is tcp or udp; INT_PORT defaults to\n"
	"EXT_PORT; without --name a forward is named PROTO/EXT_PORT. Forwards\n"
	"added here are kept in the config's state_file and restored at the\n"
	"next start. Removing a forward refuses new connections to its port\n"
	"and closes its flows.\n"
	"\n"
	"options:\n"
	"  -n, --name N        the forward's name (add), or the forward to\n"
	"                      remove by name (remove)\n"
	"      --proto P       tcp or udp (add; remove by port when both exist)\n"
	"      --port N        the external port (add)\n"
	"      --to IP[:PORT]  the inside host and port (add)\n"
	"      --source NETS   only these senders (add): CIDRs or addresses,\n"
	"                      comma-separated; others are dropped with\n"
	"                      reason forward_source\n"
	"      --in-interface IF  only packets arriving on IF (add)\n"
	"      --external-ip A  listen on A, another of glassnat's outside\n"
	"                      addresses, instead of nat_ip (add)\n" CONTROL_OPTIONS
	"\n" CONTROL_NOTE
	"\n"
	"examples:\n"
	"  glassnat forward list\n"
	"  glassnat forward add tcp/8080:172.17.240.21:80 --name web\n"
	"  glassnat forward add tcp/2222:172.17.240.21:22 --name ssh \\\n"
	"      --source 198.51.100.0/24,192.0.2.7\n"
	"  glassnat forward add --name Web --proto tcp --port 8080 \\\n"
	"      --to 172.17.240.21:80\n"
	"  glassnat forward remove 8080\n"
	"  glassnat forward remove --name web\n";

#define FLOW_FILTERS                                                         \
	"      --host IP       only flows with IP as inside, mapped or remote\n" \
	"      --port N        only flows with port N on any side\n"            \
	"      --proto P       tcp, udp or icmp\n"                               \
	"      --state S       TCP state: ESTABLISHED, TIME_WAIT, SYN_SENT...\n"  \
	"      --rule NAME     the rule (or forward) that decided the flow\n"   \
	"      --kind K        snat, bypass, forward or inbound\n"              \
	"      --flow ID       the flow with this id\n"

const char app_help_flows[] =
	"usage: glassnat flows [FILTERS] [--limit N] [--count] [OPTIONS]\n"
	"\n"
	"Lists the running gateway's flows: id, protocol, inside, mapped and\n"
	"remote address:port, TCP state, rule, packets and bytes each way.\n"
	"glassnat's flows are its own: `conntrack -L` does not show them (the\n"
	"queued traffic is exempt from conntrack by design).\n"
	"\n"
	"options:\n"
	FLOW_FILTERS
	"      --limit N       at most N flows (default 100, at most 10000)\n"
	"      --count         print only how many flows match\n"
	CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat flows --host 172.17.240.21 --proto tcp\n"
	"  glassnat flows --json | jq '.flows[] | select(.kind==\"forward\")'\n";

const char app_help_flow[] =
	"usage: glassnat flow delete ID|FILTERS|--all [OPTIONS]\n"
	"\n"
	"Removes flows from the running gateway's table, like conntrack -D:\n"
	"each gets a flow.close event with end \"deleted\" and its mapping is\n"
	"released; the next packet of the connection is a new flow (or, from\n"
	"outside, a no_mapping drop). Prints how many were deleted.\n"
	"\n"
	"options:\n"
	FLOW_FILTERS
	"      --all           every flow (no filter)\n"
	CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat flow delete 42\n"
	"  glassnat flow delete --host 172.17.240.21 --proto udp\n";

const char app_help_watch[] =
	"usage: glassnat watch [KEY=VALUE...] [FILTERS] [--event E] [--json]\n"
	"                      [OPTIONS]\n"
	"\n"
	"Prints the running gateway's events as they happen, like conntrack -E:\n"
	"[NEW] [UPDATE] [DESTROY] flows, [DROP] packets (rate limited as in\n"
	"the events file), until Ctrl+C. --json prints each event as the\n"
	"events file has it (docs/events.md). A reader too slow for the\n"
	"gateway loses lines, never slows it: the loss is shown ([LOST] N, or\n"
	"a watch.loss object). Filters as options or as KEY=VALUE words with\n"
	"the same names (host=IP port=N proto=P state=S rule=R kind=K\n"
	"flow=ID event=E). Not on Windows yet.\n"
	"\n"
	"options:\n"
	FLOW_FILTERS
	"      --event E       only events named E or starting E. (flow,\n"
	"                      flow.close, pkt.drop)\n"
	CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat watch proto=tcp\n"
	"  glassnat watch --event pkt.drop --json | jq .reason\n";

const char app_help_stats[] =
	"usage: glassnat stats [--prometheus] [OPTIONS]\n"
	"\n"
	"Prints the running gateway's counters: every counter of the final\n"
	"statistics (packets by verdict, drops by reason, flows, fragments, the\n"
	"queue's overflow and ENOBUFS, trace/log/IPFIX losses, control\n"
	"requests), as the same lines. docs/metrics.md lists them; the config's\n"
	"metrics: {listen: IP:PORT} serves them over HTTP at /metrics.\n"
	"\n"
	"options:\n"
	"      --prometheus    the Prometheus text format (glassnat_* metrics)\n"
	CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat stats -s /run/glassnat/glassnat.sock\n"
	"  glassnat stats --prometheus > /var/lib/node_exporter/glassnat.prom\n";

const char app_help_trace[] =
	"usage: glassnat trace on [BPF] [OPTIONS]\n"
	"       glassnat trace off [OPTIONS]\n"
	"\n"
	"Turns before/after packet tracing on (optionally only for flows\n"
	"matching BPF, libpcap syntax, checked here) or off in the running\n"
	"gateway. Traces go to the config's trace.dir (or run's --trace DIR).\n"
	"\n"
	"options:\n" CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"examples:\n"
	"  glassnat trace on 'host 172.17.240.21 and udp port 53'\n"
	"  glassnat trace off\n";

const char app_help_reload[] =
	"usage: glassnat reload [OPTIONS]\n"
	"\n"
	"Makes the running gateway re-read its config file (as SIGHUP does):\n"
	"rules, port forwards, filtering, timeouts and policies are replaced;\n"
	"flows keep their decision. A config with an error is refused with\n"
	"its FILE:LINE:COLUMN message and the running config stays; so is a\n"
	"change of nat_ip, internal_network, port_range or limits (restart).\n"
	"Prints what changed.\n"
	"\n"
	"options:\n" CONTROL_OPTIONS "\n" CONTROL_NOTE
	"\n"
	"example:\n"
	"  glassnat reload -c /etc/glassnat.yaml\n";

const char app_help_version[] =
	"usage: glassnat version   (or glassnat --version, glassnat -version)\n"
	"\n"
	"Prints the version and the backends in this build.\n"
	"\n"
	"options:\n"
	"  -h, --help   this text\n"
	"\n"
	"example:\n"
	"  glassnat version\n";

const char app_help_uninstall[] =
	"usage: glassnat uninstall -c FILE\n"
	"\n"
	"When glassnat stops it leaves the path of the NAT's traffic closed:\n"
	"its chains stay and drop what comes from internal_network, so no\n"
	"inside address leaves untranslated while nothing translates. `glassnat\n"
	"run` takes the path over again; this command opens it instead: it\n"
	"removes the GLASSNAT chains and their jumps (also those of a run that\n"
	"crashed) and puts back the host settings a crashed run changed (its\n"
	"state file is CONTROL_SOCKET.host). The kernel then forwards traffic\n"
	"from the inside untranslated. Refused while glassnat runs.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   the config of the runs (for control_socket)\n"
	"  -h, --help          this text\n"
	"\n"
	"example:\n"
	"  glassnat uninstall -c /etc/glassnat.yaml\n";

const char app_help_service[] =
	"usage: glassnat service install [-c FILE] [--auto]\n"
	"       glassnat service remove | start | stop\n"
	"\n"
	"Windows: runs glassnat as a service of the service control manager\n"
	"(name \"" NAT_SERVICE_NAME "\"). install registers `glassnat.exe service run\n"
	"-c FILE` (FILE made absolute; default " NAT_PLAT_CONFIG_DEFAULT "),\n"
	"started by hand or at boot (--auto), restarted after a crash; start\n"
	"waits until it translates (or says why it stopped), stop until it has\n"
	"stopped, remove unregisters it. The service writes its lines,\n"
	"and the final statistics when it stops, to glassnat.log beside its\n"
	"config; glassnat stats etc. reach it on its control pipe. Needs an\n"
	"elevated prompt. On Linux systemd does this: glassnat.service.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   install: the config the service runs\n"
	"      --auto          install: start at boot\n"
	"  -h, --help          this text\n"
	"\n"
	"example:\n"
	"  glassnat.exe service install -c C:\\ProgramData\\glassnat\\glassnat.yaml\n"
	"  glassnat.exe service start\n";

/* clang-format on */
