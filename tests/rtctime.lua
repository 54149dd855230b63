-- rtctime: netmcu's own clock (host time + offset + rate), the
-- firmware's set/get/adjust_delta/epoch2cal, never going back, and the
-- deep sleeps as timed restarts that keep the clock.
local T = dofile("tests/lib/t.lua")

-- rtctime.get() as one number of microseconds
local function now_us()
  local s, us = rtctime.get()
  return s * 1000000 + us
end
-- calls fn after ms, from the loop
local function after(ms, fn) tmr.create():alarm(ms, tmr.ALARM_SINGLE, fn) end

T.test("rtctime is a global and a module", function(done)
  T.ok(type(rtctime) == "table", "rtctime global")
  T.eq(require("rtctime"), rtctime, "require 'rtctime' gives the same table")
  done()
end)

T.test("before the first set: no time (0, 0, 0), nothing to align to", function(done)
  local s, us, rate = rtctime.get()
  T.ok(s == 0 and us == 0 and rate == 0, "get() is 0, 0, 0", ("%s %s %s"):format(s, us, rate))
  T.raises(function() rtctime.dsleep_aligned(1000000, 0) end, "time not available, unable to align",
    "dsleep_aligned without time")
  done()
end)

T.test("set/get: the clock keeps the time given and runs with the host", function(done)
  rtctime.set(1436430589, 250000)
  local s, us, rate = rtctime.get()
  T.eq(s, 1436430589, "seconds as set")
  T.ok(us >= 250000 and us < 350000, "microseconds as set (and a little later)", us)
  T.eq(rate, 0, "rate untouched: 0")
  local offset = now_us() - os.time() * 1e6
  local t0, h0 = now_us(), tmr.now()
  after(300, function()
    local ran, host = now_us() - t0, tmr.now() - h0
    T.ok(math.abs(ran - host) < 2000, "ran as long as the host's clock (" .. ran .. " us)", host)
    local drift = math.abs(now_us() - os.time() * 1e6 - offset)
    T.ok(drift < 2.5e6, "= host real time + a fixed offset", drift)
    done()
  end)
end)

T.test("set forward jumps; set back never makes get() go back (slews at 15/16)", function(done)
  local before = now_us()
  rtctime.set(1500000000, 0)
  T.ok(now_us() - 1500000000e6 < 100000, "forward: a jump to the new time")
  local mark = now_us()
  rtctime.set(1500000000 - 10, 0) -- 10 s back
  local t0, h0 = now_us(), tmr.now()
  T.ok(t0 >= mark, "the next reading is not earlier than the last one", t0 - mark)
  T.ok(before < mark, "(the forward jump was seen)")
  local last, backwards = t0, false
  local n = 0
  local tick = tmr.create()
  tick:alarm(20, tmr.ALARM_AUTO, function()
    local t = now_us()
    if t < last then backwards = true end
    last = t
    n = n + 1
    if n < 20 then return end
    tick:unregister()
    local ratio = (t - t0) / (tmr.now() - h0)
    T.ok(not backwards, "monotonic over " .. n .. " readings")
    T.ok(math.abs(ratio - 15 / 16) < 0.02, ("runs at 15/16 while catching up (%.4f)"):format(ratio))
    done()
  end)
end)

T.test("rate: set(nil, nil, rate) changes the speed, not the time", function(done)
  rtctime.set(1600000000, 0)
  local t0 = now_us()
  rtctime.set(nil, nil, 2147483647) -- (2^32 + rate) / 2^32: about 1.5
  local s, us, rate = rtctime.get()
  T.eq(rate, 2147483647, "get() returns the rate")
  T.ok(s * 1e6 + us - t0 < 50000, "the time did not move")
  local h0, r0 = tmr.now(), now_us()
  after(200, function()
    local ratio = (now_us() - r0) / (tmr.now() - h0)
    T.ok(math.abs(ratio - 1.5) < 0.02, ("runs 1.5 times as fast (%.4f)"):format(ratio))
    rtctime.set(nil, nil, -2147483648)
    h0, r0 = tmr.now(), now_us()
    after(200, function()
      ratio = (now_us() - r0) / (tmr.now() - h0)
      T.ok(math.abs(ratio - 0.5) < 0.02, ("and half as fast (%.4f)"):format(ratio))
      rtctime.set(1700000000, 0)
      T.eq(select(3, rtctime.get()), -2147483648, "set(sec, usec) keeps the rate")
      rtctime.set(nil, nil, 0)
      done()
    end)
  end)
end)

T.test("adjust_delta: (us * (2^32 + rate)) >> 32", function(done)
  rtctime.set(nil, nil, 0)
  T.eq(rtctime.adjust_delta(1000000), 1000000, "rate 0: unchanged")
  rtctime.set(nil, nil, 4295) -- ~1 ppm
  T.eq(rtctime.adjust_delta(1000000), 1000001, "1 ppm: +1 us per second")
  T.eq(rtctime.adjust_delta(0), 0, "0")
  rtctime.set(nil, nil, -4294967) -- ~ -1000 ppm
  T.eq(rtctime.adjust_delta(1000000000), 999000000, "-1000 ppm over 1000 s (floored)")
  T.eq(rtctime.adjust_delta(2 ^ 40), 2 ^ 40 - 256 * 4294967, "2^40 us: exact, no overflow")
  T.eq(rtctime.adjust_delta(-1000000), -999001, "negative intervals too (floored)")
  rtctime.set(nil, nil, 0)
  done()
end)

T.test("epoch2cal: UTC fields, Sunday is 1, day of year from 1", function(done)
  local function cal(t)
    local c = rtctime.epoch2cal(t)
    return ("%04d-%02d-%02d %02d:%02d:%02d w%d y%d"):format(c.year, c.mon, c.day, c.hour, c.min,
      c.sec, c.wday, c.yday)
  end
  T.eq(cal(0), "1970-01-01 00:00:00 w5 y1", "the epoch (a Thursday)")
  T.eq(cal(951782400), "2000-02-29 00:00:00 w3 y60", "leap day 2000")
  T.eq(cal(1436430589), "2015-07-09 08:29:49 w5 y190", "the firmware's example")
  T.eq(cal(2147483647), "2038-01-19 03:14:07 w3 y19", "2^31 - 1")
  T.eq(cal(4107542399), "2100-02-28 23:59:59 w1 y59", "2100 is not a leap year")
  T.eq(cal(4107542400), "2100-03-01 00:00:00 w2 y60", "... so March 1st is day 60")
  -- against the C library, at scattered times up to 2105
  local x, bad = 12345, nil
  for _ = 1, 2000 do
    x = (x * 16807) % 2147483647
    local t = x * 2 + x % 2
    local d = os.date("!*t", t)
    local want = ("%04d-%02d-%02d %02d:%02d:%02d w%d y%d"):format(d.year, d.month, d.day, d.hour,
      d.min, d.sec, d.wday, d.yday)
    if cal(t) ~= want then bad = t .. ": " .. cal(t) .. " vs " .. want; break end
  end
  T.ok(bad == nil, "2000 times agree with os.date('!*t')", bad)
  T.eq(cal(1436430589.7), cal(1436430589), "a fraction is dropped, as the firmware's integer")
  done()
end)

T.test("argument errors, and a call that raises changes nothing", function(done)
  rtctime.set(1800000000, 0)
  local function same() local s = rtctime.get() return s >= 1800000000 and s < 1800000005 end
  T.raises(function() rtctime.set("x") end, "integer expected, got string", "set('x')")
  T.raises(function() rtctime.set(-1) end, "out of range", "set(-1)")
  T.raises(function() rtctime.set(2 ^ 32) end, "out of range", "set(2^32)")
  T.raises(function() rtctime.set(1.5) end, "non-integer", "set(1.5)")
  T.raises(function() rtctime.set(1, {}) end, "integer expected", "set(1, {})")
  T.raises(function() rtctime.set(1, 0, 2 ^ 31) end, "out of range", "rate 2^31")
  T.ok(same(), "none of them moved the clock")
  T.raises(function() rtctime.adjust_delta() end, "integer expected", "adjust_delta()")
  T.raises(function() rtctime.epoch2cal(-1) end, "wrong arg range", "epoch2cal(-1)")
  T.raises(function() rtctime.epoch2cal(0 / 0) end, "wrong arg range", "epoch2cal(nan)")
  T.raises(function() rtctime.epoch2cal(math.huge) end, "wrong arg range", "epoch2cal(inf)")
  T.raises(function() rtctime.epoch2cal("x") end, "number expected", "epoch2cal('x')")
  T.raises(function() rtctime.dsleep(-1) end, "out of range", "dsleep(-1)")
  T.raises(function() rtctime.dsleep(2 ^ 32) end, "out of range", "dsleep(2^32)")
  T.raises(function() rtctime.dsleep(1000, 5) end, "unknown sleep option", "dsleep option 5")
  T.raises(function() rtctime.dsleep_aligned(1000, -1) end, "out of range", "dsleep_aligned min -1")
  T.raises(function() rtctime.dsleep_aligned(1000, 0, 9) end, "unknown sleep option",
    "dsleep_aligned option 9")
  T.ok(same(), "the clock is still where it was")
  done()
end)

-- A child netmcu runs a script over several lives; its output is checked.
local LIVES = [[
local path = ...
local f = io.open(path, "a"); f:write("life\n"); f:close()
local life = 0
for _ in io.lines(path) do life = life + 1 end
local s, us = rtctime.get()
print(("life %d: %d %06d"):format(life, s, us))
if life == 1 then
  rtctime.set(1600000000, 0, 12345)
  rtctime.dsleep(300000)                 -- keeps the clock
elseif life == 2 then
  print("rate " .. select(3, rtctime.get()))
  node.restart()                         -- loses it
elseif life == 3 then
  rtctime.set(1600000100, 400000)
  rtctime.dsleep_aligned(1000000, 200000) -- to the next whole second >= 0.2 s away
end
]]

T.test("dsleep keeps the clock across the restart; node.restart loses it", function(done)
  local dir = os.tmpname()
  os.remove(dir)
  local script, count = dir .. ".lua", dir .. ".lives"
  local f = assert(io.open(script, "w"))
  f:write(LIVES)
  f:close()
  local p = assert(io.popen(("%s %s %s 2>&1"):format(T.netmcu, script, count)))
  local out = p:read("*a")
  p:close()
  os.remove(script)
  os.remove(count)
  local got = {}
  for line in out:gmatch("[^\n]+") do got[#got + 1] = line end
  T.eq(got[1], "life 1: 0 000000", "first life: no time")
  local s2, us2 = (got[2] or ""):match("^life 2: (%d+) (%d+)$")
  local t2 = (tonumber(s2) or 0) * 1e6 + (tonumber(us2) or 0)
  T.ok(t2 >= 1600000000e6 + 300000 and t2 < 1600000000e6 + 3e6,
    "after rtctime.dsleep(0.3 s) the clock went on, the sleep included", got[2])
  T.eq(got[3], "rate 12345", "the rate survived too")
  T.eq(got[4], "life 3: 0 000000", "node.restart lost the time, as on the chip")
  local s4, us4 = (got[5] or ""):match("^life 4: (%d+) (%d+)$")
  T.ok(tonumber(s4) == 1600000101 and tonumber(us4) < 150000,
    "dsleep_aligned woke on the next whole second at least 0.2 s later", got[5])
  T.eq(#got, 5, "four lives, then the end", out)
  done()
end)

T.run()
