-- cron: entries fire at the start of matching minutes of rtctime
-- (UTC).  The clock is controlled: rtctime.set to just before a minute
-- boundary, then each event is awaited with a bounded timeout.
local T = dofile("tests/lib/t.lua")

local BASE = 1577836800 -- 2020-01-01 00:00:00 UTC, a Wednesday
local function at(min, sec, us) rtctime.set(BASE + min * 60 + sec, us or 0) end
local function clock() local s, us = rtctime.get() return (s - BASE) + us / 1e6 end

T.test("cron is a global and a module", function(done)
  T.ok(type(cron) == "table", "cron global")
  T.eq(require("cron"), cron, "require 'cron' gives the same table")
  done()
end)

T.test("schedule: the firmware's mask errors, nothing scheduled by a raise", function(done)
  local f = function() end
  local cases = {
    {"60 * * * *", "invalid spec (val 60 out of range 0..59)"},
    {"* 24 * * *", "invalid spec (val 24 out of range 0..23)"},
    {"* * 0 * *", "invalid spec (val 0 out of range 1..31)"},
    {"* * * 13 *", "invalid spec (val 13 out of range 1..12)"},
    {"* * * * 7", "invalid spec (val 7 out of range 0..6)"},
    {"-1 * * * *", "invalid spec (val -1 out of range 0..59)"},
    {"99999999999999 * * * *", "out of range 0..59)"},
    {"*/0 * * * *", "invalid spec (each 0)"},
    {"*/59 * * * *", "invalid spec (each 59)"},
    {"*/x * * * *", "invalid spec (each 0)"},
    {"* * * *", "invalid spec (separator @7)"},
    {"1-5 * * * *", "invalid spec (separator @1)"},
    {"", "invalid spec (separator @0)"},
    {"* * * * * *", "invalid spec (trailing @10)"},
    {"1,2,x * * * *", "invalid spec (separator @4)"},
  }
  for _, c in ipairs(cases) do
    T.raises(function() cron.schedule(c[1], f) end, c[2], ("%q"):format(c[1]))
  end
  T.raises(function() cron.schedule("* * * * *") end, "function expected", "no handler")
  T.raises(function() cron.schedule(nil, f) end, "string expected", "no mask")
  local e = cron.schedule("1,2,3 */2 * * 0,6", f)
  T.ok(tostring(e):find("cron.entry", 1, true), "a valid mask gives an entry")
  T.raises(function() e:schedule("61 * * * *") end, "out of range 0..59", "entry:schedule checks too")
  T.raises(function() e:handler("f") end, "function expected", "entry:handler needs a function")
  T.raises(function() e.unschedule({}) end, "cron.entry expected", "unschedule on something else")
  e:unschedule()
  e:unschedule() -- twice is fine
  cron.schedule("\t5   4\t* *  * ", f):unschedule() -- blanks as the firmware skips them
  done()
end)

local fired = {} -- name -> list of {clock, entry}
local entries = {}
local function rec(name)
  return function(e)
    fired[name] = fired[name] or {}
    table.insert(fired[name], {clock(), e})
  end
end
local function count(name) return fired[name] and #fired[name] or 0 end
-- waits (bounded) until pred() holds, then calls fn
local function wait(pred, fn, what)
  local t0 = tmr.now()
  local w = tmr.create()
  w:alarm(10, tmr.ALARM_AUTO, function()
    if pred() then w:unregister(); fn()
    elseif tmr.now() - t0 > 5e6 then
      w:unregister(); T.ok(false, "within 5 s: " .. what); fn()
    end
  end)
end

T.test("no time yet: nothing fires; the first set runs its minute at once (from the loop)", function(done)
  entries.m0 = cron.schedule("0 0 * * *", rec("m0"))
  entries.m1 = cron.schedule("1 0 * * *", rec("m1"))
  entries.m2 = cron.schedule("2 0 * * *", rec("m2"))
  entries.every5 = cron.schedule("*/5 * * * *", rec("every5"))
  entries.day2 = cron.schedule("* * 2 * *", rec("day2"))
  entries.sunday = cron.schedule("* * * * 0", rec("sunday"))
  entries.wednesday = cron.schedule("0 0 1 1 3", rec("wednesday")) -- all five must match
  cron.schedule("0 0 * * *", rec("unreferenced")) -- anchored: fires without a reference
  collectgarbage()
  tmr.create():alarm(1200, tmr.ALARM_SINGLE, function()
    T.eq(next(fired), nil, "without rtctime, no entry fired for 1.2 s")
    at(0, 58, 500000)
    T.eq(next(fired), nil, "not from inside rtctime.set")
    wait(function() return count("m0") > 0 end, function()
      T.eq(count("m0"), 1, "'0 0 * * *' fired for minute 00:00")
      T.ok(fired.m0[1][1] < 59, "at once, not at the next boundary", fired.m0[1][1])
      T.eq(fired.m0[1][2], entries.m0, "the handler gets its entry")
      T.eq(count("every5"), 1, "'*/5' matches minute 0")
      T.eq(count("wednesday"), 1, "minute, hour, day, month and weekday all match")
      T.eq(count("unreferenced"), 1, "an entry the script dropped still fires")
      T.eq(count("m1") + count("day2") + count("sunday"), 0, "no other entry fired")
      done()
    end, "the first set fires minute 0")
  end)
end)

T.test("the next minute fires at its boundary of rtctime", function(done)
  wait(function() return count("m1") > 0 end, function()
    local c = fired.m1[1][1]
    T.ok(c >= 59.995 and c < 60.5, ("'1 0 * * *' fired at 00:01:%06.3f"):format(c - 60))
    T.eq(count("m0"), 1, "minute 0 did not fire again")
    T.eq(count("m2"), 0, "minute 2 not yet")
    T.eq(count("every5"), 1, "'*/5' not at minute 1")
    done()
  end, "minute 1 fires")
end)

T.test("handler(), unschedule(), schedule(mask) on entries", function(done)
  local swapped = {}
  entries.m2:handler(function(e) swapped[#swapped + 1] = {clock(), e} end)
  entries.m1:unschedule()
  entries.m1:schedule("2 0 * * *") -- rescheduled for minute 2 ...
  entries.m1:unschedule()          -- ... and off again
  at(1, 58, 600000)                -- same minute as the last one fired: nothing now
  wait(function() return #swapped > 0 end, function()
    T.ok(swapped[1][1] >= 119.995 and swapped[1][1] < 120.5, "the new handler ran at 00:02:00",
      swapped[1][1])
    T.eq(swapped[1][2], entries.m2, "with its entry")
    T.eq(count("m2"), 0, "the old handler did not")
    T.eq(count("m1"), 1, "the unscheduled entry did not fire")
    entries.m2:schedule("3 0 * * *")
    at(2, 58, 700000)
    wait(function() return #swapped > 1 end, function()
      T.ok(swapped[2][1] >= 179.995 and swapped[2][1] < 180.5, "schedule(mask) moved it to 00:03:00",
        swapped[2][1])
      done()
    end, "the entry fires on its new mask")
  end, "the swapped handler runs")
end)

T.test("setting the clock to another minute runs that minute; the same minute does not rerun",
  function(done)
  local n = 0
  local e = cron.schedule("10 0 * * *", function() n = n + 1 end)
  at(10, 30)
  wait(function() return n > 0 end, function()
    at(10, 40)
    tmr.create():alarm(300, tmr.ALARM_SINGLE, function()
      T.eq(n, 1, "minute 10 ran once, when the clock was set into it")
      e:unschedule()
      done()
    end)
  end, "a set into minute 10 fires it")
end)

T.test("entries scheduled by a handler wait for the next minute (no endless chain)", function(done)
  local chain, made = 0, {}
  local function link(e)
    chain = chain + 1
    if chain < 1000 then made[#made + 1] = cron.schedule("* * * * *", link) end
  end
  made[1] = cron.schedule("* * * * *", link)
  at(12, 59, 900000) -- the next minute comes in 0.1 s
  wait(function() return chain > 0 end, function()
    tmr.create():alarm(300, tmr.ALARM_SINGLE, function()
      T.eq(chain, 1, "one run this minute; the entry it scheduled did not run with it")
      for _, e in ipairs(made) do e:unschedule() end
      done()
    end)
  end, "the first link runs")
end)

T.test("a handler's error goes to node.setonerror; cron goes on", function(done)
  local errs = {}
  node.setonerror(function(msg) errs[#errs + 1] = msg end)
  local after = 0
  local bad = cron.schedule("14 0 * * *", function() error("cron handler failure") end)
  local good = cron.schedule("14 0 * * *", function() after = after + 1 end)
  at(13, 58, 800000)
  wait(function() return after > 0 and #errs > 0 end, function()
    node.setonerror()
    T.ok(errs[1]:find("cron handler failure", 1, true), "the error reached the handler", errs[1])
    T.eq(after, 1, "the next entry of the same minute still ran")
    bad:unschedule(); good:unschedule()
    done()
  end, "both entries of minute 14 ran")
end)

T.test("after rtctime.dsleep, entries scheduled at boot run the minute found 1 s after boot",
  function(done)
  -- as the firmware's cron timer, whose first tick is 1 s after boot
  local code = [[
    local path = ...
    local f = io.open(path, "a"); f:write("life\n"); f:close()
    local life = 0
    for _ in io.lines(path) do life = life + 1 end
    if life == 1 then
      rtctime.set(1577836800 + 30, 0)
      rtctime.dsleep(100000)
    else
      local t0 = tmr.now()
      cron.schedule("0 0 * * *", function()
        print(("fired after %.1f s at 00:00:%02d"):format((tmr.now() - t0) / 1e6, rtctime.get() % 60))
        cron.reset()
      end)
      cron.schedule("1 0 * * *", function() print("minute 1 fired: wrong") end)
      tmr.create():alarm(3000, tmr.ALARM_SINGLE, function() print("timeout"); cron.reset() end)
    end
  ]]
  local base = os.tmpname()
  local f = assert(io.open(base .. ".lua", "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(("%s %s.lua %s.lives 2>&1"):format(T.netmcu, base, base)))
  local out = p:read("*a")
  p:close()
  os.remove(base .. ".lua"); os.remove(base .. ".lives"); os.remove(base)
  local after, sec = out:match("fired after ([%d.]+) s at 00:00:(%d+)")
  T.ok(after and tonumber(after) >= 0.8 and tonumber(after) < 1.5, "ran 1 s after boot", out)
  T.ok(sec and tonumber(sec) >= 30 and tonumber(sec) < 33, "in the minute the kept clock showed", out)
  T.ok(not out:find("wrong", 1, true), "no other minute ran")
  done()
end)

T.test("unscheduled entries are collected; cron.reset() lets the loop end", function(done)
  local e = cron.schedule("* * * * *", function() end)
  local self_ref = cron.schedule("* * * * *", function() end)
  self_ref:handler(function() return self_ref end) -- a cycle through its own handler
  local w1, w2 = T.weak(e), T.weak(self_ref)
  e, self_ref = nil, nil
  T.ok(not T.collected(w1), "a scheduled entry stays alive without references")
  cron.reset()
  T.ok(T.collected(w1), "after cron.reset() it is collected")
  T.ok(T.collected(w2), "an entry whose handler refers to it too")
  local n = 0
  for _, ent in pairs(entries) do ent:unschedule(); n = n + 1 end
  entries = nil
  T.ok(n > 0, "(the earlier entries unscheduled too)")
  done() -- the runner checks that the process then ends by itself
end)

T.run()
