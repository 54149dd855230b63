-- bench/queued_sends.lua [N] [distinct] - what many small queued sends cost
-- (docs/DIFFERENCES.md, TCP): N sends (default 10^6) of 100 bytes to a
-- peer that never reads, twice; RSS after queueing and 10.5 s after
-- close() (past the 10 s linger bound).  "distinct" sends a different
-- string each time instead of one shared string.
--   build/netmcu bench/queued_sends.lua 1000000 distinct
local N = tonumber(arg[1]) or 1000000
local distinct = arg[2] == "distinct"

local function rss()
  for l in io.lines("/proc/self/status") do
    local v = l:match("^VmRSS:%s*(%d+)")
    if v then return tonumber(v) end
  end
end

local function noread_peer(port)
  os.execute("perl tests/faults/peer.pl noread " .. port .. " 15 </dev/null >/dev/null 2>&1 &")
end

local srv, round = net.createServer(), 0
collectgarbage()
local base = rss()
srv:listen(0, "127.0.0.1", function(c)
  c:on("receive", function(s)
    round = round + 1
    local data = ("d"):rep(100)
    for i = 1, N do s:send(distinct and ("%099d"):format(i) .. "d" or data) end
    collectgarbage()
    collectgarbage()
    local high = rss() - base
    print(("round %d: %d sends of 100 bytes queued: RSS +%d KiB (%.0f bytes per send)")
      :format(round, N, high, high * 1024 / N))
    s:close()
    tmr.create():alarm(10500, tmr.ALARM_SINGLE, function()
      collectgarbage()
      collectgarbage()
      print(("round %d: 10.5 s after close(): RSS +%d KiB"):format(round, rss() - base))
      if round == 1 then noread_peer(srv:getaddr()) else srv:close() end
    end)
  end)
end)
noread_peer(srv:getaddr())
