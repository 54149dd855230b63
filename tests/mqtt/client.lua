-- tests/mqtt/client.lua - the mqtt module against Debian's mosquitto
-- (started by tests/lib/mosquitto.sh) with mosquitto_pub / mosquitto_sub on
-- the other side, and against misbehaving brokers written here with net.
local T = dofile("tests/lib/t.lua")
local PORT = assert(tonumber(os.getenv("MQTT_PORT")), "MQTT_PORT")
local AUTH = assert(tonumber(os.getenv("MQTT_AUTH_PORT")))
local TLS = assert(tonumber(os.getenv("MQTT_TLS_PORT")))
local DEAD = assert(tonumber(os.getenv("MQTT_DEAD_PORT")))
local DIR = assert(os.getenv("MQTT_DIR"))
local seq = 0

local function uniq(s) seq = seq + 1; return ("nm/%s/%d/%d"):format(s, os.time(), seq) end

-- mosquitto_pub from the other side (returns when the broker has it).
local function pub(topic, args)
  local ok = os.execute(("mosquitto_pub -h 127.0.0.1 -p %d -t '%s' %s"):format(PORT, topic, args))
  return ok == true or ok == 0
end

local function write_file(name, data)
  local f = assert(io.open(DIR .. "/" .. name, "wb"))
  f:write(data)
  f:close()
  return DIR .. "/" .. name
end

-- One message as mosquitto_sub receives it (the retained one of topic).
local function sub_one(topic)
  local p = io.popen(("mosquitto_sub -h 127.0.0.1 -p %d -t '%s' -C 1 -W 5 -N"):format(PORT, topic))
  local s = p:read("*a")
  p:close()
  return s
end

-- A connected client: ready(c) once the broker accepted it.
local function connected(id, ready, opts)
  opts = opts or {}
  local c = mqtt.Client(id, opts.keepalive or 30, opts.user, opts.pass, 1, opts.max)
  c:connect("127.0.0.1", opts.port or PORT, false, ready,
    function(_, reason) T.ok(false, "connect " .. id, "connfail " .. tostring(reason)) end)
  return c
end

-- Polls cond every 10 ms, at most ms, then then_(ok).
local function wait_until(cond, ms, then_)
  local t, left = tmr.create(), ms
  t:alarm(10, tmr.ALARM_AUTO, function()
    left = left - 10
    local ok = cond()
    if ok or left <= 0 then t:unregister(); then_(ok) end
  end)
end

-- A broker written here: script(sock, first_bytes) runs on the client's
-- first bytes (its CONNECT); returns the server and its port.
local function fake_broker(script)
  local srv = net.createServer(30)
  srv:listen(0, "127.0.0.1", function(sock)
    local first = true
    sock:on("receive", function(s, data)
      if first then first = false; script(s, data) end
    end)
  end)
  return srv, (srv:getaddr())
end
local CONNACK = "\32\2\0\0"

-- ---- against mosquitto ----

T.test("connect, subscribe, receive from mosquitto_pub, close -> offline", function(done)
  local topic = uniq("basic")
  local c
  c = mqtt.Client("nm-basic", 30)
  c:on("message", T.expect(function(cl, t, d)
    T.eq(cl, c, "the client first"); T.eq(t, topic, "topic"); T.eq(d, "hello from mosquitto_pub", "payload")
    cl:close()
  end))
  c:on("offline", T.expect(function(cl) T.eq(cl, c, "offline after close()"); done() end))
  c:connect("127.0.0.1", PORT, false, T.expect(function(cl)
    T.ok(cl:subscribe(topic, 1, T.expect(function()
      T.ok(pub(topic, "-q 1 -m 'hello from mosquitto_pub'"), "mosquitto_pub ran")
    end)), "subscribe returns true")
  end))
end)

T.test("publish QoS 0, 1, 2 with retain: mosquitto_sub gets each; callbacks once each", function(done)
  local i = 0
  connected("nm-pubq", function(c)
    local function step()
      i = i + 1
      if i > 3 then
        c:close(); return
      end
      local qos = i - 1
      local topic = uniq("pubq" .. qos)
      T.ok(c:publish(topic, "retained " .. qos, qos, 1, T.expect(function()
        T.eq(sub_one(topic), "retained " .. qos, "mosquitto_sub got the QoS " .. qos .. " message")
        pub(topic, "-r -n") -- clears the retained message
        step()
      end)), "publish returns true")
    end
    step()
  end):on("offline", function() done() end)
end)

T.test("subscribe and unsubscribe a table of topics; suback/unsuback", function(done)
  local base = uniq("tab")
  local got = {}
  local c
  c = connected("nm-tab", function(cl)
    local t = {[base .. "/a"] = 0, [base .. "/b"] = 1, [base .. "/c"] = 2}
    cl:subscribe(t, T.expect(function()
      pub(base .. "/a", "-m A"); pub(base .. "/b", "-q 1 -m B"); pub(base .. "/c", "-q 2 -m C")
    end))
  end)
  c:on("message", function(cl, topic, data)
    got[#got + 1] = data
    if #got == 3 then
      T.eq(table.concat(got), "ABC", "one message per topic, in order")
      cl:unsubscribe({[base .. "/a"] = true, [base .. "/b"] = true}, T.expect(function()
        pub(base .. "/a", "-m X"); pub(base .. "/c", "-m D")
      end))
    elseif #got == 4 then
      T.eq(data, "D", "unsubscribed topic not delivered, the other still is")
      cl:unsubscribe(base .. "/c", T.expect(function() cl:close() end))
    end
  end)
  c:on("offline", function() done() end)
end)

T.test("a 1 MiB message (many reads) and 2000 messages (many per read)", function(done)
  local topic = uniq("big")
  local big = ("0123456789abcdef"):rep(65536)
  local lines = {}
  for i = 1, 2000 do lines[i] = "line " .. i end
  local n, order_ok = 0, true
  connected("nm-big", function(c)
    c:subscribe(topic, 1, function()
      T.ok(pub(topic, "-q 1 -f " .. write_file("big", big)), "1 MiB published")
      T.ok(pub(topic, "-l < " .. write_file("lines", table.concat(lines, "\n") .. "\n")), "2000 lines published")
    end)
    c:on("message", function(cl, _, d)
      if n == 0 then
        T.ok(d == big, "the 1 MiB message whole", #d)
      elseif d ~= "line " .. n then
        order_ok = false
      end
      n = n + 1
      if n == 2001 then T.ok(order_ok, "2000 messages in order"); cl:close() end
    end)
  end, {max = 2 * 1048576}):on("offline", function() done() end)
end, 30)

T.test("max_message_length: overflow gets the truncated message, the next ones arrive", function(done)
  local topic = uniq("of")
  local payload = ("x"):rep(500) .. "END"
  local events = {}
  connected("nm-of", function(c)
    c:subscribe(topic, 1, function()
      pub(topic, "-q 0 -m " .. payload); pub(topic, "-q 1 -m " .. payload); pub(topic, "-m small")
    end)
    c:on("overflow", function(_, t, d)
      T.eq(t, topic, "overflow topic")
      events[#events + 1] = d
    end)
    c:on("message", function(cl, t, d)
      T.eq(d, "small", "a message within the limit after the overflows")
      -- PUBLISH: 1 + 2 length bytes + 2 + topic [+ 2 packet id] + payload
      local h0 = 3 + 2 + #topic
      T.eq(#events, 2, "two overflows")
      T.eq(events[1], payload:sub(1, 100 - h0), "QoS 0: cut at 100 bytes of message")
      T.eq(events[2], payload:sub(1, 100 - h0 - 2), "QoS 1: cut at 100 bytes (the id counts)")
      cl:close()
    end)
  end, {max = 100}):on("offline", function() done() end)
end)

T.test("a topic longer than max_message_length: skipped without a callback", function(done)
  local long = uniq("long-topic-longer-than-the-limit")
  connected("nm-of2", function(c)
    c:subscribe({[long] = 0, z = 0}, function()
      pub(long, "-m skipped"); pub("z", "-m abc")
    end)
    c:on("overflow", T.expect(nil, 0))
    c:on("message", T.expect(function(cl, t, d)
      T.eq(t .. "=" .. d, "z=abc", "the next message fits and arrives")
      cl:close()
    end))
  end, {max = 10}):on("offline", function() done() end)
end)

T.test("QoS 1 messages queue: one awaits its PUBACK at a time, in order", function(done)
  local topic = uniq("q1")
  local acks, msgs = 0, {}
  connected("nm-q1", function(c)
    c:subscribe(topic, 1, function()
      for i = 1, 20 do T.ok(c:publish(topic, "m" .. i, 1, 0), "queued " .. i) end
      c:on("puback", function() acks = acks + 1 end)
    end)
    c:on("message", function(cl, _, d)
      msgs[#msgs + 1] = d
      if #msgs == 20 then
        local s = table.concat(msgs, ",")
        T.eq(s, "m1,m2,m3,m4,m5,m6,m7,m8,m9,m10,m11,m12,m13,m14,m15,m16,m17,m18,m19,m20", "order")
        wait_until(function() return acks == 20 end, 2000, function() T.eq(acks, 20, "20 pubacks"); cl:close() end)
      end
    end)
  end):on("offline", function() done() end)
end)

T.test("QoS 2 both ways", function(done)
  local topic = uniq("q2")
  connected("nm-q2", function(c)
    c:subscribe(topic, 2, function()
      c:publish(topic, "two", 2, 0, T.expect(function() end))
    end)
    c:on("message", T.expect(function(cl, _, d)
      T.eq(d, "two", "delivered once")
      tmr.create():alarm(300, tmr.ALARM_SINGLE, function() cl:close() end)
    end))
  end):on("offline", function() done() end)
end)

T.test("passwords: right ones connect, wrong ones and none get the CONNACK code", function(done)
  local results = {}
  local function try(user, pass, k)
    local c = mqtt.Client("nm-auth-" .. k, 30, user, pass)
    c:connect("127.0.0.1", AUTH, false, function(cl) results[k] = "ok"; cl:close() end,
      function(_, reason) results[k] = reason end)
  end
  try("nm", "secret", 1); try("nm", "wrong", 2); try(nil, nil, 3)
  wait_until(function() return results[1] and results[2] and results[3] end, 5000, function()
    T.eq(results[1], "ok", "user and password accepted")
    T.eq(results[2], mqtt.CONNACK_REFUSED_NOT_AUTHORIZED, "wrong password: mosquitto's CONNACK code")
    T.eq(results[3], mqtt.CONNACK_REFUSED_NOT_AUTHORIZED, "anonymous refused")
    done()
  end)
end)

T.test("lwt: published by the broker when the client's connection dies", function(done)
  local topic = uniq("will")
  connected("nm-will-watch", function(c)
    c:subscribe(topic, 1, function()
      -- another netmcu connects with a will, then exits without DISCONNECT
      local f = write_file("will.lua", ([[
        local m = mqtt.Client("nm-will", 30)
        m:lwt(%q, "gone", 1, 0)
        m:connect("127.0.0.1", %d, false, function() os.exit(0) end)
      ]]):format(topic, PORT))
      os.execute(T.netmcu .. " " .. f)
    end)
    c:on("message", T.expect(function(cl, t, d) T.eq(d, "gone", "the will"); cl:close() end))
  end):on("offline", function() done() end)
end)

T.test("keepalive 1 s: pings keep an idle connection up", function(done)
  local off = false
  local c = connected("nm-ka", function(cl)
    tmr.create():alarm(3500, tmr.ALARM_SINGLE, function()
      T.ok(not off, "still connected after 3.5 s idle (the broker drops at 1.5 s without pings)")
      cl:close()
    end)
  end, {keepalive = 1})
  c:on("offline", function() off = true; done() end)
end, 10)

T.test("connect by name, close and connect again after offline", function(done)
  local n = 0
  local c = mqtt.Client("nm-again", 30)
  c:on("offline", function(cl)
    if n < 2 then cl:connect("localhost", PORT) else done() end
  end)
  c:on("connect", function(cl)
    n = n + 1
    T.raises(function() cl:connect("127.0.0.1", PORT) end, "already connected", "connect while connected")
    cl:close()
  end)
  c:connect("localhost", PORT)
end)

T.test("TLS with the test CA", function(done)
  local c = mqtt.Client("nm-tls", 30)
  local ok, err = pcall(c.connect, c, "localhost", TLS, true, function(cl)
    T.ok(true, "connected over TLS")
    cl:close()
  end, function(_, r) T.ok(false, "TLS connect", r); done() end)
  if not ok then
    T.ok(tostring(err):find("ssl not available", 1, true), "secure without TLS says so", err)
    T.skip("mqtt over TLS", "the TLS filter (nm_tls_attach) is not linked in yet")
    done()
    return
  end
  c:on("offline", function() done() end)
end)

-- ---- failures to connect ----

T.test("connfail reasons: refused -5, DNS -3", function(done)
  local r = {}
  mqtt.Client("a", 30):connect("127.0.0.1", DEAD, false, T.expect(nil, 0), function(_, x) r[1] = x end)
  mqtt.Client("b", 30):connect("nosuch.invalid", PORT, false, T.expect(nil, 0), function(_, x) r[2] = x end)
  wait_until(function() return r[1] and r[2] end, 5000, function()
    T.eq(r[1], mqtt.CONN_FAIL_SERVER_NOT_FOUND, "refused")
    T.eq(r[2], mqtt.CONN_FAIL_DNS, "name not found")
    done()
  end)
end)

for _, c in ipairs({
  {"a PUBLISH instead of CONNACK", "\48\4\0\1tx", -4},
  {"a close right after CONNECT", "", -4},
  {"CONNACK code 2 (identifier rejected)", "\32\2\0\2", 2},
  {"CONNACK with a bad length", "\32\3\0\0\0", -4},
  {"no answer within 5 s", nil, -2},
}) do
  T.test("connfail: " .. c[1] .. " -> " .. c[3], function(done)
    local srv, port = fake_broker(function(s, connect)
      T.eq(connect:byte(1), 16, "the client sent CONNECT first")
      T.ok(connect:find("MQTT\4", 1, true), "protocol MQTT level 4 (3.1.1)")
      if c[2] == nil then return end
      if c[2] == "" then s:close() else s:send(c[2]) end
    end)
    local m = mqtt.Client("nm-fail", 30)
    m:on("offline", T.expect(nil, 0))
    m:connect("127.0.0.1", port, false, T.expect(nil, 0), T.expect(function(_, reason)
      T.eq(reason, c[3], "reason")
      srv:close()
      done()
    end))
  end, 10)
end

-- ---- a misbehaving broker, with a healthy client beside it ----

local hostile = {
  {"a remaining length with a 5th byte", "\48\255\255\255\255\1"},
  {"a reserved packet type", "\240\0"},
  {"a packet only clients send (CONNECT)", "\16\2\0\0"},
  {"a PUBACK of 3 bytes", "\64\3\0\1\0"},
  {"a PUBLISH whose topic is longer than the packet", "\48\5\0\9abc"},
  {"a PUBLISH with QoS 3", "\54\4\0\1tx"},
  {"the broker closing in the middle of a packet", "\48\100\0\1t" .. ("x"):rep(20), true},
  {"a 256 MiB message streamed past max_message_length, then a close", "huge"},
}

for _, h in ipairs(hostile) do
  T.test("misbehaving broker: " .. h[1] .. " -> offline; a healthy client undisturbed", function(done)
    local topic = uniq("healthy")
    local healthy_n, off = 0, false
    local rss0
    local srv, port = fake_broker(function(s)
      s:send(CONNACK)
      tmr.create():alarm(20, tmr.ALARM_SINGLE, function()
        if h[2] ~= "huge" then
          s:send(h[2])
          if h[3] then s:close() end
          return
        end
        -- 268435455 announced; 4 MiB sent in 64 KiB pieces, then the close
        s:send("\48\255\255\255\127\0\1t")
        local chunk, sent = ("z"):rep(65536), 0
        s:on("sent", function(x)
          sent = sent + 1
          if sent < 64 then x:send(chunk) else x:close() end
        end)
        s:send(chunk)
      end)
    end)
    local f = io.open("/proc/self/statm")
    if f then rss0 = select(2, f:read("*n", "*n")); f:close() end
    local m = mqtt.Client("nm-victim", 30, nil, nil, 1, 1024)
    m:on("message", T.expect(nil, 0))
    m:on("overflow", T.expect(nil, 0))
    m:on("offline", T.expect(function() off = true end))
    m:connect("127.0.0.1", port, false, T.expect())
    connected("nm-healthy", function(c)
      c:subscribe(topic, 0, function()
        for i = 1, 30 do c:publish(topic, "h" .. i, 0, 0) end
      end)
      c:on("message", function(cl, _, d)
        healthy_n = healthy_n + 1
        if healthy_n == 30 then
          wait_until(function() return off end, 5000, function()
            T.ok(off, "the victim went offline")
            T.eq(healthy_n, 30, "the healthy client got all its messages")
            if rss0 then
              local g = io.open("/proc/self/statm")
              local rss1 = select(2, g:read("*n", "*n"))
              g:close()
              T.ok((rss1 - rss0) * 4096 < 3 * 1048576, "memory stayed bounded", (rss1 - rss0) * 4 .. " KiB")
            end
            cl:close()
          end)
        end
      end)
    end):on("offline", function() srv:close(); done() end)
  end, 15)
end

T.test("a broker's packets one byte per write, then many in one write", function(done)
  local pkts = {
    "\48\7\0\3a/bone",                     -- QoS 0 "a/b" "one"
    "\50\9\0\3a/b\0\7two",                 -- QoS 1, id 7: PUBACK expected
    "\52\11\0\3a/b\0\8three",              -- QoS 2, id 8: PUBREC expected
    "\48\5\0\3a/b",                        -- empty payload: data nil
  }
  local acks = ""
  local srv, port = fake_broker(function(s)
    s:on("receive", function(_, d) acks = acks .. d end)
    s:send(CONNACK)
    local all = table.concat(pkts)
    local i = 0
    s:on("sent", function(x)
      i = i + 1
      if i < #all then x:send(all:sub(i + 1, i + 1)) elseif i == #all then x:send(all .. all) end
    end)
    s:send(all:sub(1, 1))
  end)
  local got = {}
  local m = mqtt.Client("nm-bytes", 30)
  m:on("message", function(cl, t, d)
    got[#got + 1] = t .. "=" .. tostring(d)
    if #got == 8 then
      T.eq(table.concat(got, " "), "a/b=one a/b=two a/b=three a/b=nil a/b=one a/b=two a/b=three a/b=nil",
        "every message, byte by byte and all in one read")
      wait_until(function() return #acks >= 16 end, 2000, function()
        T.eq(acks:sub(1, 8), "\64\2\0\7\80\2\0\8", "PUBACK for QoS 1, PUBREC for QoS 2")
        cl:close()
      end)
    end
  end)
  m:on("offline", function() srv:close(); done() end)
  m:connect("127.0.0.1", port)
end)

T.test("broker gone (no PINGRESP): PINGREQ at keepalive, offline one keepalive later", function(done)
  local t0, tping
  local srv, port = fake_broker(function(s)
    s:send(CONNACK)
    s:on("receive", function(_, d) if d == "\192\0" and not tping then tping = tmr.now() end end)
  end)
  local m = mqtt.Client("nm-gone", 1)
  m:on("offline", T.expect(function()
    local ms = math.floor((tmr.now() - t0) / 1000)
    T.ok(tping and (tping - t0) / 1000 >= 900, "PINGREQ after 1 s idle")
    T.ok(ms >= 1900 and ms < 3500, "offline about 2 s after connecting", ms)
    srv:close()
    done()
  end))
  m:connect("127.0.0.1", port, false, function() t0 = tmr.now() end)
end, 10)

-- ---- the API ----

T.test("misuse raises; a call that raises changes nothing", function(done)
  local m = mqtt.Client("nm-api", 30)
  T.raises(function() m:publish("t", "x", 0, 0) end, "not connected", "publish before connect")
  T.raises(function() m:subscribe("t", 0) end, "not connected", "subscribe before connect")
  T.raises(function() m:unsubscribe("t") end, "not connected", "unsubscribe before connect")
  T.raises(function() m:on("bogus", print) end, "invalid option 'bogus'", "unknown event")
  T.raises(function() m:on("message", 5) end, "function expected", "not a function")
  T.raises(function() m:lwt() end, "need lwt topic", "lwt without topic")
  T.raises(function() m:lwt("t") end, "need lwt message", "lwt without message")
  T.raises(function() m:connect() end, "string expected", "connect without host")
  T.raises(function() mqtt.Client("x", 70000) end, "out of range", "keepalive over 65535")
  T.raises(function() mqtt.Client("x", 1.5) end, "integer expected", "keepalive 1.5")
  T.raises(function() mqtt.Client("x", 30, {}) end, "user name expected", "user not a string")
  T.raises(function() m:connect("127.0.0.1", 70000) end, "invalid port", "port 70000")
  T.eq(mqtt.CONN_FAIL_SERVER_NOT_FOUND, -5, "constant")
  T.eq(mqtt.CONN_FAIL_TIMEOUT_SENDING, -1, "constant")
  T.eq(mqtt.CONNACK_REFUSED_BAD_USER_OR_PASS, 4, "constant")
  m:connect("127.0.0.1", PORT, false, function(c)
    T.raises(function() c:publish("t", "x", 3, 0) end, "out of range", "QoS 3")
    T.raises(function() c:subscribe({}) end, "no topics found", "empty table")
    T.raises(function() c:subscribe({[1] = 0}) end, "invalid topic", "topic not a string")
    T.raises(function() c:subscribe({t = 5}) end, "invalid qos", "qos 5 in a table")
    T.eq(c:publish("", "x", 0, 0), false, "empty topic: false, as the firmware")
    T.eq(c:subscribe("", 0), false, "empty topic: false")
    c:close()
    T.raises(function() c:publish("t", "x", 0, 0) end, "not connected", "publish after close()")
  end)
  m:on("offline", function() done() end)
end)

T.test("close() before the broker accepted drops the attempt without a callback", function(done)
  local srv, port = fake_broker(function() end) -- never answers
  local m = mqtt.Client("nm-early", 30)
  m:on("offline", T.expect(nil, 0))
  m:connect("127.0.0.1", port, false, T.expect(nil, 0), T.expect(nil, 0))
  m:close()
  -- reusable at once
  m:connect("127.0.0.1", PORT, false, T.expect(function(c) c:close() end))
  m:on("offline", T.expect(function() srv:close(); done() end))
end)

T.test("the older connect(host, port, secure, autoreconnect, cb, fail) form", function(done)
  local m = mqtt.Client("nm-old", 30)
  m:connect("127.0.0.1", PORT, 0, 0, T.expect(function(c) c:close() end), T.expect(nil, 0))
  m:on("offline", function() done() end)
end)

T.test("a closed client is collected; an active one is not", function(done)
  local m = mqtt.Client("nm-gc", 30)
  local w = T.weak(m)
  m:on("connect", function(c) c:close() end)
  m:on("offline", function()
    tmr.create():alarm(1, tmr.ALARM_SINGLE, function() T.ok(T.collected(w), "collected after offline"); done() end)
  end)
  m:connect("127.0.0.1", PORT)
  m = nil
  T.ok(not T.collected(w), "kept while connecting")
end)

T.run()
