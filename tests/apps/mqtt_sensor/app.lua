-- app.lua of the MQTT sensor node: sets the clock with SNTP, connects to
-- the broker with a last will, publishes a JSON reading every
-- interval_ms, and switches a relay on commands, keeping its state in a
-- file so that it survives a restart.  Reconnects whenever the broker
-- goes away.
local cfg = config
local base = cfg.mqtt.topic
local PIN = cfg.relay_pin or 4
local STATE_FILE = "relay.state"
local client, online = nil, false
local seq = 0

local function saved_state()
  if file.open(STATE_FILE, "r") then
    local v = tonumber(file.readline())
    file.close()
    if v == 0 or v == 1 then return v end
  end
  return gpio.LOW
end

local function save_state(v)
  file.open(STATE_FILE, "w+")
  file.writeline(tostring(v))
  file.close()
end

local function iso_time(sec)
  local tm = rtctime.epoch2cal(sec)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02dZ",
    tm.year, tm.mon, tm.day, tm.hour, tm.min, tm.sec)
end

local function reading()
  seq = seq + 1
  local sec = rtctime.get()
  -- no sensor on this board: a made-up temperature in tenths of a degree
  local tenths = 215 + (seq % 7) - 3
  return sjson.encode({
    id = cfg.mqtt.client_id, seq = seq, ts = sec, time = iso_time(sec),
    temp = string.format("%d.%d", math.floor(tenths / 10), tenths % 10),
    relay = gpio.read(PIN), heap = node.heap(),
  })
end

local function publish_relay()
  client:publish(base .. "/relay", gpio.read(PIN) == gpio.HIGH and "ON" or "OFF", 1, 1)
end

local function on_command(_, topic, data)
  if topic ~= base .. "/cmd" or data == nil then return end
  local v = gpio.read(PIN)
  if data == "ON" then v = gpio.HIGH
  elseif data == "OFF" then v = gpio.LOW
  elseif data == "TOGGLE" then v = 1 - v
  else print("unknown command " .. data) return end
  gpio.write(PIN, v)
  save_state(v)
  publish_relay()
end

local connect
local function later()
  tmr.create():alarm(cfg.mqtt.retry_ms or 5000, tmr.ALARM_SINGLE, function() connect() end)
end

connect = function()
  client:connect(cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.tls and 1 or 0, function(c)
    online = true
    print("mqtt: connected")
    c:publish(base .. "/status", "online", 1, 1)
    c:subscribe(base .. "/cmd", 1, function() publish_relay() end)
  end, function(_, reason)
    print("mqtt: connect failed, reason " .. reason)
    later()
  end)
end

gpio.mode(PIN, gpio.OUTPUT)
gpio.write(PIN, saved_state())

if cfg.mqtt.tls and cfg.mqtt.ca_file then
  tls.cert.verify(file.getcontents(cfg.mqtt.ca_file))
end
client = mqtt.Client(cfg.mqtt.client_id, cfg.mqtt.keepalive or 60, cfg.mqtt.user, cfg.mqtt.password)
client:lwt(base .. "/status", "offline", 1, 1)
client:on("message", on_command)
client:on("offline", function()
  online = false
  print("mqtt: offline")
  later()
end)

tmr.create():alarm(cfg.interval_ms or 60000, tmr.ALARM_AUTO, function()
  if online then client:publish(base .. "/data", reading(), 0, 0) end
end)

sntp.sync(cfg.ntp, function(sec, _, server)
  print("time: " .. iso_time(sec) .. " from " .. server)
  connect()
end, function(err)
  print("time: sntp failed (" .. tostring(err) .. "), going on without")
  connect()
end)
