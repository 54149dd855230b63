-- TCP data integrity and ordering (net.socket): big echo, many sends, sent order.
local T = dofile("tests/lib/t.lua")

local function echo_server(timeout)
  local srv = net.createServer(timeout or 30)
  srv:listen(0, "127.0.0.1", function(c)
    c:on("receive", function(s, d) s:send(d) end)
  end)
  return srv, (srv:getaddr())
end

-- Deterministic pseudo-random bytes, so corruption anywhere is caught.
local function pattern(len, seed)
  local t, x = {}, seed
  for i = 1, len do
    x = (x * 1103515245 + 12345) % 2147483648
    t[i] = string.char(x % 256)
  end
  return table.concat(t)
end

T.test("10 MiB echoed through server and client byte-identical", function(done)
  local srv, port = echo_server()
  local block = pattern(64 * 1024, 7)
  local total = 10 * 1024 * 1024
  local want, got, nrecv = {}, {}, 0
  local c = net.createConnection()
  c:on("connection", function(s)
    -- vary the pieces: a salt per block so reordering would show
    for i = 0, total / #block - 1 do
      local piece = string.char(i % 256) .. block:sub(2)
      want[#want + 1] = piece
      s:send(piece)
    end
  end)
  c:on("receive", function(s, d)
    got[#got + 1] = d
    nrecv = nrecv + #d
    if nrecv >= total then
      T.eq(nrecv, total, "received exactly 10 MiB")
      T.ok(table.concat(got) == table.concat(want), "bytes identical and in order")
      s:close(); srv:close(); done()
    end
  end)
  c:connect(port, "127.0.0.1")
end, 60)

T.test("1000 back-to-back sends arrive in order with 1000 sent callbacks in order", function(done)
  local srv = net.createServer()
  local received, expected = {}, {}
  srv:listen(0, "127.0.0.1", function(c)
    c:on("receive", function(_, d) received[#received + 1] = d end)
    c:on("disconnection", function()
      T.eq(table.concat(received), table.concat(expected), "all 1000 messages, in order")
      srv:close(); done()
    end)
  end)
  local port = srv:getaddr()
  local c = net.createConnection()
  local sent = 0
  c:on("connection", function(s)
    for i = 1, 1000 do
      local msg = ("<%d>"):format(i)
      expected[i] = msg
      s:send(msg, function()
        sent = sent + 1
        -- each callback is the one for the send with the same number
        if sent == 1000 then
          T.eq(sent, 1000, "1000 sent callbacks")
          s:close()
        end
      end)
    end
    T.eq(sent, 0, "no sent callback fires from inside send")
  end)
  c:connect(port, "127.0.0.1")
end)

T.test("send(data, fn) sets the sent callback for this and later sends", function(done)
  local srv = net.createServer()
  srv:listen(0, "127.0.0.1", function(c) c:on("receive", function() end) end)
  local port = srv:getaddr()
  local c = net.createConnection()
  local old, new = 0, 0
  c:on("sent", function() old = old + 1 end)
  c:on("connection", function(s)
    s:send("a", function(sock)
      new = new + 1
      T.ok(sock == s, "sent callback gets the socket")
      if new == 3 then
        T.eq(old, 0, "the earlier sent callback was replaced")
        s:close(); srv:close(); done()
      end
    end)
    s:send("b")
    s:send("c")
  end)
  c:connect(port)
end)

-- `sent` is looked up when it fires, not when send() is called (as on the
-- device): set after the sends, it fires for each; cleared, for none.
T.test("a sent callback set after send() fires; one cleared does not", function(done)
  local srv = net.createServer()
  srv:listen(0, "127.0.0.1", function(c) c:on("receive", function() end) end)
  local port = srv:getaddr()
  local a, b = net.createConnection(), net.createConnection()
  local na, nb, up = 0, 0, 0
  local function both()
    up = up + 1
    if up < 2 then return end
    a:send("1"); a:send("2")
    a:on("sent", function(s)
      na = na + 1
      if na == 2 then
        s:send("3") -- sent from inside sent: counted on a later turn
      elseif na == 3 then
        T.eq(nb, 0, "no sent after the callback was cleared")
        a:close(); b:close(); srv:close(); done()
      end
    end)
    b:on("sent", function() nb = nb + 1 end)
    b:send("x"); b:send("y")
    b:on("sent", nil)
  end
  a:on("connection", both)
  b:on("connection", both)
  a:connect(port)
  b:connect(port)
end)

T.run()
