-- tests/fuzz/device.lua - the fuzzer's operations on file, node,
-- uart and gpio; loaded by fuzz.lua with its helpers, returns
-- {ops = {...}, finish = function() ... end}.
-- Safety: file calls run only when fuzz.sh gave a root of its own
-- (NETMCU_FUZZ_FSROOT, with --fs); a canary file outside it
-- (NETMCU_FUZZ_CANARY) is named in absolute, '..' and link forms and must
-- come through unchanged.  uart 0 writes would mix with the TAP output, so
-- only uart 1 (standard error) is written; standard input is /dev/null.
-- Nothing restarts the script (no node.restart, no timed dsleep, no LFS
-- reload of a real image); serout stays short.
return function(F)
  local call, R, chance, pick, hv, hostile_args = F.call, F.R, F.chance, F.pick, F.hv, F.hostile_args
  local unpack = table.unpack or unpack
  local fsroot = os.getenv("NETMCU_FUZZ_FSROOT")
  local canary = os.getenv("NETMCU_FUZZ_CANARY")
  local canary_text
  if canary then
    local f = io.open(canary, "rb")
    if f then canary_text = f:read("*a") f:close() end
  end
  local ops = {}
  local function op(name, fn) ops[#ops + 1] = {name, fn} end
  local NIL = {}
  local function val(v) if v == NIL then return nil end return v end

  -- ---- file ----
  local files = {} -- open file objects
  local names = {"f1.txt", "f2.txt", "d/f3.txt", "d/e/f4.lua", "/FLASH/f5.txt", "link_out",
                 "../outside/canary.txt", "d/../f1.txt", "", "a//b", ("n"):rep(31), ("n"):rep(32),
                 "mod.lua", "x\0y", 7, NIL, {}}
  if canary then names[#names + 1] = canary end
  local function fname() return val(pick(names)) end
  local function fdata()
    local r = R(6)
    if r == 1 then return ("line\n"):rep(R(300)) end
    if r == 2 then return "" end
    if r == 3 then return hv() end
    return "data" .. R(1000) .. "\n"
  end
  local modes = {"r", "w", "a", "r+", "w+", "a+", "bogus", NIL, 5}
  local FM
  if fsroot then
    op("file.open", function()
      local r = call("file.open", file.open, fname(), val(pick(modes)))
      if r[1] and r[2] then
        FM = FM or getmetatable(r[2]).__index
        files[#files + 1] = r[2]
        if #files > 6 then table.remove(files, 1) end
      end
    end)
    local methods = {"read", "readline", "write", "writeline", "seek", "flush", "close"}
    local function margs(m)
      if m == "read" then return pick({{n = 0}, {n = 1, R(3000)}, {n = 1, "\n"}, {n = 1, "ab"}, {n = 1, hv()}}) end
      if m == "write" or m == "writeline" then return {n = 1, fdata()} end
      if m == "seek" then return {n = 2, val(pick({"set", "cur", "end", "x", NIL})), chance(0.7) and R(50) - 10 or hv()} end
      return chance(0.1) and hostile_args(2) or {n = 0}
    end
    for _, m in ipairs(methods) do
      op("file.obj:" .. m, function()
        local a = margs(m)
        local o = #files > 0 and pick(files) or nil
        if FM and o and chance(0.8) then
          call("file.obj:" .. m, FM[m], o, unpack(a, 1, a.n))
        else -- the legacy model, or a wrong self
          call("file.obj:" .. m, file[m], unpack(a, 1, a.n))
        end
      end)
    end
    op("file.exists", function() call("file.exists", file.exists, fname()) end)
    op("file.remove", function() call("file.remove", file.remove, fname()) end)
    op("file.rename", function() call("file.rename", file.rename, fname(), fname()) end)
    op("file.stat", function() call("file.stat", file.stat, fname()) end)
    op("file.list", function() call("file.list", file.list, val(pick({NIL, "%.txt$", "^d/", "[", 5}))) end)
    op("file.fsinfo", function() call("file.fsinfo", file.fsinfo) end)
    op("file.fscfg", function() call("file.fscfg", file.fscfg) end)
    op("file.getcontents", function() call("file.getcontents", file.getcontents, fname()) end)
    op("file.putcontents", function() call("file.putcontents", file.putcontents, fname(), fdata()) end)
    op("file.on", function() call("file.on", file.on, val(pick({"rtc", "x", NIL})), val(pick({print, NIL, 5}))) end)
    op("file.format", function() if chance(0.2) then call("file.format", file.format) end end)
    op("node.compile", function() call("node.compile", node.compile, val(pick({"mod.lua", "d/e/f4.lua", "f1.txt", "../x.lua", NIL}))) end)
  end

  -- ---- node ----
  local function sink(s) end
  node.output(sink, 0) -- the console (prompts, prints of node.input) stays off the TAP
  local function reader(p) p:read(R(2000)) return chance(0.5) end
  op("node.output", function()
    local r = R(5)
    if r == 1 then call("node.output", node.output, hv(), hv())
    else call("node.output", node.output, r <= 3 and sink or reader, 0) end
    if r == 1 then node.output(sink, 0) end -- never the TAP's standard output
  end)
  op("node.input", function()
    local s = pick({"FUZZ_N = (FUZZ_N or 0) + 1\n", "=1+1\n", "for i = 1, 2 do\n", "end\n",
                    "error('fuzz console')\n", "print(('x'):rep(3000))\n", "x", "\n"})
    call("node.input", node.input, chance(0.8) and s or hv())
  end)
  op("node.info", function() call("node.info", node.info, val(pick({"hw", "sw_version", "build_config", "lfs", "x", NIL, 3}))) end)
  op("node.random", function() local a = hostile_args(2) call("node.random", node.random, unpack(a, 1, a.n)) end)
  op("node.bootreason", function() call("node.bootreason", node.bootreason) end)
  op("node.setcpufreq", function() call("node.setcpufreq", node.setcpufreq, chance(0.5) and 160 or hv()) end)
  op("node.getcpufreq", function() call("node.getcpufreq", node.getcpufreq) end)
  op("node.stripdebug", function() local a = hostile_args(2) call("node.stripdebug", node.stripdebug, unpack(a, 1, a.n)) end)
  op("node.osprint", function() call("node.osprint", node.osprint, hv()) end)
  op("node.egc.setmode", function() call("node.egc.setmode", node.egc.setmode, chance(0.5) and R(5) - 1 or hv(), hv()) end)
  op("node.egc.meminfo", function() call("node.egc.meminfo", node.egc.meminfo) end)
  op("node.getpartitiontable", function() call("node.getpartitiontable", node.getpartitiontable) end)
  op("node.setpartitiontable", function() call("node.setpartitiontable", node.setpartitiontable, hv()) end)
  op("node.startup", function() call("node.startup", node.startup, val(pick({NIL, {}, {banner = false}, {command = "@x.lua"}, 5}))) end)
  op("node.dsleep", function() call("node.dsleep", node.dsleep, nil, hv()) end) -- no time: no sleep
  op("node.LFS.get", function() call("node.LFS.get", node.LFS.get, hv()) end)
  op("node.LFS.list", function() call("node.LFS.list", node.LFS.list) end)
  op("node.LFS.reload", function()
    call("node.LFS.reload", node.LFS.reload, val(pick({"no_such_image", "f1.txt", 5, NIL})))
  end)

  -- ---- uart ----
  op("uart.write", function()
    local a = hostile_args(3)
    a[1] = pick({1, 1, 2, -1, 0.5, "1"}) -- never 0: that is the TAP's stream
    if a.n < 1 then a.n = 1 end
    call("uart.write", uart.write, unpack(a, 1, a.n))
  end)
  op("uart.on", function()
    local a = chance(0.5) and {n = 4, "data", val(pick({0, 4, "\n", 255, 256, "ab", NIL})), F.mkcb("uart"), R(2) - 1}
      or hostile_args(4)
    call("uart.on", uart.on, unpack(a, 1, a.n))
  end)
  op("uart.setup", function()
    local a = chance(0.5) and {n = 5, pick({9600, 115200, 300, 12345}), R(10), R(4) - 1, R(4) - 1, R(2) - 1}
      or hostile_args(6)
    call("uart.setup", uart.setup, pick({0, 1, 2}), unpack(a, 1, a.n))
  end)
  op("uart.getconfig", function() call("uart.getconfig", uart.getconfig, pick({0, 1, 2, hv()})) end)
  op("uart.alt", function() call("uart.alt", uart.alt, hv()) end)
  op("uart.fifodepth", function() call("uart.fifodepth", uart.fifodepth, hv(), hv()) end)

  -- ---- gpio ----
  local function pin() return chance(0.85) and R(13) - 1 or hv() end
  op("gpio.mode", function() call("gpio.mode", gpio.mode, pin(), chance(0.8) and R(4) - 1 or hv(), hv()) end)
  op("gpio.read", function() call("gpio.read", gpio.read, pin()) end)
  op("gpio.write", function() call("gpio.write", gpio.write, pin(), chance(0.8) and R(2) - 1 or hv()) end)
  op("gpio.trig", function()
    call("gpio.trig", gpio.trig, pin(), val(pick({"up", "down", "both", "low", "high", "none", "x", NIL})),
      chance(0.8) and F.mkcb("gpio") or hv())
  end)
  op("gpio.serout", function()
    local delays = {}
    for i = 1, R(6) - 1 do delays[i] = R(500) end
    local r = R(4)
    if r == 1 then -- hostile, but never a long blocking run
      call("gpio.serout", gpio.serout, hv(), hv(), chance(0.5) and hv() or delays, R(3))
    else
      call("gpio.serout", gpio.serout, pin(), R(2) - 1, delays, R(3),
        r == 2 and nil or (r == 3 and F.mkcb("serout") or 1))
    end
  end)

  local function finish()
    node.output(sink, 0) -- (input still queued prints there)
    uart.on("data")
    for i = 1, 12 do pcall(gpio.trig, i, "none") end
    pcall(gpio.serout, 0, 1, {}, 1, 1) -- replaces a running sequence; ends at once
    for _, f in ipairs(files) do pcall(f.close, f) end
    file.close()
    if canary then
      local f = io.open(canary, "rb")
      local now = f and f:read("*a")
      if f then f:close() end
      F.T.eq(now, canary_text, "the file outside the root is untouched")
    end
  end
  return {ops = ops, finish = finish, files = fsroot ~= nil}
end
