# netmcu - NodeMCU's net module for POSIX hosts, on libuv and c-ares.
#   make                 build/netmcu, build/net.so (+ build/tmr.so)
#   make LUA=5.1|5.4|luajit   against another Lua (default 5.3)
#   make check           every test: the suite on this build and on ASan+UBSan
#   make test            the suite on this build only (make test-asan: sanitized)
#   make install PREFIX=/usr/local DESTDIR=
VERSION := 0.1.0
LUA ?= 5.3
BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=

ifeq ($(LUA),luajit)
  LUA_PC := luajit
  LUA_BIN := luajit
  LUA_ABI := 5.1
else
  LUA_PC := lua$(LUA)
  LUA_BIN := lua$(LUA)
  LUA_ABI := $(LUA)
endif

PKG_CONFIG ?= pkg-config
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LUA_PC) libuv libcares 2>/dev/null)
UV_LIBS := $(shell $(PKG_CONFIG) --libs libuv libcares 2>/dev/null)
LUA_LIBS := $(shell $(PKG_CONFIG) --libs $(LUA_PC) 2>/dev/null)

CC ?= cc
OPT ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC $(OPT) -Isrc \
          -DNETMCU_VERSION='"$(VERSION)"' $(DEPS_CFLAGS) $(SAN)
LDFLAGS += $(SAN)

# src/core: loop, objects, protected calls; src/net: the net module;
# src/modules: one file per other NodeMCU module; src/runtime: netmcu.
SRCS := $(wildcard src/core/*.c src/net/*.c src/modules/*.c)
OBJS := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
HDRS := $(wildcard src/*/*.h)
# A <name>.so shim for every module but net (core/modules.h lists them).
MODULES := $(shell sed -n 's/^ *X(\([a-z0-9_]*\)).*/\1/p' src/core/modules.h)
SHIMS := $(patsubst %,$(BUILD)/%.so,$(filter-out net,$(MODULES)))

LMOD := $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)

.PHONY: rock install-rock all check-deps test-deps check test test-asan asan demo install uninstall clean bench

all: check-deps $(BUILD)/netmcu $(BUILD)/net.so $(SHIMS)

check-deps:
	@sh scripts/setup.sh $(if $(filter 5.3,$(LUA)),build,all)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The runtime: src/runtime/*.c but the module shim.
RT_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(filter-out src/runtime/modshim.c,$(wildcard src/runtime/*.c)))
$(BUILD)/netmcu: $(RT_OBJS) $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LUA_LIBS) $(UV_LIBS) -lm

# The module does not link Lua: the interpreter that loads it provides it.
$(BUILD)/net.so: $(OBJS)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(UV_LIBS) -lm

# tmr.so, node.so, ... are shims that open their module from net.so, so a
# state has one loop however the files are copied (src/runtime/modshim.c).
$(SHIMS): $(BUILD)/%.so: src/runtime/modshim.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DNM_SHIM_NAME=$* -shared -o $@ $<

test-deps:
	@sh scripts/setup.sh test

# Everything: the suite on the normal build, then on the sanitized one.
check: test-deps
	@sh scripts/check.sh

test: all test-deps
	NETMCU=$(BUILD)/netmcu NETMCU_LUA=$(LUA_BIN) NETMCU_CPATH='$(BUILD)/?.so' sh tests/run.sh

# The suite again on a build with AddressSanitizer (leak detection on) and
# UndefinedBehaviorSanitizer; any report fails the run.
asan:
	$(MAKE) BUILD=build-asan OPT='-O1 -g -fno-omit-frame-pointer' \
	  SAN='-fsanitize=address,undefined -fno-sanitize-recover=all' all

test-asan: asan test-deps
	rm -rf build-asan/sanlog && mkdir -p build-asan/sanlog
	NETMCU=build-asan/netmcu NETMCU_SANITIZED=1 NETMCU_SANLOG=$(CURDIR)/build-asan/sanlog \
	ASAN_OPTIONS=detect_leaks=1:exitcode=99:log_path=$(CURDIR)/build-asan/sanlog/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=98:log_path=$(CURDIR)/build-asan/sanlog/ubsan \
	  sh tests/run.sh

demo: all
	$(BUILD)/netmcu examples/http_server.lua

# Benchmarks against the peers (raw C on libuv, Node.js, luv, copas);
# writes docs/PERFORMANCE.md.  Needs: scripts/setup.sh bench
bench: all
	@sh scripts/setup.sh bench
	sh bench/run.sh

# For LuaRocks (netmcu-*.rockspec): the modules only, with the include and
# library directories LuaRocks found instead of pkg-config.
ROCK_CFLAGS = -I$(LUA_INCDIR) $(if $(UV_INCDIR),-I$(UV_INCDIR)) $(if $(CARES_INCDIR),-I$(CARES_INCDIR))
ROCK_LIBS = $(if $(UV_LIBDIR),-L$(UV_LIBDIR)) $(if $(CARES_LIBDIR),-L$(CARES_LIBDIR)) -luv -lcares -lm
rock:
	rm -rf build-rock # LuaRocks may build for another Lua version each time
	$(MAKE) BUILD=build-rock DEPS_CFLAGS='$(ROCK_CFLAGS)' UV_LIBS='$(ROCK_LIBS)' \
	  build-rock/net.so $(SHIMS:$(BUILD)/%=build-rock/%)

install-rock:
	install -d $(INST_LIBDIR)
	install -m 644 build-rock/*.so $(INST_LIBDIR)/

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(LMOD) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/netmcu $(DESTDIR)$(PREFIX)/bin/netmcu
	install -m 644 $(BUILD)/net.so $(SHIMS) $(LMOD)/
	install -m 644 docs/netmcu.1 $(DESTDIR)$(PREFIX)/share/man/man1/netmcu.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/netmcu $(LMOD)/net.so $(patsubst $(BUILD)/%,$(LMOD)/%,$(SHIMS)) \
	  $(DESTDIR)$(PREFIX)/share/man/man1/netmcu.1

clean:
	rm -rf build build-*
