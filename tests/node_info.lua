-- node: info, bootreason, random, cpu frequency, stripdebug,
-- osprint, egc, the partition table, flash figures, dsleep, startup, and
-- what is not meaningful on a host.
local T = dofile("tests/lib/t.lua")

local function run(args)
  local p = io.popen(T.netmcu .. " " .. args .. " 2>&1")
  local s = p:read("*a")
  p:close()
  return s
end

T.test("node.info groups", function(done)
  local hw = node.info("hw")
  T.eq(hw.chip_id, node.chipid(), "hw.chip_id is node.chipid()")
  T.eq(hw.flash_size, math.floor(node.flashsize() / 1024), "hw.flash_size in KB")
  T.eq(hw.flash_id, node.flashid(), "hw.flash_id is node.flashid()")
  T.ok(type(hw.flash_mode) == "number" and type(hw.flash_speed) == "number", "flash mode and speed")
  local sw = node.info("sw_version")
  T.eq(sw.node_version_major, 3, "sw_version: the firmware release the API follows")
  T.ok(type(sw.git_release) == "string" and sw.git_release:find("netmcu", 1, true), "git_release names netmcu")
  local bc = node.info("build_config")
  T.ok(bc.modules:find("net", 1, true) and bc.modules:find("file", 1, true), "build_config.modules lists the modules")
  T.eq(bc.ssl, false, "build_config.ssl")
  T.eq(bc.number_type, "float", "build_config.number_type")
  local lfs = node.info("lfs")
  T.eq(lfs.lfs_size, 0, "no --lfs: an LFS of size 0")
  T.raises(function() node.info("cpu") end, "invalid option", "an unknown group")
  local t = {node.info()}
  T.eq(#t, 8, "no group: the legacy 8 values")
  T.eq(t[4], node.chipid(), "legacy chip id")
  done()
end)

T.test("bootreason: power-on at first", function(done)
  local raw, reason = node.bootreason()
  T.eq(raw, 1, "raw code 1: power-on")
  T.eq(reason, 0, "extended reason 0: power-on")
  done()
end)

T.test("random", function(done)
  local seen, bad = {}, nil
  for _ = 1, 600 do
    local v = node.random(6)
    if not (v >= 1 and v <= 6 and v % 1 == 0) then bad = v end
    seen[v] = true
  end
  T.eq(bad, nil, "random(6) always in 1..6")
  local n = 0
  for _ in pairs(seen) do n = n + 1 end
  T.eq(n, 6, "every face comes up in 600 throws")
  for _ = 1, 100 do
    local v = node.random(-3, -1)
    if v < -3 or v > -1 then T.ok(false, "random(-3, -1)", v) break end
  end
  T.eq(node.random(5, 5), 5, "a one-value interval")
  local r = node.random()
  T.ok(r >= 0 and r < 1, "random(): [0, 1)")
  T.ok(node.random(math.mininteger or -2^53, math.maxinteger or 2^53) ~= nil, "the widest interval")
  T.raises(function() node.random(2, 1) end, "interval is empty", "an empty interval")
  T.raises(function() node.random(1, 2, 3) end, "wrong number of arguments", "three arguments")
  T.raises(function() node.random("x") end, "number expected", "not a number")
  T.raises(function() node.random(1.5) end, "integer", "a fraction")
  done()
end)

T.test("cpu frequency, stripdebug, osprint, egc", function(done)
  T.eq(node.getcpufreq(), 80, "80 MHz at boot")
  T.eq(node.setcpufreq(node.CPU160MHZ), 160, "setcpufreq(160)")
  T.eq(node.getcpufreq(), 160, "getcpufreq after")
  T.eq(node.setcpufreq(100), 80, "anything else is 80, as the firmware")
  T.eq(node.CPU80MHZ, 80, "CPU80MHZ")
  T.eq(node.stripdebug(), 2, "stripdebug(): the default level")
  T.eq(node.stripdebug(3), 3, "stripdebug(3)")
  T.eq(node.stripdebug(), 3, "kept")
  T.eq(node.stripdebug(1, print), 0, "stripping a function: 0 bytes here")
  T.raises(function() node.stripdebug(4) end, "Invalid strip level", "level 4")
  T.raises(function() node.stripdebug(1, "x") end, "not a valid function", "not a function")
  node.stripdebug(2)
  node.osprint(true)
  node.osprint(false)
  T.eq(node.egc.ALWAYS, 4, "egc constants")
  node.egc.setmode(node.egc.ALWAYS, 4096)
  node.egc.setmode(node.egc.ON_MEM_LIMIT, 30720)
  node.egc.setmode(node.egc.NOT_ACTIVE)
  T.raises(function() node.egc.setmode(8) end, "invalid mode", "mode 8")
  T.raises(function() node.egc.setmode(node.egc.ON_MEM_LIMIT) end, "limit must be non-zero", "no limit")
  local total, used = node.egc.meminfo()
  T.ok(total > 1000 and used > 1000, "meminfo: bytes in use by Lua")
  done()
end)

T.test("partition table, flash, sleep, restore, startup", function(done)
  local pt = node.getpartitiontable()
  T.eq(pt.spiffs_addr, 0x100000, "spiffs_addr")
  local _, _, total = file.fsinfo()
  T.eq(pt.spiffs_size, total, "spiffs_size is the file system's")
  T.eq(pt.lfs_size, 0, "no LFS")
  T.raises(function() node.setpartitiontable({lfs_size = 0x20000}) end, "not meaningful on a host",
    "setpartitiontable")
  T.raises(function() node.setpartitiontable() end, "must be table", "setpartitiontable()")
  T.eq(node.flashsize(), 4 * 1024 * 1024, "flashsize: a 4 MB part")
  T.ok(node.dsleepMax() > 3600e6, "dsleepMax: hours, in us")
  T.raises(function() node.sleep({wake_pin = 3}) end, "node.sleep() is unavailable",
    "light sleep: unavailable, as in the default firmware build")
  node.restore()
  local s = node.startup()
  T.ok(s.banner == true and s.frequency == 80 and s.command == nil, "startup defaults")
  s = node.startup({command = "@app.lua", frequency = node.CPU160MHZ, banner = false})
  T.ok(s.command == "@app.lua" and s.frequency == 160 and s.banner == false, "startup sets")
  T.eq(node.startupcommand("=print(1)"), true, "startupcommand")
  T.eq(node.startup().command, "=print(1)", "startupcommand is startup's command")
  s = node.startup({})
  T.ok(s.command == nil and s.frequency == 80, "startup({}) resets")
  T.raises(function() node.startup(5) end, "table expected", "startup(5)")
  done()
end)

T.test("dsleep: the script starts again after the time, woken from deep sleep", function(done)
  local t0 = os.time()
  local out = run([[-e "local raw, r = node.bootreason() print('boot', raw, r)" ]] ..
    [[-e "if r == 0 or select(2, node.bootreason()) == 0 then node.dsleep(200000) end"]])
  T.eq(out, "boot\t1\t0\nboot\t2\t5\n", "power-on, then a wake from deep sleep (reason 5)")
  T.ok(os.time() - t0 < 5, "in time")
  out = run([[-e "node.dsleep() node.dsleep(nil, 4) print('still here')"]])
  T.eq(out, "still here\n", "dsleep without a time does not sleep")
  done()
end)

T.run()
