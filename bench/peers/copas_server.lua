-- copas_server.lua - the copas peer (Lua 5.3, LuaSocket + copas coroutines),
-- idiomatic copas: one coroutine per connection, blocking-style I/O.
--   lua5.3 copas_server.lua http|echo|udp PORT [http_req.lua]
-- Debian ships copas for Lua 5.1/5.2 only; it is plain Lua and runs on 5.3.
package.path = package.path .. ";/usr/share/lua/5.2/?.lua"
local copas = require "copas"
local socket = require "socket"
local mode, port = arg[1], tonumber(arg[2])

if mode == "udp" then
  local udp = assert(socket.udp())
  assert(udp:setsockname("127.0.0.1", port))
  copas.addserver(udp, function(skt)
    while true do
      local data, ip, rport = copas.receivefrom(skt, 65536)
      if data then copas.sendto(skt, data, ip, rport) end
    end
  end)
  copas.loop()
  return
end

local handle = mode == "http" and dofile(arg[3])
local server = assert(socket.bind("127.0.0.1", port, 4096))

local function send(skt, resp, close)
  copas.send(skt, resp)
  if close then skt:close() end
end

copas.addserver(server, function(skt)
  skt:setoption("tcp-nodelay", true)
  local buf = ""
  while true do
    -- whatever has arrived, up to 64 KiB (copas' partial read)
    local data, err, part = copas.receivePartial(skt, 65536)
    data = data or part
    if err == "closed" and (data == nil or data == "") then break end
    if data and data ~= "" then
      if mode == "echo" then
        copas.send(skt, data)
      else
        if buf ~= "" then data = buf .. data end
        buf = handle(data, send, skt)
        if buf == nil then return end
      end
    end
    if err == "closed" then break end
  end
  skt:close()
end)
copas.loop()
