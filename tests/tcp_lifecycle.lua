-- TCP connection life (docs/modules/net.md): disconnection codes, close, reconnect,
-- hold/unhold, inactivity timeout, collection of unreferenced objects.
local T = dofile("tests/lib/t.lua")

local function server(fn, timeout)
  local srv = net.createServer(net.TCP, timeout or 30) -- createServer(1) alone would mean net.TCP
  srv:listen(0, "127.0.0.1", fn)
  return srv, (srv:getaddr())
end

-- A port nothing listens on: listen, read the port, close.
local function free_port()
  local srv, port = server(function() end)
  srv:close()
  return port
end

T.test("peer close gives disconnection(0)", function(done)
  local srv, port = server(function(c) c:close() end)
  local c = net.createConnection()
  c:on("disconnection", function(s, code)
    T.eq(code, 0, "disconnection code 0")
    T.ok(s == c, "callback gets the socket")
    T.eq(select("#", s:getpeer()), 2, "getpeer gives two values after the end")
    T.eq(s:getpeer(), nil, "no peer after the end")
    srv:close(); done()
  end)
  c:connect(port, "127.0.0.1")
end)

T.test("refused port gives reconnection(-9) when set", function(done)
  local c = net.createConnection()
  local disc = 0
  c:on("disconnection", function() disc = disc + 1 end)
  c:on("reconnection", function(s, code)
    T.eq(code, -9, "reconnection code -9")
    -- let any stray disconnection show up before concluding
    tmr.create():alarm(50, tmr.ALARM_SINGLE, function()
      T.eq(disc, 0, "no disconnection as well")
      done()
    end)
  end)
  c:connect(free_port(), "127.0.0.1")
end)

T.test("refused port gives disconnection(-9) without reconnection", function(done)
  local c = net.createConnection()
  c:on("disconnection", function(s, code)
    T.eq(code, -9, "disconnection code -9")
    done()
  end)
  c:connect(free_port())
end)

T.test("a connect the kernel refuses at once is reported from the loop", function(done)
  -- TCP to the broadcast address is rejected locally; no packet leaves.
  local c = net.createConnection()
  local in_call = true
  c:on("disconnection", function(s, code)
    T.ok(not in_call, "not called from inside connect()")
    T.ok(code < 0, "negative code " .. tostring(code))
    T.raises(function() s:close() end, "not connected", "socket ended")
    done()
  end)
  c:connect(80, "255.255.255.255")
  in_call = false
end)

T.test("a refused socket may connect again, callbacks kept", function(done)
  local srv, port = server(function(c) c:send("hi") end)
  local c = net.createConnection()
  local tries = 0
  c:on("disconnection", function(s, code)
    tries = tries + 1
    T.eq(code, -9, "first attempt refused")
    s:connect(port) -- from inside the callback
  end)
  c:on("receive", function(s, d)
    T.eq(d, "hi", "second attempt connected and received")
    T.eq(tries, 1, "one failure before")
    s:close(); srv:close(); done()
  end)
  c:connect(free_port())
end)

T.test("local close fires nothing and still flushes what was sent", function(done)
  local total = 4 * 1024 * 1024
  local got, data = {}, nil
  local n = 0
  local srv, port
  srv, port = server(function(c)
    c:on("receive", function(_, d) got[#got + 1] = d; n = n + #d end)
    c:on("disconnection", function(_, code)
      T.eq(code, 0, "peer saw a normal close")
      T.eq(n, total, "every byte queued before close() arrived")
      T.ok(table.concat(got) == data, "bytes intact")
      srv:close(); done()
    end)
  end)
  local c = net.createConnection()
  local count = T.expect(nil, 0) -- no callback on the closed socket
  c:on("sent", count)
  c:on("disconnection", count)
  c:on("reconnection", count)
  c:on("receive", count)
  c:on("connection", function(s)
    local parts = {}
    for i = 1, total / 65536 do
      parts[i] = string.char(i % 256):rep(65536)
      s:send(parts[i])
    end
    data = table.concat(parts)
    s:close()
    T.raises(function() s:close() end, "not connected", "second close raises")
    T.raises(function() s:send("x") end, "not connected", "send after close raises")
  end)
  c:connect(port)
end, 30)

-- close() with nothing queued in netmcu (the kernel took every send at
-- once) sends the FIN itself instead of waiting a loop turn in libuv.
T.test("close() after sends the kernel took: bytes, then a normal close", function(done)
  local conns, ended = 0, 0
  local srv, port
  srv, port = server(function(c)
    conns = conns + 1
    local got = ""
    c:on("receive", function(_, d) got = got .. d end)
    c:on("disconnection", function(_, code)
      T.eq(code, 0, "peer saw a FIN, not a reset")
      T.eq(got, "hello world", "both sends arrived before it")
      ended = ended + 1
      if ended == 2 then srv:close(); done() end
    end)
  end)
  local function client(close_in_sent)
    local c = net.createConnection()
    c:on("connection", function(s)
      if close_in_sent then
        s:send("hello ")
        s:send("world", function(s2) s2:close() end)
      else
        s:send("hello ")
        s:send("world")
        s:close()
      end
    end)
    c:connect(port)
  end
  client(false)
  client(true)
end)
T.test("close while connecting, then connect again", function(done)
  local accepted = 0
  local srv, port = server(function(c) accepted = accepted + 1; c:send("x") end)
  local c = net.createConnection()
  c:connect(port)
  c:close()
  T.raises(function() c:close() end, "not connected", "closed socket")
  c:on("receive", function(s, d)
    T.eq(d, "x", "the new connection works")
    s:close(); srv:close(); done()
  end)
  c:connect(port)
end)

-- A close() while connecting ends the connection as soon as the connect
-- completes (it used to wait for the 10 s linger bound: libuv never ran
-- the shutdown queued during the connect).
T.test("close while connecting: the peer sees the close at once", function(done)
  local t0 = node.uptime()
  local srv, port
  srv, port = server(function(c)
    c:on("disconnection", T.expect(function(_, code)
      T.eq(code, 0, "normal close")
      T.ok(node.uptime() - t0 < 2e6, "within 2 s", (node.uptime() - t0) / 1e6 .. " s")
      srv:close(); done()
    end))
  end)
  local c = net.createConnection()
  c:on("connection", T.expect(nil, 0))
  c:connect(port)
  c:close()
end)

T.test("connect on a connecting socket raises already connected", function(done)
  local srv, port = server(function() end)
  local c = net.createConnection()
  c:connect(port)
  T.raises(function() c:connect(port) end, "already connected", "while connecting")
  c:on("connection", function(s)
    T.raises(function() s:connect(port) end, "already connected", "while connected")
    s:close(); srv:close(); done()
  end)
end)

T.test("sends made while connecting or resolving go out once connected", function(done)
  local got = {}
  local srv, port
  srv, port = server(function(c)
    c:on("receive", function(_, d)
      got[#got + 1] = d
      local all = table.concat(got)
      if all:find("by-ip-2", 1, true) and all:find("by-name-2", 1, true) then
        T.ok(all:find("by-ip-1by-ip-2", 1, true) ~= nil, "both sends made while connecting, in order")
        T.ok(all:find("by-name-1by-name-2", 1, true) ~= nil, "both sends made while resolving, in order")
        srv:close(); done()
      end
    end)
  end)
  local a = net.createConnection()
  a:connect(port, "127.0.0.1")
  a:send("by-ip-1"); a:send("by-ip-2", function(s) s:close() end)
  local b = net.createConnection()
  b:connect(port, "localhost") -- /etc/hosts, through the resolver
  b:send("by-name-1"); b:send("by-name-2", function(s) s:close() end)
end)

T.test("srv:close() stops listening; accepted connections stay open", function(done)
  local srv, port
  srv, port = server(function(c)
    c:on("receive", function(s, d) s:send(d .. "!") end)
  end)
  local c = net.createConnection()
  c:on("connection", function(s)
    srv:close()
    T.eq(srv:getaddr(), nil, "server no longer listening")
    s:send("still")
  end)
  c:on("receive", function(s, d)
    T.eq(d, "still!", "the accepted connection still answers")
    local late = net.createConnection()
    late:on("disconnection", function(_, code)
      T.eq(code, -9, "a new connection is refused")
      s:close(); done()
    end)
    late:connect(port)
  end)
  c:connect(port)
end)

T.test("listen function runs before data, connection callback after it", function(done)
  local order = {}
  local srv, port
  srv, port = server(function(c)
    order[#order + 1] = "listen"
    local p, ip = c:getpeer()
    T.ok(type(p) == "number" and ip == "127.0.0.1", "getpeer works inside the listen function")
    c:on("connection", function() order[#order + 1] = "connection" end)
    c:on("receive", function(s, d)
      order[#order + 1] = "receive"
      T.eq(table.concat(order, ","), "listen,connection,receive", "event order")
      s:close(); srv:close(); done()
    end)
  end)
  local c = net.createConnection()
  c:on("connection", function(s) s:send("data"); s:close() end)
  c:connect(port)
end)

T.test("hold stalls the sender until unhold, data intact", function(done)
  local total, chunk = 64 * 1024 * 1024, 1024 * 1024
  local recv, sent, srvsock = 0, 0, nil
  local ok_bytes = true
  local srv, port
  srv, port = server(function(c)
    srvsock = c
    c:hold()
    c:on("receive", function(s, d)
      -- every chunk is filled with one byte value; check the stream position
      for i = 1, #d, 4096 do
        local pos = recv + i - 1
        if d:byte(i) ~= math.floor(pos / chunk) % 251 then ok_bytes = false end
      end
      recv = recv + #d
      if recv == total then
        T.ok(ok_bytes, "data intact after unhold")
        T.eq(sent, (total / chunk), "every send completed")
        s:close(); srv:close(); done()
      end
    end)
  end)
  local c = net.createConnection()
  c:on("sent", function() sent = sent + 1 end)
  c:on("connection", function(s)
    for i = 0, (total / chunk) - 1 do s:send(string.char(i % 251):rep(chunk)) end
  end)
  c:connect(port)
  -- Wait until the sender makes no progress for 300 ms while held.
  local last, still = -1, 0
  local watch = tmr.create()
  watch:alarm(100, tmr.ALARM_AUTO, function(t)
    if sent == last then still = still + 1 else still = 0; last = sent end
    if still == 3 then
      t:unregister()
      T.eq(recv, 0, "nothing delivered while held")
      T.ok(sent < (total / chunk), ("sender stalled at %d of %d sends"):format(sent, (total / chunk)))
      c:on("disconnection", function() end)
      srvsock:unhold()
    end
  end)
end, 60)

T.test("inactivity timeout closes an idle client with -3, spares an active one", function(done)
  local codes = {}
  local ended = 0
  local srv, port
  srv, port = server(function(c)
    c:on("receive", function() end)
    c:on("disconnection", function(s, code)
      codes[#codes + 1] = code
    end)
  end, 1)
  local idle = net.createConnection()
  local idle_end
  idle:on("disconnection", function(_, code) idle_end = code end)
  idle:connect(port)
  local active = net.createConnection()
  local active_end
  active:on("disconnection", function(_, code) active_end = code end)
  local ticks = 0
  active:on("connection", function(s)
    local t = tmr.create()
    t:alarm(250, tmr.ALARM_AUTO, function(tt)
      ticks = ticks + 1
      s:send("ping")
      if ticks == 10 then -- 2.5 s, well past the 1 s timeout
        tt:unregister()
        T.eq(codes[1], -3, "server side got -3 for the idle client")
        T.eq(#codes, 1, "only the idle one timed out")
        T.eq(idle_end, 0, "idle client saw the server close it")
        T.eq(active_end, nil, "active client still connected")
        s:close(); srv:close()
        tmr.create():alarm(20, tmr.ALARM_SINGLE, done)
      end
    end)
  end)
  active:connect(port)
end)

T.test("timeout with reconnection set goes to reconnection", function(done)
  local srv, port
  srv, port = server(function(c)
    c:on("disconnection", function() T.ok(false, "disconnection not expected") end)
    c:on("reconnection", function(_, code)
      T.eq(code, -3, "reconnection(-3)")
      srv:close(); done()
    end)
  end, 1)
  local c = net.createConnection()
  c:on("disconnection", function() end)
  c:connect(port)
end)

T.test("unreferenced server and socket keep working, collected after close", function(done)
  local wsrv, wcli, port
  do
    local srv = net.createServer()
    srv:listen(0, "127.0.0.1", function(c)
      c:on("receive", function(s, d) s:send(d:upper()) end)
    end)
    port = srv:getaddr()
    wsrv = T.weak(srv)
  end
  collectgarbage(); collectgarbage()
  T.ok(wsrv[1] ~= nil, "listening server not collected")
  do
    local c = net.createConnection()
    c:on("connection", function(s) s:send("abc") end)
    c:on("receive", function(s, d)
      T.eq(d, "ABC", "unreferenced server and client talk")
      s:close()
      wsrv[1]:close()
      tmr.create():alarm(10, tmr.ALARM_SINGLE, function()
        T.ok(T.collected(wsrv), "closed server collected")
        T.ok(T.collected(wcli), "closed socket collected despite its self-referencing callback")
        done()
      end)
    end)
    c:connect(port)
    wcli = T.weak(c)
  end
  collectgarbage(); collectgarbage()
  T.ok(wcli[1] ~= nil, "connecting socket not collected")
end)

T.test("accepted sockets are collected after the peer closes", function(done)
  local weak = setmetatable({}, {__mode = "k"})
  local count = 0
  local srv, port
  srv, port = server(function(c)
    weak[c] = true
    c:on("receive", function(s, d) s:send(d) end) -- references itself
    c:on("disconnection", function()
      count = count + 1
      if count == 20 then
        tmr.create():alarm(10, tmr.ALARM_SINGLE, function()
          collectgarbage(); collectgarbage()
          T.eq(next(weak), nil, "all 20 accepted sockets collected")
          srv:close(); done()
        end)
      end
    end)
  end)
  for _ = 1, 20 do
    local c = net.createConnection()
    c:on("connection", function(s) s:close() end)
    c:connect(port)
  end
end)

T.run()
