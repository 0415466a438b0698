# Reads `perf script -F comm,tid,ip,sym,dso` (a header line per sample,
# then its frames "ADDR SYMBOL (DSO)", leaf first) and prints where the samples end
# (the leaf functions, -v TOP=N of them) and, for the samples that end in
# a copy routine, which of the queue path's copies it is, by its callers.
# Used by tests/bench/live_profile.sh. -v WHO=name for the title.
function done() {
	tot++
	leaf[top]++
	if (top ~ /^bpf_prog_/) bpf++
	where[topdso ~ /kernel/ ? "the kernel" : topdso ~ /\/glassnat\)$/ ? "glassnat's code" : topdso ~ /libc/ ? "libc" : "other libraries and unknown"]++
	if (top ~ /^(__pi_memcpy|_copy_to_iter|_copy_from_iter|copy_user_generic|rep_movs_alternative|memcpy_orig)$/) {
		c++
		if (stack ~ / skb_ensure_writable / && stack ~ / nfqnl_recv_verdict /) k["verdict: skb_ensure_writable (the packet made linear and writable)"]++
		else if (stack ~ / skb_ensure_writable /) k["skb_ensure_writable elsewhere (a BPF program's header rewrite)"]++
		else if (stack ~ / (do_recvmmsg|netlink_recvmsg) /) k["recvmmsg: the packet copied to user space"]++
		else if (stack ~ / netlink_sendmsg / && top == "_copy_from_iter") k["verdict: the packet copied in from user space"]++
		else if (stack ~ / nfqnl_recv_verdict / && stack ~ / (tcp_v4_rcv|skb_try_coalesce) /) k["reinjected packet, onward: the server's TCP receive"]++
		else if (stack ~ / nfqnl_recv_verdict /) k["verdict: the new packet written into the skb (nfqnl_recv_verdict)"]++
		else if (stack ~ / (__nfqnl_enqueue_packet|nfqnl_enqueue_packet) /) k["enqueue: the packet into the netlink message"]++
		else if (stack ~ / (tcp_sendmsg|tcp_sendmsg_locked) /) k["a TCP sender's copy from user space"]++
		else if (stack ~ / tcp_recvmsg /) k["a TCP receiver's copy to user space"]++
		else k["other"]++
	}
}
/^[^ \t]/ { if (n) done(); n = 1; top = ""; stack = " "; next }
NF >= 2 { s = $2; if (top == "") { top = s; topdso = $NF }; stack = stack s " "; next }
END {
	if (n) done()
	if (!tot) { print "no samples"; exit 1 }
	printf "%s: %d samples; %.1f%% end in a copy routine:\n", WHO, tot, 100 * c / tot
	for (x in k) printf "  %5.1f%%  %s\n", 100 * k[x] / tot, x
	printf "by where the leaf is:"
	for (x in where) printf " %s %.1f%%;", x, 100 * where[x] / tot
	printf "\nBPF programs (the fast path's is bpf_prog_..._glassnat_fp), self: %.1f%%", 100 * bpf / tot
	printf "\nwhere the samples end (self time):\n"
	for (x in leaf) printf "  %5.1f%%  %s\n", 100 * leaf[x] / tot, x | ("sort -rn | head -" (TOP ? TOP : 20))
}
