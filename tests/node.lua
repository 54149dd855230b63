-- node (docs/modules/node.md): task.post, setonerror, heap, uptime, chipid.
local T = dofile("tests/lib/t.lua")

T.test("node is a global and a module", function(done)
  T.ok(type(node) == "table", "node global")
  T.eq(require("node"), node, "require 'node' gives the same table")
  T.eq(node.task.LOW_PRIORITY, 0, "LOW_PRIORITY")
  T.eq(node.task.MEDIUM_PRIORITY, 1, "MEDIUM_PRIORITY")
  T.eq(node.task.HIGH_PRIORITY, 2, "HIGH_PRIORITY")
  done()
end)

T.test("task.post runs later, higher priority first, FIFO within", function(done)
  local order = {}
  local function rec(name) return function(prio) order[#order + 1] = name .. ":" .. prio end end
  node.task.post(node.task.LOW_PRIORITY, rec("low1"))
  node.task.post(rec("medium-default"))
  node.task.post(node.task.HIGH_PRIORITY, rec("high1"))
  node.task.post(node.task.LOW_PRIORITY, rec("low2"))
  node.task.post(node.task.HIGH_PRIORITY, rec("high2"))
  T.eq(#order, 0, "nothing runs inside post")
  node.task.post(node.task.LOW_PRIORITY, function()
    T.eq(table.concat(order, " "), "high1:2 high2:2 medium-default:1 low1:0 low2:0",
      "priority order, FIFO within a priority, priority passed")
    done()
  end)
end)

T.test("a task posted by a task runs on a later turn, after I/O", function(done)
  local srv = net.createServer()
  local received = false
  srv:listen(0, "127.0.0.1", function(c) c:on("receive", function() received = true end) end)
  local c = net.createConnection()
  c:on("connection", function(s)
    s:send("x")
    local spins = 0
    local function spin()
      spins = spins + 1
      if received then
        T.ok(spins > 1, "self-reposting task did not starve I/O (" .. spins .. " turns)")
        s:close(); srv:close(); done()
      elseif spins < 100000 then
        node.task.post(spin)
      else
        T.ok(false, "data never arrived while a task re-posted itself")
        done()
      end
    end
    node.task.post(spin)
  end)
  c:connect((srv:getaddr()))
end)

T.test("task.post argument errors", function(done)
  T.raises(function() node.task.post(3, print) end, "invalid priority", "priority 3")
  T.raises(function() node.task.post(1.5, print) end, "invalid priority", "fractional priority")
  T.raises(function() node.task.post(1) end, "invalid function", "no function")
  T.raises(function() node.task.post("f") end, "invalid function", "not a function")
  done()
end)

T.test("setonerror receives callback errors with traceback; the loop goes on", function(done)
  local got = {}
  node.setonerror(function(msg) got[#got + 1] = msg end)
  tmr.create():alarm(5, tmr.ALARM_SINGLE, function() error("first failure") end)
  node.task.post(function() error("second failure") end)
  tmr.create():alarm(40, tmr.ALARM_SINGLE, function()
    node.setonerror() -- back to the default: exit
    T.eq(#got, 2, "both errors reached the handler")
    local all = table.concat(got, "\n")
    T.ok(all:find("first failure", 1, true) and all:find("second failure", 1, true), "messages kept")
    T.ok(got[1]:find("stack traceback", 1, true) ~= nil, "with a traceback")
    T.raises(function() node.setonerror(42) end, "function or nil expected", "bad handler")
    done()
  end)
end)

T.test("heap, uptime, chipid", function(done)
  local h = node.heap()
  T.ok(type(h) == "number" and h > 1024 * 1024, "heap is a plausible number of free bytes")
  local u1, wraps = node.uptime()
  tmr.delay(2000)
  local u2 = node.uptime()
  T.ok(u2 - u1 >= 2000, "uptime advances in microseconds")
  T.eq(wraps, 0, "second value: overflow count")
  T.ok(math.abs(u1 - tmr.now()) < 1000000, "uptime matches tmr.now since start")
  local id = node.chipid()
  T.ok(type(id) == "number" and id == math.floor(id) and id > 0, "chipid is a positive integer")
  T.eq(node.chipid(), id, "chipid is stable")
  done()
end)

T.run()
