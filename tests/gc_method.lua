-- obj:__gc() as a method (issue 12): the firmware's server, TCP socket, UDP
-- socket and timer method tables contain __gc, and its lua_modules/ftp
-- calls server:__gc().  It closes if open and releases (callbacks too, as
-- net_delete / tmr_unregister do); the object stays usable; calling it
-- twice, using the object after it and the collector later are all safe.
-- And every class's __gc checks its argument (issue 18, item 4).
local T = dofile("tests/lib/t.lua")

local LO = "127.0.0.1"

-- A client that connects to port and calls on_close(code) when the
-- connection ends.
local function client(port, on_close, on_connect)
  local c = net.createConnection()
  c:on("disconnection", function(_, code) on_close(code) end)
  c:on("reconnection", function(_, code) on_close(code) end)
  if on_connect then c:on("connection", on_connect) end
  c:connect(port, LO)
  return c
end

T.test("server:__gc() stops listening; twice; listen again; then collected", function(done)
  local srv = net.createServer()
  T.eq(type(srv.__gc), "function", "the server has a __gc method")
  srv:listen(0, LO, function() end)
  local port = srv:getaddr()
  srv:__gc()
  T.eq(srv:getaddr(), nil, "no longer listening")
  srv:__gc()
  T.ok(true, "a second __gc() is harmless")
  T.raises(function() srv:close() end, "not connected", "close() after __gc(), as the firmware")
  -- The port is free again, and the object listens again (its old listen
  -- function was dropped, the new one is used).
  srv:listen(port, LO, function(c)
    T.ok(true, "listen() again after __gc(): the new listen function runs")
    c:close()
  end)
  T.eq((srv:getaddr()), port, "listening again on the same port")
  client(port, function()
    srv:__gc()
    local w = T.weak(srv)
    srv = nil
    T.ok(T.collected(w), "collected after __gc()")
    done()
  end)
end)

T.test("ftpserver's pattern: server:__gc() right after close()", function(done)
  local srv = net.createServer()
  srv:listen(0, LO, function() end)
  srv:close()
  srv:__gc()
  T.eq(srv:getaddr(), nil, "closed")
  done()
end)

T.test("client socket:__gc() while connected: peer sees it, no callback, reusable", function(done)
  local srv = net.createServer()
  local conn_holder
  local accepted = 0
  srv:listen(0, LO, function(conn)
    accepted = accepted + 1
    if accepted == 1 then
      conn:on("disconnection", function()
        T.ok(true, "the peer saw the connection end")
        -- The same object connects again; its old callbacks are gone.
        local c = conn_holder[1]
        T.raises(function() c:send("x") end, "not connected", "send() after __gc()")
        T.raises(function() c:close() end, "not connected", "close() after __gc()")
        c:on("connection", function(s)
          T.ok(true, "connect() again after __gc(): the new callback runs")
          s:close()
        end)
        c:connect((srv:getaddr()), LO)
      end)
    else
      conn:on("disconnection", function()
        srv:close()
        local w = T.weak(conn_holder[1])
        conn_holder[1] = nil
        T.ok(T.collected(w), "the socket is collected")
        done()
      end)
    end
  end)
  local old_fired = false
  local c = client((srv:getaddr()), function() old_fired = true end, function(s)
    s:__gc()
    s:__gc()
    T.eq(s:getpeer(), nil, "no peer after __gc()")
    tmr.create():alarm(50, tmr.ALARM_SINGLE, function()
      T.ok(not old_fired, "no disconnection callback after __gc()")
    end)
  end)
  conn_holder = {c}
end)

T.test("accepted socket:__gc() inside its receive callback", function(done)
  local srv = net.createServer()
  srv:listen(0, LO, function(conn)
    conn:on("receive", function(s, data)
      T.eq(data, "hi", "received")
      s:__gc()
      T.raises(function() s:send("x") end, "not connected", "send() inside the callback after __gc()")
    end)
    conn:on("disconnection", function() T.ok(false, "no disconnection callback after __gc()") end)
  end)
  client((srv:getaddr()), function(code)
    T.ok(true, "the client saw the end (" .. tostring(code) .. ")")
    srv:__gc()
    done()
  end, function(s) s:send("hi") end)
end)

T.test("socket:__gc() while resolving or connecting", function(done)
  local srv = net.createServer()
  srv:listen(0, LO, function() end)
  local port = srv:getaddr()
  local a = net.createConnection()
  a:on("connection", function() T.ok(false, "no connection callback after __gc()") end)
  a:connect(port, "localhost")
  a:__gc()
  local b = net.createConnection()
  b:on("connection", function() T.ok(false, "no connection callback after __gc()") end)
  b:connect(port, LO)
  b:send("queued while connecting")
  b:__gc()
  -- A full round trip later nothing has fired.
  client(port, function() end, function(s)
    s:close(); srv:close()
    T.ok(true, "nothing fired for the sockets deleted while connecting")
    done()
  end)
end)

T.test("udp:__gc(): unbound, callbacks dropped, listen again, collected", function(done)
  local u = net.createUDPSocket()
  T.eq(type(u.__gc), "function", "the UDP socket has a __gc method")
  u:listen(0, LO)
  local port = u:getaddr()
  u:on("receive", function() T.ok(false, "old receive callback after __gc()") end)
  u:__gc()
  u:__gc()
  T.eq(u:getaddr(), nil, "not bound after __gc()")
  T.raises(function() u:close() end, "not connected", "close() after __gc()")
  u:listen(port, LO)
  T.eq((u:getaddr()), port, "bound again to the same port")
  local s = net.createUDPSocket()
  s:on("sent", function(x) x:close() end)
  s:send(port, LO, "one")
  -- Nothing should arrive at the old callback; prove the datagram was
  -- there by setting a new one after a turn.
  u:on("receive", function(x, data)
    T.eq(data, "one", "the new receive callback gets the datagram")
    x:__gc()
    local w = T.weak(u)
    u = nil
    tmr.create():alarm(1, tmr.ALARM_SINGLE, function() -- off the callback's stack
      T.ok(T.collected(w), "collected after __gc()")
      done()
    end)
  end)
end)

T.test("tmr: t:__gc() unregisters, as the firmware's tmr_unregister", function(done)
  local t = tmr.create()
  T.eq(type(t.__gc), "function", "the timer has a __gc method")
  t:alarm(10, tmr.ALARM_AUTO, function() T.ok(false, "fired after __gc()") end)
  t:__gc()
  t:__gc()
  T.eq(t:state(), nil, "unregistered")
  T.eq(t:start(), false, "start() has nothing to start")
  T.eq(t:alarm(20, tmr.ALARM_SINGLE, function()
    T.ok(true, "registered again after __gc(), fires")
    t:__gc()
    local w = T.weak(t)
    t = nil
    tmr.create():alarm(1, tmr.ALARM_SINGLE, function() -- off the callback's stack
      T.ok(T.collected(w), "collected")
      done()
    end)
  end), true, "alarm() again")
end)

T.test("every class's __gc refuses what is not its object (metatable and method)", function(done)
  local objs = {
    server = net.createServer(),
    tcpsocket = net.createConnection(),
    udpsocket = net.createUDPSocket(),
    timer = tmr.create(),
  }
  local others = {
    {"a string", "x"}, {"a number", 42}, {"a file", io.stdout}, {"a table", {}},
    {"nil", nil}, {"a function", print},
  }
  for name, o in pairs(objs) do
    local mt = getmetatable(o)
    for _, v in ipairs(others) do
      T.raises(function() mt.__gc(v[2]) end, "expected", name .. ": getmetatable(o).__gc(" .. v[1] .. ")")
      T.raises(function() o.__gc(v[2]) end, "expected", name .. ": o.__gc(" .. v[1] .. ")")
    end
    for other, p in pairs(objs) do
      if other ~= name then
        T.raises(function() mt.__gc(p) end, "expected", name .. ": its __gc given a " .. other)
        T.raises(function() o.__gc(p) end, "expected", name .. ": its __gc method given a " .. other)
      end
    end
  end
  -- The objects passed around are intact.
  objs.server:listen(0, LO, function() end)
  objs.udpsocket:listen(0, LO)
  T.ok(objs.server:getaddr() and objs.udpsocket:getaddr(), "server and UDP socket still work")
  T.eq(objs.timer:alarm(1, tmr.ALARM_SINGLE, function()
    objs.server:close(); objs.udpsocket:close()
    done()
  end), true, "timer still works")
  io.stdout:write("")
end)

T.run()
