# glassnat — the one entry point.
#   make            build glassnat and natdump into build/
#   make deps       install missing Debian packages (apt-get)
#   make test       deps + build + unit tests + replay/e2e tests (root) +
#                   the fuzz targets on their seed corpora + windows-test;
#                   each suite ends "N passed, M failed, K skipped"
#   make SAN=1 test the same with AddressSanitizer + UBSan (build-san/)
#   make demo       the demo (root)
#   make bench      engine benchmarks
#   make bench-live the live benchmark alone (glassnat with and without its
#                   fast path against the kernel, two topologies; RUNS=N)
#   make fuzz       build the libFuzzer targets and run each FUZZ_SECONDS
#   make fuzz-seeds the libFuzzer targets on their seed corpora, once
#   make mutants    the mutation smoke (scripts/mutants.sh; not in CI)
#   make install    install binaries, man pages, docs, example configs,
#                   the systemd units and /etc/glassnat/glassnat.yaml
#                   (kept when it exists); make uninstall removes them
#   make deb        the Debian package (dpkg-buildpackage) into build-deb/,
#                   copied here as glassnat_VERSION_ARCH.deb
#   make windows    glassnat.exe, natdump.exe (mingw-w64) into build-win/
#   make windows-test  the Windows build under wine against the Linux one
#   make clean

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/glassnat
MANDIR ?= $(PREFIX)/share/man
FUZZ_SECONDS ?= 60

WARN := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wmissing-prototypes
# nat/ is split by concern (see README's layout); every folder is on the
# include path, so a header is named by its file name alone.
NAT_DIRS := nat/core nat/config nat/backend nat/control nat/app nat/platform
CPPFLAGS += -D_GNU_SOURCE $(NAT_DIRS:%=-I%) -Itrace -Ilogging
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 $(WARN) -fno-strict-aliasing
LDLIBS := -lyaml -lpcap -lzstd -ljansson -lpthread -lm -lnetfilter_queue -lmnl -lmicrohttpd
LDLIBS += -lbpf

ifeq ($(SAN),1)
BUILD ?= build-san
CFLAGS := -std=c11 $(WARN) -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD ?= build
endif

# Platform-only sources by name: *_win.c and the WinDivert backend build
# only for Windows (mk/windows.mk), *_unix.c and the NFQUEUE backend only
# for Linux. Everything but main.c goes into one static library, which the
# programs, the unit tests and the benches link.
# *.bpf.c are BPF programs, built by clang for the BPF target (below).
NAT_SRC := $(filter-out %.bpf.c, $(wildcard $(NAT_DIRS:%=%/*.c)))
NAT_MAIN := nat/app/main.c
WIN_ONLY := %_win.c nat/backend/windivert.c
LINUX_ONLY := %_unix.c nat/backend/nfqueue%.c nat/backend/fastpath%.c
LIB_SRC := $(filter-out $(NAT_MAIN) $(WIN_ONLY), $(NAT_SRC)) \
	$(wildcard trace/*.c) $(wildcard logging/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/nat/backend/fastpath_blob.o
LIB := $(BUILD)/libglassnat.a

NATDUMP_SRC := $(wildcard tools/natdump/*.c)
NATDUMP_OBJ := $(NATDUMP_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)

BENCH_SRC := $(wildcard tests/bench/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)

PROGS := $(BUILD)/glassnat
ifneq ($(NATDUMP_SRC),)
PROGS += $(BUILD)/natdump
endif

.PHONY: all deps test unit e2e demo bench bench-live fuzz fuzz-build fuzz-seeds mutants \
	install uninstall deb clean format check-root
all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The fast path's BPF program (docs/fastpath.md): clang for the BPF target
# (never the C rules above, never the Windows build), then linked into the
# library as data (fastpath_blob.S .incbin's it) for libbpf to open from
# memory. -ffreestanding: clang's own stdint.h, not glibc's (which wants
# a 32-bit stubs header for a target it does not know).
BPF_CC ?= clang
BPF_CFLAGS := -target bpf -O2 -g -ffreestanding $(WARN) -Inat/backend -Inat/core \
	-I/usr/include/$(shell gcc -print-multiarch 2>/dev/null)
$(BUILD)/bpf/fastpath.bpf.o build-fuzz/bpf/fastpath.bpf.o: nat/backend/fastpath.bpf.c
	@mkdir -p $(dir $@)
	$(BPF_CC) $(BPF_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/obj/nat/backend/fastpath_blob.o: nat/backend/fastpath_blob.S $(BUILD)/bpf/fastpath.bpf.o
	@mkdir -p $(dir $@)
	$(CC) -DNAT_FP_BPF_OBJ='"$(BUILD)/bpf/fastpath.bpf.o"' -c $< -o $@
build-fuzz/obj/nat/backend/fastpath_blob.o: nat/backend/fastpath_blob.S build-fuzz/bpf/fastpath.bpf.o
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -DNAT_FP_BPF_OBJ='"build-fuzz/bpf/fastpath.bpf.o"' -c $< -o $@

$(BUILD)/glassnat: $(NAT_MAIN:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/natdump: $(NATDUMP_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit_tests: $(UNIT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(BUILD)/bench_engine: $(BENCH_SRC) $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O3 $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Test helpers the e2e scripts and benches run (built like the rest, so
# SAN=1 gets sanitized helpers too).
E2E_TOOLS := $(BUILD)/natdump_gen $(BUILD)/trace_gen $(BUILD)/hostcfg_drive
E2E_TOOLS += $(BUILD)/fastpath_diff
$(BUILD)/fastpath_diff: tests/e2e/fastpath_diff.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/hostcfg_drive: tests/e2e/hostcfg_drive.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/natdump_gen: tests/e2e/natdump_gen.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/trace_gen: tests/e2e/trace_gen.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/deps.sh

# Unit tests need no privileges; the replay and namespace tests run as root
# (scripts/as-root.sh re-runs them through sudo for a normal user).
# The unit tests' TAP report is summed into the line every suite ends with;
# a test Criterion skips (cr_skip_test) is counted apart, and a report with
# fewer results than its plan (the runner died) is a failure.
unit: $(BUILD)/unit_tests
	@$(BUILD)/unit_tests --jobs 2 --tap=$(BUILD)/unit.tap; rc=$$?; \
	grep '^not ok\|# SKIP' $(BUILD)/unit.tap; \
	awk -v rc=$$rc '/^1\.\.[0-9]+$$/ { plan = substr($$0, 4) } \
		/^not ok / { f++; next } /^ok .*# SKIP/ { s++; next } /^ok / { p++ } \
		END { if (p + f + s != plan) { print "not ok - unit_tests: " p + f + s \
			" results for a plan of " plan; f++ } \
		if (rc && !f) { print "not ok - unit_tests exited " rc; f++ } \
		printf "%d passed, %d failed, %d skipped\n", p, f, s; exit f > 0 }' \
		$(BUILD)/unit.tap

e2e: all $(E2E_TOOLS)
	@BUILD=$(BUILD) scripts/as-root.sh tests/e2e/run.sh

# Nothing is skipped for a missing tool: `make deps` installs them all, and
# `scripts/deps.sh --check` fails naming any that is still missing.
test: deps
	@scripts/deps.sh --check
	@$(MAKE) --no-print-directory all $(BUILD)/unit_tests
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory fuzz-seeds
	@$(MAKE) --no-print-directory windows-test

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/as-root.sh scripts/demo.sh

# Engine figures, natdump against tshark on a 1 GB ring set, then the
# live path: glassnat against the kernel's own nftables masquerade in one
# namespace topology (root).
bench: $(BUILD)/bench_engine all $(E2E_TOOLS)
	$(BUILD)/bench_engine
	@BUILD=$(BUILD) tests/bench/natdump_bench.sh
	@BUILD=$(BUILD) scripts/as-root.sh tests/bench/live_bench.sh
bench-live: all
	@BUILD=$(BUILD) scripts/as-root.sh tests/bench/live_bench.sh

# libFuzzer targets are built by clang with the sanitizers, apart from the
# gcc objects, in build-fuzz/: the library once (instrumented for coverage,
# fuzzer-no-link), then each target linked against it. The fuzz build is
# always sanitized, whatever SAN says.
FUZZ_CC ?= clang
FUZZ_SAN := address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -g -O1 $(WARN) -Wno-unused-command-line-argument
FUZZ_OBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o) build-fuzz/obj/nat/backend/fastpath_blob.o
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) \
		-MMD -MP -c $< -o $@
build-fuzz/libglassnat.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libglassnat.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) \
		-o $@ $< build-fuzz/libglassnat.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

# Every target replays its seed corpus once (-runs=0: the seeds, no
# mutation) under ASan + UBSan; a crash, a leak or a target without seeds
# fails. Seconds once built; make fuzz is the long run.
fuzz-seeds: fuzz-build
	@p=0; f=0; for t in $(FUZZ_BIN); do \
		name=$$(basename $$t); seeds=tests/fuzz/seeds/$$name; \
		n=$$(ls $$seeds 2>/dev/null | wc -l); \
		if [ "$$n" -eq 0 ]; then echo "not ok - $$name: no seed corpus in $$seeds"; \
			f=$$((f + 1)); continue; fi; \
		if $$t -runs=0 -timeout=10 -rss_limit_mb=2048 $$seeds \
			>build-fuzz/$$name.seeds.log 2>&1; then \
			echo "ok - $$name: $$n seeds"; p=$$((p + 1)); \
		else echo "not ok - $$name: $$n seeds"; sed 's/^/#   /' build-fuzz/$$name.seeds.log | tail -n 30; \
			f=$$((f + 1)); fi; \
	done; echo "$$p passed, $$f failed, 0 skipped"; [ $$f -eq 0 ]

mutants: all $(BUILD)/unit_tests
	@scripts/mutants.sh

fuzz: deps fuzz-build
	@set -e; for f in $(FUZZ_BIN); do \
		name=$$(basename $$f); corpus=build-fuzz/corpus-$$name; \
		mkdir -p $$corpus; \
		seeds=tests/fuzz/seeds/$$name; [ -d $$seeds ] || seeds=; \
		echo "== $$name: $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-timeout=10 -rss_limit_mb=2048 $$corpus $$seeds; \
	done

# What `make install` puts in place: programs, man pages, the docs and the
# events schema, example configs (no test configs), the systemd units
# (ExecStart pointed at PREFIX), and the default config, never over an
# existing one.
INSTALL_DOCS := README.md $(wildcard docs/*.md) docs/events.schema.json
INSTALL_EXAMPLES := configs/glassnat.yaml configs/full-example.yaml \
	configs/hyper-nat.yaml configs/lab.yaml
INSTALL_UNITS := systemd/glassnat.service systemd/glassnat@.service
INSTALL_MAN := $(wildcard docs/man/*.[0-9])
ETC_CONF := $(DESTDIR)$(SYSCONFDIR)/glassnat/glassnat.yaml

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/glassnat
	install -m 0755 $(BUILD)/glassnat $(DESTDIR)$(PREFIX)/sbin/glassnat
	if [ -x $(BUILD)/natdump ]; then \
		install -m 0755 $(BUILD)/natdump $(DESTDIR)$(PREFIX)/bin/natdump; fi
	install -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(INSTALL_EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/glassnat/wireshark contrib/wireshark/glassnat.lua contrib/wireshark/preferences
	@set -e; for m in $(INSTALL_MAN); do s=$${m##*.}; \
		install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	@set -e; for u in $(INSTALL_UNITS); do \
		sed 's|/usr/sbin/glassnat|$(PREFIX)/sbin/glassnat|' $$u \
			>$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; done
	@if [ -e $(ETC_CONF) ]; then echo "kept $(ETC_CONF)"; else \
		install -m 0644 configs/glassnat.yaml $(ETC_CONF); fi

# Removes what install put in place; the config only when unchanged.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/glassnat $(DESTDIR)$(PREFIX)/bin/natdump
	rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(PREFIX)/share/glassnat/wireshark
	-@rmdir $(DESTDIR)$(PREFIX)/share/glassnat 2>/dev/null
	@set -e; for m in $(INSTALL_MAN); do s=$${m##*.}; \
		rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done
	@set -e; for u in $(INSTALL_UNITS); do \
		rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; done
	@if cmp -s configs/glassnat.yaml $(ETC_CONF); then rm -f $(ETC_CONF); \
		elif [ -e $(ETC_CONF) ]; then echo "kept $(ETC_CONF) (changed)"; fi
	-@rmdir $(DESTDIR)$(SYSCONFDIR)/glassnat 2>/dev/null

# The Debian package, built by dpkg-buildpackage from a copy of the
# sources in build-deb/ (the parent directory gets no files), then copied
# here: apt-get install ./glassnat_*.deb
DEB_VERSION = $(shell dpkg-parsechangelog -S Version)
DEB_SRC := Makefile mk nat logging trace tools configs docs systemd debian contrib \
	scripts README.md
deb:
	@command -v dpkg-buildpackage >/dev/null || { \
		echo "make deb: dpkg-buildpackage missing (make deps)"; exit 1; }
	rm -rf build-deb
	mkdir -p build-deb/glassnat-$(DEB_VERSION)
	cp -a $(DEB_SRC) build-deb/glassnat-$(DEB_VERSION)/
	cd build-deb/glassnat-$(DEB_VERSION) && dpkg-buildpackage -us -uc -b
	rm -f glassnat_*.deb
	cp build-deb/glassnat_$(DEB_VERSION)_*.deb .

format:
	clang-format -i $(NAT_DIRS:%=%/*.[ch]) trace/*.[ch] logging/*.[ch] tools/natdump/*.[ch] \
		tests/unit/*.c tests/fuzz/*.c tests/bench/*.c 2>/dev/null || true

clean:
	rm -rf build build-san build-fuzz build-win build-deb glassnat_*.deb

include mk/windows.mk

-include $(shell find $(BUILD) build-fuzz/obj build-fuzz/bpf -name '*.d' 2>/dev/null)
