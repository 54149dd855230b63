-- init.lua of an MQTT sensor node: reads config.json from flash, joins
-- the network it names, and starts app.lua once the station has an
-- address (after a short pause in which `abort = true` typed on the
-- console stops the start, the usual safety net against a boot loop).
local function read_config()
  if not file.open("config.json", "r") then return nil end
  local text, chunk = "", file.read()
  while chunk do
    text = text .. chunk
    chunk = file.read()
  end
  file.close()
  local ok, cfg = pcall(sjson.decode, text)
  if ok then return cfg end
  print("config.json: " .. tostring(cfg))
end

config = read_config()
if not config then
  print("no usable config.json, stopping")
  return
end

wifi.eventmon.register(wifi.eventmon.STA_DISCONNECTED, function(t)
  print("wifi: lost " .. t.SSID .. ", reason " .. t.reason)
end)
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(t)
  print("wifi: got " .. t.IP)
  wifi.eventmon.unregister(wifi.eventmon.STA_GOT_IP)
  tmr.create():alarm(config.boot_delay_ms or 3000, tmr.ALARM_SINGLE, function()
    if abort then print("start aborted") return end
    dofile("app.lua")
  end)
end)
wifi.setmode(wifi.STATION)
wifi.sta.config({ssid = config.wifi.ssid, pwd = config.wifi.pwd})
print("wifi: joining " .. config.wifi.ssid)
