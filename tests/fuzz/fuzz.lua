-- tests/fuzz/fuzz.lua - API fuzzer (run by netmcu; tests/fuzz.sh wraps it).
--   netmcu tests/fuzz/fuzz.lua [seed [seconds]]
--   env: NETMCU_FUZZ_SEED, NETMCU_FUZZ_SECONDS (arguments win), default: a
--        time-based seed (printed) and 20 s.
-- Drives random sequences of every call of net, tmr and node
-- (node.task.post, node.setonerror), of crypto, rtctime, sntp and cron
-- (sntp only ever asks 127.0.0.1, the fuzzer's own UDP sockets or nothing,
-- and the deep sleeps only with arguments that must raise), of the data
-- modules (sjson, encoder, struct, bit: tests/fuzz/data.lua), of file,
-- node, uart and gpio (tests/fuzz/device.lua), wifi, the legacy static
-- timers, http (one-shots of both firmwares, connection objects; URLs,
-- headers, bodies, options) and tls (TLS sockets to our own plain
-- listeners and to closed ports; tls.cert.* with hostile PEM text and
-- callbacks), mqtt and websocket, with
-- plausible and hostile arguments, on real sockets on
-- 127.0.0.1, from the top level of timer ticks and from inside every kind of
-- callback (close inside receive, on() replacing the running callback,
-- sends from `sent`, connects from `disconnection`, ...).  Objects are kept
-- in small pools; dropping one from its pool forgets it (it is collected
-- once inactive); closed objects stay in the pools and keep being called.
-- Pass: no crash, no sanitizer report (tests/run.sh), every raised error a
-- non-empty string, every callback error one of the fuzzer's deliberate
-- ones (node.setonerror), and afterwards a fresh server and client still
-- echo 256 KiB byte-exact, and the loop ends by itself.
-- Safety: destinations are 127.0.0.0/8 only (or 0.0.0.0, which Linux
-- routes to loopback), DNS servers are 127.0.0.1:1 (nothing answers), and
-- multicast is joined on 127.0.0.1 only (on every interface only when
-- NETMCU_FUZZ_NETNS=1 says we run in a private network namespace).  wifi
-- only ever reads the host's interfaces: its calls change nothing there.
-- HTTP requests go to 127.0.0.1 (closed ports, or the fuzzer's own
-- servers, which accept and say nothing, echo the request or close) or to
-- names only that loopback resolver sees; the synchronous ESP32 forms,
-- which resolve through the host's resolver, only get 127.0.0.1 literals.
local repo = os.getenv("NETMCU_FUZZ_REPO") or "." -- the root may be elsewhere (--fs)
local T = dofile(repo .. "/tests/lib/t.lua")
local unpack = table.unpack or unpack

local seed = tonumber(arg and arg[1] or "") or tonumber(os.getenv("NETMCU_FUZZ_SEED") or "")
if not seed then seed = os.time() % 1000000007 end
seed = math.floor(seed)
local seconds = tonumber(arg and arg[2] or "") or tonumber(os.getenv("NETMCU_FUZZ_SECONDS") or "") or 20
local in_netns = os.getenv("NETMCU_FUZZ_NETNS") == "1"
T.diag(("fuzz seed %d, %g s%s (reproduce: NETMCU_FUZZ_SEED=%d NETMCU_FUZZ_SECONDS=%g)"):format(
  seed, seconds, in_netns and ", in a private network namespace" or "", seed, seconds))

-- Park-Miller: the same sequence on every Lua version (exact in doubles).
local state = seed % 2147483646 + 1
local function rnd()
  state = (state * 16807) % 2147483647
  return state
end
local function R(n) return rnd() % n + 1 end -- 1..n
local function chance(p) return rnd() < p * 2147483647 end
local function pick(t) return t[R(#t)] end

-- ---- bookkeeping ----
local stats, order = {}, {}      -- per call name: {calls, raised}
local total, raised = 0, 0
local bad = {}                   -- contract violations
local events = {}                -- callbacks fired, per kind
local deliberate, onerror_calls = 0, 0
local stopping = false
local function note_bad(s)
  if #bad < 50 then bad[#bad + 1] = s end
end
local function pack(...) return {n = select("#", ...), ...} end

local function call(name, f, ...)
  local st = stats[name]
  if not st then
    st = {0, 0}
    stats[name] = st
    order[#order + 1] = name
  end
  st[1] = st[1] + 1
  total = total + 1
  local r = pack(pcall(f, ...))
  if not r[1] then
    st[2] = st[2] + 1
    raised = raised + 1
    local e = r[2]
    if type(e) ~= "string" or e == "" or e:match("^%s*$") then
      note_bad(name .. ": raised a " .. type(e) .. " that is not a non-empty message: " .. tostring(e))
    elseif e:find("attempt to ", 1, true) or
        (e:find("stack overflow", 1, true) and e ~= "encoder stack overflow") then -- (sjson's own)
      note_bad(name .. ": internal-looking error: " .. e)
    end
  end
  return r
end

-- ---- objects ----
local MT = {
  srv = getmetatable(net.createServer()),
  tcp = getmetatable(net.createConnection()),
  udp = getmetatable(net.createUDPSocket()),
  tmr = getmetatable(tmr.create()),
  hconn = getmetatable(http.createConnection()),
  mq = getmetatable(mqtt.Client("fuzz", 30)),
  ws = getmetatable(websocket.createClient()),
}
local M = {srv = MT.srv.__index, tcp = MT.tcp.__index, udp = MT.udp.__index, tmr = MT.tmr.__index,
           hconn = MT.hconn.__index, mq = MT.mq.__index, ws = MT.ws.__index}
local pools = {srv = {}, tcp = {}, udp = {}, tmr = {}, hconn = {}, mq = {}, ws = {}}
local all = setmetatable({}, {__mode = "k"}) -- every object made, for the final close
local made, forgotten = 0, 0
local POOL = 16

local function kind_of(o)
  local mt = getmetatable(o)
  for k, m in pairs(MT) do
    if m == mt then return k end
  end
end

local function adopt(o)
  local k = kind_of(o)
  if not k then return end
  if all[o] then return end
  all[o] = k
  made = made + 1
  local p = pools[k]
  if #p >= POOL then
    table.remove(p, R(#p)) -- forgotten: collectable once inactive
    forgotten = forgotten + 1
  end
  p[#p + 1] = o
end

local function some(k)
  local p = pools[k]
  if #p == 0 then return nil end
  return p[R(#p)]
end

-- ---- values ----
local MiB = string.rep("m", 1024 * 1024)
local BIG_DGRAM = string.rep("d", 65507)
local TOO_BIG_DGRAM = string.rep("d", 65508)
local NIL = {}
local hostile = {
  NIL, true, false, 0, -1, 1, 1.5, -0.0, 0.5, 2 ^ 31, 2 ^ 31 - 1, 2 ^ 32, 2 ^ 53, -2 ^ 53,
  2 ^ 63, -2 ^ 63, 1e308, -1e308, math.huge, -math.huge, 0 / 0, 65535, 65536, 255, 256,
  28801, 6870948, "", "x", MiB, "\0", "127.0.0.1", "localhost", "1.2.3", "127.0.0.300",
  "::1", "%s%n%d", " ", string.rep("a", 300), "1e3", "0x10", "80", {}, {1, 2},
  function() end, coroutine.create(function() end), io.stdout, "receive", "sent",
}
local function hv()
  local v = pick(hostile)
  if v == NIL then return nil end
  return v
end
-- Certificates and keys that are not: headers without bodies, bodies that
-- do not decode, DER-looking bytes, the right header around junk.
local function hostile_pem()
  local body = pick({"", "AAAA", "!!!!", ("QUJD"):rep(R(300)), "\0\1\2", ("A"):rep(R(5000)) .. "="})
  return pick({
    "-----BEGIN CERTIFICATE-----\n" .. body .. "\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n" .. body,
    "-----BEGIN RSA PRIVATE KEY-----\n" .. body .. "\n-----END RSA PRIVATE KEY-----\n",
    "-----BEGIN PRIVATE KEY-----\n" .. body .. "\n-----END PRIVATE KEY-----\n",
    "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n" .. body,
    "\48\130\1\10" .. body, body, MiB, "-----BEGIN X-----\n" .. body .. "\n-----END X-----\n",
  })
end
-- A tls.cert callback: hostile answers, errors, or answers without end.
local function pem_callback()
  local r = R(5)
  if r == 1 then return function() return nil end end
  if r == 2 then return function() error("fuzz: cert callback") end end
  if r == 3 then return function() return hostile_pem() end end -- never nil: too many
  if r == 4 then return function(k) if k < 3 then return hv() end end end
  return function(k) if k < 2 then return hostile_pem() end end
end
-- An object of any kind, or a hostile value: for wrong `self`.
local function anyself()
  if chance(0.5) then
    local o = some(pick({"srv", "tcp", "udp", "tmr", "hconn", "mq", "ws"}))
    if o ~= nil then return o end
  end
  return hv()
end
local function hostile_args(max)
  local a = {n = R(max + 1) - 1}
  for i = 1, a.n do a[i] = hv() end
  return a
end

-- Ports of our own listeners (to connect to, or to collide with).
local tcp_ports, udp_ports = {}, {}
local function remember(list, p)
  if type(p) == "number" and p > 0 then
    list[#list + 1] = p
    if #list > 32 then table.remove(list, 1) end
  end
end
-- The port a value stands for (a number, or a string Lua converts).
local function portnum(v)
  if type(v) == "number" or type(v) == "string" then return tonumber(v) end
end

local closed_port -- a port nothing listens on, found at start
local function dest_port(list)
  local r = R(10)
  if r <= 6 and #list > 0 then return pick(list) end
  if r <= 8 then return closed_port end
  return hv()
end
local function valid_ip_or_junk()
  return pick({"127.0.0.1", "127.0.0.1", "127.0.0.2", "0.0.0.0", "1.2.3", "127.0.0.300", "",
               "localhost", "x", 7, NIL, {}})
end
local function host_arg()
  local h = pick({"127.0.0.1", "127.0.0.1", "localhost", "0.0.0.0", "127.0.0.300", "",
                  "nx" .. R(1000) .. ".invalid", MiB, "1.2.3", NIL, 42, {}, "::1", "localhost."})
  if h == NIL then return nil end
  return h
end
local function name_arg()
  return pick({"localhost", "127.0.0.1", "nx" .. R(1000) .. ".invalid", "", MiB,
               string.rep("a.", 200), "a..b", "-", "localhost", "0.0.0.0"})
end
local function data_arg()
  local r = R(20)
  if r <= 12 then return ("d"):rep(R(100)) .. R(1000) end
  if r <= 14 then return ("z"):rep(R(70000)) end
  if r == 15 then return MiB end
  if r == 16 then return "" end
  return hv()
end
local function ms_arg()
  if chance(0.8) then return R(30) end
  return hv()
end
local function mode_arg()
  if chance(0.85) then return R(3) - 1 end
  return hv()
end

-- ---- callbacks ----
local ops -- the op table, below
local function random_ops(n)
  if stopping then return end
  for _ = 1, n do
    local op = pick(ops)
    op[2]()
  end
end

local mkcb
local function maybe_fail()
  if not stopping and chance(0.002) then
    deliberate = deliberate + 1
    error("fuzz: deliberate error " .. deliberate)
  end
end

-- Callbacks for TCP sockets, by event.
local tcp_events = {"connection", "reconnection", "disconnection", "receive", "sent", "dns"}
local udp_events = {"receive", "sent", "dns"}

local function set_random_callbacks(o, k)
  local evs = k == "udp" and udp_events or tcp_events
  for _, ev in ipairs(evs) do
    if chance(0.8) then call(k .. ".on", M[k].on, o, ev, mkcb(ev)) end
  end
end

function mkcb(ev)
  local function cb(o, a, b, c)
    events[ev] = (events[ev] or 0) + 1
    if stopping then return end
    maybe_fail()
    local k = kind_of(o)
    if ev == "accept" then
      adopt(o)
      set_random_callbacks(o, "tcp")
      if chance(0.1) then call("tcp.hold", M.tcp.hold, o) end
      if chance(0.1) then call("tcp.close", M.tcp.close, o) end
    elseif ev == "receive" and k then
      if type(a) ~= "string" or #a == 0 then note_bad("receive without data: " .. tostring(a)) end
      local r = R(12)
      if r == 1 then call(k .. ".close", M[k].close, o)                     -- close inside receive
      elseif r == 2 then call(k .. ".on", M[k].on, o, "receive", mkcb("receive")) -- replace self
      elseif r == 3 then call(k .. ".on", M[k].on, o, "receive", nil)       -- remove self
      elseif r <= 6 then
        if k == "tcp" then call("tcp.send", M.tcp.send, o, a)
        else call("udp.send", M.udp.send, o, b, c, a) end
      elseif r == 7 and k == "tcp" then call("tcp.hold", M.tcp.hold, o)
      end
    elseif ev == "sent" and k then
      local r = R(10)
      if r == 1 and k == "tcp" then call("tcp.send", M.tcp.send, o, "more from sent")
      elseif r == 2 then call(k .. ".close", M[k].close, o)
      elseif r == 3 then call(k .. ".on", M[k].on, o, "sent", mkcb("sent"))
      end
    elseif ev == "connection" and k == "tcp" then
      if chance(0.5) then call("tcp.send", M.tcp.send, o, data_arg()) end
      if chance(0.1) then call("tcp.close", M.tcp.close, o) end
    elseif (ev == "disconnection" or ev == "reconnection") and k == "tcp" then
      if type(a) ~= "number" then note_bad(ev .. " without a code") end
      if chance(0.2) then call("tcp.connect", M.tcp.connect, o, dest_port(tcp_ports), "127.0.0.1") end
    end
    if chance(0.3) then random_ops(R(3)) end
  end
  return cb
end

local function fn_arg(ev)
  if chance(0.85) then return mkcb(ev) end
  return hv()
end

local function timer_cb(t)
  events.timer = (events.timer or 0) + 1
  if stopping then return end
  maybe_fail()
  if chance(0.1) then call("tmr.unregister", M.tmr.unregister, t) end
  if chance(0.1) then call("tmr.start", M.tmr.start, t) end
  random_ops(R(3))
end
local function task_cb(prio)
  events.task = (events.task or 0) + 1
  if type(prio) ~= "number" then note_bad("task without its priority") end
  if stopping then return end
  maybe_fail()
  random_ops(R(2))
end

-- ---- operations ----
local function on_new(r)
  if r[1] and r[2] ~= nil then adopt(r[2]) end
end

local function tcp_method_args(name)
  if name == "connect" then
    local r = R(6)
    if r == 1 then return hostile_args(4) end
    if r == 2 then return {n = 3, dest_port(tcp_ports), host_arg(), fn_arg("connection")} end
    return {n = 2, dest_port(tcp_ports), chance(0.8) and "127.0.0.1" or host_arg()}
  elseif name == "send" then
    if chance(0.2) then return hostile_args(3) end
    return {n = 2, data_arg(), chance(0.3) and fn_arg("sent") or nil}
  elseif name == "on" then
    if chance(0.15) then return hostile_args(3) end
    local ev = chance(0.9) and pick(tcp_events) or pick({"Receive", "", "listen", "timer", MiB})
    return {n = 2, ev, chance(0.9) and fn_arg(ev) or nil}
  elseif name == "ttl" then
    if chance(0.5) then return {n = 0} end
    return {n = 1, chance(0.5) and R(255) or hv()}
  elseif name == "dns" then
    if chance(0.2) then return hostile_args(3) end
    return {n = 2, name_arg(), chance(0.8) and fn_arg("dns") or nil}
  end
  return chance(0.1) and hostile_args(2) or {n = 0}
end

local function udp_method_args(name)
  if name == "listen" then
    local r = R(5)
    -- valid ports are 0 or our own (collisions), never a fixed guess
    local port = chance(0.7) and 0 or (chance(0.5) and dest_port(udp_ports) or hv())
    if type(port) == "number" and port > 0 and port ~= math.floor(port) then port = 0 end
    if type(port) == "string" and (portnum(port) or 0) > 0 then port = 0 end -- "80": a guess
    if r == 1 then return {n = 0} end
    if r == 2 then return {n = 1, port} end
    return {n = 2, port, valid_ip_or_junk() ~= NIL and "127.0.0.1" or nil}
  elseif name == "send" then
    if chance(0.15) then
      local a = hostile_args(5)
      a[2] = "127.0.0.1" -- whatever else is wrong, never another destination
      if a.n < 2 then a.n = 2 end
      return a
    end
    local d = R(10)
    local data = d == 1 and BIG_DGRAM or d == 2 and TOO_BIG_DGRAM or data_arg()
    if type(data) == "string" and #data > 70000 then data = MiB end
    if chance(0.1) then -- legacy send(data): to the remote, a loopback sender or connect's
      return {n = 2, data, chance(0.3) and fn_arg("sent") or nil}
    end
    local ip = chance(0.85) and "127.0.0.1" or pick({"1.2.3", "", "localhost", "127.0.0.300", 5})
    return {n = 4, dest_port(udp_ports), ip, data, chance(0.3) and fn_arg("sent") or nil}
  elseif name == "connect" then -- legacy: sets the remote of send(data)
    if chance(0.15) then
      local a = hostile_args(3)
      a[2] = "127.0.0.1" -- whatever else is wrong, never another destination
      if a.n < 2 then a.n = 2 end
      return a
    end
    local ip = chance(0.85) and "127.0.0.1" or pick({"1.2.3", "", "localhost", "127.0.0.1\0x", 5})
    return {n = 2, dest_port(udp_ports), ip}
  elseif name == "on" then
    if chance(0.15) then return hostile_args(3) end
    local ev = chance(0.9) and pick(udp_events) or pick({"connection", "Receive", ""})
    return {n = 2, ev, chance(0.9) and fn_arg(ev) or nil}
  elseif name == "ttl" or name == "dns" then
    return tcp_method_args(name)
  end
  return chance(0.1) and hostile_args(2) or {n = 0}
end

local function tmr_method_args(name)
  if name == "alarm" or name == "register" then
    if chance(0.15) then return hostile_args(4) end
    return {n = 3, ms_arg(), mode_arg(), chance(0.9) and timer_cb or hv()}
  elseif name == "interval" then
    return {n = 1, ms_arg()}
  elseif name == "start" then
    return {n = 1, chance(0.5) and true or hv()}
  end
  return chance(0.1) and hostile_args(2) or {n = 0}
end

-- ---- mqtt and websocket clients ----
-- Their brokers and servers are the fuzzer's own TCP servers (which answer
-- whatever their random callbacks send) or closed ports, on 127.0.0.1.
local mq_events = {"connect", "connfail", "offline", "message", "overflow", "puback", "suback",
                   "unsuback"}
local ws_events = {"connection", "receive", "close"}
local function topic_arg()
  return pick({"t", "a/b", "#", "+/x", "", MiB, ("t"):rep(70000), "\0", 5, NIL, {}})
end
-- A broker of the fuzzer's own: CONNACK to anything, then back to the
-- client what it sent (its PUBLISH comes back as the broker's; its
-- SUBSCRIBE is a packet a broker may not send) mixed with random bytes.
local broker_port
local function mq_port() if broker_port and chance(0.6) then return broker_port end return dest_port(tcp_ports) end
local function start_broker()
  local b = net.createServer(5)
  b:listen(0, "127.0.0.1", function(s)
    local first = true
    s:on("receive", function(x, d)
      if stopping then return end
      if first then
        first = false
        call("broker.send", M.tcp.send, x, chance(0.9) and "\32\2\0\0" or "\32\2\0\5")
      end
      local r = R(10)
      if r <= 5 then call("broker.send", M.tcp.send, x, d)
      elseif r == 6 then call("broker.send", M.tcp.send, x, string.char(R(256) - 1, R(256) - 1, R(256) - 1))
      elseif r == 7 then call("broker.send", M.tcp.send, x, "\50\9\0\3a/b\0\7two\52\11\0\3a/b\0\8three\208\0")
      elseif r == 8 then call("broker.send", M.tcp.send, x, "\144\3" .. d:sub(3, 4) .. "\0\176\2" .. d:sub(3, 4))
      elseif r == 9 and chance(0.2) then call("broker.close", M.tcp.close, x)
      end
    end)
  end)
  broker_port = b:getaddr()
  return b
end

local mqcb
local function mq_inside(o)
  local r = R(8)
  if r == 1 then call("mq.close", M.mq.close, o)
  elseif r == 2 then call("mq.publish", M.mq.publish, o, "t", data_arg(), R(3) - 1, R(2) - 1)
  elseif r == 3 then call("mq.subscribe", M.mq.subscribe, o, "t", R(3) - 1)
  elseif r == 4 then call("mq.connect", M.mq.connect, o, "127.0.0.1", mq_port())
  elseif r == 5 then
    local ev = pick(mq_events)
    call("mq.on", M.mq.on, o, ev, mqcb(ev))
  end
end
function mqcb(ev)
  return function(o, a, b)
    events["mqtt." .. ev] = (events["mqtt." .. ev] or 0) + 1
    if stopping then return end
    maybe_fail()
    if kind_of(o) ~= "mq" then note_bad("mqtt " .. ev .. " without its client") return end
    if (ev == "message" or ev == "overflow") and type(a) ~= "string" then note_bad(ev .. " without topic") end
    if ev == "connfail" and type(a) ~= "number" then note_bad("connfail without reason") end
    if chance(0.5) then mq_inside(o) end
    if chance(0.2) then random_ops(R(2)) end
  end
end
local function wscb(ev)
  return function(o, a, b)
    events["ws." .. ev] = (events["ws." .. ev] or 0) + 1
    if stopping then return end
    maybe_fail()
    if kind_of(o) ~= "ws" then note_bad("websocket " .. ev .. " without its client") return end
    if ev == "close" and type(a) ~= "number" then note_bad("ws close without status") end
    if ev == "receive" and (type(a) ~= "string" or type(b) ~= "number") then note_bad("ws receive args") end
    local r = R(6)
    if r == 1 then call("ws.close", M.ws.close, o)
    elseif r == 2 then call("ws.send", M.ws.send, o, data_arg(), chance(0.8) and R(3) - 1 or hv())
    elseif r == 3 and ev == "close" then
      call("ws.connect", M.ws.connect, o, ("ws://127.0.0.1:%s/x"):format(tostring(dest_port(tcp_ports))))
    end
    if chance(0.2) then random_ops(R(2)) end
  end
end
local function mq_fn(ev) if chance(0.85) then return mqcb(ev) end return hv() end
local function ws_fn(ev) if chance(0.85) then return wscb(ev) end return hv() end

local function mq_method_args(name)
  if chance(0.1) then return hostile_args(7) end
  if name == "connect" then
    local host = chance(0.8) and "127.0.0.1" or host_arg()
    local r = R(4)
    -- (a number or boolean where the callback goes would be the older
    -- form's autoreconnect: callbacks here are functions or nil)
    local function cb(ev) return chance(0.9) and mqcb(ev) or nil end
    local secure = chance(0.9) and false or hv()
    if r == 1 then return {n = 4, host, mq_port(), secure, cb("connect")} end
    if r == 2 then return {n = 6, host, mq_port(), 0, 0, cb("connect"), cb("connfail")} end
    return {n = 5, host, mq_port(), false, cb("connect"), cb("connfail")}
  elseif name == "publish" then
    return {n = 5, topic_arg(), data_arg(), chance(0.8) and R(3) - 1 or hv(), chance(0.8) and R(2) - 1 or hv(),
            chance(0.3) and mq_fn("puback") or nil}
  elseif name == "subscribe" then
    if chance(0.3) then return {n = 2, {t = R(3) - 1, ["a/#"] = chance(0.9) and 1 or hv()}, mq_fn("suback")} end
    return {n = 3, topic_arg(), chance(0.8) and R(3) - 1 or hv(), mq_fn("suback")}
  elseif name == "unsubscribe" then
    if chance(0.3) then return {n = 2, {t = 1, ["a/#"] = true}, mq_fn("unsuback")} end
    return {n = 2, topic_arg(), mq_fn("unsuback")}
  elseif name == "lwt" then
    return {n = 4, topic_arg(), data_arg(), chance(0.8) and R(3) - 1 or hv(), R(2) - 1}
  elseif name == "on" then
    local ev = chance(0.9) and pick(mq_events) or pick({"Connect", "", "receive", MiB})
    return {n = 2, ev, chance(0.9) and mq_fn(ev) or nil}
  end
  return {n = 0}
end

local function ws_method_args(name)
  if chance(0.1) then return hostile_args(3) end
  if name == "connect" then
    local u = pick({"ws://127.0.0.1:%s/", "ws://127.0.0.1:%s/chat?x=1", "wss://127.0.0.1:%s/",
                    "http://127.0.0.1:%s/", "ws://:%s/", "ws://localhost:%s", "ws://127.0.0.1:%sx/"})
    return {n = 1, u:format(tostring(dest_port(tcp_ports)))}
  elseif name == "send" then
    return {n = 2, data_arg(), chance(0.8) and R(3) - 1 or hv()}
  elseif name == "on" then
    local ev = chance(0.9) and pick(ws_events) or pick({"Receive", "", "open"})
    return {n = 2, ev, chance(0.9) and ws_fn(ev) or nil}
  elseif name == "config" then
    return {n = 1, pick({{headers = {["X-A"] = "b"}}, {headers = {["A\r\n"] = "x"}}, {headers = 5}, {}, 5})}
  end
  return {n = 0}
end

-- method on an object of the pool (or, sometimes, on a wrong `self`)
local function method_op(k, name, argf)
  return {k .. "." .. name, function()
    local o = some(k)
    if o == nil or chance(0.05) then o = anyself() end
    local a = argf(name)
    local r = call(k .. "." .. name, M[k][name], o, unpack(a, 1, a.n))
    if k == "srv" and name == "getaddr" and r[1] then remember(tcp_ports, r[2]) end
    if k == "udp" and name == "getaddr" and r[1] then remember(udp_ports, r[2]) end
  end}
end

local function srv_listen()
  local o = some("srv")
  if o == nil or chance(0.05) then o = anyself() end
  local r, a = R(8), nil
  local fn = chance(0.9) and mkcb("accept") or hv()
  if r == 1 then
    a = hostile_args(4)
    -- never a function here: a hostile list must not bind a guessed port
    for i = 1, a.n do if type(a[i]) == "function" then a[i] = nil end end
  elseif r == 2 then a = {n = 3, (chance(0.5) and hv() or 0), "127.0.0.1", fn}
  elseif r == 3 then a = {n = 3, 0, valid_ip_or_junk(), fn}
    if a[2] == NIL then a[2] = nil end
    if a[2] == "0.0.0.0" or a[2] == nil then a[2] = "127.0.0.1" end
  elseif r == 4 and #tcp_ports > 0 then a = {n = 3, pick(tcp_ports), "127.0.0.1", fn} -- in use
  elseif r == 5 then a = {n = 2, "127.0.0.1", fn}
  else a = {n = 3, 0, "127.0.0.1", fn}
  end
  -- a guessed valid port would bind someone else's: only 0 or our own
  -- (numeric strings are ports too: "80", "0x10", "1e3")
  local p1 = portnum(a[1])
  if p1 and p1 >= 1 and p1 <= 65535 and p1 == math.floor(p1) then
    local ours = false
    for _, p in ipairs(tcp_ports) do if p == p1 then ours = true end end
    if not ours then a[1] = 0 end
  end
  local p2 = portnum(a[2])
  if p2 and p2 >= 1 and p2 <= 65535 then a[2] = 0 end
  call("srv.listen", M.srv.listen, o, unpack(a, 1, a.n))
  if kind_of(o) == "srv" then
    local p = M.srv.getaddr(o)
    remember(tcp_ports, p)
  end
end

local function udp_listen()
  local o = some("udp")
  if o == nil or chance(0.05) then o = anyself() end
  local a = udp_method_args("listen")
  call("udp.listen", M.udp.listen, o, unpack(a, 1, a.n))
  if kind_of(o) == "udp" then remember(udp_ports, (M.udp.getaddr(o))) end
end

local function mc_if()
  local v = pick({"127.0.0.1", "127.0.0.1", "127.0.0.300", "1.2.3", "x", 0, NIL, {}, 1.5,
                  "198.18.0.1"})
  if in_netns and chance(0.2) then v = pick({"", "any"}) end
  if v == NIL then return nil end
  return v
end
local function mc_group()
  local v = pick({"224.0.0.251", "239.1.2.3", "224.0.0.1", "239.255.255.250", "127.0.0.1",
                  "240.0.0.1", "", NIL, 3, MiB})
  if v == NIL then return nil end
  return v
end

-- ---- crypto, rtctime, sntp, cron ----
local HASH_M = getmetatable(crypto.new_hash("MD5")).__index
local ENTRY_M = getmetatable(cron.schedule("* * * * *", function() end)).__index
cron.reset()
local hashes, entries = {}, {}
local function keep(list, r)
  if r[1] and r[2] ~= nil then
    list[#list + 1] = r[2]
    if #list > 8 then table.remove(list, R(#list)) end
  end
end
local function algo()
  if chance(0.8) then return pick({"MD5", "sha1", "SHA256", "sha384", "SHA512", "sha224", "RIPEMD160",
                                   "md4", "", "SHA3"}) end
  return hv()
end
local function bytes()
  local r = R(10)
  if r <= 3 then return ("k"):rep(R(300)) end
  if r == 4 then return MiB end
  if r == 5 then return "" end
  if r <= 7 then return "abc\0" .. R(1000) end
  return hv()
end
local function aes_key()
  if chance(0.7) then return "0123456789abcdef" end
  return chance(0.5) and ("k"):rep(R(40)) or hv()
end
-- An NTP responder of the fuzzer: to each request, nothing, garbage, a
-- kiss-o'-death, a malformed answer or a good one (any time), so syncs end
-- quickly and every path of the client runs.
local ntp_port
local function u32(n)
  n = math.floor(n) % 4294967296
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end
local function ntp_answer(req, good)
  local r = good and 8 or R(8)
  if r == 1 then return nil end
  if r == 2 then return data_arg() end
  local t = u32(R(4294967295)) .. u32(R(4294967295))
  local b0 = r == 3 and pick({0x1c, 0xe4, 0x24, 0x2b, 0x04}) or 0x24 -- LI, version, mode
  local stratum = r == 4 and pick({0, 16, 255}) or R(15)
  local refid = stratum == 0 and pick({"DENY", "RSTR", "RATE", "XXXX"}) or "LOCL"
  local origin = r == 5 and t or tostring(req):sub(41, 48)
  local recv = r == 6 and u32(0) .. u32(0) or t
  local a = string.char(b0, stratum, 6, 236) .. u32(R(65536)) .. u32(R(65536)) .. refid .. t .. origin ..
    recv .. t
  if r == 7 then a = a:sub(1, R(48)) end
  return a
end
local function ntp_server()
  local port = ntp_port or 9
  local r = R(20)
  if r <= 12 then return "127.0.0.1:" .. port end
  if r == 13 then return "localhost:" .. port end
  if r == 14 then return {"nx" .. R(100) .. ".invalid", "127.0.0.1:" .. port, "localhost:" .. port} end
  if r == 15 then return "nx" .. R(1000) .. ".invalid" end
  if r == 16 then return pick({MiB, ("a"):rep(129), "127.0.0.1:0", "127.0.0.1:x", {}, {1, {}}, true, 5}) end
  if r == 17 and #udp_ports > 0 then return "127.0.0.1:" .. pick(udp_ports) end -- mostly silent
  if r == 18 then return "127.0.0.1" end -- port 123 of loopback: silent
  if r == 19 then return "0.0.0.0:" .. port end -- answers come from 127.0.0.1: not believed
  return "127.0.0.1:" .. port
end
local function time_cb(a, b, c)
  local kind = type(c) == "string" and "sntp_ok" or "sntp_err" .. tostring(a)
  events[kind] = (events[kind] or 0) + 1
  if a == nil then note_bad("sntp callback without arguments") end
  if stopping then return end
  maybe_fail()
  random_ops(R(2))
end
local function cron_cb(e)
  events.cron = (events.cron or 0) + 1
  if getmetatable(e) == nil or getmetatable(e).__index ~= ENTRY_M then note_bad("cron handler without its entry") end
  if stopping then return end
  maybe_fail()
  if chance(0.2) then call("cron.entry.unschedule", ENTRY_M.unschedule, e) end
  random_ops(R(2))
end
local CRON_MASKS = {"* * * * *", "*/5 * * * *", "0 0 * * *", "1,2,3 */2 * * 0,6", "* * 1 1 *", "60 * * * *",
                    "", "* * *", "*/0 * * * *", "1-5 * * * *", "x * * * *", MiB}
local function cron_mask() return chance(0.85) and pick(CRON_MASKS) or hv() end
-- Ends an autorepeat and waits out a sync in progress, then calls fn.
local function sntp_quiet(fn)
  local ok, e = pcall(sntp.sync, "nx-end.invalid")
  if ok or not tostring(e):find("sync in progress", 1, true) then return fn() end
  tmr.create():alarm(100, tmr.ALARM_SINGLE, function() sntp_quiet(fn) end)
end
-- ---- wifi (its calls only read the host) ----
local wifi_events = {"connected", "disconnected", "got_ip", "start", "stop", "authmode_changed",
                     "sta_connected", "sta_disconnected", "probe_req"}
local function wifi_cb(...)
  events.wifi = (events.wifi or 0) + 1
  if stopping then return end
  maybe_fail()
  if chance(0.3) then random_ops(R(3)) end
end
local function wcb() return chance(0.85) and wifi_cb or hv() end
local function ssid_arg()
  return pick({"lo", "net" .. R(5), "", ("s"):rep(32), ("s"):rep(33), 7, {}, NIL, MiB, "a\0b"})
end
local function mac_arg()
  return pick({"02:11:22:33:44:55", "AC-1D-1C-B1-0B-22", "DE AD BE EF 7A C0", "zz:zz:zz:zz:zz:zz",
               "02:11", "", 5, NIL, MiB, "ff:ff:ff:ff:ff:ff"})
end
local function nilify(v) if v == NIL then return nil end return v end
local function sta_table()
  local t = {}
  for _, k in ipairs({"ssid", "pwd", "bssid", "auto", "save", "connected_cb", "disconnect_cb",
                      "got_ip_cb", "dhcp_timeout_cb", "authmode_change_cb"}) do
    if chance(0.5) then
      local v
      if k == "ssid" then v = ssid_arg()
      elseif k == "pwd" then v = pick({"", "password1", ("p"):rep(64), ("p"):rep(65), 3, NIL})
      elseif k == "bssid" then v = mac_arg()
      elseif k == "auto" or k == "save" then v = pick({true, false, 1, "x", NIL})
      else v = wcb() end
      t[k] = nilify(v)
    end
  end
  return t
end
local function ap_table()
  local t = {}
  for _, k in ipairs({"ssid", "pwd", "auth", "channel", "hidden", "max", "beacon", "save",
                      "staconnected_cb"}) do
    if chance(0.5) then
      t[k] = nilify(k == "ssid" and ssid_arg() or k == "pwd" and pick({"password1", "short", NIL}) or
        k == "staconnected_cb" and wcb() or k == "save" and pick({true, false, 0}) or
        k == "hidden" and pick({true, false, 0, 1, 2}) or hv())
    end
  end
  return t
end
local function wop(name, f, argf)
  return {name, function()
    local a = argf and (chance(0.1) and hostile_args(3) or argf()) or (chance(0.1) and hostile_args(2) or {n = 0})
    call(name, f, unpack(a, 1, a.n))
  end}
end
local S, AP = wifi.sta, wifi.ap
local wifi_ops = {
  wop("wifi.setmode", wifi.setmode, function() return {n = 2, R(5) - 1, pick({true, false, NIL, 1})} end),
  wop("wifi.mode", wifi.mode, function() return {n = 1, R(4) - 1} end),
  wop("wifi.getmode", wifi.getmode), wop("wifi.getdefaultmode", wifi.getdefaultmode),
  wop("wifi.getchannel", wifi.getchannel), wop("wifi.start", wifi.start), wop("wifi.stop", wifi.stop),
  wop("wifi.setphymode", wifi.setphymode, function() return {n = 1, R(5) - 1} end),
  wop("wifi.getphymode", wifi.getphymode),
  wop("wifi.sleeptype", wifi.sleeptype, function() return {n = 1, chance(0.5) and R(4) - 1 or nil} end),
  wop("wifi.nullmodesleep", wifi.nullmodesleep, function() return {n = R(2) - 1, chance(0.5)} end),
  wop("wifi.setmaxtxpower", wifi.setmaxtxpower, function() return {n = 1, R(90) - 3} end),
  wop("wifi.setcountry", wifi.setcountry, function()
    return {n = 1, {country = nilify(pick({"us", "DE", "USA", "1x", 3, NIL})), start_ch = nilify(pick({1, 14, 15, NIL})),
                    end_ch = nilify(pick({13, 0, 14, NIL})), policy = nilify(pick({0, 1, 2, "x", NIL}))}}
  end),
  wop("wifi.getcountry", wifi.getcountry), wop("wifi.suspend", wifi.suspend),
  wop("wifi.sta.config", S.config, function()
    if chance(0.8) then return {n = 1, sta_table()} end
    return {n = 4, nilify(ssid_arg()), "password1", pick({0, 1, 2, "02:11:22:33:44:55", NIL}), nilify(mac_arg())}
  end),
  wop("wifi.sta.connect", S.connect, function() return {n = 1, chance(0.3) and wcb() or nil} end),
  wop("wifi.sta.disconnect", S.disconnect, function() return {n = 1, chance(0.3) and wcb() or nil} end),
  wop("wifi.sta.status", S.status), wop("wifi.sta.getip", S.getip), wop("wifi.sta.getmac", S.getmac),
  wop("wifi.sta.getbroadcast", S.getbroadcast), wop("wifi.sta.getrssi", S.getrssi),
  wop("wifi.sta.getconfig", S.getconfig, function() return {n = 1, chance(0.5)} end),
  wop("wifi.sta.getdefaultconfig", S.getdefaultconfig, function() return {n = 1, chance(0.5)} end),
  wop("wifi.sta.getapinfo", S.getapinfo), wop("wifi.sta.getapindex", S.getapindex),
  wop("wifi.sta.changeap", S.changeap, function() return {n = 1, R(7) - 1} end),
  wop("wifi.sta.setaplimit", S.setaplimit, function() return {n = 1, R(7) - 1} end),
  wop("wifi.sta.autoconnect", S.autoconnect, function() return {n = 1, R(3) - 1} end),
  wop("wifi.sta.clearconfig", S.clearconfig),
  wop("wifi.sta.sethostname", S.sethostname, function() return {n = 1, pick({"node-1", "bad_name", "", MiB, 5})} end),
  wop("wifi.sta.gethostname", S.gethostname),
  wop("wifi.sta.setip", S.setip, function() return {n = 1, chance(0.8) and {ip = "10.0.0.1"} or hv()} end),
  wop("wifi.sta.setmac", S.setmac, function() return {n = 1, nilify(mac_arg())} end),
  wop("wifi.sta.sleeptype", S.sleeptype, function() return {n = 1, R(4) - 1} end),
  wop("wifi.sta.getap", S.getap, function()
    local r = R(5)
    if r == 1 then return {n = 1, wcb()} end
    if r == 2 then return {n = 2, R(3) - 1, wcb()} end
    if r == 3 then return {n = 3, {ssid = nilify(ssid_arg()), bssid = nilify(mac_arg()), channel = R(16) - 2,
                                   show_hidden = R(3) - 1}, R(2) - 1, wcb()} end
    return {n = 2, nil, wcb()}
  end),
  wop("wifi.sta.on", S.on, function() return {n = 2, pick(wifi_events), chance(0.8) and wcb() or nil} end),
  wop("wifi.eventmon.register", wifi.eventmon.register, function() return {n = 2, R(14) - 2, wcb()} end),
  wop("wifi.eventmon.unregister", wifi.eventmon.unregister, function() return {n = 1, R(12) - 1} end),
  wop("wifi.ap.config", AP.config, function() return {n = 1, ap_table()} end),
  wop("wifi.ap.getconfig", AP.getconfig, function() return {n = 1, chance(0.5)} end),
  wop("wifi.ap.getdefaultconfig", AP.getdefaultconfig, function() return {n = 1, chance(0.5)} end),
  wop("wifi.ap.setip", AP.setip, function() return {n = 1, {ip = nilify(valid_ip_or_junk()), netmask = "255.0.0.0"}} end),
  wop("wifi.ap.getip", AP.getip), wop("wifi.ap.getbroadcast", AP.getbroadcast),
  wop("wifi.ap.setmac", AP.setmac, function() return {n = 1, nilify(mac_arg())} end),
  wop("wifi.ap.getmac", AP.getmac), wop("wifi.ap.getclient", AP.getclient),
  wop("wifi.ap.deauth", AP.deauth, function() return {n = 1, nilify(mac_arg())} end),
  wop("wifi.ap.dhcp.config", AP.dhcp.config, function() return {n = 1, {start = nilify(valid_ip_or_junk())}} end),
  wop("wifi.ap.dhcp.start", AP.dhcp.start), wop("wifi.ap.dhcp.stop", AP.dhcp.stop),
  wop("wifi.ap.on", AP.on, function() return {n = 2, pick(wifi_events), chance(0.8) and wcb() or nil} end),
}
if S.eventMonReg then -- absent with --strict
  wifi_ops[#wifi_ops + 1] = wop("wifi.sta.eventMonReg", S.eventMonReg, function() return {n = 2, R(8) - 2, wcb()} end)
  wifi_ops[#wifi_ops + 1] = wop("wifi.sta.eventMonStart", S.eventMonStart, function() return {n = 1, R(200)} end)
  wifi_ops[#wifi_ops + 1] = wop("wifi.sta.eventMonStop", S.eventMonStop, function() return {n = 1, chance(0.5) and 1 or nil} end)
end
-- The static timers (legacy; absent with --strict).
local legacy_tmr = {"alarm", "register", "start", "stop", "unregister", "interval", "state"}
if tmr.alarm then
  for _, m in ipairs(legacy_tmr) do
    wifi_ops[#wifi_ops + 1] = wop("tmr." .. m .. "(id)", tmr[m], function()
      local id = chance(0.8) and R(7) - 1 or (chance(0.5) and some("tmr") or hv())
      if m == "alarm" or m == "register" then return {n = 4, id, ms_arg(), mode_arg(), chance(0.9) and timer_cb or hv()} end
      if m == "interval" then return {n = 2, id, ms_arg()} end
      return {n = 1, id}
    end)
  end
end

ops = {
  {"net.createServer", function()
    local r = R(6)
    local a
    if r == 1 then a = {n = 0}
    elseif r == 2 then a = {n = 1, R(5)}
    elseif r == 3 then a = {n = 2, net.TCP, R(3)}
    elseif r == 4 then a = {n = 2, net.UDP, R(3)}
    else a = hostile_args(3) end
    on_new(call("net.createServer", net.createServer, unpack(a, 1, a.n)))
  end},
  {"net.createConnection", function()
    local a = chance(0.7) and {n = R(2) - 1, net.TCP} or
      (chance(0.5) and {n = 1, net.UDP} or hostile_args(3))
    local r = call("net.createConnection", net.createConnection, unpack(a, 1, a.n))
    on_new(r)
    if r[1] and kind_of(r[2]) and chance(0.7) then set_random_callbacks(r[2], kind_of(r[2])) end
  end},
  {"tls.createConnection", function()
    local r = call("tls.createConnection", tls.createConnection, hv())
    on_new(r)
    if r[1] and chance(0.7) then set_random_callbacks(r[2], "tcp") end
  end},
  {"net.createConnection(secure)", function()
    local r = call("net.createConnection(secure)", net.createConnection, net.TCP, pick({1, true, 2, -1}))
    on_new(r)
    if r[1] and chance(0.7) then set_random_callbacks(r[2], "tcp") end
  end},
  {"tls.cert.verify", function()
    local r = R(8)
    if r <= 2 then call("tls.cert.verify", tls.cert.verify, pick({true, false}))
    elseif r <= 4 then call("tls.cert.verify", tls.cert.verify, hostile_pem(), chance(0.3) and hostile_pem() or nil)
    elseif r == 5 then call("tls.cert.verify", tls.cert.verify, pem_callback())
    else
      local a = hostile_args(3)
      call("tls.cert.verify", tls.cert.verify, unpack(a, 1, a.n))
    end
  end},
  {"tls.cert.auth", function()
    local r = R(8)
    if r <= 2 then call("tls.cert.auth", tls.cert.auth, pick({true, false}))
    elseif r <= 5 then call("tls.cert.auth", tls.cert.auth, hostile_pem(), hostile_pem())
    elseif r == 6 then call("tls.cert.auth", tls.cert.auth, pem_callback())
    else call("tls.cert.auth", tls.cert.auth, hv(), hv()) end
  end},
  {"tls.setDebug", function()
    -- levels above 1 would flood stderr with every TLS message
    if chance(0.5) then
      call("tls.setDebug", tls.setDebug, pick({0, 0, 1}))
    else
      call("tls.setDebug", tls.setDebug, hv())
      tls.setDebug(0)
    end
  end},
  {"net.createUDPSocket", function()
    local r = call("net.createUDPSocket", net.createUDPSocket, hv())
    on_new(r)
    if r[1] and chance(0.7) then set_random_callbacks(r[2], "udp") end
  end},
  {"tmr.create", function() on_new(call("tmr.create", tmr.create)) end},
  -- server
  {"srv.listen", srv_listen},
  {"srv.listen", srv_listen},
  method_op("srv", "getaddr", function() return {n = 0} end),
  method_op("srv", "close", function() return {n = 0} end),
  -- TCP socket
  method_op("tcp", "connect", tcp_method_args),
  method_op("tcp", "connect", tcp_method_args),
  method_op("tcp", "send", tcp_method_args),
  method_op("tcp", "send", tcp_method_args),
  method_op("tcp", "on", tcp_method_args),
  method_op("tcp", "close", tcp_method_args),
  method_op("tcp", "hold", tcp_method_args),
  method_op("tcp", "unhold", tcp_method_args),
  method_op("tcp", "getaddr", tcp_method_args),
  method_op("tcp", "getpeer", tcp_method_args),
  method_op("tcp", "ttl", tcp_method_args),
  method_op("tcp", "dns", tcp_method_args),
  -- UDP socket
  {"udp.listen", udp_listen},
  method_op("udp", "send", udp_method_args),
  method_op("udp", "send", udp_method_args),
  method_op("udp", "on", udp_method_args),
  method_op("udp", "close", udp_method_args),
  method_op("udp", "getaddr", udp_method_args),
  method_op("udp", "ttl", udp_method_args),
  method_op("udp", "dns", udp_method_args),
  method_op("udp", "connect", udp_method_args),
  -- obj:__gc() as a method (the firmware's tables have it), and every
  -- class's finalizer given anything (a wrong self must raise)
  method_op("srv", "__gc", function() return {n = 0} end),
  method_op("tcp", "__gc", tcp_method_args),
  method_op("udp", "__gc", udp_method_args),
  method_op("tmr", "__gc", tmr_method_args),
  {"mt.__gc", function()
    local k = pick({"srv", "tcp", "udp", "tmr"})
    local o = chance(0.8) and hv() or anyself()
    if kind_of(o) == k and chance(0.8) then o = hv() end -- mostly a wrong one
    call("mt.__gc", MT[k].__gc, o)
  end},
  -- mqtt
  {"mqtt.Client", function()
    local a = chance(0.7) and {n = 6, "fuzz" .. R(100), R(20) - 1, chance(0.3) and "u" or nil,
      chance(0.3) and "p" or nil, R(2) - 1, chance(0.5) and R(2000) or nil} or hostile_args(7)
    local r = call("mqtt.Client", mqtt.Client, unpack(a, 1, a.n))
    on_new(r)
    if r[1] then
      for _, ev in ipairs(mq_events) do
        if chance(0.7) then call("mq.on", M.mq.on, r[2], ev, mqcb(ev)) end
      end
    end
  end},
  method_op("mq", "connect", mq_method_args),
  method_op("mq", "connect", mq_method_args),
  method_op("mq", "publish", mq_method_args),
  method_op("mq", "publish", mq_method_args),
  method_op("mq", "subscribe", mq_method_args),
  method_op("mq", "unsubscribe", mq_method_args),
  method_op("mq", "lwt", mq_method_args),
  method_op("mq", "on", mq_method_args),
  method_op("mq", "close", mq_method_args),
  -- websocket
  {"websocket.createClient", function()
    local r = call("websocket.createClient", websocket.createClient, hv())
    on_new(r)
    if r[1] then
      for _, ev in ipairs(ws_events) do
        if chance(0.7) then call("ws.on", M.ws.on, r[2], ev, wscb(ev)) end
      end
    end
  end},
  method_op("ws", "connect", ws_method_args),
  method_op("ws", "connect", ws_method_args),
  method_op("ws", "send", ws_method_args),
  method_op("ws", "on", ws_method_args),
  method_op("ws", "config", ws_method_args),
  method_op("ws", "close", ws_method_args),
  -- DNS
  {"net.dns.resolve", function()
    local a = chance(0.8) and {n = 2, name_arg(), fn_arg("dns")} or hostile_args(3)
    call("net.dns.resolve", net.dns.resolve, unpack(a, 1, a.n))
  end},
  {"net.dns.getdnsserver", function()
    call("net.dns.getdnsserver", net.dns.getdnsserver, chance(0.5) and R(2) - 1 or hv())
  end},
  {"net.dns.setdnsserver", function()
    -- only loopback servers, or values that must be refused
    local ip = pick({"127.0.0.1:1", "127.0.0.1:1", "127.0.0.2:1", "0.0.0.0", "1.2.3", "",
                     "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:x", 5, NIL, MiB})
    if ip == NIL then ip = nil end
    call("net.dns.setdnsserver", net.dns.setdnsserver, ip, chance(0.7) and R(2) - 1 or hv())
  end},
  -- interfaces and multicast
  {"net.ifinfo", function()
    local i = pick({0, 1, 2, 3, 99, -1, "lo", "eth0", "nosuch0", NIL, 1.5, 0 / 0, {}, MiB})
    if i == NIL then i = nil end
    call("net.ifinfo", net.ifinfo, i)
  end},
  {"net.multicastJoin", function() call("net.multicastJoin", net.multicastJoin, mc_if(), mc_group()) end},
  {"net.multicastLeave", function() call("net.multicastLeave", net.multicastLeave, mc_if(), mc_group()) end},
  -- timers
  method_op("tmr", "alarm", tmr_method_args),
  method_op("tmr", "alarm", tmr_method_args),
  method_op("tmr", "register", tmr_method_args),
  method_op("tmr", "start", tmr_method_args),
  method_op("tmr", "stop", tmr_method_args),
  method_op("tmr", "unregister", tmr_method_args),
  method_op("tmr", "interval", tmr_method_args),
  method_op("tmr", "state", tmr_method_args),
  {"tmr.now", function() call("tmr.now", tmr.now) end},
  -- tasks
  {"node.task.post", function()
    local r = R(5)
    if r == 1 then call("node.task.post", node.task.post, hv(), hv())
    elseif r == 2 then call("node.task.post", node.task.post, task_cb)
    else call("node.task.post", node.task.post, chance(0.8) and R(3) - 1 or hv(), task_cb) end
  end},
  -- crypto
  {"crypto.hash", function() call("crypto.hash", crypto.hash, algo(), bytes()) end},
  {"crypto.hmac", function() call("crypto.hmac", crypto.hmac, algo(), bytes(), bytes()) end},
  {"crypto.sha1", function() call("crypto.sha1", crypto.sha1, bytes()) end},
  {"crypto.new_hash", function() keep(hashes, call("crypto.new_hash", crypto.new_hash, algo())) end},
  {"crypto.new_hmac", function() keep(hashes, call("crypto.new_hmac", crypto.new_hmac, algo(), bytes())) end},
  {"hash.update", function()
    call("hash.update", HASH_M.update, #hashes > 0 and chance(0.9) and pick(hashes) or anyself(), bytes())
  end},
  {"hash.finalize", function()
    call("hash.finalize", HASH_M.finalize, #hashes > 0 and chance(0.9) and pick(hashes) or anyself())
  end},
  {"crypto.encrypt", function()
    call("crypto.encrypt", crypto.encrypt, chance(0.8) and pick({"AES-ECB", "aes-cbc", "DES"}) or hv(),
      aes_key(), bytes(), chance(0.5) and bytes() or nil)
  end},
  {"crypto.decrypt", function()
    call("crypto.decrypt", crypto.decrypt, chance(0.8) and pick({"AES-CBC", "aes-ecb", "AES"}) or hv(),
      aes_key(), bytes(), chance(0.5) and bytes() or nil)
  end},
  {"crypto.mask", function() call("crypto.mask", crypto.mask, bytes(), bytes()) end},
  {"crypto.fhash", function()
    local f = pick({"tests/crypto.lua", "tests", "/dev/zero", "/dev/null", "no-such-file", "", MiB, 5, NIL})
    if f == NIL then f = nil end
    call("crypto.fhash", crypto.fhash, algo(), f)
  end},
  {"crypto.toHex", function() call("crypto.toHex", crypto.toHex, bytes()) end},
  -- rtctime (the deep sleeps always with an option that must raise)
  {"rtctime.set", function()
    local r = R(4)
    if r == 1 then call("rtctime.set", rtctime.set, hv(), hv(), hv())
    elseif r == 2 then call("rtctime.set", rtctime.set, 1577836800 + R(400000000), R(1000000) - 1)
    elseif r == 3 then call("rtctime.set", rtctime.set, nil, nil, R(2000001) - 1000001)
    else call("rtctime.set", rtctime.set, hv()) end
  end},
  {"rtctime.get", function() call("rtctime.get", rtctime.get) end},
  {"rtctime.epoch2cal", function() call("rtctime.epoch2cal", rtctime.epoch2cal, chance(0.5) and R(2 ^ 31) or hv()) end},
  {"rtctime.adjust_delta", function()
    call("rtctime.adjust_delta", rtctime.adjust_delta, chance(0.5) and R(2 ^ 40) - 2 ^ 39 or hv())
  end},
  {"rtctime.dsleep", function() call("rtctime.dsleep", rtctime.dsleep, hv(), 4 + R(10)) end},
  {"rtctime.dsleep_aligned", function()
    call("rtctime.dsleep_aligned", rtctime.dsleep_aligned, hv(), hv(), 4 + R(10))
  end},
  -- sntp (127.0.0.1 only; never nil, which would mean the public pool)
  {"sntp.sync", function()
    local a = {n = 4, ntp_server(), chance(0.85) and time_cb or hv(), chance(0.85) and time_cb or hv(),
               chance(0.1) and 1 or nil}
    if a[1] == nil then a[1] = "127.0.0.1" end
    call("sntp.sync", sntp.sync, unpack(a, 1, a.n))
  end},
  {"sntp.setoffset", function() call("sntp.setoffset", sntp.setoffset, chance(0.7) and R(256) - 1 or hv()) end},
  {"sntp.getoffset", function() call("sntp.getoffset", sntp.getoffset) end},
  -- cron
  {"cron.schedule", function()
    keep(entries, call("cron.schedule", cron.schedule, cron_mask(), chance(0.85) and cron_cb or hv()))
  end},
  {"cron.entry.schedule", function()
    call("cron.entry.schedule", ENTRY_M.schedule, #entries > 0 and chance(0.9) and pick(entries) or anyself(), cron_mask())
  end},
  {"cron.entry.handler", function()
    call("cron.entry.handler", ENTRY_M.handler, #entries > 0 and chance(0.9) and pick(entries) or anyself(),
      chance(0.85) and cron_cb or hv())
  end},
  {"cron.entry.unschedule", function()
    call("cron.entry.unschedule", ENTRY_M.unschedule, #entries > 0 and chance(0.9) and pick(entries) or anyself())
  end},
  {"cron.reset", function() if chance(0.2) then call("cron.reset", cron.reset) end end},
  -- wifi and the legacy forms: added below
  -- forgetting and collecting
  {"forget", function()
    local p = pools[pick({"srv", "tcp", "udp", "tmr", "hconn", "mq", "ws"})]
    if #p > 0 then
      table.remove(p, R(#p))
      forgotten = forgotten + 1
    end
    if chance(0.2) then collectgarbage() else collectgarbage("step") end
  end},
}

-- the data modules: sjson, encoder, struct, bit
for _, op in ipairs(dofile(repo .. "/tests/fuzz/data.lua")({R = R, chance = chance, pick = pick, hv = hv,
                                                   call = call, NIL = NIL})) do
  ops[#ops + 1] = op
end

-- file, node, uart, gpio: tests/fuzz/device.lua
local device = dofile(repo .. "/tests/fuzz/device.lua")({
  call = call, R = R, chance = chance, pick = pick, hv = hv, hostile_args = hostile_args,
  mkcb = function(ev) return mkcb(ev) end, T = T,
})
for _, o in ipairs(device.ops) do ops[#ops + 1] = o end
for _, op in ipairs(wifi_ops) do ops[#ops + 1] = op end
-- ---- http ----
local function pick_nil(t)
  local v = pick(t)
  if v == NIL then return nil end
  return v
end
local http_port -- the fuzzer's HTTP responder (below), found at start
local function port_text()
  if http_port and chance(0.4) then return tostring(http_port) end
  local p = dest_port(tcp_ports)
  if type(p) == "number" and p >= 1 and p <= 65535 and p == math.floor(p) then
    return tostring(p)
  end
  return pick({tostring(closed_port), "0", "70000", "", "x", "-1", "99999999999"})
end
-- A URL whose host is 127.0.0.1, or a name only the loopback resolver is
-- asked about, or something that is not a URL at all.
local function http_url()
  if chance(0.05) then return hv() end
  if chance(0.4) then return "http://127.0.0.1:" .. port_text() .. pick({"/", "/p?q=1", ""}) end
  local scheme = pick({"http://", "http://", "http://", "https://", "HTTP://", "ftp://", "", "http:/"})
  local host = pick({"127.0.0.1", "127.0.0.1", "127.0.0.1", "localhost", "nx" .. R(1000) .. ".invalid",
                     "127.0.0.300", "", string.rep("h", 128), "[::1]", "u:p@127.0.0.1"})
  local path = pick({"/", "/", "/x?y=1#f", "", "?q", "/a b", "/\r\nX: y", "/" .. ("p"):rep(R(9000)),
                     "/%00", "/\0z", "/\255"})
  return scheme .. host .. ":" .. port_text() .. path
end
-- Synchronous requests block the loop and resolve with the host's
-- resolver: 127.0.0.1 only, and a short timeout.
-- Answers of the responder: well-formed, odd and broken, all on 127.0.0.1.
local function http_answer()
  local body = ("b"):rep(R(3) == 1 and R(200000) or R(100))
  local loc = "http://127.0.0.1:" .. tostring(http_port) .. "/r" .. R(5)
  return pick({
    "HTTP/1.1 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body,
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbroken",
    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    "HTTP/1.0 404 Nope\r\n\r\n" .. body,
    "HTTP/1.1 302 Found\r\nLocation: " .. loc .. "\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 301 Moved\r\nLocation: /again\r\n\r\n",
    "HTTP/1.1 307 T\r\nLocation: http://127.0.0.1:" .. closed_port .. "/\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 999 Odd\r\nX: \0\r\nno colon here\r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\n" .. ("H: " .. ("v"):rep(1000) .. "\r\n"):rep(R(120)) .. "\r\n",
    "HTTP/9.9 200 OK\r\n\r\n", "\0\0\0\0", "",
  })
end
local function sync_url()
  return "http://127.0.0.1:" .. port_text() .. pick({"/", "", "/a b", "?x"})
end
local function http_headers()
  return pick_nil({NIL, "", "X-F: 1\r\n", "bad line\r\n", ("H: v\r\n"):rep(R(2000)),
                   "Host: evil\r\nConnection: keep-alive\r\nUser-Agent: f\r\n", "\0: x\r\n", ":\r\n",
                   "Content-Length: 99999\r\n", "Transfer-Encoding: chunked\r\n", 5, {}, true})
end
local function http_opts()
  if chance(0.1) then return hv() end
  local o = {timeout = chance(0.9) and R(300) or hv(), async = chance(0.5) or hv()}
  if chance(0.3) then o.max_redirects = chance(0.8) and R(4) - 1 or hv() end
  if chance(0.2) then o.cert = pick({"", "garbage", MiB, 1}) end
  if chance(0.2) then o.bufsz = chance(0.5) and R(4096) or hv() end
  if chance(0.3) then
    o.headers = pick({{X = "y"}, {["A B"] = "c"}, {A = "x\r\ny"}, {[1] = "x"}, {Connection = "close"},
                      "str", {["Content-Type"] = "text/plain"}})
  end
  return o
end
local function hcode_cb(ev)
  return function(code, body, headers)
    events[ev] = (events[ev] or 0) + 1
    if type(code) ~= "number" or code ~= math.floor(code) then note_bad(ev .. ": code " .. tostring(code)) end
    if code and code >= 0 and type(body) ~= "string" then note_bad(ev .. ": status without a body") end
    if stopping then return end
    maybe_fail()
    if chance(0.3) then random_ops(R(3)) end
  end
end
local function hfn(ev)
  if chance(0.9) then return hcode_cb(ev) end
  return hv()
end

-- Connection objects are always asynchronous here (see sync_url).
local conn_events = {"connect", "headers", "data", "complete"}
local function hconn_cb(ev)
  local cb
  cb = function(a, b)
    events["http." .. ev] = (events["http." .. ev] or 0) + 1
    if ev ~= "connect" and type(a) ~= "number" then note_bad("http " .. ev .. " without a status") end
    if stopping then return end
    maybe_fail()
    if chance(0.3) then random_ops(R(2)) end
    local r = R(12)
    if r == 1 then
      local c = some("hconn")
      if c then call("hconn.close", M.hconn.close, c) end
    elseif r == 2 and ev == "data" then
      return http.DELAYACK
    elseif r == 3 then
      local c = some("hconn")
      if c then call("hconn.ack", M.hconn.ack, c) end
    elseif r == 4 and ev == "complete" then
      local c = some("hconn")
      if c then call("hconn.request", M.hconn.request, c) end
    end
  end
  return cb
end
local function hconn_args(name)
  if name == "on" then
    if chance(0.15) then return hostile_args(3) end
    local ev = chance(0.9) and pick(conn_events) or pick({"Data", "", "receive", MiB})
    return {n = 2, ev, chance(0.9) and hconn_cb(ev) or hv()}
  elseif name == "seturl" then
    return {n = 1, http_url()}
  elseif name == "setmethod" then
    return {n = 1, chance(0.8) and R(18) - 1 or hv()}
  elseif name == "setheader" then
    return {n = 2, pick_nil({"X-A", "Content-Type", "A B", "", "Connection", NIL, 5}),
            pick_nil({"v", "", "x\r\ny", NIL, MiB, 3})}
  elseif name == "setbody" or name == "setpostdata" then
    return {n = 1, chance(0.8) and data_arg() or nil}
  end
  return chance(0.1) and hostile_args(2) or {n = 0}
end
local function oneshot8266(name, method)
  return {name, function()
    local a
    if chance(0.1) then
      a = hostile_args(5)
      a[1] = http_url() -- never a guessed destination
      if a.n < 2 then a.n = 2 end
      if type(a[2]) ~= "function" then a[2] = "" end -- (a synchronous call must not get this URL)
    elseif method then
      a = {n = 4, http_url(), http_headers(), chance(0.5) and data_arg() or nil, hfn("http.cb")}
      if method == "get" then a = {n = 3, a[1], a[2], a[4]} end
    else
      a = {n = 5, http_url(), pick({"GET", "HEAD", "POST", "OPTIONS", "X\r\nY", "", "G T"}),
           http_headers(), chance(0.5) and data_arg() or nil, hfn("http.cb")}
    end
    -- the ESP8266 forms: a headers string, or nil headers before a function
    if method and type(a[2]) ~= "string" and type(a[2]) ~= "function" then a[2] = "" end
    call(name, http[method or "request"], unpack(a, 1, a.n))
  end}
end

local ops_http = {
  oneshot8266("http.get", "get"),
  oneshot8266("http.post", "post"),
  oneshot8266("http.put", "put"),
  oneshot8266("http.delete", "delete"),
  oneshot8266("http.request", nil),
  {"http.get(esp32)", function()
    local o = http_opts()
    if type(o) == "table" then o.async = nil end
    call("http.get(esp32)", http.get, http_url(), o, hcode_cb("http.cb32"))
  end},
  {"http.post(esp32)", function()
    local o = http_opts()
    call("http.post(esp32)", pick({http.post, http.put}), http_url(), type(o) == "table" and o or {},
      data_arg(), hcode_cb("http.cb32"))
  end},
  {"http.get(sync)", function()
    local o = {timeout = R(150)}
    if chance(0.3) then o.headers = {X = "s"} end
    call("http.get(sync)", http.get, sync_url(), o)
  end},
  {"http.createConnection", function()
    local o = http_opts()
    if type(o) == "table" then o.async = true end
    local args = chance(0.1) and hostile_args(3) or {n = 3, http_url(), chance(0.7) and R(6) - 1 or hv(), o}
    if type(args[1]) ~= "string" and args[1] ~= nil then args[1] = http_url() end
    -- a connection is only ever asynchronous here: options where they are read
    local oi = type(args[2]) == "number" and 3 or 2
    if type(args[oi]) ~= "table" then args[oi] = {async = true} else args[oi].async = true end
    if args.n < oi then args.n = oi end
    local r = call("http.createConnection", http.createConnection, unpack(args, 1, args.n))
    on_new(r)
    if r[1] and kind_of(r[2]) == "hconn" then
      for _, ev in ipairs(conn_events) do
        if chance(0.8) then call("hconn.on", M.hconn.on, r[2], ev, hconn_cb(ev)) end
      end
      if chance(0.7) then call("hconn.request", M.hconn.request, r[2]) end
    end
  end},
  method_op("hconn", "request", hconn_args),
  method_op("hconn", "request", hconn_args),
  method_op("hconn", "on", hconn_args),
  method_op("hconn", "seturl", hconn_args),
  method_op("hconn", "setmethod", hconn_args),
  method_op("hconn", "setheader", hconn_args),
  method_op("hconn", "setbody", hconn_args),
  method_op("hconn", "setpostdata", hconn_args),
  method_op("hconn", "ack", hconn_args),
  method_op("hconn", "close", hconn_args),
}
for _, op in ipairs(ops_http) do ops[#ops + 1] = op end
-- addresses with an embedded NUL (issue 18): tests/fuzz/nul.lua
for _, op in ipairs(dofile(repo .. "/tests/fuzz/nul.lua")({R = R, pick = pick, call = call,
    note_bad = note_bad, closed_port = function() return closed_port end})) do
  ops[#ops + 1] = op
end

-- ---- the run ----
T.test("fuzz: random API calls for " .. seconds .. " s", function(done)
  -- no DNS query may leave loopback
  net.dns.setdnsserver("127.0.0.1:1", 0)
  net.dns.setdnsserver("127.0.0.1:1", 1)
  node.setonerror(function(msg)
    onerror_calls = onerror_calls + 1
    if type(msg) ~= "string" or not msg:find("fuzz: deliberate error", 1, true) then
      note_bad("unexpected callback error: " .. tostring(msg))
    elseif not msg:find("stack traceback", 1, true) then
      note_bad("callback error without traceback: " .. msg)
    end
  end)
  do
    local s = net.createServer()
    s:listen(0, "127.0.0.1", function() end)
    closed_port = s:getaddr()
    s:close()
  end
  local responder = net.createUDPSocket()
  responder:on("receive", function(u, req, port, ip)
    events.ntp_request = (events.ntp_request or 0) + 1
    if stopping then return end
    local n = R(3) - 1
    for i = 1, n + (chance(0.85) and 1 or 0) do -- bad ones, then mostly a good one
      local a = ntp_answer(req, i > n)
      if type(a) == "string" and #a > 0 and #a <= 65507 then u:send(port, ip, a) end
    end
  end)
  responder:listen(0, "127.0.0.1")
  ntp_port = responder:getaddr()
  all[responder] = "udp" -- closed with the rest at the end
  -- the HTTP responder: one answer per request, then close or keep
  local hsrv, hconns = net.createServer(net.TCP, 5), setmetatable({}, {__mode = "k"})
  hsrv:listen(0, "127.0.0.1", function(c)
    hconns[c] = true
    c:on("receive", function(sck)
      if stopping then return sck:close() end
      local a = http_answer()
      local close = chance(0.6) or a == ""
      if a == "" then return sck:close() end
      sck:send(a, close and function(x) x:close() end or nil)
    end)
  end)
  http_port = hsrv:getaddr()
  local broker = start_broker()
  local t0 = node.uptime()
  local ticks = 0
  local tick = tmr.create()
  tick:alarm(2, tmr.ALARM_AUTO, function()
    ticks = ticks + 1
    random_ops(20)
    if (node.uptime() - t0) / 1e6 < seconds then return end
    tick:unregister()
    stopping = true
    device.finish()
    hsrv:close() -- and its connections, so that no request waits for them
    for c in pairs(hconns) do pcall(c.close, c) end
    broker:close()
    -- close everything still alive: pooled, forgotten but active, closed
    local n = 0
    for o, k in pairs(all) do
      n = n + 1
      if k == "tmr" then pcall(M.tmr.unregister, o) else pcall(M[k].close, o) end
    end
    if tmr.alarm then for id = 0, 6 do tmr.unregister(id) end end
    for id = 0, 10 do wifi.eventmon.unregister(id) end
    for _, ev in ipairs(wifi_events) do pcall(S.on, ev, nil); pcall(AP.on, ev, nil) end
    if S.eventMonStop then S.eventMonStop(1) end
    T.diag(("%d ticks, %d calls (%d raised), %d objects made (%d forgotten), %d alive at the end")
      :format(ticks, total, raised, made, forgotten, n))
    -- forget them all: the harness then checks that nothing stays alive
    for k in pairs(pools) do pools[k] = {} end
    local ev = {}
    for k, v in pairs(events) do ev[#ev + 1] = k .. "=" .. v end
    table.sort(ev)
    T.diag("callbacks fired: " .. table.concat(ev, " "))
    table.sort(order)
    local lines = {}
    for _, name in ipairs(order) do
      lines[#lines + 1] = ("%s %d/%d"):format(name, stats[name][2], stats[name][1])
    end
    T.diag("raised/calls: " .. table.concat(lines, ", "))
    T.ok(total > 1000, "made many calls (" .. total .. ")")
    local missing = {}
    for _, op in ipairs(ops) do
      if not op[1]:find("forget", 1, true) and not stats[op[1]] then missing[#missing + 1] = op[1] end
    end
    T.ok(#missing == 0, "every API call was exercised", table.concat(missing, " "))
    T.ok(#bad == 0, "every failure was a Lua error with a message", table.concat(bad, "\n"))
    T.eq(onerror_calls, deliberate, "callback errors: only the deliberate ones (" .. deliberate .. ")")
    node.setonerror()
    cron.reset() -- scheduled entries, like timers, would keep the loop running
    sntp_quiet(function()
    collectgarbage()
    -- a fresh server and client still work, byte-exact
    local payload = {}
    for i = 1, 4096 do payload[i] = ("%063d\n"):format(i) end
    payload = table.concat(payload)
    local srv = net.createServer()
    srv:listen(0, "127.0.0.1", function(c)
      c:on("receive", function(s, d) s:send(d) end)
    end)
    local got = {}
    local n_got = 0
    local cl = net.createConnection()
    cl:on("receive", function(s, d)
      got[#got + 1] = d
      n_got = n_got + #d
      if n_got >= #payload then
        T.ok(table.concat(got) == payload, "echo round-trip after fuzzing: " .. n_got .. " bytes intact")
        s:close(); srv:close()
        done()
      end
    end)
    cl:on("disconnection", function(_, code)
      T.ok(false, "echo connection ended early: " .. tostring(code)); srv:close(); done()
    end)
    cl:on("connection", function(s) s:send(payload) end)
    cl:connect((srv:getaddr()), "127.0.0.1")
    end) -- sntp_quiet
  end)
end, seconds + 60, math.huge)
-- (math.huge: what the run leaves is checked by its own closing tests: every
-- object closed, then the loop ends by itself.  Modules keep fixtures for
-- the rest of the run that the per-test count would call leaks: a hidden
-- timer per static timer id used, http's shared libcurl handle.)

T.run()
