-- A telnet console in the classic form (older firmware, and the ESP32's
-- node.output): the output function gets strings.  Listens on 127.0.0.1,
-- on the port given as the first argument (0: any), and says where.
local port = tonumber((...)) or 23
telnet = net.createServer(net.TCP, 180)
telnet:listen(port, "127.0.0.1", function(c)
  CONN = c
  local function s_output(str)
    if c ~= nil then c:send(str) end
  end
  node.output(s_output, 0) -- re-direct output to function s_output
  c:on("receive", function(_, l)
    node.input(l) -- works like pcall(loadstring(l)) but supports several lines
  end)
  c:on("disconnection", function()
    node.output(nil) -- un-register the redirect output function
    c = nil
  end)
  print("Welcome to NodeMCU world.")
end)
uart.write(1, "ready ", tostring((telnet:getaddr())), "\n")
