-- main.lua: an MQTT node of the old school (lwt, "connect" event,
-- autoreconnect argument, numbers as payloads, a table of subscriptions)
-- plus a UDP responder through which tools find it on the network.
m = mqtt.Client(CLIENTID, 120, BRUSER, BRPWD)
m:lwt("/lwt", CLIENTID .. " offline", 0, 0)

m:on("connect", function(client)
  print("connected to " .. BROKER)
end)
m:on("offline", function(client)
  print("offline")
end)
m:on("message", function(client, topic, data)
  print(topic .. ":" .. tostring(data))
  if topic == "/" .. CLIENTID .. "/ping" then
    client:publish("/" .. CLIENTID .. "/pong", data or "", 0, 0)
  elseif topic == "/all/report" then
    client:publish("/" .. CLIENTID .. "/heap", node.heap(), 0, 0)
  end
end)

m:connect(BROKER, BRPORT, 0, 1, function(client)
  print("subscribing")
  client:subscribe({["/" .. CLIENTID .. "/ping"] = 0, ["/all/report"] = 1}, function(client)
    print("subscribed")
    client:publish("/" .. CLIENTID .. "/status", "up " .. tmr.time(), 0, 1)
  end)
end)

tmr.alarm(2, REPORT_MS, 1, function()
  m:publish("/" .. CLIENTID .. "/uptime", tmr.time(), 0, 0)
end)

-- "Who is there?": answer with our name and address.
udp = net.createUDPSocket() -- old firmware's net.createServer(net.UDP): see docs/DIFFERENCES.md
udp:on("receive", function(s, data, port, ip)
  if data:sub(1, 8) == "DISCOVER" then
    s:send(port, ip, CLIENTID .. " " .. wifi.sta.getip() .. " " .. BROKER)
  end
end)
udp:listen(DISCOVERY_PORT)
print("discovery on udp port " .. DISCOVERY_PORT)
