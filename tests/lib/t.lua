-- tests/lib/t.lua - a small TAP harness for tests run by netmcu itself.
-- Tests run one after another inside the event loop; each gets done() and
-- a bounded time.  After each test the harness checks that the test left
-- no object of the loop alive (net.__objects(), docs/INTERNALS.md "Leak
-- checks") and that every callback wrapped with T.expect fired as often as
-- it had to, so a leak or a lost callback fails as the test that caused it.
-- A test's own state lives in its locals, never in T.
local T = {}
local tests, n, failed = {}, 0, 0
local current -- the running test: {name, expects}
-- How long what a test closed may take to go by design: a lookup that no
-- server answers fails within 10 s, a closed connection flushes for at
-- most 10 s (NM_LINGER_MS).  Only a leaking test waits that long.
local SETTLE_MS = 11000

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

-- A callback that must fire exactly times (default 1) before the running
-- test calls done(): returns fn (may be nil) wrapped to count its calls.
-- The count is checked when the test ends; a call after that fails too.
function T.expect(fn, times)
  local t = assert(current, "T.expect outside a test")
  local info = debug.getinfo(2, "Sl")
  local e = {want = times or 1, calls = 0, where = ("%s:%d"):format(info.short_src, info.currentline)}
  t.expects[#t.expects + 1] = e
  return function(...)
    e.calls = e.calls + 1
    if t.ended then
      T.ok(false, ("%s: callback at %s called after the test ended"):format(t.name, e.where))
    end
    if fn then return fn(...) end
  end
end

-- Registers an asynchronous test: fn(done) must call done() within timeout
-- seconds (default 10).  keeps: how many objects the test deliberately
-- leaves running for a later test to finish (a request that must time out
-- beside the others); the later test's own check then sees them go.
function T.test(name, fn, timeout, keeps)
  tests[#tests + 1] = {name = name, fn = fn, timeout = timeout or 10, keeps = keeps or 0}
end

-- What the loop holds: objects alive (connections, servers, UDP sockets,
-- timers, pending lookups), after a full collection.
local function objects()
  -- LuaJIT's compiled traces can hold a test's closures (and so its
  -- objects) alive past the test: drop them before counting.
  if jit and jit.flush then jit.flush() end
  collectgarbage(); collectgarbage()
  return net.__objects()
end

function T.run()
  local i = 0
  local t -- the running test
  -- The harness's own timers, made once: they are part of every baseline.
  local guard, later, poll = tmr.create(), tmr.create(), tmr.create()
  local nextt

  -- After a test: its expectations, then what it left alive.  What it
  -- closed may take a while to go: wait for it, bounded by SETTLE_MS.
  local function check_after(base)
    for _, e in ipairs(t.expects) do
      T.eq(e.calls, e.want, ("%s: callback at %s called %d time(s)"):format(t.name, e.where, e.want))
    end
    local left, deadline = 0, SETTLE_MS
    local function settled()
      left = objects() - base
      if left <= 0 or deadline <= 0 then
        poll:unregister()
        if left > 0 then
          T.ok(false, t.name .. ": no object of the loop left alive",
            ("%d more than at its start after %g s"):format(left, SETTLE_MS / 1000))
        end
        nextt()
        return
      end
      deadline = deadline - 10
    end
    poll:alarm(10, tmr.ALARM_AUTO, settled)
  end

  nextt = function()
    i = i + 1
    local spec = tests[i]
    if not spec then
      out("1.." .. n)
      return
    end
    out("# " .. spec.name)
    t = {name = spec.name, expects = {}}
    current = t
    local base = objects()
    local function done()
      if t.ended then return end
      t.ended = true
      current = nil
      guard:unregister()
      -- checks on a later turn, so this test's callbacks unwind first
      later:alarm(1, tmr.ALARM_SINGLE, function() check_after(base + spec.keeps) end)
    end
    guard:alarm(spec.timeout * 1000, tmr.ALARM_SINGLE, function()
      T.ok(false, spec.name .. ": finished within " .. spec.timeout .. " s")
      out("Bail out! " .. spec.name .. " timed out")
      os.exit(1)
    end)
    local ok, err = pcall(spec.fn, done)
    if not ok then
      T.ok(false, spec.name .. ": raised", err)
      done()
    end
  end
  nextt()
end

-- Path of the netmcu binary under test, for tests that start processes.
T.netmcu = os.getenv("NETMCU") or "build/netmcu"

return T
