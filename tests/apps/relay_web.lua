-- A web-controlled relay: GET /on, /off, /toggle switch the relay on pin 1;
-- a push button on pin 3 (to ground, pulled up) toggles it too; GET /quit
-- ends the program.  The page shows the state.
local RELAY, BUTTON = 1, 3
local port = tonumber((...)) or 80
gpio.mode(RELAY, gpio.OUTPUT)
gpio.write(RELAY, gpio.LOW)
gpio.mode(BUTTON, gpio.INT, gpio.PULLUP)
gpio.trig(BUTTON, "down", function()
  gpio.write(RELAY, 1 - gpio.read(RELAY))
end)
local srv = net.createServer(net.TCP, 30)
srv:listen(port, "127.0.0.1", function(conn)
  conn:on("receive", function(sck, req)
    local path = req:match("^GET (%S+)") or "/"
    if path == "/on" then gpio.write(RELAY, gpio.HIGH)
    elseif path == "/off" then gpio.write(RELAY, gpio.LOW)
    elseif path == "/toggle" then gpio.write(RELAY, 1 - gpio.read(RELAY))
    elseif path == "/quit" then
      srv:close()
      gpio.trig(BUTTON, "none")
    end
    local state = gpio.read(RELAY) == gpio.HIGH and "ON" or "OFF"
    local body = "<html><body><h1>Relay is " .. state .. "</h1>" ..
      '<a href="/on">on</a> <a href="/off">off</a> <a href="/toggle">toggle</a></body></html>'
    sck:send("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " .. #body ..
      "\r\nConnection: close\r\n\r\n" .. body, function(s) s:close() end)
  end)
end)
print("ready " .. srv:getaddr())
