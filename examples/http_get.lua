-- examples/http_get.lua - fetches a page by host name, as a NodeMCU client
-- does: connect(port, name) resolves the name (the `dns` event shows the
-- address), sends the request once connected, collects the response over
-- any number of `receive` events and prints the body when the server closes.
--   build/netmcu examples/http_get.lua http://host[:port]/path [dns-server]
local url = arg and arg[1] or "http://localhost:8080/"
local host, port, path = url:match("^http://([^/:]+):?(%d*)(/?.*)$")
assert(host, "usage: http_get.lua http://host[:port]/path [dns-server]")
port = tonumber(port) or 80
if path == "" then path = "/" end
if arg[2] then net.dns.setdnsserver(arg[2]) end -- e.g. "192.0.2.53" or "127.0.0.1:5353"

local parts = {}
local conn = net.createConnection(net.TCP, 0)
conn:on("dns", function(_, ip)
  print(("# %s is %s"):format(host, ip or "unknown"))
end)
conn:on("connection", function(sck)
  sck:send("GET " .. path .. " HTTP/1.1\r\nHost: " .. host ..
    "\r\nConnection: close\r\nAccept: */*\r\n\r\n")
end)
conn:on("receive", function(_, data) parts[#parts + 1] = data end)
conn:on("disconnection", function(_, code)
  if code ~= 0 then
    print("# failed: " .. code)
    return
  end
  local response = table.concat(parts)
  local status = response:match("^HTTP/1%.%d (%d+)")
  local body = response:match("\r\n\r\n(.*)$") or ""
  print("# status " .. tostring(status))
  io.write(body)
end)
conn:connect(port, host)
