-- LuaRocks build of the netmcu Lua C modules (net, tmr, node) from source,
-- against the system's libuv and c-ares.  From the source tree:
--   luarocks --lua-version=5.3 make
-- The runtime `netmcu` is installed by `make install` (see README.md).
package = "netmcu"
version = "0.1.0-1"
source = {
   url = "git+file:///netmcu", -- built from the working tree by `luarocks make`
}
description = {
   summary = "NodeMCU's net module (with tmr and node) for POSIX hosts, on libuv and c-ares",
   detailed = [[
netmcu runs NodeMCU networking code (net.createServer, sock:on("receive"),
UDP, DNS, multicast, tmr timers) unmodified on a host with real sockets.
require "net", set things up, then call net.run() to serve events.
]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1",
}
external_dependencies = {
   LIBUV = { header = "uv.h", library = "uv" },
   CARES = { header = "ares.h", library = "cares" },
   CRYPTO = { header = "openssl/evp.h", library = "crypto" },
}
build = {
   type = "make",
   build_target = "rock",
   build_variables = {
      LUA_INCDIR = "$(LUA_INCDIR)",
      UV_INCDIR = "$(LIBUV_INCDIR)",
      UV_LIBDIR = "$(LIBUV_LIBDIR)",
      CARES_INCDIR = "$(CARES_INCDIR)",
      CARES_LIBDIR = "$(CARES_LIBDIR)",
      CRYPTO_INCDIR = "$(CRYPTO_INCDIR)",
      CRYPTO_LIBDIR = "$(CRYPTO_LIBDIR)",
   },
   install_target = "install-rock",
   install_variables = {
      INST_LIBDIR = "$(LIBDIR)",
   },
}
