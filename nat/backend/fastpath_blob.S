/* The fast path's BPF object (build/bpf/fastpath.bpf.o, built from
 * fastpath.bpf.c) as read-only data in the binary, for libbpf's
 * bpf_object__open_mem() (fastpath_linux.c). The Makefile passes the
 * object's path as NAT_FP_BPF_OBJ. */
	.section .rodata
	.balign 8
	.global nat_fp_bpf_obj
	.global nat_fp_bpf_obj_end
nat_fp_bpf_obj:
	.incbin NAT_FP_BPF_OBJ
nat_fp_bpf_obj_end:
	.section .note.GNU-stack,"",@progbits
