-- init.lua of a serial-to-WebSocket bridge: each line that arrives on the
-- serial port is sent to the server as a text message, each message from
-- the server is written to the serial port; a JSON heartbeat goes out
-- every heartbeat_ms, and the connection is made again whenever it ends.
-- Messages from the server are also appended to received.log on flash.
local cfg = sjson.decode(file.getcontents("config.json"))
local ws, up = nil, false
local beats = 0

local function log_message(msg)
  if file.open("received.log", "a+") then
    file.writeline(msg)
    file.close()
  end
end

local function connect()
  ws = websocket.createClient()
  ws:on("connection", function(c)
    up = true
    print("ws: connected")
    c:send(sjson.encode({type = "hello", chip = node.chipid(), ip = wifi.sta.getip()}))
  end)
  ws:on("receive", function(_, msg, opcode)
    if opcode == 1 then
      uart.write(0, msg, "\n")
      log_message(msg)
    end
  end)
  ws:on("close", function(_, status)
    up, ws = false, nil
    print("ws: closed, status " .. status)
    tmr.create():alarm(cfg.retry_ms, tmr.ALARM_SINGLE, connect)
  end)
  ws:connect(cfg.url)
end

uart.setup(0, 115200, 8, uart.PARITY_NONE, uart.STOPBITS_1, 0)
uart.on("data", "\n", function(line)
  line = line:gsub("\r?\n$", "")
  if up and line ~= "" then ws:send(line) end
end, 0)

tmr.create():alarm(cfg.heartbeat_ms, tmr.ALARM_AUTO, function()
  if not up then return end
  beats = beats + 1
  ws:send(sjson.encode({type = "heartbeat", n = beats, uptime = tmr.time(), heap = node.heap()}))
end)

wifi.setmode(wifi.STATION)
wifi.sta.config({ssid = cfg.ssid, pwd = cfg.pwd})
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function()
  if not ws then connect() end
end)
