-- wifi's failure paths: with --wifi-ap Home:secretpw, "Home" is
-- the only network in range and secretpw its password:
--   netmcu --wifi lo --wifi-ap Home:secretpw tests/wifi/range.lua
local T = dofile("tests/lib/t.lua")
local E = wifi.eventmon
local log, waiter = {}, nil
local function record(name)
  return function(t)
    log[#log + 1] = {name = name, t = t, status = wifi.sta.status()}
    if waiter and #log >= waiter.n then local f = waiter.fn; waiter = nil; f() end
  end
end
E.register(E.STA_CONNECTED, record("CONNECTED"))
E.register(E.STA_DISCONNECTED, record("DISCONNECTED"))
E.register(E.STA_GOT_IP, record("GOT_IP"))
local function wait(n, fn)
  if #log >= n then return fn() end
  waiter = {n = n, fn = fn}
end
local function fence(fn) wifi.sta.getap(function(t) fn(t) end) end
local function seq(from)
  local s = {}
  for i = from, #log do s[#s + 1] = log[i].name .. (log[i].t.reason and ("(" .. log[i].t.reason .. ")") or "") end
  return table.concat(s, " ")
end

T.test("boot: the saved config is the network in range; it connects", function(done)
  local s, p = wifi.sta.getconfig()
  T.eq(s .. "/" .. p, "Home/secretpw", "the saved config is --wifi-ap's network")
  wait(2, function()
    T.eq(seq(1), "CONNECTED GOT_IP", "connected")
    T.eq(log[1].t.SSID, "Home", "SSID Home")
    done()
  end)
end)

T.test("another SSID: STA_DISCONNECTED(NO_AP_FOUND), status STA_APNOTFOUND", function(done)
  local n = #log
  wifi.sta.config{ssid = "Elsewhere", pwd = "secretpw"}
  T.eq(wifi.sta.status(), wifi.STA_APNOTFOUND, "status STA_APNOTFOUND at once")
  T.eq(wifi.sta.getip(), nil, "no IP")
  wait(n + 2, function()
    T.eq(seq(n + 1), "DISCONNECTED(8) DISCONNECTED(201)", "left Home, then not found")
    local e = log[n + 2].t
    T.eq(e.reason, E.reason.NO_AP_FOUND, "reason NO_AP_FOUND")
    T.eq(e.SSID .. " " .. e.BSSID, "Elsewhere 00:00:00:00:00:00", "the SSID tried, no BSSID")
    T.eq(log[n + 2].status, wifi.STA_APNOTFOUND, "status in the callback")
    wifi.sta.connect() -- each try fails again
    wait(n + 3, function()
      T.eq(log[n + 3].t.reason, 201, "connect() tries again: another NO_AP_FOUND")
      fence(function()
        T.eq(#log, n + 3, "and nothing else (no connection)")
        done()
      end)
    end)
  end)
end)

T.test("the right SSID, a wrong password: STA_DISCONNECTED(AUTH_FAIL), STA_WRONGPWD", function(done)
  local n = #log
  wifi.sta.config{ssid = "Home", pwd = "wrongpass"}
  T.eq(wifi.sta.status(), wifi.STA_WRONGPWD, "status STA_WRONGPWD")
  wait(n + 1, function()
    local e = log[n + 1].t
    T.eq(seq(n + 1), "DISCONNECTED(202)", "AUTH_FAIL only (it was not connected)")
    T.eq(e.reason, E.reason.AUTH_FAIL, "reason AUTH_FAIL")
    T.ok(e.SSID == "Home" and e.BSSID ~= "00:00:00:00:00:00", "the network was found: its BSSID", e.BSSID)
    done()
  end)
end)

T.test("the right password: connects; getap lists the network", function(done)
  local n = #log
  wifi.sta.config{ssid = "Home", pwd = "secretpw"}
  T.eq(wifi.sta.status(), wifi.STA_CONNECTING, "connecting")
  wait(n + 2, function()
    T.eq(seq(n + 1), "CONNECTED GOT_IP", "connected")
    local bssid, ch = log[n + 1].t.BSSID, log[n + 1].t.channel
    fence(function(t)
      T.eq(t.Home, ("%d,-50,%s,%d"):format(wifi.WPA2_PSK, bssid, ch), "getap: Home, WPA2 (it has a password)")
      local count = 0
      for _ in pairs(t) do count = count + 1 end
      T.eq(count, 1, "and nothing else in range")
      done()
    end)
  end)
end)

T.test("a bssid: that AP only", function(done)
  local n = #log
  local bssid = log[#log - 1].t.BSSID
  wifi.sta.config{ssid = "Home", pwd = "secretpw", bssid = "02:00:00:00:00:01"}
  T.eq(wifi.sta.status(), wifi.STA_APNOTFOUND, "another BSSID: not found")
  wait(n + 2, function()
    T.eq(seq(n + 1), "DISCONNECTED(8) DISCONNECTED(201)", "events")
    wifi.sta.config{ssid = "Home", pwd = "secretpw", bssid = bssid:upper():gsub(":", "-")}
    wait(n + 4, function()
      T.eq(seq(n + 3), "CONNECTED GOT_IP", "its own BSSID (in the AC-1D-... form): connects")
      local t = wifi.sta.getconfig(true)
      T.ok(t.bssid_set == true and t.bssid == bssid, "getconfig(true): bssid_set and bssid")
      done()
    end)
  end)
end)

T.test("wifi.sta.on sees the failures too", function(done)
  local reasons = {}
  wifi.sta.on("disconnected", function(ev, info) reasons[#reasons + 1] = info.reason end)
  wifi.sta.config{ssid = "Nowhere", save = false}
  fence(function()
    T.eq(table.concat(reasons, " "), "8 201", "disconnected(8), disconnected(201)")
    done()
  end)
end)

T.run()
