-- init.lua of a thermostat with a web page: the page and its style come
-- from flash, a JSON API reads the state and sets the set point, which is
-- kept in settings.json.  The heater output follows a (simulated)
-- temperature drifting towards it.
local cfg = dofile("config.lua")
local httpd = require("httpd")
local HEATER = cfg.heater_pin
local state = {setpoint = cfg.default_setpoint, temp = 18.0}

if file.exists("settings.json") then
  local ok, saved = pcall(sjson.decode, file.getcontents("settings.json"))
  if ok and type(saved.setpoint) == "number" then state.setpoint = saved.setpoint end
end
gpio.mode(HEATER, gpio.OUTPUT)

local function regulate()
  local on = state.temp < state.setpoint - 0.25
  gpio.write(HEATER, on and gpio.HIGH or gpio.LOW)
  state.temp = state.temp + (on and 0.5 or -0.1)
end
tmr.create():alarm(1000, tmr.ALARM_AUTO, regulate)
regulate()

local function status()
  return {setpoint = state.setpoint, temp = state.temp, heater = gpio.read(HEATER) == 1,
          uptime = tmr.time(), heap = node.heap(), ip = wifi.sta.getip()}
end

local routes = {}
routes["GET /"] = function(sck) httpd.file(sck, "index.html") end
routes["GET /api/status"] = function(sck) httpd.json(sck, 200, status()) end
routes["POST /api/setpoint"] = function(sck, req)
  local ok, t = pcall(sjson.decode, req.body)
  local v = ok and type(t) == "table" and tonumber(t.setpoint)
  if not v or v < 5 or v > 30 then
    return httpd.json(sck, 400, {error = "setpoint must be a number from 5 to 30"})
  end
  state.setpoint = v
  file.putcontents("settings.json", sjson.encode({setpoint = v}))
  regulate()
  httpd.json(sck, 200, status())
end
-- the old form-style switch: /set?sp=22
routes["GET /set"] = function(sck, req)
  local v = tonumber(req.args.sp)
  if v then routes["POST /api/setpoint"](sck, {body = '{"setpoint":' .. v .. '}'})
  else httpd.reply(sck, 400, "sp?\n") end
end

local function handle(sck, req)
  local route = routes[req.method .. " " .. req.path]
  if route then return route(sck, req) end
  -- only page files: config.lua and settings.json stay private
  local name = req.path:sub(2)
  local ext = name:match("^[%w_-]+%.(%w+)$")
  if req.method == "GET" and (ext == "html" or ext == "css" or ext == "js" or ext == "txt")
      and file.exists(name) then
    return httpd.file(sck, name)
  end
  httpd.reply(sck, 404, "not found\n")
end

local srv
wifi.setmode(wifi.STATION)
wifi.sta.config({ssid = cfg.ssid, pwd = cfg.pwd})
wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, function(t)
  if srv then return end
  srv = httpd.start(cfg.port, t.IP, handle)
  local port, ip = srv:getaddr()
  print(string.format("thermostat at http://%s:%d/", ip, port))
end)
