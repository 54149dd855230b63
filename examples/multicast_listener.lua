-- examples/multicast_listener.lua - listens to a multicast group, as a
-- NodeMCU script listens for SSDP or mDNS traffic: joins the group on every
-- interface, prints each datagram with its sender, and answers "PING" with
-- "PONG" to the sender.  After `count` datagrams it leaves and closes.
--   build/netmcu examples/multicast_listener.lua [group] [port] [count]
local group = arg and arg[1] or "239.255.42.42"
local port = tonumber(arg and arg[2]) or 4242
local count = tonumber(arg and arg[3]) or math.huge

net.multicastJoin("any", group) -- membership is global, for every UDP socket
local udp = net.createUDPSocket()
local seen = 0
udp:on("receive", function(sock, data, from_port, from_ip)
  seen = seen + 1
  print(("%s:%d says %s"):format(from_ip, from_port, data))
  if data == "PING" then sock:send(from_port, from_ip, "PONG") end
  if seen >= count then
    net.multicastLeave("any", group)
    sock:close()
  end
end)
udp:listen(port)
print(("listening to %s on udp port %d"):format(group, port))
