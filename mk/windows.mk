# `make windows`, `make windows-test`: glassnat.exe and natdump.exe cross-
# built with mingw-w64 into build-win/, and tested under wine against the
# Linux build (tests/windows/windows_test.sh). Included by the Makefile.
# docs/windows.md explains what is built, how, and what is not tested.
#
# The third-party libraries (libyaml, zstd, libpcap without capture,
# jansson) are cross-built from Debian's source packages by
# scripts/windows-libs.sh into build-win/third_party/ (not committed).

W := build-win
W_HOST := x86_64-w64-mingw32
W_CC := $(W_HOST)-gcc
W_AR := $(W_HOST)-ar
W_TP := $(W)/third_party
# nat/win32 first: POSIX headers for what mingw-w64 lacks (see its README).
# -Wno-format: gcc checks "printf" format attributes against msvcrt's
# printf there, while __USE_MINGW_ANSI_STDIO=1 gives the programs C99's
# (%zu, %llu, %j); the Linux build checks every format.
W_CPPFLAGS := -Inat/platform/win32 $(NAT_DIRS:%=-I%) -Itrace -Ilogging -I$(W_TP)/include \
	-D_GNU_SOURCE -D__USE_MINGW_ANSI_STDIO=1 -D_WIN32_WINNT=0x0A00 \
	-DYAML_DECLARE_STATIC -DPCAP_STATIC
W_CFLAGS := -std=c11 $(WARN) -Wno-format -O2 -g -fno-strict-aliasing
W_LDFLAGS := -static -L$(W_TP)/lib
W_LDLIBS := -lyaml -lpcap -lzstd -ljansson -lpthread -lbcrypt -lws2_32 \
	-liphlpapi -lversion

# The Makefile's LINUX_ONLY sources stay out; platform.c is linked as an
# object (below).
W_LIB_SRC := $(filter-out $(NAT_MAIN) $(LINUX_ONLY) nat/platform/platform.c, \
	$(NAT_SRC)) $(wildcard trace/*.c) $(wildcard logging/*.c)
W_LIB_OBJ := $(W_LIB_SRC:%.c=$(W)/obj/%.o)
W_LIB := $(W)/libglassnat.a
W_PLAT := $(W)/obj/nat/platform/platform.o
W_NATDUMP_OBJ := $(NATDUMP_SRC:%.c=$(W)/obj/%.o)
W_STAMP := $(W_TP)/.stamp-all

.PHONY: windows windows-libs windows-test windows-clean

windows: $(W)/glassnat.exe $(W)/natdump.exe

$(W_STAMP): scripts/windows-libs.sh
	@W=$(W) scripts/windows-libs.sh
	@touch $@

windows-libs: $(W_STAMP)

$(W)/obj/%.o: %.c $(W_STAMP)
	@mkdir -p $(dir $@)
	$(W_CC) $(W_CPPFLAGS) $(W_CFLAGS) -MMD -MP -c $< -o $@

$(W_LIB): $(W_LIB_OBJ)
	@rm -f $@
	$(W_AR) rcs $@ $^

# platform.o is linked as an object, not from the archive: its constructor
# (binary stdout/stderr) and _CRT_glob must be in every program.
$(W)/glassnat.exe: $(W)/obj/$(NAT_MAIN:.c=.o) \
		$(W_PLAT) $(W_LIB)
	$(W_CC) $(W_LDFLAGS) -o $@ $^ $(W_LDLIBS)

$(W)/natdump.exe: $(W_NATDUMP_OBJ) $(W_PLAT) $(W_LIB)
	$(W_CC) $(W_LDFLAGS) -o $@ $^ $(W_LDLIBS)

# The control pipe's checks under wine (tests/windows/ctl_test.c).
$(W)/ctl_test.exe: $(W)/obj/tests/windows/ctl_test.o $(W_PLAT) $(W_LIB)
	$(W_CC) $(W_LDFLAGS) -o $@ $^ $(W_LDLIBS)

# The real WinDivert.dll, built from WinDivert's unmodified source in
# ../shared/third_party (beside the project, never copied into it; the
# command is that folder's README's), and tests/windows/wd_filter_test.c
# linked with glassnat's filter generator, which loads it: glassnat's
# filters through WinDivert's own compiler and evaluator under wine
# (tests/windows/windivert_test.sh). Without the folder the checks are
# counted as skipped.
WD_SRC := $(firstword $(wildcard ../shared/third_party/windivert-2.2.0))
WD_DIR := $(W)/wd
ifneq ($(WD_SRC),)
WD_TEST := $(WD_DIR)/WinDivert.dll $(WD_DIR)/wd_filter_test.exe
$(WD_DIR)/WinDivert.dll: $(WD_SRC)/dll/windivert.c $(WD_SRC)/dll/windivert.def
	@mkdir -p $(dir $@)
	$(W_CC) -shared -Os -I$(WD_SRC)/include -Wl,--enable-stdcall-fixup \
		-Wl,--entry=WinDivertDllEntry $^ -nostdlib -lkernel32 -ladvapi32 -o $@
$(W)/obj/tests/windows/wd_filter_test.o: \
	W_CPPFLAGS += -DWD_HEADER='"$(abspath $(WD_SRC))/include/windivert.h"'
$(WD_DIR)/wd_filter_test.exe: $(W)/obj/tests/windows/wd_filter_test.o \
		$(W_PLAT) $(W_LIB)
	@mkdir -p $(dir $@)
	$(W_CC) $(W_LDFLAGS) -o $@ $^ $(W_LDLIBS)
endif

windows-test: windows $(W)/ctl_test.exe $(WD_TEST) all
	@BUILD=$(BUILD) W=$(W) WD_SRC=$(WD_SRC) tests/windows/windows_test.sh
	@BUILD=$(BUILD) W=$(W) tests/windows/expected_test.sh
	@W=$(W) tests/windows/service_test.sh

# The service test's stand-in for WinDivert.dll (wine has no driver).
$(W)/fakedivert/WinDivert.dll: tests/windows/fake_windivert.c
	@mkdir -p $(dir $@)
	$(W_CC) -std=c11 $(WARN) -O2 -shared -o $@ $<
windows-test: $(W)/fakedivert/WinDivert.dll

windows-clean:
	rm -rf $(W)/obj $(W)/libglassnat.a $(W)/*.exe

-include $(shell find $(W)/obj -name '*.d' 2>/dev/null)
