-- A telnet console in the current ESP8266 form: node.output's function is a
-- pipe reader; it sends up to 1400 bytes and the 'sent' callback the rest.
local port = tonumber((...)) or 23
local function telnet_session(socket)
  local stdout
  local function output_cb(opipe)
    stdout = opipe
    local rec = opipe:read(1400)
    if rec and #rec > 0 then socket:send(rec) end
    return false -- the sent callback goes on
  end
  local function onsent_cb(skt)
    local rec = stdout:read(1400)
    if rec and #rec > 0 then skt:send(rec) end
  end
  node.output(output_cb, 0)
  socket:on("receive", function(_, rec) node.input(rec) end)
  socket:on("sent", onsent_cb)
  socket:on("disconnection", function()
    node.output()
    socket, stdout = nil, nil
  end)
  CONN = socket
  print(("Welcome to NodeMCU world (%d mem free)"):format(node.heap()))
end
telnet = net.createServer(net.TCP, 180)
telnet:listen(port, "127.0.0.1", telnet_session)
uart.write(1, "ready ", tostring((telnet:getaddr())), "\n")
