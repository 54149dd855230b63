-- init.lua of a data logger: settings from settings.lua, the station
-- polled until it has an address, every other .lua file compiled to .lc
-- (smaller and faster to load on the device), then app.lc.
dofile("settings.lua")

local function compile_all()
  for name in pairs(file.list()) do
    if name:match("%.lua$") and name ~= "init.lua" and name ~= "settings.lua" then
      node.compile(name)
      print("compiled " .. name)
    end
  end
end

wifi.setmode(wifi.STATION)
wifi.sta.config({ssid = SSID, pwd = PASSWORD})
local tries = 0
local waiting = tmr.create()
waiting:alarm(250, tmr.ALARM_AUTO, function(t)
  tries = tries + 1
  local ip = wifi.sta.getip()
  if ip == nil then
    if tries % 20 == 0 then print("still no IP, status " .. wifi.sta.status()) end
    return
  end
  t:unregister()
  print("IP " .. ip .. ", mac " .. wifi.sta.getmac())
  compile_all()
  dofile("app.lc")
end)
