-- echo.lua - the TCP echo benchmark server (also held open by the idle
-- memory test), written as a NodeMCU script:  netmcu echo.lua PORT
local srv = net.createServer(net.TCP, 28800)
srv:listen(tonumber(arg[1]), "127.0.0.1", function(conn)
  conn:on("receive", function(sck, data) sck:send(data) end)
end)
