-- sntp: a real SNTP client against a real NTP server (chronyd on
-- 127.0.0.1, from tests/lib/chrony.sh), a silent server and lying or
-- malformed ones (UDP sockets of this script).  Run alone, this script
-- runs itself again under tests/lib/chrony.sh.  No packet leaves
-- loopback: every server is on 127.0.0.1, and DNS is pointed at a dead
-- port of 127.0.0.1 before any name is looked up.
local T = dofile("tests/lib/t.lua")

if not os.getenv("NETMCU_TEST_DIR") then
  local rc = os.execute("NETMCU_SNTP_REPEAT_MS=400 sh tests/lib/chrony.sh " .. T.netmcu .. " tests/sntp.lua")
  if rc ~= true and rc ~= 0 then error("tests/sntp.lua under tests/lib/chrony.sh failed") end
  do return end
end

local NTP = os.getenv("NETMCU_NTP_PORT")
local NO_NTP = os.getenv("NETMCU_NTP_SKIP")
local REAL = NTP and "127.0.0.1:" .. NTP

local function elapsed(t0) return ((tmr.now() - t0) % 2147483648) / 1e6 end
local function rtc() local s, us = rtctime.get() return s + us / 1e6 end

-- ---- NTP packets by hand ----
local function u32(n)
  n = math.floor(n) % 4294967296
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end
local function b32(s, i) -- big-endian uint32 at s[i..i+3]
  local a, b, c, d = s:byte(i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end
local UNIX_TO_NTP = 2208988800
local FAR = 3786825600 -- 2090-01-01, what a liar claims
-- A reply to req; o overrides fields.  Times are Unix seconds.
local function reply(req, o)
  o = o or {}
  local t = o.time or FAR
  local rt, xt = o.recv or t, o.xmit or t
  local function ts(x)
    if x == 0 then return u32(0) .. u32(0) end
    return u32(x + UNIX_TO_NTP) .. u32((x % 1) * 4294967296)
  end
  local s = string.char((o.li or 0) * 64 + (o.vn or 4) * 8 + (o.mode or 4), o.stratum or 2, 6, 236) ..
    u32(o.root_delay or 0) .. u32(o.root_disp or 0) .. (o.refid or "GPS\0") .. ts(t - 10) ..
    (o.origin or req:sub(41, 48)) .. ts(rt) .. ts(xt)
  if o.cut then s = s:sub(1, o.cut) end
  return s
end

-- A UDP server of this script on 127.0.0.1: answer(req, port, ip, sock)
-- returns a list of datagrams to send back (or nil); requests are kept.
local function fake_server(answer)
  local srv = {requests = {}}
  local u = net.createUDPSocket()
  u:on("receive", function(s, req, port, ip)
    srv.requests[#srv.requests + 1] = req
    for _, d in ipairs(answer and answer(req, port, ip) or {}) do s:send(port, ip, d) end
  end)
  u:listen(0, "127.0.0.1")
  srv.sock = u
  srv.addr = "127.0.0.1:" .. u:getaddr()
  function srv.close() u:close() end
  return srv
end

-- sync with callbacks that end up in one result table: {ok = {...}} or {err = {...}}
local function sync(servers, fn, repeat_)
  local res = {}
  local sync_returned = false
  sntp.sync(servers, function(...)
    res.ok = {...}
    res.sync_returned = sync_returned
    fn(res)
  end, function(...)
    res.err = {...}
    res.sync_returned = sync_returned
    fn(res)
  end, repeat_)
  sync_returned = true
end

-- DNS only on loopback: a port nothing listens on.
local dead = net.createUDPSocket()
dead:listen(0, "127.0.0.1")
local DEAD = dead:getaddr()
dead:close()
net.dns.setdnsserver("127.0.0.1:" .. DEAD, 0)
net.dns.setdnsserver("127.0.0.1:" .. DEAD, 1)

T.test("sntp is a global and a module", function(done)
  T.ok(type(sntp) == "table", "sntp global")
  T.eq(require("sntp"), sntp, "require 'sntp' gives the same table")
  T.eq(sntp.getoffset(), 0, "getoffset() starts at 0")
  done()
end)

T.test("argument errors raise, and start nothing", function(done)
  T.raises(function() sntp.sync(true) end, "string expected", "server true")
  T.raises(function() sntp.sync({}) end, "no server in the list", "empty list")
  T.raises(function() sntp.sync({"127.0.0.1", {}}) end, "server names expected", "a table in the list")
  local many = {}
  for i = 1, 33 do many[i] = "127.0.0.1" end
  T.raises(function() sntp.sync(many) end, "too many servers (32 at most)", "33 servers")
  T.raises(function() sntp.sync(("a"):rep(129)) end, "need <128 hostname", "a 129-byte name")
  T.raises(function() sntp.sync("127.0.0.1:0") end, "invalid port", "port 0")
  T.raises(function() sntp.sync("127.0.0.1:65536") end, "invalid port", "port 65536")
  T.raises(function() sntp.sync("127.0.0.1:12x") end, "invalid port", "port 12x")
  T.raises(function() sntp.sync({"127.0.0.1:"}) end, "invalid port", "empty port in a list")
  T.raises(function() sntp.sync("127.0.0.1", 5) end, "function or nil expected", "ok callback 5")
  T.raises(function() sntp.sync("127.0.0.1", nil, "e") end, "function or nil expected", "err callback 'e'")
  T.raises(function() sntp.setoffset(-1) end, "out of range", "setoffset(-1)")
  T.raises(function() sntp.setoffset(256) end, "out of range", "setoffset(256)")
  T.raises(function() sntp.setoffset(1.5) end, "non-integer", "setoffset(1.5)")
  T.eq(sntp.getoffset(), 0, "the offset did not move")
  -- nothing was started: the next sync is not "in progress"
  local s = fake_server()
  sync(s.addr .. "", function(r)
    T.eq(r.err and r.err[1], 4, "a sync after the errors ran (to its timeout)")
    s.close()
    done()
  end)
end, 15)

T.test("a silent server: error 4 after 5 requests of 1 s; the requests are RFC 4330 client requests",
  function(done)
  local s = fake_server()
  local t0 = tmr.now()
  sync(s.addr, function(r)
    local e = elapsed(t0)
    T.eq(r.sync_returned, true, "the callback ran after sync() returned")
    T.ok(r.err and r.err[1] == 4 and r.err[2] == nil, "err(4, nil): timeout", r.err and r.err[1])
    T.eq(r.ok, nil, "ok was not called")
    T.ok(e >= 4.5 and e < 7, ("after about 5 s (%.2f s)"):format(e))
    T.eq(#s.requests, 5, "5 requests")
    local cookies, good = {}, true
    for _, q in ipairs(s.requests) do
      if #q ~= 48 or q:byte(1) ~= 0x23 then good = false end -- LI 0, version 4, mode 3
      cookies[q:sub(41, 48)] = true
    end
    T.ok(good, "48 bytes, LI 0, version 4, mode 3")
    local n = 0
    for _ in pairs(cookies) do n = n + 1 end
    T.eq(n, 5, "every request has its own (random) transmit timestamp")
    T.eq(rtctime.get(), 0, "rtctime not set")
    s.close()
    done()
  end)
end, 15)

T.test("sync in progress: a second sync raises and changes nothing", function(done)
  local s = fake_server()
  local got = 0
  sync(s.addr, function(r)
    got = got + 1
    T.eq(r.err and r.err[1], 4, "the first sync still ends as it would have")
    s.close()
    done()
  end)
  T.raises(function() sntp.sync(s.addr, function() got = got + 10 end) end, "sync in progress",
    "sync during a sync")
end, 15)

T.test("DNS: a name that does not resolve gives error 1 with the name", function(done)
  sync("nx1.invalid", function(r)
    T.ok(r.err and r.err[1] == 1 and r.err[2] == "nx1.invalid", "err(1, 'nx1.invalid')",
      r.err and table.concat(r.err, " "))
    sync({"nx2.invalid", "nx3.invalid:123"}, function(r2)
      T.ok(r2.err and r2.err[1] == 1 and r2.err[2] == "nx2.invalid", "a list: the first name",
        r2.err and r2.err[2])
      local long = ("b"):rep(129)
      sync({"nx4.invalid", long}, function(r3)
        T.ok(r3.err and r3.err[1] == 1 and r3.err[2] == long, "a name over 128 bytes in a list: code 1")
        done()
      end)
    end)
  end)
end, 20)

T.test("a send the OS refuses: error 3 at once", function(done)
  -- Without SO_BROADCAST the kernel refuses a datagram to 255.255.255.255
  -- (EACCES) before it leaves: nothing is sent anywhere.
  local t0 = tmr.now()
  sync("255.255.255.255", function(r)
    T.ok(r.err and r.err[1] == 3, "err(3): UDP send failed", r.err and r.err[1])
    T.ok(elapsed(t0) < 0.9, "without waiting for timeouts")
    done()
  end)
end)

local BAD = {
  {"another origin", {origin = "12345678"}},
  {"mode 3 (a client)", {mode = 3}},
  {"mode 5 (broadcast)", {mode = 5}},
  {"version 0", {vn = 0}},
  {"version 5", {vn = 5}},
  {"leap indicator 3 (unsynchronized)", {li = 3}},
  {"stratum 16 (unsynchronized)", {stratum = 16}},
  {"transmit time zero", {xmit = 0}},
  {"receive time zero", {recv = 0}},
  {"transmitted before received", {recv = FAR + 1, xmit = FAR}},
  {"held longer than the round trip", {recv = FAR - 30, xmit = FAR}},
  {"47 bytes", {cut = 47}},
  {"a time before 1970", {time = -86400 * 365}},
}

T.test("a lying or malformed server is not believed: " .. #BAD .. " kinds, then error 4", function(done)
  local kinds = {}
  local s = fake_server(function(req)
    local out = {}
    for i, b in ipairs(BAD) do out[i] = reply(req, b[2]) end
    return out
  end)
  -- the right answer, but from another port
  local other = net.createUDPSocket()
  other:listen(0, "127.0.0.1")
  s.sock:on("receive", function(u, req, port, ip)
    s.requests[#s.requests + 1] = req
    for _, b in ipairs(BAD) do u:send(port, ip, reply(req, b[2])) end
    other:send(port, ip, reply(req))
  end)
  rtctime.set(1600000000, 0)
  sync(s.addr, function(r)
    T.ok(r.err and r.err[1] == 4, "err(4): no answer believed", r.ok and ("believed %d"):format(r.ok[1]))
    T.eq(#s.requests, 5, "asked 5 times (each bad burst was ignored, the timeout ran)")
    T.ok(rtc() < 1600000100, "rtctime not moved to 2090", rtc())
    for _, b in ipairs(BAD) do kinds[#kinds + 1] = b[1] end
    T.diag("rejected: " .. table.concat(kinds, ", ") .. ", the right answer from another port")
    s.close()
    other:close()
    done()
  end)
end, 15)

T.test("bad answers first, then a good one: the good one is taken", function(done)
  local WANT = 1700000000 -- 2023-11-14, ahead of the clock (the clock only goes forward here)
  local s = fake_server(function(req)
    local out = {}
    for i, b in ipairs(BAD) do out[i] = reply(req, b[2]) end
    out[#out + 1] = reply(req, {time = WANT, stratum = 3, li = 0, root_delay = 0x00018000,
                                root_disp = 0x00004000})
    return out
  end)
  sync(s.addr, function(r)
    T.ok(r.ok ~= nil, "ok called", r.err and r.err[1])
    if r.ok then
      local sec, usec, server, info = r.ok[1], r.ok[2], r.ok[3], r.ok[4]
      T.ok(sec >= WANT and sec <= WANT + 1, "the time of the good answer: " .. sec)
      T.ok(usec >= 0 and usec < 1000000, "microseconds in range")
      T.eq(server, s.addr, "server is ip:port (port not 123)")
      T.eq(info.stratum, 3, "info.stratum")
      T.eq(info.leap, 0, "info.leap")
      T.eq(info.root_delay_us, 1500000, "info.root_delay_us (16.16 -> us)")
      T.eq(info.root_dispersion_us, 250000, "info.root_dispersion_us")
      T.ok(info.offset_s and info.offset_s > 90000000 and info.offset_us == nil,
        "a jump of years: offset_s, no offset_us", info.offset_s)
      T.ok(info.delay_us == nil or info.delay_us >= 0, "delay_us not negative")
      T.ok(info.root_maxerr_us >= info.root_dispersion_us + info.root_delay_us / 2, "root_maxerr_us")
      T.ok(rtc() >= WANT and rtc() < WANT + 2, "rtctime set to it", rtc())
    end
    T.eq(#s.requests, 5, "still 5 requests (a single server is asked 5 times)")
    s.close()
    done()
  end)
end, 15)

T.test("kiss-o'-death: DENY drops the server at once; RATE skips it for this sync", function(done)
  local s = fake_server(function(req) return {reply(req, {stratum = 0, refid = "DENY"})} end)
  local t0 = tmr.now()
  sync(s.addr, function(r)
    T.ok(r.err and r.err[1] == 4, "DENY: err 4")
    T.eq(#s.requests, 1, "DENY: no second request")
    T.ok(elapsed(t0) < 0.9, "DENY: without waiting for a timeout")
    s.close()
    local s2 = fake_server(function(req) return {reply(req, {stratum = 0, refid = "RATE"})} end)
    sync({s2.addr, s2.addr}, function(r2)
      T.ok(r2.err and r2.err[1] == 4, "RATE: err 4")
      T.eq(#s2.requests, 2, "RATE: each entry asked once, then skipped")
      s2.close()
      done()
    end)
  end)
end, 15)

T.test("errors in the callbacks go to node.setonerror", function(done)
  local s = fake_server()
  local msgs = {}
  node.setonerror(function(m) msgs[#msgs + 1] = m end)
  sntp.sync(s.addr, nil, function() error("sntp err callback failure") end)
  tmr.create():alarm(6500, tmr.ALARM_SINGLE, function()
    node.setonerror()
    T.ok(msgs[1] and msgs[1]:find("sntp err callback failure", 1, true), "the error was reported", msgs[1])
    s.close()
    done()
  end)
end, 15)

T.test("leap seconds: a pending leap moves getoffset() at the month's first midnight", function(done)
  local M = 1704067200 -- 2024-01-01 00:00:00 UTC
  rtctime.set(M - 2 + 10 - 1, 0) -- NTP time 23:59:57 + an offset of 10 s
  sntp.setoffset(10)
  local s = fake_server(function(req) return {reply(req, {time = M - 2, li = 1})} end)
  sync(s.addr, function(r)
    s.close()
    T.ok(r.ok and r.ok[4].leap == 1 and r.ok[4].pending_leap == 1, "info.leap and pending_leap are 1")
    T.ok(math.abs(rtc() - (M + 8)) < 1, "rtctime = NTP time + the offset", rtc() - M)
    T.eq(sntp.getoffset(), 10, "before midnight: 10")
    rtctime.set(M + 10 + 1, 0) -- NTP time 00:00:01 of January 1st
    T.eq(sntp.getoffset(), 11, "after the first midnight of the month: 11")
    sntp.setoffset()
    T.eq(sntp.getoffset(), 0, "setoffset() sets 0")
    done()
  end)
end, 15)

T.test("autorepeat: syncs again; close to the time it tunes the rate (PLL) instead of stepping",
  function(done)
  rtctime.set(1710000000, 0) -- 2024-03-09, forward again
  rtctime.set(nil, nil, 0)
  -- a server 50 ms ahead of rtctime, whatever rtctime says
  local s = fake_server(function(req)
    local sec, usec = rtctime.get()
    return {reply(req, {time = sec + usec / 1e6 + 0.05})}
  end)
  local n, infos, rates = 0, {}, {}
  sntp.sync(s.addr, function(sec, usec, server, info)
    n = n + 1
    infos[n] = info
    rates[n] = select(3, rtctime.get())
    if n < 2 then return end
    T.ok(infos[1].offset_us and math.abs(infos[1].offset_us - 50000) < 5000,
      "first sync: a step of 50 ms", infos[1].offset_us)
    T.eq(rates[1], 0, "... and the rate untouched")
    T.ok(infos[2].offset_us and math.abs(infos[2].offset_us - 50000) < 5000,
      "the repeat (NETMCU_SNTP_REPEAT_MS=400) sees 50 ms again", infos[2].offset_us)
    T.ok(rates[2] > 0.95 * 104858 and rates[2] < 1.05 * 104858,
      "... and sets the rate by the firmware's PLL: 0.05 s * 2^21 (" .. rates[2] .. ")")
    sntp.sync(s.addr) -- a sync without autorepeat ends the repeats
    local at = n
    tmr.create():alarm(1000, tmr.ALARM_SINGLE, function()
      T.eq(n, at, "no repeat after a new sync() (1 s)")
      rtctime.set(nil, nil, 0)
      s.close()
      done()
    end)
  end, function(c) T.ok(false, "autorepeat error " .. c) end, 1)
end, 15)

if NO_NTP then
  T.test("chronyd", function(done) T.skip("a real NTP server", NO_NTP); done() end)
  T.run()
  return
end

T.test("chronyd: sync sets rtctime to the host's time (chrony serves it); the info table", function(done)
  sync(REAL, function(r)
    T.ok(r.ok ~= nil, "ok called", r.err and table.concat(r.err, " "))
    T.eq(r.sync_returned, true, "after sync() returned")
    if r.ok then
      local sec, usec, server, info = r.ok[1], r.ok[2], r.ok[3], r.ok[4]
      T.ok(math.abs(sec + usec / 1e6 - os.time()) < 2, "the time is the host's", sec - os.time())
      T.eq(server, REAL, "server")
      T.eq(info.stratum, 8, "stratum 8 (chrony's local stratum)")
      T.eq(info.leap, 0, "leap 0")
      T.ok(info.offset_s and info.offset_s > 10000000, "offset_s: the clock was years behind",
        info.offset_s)
      T.ok(info.delay_us == nil or (info.delay_us >= 0 and info.delay_us < 100000), "delay_us",
        info.delay_us)
      T.ok(math.abs(rtc() - os.time()) < 2, "rtctime is the host's time", rtc() - os.time())
    end
    sync(REAL, function(r2)
      local off = r2.ok and r2.ok[4].offset_us
      T.ok(off and math.abs(off) < 100000 and r2.ok[4].offset_s == nil,
        "the next sync: a correction of microseconds (offset_us)", off)
      done()
    end)
  end)
end, 20)

T.test("chronyd: by name, in a list after dead names, and sync(nil) with the last servers", function(done)
  sync("localhost:" .. NTP, function(r)
    T.ok(r.ok and r.ok[3] == REAL, "localhost:port resolves (hosts file) and syncs", r.ok and r.ok[3])
    sync({"nx5.invalid", "localhost:" .. NTP}, function(r2)
      T.ok(r2.ok and r2.ok[3] == REAL, "a dead name is skipped", r2.err and r2.err[1])
      sync(nil, function(r3)
        T.ok(r3.ok and r3.ok[3] == REAL, "sync(nil): the servers found last", r3.err and r3.err[1])
        done()
      end)
    end)
  end)
end, 20)

T.test("chronyd with a silent server in the list: the answer comes from chronyd", function(done)
  local s = fake_server()
  local t0 = tmr.now()
  sync({s.addr, REAL}, function(r)
    T.ok(r.ok and r.ok[3] == REAL, "ok from chronyd", r.err and r.err[1])
    T.eq(#s.requests, 4, "2 servers: 4 rounds, 8 requests, 4 of them to the silent one")
    T.ok(elapsed(t0) >= 3.5, "each silent request waited its second")
    s.close()
    done()
  end)
end, 20)

T.test("chronyd: a clock ahead is not set back (it slews)", function(done)
  rtctime.set(os.time() + 1000, 0)
  local before = rtc()
  sync(REAL, function(r)
    T.ok(r.ok and math.abs(r.ok[1] - os.time()) < 2, "the callback gets the server's time")
    local off = r.ok and r.ok[4].offset_s
    T.ok(off and off <= -999 and off >= -1002, "offset_s about -1000 (256 s and more)", off)
    T.ok(rtc() >= before, "rtctime did not go back")
    done()
  end)
end, 20)

T.run()
