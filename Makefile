# peerheap: `make` builds the library and tool; `make test` installs missing
# Debian packages, builds and runs every test; `make demo` runs the main job.
VERSION := 0.1.0

CC ?= cc
BUILD ?= build
PREFIX ?= /usr/local
PKGS := libsecp256k1 libsodium jemalloc libpcap jansson
# Debian packages everything here needs, tests and captures included.
DEB_PKGS := libsecp256k1-dev libsodium-dev libjemalloc-dev libpcap-dev libjansson-dev \
            libcmocka-dev pkg-config tcpdump tshark python3-electrum groff-base lcov valgrind clang \
            libclang-rt-14-dev chromium fonts-dejavu-core python3-pil
# The Debian package of each pkg-config name the build needs.
DEB_OF_libsecp256k1 := libsecp256k1-dev
DEB_OF_libsodium := libsodium-dev
DEB_OF_jemalloc := libjemalloc-dev
DEB_OF_libpcap := libpcap-dev
DEB_OF_jansson := libjansson-dev
DEB_OF_cmocka := libcmocka-dev

# Targets that install the packages first (or need none) skip the check:
# everything else stops at once with one line naming what is missing,
# instead of a compiler error about a header.
NO_CHECK_GOALS := deps test asan check-clang check-bolt demo bench captures clean mutants coverage fuzz
ifneq ($(filter-out $(NO_CHECK_GOALS),$(or $(MAKECMDGOALS),all)),)
CHECK_PKGS := $(PKGS) $(if $(filter tests-build test-run,$(MAKECMDGOALS)),cmocka)
MISSING_PKGS := $(if $(shell command -v pkg-config),$(foreach p,$(CHECK_PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,$(DEB_OF_$(p)))),pkg-config $(foreach p,$(CHECK_PKGS),$(DEB_OF_$(p))))
ifneq ($(strip $(MISSING_PKGS)),)
$(error missing Debian packages: $(strip $(MISSING_PKGS)); run 'make deps' (installs them))
endif
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
SAN_FLAGS :=
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
# COV=1 (make coverage): gcov instrumentation; forked children that end with
# _exit write their counters too (lib/util/coverage.c wraps _exit).
COV_CFLAGS :=
COV_LDFLAGS :=
ifeq ($(COV),1)
COV_CFLAGS := --coverage -DPH_COVERAGE
COV_LDFLAGS := --coverage -Wl,--wrap=_exit
endif
# What the tests need to know about this build (tests/run.sh, tests/e2e):
# sanitizer builds may skip jemalloc measurements (declared); a program
# linked against the library needs the same runtime flags.
TEST_ENV = PH_SANITIZER=$(if $(filter 1,$(SAN)),1,0) PH_CC='$(CC)' \
           PH_LINK_FLAGS='$(strip $(SAN_FLAGS) $(COV_LDFLAGS))'
# lib/ is grouped by subsystem; modules include each other by bare name.
LIB_DIRS := $(sort $(dir $(wildcard lib/*/*.c lib/*/*.h)))
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SAN_FLAGS) $(COV_CFLAGS) -D_GNU_SOURCE \
             -DPH_VERSION='"$(VERSION)"' $(addprefix -I,$(LIB_DIRS:/=)) $(PKG_CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lm -lpthread

# `make V=1` shows the full command lines.
Q := $(if $(filter 1,$(V)),,@)
msg = $(if $(Q),@printf '  %-6s %s\n' $(1) $(2))

LIB_SRC := $(sort $(wildcard lib/*/*.c))
TOOL_SRC := $(sort $(wildcard tool/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT := $(sort $(wildcard tests/support/*.c))
HDRS := $(wildcard lib/*/*.h tool/*.h tests/support/*.h)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_PIC := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.SECONDARY:
.PHONY: tests-build all deps test test-run asan demo bench captures install clean check-clang \
        check-bolt mutants coverage fuzz fuzz-build

all: $(BUILD)/libpeerheap.a $(BUILD)/libpeerheap.so $(BUILD)/peerheap $(BUILD)/peerheap.1

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC-PIC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/libpeerheap.a: $(LIB_OBJ)
	@rm -f $@
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $^

$(BUILD)/libpeerheap.so: $(LIB_PIC)
	$(call msg,LD,$@)
	$(Q)$(CC) $(SAN_FLAGS) $(COV_LDFLAGS) -shared -Wl,-soname,libpeerheap.so.0 -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/peerheap: $(TOOL_OBJ) $(BUILD)/libpeerheap.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(SAN_FLAGS) $(COV_LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libpeerheap.a $(LDLIBS_ALL)

# The man page: each command's section is its --help text (no drift).
$(BUILD)/peerheap.1: $(BUILD)/peerheap tool/peerheap.1.in tool/gen_man.sh
	$(call msg,MAN,$@)
	$(Q)sh tool/gen_man.sh $(BUILD)/peerheap tool/peerheap.1.in $(VERSION) >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/tests/%.o: tests/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/support -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SUPPORT_OBJ) $(BUILD)/libpeerheap.a
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(SAN_FLAGS) $(COV_LDFLAGS) -o $@ $< $(SUPPORT_OBJ) $(BUILD)/libpeerheap.a \
	    $(CMOCKA_LIBS) $(LDLIBS_ALL)

tests-build: all $(TEST_BIN)

# The GC model's test compiles in the executable's free() (tool/freeshim.c).
$(BUILD)/obj/tests/test_gcmodel.o: tool/freeshim.c

# Installs only what is missing; uses sudo when not root.
deps:
	@sh tool/deps.sh $(DEB_PKGS)

test: deps
	@$(MAKE) --no-print-directory test-run

# TESTS="test_x e2e:y ..." runs only those (default: everything).
test-run: tests-build
	@$(TEST_ENV) sh tests/run.sh $(BUILD) $(TESTS)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test-run

# Is the suite able to fail? Each mutant of tests/mutants.txt (a deliberate
# bug) is applied to a scratch copy and must make the suite fail; see
# tests/mutants.sh (MUTANT_TESTS, MUTANT_ONLY). Exits 1 if one survives.
mutants: deps
	@sh tests/mutants.sh

# Line coverage of the whole suite (gcov + lcov) in build-cov: HTML report in
# build-cov/coverage/index.html, per-file figures of lib/ printed.
coverage: deps
	@$(MAKE) --no-print-directory BUILD=build-cov COV=1 CFLAGS='-O0 -g' tests-build
	@MAKE='$(MAKE)' sh tests/coverage.sh build-cov

check-clang: deps
	@command -v clang >/dev/null 2>&1 || sh tool/deps.sh clang
	@$(MAKE) --no-print-directory BUILD=build-clang CC=clang tests-build

# Every /* BOLT #N: ... */ quote in lib/ and tool/ must be the spec's exact
# text (whitespace aside) at the commit the wire table is pinned to; the spec
# files are committed in tests/vectors/bolts/ with their sha256, never
# fetched (tool/check_bolt.py).
check-bolt:
	@command -v python3 >/dev/null 2>&1 || sh tool/deps.sh python3
	@python3 tool/check_bolt.py

# libFuzzer targets (tests/fuzz/fuzz_*.c), clang with ASan and UBSan, in
# build-fuzz: `make fuzz FUZZ_SECONDS=N` runs each for N seconds from its
# seed corpus in tests/fuzz/corpus/ (tests/fuzz/run.sh; a crash fails and
# its input is kept in build-fuzz/crashes/).
FUZZ_SECONDS ?= 30
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(BUILD)/libpeerheap.a $(HDRS)
	@mkdir -p $(dir $@)
	$(call msg,FUZZ,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(BUILD)/libpeerheap.a \
	    $(LDLIBS_ALL)

fuzz-build: $(FUZZ_BIN)

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	    SAN_FLAGS='$(FUZZ_SAN) -fsanitize=fuzzer-no-link' fuzz-build
	@sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# The main job on the bundled capture: every strategy, 64 simulated peers
# relaying the captured gossip, the deterministic model sink (about 30 s on
# 2 cores; the socket sink takes about three times as long at 64 peers).
DEMO_CAPTURE ?= $(firstword $(wildcard captures/gossip-flood.pcap) captures/mainnet-gossip.lnmsgs)
DEMO_ARGS ?= --peers 64 --transport model --strategy all

demo: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/peerheap replay $(DEMO_CAPTURE) $(DEMO_ARGS)

# Every speed and memory goal, one Markdown table each (tests/bench/run.sh):
# the write path against the naive libsodium framing and node-lightning,
# --jobs, 1,000 peers, idle peers, dump against tshark, the harness's cost.
# Medians of interleaved rounds. Timing lives here, never in tests.
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libpeerheap.a $(HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC-LD,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpeerheap.a $(LDLIBS_ALL)

bench: deps
	@$(MAKE) --no-print-directory -s all $(BENCH_BIN) >&2
	@sh tests/bench/run.sh $(BUILD)

# Re-records the bundled captures with real peers and tcpdump (needs root
# or capture rights on lo); see captures/README.md.
captures: deps
	@$(MAKE) --no-print-directory all
	sh captures/make-captures.sh $(BUILD)/peerheap

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/peerheap \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/peerheap $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/peerheap.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(BUILD)/libpeerheap.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libpeerheap.so $(DESTDIR)$(PREFIX)/lib/libpeerheap.so.0
	ln -sf libpeerheap.so.0 $(DESTDIR)$(PREFIX)/lib/libpeerheap.so
	install -m 644 $(filter-out %_impl.h,$(wildcard lib/*/*.h)) $(DESTDIR)$(PREFIX)/include/peerheap/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tool/peerheap.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/peerheap.pc

clean:
	rm -rf build build-asan build-clang build-cov build-fuzz
