-- tests/fuzz/fuzz.lua - API fuzzer (run by netmcu; tests/fuzz.sh wraps it).
--   netmcu tests/fuzz/fuzz.lua [seed [seconds]]
--   env: NETMCU_FUZZ_SEED, NETMCU_FUZZ_SECONDS (arguments win), default: a
--        time-based seed (printed) and 20 s.
-- Drives random sequences of every call of net, tmr, node (node.task.post,
-- node.setonerror), mqtt and websocket with plausible and hostile arguments,
-- on real sockets on 127.0.0.1, from the top level of timer ticks and from inside every kind of
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
-- NETMCU_FUZZ_NETNS=1 says we run in a private network namespace).
local T = dofile("tests/lib/t.lua")
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
    elseif e:find("attempt to ", 1, true) or e:find("stack overflow", 1, true) then
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
  mq = getmetatable(mqtt.Client("fuzz", 30)),
  ws = getmetatable(websocket.createClient()),
}
local M = {srv = MT.srv.__index, tcp = MT.tcp.__index, udp = MT.udp.__index, tmr = MT.tmr.__index,
           mq = MT.mq.__index, ws = MT.ws.__index}
local pools = {srv = {}, tcp = {}, udp = {}, tmr = {}, mq = {}, ws = {}}
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
-- An object of any kind, or a hostile value: for wrong `self`.
local function anyself()
  if chance(0.5) then
    local o = some(pick({"srv", "tcp", "udp", "tmr", "mq", "ws"}))
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
    local ip = chance(0.85) and "127.0.0.1" or pick({"1.2.3", "", "localhost", "127.0.0.300", 5})
    return {n = 4, dest_port(udp_ports), ip, data, chance(0.3) and fn_arg("sent") or nil}
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
  if type(a[1]) == "number" and a[1] >= 1 and a[1] <= 65535 and a[1] == math.floor(a[1]) then
    local ours = false
    for _, p in ipairs(tcp_ports) do if p == a[1] then ours = true end end
    if not ours then a[1] = 0 end
  end
  if type(a[2]) == "number" and a[2] >= 1 and a[2] <= 65535 then a[2] = 0 end
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
  -- forgetting and collecting
  {"forget", function()
    local p = pools[pick({"srv", "tcp", "udp", "tmr", "mq", "ws"})]
    if #p > 0 then
      table.remove(p, R(#p))
      forgotten = forgotten + 1
    end
    if chance(0.2) then collectgarbage() else collectgarbage("step") end
  end},
}

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
    broker:close()
    -- close everything still alive: pooled, forgotten but active, closed
    local n = 0
    for o, k in pairs(all) do
      n = n + 1
      if k == "tmr" then pcall(M.tmr.unregister, o) else pcall(M[k].close, o) end
    end
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
      if op[1] ~= "forget" and not stats[op[1]] then missing[#missing + 1] = op[1] end
    end
    T.ok(#missing == 0, "every API call was exercised", table.concat(missing, " "))
    T.ok(#bad == 0, "every failure was a Lua error with a message", table.concat(bad, "\n"))
    T.eq(onerror_calls, deliberate, "callback errors: only the deliberate ones (" .. deliberate .. ")")
    node.setonerror()
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
  end)
end, seconds + 60)

T.run()
