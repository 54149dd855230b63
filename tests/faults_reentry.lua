-- A finalizer that runs the loop from inside a netmcu call (issue 18 item
-- 3): a __gc calling net.run() could run during the collection step of an
-- allocation inside sock:send(); the inner loop freed the connection and
-- send() then touched it (ASan: heap-use-after-free).  net.run() must
-- refuse to run there, and the call must complete.
local T = dofile("tests/lib/t.lua")

-- Before the harness runs the loop.
local pause = collectgarbage("setpause", 0) -- from now on every allocation
-- ... runs a whole cycle (5.4 keeps the step multiplier in a byte: 1000)
local stepmul = collectgarbage("setstepmul", _VERSION == "Lua 5.4" and 1000 or 1000000)

-- An unreachable object whose finalizer fn runs at the next collection.
local function bomb(fn)
  collectgarbage() -- the next step starts a new cycle
  if newproxy then -- 5.1, LuaJIT: only userdata have finalizers
    getmetatable(newproxy(true)).__gc = fn
  else
    setmetatable({}, {__gc = fn})
  end
end

local function recorder()
  local r = {ran = 0}
  r.gc = function()
    r.ran = r.ran + 1
    local ok, e = pcall(net.run)
    r.err = not ok and tostring(e) or "net.run ran"
  end
  return r
end

-- The issue's case: inside sock:send(), while the peer's FIN waits unread;
-- a loop run there would free the socket under send().  Only where send()
-- runs the collector (5.3+: when it makes the callback table; on 5.1 and
-- LuaJIT it has one from the start).
local reentry = recorder()
do
  local srv, sc = net.createServer(), nil
  srv:listen(0, "127.0.0.1", function(s) sc = s end)
  local c = net.createConnection()
  c:on("receive", function() end) -- its only callback: send(d, fn) makes a table
  c:connect((srv:getaddr()), "127.0.0.1")
  tmr.create():alarm(100, tmr.ALARM_SINGLE, function() error("stop the loop") end)
  pcall(net.run)
  srv:close()
  if sc then sc:close() end
  tmr.delay(50000) -- the FIN is with c's kernel socket
  local fn = function() end
  bomb(reentry.gc)
  reentry.ok, reentry.senderr = pcall(c.send, c, "x", fn)
  pcall(c.close, c)
end
-- Any netmcu call that allocates, on every Lua version.
local create = recorder()
bomb(create.gc)
create.obj = net.createConnection()
-- A netmcu call of another module: tmr.create().
local timer = recorder()
bomb(timer.gc)
timer.obj = tmr.create()
collectgarbage("setpause", pause)
collectgarbage("setstepmul", stepmul)

T.test("net.run() in a finalizer run inside a netmcu call raises", function(done)
  T.eq(create.ran, 1, "a finalizer ran inside net.createConnection()")
  T.ok(create.err and create.err:find("cannot run inside a netmcu call", 1, true),
    "net.run raised in it", create.err)
  T.eq(tostring(create.obj):match("^net.tcpsocket"), "net.tcpsocket", "createConnection returned its socket")
  T.eq(timer.ran, 1, "a finalizer ran inside tmr.create()")
  T.ok(timer.err and timer.err:find("cannot run inside a netmcu call", 1, true),
    "net.run raised in it", timer.err)
  if reentry.ran == 0 or reentry.err == "net.run ran" and newproxy then
    T.skip("the same inside sock:send()", "this Lua's send() did not run the collector")
  else
    T.ok(reentry.err and reentry.err:find("cannot run inside a netmcu call", 1, true),
      "inside sock:send(): net.run raised", reentry.err)
    T.ok(reentry.ok, "send itself completed", reentry.senderr)
  end
  done()
end)

T.test("net.run() from a finalizer outside any netmcu call is not refused", function(done)
  -- a collection in plain Lua code: pcall is the only C function on the
  -- stack, and it is not netmcu's
  local r = recorder()
  bomb(r.gc)
  collectgarbage()
  T.eq(r.ran, 1, "the finalizer ran")
  T.eq(r.err, "the event loop is already running", "refused only because the loop runs", r.err)
  done()
end)

T.test("a script run by dofile() or require() may still call net.run()", function(done)
  -- dofile and require are netmcu's C functions in the runtime (the --fs
  -- root): the chunk they run is a script, not a finalizer
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  local f = io.open(dir .. "/runner.lua", "w")
  f:write('tmr.create():alarm(1, tmr.ALARM_SINGLE, function() print("tick") end) net.run() print("after")\n')
  f:close()
  local nm = os.getenv("NETMCU") or "build/netmcu"
  for _, how in ipairs({'dofile("runner.lua")', 'require("runner")'}) do
    local p = io.popen(("cd %s && %s -e '%s' 2>&1; echo rc=$?"):format(dir, nm:match("^/") and nm or os.getenv("PWD") .. "/" .. nm, how))
    local out = p:read("*a")
    p:close()
    T.eq(out, "tick\nafter\nrc=0\n", how .. ": the loop ran inside it")
  end
  os.execute("rm -rf " .. dir)
  done()
end)

T.run()
