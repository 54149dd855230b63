-- node.output / node.input: the console that telnet servers
-- redirect, both kinds of output function (a string, the firmware's older
-- and ESP32 form; a pipe, the ESP8266's current one), the pipe's methods,
-- and the interpreter that node.input feeds.
local T = dofile("tests/lib/t.lua")

-- after what is posted now has run (a timer due at once would come first)
local function later(ms, fn)
  node.task.post(node.task.LOW_PRIORITY, function() tmr.create():alarm(ms, tmr.ALARM_SINGLE, fn) end)
end

T.test("string output functions get print's text on a later turn", function(done)
  local got = {}
  node.output(function(s) got[#got + 1] = s end, 0)
  print("a", 1, nil, true)
  print()
  T.eq(#got, 0, "not from inside print")
  later(20, function()
    node.output(nil)
    T.eq(table.concat(got), "a\t1\tnil\ttrue\n\n", "what print wrote")
    T.eq(type(got[1]), "string", "as a string")
    done()
  end)
end)

T.test("a print inside the output function comes next turn, no recursion", function(done)
  local got, calls = {}, 0
  node.output(function(s)
    calls = calls + 1
    got[#got + 1] = s
    if calls == 1 then print("from inside") end
  end, 0)
  print("first")
  later(30, function()
    node.output()
    T.eq(table.concat(got), "first\nfrom inside\n", "both delivered")
    T.eq(calls, 2, "in two calls")
    done()
  end)
end)

T.test("pipe readers: the firmware's telnet pattern", function(done)
  local recs, stdout = {}, nil
  local function output_cb(opipe)
    stdout = opipe
    local rec = opipe:read(10)
    if rec then recs[#recs + 1] = rec end
    return false -- the 'sent' callback would read the rest
  end
  node.output(output_cb, 0)
  print(("x"):rep(25))
  later(20, function()
    T.eq(recs[1], ("x"):rep(10), "the reader got the pipe and read 10 bytes")
    T.eq(#recs, 1, "returning false: not called again")
    T.eq(stdout:read(1400), ("x"):rep(15) .. "\n", "the rest stays in the pipe")
    T.eq(stdout:read(1), nil, "then it is empty")
    print("more")
    later(20, function()
      T.eq(recs[2], "more\n", "a later write calls the reader again")
      node.output(nil)
      done()
    end)
  end)
end)

T.test("pipe readers returning true or nil", function(done)
  local n = 0
  node.output(function(p)
    p:read(4)
    n = n + 1
    return true -- again while anything is left
  end, 0)
  print("abcdefghij") -- 11 bytes: 3 reads
  later(30, function()
    T.eq(n, 3, "true: called until the pipe is empty")
    local m = 0
    node.output(function(p)
      p:read(2)
      m = m + 1
    end, 0)
    print("abcdefghij")
    later(30, function()
      T.eq(m, 1, "nil: not again unless written to meanwhile")
      node.output()
      done()
    end)
  end)
end)

T.test("the pipe's methods", function(done)
  node.output(function(p)
    T.eq(p:nrec(), 1, "nrec: one record") -- (the first pipe method: see below)
    node.output(nil) -- the test drives the pipe by hand from here
    T.eq(p:read("\n"), "line1", "read(char) drops the delimiter")
    T.eq(p:read("\n+"), "line2\n", "read(char..'+') keeps it")
    T.eq(p:read(), "line3", "read() is read('\\n')")
    p:unread("back")
    T.eq(p:read(2), "ba", "unread puts text back in front")
    p:write("!")
    local parts = {}
    for rec in p:reader(3) do parts[#parts + 1] = rec end
    T.eq(table.concat(parts, "|"), "ckt|ail|\n!", "reader(3) iterates")
    T.eq(p:read(), nil, "empty: nil")
    T.raises(function() p:read(0) end, "invalid chunk size", "read(0)")
    T.raises(function() p:read("ab") end, "invalid delimiter", "read('ab')")
    T.raises(function() p:unread({}) end, "must be a string", "unread of a table")
    T.raises(function() p:write() end, "must be a string", "write of nothing")
    T.ok(tostring(p):find("node.pipe", 1, true), "tostring")
    done()
  end, 0)
  print("line1\nline2\nline3\ntail")
end)

T.test("node.input runs complete lines, one a turn, with the prompt", function(done)
  local out = {}
  node.output(function(s) out[#out + 1] = s end, 0)
  node.input("x_in = 6 * 7\n=x_in\nprint('p', x_in)\n")
  node.input("for i = 1, 2 do\n")
  node.input("  print(i)\nend\n")
  node.input("error('oops')\n")
  node.input("=1,")
  later(40, function()
    node.input("2\n")
    later(40, function()
      node.output()
      local s = table.concat(out)
      T.eq(x_in, 42, "the chunk ran")
      T.ok(s:find("^> 42\n> p\t42\n> ") ~= nil, "results and prompts", s)
      T.ok(s:find(">> >> 1\n2\n> ", 1, true) ~= nil, "a chunk over lines: '>> ' until complete", s)
      T.ok(s:find("Lua error: \tstdin:1: oops", 1, true) ~= nil, "errors are printed, not raised", s)
      T.ok(s:find("> 1\t2\n> $") ~= nil, "a line waits for its end", s)
      done()
    end)
  end)
end)

T.test("what a pipe reader does before its first pipe method runs twice, once", function(done)
  -- The first delivery tells the two kinds of function apart by offering a
  -- string whose pipe methods throw (docs/modules/node.md#nodeoutput).
  local before, after = 0, 0
  node.output(function(p)
    before = before + 1
    p:read(100)
    after = after + 1
    return false
  end, 0)
  print("x")
  later(20, function()
    print("y")
    later(20, function()
      node.output()
      T.eq(before, 3, "the statements before the first read: twice the first time")
      T.eq(after, 2, "the rest: once a delivery")
      done()
    end)
  end)
end)

T.test("node.input and node.output argument checks", function(done)
  T.raises(function() node.input() end, "string expected", "input()")
  T.raises(function() node.input({}) end, "string expected", "input({})")
  node.output(42) -- not a function: back to standard output, as the firmware
  done()
end)

T.test("an error in the output function goes to the error policy", function(done)
  local errs = {}
  node.setonerror(function(m) errs[#errs + 1] = m end)
  node.output(function(s) error("output failed: " .. s) end, 0)
  print("boom")
  later(30, function()
    node.output()
    node.setonerror()
    T.eq(#errs, 1, "one error")
    T.ok(errs[1] and errs[1]:find("output failed: boom", 1, true), "its message", errs[1])
    done()
  end)
end)

T.test("serial_debug: output also on standard output unless 0", function(done)
  local cmd = T.netmcu .. [[ -e "node.output(function() end, 1) print('both')" ]] ..
    [[ -e "node.output(function() end, 0) print('quiet')" -e "node.output() print('back')"]]
  local p = io.popen(cmd)
  local s = p:read("*a")
  p:close()
  T.eq(s, "both\nback\n", "1 prints too, 0 does not, nil restores")
  done()
end)

T.run()
