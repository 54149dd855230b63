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
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC $(OPT) \
          -DNETMCU_VERSION='"$(VERSION)"' $(DEPS_CFLAGS) $(SAN)
LDFLAGS += $(SAN)

SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
OBJS := $(SRCS:src/%.c=$(BUILD)/obj/%.o)

LMOD := $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)

.PHONY: rock install-rock all check-deps test-deps check test test-asan asan demo install uninstall clean bench

all: check-deps $(BUILD)/netmcu $(BUILD)/net.so $(BUILD)/tmr.so $(BUILD)/node.so

check-deps:
	@sh scripts/setup.sh $(if $(filter 5.3,$(LUA)),build,all)

$(BUILD)/obj/%.o: src/%.c src/*.h | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj:
	mkdir -p $@

$(BUILD)/netmcu: $(BUILD)/obj/main.o $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LUA_LIBS) $(UV_LIBS) -lm

# The module does not link Lua: the interpreter that loads it provides it.
$(BUILD)/net.so: $(OBJS)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(UV_LIBS) -lm

# tmr.so and node.so are shims that open their module from net.so, so a
# state has one loop however the files are copied (src/shim/modshim.c).
$(BUILD)/tmr.so $(BUILD)/node.so: $(BUILD)/%.so: src/shim/modshim.c | $(BUILD)/obj
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
	  build-rock/net.so build-rock/tmr.so build-rock/node.so

install-rock:
	install -d $(INST_LIBDIR)
	install -m 644 build-rock/net.so build-rock/tmr.so build-rock/node.so $(INST_LIBDIR)/

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(LMOD) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/netmcu $(DESTDIR)$(PREFIX)/bin/netmcu
	install -m 644 $(BUILD)/net.so $(BUILD)/tmr.so $(BUILD)/node.so $(LMOD)/
	install -m 644 docs/netmcu.1 $(DESTDIR)$(PREFIX)/share/man/man1/netmcu.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/netmcu $(LMOD)/net.so $(LMOD)/tmr.so $(LMOD)/node.so \
	  $(DESTDIR)$(PREFIX)/share/man/man1/netmcu.1

clean:
	rm -rf build build-*
