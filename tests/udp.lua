-- UDP sockets on loopback (net.udpsocket and its object lifetime).
local T = dofile("tests/lib/t.lua")

local LO = "127.0.0.1"

-- A socket listening on an ephemeral loopback port; returns it and the port.
local function receiver(fn)
  local r = net.createUDPSocket()
  r:listen(0, LO)
  if fn then r:on("receive", fn) end
  return r, (r:getaddr())
end

-- Calls fn on a later loop turn after a full datagram round trip through
-- fresh sockets: proof that the loop ran (and deferred callbacks would have
-- fired) without sleeping for a guessed time.
local function after_roundtrip(fn)
  local r, port
  r, port = receiver(function(u)
    u:close()
    fn()
  end)
  local s = net.createUDPSocket()
  s:on("sent", function(u) u:close() end)
  s:send(port, LO, "marker")
end

T.test("receive gets data, sender port and ip", function(done)
  local s = net.createUDPSocket()
  s:listen(0, LO)
  local sport = s:getaddr()
  local r, port = receiver(function(u, data, p, ip)
    T.eq(data, "hello", "datagram contents")
    T.eq(p, sport, "sender port")
    T.eq(ip, LO, "sender ip")
    u:close(); s:close(); done()
  end)
  T.ok(r ~= nil and port > 0, "listen(0, ip) picked a port")
  s:send(port, LO, "hello")
end)

T.test("getaddr: nil,nil unbound; port and ip when bound; 0.0.0.0 by default", function(done)
  local u = net.createUDPSocket()
  local p, ip = u:getaddr()
  T.ok(p == nil and ip == nil, "unbound socket has no address")
  u:listen()
  p, ip = u:getaddr()
  T.ok(type(p) == "number" and p > 0, "listen() picked a port", p)
  T.eq(ip, "0.0.0.0", "listen() binds all interfaces")
  u:close()
  p, ip = u:getaddr()
  T.ok(p == nil and ip == nil, "closed socket has no address")
  done()
end)

T.test("an unbound socket is bound to an ephemeral port by its first send", function(done)
  local s = net.createUDPSocket()
  local r, port
  r, port = receiver(function(u, data, p)
    local bound = s:getaddr()
    T.eq(data, "auto", "datagram from the auto-bound socket arrives")
    T.eq(p, bound, "its source port is the port the socket was bound to")
    u:close(); s:close(); done()
  end)
  s:send(port, LO, "auto")
  local p, ip = s:getaddr()
  T.ok(type(p) == "number" and p > 0, "bound right after send", p)
  T.eq(ip, "0.0.0.0", "bound to all interfaces")
end)

T.test("one sent per send, none from inside send", function(done)
  local r, port = receiver()
  local got = 0
  r:on("receive", function() got = got + 1 end)
  local s = net.createUDPSocket()
  local sent, self_ok = 0, true
  s:on("sent", function(u)
    sent = sent + 1
    self_ok = self_ok and u == s
    if sent == 5 then
      -- Any sixth `sent` would fire before this round trip completes.
      after_roundtrip(function()
        T.eq(sent, 5, "exactly 5 sent callbacks for 5 sends")
        T.ok(self_ok, "sent gets the socket")
        T.eq(got, 5, "5 datagrams received")
        r:close(); s:close(); done()
      end)
    end
  end)
  for i = 1, 5 do s:send(port, LO, "d" .. i) end
  T.eq(sent, 0, "no sent callback fired synchronously")
end)

T.test("send(port, ip, data, fn) sets the sent callback", function(done)
  local r, port = receiver()
  local s = net.createUDPSocket()
  local old = 0
  s:on("sent", function() old = old + 1 end)
  s:send(port, LO, "x", function(u)
    T.eq(old, 0, "the earlier sent callback was replaced")
    T.ok(u == s, "fn gets the socket")
    r:close(); s:close(); done()
  end)
end)

T.test("many large datagrams: every send gets its sent", function(done)
  local r, port = receiver()
  local s = net.createUDPSocket()
  local sent, n = 0, 300
  local big = ("x"):rep(60000)
  s:on("sent", function()
    sent = sent + 1
    if sent == n then
      T.eq(sent, n, n .. " sent callbacks")
      r:close(); s:close(); done()
    end
  end)
  for _ = 1, n do s:send(port, LO, big) end
end)

T.test("a 65507-byte datagram is delivered whole", function(done)
  local data = ("0123456789abcdef"):rep(4096):sub(1, 65507)
  local r, port = receiver(function(u, d)
    T.eq(#d, 65507, "length")
    T.ok(d == data, "contents")
    u:close(); done()
  end)
  local s = net.createUDPSocket()
  s:on("sent", function(u) u:close() end)
  s:send(port, LO, data)
  T.ok(r ~= nil, "receiver")
end)

-- The receiver reads datagrams in batches (recvmmsg, 64 KiB slots): a burst
-- sent before the receiver runs arrives as one batch, every datagram whole,
-- with its own sender, in order.
T.test("a burst of datagrams of many sizes: each whole and in order", function(done)
  local sizes, want = {}, {}
  for i = 1, 40 do
    sizes[i] = (i * 997) % 3000 + 1
    want[i] = string.char(64 + i % 26):rep(sizes[i])
  end
  sizes[41], want[41] = 30000, ("z"):rep(30000)
  local s = net.createUDPSocket()
  s:listen(0, LO)
  local sport = s:getaddr()
  local got, ok = 0, true
  local r, port
  r, port = receiver(function(u, d, p, ip)
    got = got + 1
    ok = ok and d == want[got] and p == sport and ip == LO
    if got == #want then
      T.ok(ok, "41 datagrams, contents, sizes, sender and order")
      u:close(); s:close(); done()
    end
  end)
  for i = 1, #want do s:send(port, LO, want[i]) end
end)

T.test("close() inside receive: the rest of the batch is not delivered", function(done)
  local calls = 0
  local r, port = receiver(function(u)
    calls = calls + 1
    u:close()
  end)
  local s = net.createUDPSocket()
  for i = 1, 10 do s:send(port, LO, "d" .. i) end
  s:close()
  after_roundtrip(function()
    T.eq(calls, 1, "one receive, then none for the datagrams already read")
    T.ok(r:getaddr() == nil, "closed")
    done()
  end)
end)

T.test("argument errors of send, listen, on, ttl, close (and no side effect)", function(done)
  local u = net.createUDPSocket()
  T.raises(function() u:send(0, LO, "x") end, "need port", "port 0")
  T.raises(function() u:send(70000, LO, "x") end, "port", "port out of range")
  T.raises(function() u:send(1.5, LO, "x") end, "port", "non-integer port")
  T.raises(function() u:send(9, "localhost", "x") end, "invalid IP address", "host name")
  T.raises(function() u:send(9, "1.2.3", "x") end, "invalid IP address", "malformed ip")
  T.raises(function() u:send(9, nil, "x") end, "invalid IP address", "missing ip")
  T.raises(function() u:send(9, LO, "") end, "no data to send", "empty data")
  T.raises(function() u:send(9, LO, ("x"):rep(65508)) end, "datagram too large",
    "65508-byte datagram")
  T.raises(function() u:send(9, LO, "x", 42) end, "invalid callback function", "bad fn")
  T.ok(u:getaddr() == nil, "failed sends did not bind the socket")
  T.raises(function() u:on("connection", print) end, "invalid callback name", "TCP event")
  T.raises(function() u:on("Receive", print) end, "invalid callback name", "case matters")
  T.raises(function() u:on("receive", 1) end, "invalid callback function", "bad callback")
  T.raises(function() u:ttl() end, "socket is not open/bound yet", "ttl on unbound socket")
  T.raises(function() u:ttl(5) end, "socket is not open/bound yet", "set ttl on unbound")
  T.raises(function() u:close() end, "not connected", "close unbound socket")
  T.raises(function() u:listen(0, "256.1.1.1") end, "invalid IP address", "listen bad ip")
  T.raises(function() u:listen(-1) end, "port", "listen negative port")
  T.ok(u:getaddr() == nil, "failed listens did not bind the socket")
  u:listen(0, LO)
  T.raises(function() u:listen(0, LO) end, "already listening", "listen twice")
  T.raises(function() u:ttl(0) end, "out of range", "ttl 0")
  T.raises(function() u:ttl(256) end, "out of range", "ttl 256")
  T.raises(function() u:ttl(2.5) end, "integer", "ttl 2.5")
  local port = u:getaddr()
  local v = net.createUDPSocket()
  T.raises(function() v:listen(port, LO) end, "address in use", "port in use")
  T.ok(v:getaddr() == nil, "a failed bind leaves the socket unbound")
  u:close()
  T.raises(function() u:close() end, "not connected", "close twice")
  done()
end)

T.test("ttl reads and sets the TTL", function(done)
  local u = net.createUDPSocket()
  u:listen(0, LO)
  local def = u:ttl()
  T.ok(type(def) == "number" and def >= 1 and def <= 255, "default ttl", def)
  T.eq(u:ttl(7), 7, "ttl(7) returns 7")
  T.eq(u:ttl(), 7, "ttl() then reads 7")
  T.eq(u:ttl(255), 255, "ttl(255)")
  u:close()
  done()
end)

T.test("close then listen again; callbacks survive close", function(done)
  local r = net.createUDPSocket()
  local n = 0
  r:on("receive", function(u, d)
    n = n + 1
    T.eq(d, "again", "the callback set before close serves the new binding")
    u:close(); done()
  end)
  r:listen(0, LO)
  local p1 = r:getaddr()
  r:close()
  r:listen(0, LO)
  local p2 = r:getaddr()
  T.ok(p2 ~= nil, "listening again after close", p1)
  local s = net.createUDPSocket()
  s:on("sent", function(u) u:close() end)
  s:send(p2, LO, "again")
end)

T.test("no receive and no sent after close", function(done)
  local got = 0
  local r, port = receiver(function(u)
    got = got + 1
    u:close() -- the other two datagrams are already queued in the kernel
  end)
  local s = net.createUDPSocket()
  local sent = 0
  s:on("sent", function() sent = sent + 1 end)
  s:send(port, LO, "1"); s:send(port, LO, "2"); s:send(port, LO, "3")
  s:close() -- their `sent` callbacks are still owed
  -- Two round trips: the first receive has happened by the second one.
  after_roundtrip(function()
    after_roundtrip(function()
      T.eq(got, 1, "one receive, none after close")
      T.eq(sent, 0, "no sent after close")
      T.ok(r:getaddr() == nil, "receiver closed")
      done()
    end)
  end)
end)

T.test("an unreferenced bound socket keeps receiving; collected after close", function(done)
  local w, port
  do
    local u = net.createUDPSocket()
    u:listen(0, LO)
    port = u:getaddr()
    -- The callback refers to the socket: the cycle must still be collectable.
    u:on("receive", function(_, d)
      T.eq(d, "ping", "the unreferenced socket received")
      u:close()
      after_roundtrip(function()
        T.ok(T.collected(w), "collected after close")
        done()
      end)
    end)
    w = T.weak(u)
  end
  T.ok(not T.collected(w), "bound socket not collected without references")
  local s = net.createUDPSocket()
  s:on("sent", function(x) x:close() end)
  s:send(port, LO, "ping")
end)

T.test("an unbound socket is collectable; a closed auto-bound one too", function(done)
  local w1 = T.weak(net.createUDPSocket())
  T.ok(T.collected(w1), "never-used socket collected")
  local r, port = receiver(function(u) u:close() end)
  local w2
  do
    local s = net.createUDPSocket()
    s:on("sent", function(x)
      x:close()
      after_roundtrip(function()
        T.ok(T.collected(w2), "auto-bound socket collected after close")
        done()
      end)
    end)
    s:send(port, LO, "x")
    w2 = T.weak(s)
  end
  T.ok(not T.collected(w2), "auto-bound socket is anchored")
  T.ok(r ~= nil, "receiver")
end)

T.test("legacy constructors give UDP sockets", function(done)
  T.ok(tostring(net.createConnection(net.UDP)):find("net.udpsocket", 1, true), "createConnection(net.UDP)")
  T.ok(tostring(net.createServer(net.UDP, 10)):find("net.udpsocket", 1, true), "createServer(net.UDP, t)")
  T.ok(tostring(net.createServer(net.UDP)):find("net.tcpserver", 1, true), "createServer(net.UDP) alone: a TCP server with a 2 s timeout, as current firmware")
  T.ok(tostring(net.createUDPSocket()):find("net.udpsocket", 1, true), "createUDPSocket()")
  done()
end)

T.test("multicastJoin/Leave argument errors; repeats are harmless", function(done)
  for _, f in ipairs({net.multicastJoin, net.multicastLeave}) do
    T.raises(function() f("1.2.3", "239.1.2.3") end, "invalid if ip", "malformed if ip")
    T.raises(function() f("eth0", "239.1.2.3") end, "invalid if ip", "interface name as if ip")
    T.raises(function() f("any", "10.0.0.1") end, "invalid multicast ip", "unicast group")
    T.raises(function() f("any", "240.0.0.1") end, "invalid multicast ip", "class E group")
    T.raises(function() f("any", "group") end, "invalid multicast ip", "name as group")
    T.raises(function() f("any") end, "string expected", "missing group")
  end
  T.raises(function() net.multicastJoin("198.19.255.254", "239.1.2.3") end, "invalid if ip",
    "join on an address that is not local")
  local u = net.createUDPSocket()
  u:listen(0, LO)
  -- Only loopback memberships here: joining on "any" with a socket open
  -- would announce the group (IGMP) on every real interface.  "any" is
  -- tested across namespaces in netns_udp.sh.
  local ok = pcall(function()
    net.multicastJoin("127.0.0.1", "239.1.2.3")
    net.multicastJoin("127.0.0.1", "239.1.2.3")
    net.multicastLeave("127.0.0.1", "239.1.2.3")
    net.multicastLeave("127.0.0.1", "239.1.2.3")
    net.multicastLeave("any", "239.9.9.9")
    net.multicastLeave("", "239.9.9.9")
  end)
  T.ok(ok, "joining twice and leaving twice (or a group never joined) are harmless")
  u:close()
  done()
end)

T.test("ifinfo: argument errors, nil for none, loopback last", function(done)
  T.raises(function() net.ifinfo(-1) end, "interface index", "negative index")
  T.raises(function() net.ifinfo(1.5) end, "interface index", "fractional index")
  T.raises(function() net.ifinfo({}) end, "interface index", "table")
  T.eq(net.ifinfo(100000), nil, "index past the end")
  T.eq(net.ifinfo("nosuchif0"), nil, "unknown name")
  local last, i = nil, 0
  while net.ifinfo(i) do last = net.ifinfo(i); i = i + 1 end
  T.ok(last ~= nil, "at least one interface")
  T.eq(last and last.name, "lo", "loopback is last")
  T.eq(last and last.ip, "127.0.0.1", "loopback ip")
  T.eq(last and last.netmask, "255.0.0.0", "loopback netmask")
  T.eq(last and last.hwaddr, ("\0"):rep(6), "loopback hwaddr is 6 zero bytes")
  local byname = net.ifinfo("lo")
  T.eq(byname and byname.ip, "127.0.0.1", "ifinfo('lo') by name")
  done()
end)

T.run()
