-- tests/lib/peers.lua - misbehaving peers (tests/faults/peer.pl) for the
-- fault tests, each run in the background with its result in a file of
-- the peers' scratch directory, and stopped by pid in P.stop().
--   local P = dofile("tests/lib/peers.lua")
--   local out = P.start("noread", port, 30)   -- "OUT" in args: the result file
--   P.poll(5, function() return P.read(out) end, cb)
local P = {pids = {}}

P.dir = os.tmpname()
os.remove(P.dir)
os.execute("mkdir -p " .. P.dir)

local n = 0
-- Starts peer.pl MODE PORT ARGS...; returns its result file (OUT in ARGS).
function P.start(mode, port, ...)
  n = n + 1
  local out = ("%s/peer%d"):format(P.dir, n)
  local args = table.concat({...}, " "):gsub("OUT", out)
  os.execute(("perl tests/faults/peer.pl %s %d %s </dev/null >/dev/null 2>%s.err & echo $! >%s.pid")
    :format(mode, port, args, out, out))
  local f = io.open(out .. ".pid")
  if f then
    P.pids[#P.pids + 1] = f:read("*l")
    f:close()
  end
  return out
end

-- The whole file at path p, or nil.
function P.read(p)
  local f = io.open(p)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Calls cb(v) once fn() returns a value v, polling every 20 ms; cb(nil)
-- after secs seconds.
function P.poll(secs, fn, cb)
  local t, left = tmr.create(), math.floor(secs * 50)
  t:alarm(20, tmr.ALARM_AUTO, function()
    local v = fn()
    left = left - 1
    if v ~= nil or left <= 0 then
      t:unregister()
      cb(v)
    end
  end)
end

-- Stops the i-th peer started (the last one if i is nil).
function P.kill(i)
  local pid = P.pids[i or #P.pids]
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
end

-- Stops every peer and removes the scratch directory.
function P.stop()
  for i = 1, #P.pids do P.kill(i) end
  os.execute("rm -rf " .. P.dir)
end

return P
