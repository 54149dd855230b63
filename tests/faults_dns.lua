-- DNS fault (docs/RELIABILITY.md): the DNS server dies while lookups are in
-- flight.  Run alone, this script runs itself again under
-- tests/lib/dnsmasq.sh (a dnsmasq on 127.0.0.1 only).  The dnsmasq is
-- stopped (SIGSTOP) so that lookups are surely pending, then killed: every
-- pending lookup must fail (nil, and -4 for a connect by name) within the
-- 10 s of net.dns, other I/O must go on meanwhile, and once a dnsmasq runs
-- again on that port, names resolve again.
local T = dofile("tests/lib/t.lua")

if not os.getenv("NETMCU_DNS_PORT") then
  local rc = os.execute("sh tests/lib/dnsmasq.sh " .. T.netmcu .. " tests/faults_dns.lua")
  if rc ~= true and rc ~= 0 then error("tests/faults_dns.lua under tests/lib/dnsmasq.sh failed") end
  do return end
end

local PORT = os.getenv("NETMCU_DNS_PORT")
local DIR = os.getenv("NETMCU_TEST_DIR")
local DNSMASQ = os.getenv("DNSMASQ") or "/usr/sbin/dnsmasq"
net.dns.setdnsserver("127.0.0.1:" .. PORT, 0)
net.dns.setdnsserver("127.0.0.1:" .. PORT, 1)

local function now_s() return node.uptime() / 1e6 end
local function read_pid(path)
  local f = io.open(path)
  if not f then return nil end
  local p = f:read("*l")
  f:close()
  return p
end
local pid = read_pid(DIR .. "/dnsmasq.pid")

T.test("the DNS server answers before the fault", function(done)
  T.ok(pid ~= nil, "dnsmasq pid known (" .. tostring(pid) .. ")")
  net.dns.resolve("known.test", function(_, ip)
    T.eq(ip, "198.18.0.7", "known.test resolves")
    done()
  end)
end)

T.test("the server dies mid-lookup: pending lookups fail within 10 s, other I/O goes on", function(done)
  os.execute("kill -STOP " .. pid)
  local t0 = now_s()
  local pending, results = 3, {}
  local function one_done()
    pending = pending - 1
    if pending > 0 then return end
    T.eq(results.resolve, "nil", "resolve gave nil")
    T.eq(results.sockdns, "nil", "sock:dns gave nil")
    T.eq(results.connect, "dns nil, code -4", "connect by name: dns(nil) then disconnection(-4)")
    local dt = now_s() - t0
    T.ok(dt < 10.5, ("all failed within 10 s (%.1f s)"):format(dt))
    T.ok(results.echo, "a TCP echo completed during the outage")
    done()
  end
  net.dns.resolve("known.test", function(_, ip)
    results.resolve = tostring(ip)
    one_done()
  end)
  local s = net.createConnection()
  s:dns("loop.test", function(_, ip)
    results.sockdns = tostring(ip)
    one_done()
  end)
  local c = net.createConnection()
  local dns_seen
  c:on("dns", function(_, ip) dns_seen = tostring(ip) end)
  c:on("disconnection", function(_, code)
    results.connect = "dns " .. tostring(dns_seen) .. ", code " .. code
    one_done()
  end)
  c:on("connection", function(sock) results.connect = "connected?"; sock:close(); one_done() end)
  c:connect(9, "loop.test")
  -- the lookups are sent to a stopped server; now it dies
  tmr.create():alarm(300, tmr.ALARM_SINGLE, function()
    os.execute("kill -KILL " .. pid)
    -- meanwhile, TCP still works
    local srv = net.createServer()
    srv:listen(0, "127.0.0.1", function(sc) sc:on("receive", function(x, d) x:send(d) end) end)
    local e = net.createConnection()
    e:on("receive", function(x, d)
      results.echo = d == "echo"
      x:close(); srv:close()
    end)
    e:on("connection", function(x) x:send("echo") end)
    e:connect((srv:getaddr()), "127.0.0.1")
  end)
end, 20)

T.test("a new server on the same port: names resolve again", function(done)
  local newpid = DIR .. "/dnsmasq2.pid"
  os.execute(("%s --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts " ..
    "--listen-address=127.0.0.1 --bind-interfaces --port=%s --user=$(id -un) --local=/test/ " ..
    "--address=/known.test/198.18.0.7 --address=/loop.test/127.0.0.1 --pid-file=%s " ..
    "--log-facility=%s/dnsmasq2.log >/dev/null 2>&1 & echo $! >%s.sh"):format(DNSMASQ, PORT, newpid, DIR, newpid))
  local p2 = read_pid(newpid .. ".sh")
  local tries = 0
  local function try()
    tries = tries + 1
    net.dns.resolve("known.test", function(_, ip)
      if ip == "198.18.0.7" or tries >= 50 then
        T.eq(ip, "198.18.0.7", "known.test resolves again (after " .. tries .. " tries)")
        if p2 then os.execute("kill " .. p2 .. " 2>/dev/null") end
        done()
      else
        tmr.create():alarm(100, tmr.ALARM_SINGLE, try) -- bounded: 50 tries
      end
    end)
  end
  try()
end, 30)

T.run()
