-- tests/lib/t.lua - a small TAP harness for tests run by netmcu itself.
-- Tests run one after another inside the event loop; each gets done() and
-- a bounded time.  A test that leaves anything active makes the process
-- hang, which tests/run.sh reports as a failure (as luv's harness does).
local T = {}
local tests, n, failed = {}, 0, 0

local function out(s) io.stdout:write(s, "\n"); io.stdout:flush() end

function T.ok(cond, name, diag)
  n = n + 1
  if cond then
    out(("ok %d - %s"):format(n, name))
  else
    failed = failed + 1
    out(("not ok %d - %s"):format(n, name))
    if diag then out("#   " .. tostring(diag):gsub("\n", "\n#   ")) end
    out("#   at " .. debug.traceback("", 2):gsub("\n", "\n#   "))
  end
  return cond
end

function T.eq(got, want, name)
  return T.ok(got == want, name,
    ("got %s (%s), want %s (%s)"):format(tostring(got), type(got), tostring(want), type(want)))
end

-- fn must raise an error whose message contains pattern (plain text).
function T.raises(fn, pattern, name)
  local ok, err = pcall(fn)
  if ok then return T.ok(false, name, "no error raised") end
  return T.ok(tostring(err):find(pattern, 1, true) ~= nil, name,
    ("error %q does not contain %q"):format(tostring(err), pattern))
end

function T.skip(name, reason)
  n = n + 1
  out(("ok %d - %s # SKIP %s"):format(n, name, reason))
end

function T.diag(s) out("# " .. tostring(s):gsub("\n", "\n# ")) end

-- A weak reference to check that obj is collected once dropped.
function T.weak(obj) return setmetatable({obj}, {__mode = "v"}) end
function T.collected(w)
  collectgarbage(); collectgarbage()
  return w[1] == nil
end

-- Registers an asynchronous test: fn(done) must call done() within timeout
-- seconds (default 10).
function T.test(name, fn, timeout)
  tests[#tests + 1] = {name = name, fn = fn, timeout = timeout or 10}
end

function T.run()
  local i = 0
  local function nextt()
    i = i + 1
    local t = tests[i]
    if not t then
      out("1.." .. n)
      return
    end
    out("# " .. t.name)
    local finished = false
    local guard = tmr.create()
    local function done()
      if finished then return end
      finished = true
      guard:unregister()
      collectgarbage()
      -- next test on a later turn, so this one's callbacks unwind first
      local d = tmr.create()
      d:alarm(1, tmr.ALARM_SINGLE, nextt)
    end
    guard:alarm(t.timeout * 1000, tmr.ALARM_SINGLE, function()
      T.ok(false, t.name .. ": finished within " .. t.timeout .. " s")
      out("Bail out! " .. t.name .. " timed out")
      os.exit(1)
    end)
    local ok, err = pcall(t.fn, done)
    if not ok then
      T.ok(false, t.name .. ": raised", err)
      done()
    end
  end
  nextt()
end

-- Path of the netmcu binary under test, for tests that start processes.
T.netmcu = os.getenv("NETMCU") or "build/netmcu"

return T
