-- tests/websocket/client.lua - the websocket module against a real server
-- on loopback (tests/websocket/server.pl, started by tests/websocket.sh).
local T = dofile("tests/lib/t.lua")
local PORT = assert(tonumber(os.getenv("WS_PORT")), "WS_PORT")
local DEAD = assert(tonumber(os.getenv("WS_DEAD_PORT")), "WS_DEAD_PORT")
local LOG = os.getenv("WS_LOG")
local function url(path) return ("ws://127.0.0.1:%d%s"):format(PORT, path) end

-- Connects to path; on connection calls opened(ws); every message goes to
-- got(ws, msg, op); the close status to closed(ws, status).
local function client(path, h)
  local ws = websocket.createClient()
  if h.opened then ws:on("connection", h.opened) end
  if h.got then ws:on("receive", h.got) end
  ws:on("close", h.closed)
  if h.headers then ws:config({headers = h.headers}) end
  ws:connect(url(path))
  return ws
end

T.test("text echo, then close() gives status 0", function(done)
  local ws
  ws = client("/echo", {
    opened = T.expect(function(w) T.eq(w, ws, "connection passes the client"); w:send("hello") end),
    got = T.expect(function(w, msg, op)
      T.eq(msg, "hello", "text echoed"); T.eq(op, 1, "opcode 1 (text)")
      w:close()
    end),
    closed = T.expect(function(w, status) T.eq(status, 0, "close status after close()"); done() end),
  })
end)

T.test("binary messages of 125, 126, 65535, 65536 and 300000 bytes echoed", function(done)
  local sizes, i = {125, 126, 65535, 65536, 300000}, 1
  local function payload(n) return (("\0\1\2\255binary"):rep(math.floor(n / 10) + 1)):sub(1, n) end
  client("/echo", {
    opened = function(w) w:send(payload(sizes[1]), 2) end,
    got = function(w, msg, op)
      T.ok(msg == payload(sizes[i]) and op == 2, ("%d bytes, opcode 2"):format(sizes[i]))
      i = i + 1
      if sizes[i] then w:send(payload(sizes[i]), 2) else w:close() end
    end,
    closed = function() T.eq(i, #sizes + 1, "every size came back"); done() end,
  })
end)

T.test("a frame in the same read as the 101 answer", function(done)
  client("/welcome", {
    opened = T.expect(),
    got = T.expect(function(w, msg, op) T.eq(msg, "welcome", "first frame"); T.eq(op, 1, "text"); w:close() end),
    closed = function() done() end,
  })
end)

T.test("the request: extra headers, defaults, Host with its port", function(done)
  client("/headers", {
    headers = {["X-Test"] = "yes", ["user-agent"] = "netmcu-test", Upgrade = "ignored"},
    got = T.expect(function(w, head)
      head = head .. "\r\n" -- the server sends the lines without the blank one
      T.ok(head:find("GET /headers HTTP/1.1\r\n", 1, true) == 1, "request line", head)
      T.ok(head:find("\r\nHost: 127.0.0.1:" .. PORT .. "\r\n", 1, true), "Host with port", head)
      T.ok(head:find("\r\nX-Test: yes\r\n", 1, true), "extra header sent", head)
      T.ok(head:find("\r\nuser-agent: netmcu-test\r\n", 1, true), "extra User-Agent", head)
      T.ok(not head:find("ESP8266", 1, true), "default User-Agent replaced", head)
      T.ok(head:find("\r\nSec-WebSocket-Protocol: chat\r\n", 1, true), "default protocol kept", head)
      T.ok(head:find("\r\nUpgrade: websocket\r\n", 1, true) and not head:find("ignored", 1, true),
        "the handshake's own headers cannot be replaced", head)
      T.ok(head:find("\r\nSec-WebSocket-Version: 13\r\n", 1, true), "version 13", head)
      w:close()
    end),
    closed = function() done() end,
  })
end)

T.test("a fragmented message with a ping between its fragments", function(done)
  client("/frag", {
    got = T.expect(function(w, msg, op)
      T.eq(msg, "Hello, fragmented world", "fragments joined"); T.eq(op, 1, "opcode of the first")
      w:close()
    end),
    closed = function() done() end,
  })
end)

T.test("a 1 MiB binary message in many reads", function(done)
  client("/big", {
    got = T.expect(function(w, msg, op)
      T.eq(#msg, 1048576, "length"); T.eq(op, 2, "binary")
      local ok = true
      for _, i in ipairs({0, 1, 250, 251, 65535, 65536, 1048575}) do
        if msg:byte(i + 1) ~= i % 251 then ok = false end
      end
      T.ok(ok, "content")
      w:close()
    end),
    closed = function() done() end,
  })
end)

T.test("ping answered with a pong carrying its payload", function(done)
  client("/ping", {
    got = T.expect(function(w, msg) T.eq(msg, "pong ok", "the server saw our pong"); w:close() end),
    closed = function() done() end,
  })
end)

T.test("server's close frame: echoed, then close status -6", function(done)
  client("/close", {
    got = T.expect(nil, 0),
    closed = T.expect(function(_, status)
      T.eq(status, -6, "server requested termination")
      local n = 0
      local poll = tmr.create()
      poll:alarm(20, tmr.ALARM_AUTO, function()
        local f = LOG and io.open(LOG)
        local log = f and f:read("*a") or ""
        if f then f:close() end
        n = n + 1
        if log:find("echo ok", 1, true) or n > 150 then
          poll:unregister()
          T.ok(log:find("echo ok", 1, true), "our close frame echoed the server's code and reason", log)
          done()
        end
      end)
    end),
  })
end)

for _, c in ipairs({
  {"/masked", "masked", 1, "a masked frame is unmasked"},
  {"/utf8", "\255\254\195", 1, "text that is not UTF-8 is delivered as it came"},
  {"/reserved", "three", 3, "a reserved opcode is passed on"},
}) do
  T.test(c[4], function(done)
    client(c[1], {
      got = T.expect(function(w, msg, op) T.eq(msg, c[2], "payload"); T.eq(op, c[3], "opcode"); w:close() end),
      closed = function() done() end,
    })
  end)
end

for _, c in ipairs({
  {"/hangup", -99, "the server closes TCP without a close frame"},
  {"/mid", -99, "the server closes in the middle of a frame"},
  {"/badkey", -7, "a wrong Sec-WebSocket-Accept"},
  {"/notws", -17, "an answer that is not 101"},
  {"/badlen", -15, "a 64-bit length with its top bit set"},
  {"/huge", -8, "a frame announcing 2^40 bytes"},
  {"/cont", -15, "a continuation without a message"},
  {"/ctlbig", -15, "a control frame over 125 bytes"},
  {"/newinside", -15, "a new message inside a fragmented one"},
}) do
  T.test(c[3] .. " -> close " .. c[2], function(done)
    local opened = c[2] == -99 or c[2] < -7 and c[2] ~= -17
    client(c[1], {
      opened = T.expect(nil, opened and 1 or 0),
      got = T.expect(nil, 0),
      closed = T.expect(function(_, status) T.eq(status, c[2], "status"); done() end),
    })
  end)
end

T.test("a hostile server leaves a parallel client undisturbed", function(done)
  local n, bad = 0, 0
  client("/echo", {
    opened = function(w)
      for _, p in ipairs({"/badlen", "/mid", "/huge", "/cont", "/hangup"}) do
        client(p, {closed = function(_, s) if s ~= 0 then bad = bad + 1 end end})
      end
      w:send("m1")
    end,
    got = function(w, msg)
      n = n + 1
      T.ok(msg == "m" .. n, "message " .. n, msg)
      if n < 50 then w:send("m" .. (n + 1)) else w:close() end
    end,
    closed = function(_, s)
      T.eq(s, 0, "healthy client closed normally"); T.eq(n, 50, "every echo came back")
      local t = tmr.create()
      local k = 0
      t:alarm(10, tmr.ALARM_AUTO, function()
        k = k + 1
        if bad == 5 or k > 500 then t:unregister(); T.eq(bad, 5, "the five hostile ones failed"); done() end
      end)
    end,
  })
end)

for _, c in ipairs({
  {"http://127.0.0.1/", -1, "not ws:// or wss://"},
  {"ws://" .. ("h"):rep(300) .. "/", -2, "a host name over 255 characters"},
  {"ws://127.0.0.1:0/", -3, "port 0"},
  {"ws://127.0.0.1:70000/", -3, "port 70000"},
  {"ws://127.0.0.1:8x/", -3, "a port that is not a number"},
  {"ws:///path", -4, "no host"},
}) do
  T.test(c[3] .. " -> close " .. c[2] .. ", from the loop", function(done)
    local ws = websocket.createClient()
    local returned = false
    ws:on("close", T.expect(function(w, status)
      T.ok(returned, "not called inside connect()")
      T.eq(status, c[2], "status"); done()
    end))
    ws:connect(c[1])
    returned = true
  end)
end

T.test("a refused connection -> close -109 (ERR_RST - 100, as the firmware)", function(done)
  local ws = websocket.createClient()
  ws:on("connection", T.expect(nil, 0))
  ws:on("close", T.expect(function(_, status) T.eq(status, -109, "status"); done() end))
  ws:connect(("ws://127.0.0.1:%d/"):format(DEAD))
end)

T.test("a name that does not resolve -> close -5", function(done)
  local ws = websocket.createClient()
  ws:on("close", T.expect(function(_, status) T.eq(status, -5, "status"); done() end))
  ws:connect("ws://nosuch.invalid/")
end)

T.test("connect by name (localhost)", function(done)
  local ws = websocket.createClient()
  ws:on("connection", T.expect(function(w) w:close() end))
  ws:on("close", function(_, s) T.eq(s, 0, "status"); done() end)
  ws:connect(("ws://localhost:%d/echo"):format(PORT))
end)

T.test("close() while connecting -> close 0 from the loop; reusable", function(done)
  local ws = websocket.createClient()
  local returned = false
  ws:on("connection", T.expect(nil, 0))
  ws:on("close", T.expect(function(w, status)
    T.ok(returned, "after close() returned"); T.eq(status, 0, "status")
    w:on("close", function() done() end)
    w:on("connection", function(x) x:close() end)
    w:connect(url("/echo"))
  end))
  ws:connect(url("/echo"))
  ws:close()
  ws:close() -- nothing more
  returned = true
end)

T.test("close() to a server that never answers: close 0 within the 5 s bound", function(done)
  local t0
  client("/silent", {
    opened = function(w) t0 = tmr.now(); w:close() end,
    closed = T.expect(function(_, status)
      T.eq(status, 0, "status")
      local ms = math.floor((tmr.now() - t0) / 1000)
      T.ok(ms >= 4900 and ms < 7000, "after about 5 s", ms)
      done()
    end),
  })
end, 15)

T.test("misuse raises the firmware's errors, and nothing else happens", function(done)
  local ws = websocket.createClient()
  T.raises(function() ws:send("x") end, "Websocket isn't connected.", "send before connect")
  T.raises(function() ws:on("bogus", print) end, "invalid option", "unknown event")
  T.raises(function() ws:on("close", 5) end, "function or nil", "not a function")
  T.raises(function() ws:config("x") end, "table expected", "config without a table")
  T.raises(function() ws:config({headers = {["A\r\nB"] = "x"}}) end, "invalid header", "header injection")
  T.raises(function() ws:connect() end, "string expected", "connect without URL")
  local ok = pcall(ws.connect, ws, "wss://127.0.0.1:1/")
  if not ok then
    T.raises(function() ws:connect("wss://127.0.0.1:1/") end, "ssl not available", "wss without TLS")
  else
    ws:close()
  end
  ws:on("connection", function(w)
    T.raises(function() w:connect(url("/echo")) end, "Websocket already connecting or connected.", "connect twice")
    T.raises(function() w:send("x", 16) end, "out of range", "opcode 16")
    w:close()
  end)
  ws:on("close", function() done() end)
  if not ok then ws:connect(url("/echo")) end
end)

T.test("wss:// goes through the TLS seam", function(done)
  local ws = websocket.createClient()
  local ok, err = pcall(ws.connect, ws, "wss://127.0.0.1:" .. DEAD .. "/")
  if not ok then
    T.ok(tostring(err):find("ssl not available", 1, true), "without TLS: ssl not available", err)
    T.skip("websocket over TLS", "the TLS filter (nm_tls_attach) is not linked in yet")
    done()
    return
  end
  -- with TLS linked in: a refused TLS connection still ends in `close`
  ws:on("close", T.expect(function(_, status) T.eq(status, -109, "refused"); done() end))
end)

T.test("a closed client is collected", function(done)
  local ws = websocket.createClient()
  local w = T.weak(ws)
  ws:on("connection", function(x) x:close() end)
  ws:on("close", function(x) x:send_never_called() end) -- replaced below
  ws:on("close", function()
    local t = tmr.create()
    t:alarm(1, tmr.ALARM_SINGLE, function() T.ok(T.collected(w), "collected once closed"); done() end)
  end)
  ws:connect(url("/echo"))
  ws = nil
end)

T.run()
