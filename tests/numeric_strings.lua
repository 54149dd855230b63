-- Ports, TTLs, intervals and timeouts given as numeric strings (issue 12):
-- the firmware reads them with luaL_checkinteger / lua_isnumber, so
-- srv:listen("8266", fn), sock:connect("143", host), udp:send("8267", ip,
-- data) work on the device; "80x", "1.5" and "" are still errors, with the
-- messages a number of the wrong kind gets.
local T = dofile("tests/lib/t.lua")

local LO = "127.0.0.1"

-- A free loopback TCP port, as a string.
local function free_port()
  local s = net.createServer()
  s:listen(0, LO, function() end)
  local p = s:getaddr()
  s:close()
  return tostring(p)
end

T.test("srv:listen(\"port\", fn) takes the string as the port, not as an IP", function(done)
  local port = free_port()
  local srv = net.createServer()
  srv:listen(port, function(c) c:close() end) -- all interfaces, as listen(8266, fn)
  local p, ip = srv:getaddr()
  T.eq(p, tonumber(port), "listening on the port given as a string")
  T.eq(ip, "0.0.0.0", "on every interface")
  srv:close()
  local srv2 = net.createServer()
  srv2:listen(" " .. port .. " ", LO, function() end)
  T.eq((srv2:getaddr()), tonumber(port), "spaces around the number, as Lua converts it")
  srv2:close()
  done()
end)

T.test("sock:connect(\"port\", ip) connects; the server port as a string too", function(done)
  local srv = net.createServer()
  srv:listen("0", LO, function(c)
    c:on("receive", function(s, d) s:send(d) end)
  end)
  local port = srv:getaddr()
  local c = net.createConnection()
  c:on("connection", function(s) s:send("ping") end)
  c:on("receive", function(s, d)
    T.eq(d, "ping", "echo over a connection made with a string port")
    s:close(); srv:close(); done()
  end)
  c:connect(tostring(port), LO)
end)

T.test("udp:listen(\"port\") and udp:send(\"port\", ip, data)", function(done)
  local r = net.createUDPSocket()
  r:listen("0", LO)
  local port = r:getaddr()
  r:on("receive", function(u, data)
    T.eq(data, "dgram", "datagram sent to a string port arrived")
    u:close(); done()
  end)
  local s = net.createUDPSocket()
  s:on("sent", function(u) u:close() end)
  s:send(tostring(port), LO, "dgram")
end)

T.test("ttl(\"n\") on TCP and UDP sockets", function(done)
  local u = net.createUDPSocket()
  u:listen(0, LO)
  T.eq(u:ttl("17"), 17, "udp:ttl(\"17\")")
  T.raises(function() u:ttl("17x") end, "integer expected, got string", "udp:ttl(\"17x\")")
  T.raises(function() u:ttl("1.5") end, "integer expected, got string", "udp:ttl(\"1.5\")")
  T.raises(function() u:ttl("256") end, "out of range [1-255]", "udp:ttl(\"256\")")
  u:close()
  local srv = net.createServer()
  srv:listen(0, LO, function(c)
    T.eq(c:ttl("33"), 33, "tcp:ttl(\"33\") on an accepted socket")
    T.raises(function() c:ttl("") end, "integer expected, got string", "tcp:ttl(\"\")")
    c:close(); srv:close(); done()
  end)
  net.createConnection():connect((srv:getaddr()), LO)
end)

T.test("tmr intervals and modes as strings", function(done)
  local t = tmr.create()
  T.raises(function() t:register("1.5", 0, print) end, "integer expected, got string", "interval \"1.5\"")
  T.raises(function() t:register("10x", 0, print) end, "integer expected, got string", "interval \"10x\"")
  T.raises(function() t:register("", 0, print) end, "integer expected, got string", "interval \"\"")
  T.raises(function() t:register("0", 0, print) end, "out of range [1-6870947]", "interval \"0\"")
  T.raises(function() t:register("10", "3", print) end, "Invalid mode", "mode \"3\"")
  T.eq(t:state(), nil, "the failed calls registered nothing")
  T.raises(function() tmr.delay("1x") end, "integer expected, got string", "tmr.delay(\"1x\")")
  tmr.delay("1000")
  local n = 0
  T.eq(t:alarm("5", tostring(tmr.ALARM_AUTO), function(tt)
    n = n + 1
    if n == 1 then
      tt:interval("7")
      return
    end
    tt:unregister()
    T.eq(n, 2, "an AUTO timer registered with string arguments fired, interval changed")
    done()
  end), true, "alarm(\"5\", \"2\", fn)")
  local running, mode = t:state()
  T.ok(running and mode == tmr.ALARM_AUTO, "running in the mode given as a string")
end)

T.test("createServer timeouts as strings", function(done)
  local s = net.createServer(net.TCP, "5")
  T.eq(tostring(s):match("^net.tcpserver"), "net.tcpserver", "createServer(net.TCP, \"5\")")
  s = net.createServer("28800")
  T.ok(s ~= nil, "createServer(\"28800\")")
  T.raises(function() net.createServer(net.TCP, "1.5") end, "integer expected, got string", "timeout \"1.5\"")
  T.raises(function() net.createServer(net.TCP, "30s") end, "integer expected, got string", "timeout \"30s\"")
  T.raises(function() net.createServer(net.TCP, "28801") end, "out of range [1-28800]", "timeout \"28801\"")
  done()
end)

T.test("ports that are not integers: the same errors as before", function(done)
  local c = net.createConnection()
  for _, p in ipairs({"80x", "1.5", "", "80\0", "0x"}) do
    T.raises(function() c:connect(p, LO) end, "invalid port", ("connect(%q)"):format(p))
  end
  T.raises(function() c:connect("0", LO) end, "specify port", "connect(\"0\")")
  T.raises(function() c:connect("65536", LO) end, "invalid port", "connect(\"65536\")")
  local u = net.createUDPSocket()
  for _, p in ipairs({"80x", "1.5", ""}) do
    T.raises(function() u:send(p, LO, "x") end, "invalid port", ("udp:send(%q)"):format(p))
  end
  T.raises(function() u:send("0", LO, "x") end, "need port", "udp:send(\"0\")")
  local srv = net.createServer()
  local fn = function() end
  -- As the firmware (lua_isnumber): a numeric string is a port, anything
  -- else an address.
  T.raises(function() srv:listen("1.5", fn) end, "invalid port", "listen(\"1.5\", fn): a bad port")
  T.raises(function() srv:listen("80x", fn) end, "invalid IP address", "listen(\"80x\", fn): a bad address")
  T.raises(function() srv:listen("", fn) end, "invalid IP address", "listen(\"\", fn)")
  T.raises(function() srv:listen("70000", LO, fn) end, "invalid port", "listen(\"70000\", ip, fn)")
  T.raises(function() u:listen("1.5") end, "invalid port", "udp:listen(\"1.5\")")
  T.raises(function() u:listen("80x") end, "invalid IP address", "udp:listen(\"80x\")")
  T.eq(srv:getaddr(), nil, "the server is not listening after the errors")
  T.eq(u:getaddr(), nil, "the UDP socket is not bound after the errors")
  done()
end)

T.run()
