-- bench/netmcu/mqtt.lua MODE - one measurement of the mqtt module, printed
-- as "<count> <seconds>" (bench/mqtt.sh).  Environment: MQTT_PORT, N,
-- TOPIC, CLIENT_ID.  MODE:
--   pub   N QoS 0 publishes of 100 bytes in a loop, until the last one was
--         handed to the kernel (its `puback`, as the firmware fires it)
--   recv  reconnects a persistent session (CLIENT_ID) whose backlog of N
--         messages the broker then pushes; until the N-th message
--   rtt   N QoS 1 publishes one after the other, each after the PUBACK of
--         the previous one
--   prep  connects CLIENT_ID with a persistent session, subscribes, closes
local mode = arg[1]
local port, n = tonumber(os.getenv("MQTT_PORT")), tonumber(os.getenv("N"))
local topic, id = os.getenv("TOPIC"), os.getenv("CLIENT_ID") or "netmcu-bench"
local payload = ("p"):rep(100)
local t0
local function finish(c, count)
  print(("%d %.6f"):format(count, (tmr.now() - t0) / 1e6))
  c:close()
end
local persistent = (mode == "recv" or mode == "prep") and 0 or 1
local m = mqtt.Client(id, 60, nil, nil, persistent, 4096)
m:on("offline", function() end)
m:connect("127.0.0.1", port, false, function(c)
  if mode == "pub" then
    local sent = 0
    c:on("puback", function() -- QoS 0: once a message is with the kernel
      sent = sent + 1
      if sent == n then finish(c, n) end
    end)
    t0 = tmr.now()
    for _ = 1, n do c:publish(topic, payload, 0, 0) end
  elseif mode == "rtt" then
    local i = 0
    c:on("puback", function()
      i = i + 1
      if i < n then c:publish(topic, payload, 1, 0) else finish(c, n) end
    end)
    t0 = tmr.now()
    c:publish(topic, payload, 1, 0)
  elseif mode == "prep" then
    c:subscribe(topic, 0, function() c:close() end)
  end
end, function(_, r) io.stderr:write("connect failed: ", r, "\n"); os.exit(1) end)
if mode == "recv" then
  local got = 0
  t0 = tmr.now()
  m:on("message", function(c)
    got = got + 1
    if got == n then finish(c, n) end
  end)
end
