# netmcu - NodeMCU's net module for POSIX hosts, on libuv and c-ares.
#   make                 build/netmcu, build/net.so (+ build/tmr.so)
#   make LUA=5.1|5.4|luajit   against another Lua (default 5.3)
#   make check           every test: the suite on this build and on ASan+UBSan
#   make test            the suite on this build only (make test-asan: sanitized)
#   make install PREFIX=/usr/local DESTDIR=
#   make bench / make bench-sjson   benchmarks against peers (docs/PERFORMANCE*.md)
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
# The flags are asked of pkg-config when a recipe first needs them, which is
# after check-deps has installed what was missing, and then kept: asked when
# make reads this file, they were empty on a fresh machine and the first
# build failed on a missing lua.h.  $(call pkgconf,VAR,args) asks once.
pkgconf = $(eval $1 := $$(shell $$(PKG_CONFIG) $2))$($1)
# The libraries every module together needs, as pkg-config names them.
PC_DEPS := libuv libcares openssl libcurl
DEPS_CFLAGS = $(call pkgconf,DEPS_CFLAGS,--cflags $(LUA_PC) $(PC_DEPS))
UV_LIBS = $(call pkgconf,UV_LIBS,--libs $(PC_DEPS))
LUA_LIBS = $(call pkgconf,LUA_LIBS,--libs $(LUA_PC))

CC ?= cc
OPT ?= -O2 -g
# Hidden by default: net.so exports only the luaopen_* of core/modules.h.
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -fvisibility=hidden $(OPT) -Isrc \
          -DNETMCU_VERSION='"$(VERSION)"' $(DEPS_CFLAGS) $(SAN)
LDFLAGS += $(SAN)

# src/core: loop, objects, protected calls; src/net: the net module;
# src/modules: one file (or folder) per other NodeMCU module; src/runtime: netmcu.
SRCS := $(wildcard src/core/*.c src/net/*.c src/modules/*.c src/modules/*/*.c)
OBJS := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
RT_SRCS := $(filter-out src/runtime/modshim.c,$(wildcard src/runtime/*.c))
RT_OBJS := $(RT_SRCS:src/%.c=$(BUILD)/obj/%.o)
HDRS := $(wildcard src/*/*.h src/*/*/*.h)
# A <name>.so shim for every module but net (core/modules.h lists them).
MODULES := $(shell sed -n 's/^ *X(\([a-z0-9_]*\)).*/\1/p' src/core/modules.h)
SHIMS := $(patsubst %,$(BUILD)/%.so,$(filter-out net,$(MODULES)))

LMOD := $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)

.PHONY: pc-deps rock install-rock all check-deps test-deps check test test-asan asan demo install uninstall clean bench bench-sjson bench-mqtt

all: check-deps $(BUILD)/netmcu $(BUILD)/net.so $(SHIMS)

# Installs (as root) or lists the missing packages before anything is
# compiled, also under make -j.  `make rock` passes CHECK_DEPS= (LuaRocks
# found the libraries itself).
CHECK_DEPS ?= check-deps
$(OBJS) $(RT_OBJS) $(SHIMS): | $(CHECK_DEPS)
check-deps:
	@sh scripts/setup.sh build $(LUA)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

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

# For tests that link C code against the build's objects (tests/c/).
pc-deps:
	@echo $(PC_DEPS)

test-deps:
	@sh scripts/setup.sh test $(LUA)

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

# sjson against lua-cjson on Lua 5.3 (MB/s both ways, ratios), and the
# memory of streaming a 10 MB document; writes docs/PERFORMANCE-sjson.md.
bench-sjson: all
	@sh scripts/setup.sh bench
	sh bench/sjson.sh
# mqtt against MQTT.js (npm, installed into build/ at bench time) and
# mosquitto_pub/mosquitto_sub through one mosquitto; writes
# docs/PERFORMANCE-mqtt.md.
bench-mqtt: all
	@sh scripts/setup.sh bench
	sh bench/mqtt.sh

# For LuaRocks (netmcu-*.rockspec): the modules only, with the include and
# library directories LuaRocks found instead of pkg-config.
ROCK_CFLAGS = -I$(LUA_INCDIR) $(if $(UV_INCDIR),-I$(UV_INCDIR)) $(if $(CARES_INCDIR),-I$(CARES_INCDIR)) \
  $(if $(CRYPTO_INCDIR),-I$(CRYPTO_INCDIR)) $(if $(SSL_INCDIR),-I$(SSL_INCDIR)) $(if $(CURL_INCDIR),-I$(CURL_INCDIR))
ROCK_LIBS = $(if $(UV_LIBDIR),-L$(UV_LIBDIR)) $(if $(CARES_LIBDIR),-L$(CARES_LIBDIR)) \
  $(if $(CRYPTO_LIBDIR),-L$(CRYPTO_LIBDIR)) $(if $(SSL_LIBDIR),-L$(SSL_LIBDIR)) $(if $(CURL_LIBDIR),-L$(CURL_LIBDIR)) \
  -luv -lcares -lssl -lcrypto -lcurl -lm
rock:
	rm -rf build-rock # LuaRocks may build for another Lua version each time
	$(MAKE) BUILD=build-rock CHECK_DEPS= DEPS_CFLAGS='$(ROCK_CFLAGS)' UV_LIBS='$(ROCK_LIBS)' \
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
