-- A serial bridge: what a TCP client sends goes out of UART 0, what comes
-- in on UART 0 goes to the client (one client at a time; a new one takes
-- over).  UART 0 is the serial line, so the program talks on UART 1.
local port = tonumber((...)) or 9999
uart.setup(0, 115200, 8, uart.PARITY_NONE, uart.STOPBITS_1, 0)
local client
local srv = net.createServer(net.TCP, 60)
srv:listen(port, "127.0.0.1", function(c)
  if client then client:close() end
  client = c
  c:on("receive", function(_, data) uart.write(0, data) end)
  c:on("disconnection", function(s) if client == s then client = nil end end)
end)
uart.on("data", 0, function(data)
  if client then client:send(data) end
end, 0)
uart.write(1, "ready ", tostring((srv:getaddr())), "\n")
