-- http.lua - the HTTP "hello" benchmark server, written as a NodeMCU script:
--   netmcu http.lua PORT path/to/http_req.lua
local port, handle = tonumber(arg[1]), dofile(arg[2])

local function send(sck, resp, close)
  if close then
    sck:send(resp, function(s) s:close() end)
  else
    sck:send(resp)
  end
end

local srv = net.createServer(net.TCP, 28800)
srv:listen(port, "127.0.0.1", function(conn)
  local buf = ""
  conn:on("receive", function(sck, data)
    if buf == nil then return end -- closing
    if buf ~= "" then data = buf .. data end
    buf = handle(data, send, sck)
  end)
end)
