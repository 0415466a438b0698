#!/usr/bin/env bash
# The mutation smoke (`make mutants`, issue 19; not part of CI): each
# mutant below is one small deliberate bug in a critical place. Each is
# applied alone to a scratch copy of the tree (never to the working tree),
# built, and the tests named for it are run; a mutant is "killed" when one
# of them fails. Ends with a table and "N killed, M survived, K not built".
#
#   scripts/mutants.sh               every mutant
#   scripts/mutants.sh NAME...       only those
#   KEEP=1 scripts/mutants.sh        keep the scratch copy (path printed)
#
# A mutant is a perl substitution (perl -0pi: the whole file is one
# string, so a pattern may span lines) that must change its file, or the
# harness reports it "not applied" and fails: a list that drifts from the
# code cannot pass quietly. Tests: unit:FILTER (Criterion --filter) or
# e2e:NAME (tests/e2e/NAME_test.sh, as root).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
JOBS=${JOBS:-2}

# ---- the mutants: NAME FILE PERL-SUBSTITUTION TEST... ----------------------
M_NAMES=() M_FILES=() M_SUBS=() M_TESTS=() M_WHAT=()
mutant() { # mutant NAME FILE SUBST "WHAT IT BREAKS" TEST...
	M_NAMES+=("$1") M_FILES+=("$2") M_SUBS+=("$3") M_WHAT+=("$4")
	shift 4
	M_TESTS+=("$*")
}

# Checksums (RFC 1624 deltas, nat/core/packet.c).
mutant tcp_csum_delta_dropped nat/core/packet.c \
	's/\t\tcsum_replace\(l4 \+ TCP_OFF_CSUM, d\);/\t\t(void)d;/' \
	"the TCP checksum is not adjusted after a rewrite" unit:packet/* e2e:replay
mutant udp_csum_delta_dropped nat/core/packet.c \
	's/\t\tcsum_replace_udp\(l4 \+ UDP_OFF_CSUM, d\);/\t\t(void)d;/' \
	"the UDP checksum is not adjusted after a rewrite" unit:packet/* e2e:replay
mutant ip_csum_delta_dropped nat/core/packet.c \
	's/\twr32\(a, addr\);\n\tcsum_replace\(b \+ IP_OFF_CSUM, d\);/\twr32(a, addr);/' \
	"the IP header checksum is not adjusted after an address rewrite" unit:packet/* e2e:replay
mutant csum_no_end_around_carry nat/core/packet.c \
	's/\ts = \(s & 0xffff\) \+ \(s >> 16\);\n\ts = \(s & 0xffff\) \+ \(s >> 16\);/\ts = s & 0xffff;/' \
	"the one's complement sum drops its carries (RFC 1624 eqn. 3)" unit:packet/*
# ICMP errors: the quoted datagram (RFC 5508).
mutant icmp_inner_port_not_restored nat/core/packet.c \
	's/(\tcase IPPROTO_UDP: \{\n\t\tuint32_t d_port = csum_delta16\(rd16\(pp\), port\);\n)\t\twr16\(pp, port\);\n(\t\touter \+= d_port;)/$1$2/' \
	"an ICMP error's quoted UDP port is not translated back" unit:packet/* unit:engine/* e2e:replay
mutant icmp_inner_ip_csum_not_in_outer nat/core/packet.c \
	's/\touter \+= csum_replace\(ip \+ IP_OFF_CSUM, d_addr\);/\tcsum_replace(ip + IP_OFF_CSUM, d_addr);/' \
	"the outer ICMP checksum misses the quoted IP checksum's change" unit:packet/* e2e:replay
# Filtering (nat/core/engine.c): an inbound packet to an existing mapping.
mutant filtering_endpoint_independent nat/core/engine.c \
	's/if \(e->cfg.filtering == NAT_FILTER_EI \|\|/if (1 ||/' \
	"address-and-port dependent filtering lets anyone in" unit:engine/*
mutant filtering_addr_ignores_addr nat/core/engine.c \
	's/g->rem_ip == src\)\) \{/1)) {/' \
	"address dependent filtering ignores the address" unit:engine/*
# Timers and expiry (nat/core/flow.[ch]).
mutant last_seen_not_refreshed nat/core/flow.h \
	's/\tf->last_ns = ts_ns;\n/\t(void)ts_ns;\n/' \
	"a packet does not refresh its flow's last-seen time" unit:engine/* unit:flowtable/*
mutant udp_timeout_is_icmp nat/core/flow.c \
	's/return t->to.udp;/return t->to.icmp;/' \
	"UDP flows expire on the ICMP timeout" unit:engine/* unit:flowtable/*
mutant tcp_established_timeout_is_transitory nat/core/flow.c \
	's/return t->to.tcp_established;/return t->to.tcp_transitory;/' \
	"established TCP flows expire on the transitory timeout" unit:engine/* unit:flowtable/*
# Trace: direction flags, trace on/off.
mutant trace_dir_flags_swapped trace/tracer.c \
	's/\? PCAPNG_W_DIR_OUT\n(\s*): d == NAT_DIR_IN \? PCAPNG_W_DIR_IN/? PCAPNG_W_DIR_IN\n$1: d == NAT_DIR_IN ? PCAPNG_W_DIR_OUT/' \
	"traced packets carry the opposite direction flag" unit:trace/* e2e:observe
mutant trace_off_keeps_tracing nat/app/cmd_run.c \
	's/\t\tif \(rc->ob.trace\)\n\t\t\ttrace_set_enabled\(rc->ob.trace, false\);/\t\t(void)rc;/' \
	"glassnat trace off answers 'Tracing off' and keeps tracing" e2e:control
# Control authentication (nat/control/server_unix.c): SO_PEERCRED.
mutant peercred_not_checked nat/control/server_unix.c \
	's/cr.uid != 0\)\) \{/cr.uid == (uid_t)-2)) {/' \
	"any local user may drive the gateway through an open socket" unit:control/* e2e:control
# Reason counting (nat/core/engine.c).
mutant reason_not_counted nat/core/engine.c \
	's/\t\te->st.by_reason\[r->reason\]\+\+;/\t\t(void)0;/' \
	"drops are not counted by reason" unit:engine/* e2e:replay
# The checks issue 19 found vacuous, each broken once:
mutant proof_flow_id_a_string logging/log_format.c \
	's/\tj_u64\(b, "flow", f->id\);/\tif (ev->type == NAT_EV_FLOW_STATE) { char id_[24]; snprintf(id_, sizeof id_, "%llu", (unsigned long long)f->id); j_str(b, "flow", id_); } else j_u64(b, "flow", f->id);/' \
	"observe_test: flow.state events carry the flow id as a string (jq 'select(.flow==N)' misses them)" e2e:observe
mutant proof_natdump_bad_bpf_crashes tools/natdump/nd_pair.c \
	's/\telse\n\t\tsnprintf\(err, errlen, "%s", pcap_geterr\(p\)\);/\telse\n\t\tabort();/' \
	"natdump_test: a bad BPF crashes natdump (SIGABRT) instead of an error" e2e:natdump
mutant proof_replay_summary_translated nat/backend/replay.c \
	's/"translated", st->natted\);/"translated", st->natted - 1);/' \
	"replay_test: the summary's translated count is one short" e2e:replay
mutant proof_control_unforwarded_swallowed nat/core/engine.c \
	's/return verdict\(c, NAT_V_PASS, NAT_R_NO_FORWARD\);/return verdict(c, NAT_V_DROP, NAT_R_NO_FORWARD);/' \
	"control_test: the gateway swallows a SYN to an unforwarded port of nat_ip (the probe times out, never 'refused')" e2e:control
mutant proof_natdump_cut_before_data_silent trace/capture_zstd.c \
	's/\t\t\tif \(z->in_frame\)\n(\t\t\t\treturn zfail\(z,\n\t\t\t\t\t     "truncated zstd frame)/\t\t\tif (z->in_frame \&\& z->in_base + z->in_len >= 4096)\n$1/' \
	"trace_cut_test: a file cut within its first 4 KiB reads as empty, exit 0, no message" e2e:trace_cut

mutant proof_live_forward_wrong_port nat/core/engine.c \
	's/\t\t\town_port = e->rules.fwd\[fwd\].int_port;/\t\t\town_port = (uint16_t)(e->rules.fwd[fwd].int_port + 1);/' \
	"live_test: a port forward sends to the wrong inside port (the forward checks and natdump flows' forward row)" e2e:live
mutant proof_control_forward_remove_noop nat/core/engine_forward.c \
	's/\tnat_eng_fwd_withdraw\(e, found, true\);\n\treturn 0;/\t(void)found;\n\treturn 0;/' \
	"control_test: forward remove answers ok and the forward keeps forwarding" e2e:control
mutant proof_service_watchdog_not_fed nat/platform/notify_unix.c \
	's/\tsend_state\("WATCHDOG=1"\);/\t(void)0;/' \
	"service_test: the systemd watchdog is never fed (systemd kills the unit)" e2e:service

# The kernel fast path (issue 13).
mutant fastpath_no_lease nat/backend/nfqueue_fastpath.c \
	's/\t\t\t.keepalive_ms = NAT_NFQ_FP_LEASE_MS,/\t\t\t.keepalive_ms = 0,/' \
	"after a crash the kernel keeps translating offloaded flows (no lease: not fail closed)" e2e:live
mutant fastpath_udp_zero_csum_mangled nat/backend/fastpath.bpf.c \
	's/\t\t\tif \(proto == IPPROTO_UDP\)\n\t\t\t\tflags \|= BPF_F_MARK_MANGLED_0;/\t\t\t(void)0;/' \
	"the kernel rewrites a UDP checksum of 0 (no checksum) into a wrong one" e2e:fastpath_diff
mutant fastpath_fin_offloaded nat/backend/fastpath.bpf.c \
	's/if \(l4\[13\] & \(TCP_SYN \| TCP_FIN \| TCP_RST\)\)/if (l4[13] \& (TCP_SYN | TCP_RST))/' \
	"the kernel translates a FIN of an offloaded flow: the engine never sees the close" e2e:fastpath_diff

# Events that repeat per packet are rate limited (logging/log.c, issue 19).
mutant table_full_not_rate_limited logging/log.c \
	's/\tcase NAT_EV_TABLE_FULL:\n\t\treturn RL_TABLE_FULL;/\tcase NAT_EV_TABLE_FULL:\n\t\treturn -1;/' \
	"every refused packet writes a table.full event (31,998 in a soak)" unit:log/*
mutant port_exhausted_not_rate_limited logging/log.c \
	's/\tcase NAT_EV_PORT_EXHAUSTED:\n\t\treturn RL_PORT_EXHAUSTED;/\tcase NAT_EV_PORT_EXHAUSTED:\n\t\treturn -1;/' \
	"every refused packet writes a port.exhausted event" unit:log/*
# Data loss is never silent (trace/ring.c, logging/log.c, nat/app).
mutant ring_removes_oldest_at_open trace/ring.c \
	's/\tr->fd = fd;\n\tr->file_bytes = 0;/\tr->fd = fd;\n\tr->n++;\n\tmake_room(r);\n\tr->n--;\n\tr->file_bytes = 0;/' \
	"the ring removes a file with data to make room for one that may stay empty" unit:ring/*
mutant ring_keeps_empty_failed_file trace/ring.c \
	's/\tif \(r->fd >= 0 && r->flushed_bytes == 0\) \{/\tif (0) {/' \
	"a file that never held data stays in the ring, empty" unit:ring/* e2e:diskfull
mutant ring_losses_between_files_dropped trace/ring.c \
	's/\tr->fd = fd;\n\tr->file_bytes = 0;/\tr->fd = fd;\n\tr->lost_recorded = r->lost_now;\n\tr->file_bytes = 0;/' \
	"losses while no file could be written are in no file's statistics block" unit:ring/* e2e:diskfull
mutant ring_unflushed_counted_written trace/ring.c \
	's/\tr->discarded \+= r->unflushed_pkts;/\t(void)0;/' \
	"packets lost with a failed file stay counted as written" unit:ring/* e2e:diskfull
mutant replay_exits_0_on_loss nat/app/cmd_offline.c \
	's/return rc == 0 && !lost \? EX_OK : EX_RUNTIME;/return rc == 0 \&\& (!lost || 1) ? EX_OK : EX_RUNTIME;/' \
	"replay that lost trace packets or events exits 0" e2e:diskfull
mutant trace_error_callback_unconnected nat/app/observe.c \
	's/\tmemset\(to, 0, sizeof\(\*to\)\);\n\tif \(ob->on_error\) \{/\tmemset(to, 0, sizeof(*to));\n\tif (0) {/' \
	"a trace write failure is not said when it happens" e2e:diskfull
mutant log_write_failure_not_told logging/log.c \
	's/\tw->on_error\(w->error_ctx, msg\);/\t(void)msg;/' \
	"an events write failure is only counted, never said" unit:log/* e2e:diskfull
mutant natdump_bad_bpf_exit_1 tools/natdump/nd_cmds.c \
	's/\tif \(!ok\)\n\t\treturn 2;/\tif (!ok)\n\t\treturn 1;/' \
	"natdump exits 1, not 2 (usage), on a filter libpcap cannot compile" e2e:natdump
# What the new end-to-end tests catch alone (issue 19: these were caught
# only by unit tests before).
mutant e2e_only_tcp_csum_delta_dropped nat/core/packet.c \
	's/\t\tcsum_replace\(l4 \+ TCP_OFF_CSUM, d\);/\t\t(void)d;/' \
	"the TCP checksum is not adjusted (live, offload off)" e2e:csum
mutant e2e_only_udp_csum_delta_dropped nat/core/packet.c \
	's/\t\tcsum_replace_udp\(l4 \+ UDP_OFF_CSUM, d\);/\t\t(void)d;/' \
	"the UDP checksum is not adjusted (ports that change, replay)" e2e:translate
mutant e2e_only_filtering_endpoint_independent nat/core/engine.c \
	's/if \(e->cfg.filtering == NAT_FILTER_EI \|\|/if (1 ||/' \
	"address-and-port dependent filtering lets anyone in" e2e:translate
mutant e2e_only_last_seen_not_refreshed nat/core/flow.h \
	's/\tf->last_ns = ts_ns;\n/\t(void)ts_ns;\n/' \
	"a packet does not refresh its flow's last-seen time" e2e:translate

# ---- the harness -------------------------------------------------------------
want=("$@")
selected() {
	[ ${#want[@]} -eq 0 ] && return 0
	local w
	for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-mutants.XXXXXX")
if [ -n "${KEEP:-}" ]; then echo "# scratch copy: $SCRATCH"; else trap 'rm -rf "$SCRATCH"' EXIT; fi
# The tree as it is (tracked and untracked, not ignored), times kept, and
# build/ so the first build is incremental.
git ls-files -z -c -o --exclude-standard | xargs -0 cp -a --parents -t "$SCRATCH" 2>/dev/null
[ -d build ] && cp -a build "$SCRATCH/"
cd "$SCRATCH" || exit 1
mkdir -p pristine

build() {
	make -j"$JOBS" --no-print-directory all build/unit_tests build/natdump_gen \
		build/trace_gen build/hostcfg_drive build/fastpath_diff >"$SCRATCH/build.log" 2>&1
}
# run_test SPEC LOG: 0 when the test passes.
run_test() {
	case $1 in
	unit:*) timeout 900 build/unit_tests --jobs "$JOBS" --filter "${1#unit:}" >>"$2" 2>&1 ;;
	e2e:*) BUILD=build timeout 900 bash "tests/e2e/${1#e2e:}_test.sh" >>"$2" 2>&1 ;;
	*) echo "unknown test $1" >>"$2"; return 2 ;;
	esac
}

echo "# building the scratch copy"
if ! build; then
	tail -n 30 "$SCRATCH/build.log"
	echo "mutants: the unmutated tree does not build"
	exit 1
fi

killed=0 survived=0 broken=0
rows=()
for i in "${!M_NAMES[@]}"; do
	name=${M_NAMES[$i]} file=${M_FILES[$i]} sub=${M_SUBS[$i]}
	selected "$name" || continue
	if [ ! -f "$file" ]; then
		# A name typo in the list: the file argument was taken as the file.
		rows+=("$name|$file|-|NOT APPLIED (no such file)|")
		broken=$((broken + 1))
		continue
	fi
	cp -p "$file" "pristine/${file//\//_}"
	perl -0pi -e "$sub" "$file"
	if cmp -s "$file" "pristine/${file//\//_}"; then
		rows+=("$name|$file|${M_TESTS[$i]}|NOT APPLIED (pattern not found)|")
		broken=$((broken + 1))
		continue
	fi
	log=$SCRATCH/$name.log
	: >"$log"
	echo "# $name: ${M_WHAT[$i]}"
	start=$(date +%s)
	if ! build; then
		result="NOT BUILT"
		broken=$((broken + 1))
		first=$(grep -m1 'error' "$SCRATCH/build.log")
	else
		result=SURVIVED first=
		for t in ${M_TESTS[$i]}; do
			echo "## $t" >>"$log"
			: >"$log.t"
			run_test "$t" "$log.t"
			rc=$?
			cat "$log.t" >>"$log"
			if [ $rc -ne 0 ]; then
				result="killed by $t"
				first=$(grep -m1 -E '^not ok|\[----\].*: (Assertion|Test)|CRASH|crashed' "$log.t")
				[ -n "$first" ] || first="exit $rc"
				break
			fi
		done
		if [ "$result" = SURVIVED ]; then survived=$((survived + 1)); else killed=$((killed + 1)); fi
	fi
	rows+=("$name|$file|${M_TESTS[$i]}|$result ($(($(date +%s) - start)) s)|${first:0:150}")
	echo "#   $result"
	cp -p "pristine/${file//\//_}" "$file"
	touch "$file" # newer than the mutant's objects: the next build redoes them
done

echo
echo "| mutant | file | tests | result | first failing check |"
echo "|---|---|---|---|---|"
for r in "${rows[@]}"; do
	IFS='|' read -r a b c d e <<<"$r"
	echo "| $a | $b | $c | $d | ${e//|/\\|} |"
done
echo
echo "$killed killed, $survived survived, $broken not built"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
