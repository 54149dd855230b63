local N = 1000000
local function rss() for l in io.lines("/proc/self/status") do local v = l:match("^VmRSS:%s*(%d+)") if v then return tonumber(v) end end end
local srv = net.createServer()
local round = 0
local base = rss()
srv:listen(0, "127.0.0.1", function(c)
  c:on("receive", function(s)
    round = round + 1
    local data = ("d"):rep(100)
    for i = 1, N do s:send(data) end
    collectgarbage() collectgarbage()
    print(("round %d: %d sends queued, RSS +%d KiB over the start"):format(round, N, rss() - base))
    s:close()
    tmr.create():alarm(10500, tmr.ALARM_SINGLE, function()
      collectgarbage() collectgarbage()
      print(("round %d: 10.5 s after close(), RSS +%d KiB over the start"):format(round, rss() - base))
      if round == 1 then os.execute("perl /work/wt/hostile/tests/faults/peer.pl noread " .. srv:getaddr() .. " 15 </dev/null >/dev/null 2>&1 &")
      else srv:close() end
    end)
  end)
end)
os.execute("perl /work/wt/hostile/tests/faults/peer.pl noread " .. srv:getaddr() .. " 15 </dev/null >/dev/null 2>&1 &")
