-- udp.lua - the UDP echo benchmark server, as a NodeMCU script:
--   netmcu udp.lua PORT
local udp = net.createUDPSocket()
udp:on("receive", function(s, data, port, ip) s:send(port, ip, data) end)
udp:listen(tonumber(arg[1]), "127.0.0.1")
