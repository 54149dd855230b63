-- DNS (net.dns, and sock:dns / connect-by-name of net.socket) against a real
-- dnsmasq on 127.0.0.1.  Run alone, this script runs itself again under
-- tests/lib/dnsmasq.sh, which starts dnsmasq and a silent UDP server, and
-- stops them afterwards.  No packet leaves loopback: every lookup below is
-- made after the servers were pointed at 127.0.0.1.
local T = dofile("tests/lib/t.lua")

if not os.getenv("NETMCU_DNS_PORT") then
  local rc = os.execute("sh tests/lib/dnsmasq.sh " .. T.netmcu .. " tests/dns.lua")
  if rc ~= true and rc ~= 0 then error("tests/dns.lua under tests/lib/dnsmasq.sh failed") end
  do return end
end

local DNS = "127.0.0.1:" .. os.getenv("NETMCU_DNS_PORT")
local SILENT = "127.0.0.1:" .. os.getenv("NETMCU_SILENT_PORT")
local DEAD = "127.0.0.1:" .. os.getenv("NETMCU_DEAD_PORT")
local DIR = os.getenv("NETMCU_TEST_DIR")
local KNOWN, KNOWN_IP = "known.test", "198.18.0.7"

local function servers(s0, s1)
  net.dns.setdnsserver(s0, 0)
  net.dns.setdnsserver(s1 or s0, 1)
end

local function elapsed(t0) return ((tmr.now() - t0) % 2147483648) / 1e6 end

-- Runs a script in a fresh netmcu (env: extra assignments) and returns its
-- output, stderr included.
local function netmcu_run(env, code)
  local path = DIR .. "/sub.lua"
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(env .. " " .. T.netmcu .. " " .. path .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  return out
end

-- ---- servers: defaults, setting, errors (no lookup yet) ----

T.test("getdnsserver defaults are the first two IPv4 nameserver lines of NETMCU_RESOLV_CONF", function(done)
  T.eq(net.dns.getdnsserver(), "127.0.0.2", "server 0 (IPv6 line skipped)")
  T.eq(net.dns.getdnsserver(0), "127.0.0.2", "getdnsserver(0)")
  T.eq(net.dns.getdnsserver(1), "127.0.0.3", "server 1 (indented, tab-separated line)")
  done()
end)

T.test("getdnsserver with one, or no, nameserver in resolv.conf", function(done)
  local one = DIR .. "/one.conf"
  local f = assert(io.open(one, "w"))
  f:write("; comment\nnameserver 127.0.0.5\n")
  f:close()
  local code = "print('servers', net.dns.getdnsserver(0), net.dns.getdnsserver(1))"
  T.ok(netmcu_run("NETMCU_RESOLV_CONF=" .. one, code):find("servers\t127.0.0.5\tnil\n", 1, true),
    "one nameserver: server 1 is nil")
  T.ok(netmcu_run("NETMCU_RESOLV_CONF=" .. DIR .. "/missing.conf", code):find("servers\tnil\tnil\n", 1, true),
    "missing file: no servers")
  done()
end)

T.test("setdnsserver stores the server exactly as given, per index", function(done)
  net.dns.setdnsserver("127.0.0.9:5353")
  T.eq(net.dns.getdnsserver(0), "127.0.0.9:5353", "index 0 by default, :port kept")
  net.dns.setdnsserver("127.0.0.8", 1)
  T.eq(net.dns.getdnsserver(1), "127.0.0.8", "index 1")
  T.eq(net.dns.getdnsserver(0), "127.0.0.9:5353", "index 0 untouched")
  net.dns.setdnsserver("127.0.0.7", 1.0)
  T.eq(net.dns.getdnsserver(1), "127.0.0.7", "an integral float index is fine")
  done()
end)

T.test("bad servers and indexes raise the documented errors without side effect", function(done)
  for _, bad in ipairs{"", "bad", "0.0.0.0", "0.0.0.0:53", "1.2.3", "256.1.1.1", "1.2.3.4:",
                       "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:53x", "1.2.3.4: 53", " 1.2.3.4",
                       "1.2.3.4:-1", "127.0.0.1:5353:1", "localhost"} do
    T.raises(function() net.dns.setdnsserver(bad) end, "invalid dns server ip",
      ("setdnsserver(%q)"):format(bad))
  end
  for _, i in ipairs{2, -1, 1.5, 100} do
    T.raises(function() net.dns.setdnsserver("127.0.0.1", i) end, "server index out of range [0-1]",
      "setdnsserver index " .. i)
    T.raises(function() net.dns.getdnsserver(i) end, "server index out of range [0-1]",
      "getdnsserver index " .. i)
  end
  T.raises(function() net.dns.setdnsserver("127.0.0.1", "x") end, "server index out of range [0-1]",
    "a string index")
  T.eq(net.dns.getdnsserver(0), "127.0.0.9:5353", "server 0 unchanged by the failed calls")
  T.eq(net.dns.getdnsserver(1), "127.0.0.7", "server 1 unchanged by the failed calls")
  T.raises(function() net.dns.resolve("x.test") end, "function expected", "resolve without fn")
  T.raises(function() net.dns.resolve(nil, function() end) end, "string expected", "resolve without host")
  done()
end)

-- ---- resolving ----

T.test("a known name resolves to its address; fn(nil, ip)", function(done)
  servers(DNS)
  net.dns.resolve(KNOWN, function(a, ip)
    T.eq(a, nil, "first argument nil")
    T.eq(ip, KNOWN_IP, "known.test from dnsmasq")
    done()
  end)
end)

T.test("an unknown name gives nil", function(done)
  net.dns.resolve("unknown.test", function(a, ip)
    T.eq(a, nil, "first argument nil")
    T.eq(ip, nil, "NXDOMAIN gives nil")
    done()
  end)
end)

T.test("localhost and an IPv4 literal resolve with no DNS server alive", function(done)
  servers(DEAD)
  local n = 0
  local function one() n = n + 1; if n == 2 then servers(DNS); done() end end
  net.dns.resolve("localhost", function(_, ip) T.eq(ip, "127.0.0.1", "localhost from the hosts file"); one() end)
  net.dns.resolve("10.9.8.7", function(_, ip) T.eq(ip, "10.9.8.7", "a literal resolves to itself"); one() end)
end)

T.test("answers are never synchronous", function(done)
  local names = {"10.1.2.3", "localhost", KNOWN, "unknown.test", "", "bad..name"}
  local returned, n = false, 0
  for _, name in ipairs(names) do
    net.dns.resolve(name, function(_, ip)
      T.ok(returned, ("%q answered after resolve() returned (%s)"):format(name, tostring(ip)))
      n = n + 1
      if n == #names then done() end
    end)
  end
  returned = true
end)

T.test("connect(port, name) resolves, fires dns, then connects", function(done)
  local srv = net.createServer()
  srv:listen(0, "127.0.0.1", function() end)
  local port = srv:getaddr()
  local c = net.createConnection()
  local events = {}
  c:on("dns", function(s, ip)
    T.ok(s == c, "dns gets the socket")
    events[#events + 1] = "dns " .. tostring(ip)
  end)
  c:on("connection", function(s)
    events[#events + 1] = "connection"
    T.eq(table.concat(events, ", "), "dns 127.0.0.1, connection", "dns, then connection")
    s:close(); srv:close(); done()
  end)
  c:on("disconnection", function(_, code) T.ok(false, "no disconnection", code); done() end)
  c:connect(port, "loop.test")
  T.eq(#events, 0, "nothing fired inside connect")
end)

T.test("connect(port, unresolvable) fires dns(nil), then disconnection -4", function(done)
  local c = net.createConnection()
  local events = {}
  c:on("dns", function(_, ip) events[#events + 1] = "dns " .. tostring(ip) end)
  c:on("connection", function() T.ok(false, "no connection"); done() end)
  c:on("disconnection", function(_, code)
    events[#events + 1] = "disconnection " .. tostring(code)
    T.eq(table.concat(events, ", "), "dns nil, disconnection -4", "dns(nil), then disconnection(-4)")
    done()
  end)
  c:connect(80, "unknown.test")
end)

T.test("with a reconnection callback the -4 goes there", function(done)
  local c = net.createConnection()
  local events = {}
  c:on("dns", function(_, ip) events[#events + 1] = "dns " .. tostring(ip) end)
  c:on("disconnection", function(_, code) events[#events + 1] = "disconnection " .. code end)
  c:on("reconnection", function(_, code)
    events[#events + 1] = "reconnection " .. tostring(code)
    T.eq(table.concat(events, ", "), "dns nil, reconnection -4", "dns(nil), then reconnection(-4)")
    done()
  end)
  c:connect(80, "unknown.test")
end)

-- A socket closed while its name resolves; returns a function telling
-- whether any of its callbacks ran.
local function closed_while_resolving(name)
  local c = net.createConnection()
  local fired = false
  for _, ev in ipairs{"dns", "connection", "disconnection", "reconnection"} do
    c:on(ev, function() fired = true end)
  end
  c:connect(80, name)
  c:close()
  return function() return fired end
end

T.test("closed while resolving, the answer arrives anyway: no callback", function(done)
  servers(DNS)
  local fired = closed_while_resolving(KNOWN)
  -- asked after it, on the same server: answered after it
  net.dns.resolve(KNOWN, function(_, ip)
    T.eq(ip, KNOWN_IP, "the later lookup is answered")
    local t = tmr.create()
    t:alarm(50, tmr.ALARM_SINGLE, function() T.ok(not fired(), "the closed socket got no callback"); done() end)
  end)
end)

T.test("closed while resolving on a silent server, then servers change: no callback", function(done)
  servers(SILENT)
  local fired = closed_while_resolving("slow.test")
  servers(DNS) -- the old channel only holds the cancelled query: it is destroyed
  net.dns.resolve(KNOWN, function(_, ip)
    T.eq(ip, KNOWN_IP, "lookups go on with the new server")
    local t = tmr.create()
    t:alarm(50, tmr.ALARM_SINGLE, function() T.ok(not fired(), "the closed socket got no callback"); done() end)
  end)
end)

T.test("a socket closed from its own dns callback during connect(port, name)", function(done)
  local c = net.createConnection()
  local fired = {}
  c:on("dns", function(s, ip)
    fired[#fired + 1] = "dns " .. tostring(ip)
    s:close()
  end)
  for _, ev in ipairs{"connection", "disconnection", "reconnection"} do
    c:on(ev, function() fired[#fired + 1] = ev end)
  end
  c:connect(80, "loop.test")
  local t = tmr.create()
  t:alarm(100, tmr.ALARM_SINGLE, function()
    T.eq(table.concat(fired, ", "), "dns 127.0.0.1", "dns, then nothing")
    done()
  end)
end)

-- ---- sock:dns / udp:dns ----

T.test("sock:dns(name, fn): fn(sock, ip), fn becomes the dns callback", function(done)
  local s = net.createConnection()
  T.raises(function() s:dns(KNOWN) end, "no callback specified", "no fn and no dns callback")
  T.raises(function() s:dns(KNOWN, 42) end, "invalid callback function", "fn not a function")
  local calls = {}
  local returned = false
  s:dns(KNOWN, function(sk, ip)
    T.ok(returned, "not called from inside dns()")
    T.ok(sk == s, "first argument is the socket")
    calls[#calls + 1] = tostring(ip)
    if #calls == 1 then
      sk:dns("unknown.test") -- no fn: the dns callback set above serves
    else
      T.eq(table.concat(calls, ","), KNOWN_IP .. ",nil", "both answers through the same callback")
      done()
    end
  end)
  returned = true
end)

T.test("sock:dns delivers to the dns callback current at answer time", function(done)
  local s = net.createConnection()
  s:on("dns", function() T.ok(false, "the replaced callback must not run") end)
  s:dns("loop.test")
  s:on("dns", function(sk, ip)
    T.ok(sk == s, "socket")
    T.eq(ip, "127.0.0.1", "answer to the new callback")
    done()
  end)
end)

T.test("no sock:dns answer after close(), TCP and UDP", function(done)
  local srv = net.createServer()
  srv:listen(0, "127.0.0.1", function() end)
  local c = net.createConnection()
  local fired = 0
  c:on("connection", function(s)
    s:dns(KNOWN, function() fired = fired + 1 end)
    s:close()
    local u = net.createUDPSocket()
    u:listen(0, "127.0.0.1")
    u:dns(KNOWN, function() fired = fired + 1 end)
    u:close()
    -- a later lookup to the same server answers after the two above would
    net.dns.resolve(KNOWN, function(_, ip)
      T.eq(ip, KNOWN_IP, "the marker lookup answered")
      T.eq(fired, 0, "no dns callback on the closed sockets")
      srv:close(); done()
    end)
  end)
  c:connect((srv:getaddr()))
end)

T.test("sock:dns validates its object", function(done)
  local s = net.createConnection()
  local dns = getmetatable(s).__index.dns or s.dns
  T.raises(function() dns({}, KNOWN, function() end) end, "expected", "a table is refused")
  T.raises(function() dns(net.createServer(), KNOWN, function() end) end, "expected", "a server is refused")
  done()
end)

T.test("udp:dns delivers to the udp socket's dns callback", function(done)
  local ok, u = pcall(net.createUDPSocket)
  if not ok then
    T.skip("udp:dns", "net.createUDPSocket raises: " .. tostring(u))
    return done()
  end
  if not u.dns then
    T.skip("udp:dns", "UDP sockets have no dns method yet")
    return done()
  end
  local n = 0
  u:on("dns", function(sk, ip)
    n = n + 1
    T.ok(sk == u, "first argument is the UDP socket")
    T.eq(ip, KNOWN_IP, "answer")
    if n == 1 then
      sk:dns(KNOWN, function(sk2, ip2)
        T.ok(sk2 == u, "udp:dns(name, fn): socket"); T.eq(ip2, KNOWN_IP, "udp:dns(name, fn): answer")
        done()
      end)
    end
  end)
  u:dns(KNOWN)
end)

T.test("a DNS-only socket is held while waiting, collectable after its answer", function(done)
  local w
  do
    local s = net.createConnection()
    w = T.weak(s)
    s:dns(KNOWN, function(sk, ip)
      T.eq(ip, KNOWN_IP, "answered")
      T.ok(sk ~= nil, "the socket survived the wait")
      local t = tmr.create()
      t:alarm(1, tmr.ALARM_SINGLE, function()
        T.ok(T.collected(w), "collected after the answer")
        done()
      end)
    end)
  end
  T.ok(not T.collected(w), "not collected while waiting")
end)

-- ---- servers that fail ----

T.test("a server that never answers gives nil within 10 s", function(done)
  servers(SILENT)
  local t0 = tmr.now()
  net.dns.resolve(KNOWN, function(_, ip)
    local dt = elapsed(t0)
    T.eq(ip, nil, "nil after the silence")
    T.ok(dt < 10, "within 10 s", dt .. " s")
    servers(DNS)
    done()
  end)
end, 15)

T.test("server 0 refusing (nothing listening), server 1 alive: names resolve", function(done)
  servers(DEAD, DNS)
  net.dns.resolve(KNOWN, function(_, ip)
    T.eq(ip, KNOWN_IP, "answer from server 1")
    done()
  end)
end)

T.test("server 0 silent, server 1 alive: names resolve", function(done)
  servers(SILENT, DNS)
  net.dns.resolve(KNOWN, function(_, ip)
    T.eq(ip, KNOWN_IP, "answer from server 1")
    servers(DNS)
    done()
  end)
end)

T.test("setdnsserver takes effect for lookups started afterwards", function(done)
  servers(SILENT)
  local order = {}
  net.dns.resolve("first.test", function(_, ip)
    order[#order + 1] = "first " .. tostring(ip)
    T.eq(table.concat(order, ", "), "second " .. KNOWN_IP .. ", first nil",
      "the later lookup used the new server; the earlier one kept the old")
    done()
  end)
  servers(DNS)
  T.eq(net.dns.getdnsserver(0), DNS, "getdnsserver sees the change at once")
  net.dns.resolve(KNOWN, function(_, ip) order[#order + 1] = "second " .. tostring(ip) end)
end, 15)

-- ---- load and lifetime ----

T.test("1000 concurrent lookups all complete, once each", function(done)
  servers(DNS)
  local n, good, dup = 0, 0, false
  local seen = {}
  for i = 1, 1000 do
    -- mostly DNS answers, with hosts-file names and NXDOMAINs mixed in
    local name, want = KNOWN, KNOWN_IP
    if i % 10 == 0 then name, want = "localhost", "127.0.0.1" end
    if i % 10 == 1 then name, want = "unknown.test", nil end
    net.dns.resolve(name, function(_, ip)
      if seen[i] then dup = true end
      seen[i] = true
      n = n + 1
      if ip == want then good = good + 1 end
      if n == 1000 then
        T.ok(not dup, "no lookup answered twice")
        T.eq(good, 1000, "every answer right")
        done()
      end
    end)
  end
end, 20)

T.test("a pending lookup keeps the process alive; a finished one does not", function(done)
  local t0 = tmr.now()
  local out = netmcu_run("NETMCU_RESOLV_CONF=/dev/null", ([[
    net.dns.setdnsserver(%q)
    net.dns.resolve("known.test", function(_, ip) print("answer", ip) end)
  ]]):format(DNS))
  T.ok(out:find("answer\t" .. KNOWN_IP .. "\nexit=0", 1, true), "answered, then exited 0", out)
  T.ok(elapsed(t0) < 2, "exited as soon as it was answered", elapsed(t0))
  out = netmcu_run("NETMCU_RESOLV_CONF=/dev/null", ([[
    net.dns.setdnsserver(%q)
    net.dns.resolve("x.test", function(_, ip) print("answer", ip) end)
  ]]):format(SILENT))
  T.ok(out:find("answer\tnil\nexit=0", 1, true), "the loop waited for the silent server's nil", out)
  done()
end, 20)

T.test("a cancelled lookup does not keep the process alive", function(done)
  local t0 = tmr.now()
  local out = netmcu_run("NETMCU_RESOLV_CONF=/dev/null", ([[
    net.dns.setdnsserver(%q)
    local c = net.createConnection()
    c:on("dns", function() print("dns fired") end)
    c:connect(80, "x.test")
    c:close()
    print("closed")
  ]]):format(SILENT))
  T.ok(out:find("closed\nexit=0", 1, true), "exited 0, no callback", out)
  -- c-ares gives up on this query after 1.25 + 2.5 s
  T.ok(elapsed(t0) < 3, "exited before c-ares gave up on the query", elapsed(t0))
  done()
end, 20)

T.test("exit and errors with lookups in flight close cleanly", function(done)
  local code = ([[
    net.dns.setdnsserver(%q)
    local c = net.createConnection()
    c:connect(80, "a.test")
    net.createConnection():dns("b.test", function() end)
    net.dns.resolve("c.test", function() end)
    net.dns.resolve("localhost", function() end)
    local c2 = net.createConnection()
    c2:connect(80, "d.test")
    local t = tmr.create()
    t:alarm(20, tmr.ALARM_SINGLE, function() %s end)
  ]])
  local out = netmcu_run("NETMCU_RESOLV_CONF=/dev/null", code:format(SILENT, "error('boom')"))
  T.ok(out:find("boom", 1, true) and out:find("exit=1", 1, true), "uncaught error: exit 1", out)
  T.ok(not out:find("Sanitizer", 1, true), "no sanitizer report", out)
  out = netmcu_run("NETMCU_RESOLV_CONF=/dev/null", code:format(SILENT, "os.exit(3)"))
  T.ok(out:find("exit=3", 1, true), "os.exit(3)", out)
  T.ok(not out:find("Sanitizer", 1, true), "no sanitizer report", out)
  done()
end, 20)

T.run()
