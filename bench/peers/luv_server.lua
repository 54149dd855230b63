-- luv_server.lua - the luv peer (Lua 5.3 on libuv through luv), idiomatic luv:
--   lua5.3 luv_server.lua http|echo|udp PORT [http_req.lua]
local uv = require "luv"
local mode, port = arg[1], tonumber(arg[2])

if mode == "udp" then
  local udp = uv.new_udp()
  assert(udp:bind("127.0.0.1", port))
  udp:recv_start(function(err, data, addr)
    if data and addr then udp:send(data, addr.ip, addr.port) end
  end)
  uv.run()
  return
end

local handle = mode == "http" and dofile(arg[3])

local function send(client, resp, close)
  client:write(resp)
  if close then
    client:read_stop()
    client:shutdown(function() client:close() end)
  end
end

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", port))
assert(server:listen(4096, function(err)
  if err then return end
  local client = uv.new_tcp()
  server:accept(client)
  client:nodelay(true)
  if mode == "echo" then
    client:read_start(function(err, data)
      if data then client:write(data) else client:close() end
    end)
  else
    local buf = ""
    client:read_start(function(err, data)
      if not data then
        if not client:is_closing() then client:close() end
        return
      end
      if buf == nil then return end
      if buf ~= "" then data = buf .. data end
      buf = handle(data, send, client)
    end)
  end
end))
uv.run()
