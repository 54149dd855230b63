-- init.lua in the style of the 2016 tutorials, still found on many
-- boards: static timers, wifi.sta.config(ssid, password), the "delete
-- init.lua to stop" check, then main.lua.
dofile("config.lua")

function startup()
  if file.open("init.lua") == nil then
    print("init.lua deleted or renamed")
  else
    print("Running")
    file.close("init.lua")
    dofile("main.lua")
  end
end

print("Connecting to WiFi access point...")
wifi.setmode(wifi.STATION)
wifi.sta.config(SSID, PASSWORD)
tmr.alarm(1, 500, 1, function()
  if wifi.sta.getip() == nil then
    print("Waiting for IP address...")
  else
    tmr.stop(1)
    print("WiFi connection established, IP address: " .. wifi.sta.getip())
    print("ESP8266 mode is: " .. wifi.getmode())
    print("MAC address is: " .. wifi.sta.getmac())
    print("You have 1 second to abort")
    tmr.alarm(0, 1000, 0, startup)
  end
end)
