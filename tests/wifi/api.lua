-- wifi through its API, the station mirroring loopback:
--   netmcu --wifi lo tests/wifi/api.lua   (run by tests/wifi.sh)
-- Every event the script gets is logged; waits are on events (never on
-- time), and "nothing more happened" is checked with a fence: a getap
-- answer, which the module queues behind every earlier event.
local T = dofile("tests/lib/t.lua")
local E = wifi.eventmon
local log, waiter = {}, nil
local names = {}
for k, v in pairs(E) do if type(v) == "number" then names[v] = k end end

local function record(id)
  return function(t)
    log[#log + 1] = {name = names[id], t = t, status = wifi.sta.status(), ip = wifi.sta.getip()}
    if waiter and #log >= waiter.n then local f = waiter.fn; waiter = nil; f() end
  end
end
local function listen_all()
  for id = 0, 8 do E.register(id, record(id)) end
end
-- boot: the first wifi call creates the station; its events come later
listen_all()
local boot_status, boot_ip = wifi.sta.status(), wifi.sta.getip()

-- fn() once n events are logged in all
local function wait(n, fn)
  if #log >= n then return fn() end
  waiter = {n = n, fn = fn}
end
-- fn() once every event queued so far was delivered
local function fence(fn) wifi.sta.getap(function() fn() end) end
local function seq(from)
  local s = {}
  for i = from, #log do
    local e = log[i]
    s[#s + 1] = e.name .. (e.t.reason and ("(" .. e.t.reason .. ")") or "")
  end
  return table.concat(s, " ")
end

T.test("constants of the firmware", function(done)
  T.eq(wifi.NULLMODE, 0, "NULLMODE"); T.eq(wifi.STATION, 1, "STATION")
  T.eq(wifi.SOFTAP, 2, "SOFTAP"); T.eq(wifi.STATIONAP, 3, "STATIONAP")
  local st = {"STA_IDLE", "STA_CONNECTING", "STA_WRONGPWD", "STA_APNOTFOUND", "STA_FAIL", "STA_GOTIP"}
  for i, n in ipairs(st) do T.eq(wifi[n], i - 1, n) end
  T.eq(wifi.PHYMODE_B + wifi.PHYMODE_G * 10 + wifi.PHYMODE_N * 100, 321, "PHYMODE_B/G/N 1/2/3")
  T.eq(wifi.NONE_SLEEP + wifi.LIGHT_SLEEP * 10 + wifi.MODEM_SLEEP * 100, 210, "sleep types 0/1/2")
  T.eq(("%d%d%d%d"):format(wifi.OPEN, wifi.WPA_PSK, wifi.WPA2_PSK, wifi.WPA_WPA2_PSK), "0234", "auth modes")
  T.eq(wifi.COUNTRY_AUTO + wifi.COUNTRY_MANUAL * 10, 10, "country policies")
  local ev = {"STA_CONNECTED", "STA_DISCONNECTED", "STA_AUTHMODE_CHANGE", "STA_GOT_IP",
    "STA_DHCP_TIMEOUT", "AP_STACONNECTED", "AP_STADISCONNECTED", "AP_PROBEREQRECVED", "WIFI_MODE_CHANGED"}
  for i, n in ipairs(ev) do T.eq(E[n], i - 1, "eventmon." .. n) end
  T.eq(E.EVENT_MAX, 10, "eventmon.EVENT_MAX")
  local r = E.reason
  local want = {UNSPECIFIED = 1, AUTH_EXPIRE = 2, AUTH_LEAVE = 3, ASSOC_EXPIRE = 4, ASSOC_TOOMANY = 5,
    NOT_AUTHED = 6, NOT_ASSOCED = 7, ASSOC_LEAVE = 8, ASSOC_NOT_AUTHED = 9, DISASSOC_PWRCAP_BAD = 10,
    DISASSOC_SUPCHAN_BAD = 11, IE_INVALID = 13, MIC_FAILURE = 14, ["4WAY_HANDSHAKE_TIMEOUT"] = 15,
    GROUP_KEY_UPDATE_TIMEOUT = 16, IE_IN_4WAY_DIFFERS = 17, GROUP_CIPHER_INVALID = 18,
    PAIRWISE_CIPHER_INVALID = 19, AKMP_INVALID = 20, UNSUPP_RSN_IE_VERSION = 21,
    INVALID_RSN_IE_CAP = 22, ["802_1X_AUTH_FAILED"] = 23, CIPHER_SUITE_REJECTED = 24,
    BEACON_TIMEOUT = 200, NO_AP_FOUND = 201, AUTH_FAIL = 202, ASSOC_FAIL = 203, HANDSHAKE_TIMEOUT = 204}
  local n, bad = 0, {}
  for k, v in pairs(r) do n = n + 1; if want[k] ~= v then bad[#bad + 1] = k end end
  T.ok(n == 28 and #bad == 0, "eventmon.reason: the 28 codes of the firmware", table.concat(bad, " "))
  done()
end)

T.test("boot: connecting at first, then STA_CONNECTED and STA_GOT_IP from the loop", function(done)
  T.eq(boot_status, wifi.STA_CONNECTING, "status() right after the first call: STA_CONNECTING")
  T.eq(boot_ip, nil, "getip() then: nil")
  wait(2, function()
    T.eq(seq(1), "STA_CONNECTED STA_GOT_IP", "the events, in order")
    local c, g = log[1], log[2]
    T.eq(c.t.SSID, "lo", "SSID: the saved config's (the interface's name by default)")
    T.ok(c.t.BSSID:match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$") and c.t.BSSID ~= "00:00:00:00:00:00",
      "BSSID: aa:bb:cc:dd:ee:ff, derived from the interface", c.t.BSSID)
    T.ok(c.t.channel >= 1 and c.t.channel <= 11, "channel 1-11", c.t.channel)
    T.eq(c.status, wifi.STA_CONNECTING, "in STA_CONNECTED the station still reads as connecting")
    T.eq(g.t.IP .. " " .. g.t.netmask .. " " .. g.t.gateway, "127.0.0.1 255.0.0.0 0.0.0.0",
      "STA_GOT_IP: IP, netmask, gateway of the interface (no default route: 0.0.0.0)")
    T.eq(g.status, wifi.STA_GOTIP, "in STA_GOT_IP: STA_GOTIP")
    T.eq(g.ip, "127.0.0.1", "and getip() works there")
    local ip, nm, gw = wifi.sta.getip()
    T.eq(ip .. nm .. gw, "127.0.0.1255.0.0.00.0.0.0", "getip() returns ip, netmask, gateway")
    T.eq(wifi.sta.getbroadcast(), "127.255.255.255", "getbroadcast()")
    T.eq(wifi.sta.getrssi(), -50, "getrssi() while connected: a fixed -50")
    T.eq(wifi.getchannel(), c.t.channel, "getchannel(): the network's")
    done()
  end)
end)

T.test("disconnect(): STA_DISCONNECTED(ASSOC_LEAVE) later, STA_IDLE and getip() nil at once", function(done)
  local n = #log
  local rc = wifi.sta.disconnect()
  T.eq(rc, nil, "returns nothing")
  T.eq(#log, n, "no callback from inside the call")
  T.eq(wifi.sta.status(), wifi.STA_IDLE, "status() STA_IDLE at once")
  T.eq(wifi.sta.getip(), nil, "getip() nil at once")
  T.eq(wifi.sta.getrssi(), nil, "getrssi() nil")
  T.eq(wifi.sta.getbroadcast(), nil, "getbroadcast() nil")
  wifi.sta.disconnect() -- not connected: nothing more
  fence(function()
    T.eq(seq(n + 1), "STA_DISCONNECTED(8)", "one STA_DISCONNECTED, reason ASSOC_LEAVE (8)")
    T.eq(log[n + 1].t.SSID, "lo", "with the SSID")
    T.eq(log[n + 1].t.BSSID, log[1].t.BSSID, "and the BSSID")
    T.ok(net.ifinfo("lo").ip == "127.0.0.1", "the host's interface is untouched")
    done()
  end)
end)

T.test("connect(): STA_CONNECTED, STA_GOT_IP; again while connected: nothing", function(done)
  local n = #log
  wifi.sta.connect()
  T.eq(#log, n, "no callback from inside the call")
  T.eq(wifi.sta.status(), wifi.STA_CONNECTING, "connecting")
  wait(n + 2, function()
    T.eq(seq(n + 1), "STA_CONNECTED STA_GOT_IP", "events")
    wifi.sta.connect()
    fence(function()
      T.eq(#log, n + 2, "connect() while connected: no event")
      T.eq(wifi.sta.status(), wifi.STA_GOTIP, "still STA_GOTIP")
      done()
    end)
  end)
end)

T.test("config{}: reconnects with the new config; save and auto", function(done)
  local n = #log
  T.eq(wifi.sta.config{ssid = "net2", pwd = "password1", save = false}, true, "returns true")
  T.eq(#log, n, "no callback from inside the call")
  wait(n + 3, function()
    T.eq(seq(n + 1), "STA_DISCONNECTED(8) STA_CONNECTED STA_GOT_IP",
      "disconnects (ASSOC_LEAVE), then connects with it, as the firmware does")
    T.eq(log[n + 2].t.SSID, "net2", "STA_CONNECTED carries the configured SSID")
    local s, p, bs, b = wifi.sta.getconfig()
    T.eq(s .. "|" .. p .. "|" .. bs .. "|" .. b, "net2|password1|0|" .. log[1].t.BSSID,
      "getconfig(): ssid, pwd, bssid_set, the AP's bssid once connected")
    local t = wifi.sta.getconfig(true)
    T.ok(t.ssid == "net2" and t.pwd == "password1" and t.bssid_set == false, "getconfig(true)")
    T.eq((wifi.sta.getdefaultconfig()), "lo", "save=false: the saved config is unchanged")
    n = #log
    wifi.sta.config{ssid = "net3", auto = false}
    T.eq(wifi.sta.status(), wifi.STA_IDLE, "auto=false: STA_IDLE")
    fence(function()
      T.eq(seq(n + 1), "STA_DISCONNECTED(8)", "auto=false: only the disconnection")
      T.eq((wifi.sta.getdefaultconfig()), "net3", "saved by default")
      local t2 = wifi.sta.getdefaultconfig(true)
      T.ok(t2.pwd == nil and t2.bssid == "ff:ff:ff:ff:ff:ff", "getdefaultconfig(true): no pwd, bssid ff:...")
      n = #log
      wifi.sta.connect()
      wait(n + 2, function()
        T.eq(seq(n + 1), "STA_CONNECTED STA_GOT_IP", "connect() after auto=false")
        done()
      end)
    end)
  end)
end)

T.test("callbacks of config{}, connect(fn), disconnect(fn) share eventmon's slots", function(done)
  local got = {}
  wifi.sta.config{ssid = "lo", connected_cb = function(t) got[#got + 1] = "c:" .. t.SSID end,
    got_ip_cb = function(t) got[#got + 1] = "g:" .. t.IP end,
    disconnect_cb = function(t) got[#got + 1] = "d:" .. t.reason end}
  fence(function()
    T.eq(table.concat(got, " "), "d:8 c:lo g:127.0.0.1", "the config's callbacks got the events")
    wifi.sta.disconnect(function(t) got[#got + 1] = "D:" .. t.reason end)
    fence(function()
      T.eq(got[4], "D:8", "disconnect(fn) replaced the callback")
      wifi.sta.connect(function(t) got[#got + 1] = "C:" .. t.SSID end)
      fence(function()
        T.eq(got[5], "C:lo", "connect(fn) too")
        T.eq(got[6], "g:127.0.0.1", "the others stay")
        listen_all()
        done()
      end)
    end)
  end)
end)

T.test("eventmon.unregister and register without a function", function(done)
  local n, calls = #log, 0
  E.register(E.STA_DISCONNECTED, function() calls = calls + 1 end)
  E.unregister(E.STA_DISCONNECTED)
  E.register(E.STA_CONNECTED, function() calls = calls + 1 end)
  E.register(E.STA_CONNECTED)
  wifi.sta.disconnect(); wifi.sta.connect()
  fence(function()
    T.eq(calls, 0, "neither fired")
    T.eq(seq(n + 1), "STA_GOT_IP", "the other events still did")
    listen_all()
    done()
  end)
end)

T.test("wifi.sta.on (ESP32): function(event, info)", function(done)
  local got = {}
  for _, ev in ipairs{"connected", "disconnected", "got_ip", "start", "stop"} do
    wifi.sta.on(ev, function(name, info)
      local keys = {}
      for k in pairs(info) do keys[#keys + 1] = k end
      table.sort(keys)
      got[#got + 1] = name .. "(" .. table.concat(keys, ",") .. ")"
    end)
  end
  wifi.sta.disconnect(); wifi.sta.connect()
  fence(function()
    T.eq(table.concat(got, " "), "disconnected(bssid,reason,ssid) connected(auth,bssid,channel,ssid) " ..
      "got_ip(gw,ip,netmask)", "the ESP32's events and fields")
    wifi.setmode(wifi.SOFTAP); wifi.setmode(wifi.STATION)
    fence(function()
      T.ok(table.concat(got, " "):find("disconnected%(bssid,reason,ssid%) stop%(%) start%(%) connected"),
        "stop and start when the station leaves and comes back", table.concat(got, " "))
      for _, ev in ipairs{"connected", "disconnected", "got_ip", "start", "stop"} do wifi.sta.on(ev, nil) end
      local n = #got
      wifi.sta.disconnect(); wifi.sta.connect()
      fence(function()
        T.eq(#got, n, "on(event, nil) unregisters")
        done()
      end)
    end)
  end)
end)

T.test("setmode: the station leaves and comes back; WIFI_MODE_CHANGED; save", function(done)
  local n = #log
  T.eq(wifi.setmode(wifi.SOFTAP), wifi.SOFTAP, "returns the mode")
  T.eq(wifi.getmode(), wifi.SOFTAP, "getmode()")
  T.eq(wifi.getdefaultmode(), wifi.SOFTAP, "saved by default")
  T.eq(wifi.sta.status(), wifi.STA_IDLE, "no station: STA_IDLE")
  T.raises(function() wifi.sta.getap(print) end, "Can't list ap in SOFTAP mode", "getap in SOFTAP mode")
  local ip = wifi.ap.getip()
  T.eq(ip, "192.168.4.1", "the AP has its default address")
  T.eq(wifi.setmode(wifi.SOFTAP), wifi.SOFTAP, "the same mode again: no event")
  wifi.setmode(wifi.STATIONAP, false)
  T.eq(wifi.getdefaultmode(), wifi.SOFTAP, "save=false keeps the saved mode")
  wait(n + 5, function()
    T.eq(seq(n + 1), "STA_DISCONNECTED(8) WIFI_MODE_CHANGED WIFI_MODE_CHANGED STA_CONNECTED STA_GOT_IP",
      "disconnects, mode changes, autoconnect connects again")
    T.eq(log[n + 2].t.old_mode .. ">" .. log[n + 2].t.new_mode, "1>2", "old_mode, new_mode")
    T.eq(log[n + 3].t.old_mode .. ">" .. log[n + 3].t.new_mode, "2>3", "and the second")
    T.eq(#wifi.ap.getclient() == 0 and next(wifi.ap.getclient()) == nil, true, "getclient(): no station joins")
    wifi.setmode(wifi.STATION)
    T.raises(function() wifi.ap.getclient() end, "Can't list clients in STATION mode", "getclient in STATION")
    T.eq(wifi.ap.getip(), nil, "no AP: ap.getip() nil")
    fence(done)
  end)
end)

T.test("a connection ended before the script heard of it: no event at all", function(done)
  local n = #log
  wifi.sta.config{ssid = "quick"}
  wifi.sta.disconnect() -- its STA_CONNECTED and STA_GOT_IP are still queued: they go
  fence(function()
    T.eq(seq(n + 1), "STA_DISCONNECTED(8)", "only the end of the connection the script knew")
    -- the same from a callback, while the queue is being delivered
    wifi.sta.connect()
    fence(function()
      n = #log
      E.register(E.WIFI_MODE_CHANGED, function(t)
        record(E.WIFI_MODE_CHANGED)(t)
        if t.new_mode == wifi.STATION then wifi.sta.disconnect() end
      end)
      wifi.setmode(wifi.SOFTAP); wifi.setmode(wifi.STATION)
      fence(function()
        T.eq(seq(n + 1), "STA_DISCONNECTED(8) WIFI_MODE_CHANGED WIFI_MODE_CHANGED",
          "disconnect() in a callback drops the queued connection")
        T.eq(wifi.sta.status(), wifi.STA_IDLE, "idle")
        listen_all()
        n = #log
        wifi.sta.config{ssid = "again"}; wifi.sta.disconnect() -- the queue is sound after that
        fence(function()
          T.eq(#log, n, "and again: nothing")
          wifi.sta.config{ssid = "lo"}
          wait(n + 2, done)
        end)
      end)
    end)
  end)
end)

T.test("getap: the network in range, later; formats and filters", function(done)
  local calls = 0
  wifi.sta.getap(function(t)
    calls = calls + 1
    local k, v = next(t)
    T.eq(k, "lo", "format 0: keyed by SSID")
    T.eq(v, ("0,-50,%s,%d"):format(log[1].t.BSSID, log[1].t.channel), "authmode,rssi,bssid,channel")
    wifi.sta.getap(1, function(t1)
      local k1, v1 = next(t1)
      T.eq(k1, log[1].t.BSSID, "format 1: keyed by BSSID")
      T.eq(v1, ("lo,-50,0,%d"):format(log[1].t.channel), "ssid,rssi,authmode,channel")
      wifi.sta.getap({ssid = "elsewhere"}, 0, function(t2)
        T.eq(next(t2), nil, "an SSID filter that matches nothing: empty table")
        wifi.sta.getap({bssid = log[1].t.BSSID, channel = 0, show_hidden = 1}, function(t3)
          T.eq(next(t3), "lo", "bssid and channel filters that match")
          T.eq(calls, 1, "each answer once")
          done()
        end)
      end)
    end)
  end)
  T.eq(calls, 0, "no callback from inside getap")
end)

T.test("settings kept and reported; the host is never changed", function(done)
  T.eq(wifi.sta.getmac(), "00:00:00:00:00:00", "getmac(): the interface's MAC (loopback has none)")
  T.eq(wifi.sta.gethostname(), "NODE-000000", "default hostname from the MAC, as the firmware")
  T.eq(wifi.sta.sethostname("my-node-1"), true, "sethostname")
  T.eq(wifi.sta.gethostname(), "my-node-1", "gethostname")
  T.eq(wifi.sta.setip{ip = "10.1.2.3", netmask = "255.0.0.0", gateway = "10.0.0.1"}, false,
    "sta.setip: false, the host's address is not the script's")
  T.eq((wifi.sta.getip()), "127.0.0.1", "getip unchanged")
  T.eq(wifi.sta.setmac("02:11:22:33:44:55"), false, "sta.setmac: false")
  T.eq(wifi.sta.getmac(), "00:00:00:00:00:00", "getmac unchanged")
  T.eq(wifi.sta.sleeptype(), wifi.MODEM_SLEEP, "sleeptype default MODEM_SLEEP")
  T.eq(wifi.sta.sleeptype(wifi.NONE_SLEEP), wifi.NONE_SLEEP, "sleeptype set")
  T.eq(wifi.sleeptype(), wifi.NONE_SLEEP, "wifi.sleeptype is the same")
  T.eq(wifi.getphymode(), wifi.PHYMODE_N, "phymode N")
  T.eq(wifi.setphymode(wifi.PHYMODE_G), wifi.PHYMODE_G, "setphymode")
  T.eq(wifi.nullmodesleep(), true, "nullmodesleep default true")
  T.eq(wifi.nullmodesleep(false), false, "nullmodesleep(false)")
  T.eq(wifi.setmaxtxpower(82), nil, "setmaxtxpower")
  local c = wifi.getcountry()
  T.eq(("%s %d %d %d"):format(c.country, c.start_ch, c.end_ch, c.policy), "CN 1 13 0", "getcountry default")
  T.eq(wifi.setcountry{country = "us", start_ch = 1, end_ch = 11, policy = wifi.COUNTRY_MANUAL}, true, "setcountry")
  c = wifi.getcountry()
  T.eq(("%s %d %d %d"):format(c.country, c.start_ch, c.end_ch, c.policy), "US 1 11 1", "getcountry")
  wifi.setcountry({})
  T.eq(wifi.getcountry().country, "CN", "setcountry{} restores the defaults")
  local info = wifi.sta.getapinfo()
  T.ok(info.qty == 1 and info[1].ssid == "lo" and info[1].pwd == nil, "getapinfo: the AP cache (limit 1)")
  T.eq(wifi.sta.getapindex(), 1, "getapindex")
  T.eq(wifi.sta.changeap(1), true, "changeap(1)")
  T.eq(wifi.sta.changeap(2), false, "changeap to an empty slot: false")
  T.eq(wifi.sta.setaplimit(5), true, "setaplimit (from the next start)")
  wifi.sta.autoconnect(1)
  T.raises(function() wifi.suspend() end, "wifi.suspend is unavailable", "suspend: as the default build")
  T.raises(function() wifi.resume() end, "wifi.suspend is unavailable", "resume: as the default build")
  T.eq(wifi.startsmart, nil, "no smartconfig (not in the default build)")
  fence(done)
end)

T.test("wifi.ap: configuration kept and reported, no traffic", function(done)
  local ap = wifi.ap
  local s, p = ap.getconfig()
  T.ok(s == "NODE_000000" and p == nil, "default: NODE_ and the MAC's last bytes, open", s)
  T.eq(ap.config{ssid = "myap", pwd = "password1", channel = 11, hidden = true, max = 2,
    beacon = 200, save = false}, true, "config")
  local t = ap.getconfig(true)
  T.eq(("%s %s %d %d %s %d %d"):format(t.ssid, t.pwd, t.auth, t.channel, tostring(t.hidden), t.max, t.beacon),
    "myap password1 4 11 true 2 200", "getconfig(true)")
  T.eq((ap.getdefaultconfig()), "NODE_000000", "save=false")
  T.eq(ap.config{ssid = "open"}, true, "an open AP")
  T.eq(select(2, ap.getconfig()), nil, "no password")
  T.eq(ap.getconfig(true).channel, 6, "channel 6 when not given")
  local a, b = ap.dhcp.config{start = "192.168.4.100"}
  T.eq(a .. "-" .. b, "192.168.4.100-192.168.4.103", "dhcp.config: the pool for max stations")
  T.eq(ap.dhcp.start(), true, "dhcp.start")
  T.eq(ap.dhcp.stop(), true, "dhcp.stop")
  T.ok(ap.getmac():match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$"), "ap.getmac")
  T.eq(ap.setmac("02:11:22:33:44:55"), true, "ap.setmac: the AP is the module's own")
  T.eq(ap.getmac(), "02:11:22:33:44:55", "ap.getmac after setmac")
  T.eq(ap.deauth(), false, "deauth in STATION mode: false")
  wifi.setmode(wifi.STATIONAP)
  T.eq(ap.deauth("aa:bb:cc:dd:ee:ff"), true, "deauth otherwise: true")
  T.eq(ap.setip{ip = "10.9.0.1", netmask = "255.255.0.0", gateway = "10.9.0.1"}, true, "ap.setip")
  local ip, nm, gw = ap.getip()
  T.eq(ip .. " " .. nm .. " " .. gw, "10.9.0.1 255.255.0.0 10.9.0.1", "ap.getip")
  T.eq(ap.getbroadcast(), "10.9.255.255", "ap.getbroadcast")
  T.eq(net.ifinfo("lo").ip, "127.0.0.1", "the host is untouched")
  local got = {}
  fence(function() -- the AP's start of setmode(STATIONAP) above is delivered
    ap.on("start", function(ev) got[#got + 1] = ev end)
    ap.on("stop", function(ev) got[#got + 1] = ev end)
    wifi.setmode(wifi.STATION)
    wifi.setmode(wifi.STATIONAP)
    fence(function()
      T.eq(table.concat(got, " "), "stop start", "ap.on start/stop with the mode")
      ap.on("start"); ap.on("stop")
      wifi.setmode(wifi.STATION)
      fence(done)
    end)
  end)
end)

T.test("argument errors: the firmware's messages, and no side effect", function(done)
  local n, st = #log, wifi.sta.status()
  local function bad(f, msg, name) T.raises(f, msg, name) end
  local s = wifi.sta
  bad(function() s.config() end, "string expected", "config(): no table")
  bad(function() s.config{} end, "ssid required", "config{}: ssid required")
  bad(function() s.config{ssid = {}} end, "ssid:not string", "ssid not a string")
  bad(function() s.config{ssid = ("x"):rep(33)} end, "ssid: length:0-32", "ssid of 33 bytes")
  bad(function() s.config{ssid = "a", pwd = ("x"):rep(65)} end, "pwd: length:0-64", "pwd of 65 bytes")
  bad(function() s.config{ssid = "a", pwd = true} end, "pwd:not string", "pwd not a string")
  bad(function() s.config{ssid = "a", bssid = "zz"} end, "bssid: FF:FF:FF:FF:FF:FF", "short bssid")
  bad(function() s.config{ssid = "a", bssid = "zz:zz:zz:zz:zz:zz"} end, "bssid: FF:FF:FF:FF:FF:FF", "non-hex bssid")
  bad(function() s.config{ssid = "a", auto = 1} end, "auto:not boolean", "auto not boolean")
  bad(function() s.config{ssid = "a", save = "yes"} end, "save:not boolean", "save not boolean")
  bad(function() s.config{ssid = "a", connected_cb = 1} end, "connect_cb:not function", "callback not a function")
  bad(function() s.config{ssid = "a", got_ip_cb = 1} end, "gotip_cb:not function", "got_ip_cb: the firmware's words")
  bad(function() wifi.setmode(4) end, "Invalid mode", "setmode(4)")
  bad(function() wifi.setmode(1.5) end, "number has no integer representation", "setmode(1.5)")
  bad(function() wifi.setmode("x") end, "number expected", "setmode('x')")
  bad(function() wifi.setmode(1, 1) end, "boolean expected", "setmode save not boolean")
  bad(function() E.register(11, print) end, "valid wifi events:0-10", "eventmon.register(11)")
  bad(function() E.register(-1, print) end, "valid wifi events:0-10", "eventmon.register(-1)")
  bad(function() E.register() end, "number expected", "eventmon.register()")
  bad(function() s.sethostname("bad_name") end, "Invalid hostname", "hostname with _")
  bad(function() s.sethostname("-x") end, "Invalid hostname", "hostname starting with -")
  bad(function() s.sethostname(("a"):rep(33)) end, "Invalid hostname", "hostname of 33")
  bad(function() s.setmac("02:11") end, "MAC:FF:FF:FF:FF:FF:FF", "setmac short")
  bad(function() s.setip(1) end, "wrong arg type", "sta.setip(1)")
  bad(function() s.autoconnect(2) end, "0 or 1", "autoconnect(2)")
  bad(function() s.changeap(0) end, "Valid range: 1-5", "changeap(0)")
  bad(function() s.setaplimit(6) end, "Valid range: 1-5", "setaplimit(6)")
  bad(function() s.sleeptype(3) end, "range:0-2", "sleeptype(3)")
  bad(function() wifi.setphymode(4) end, "wrong arg type", "setphymode(4)")
  bad(function() wifi.setmaxtxpower(83) end, "tx power out of range (0->82)", "setmaxtxpower(83)")
  bad(function() wifi.setmaxtxpower(0) end, "tx power out of range (0->82)", "setmaxtxpower(0)")
  bad(function() wifi.setcountry("x") end, "Table not found!", "setcountry('x')")
  bad(function() wifi.setcountry{country = "USA"} end, "country code must be 2 chars", "3-letter country")
  bad(function() wifi.setcountry{start_ch = 15} end, "start_ch: Range:1-14", "start_ch 15")
  bad(function() wifi.setcountry{start_ch = 5, end_ch = 4} end, "end_ch: can't be less than start_ch", "end < start")
  bad(function() wifi.setcountry{policy = 2} end, "policy: must be 0 or 1", "policy 2")
  bad(function() wifi.ap.config{} end, "ssid: required", "ap.config{}")
  bad(function() wifi.ap.config{ssid = "x", pwd = "short"} end, "pwd: length:0 or 8-64", "ap pwd short")
  bad(function() wifi.ap.config{ssid = "x", channel = 14} end, "channel: Range:1-13", "ap channel 14")
  bad(function() wifi.ap.config{ssid = "x", max = 5} end, "max: 1-4", "ap max 5")
  bad(function() wifi.ap.config{ssid = "x", beacon = 50} end, "beacon: 100-60000", "ap beacon 50")
  bad(function() wifi.ap.config{ssid = "x", hidden = 2} end, "hidden: 0 or 1", "ap hidden 2")
  bad(function() wifi.ap.config{ssid = "x", auth = 5} end, "auth: Range:0-4", "ap auth 5")
  bad(function() wifi.ap.config("x") end, "table expected", "ap.config('x')")
  bad(function() wifi.ap.dhcp.config{start = "x"} end, "wrong arg type", "dhcp.config bad start")
  bad(function() s.getap() end, "wrong arg type", "getap()")
  bad(function() s.getap({channel = 14}, print) end, "channel: 0 or 1-13", "getap channel 14")
  bad(function() s.getap({ssid = ("x"):rep(33)}, print) end, "ssid:<32", "getap long ssid")
  bad(function() s.getap(5, print) end, "wrong arg type", "getap format 5")
  bad(function() s.on("nope", print) end, "unknown event: nope", "sta.on unknown event")
  bad(function() s.on("got_ip", 1) end, "function expected", "sta.on not a function")
  bad(function() wifi.ap.on("connected", print) end, "unknown event: connected", "ap.on takes the AP's names")
  T.eq(s.status(), st, "status unchanged")
  T.eq((s.getconfig()), "lo", "config unchanged")
  fence(function()
    T.eq(#log, n, "no event from any of them")
    done()
  end)
end)

T.test("clearconfig(): disconnects and forgets", function(done)
  local n = #log
  T.eq(wifi.sta.clearconfig(), true, "returns true")
  T.eq(wifi.sta.status(), wifi.STA_IDLE, "idle")
  T.eq((wifi.sta.getconfig()), "", "empty config")
  T.eq((wifi.sta.getdefaultconfig()), "", "erased from the saved one too")
  wifi.sta.connect()
  fence(function()
    T.eq(seq(n + 1), "STA_DISCONNECTED(8)", "connect() with no SSID: nothing to join")
    wifi.sta.config{ssid = "lo"}
    wait(n + 3, function()
      T.eq(seq(n + 2), "STA_CONNECTED STA_GOT_IP", "config again")
      done()
    end)
  end)
end)

T.test("an error in a wifi callback follows the error policy (node.setonerror)", function(done)
  node.setonerror(function(msg)
    node.setonerror()
    T.ok(msg:find("wifi callback boom", 1, true), "the handler got the error", msg)
    listen_all()
    done()
  end)
  E.register(E.STA_DISCONNECTED, function() error("wifi callback boom") end)
  wifi.sta.disconnect()
end)

T.run()
