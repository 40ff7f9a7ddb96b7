# peerheap: `make` builds the library and tool; `make test` installs missing
# Debian packages, builds and runs every test; `make demo` runs the main job.
VERSION := 0.1.0

CC ?= cc
BUILD ?= build
PREFIX ?= /usr/local
PKGS := libsecp256k1 libsodium jemalloc libpcap
# Debian packages everything here needs, tests and captures included.
DEB_PKGS := libsecp256k1-dev libsodium-dev libjemalloc-dev libpcap-dev libcmocka-dev \
            pkg-config tcpdump tshark python3-electrum

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
# lib/ is grouped by subsystem; modules include each other by bare name.
LIB_DIRS := $(sort $(dir $(wildcard lib/*/*.c lib/*/*.h)))
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SAN_FLAGS) -D_GNU_SOURCE \
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
.PHONY: tests-build all deps test test-run asan demo bench captures install clean check-clang fuzz

all: $(BUILD)/libpeerheap.a $(BUILD)/libpeerheap.so $(BUILD)/peerheap

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
	$(Q)$(CC) $(SAN_FLAGS) -shared -Wl,-soname,libpeerheap.so.0 -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/peerheap: $(TOOL_OBJ) $(BUILD)/libpeerheap.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libpeerheap.a $(LDLIBS_ALL)

$(BUILD)/obj/tests/%.o: tests/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/support -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SUPPORT_OBJ) $(BUILD)/libpeerheap.a
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $< $(SUPPORT_OBJ) $(BUILD)/libpeerheap.a $(CMOCKA_LIBS) $(LDLIBS_ALL)

tests-build: all $(TEST_BIN)

# Installs only what is missing; uses sudo when not root.
deps:
	@sh tool/deps.sh $(DEB_PKGS)

test: deps
	@$(MAKE) --no-print-directory test-run

test-run: tests-build
	@sh tests/run.sh $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test-run

check-clang: deps
	@command -v clang >/dev/null 2>&1 || sh tool/deps.sh clang
	@$(MAKE) --no-print-directory BUILD=build-clang CC=clang tests-build

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

# The differential fuzz target of our BOLT 8 frame cipher against libsodium
# (tests/fuzz/fuzz_chachapoly.c: clang's libFuzzer with ASan + UBSan);
# `make test` runs the same check on a fixed seed.
FUZZ_RUNS ?= 100000
fuzz: deps
	@command -v clang >/dev/null 2>&1 || sh tool/deps.sh clang
	@mkdir -p build-fuzz
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	    $(addprefix -I,$(LIB_DIRS:/=)) $(PKG_CFLAGS) tests/fuzz/fuzz_chachapoly.c \
	    lib/bolt8/chachapoly.c $(PKG_LIBS) -o build-fuzz/fuzz_chachapoly
	build-fuzz/fuzz_chachapoly -runs=$(FUZZ_RUNS) -seed=1 -max_len=64

# Re-records the bundled captures with real peers and tcpdump (needs root
# or capture rights on lo); see captures/README.md.
captures: deps
	@$(MAKE) --no-print-directory all
	sh captures/make-captures.sh $(BUILD)/peerheap

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/peerheap \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/peerheap $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libpeerheap.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libpeerheap.so $(DESTDIR)$(PREFIX)/lib/libpeerheap.so.0
	ln -sf libpeerheap.so.0 $(DESTDIR)$(PREFIX)/lib/libpeerheap.so
	install -m 644 $(filter-out %_impl.h,$(wildcard lib/*/*.h)) $(DESTDIR)$(PREFIX)/include/peerheap/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tool/peerheap.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/peerheap.pc

clean:
	rm -rf build build-asan build-clang build-fuzz
