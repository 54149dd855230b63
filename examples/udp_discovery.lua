-- examples/udp_discovery.lua - answers discovery broadcasts, the way
-- devices on a LAN announce themselves: a client broadcasts "DISCOVER" to
-- the port, each responder replies to the sender with its name and address.
--   build/netmcu examples/udp_discovery.lua [name] [port]
-- Try it: build/netmcu -e 'local u = net.createUDPSocket()
--   u:on("receive", function(s, d, p, ip) print(d, ip) end)
--   u:send(5005, "127.255.255.255", "DISCOVER")
--   tmr.create():alarm(500, 0, function() u:close() end)'
local name = arg and arg[1] or "netmcu-" .. node.chipid()
local port = tonumber(arg and arg[2]) or 5005

-- The address to announce: the station interface, as on the device.
local info = net.ifinfo(0)
local my_ip = info and info.ip or "127.0.0.1"

local udp = net.createUDPSocket()
udp:on("receive", function(sock, data, from_port, from_ip)
  if data:match("^DISCOVER") then
    sock:send(from_port, from_ip, ("HERE %s %s"):format(name, my_ip))
  end
end)
udp:listen(port)
print(("discovery responder %s (%s) on udp port %d"):format(name, my_ip, (udp:getaddr())))
