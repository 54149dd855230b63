-- TLS (docs/modules/tls.md): tls.createConnection() and
-- net.createConnection(net.TCP, 1) are net sockets over TLS; tls.cert.verify
-- and tls.cert.auth; tls.setDebug.  The servers run on 127.0.0.1 and are
-- started here: `openssl s_server` for the certificate checks, and
-- tests/tls/peer.c (built here) where a server must misbehave on cue.  The
-- CA and certificates are made fresh by tests/tls/mkcerts.sh.  The tests
-- run in a child netmcu whose "system" CA store (SSL_CERT_FILE) is the
-- test CA, so nothing depends on the host's store and nothing leaves
-- loopback.
local T = dofile("tests/lib/t.lua")

local function sh(cmd)
  local rc = os.execute(cmd)
  return rc == true or rc == 0
end

local function read_file(p)
  local f = io.open(p)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local DIR = os.getenv("NETMCU_TLS_DIR")
if not DIR then
  if not sh("command -v openssl >/dev/null 2>&1 && command -v cc >/dev/null 2>&1 && " ..
            "pkg-config --exists openssl") then
    T.skip("TLS tests", "needs openssl, cc and libssl-dev (scripts/setup.sh)")
    io.stdout:write("1..1\n")
    return
  end
  DIR = os.tmpname()
  os.remove(DIR)
  local log = DIR .. ".log"
  local ok = sh(("sh tests/tls/mkcerts.sh %s >%s 2>&1"):format(DIR, log)) and
    sh(("cc -std=c11 -D_GNU_SOURCE -O1 -o %s/peer tests/tls/peer.c " ..
        "$(pkg-config --cflags --libs openssl) >>%s 2>&1"):format(DIR, log))
  if not ok then
    io.stdout:write("Bail out! setup failed: ", (read_file(log) or ""):gsub("\n", " "), "\n")
    os.exit(1)
  end
  ok = sh(("SSL_CERT_FILE=%s/ca.pem SSL_CERT_DIR=%s/none NETMCU_TLS_DIR=%s %s %s")
    :format(DIR, DIR, DIR, T.netmcu, arg and arg[0] or "tests/tls.lua"))
  sh("rm -rf " .. DIR .. " " .. log)
  os.exit(ok and 0 or 1)
end

local MiB = 1024 * 1024
local HANDSHAKE, BADDATA = -28, -61
local pids = {}
local nfile = 0
local function pem(name) return assert(read_file(DIR .. "/" .. name)) end

-- Calls cb(v) once fn() returns a value, polling every 20 ms; cb(nil)
-- after secs seconds.
local function poll(secs, fn, cb)
  local t = tmr.create()
  local left = math.floor(secs * 50)
  t:alarm(20, tmr.ALARM_AUTO, function()
    local v = fn()
    left = left - 1
    if v ~= nil or left <= 0 then
      t:unregister()
      cb(v)
    end
  end)
end

local function spawn(cmd, out)
  os.execute(("%s </dev/null >%s.log 2>&1 & echo $! >%s.pid"):format(cmd, out, out))
  local pid = read_file(out .. ".pid")
  if pid then pids[#pids + 1] = pid:match("%d+") end
end

-- tests/tls/peer.c in mode with certificate cert: cb(port, out) once it
-- listens.
local function peer(mode, cert, arg, cb)
  nfile = nfile + 1
  local out = ("%s/peer%d"):format(DIR, nfile)
  spawn(("%s/peer %s %s/%s.pem %s/%s.key %s %s"):format(DIR, mode, DIR, cert, DIR, cert, out,
    arg or ""), out)
  poll(5, function()
    local s = read_file(out .. ".port")
    return s and tonumber(s:match("%d+"))
  end, function(port)
    if not port then T.ok(false, "peer " .. mode .. " started", read_file(out .. ".log")) end
    cb(port, out)
  end)
end

-- The peer's account once it ended (nil after secs).
local function peer_result(out, secs, cb)
  poll(secs, function() return read_file(out) end, cb)
end

-- `openssl s_server -rev` (answers each line reversed) for one connection.
local function s_server(cert, extra, cb)
  nfile = nfile + 1
  local out = ("%s/s_server%d"):format(DIR, nfile)
  spawn(("openssl s_server -accept 127.0.0.1:0 -naccept 1 -rev -cert %s/%s.pem -key %s/%s.key %s")
    :format(DIR, cert, DIR, cert, extra or ""), out)
  poll(5, function()
    local s = read_file(out .. ".log")
    return s and tonumber(s:match("ACCEPT 127%.0%.0%.1:(%d+)"))
  end, function(port)
    if not port then T.ok(false, "s_server started", read_file(out .. ".log")) end
    cb(port, out)
  end)
end

-- A TLS connection that must fail with code (to `reconnection`), with no
-- `connection` (unless allow_connection: TLS 1.3 servers refuse a client
-- certificate after the client's handshake) and no data.
local function expect_failure(port, host, code, name, done, allow_connection)
  local s = tls.createConnection()
  if not allow_connection then s:on("connection", T.expect(nil, 0)) end
  s:on("receive", T.expect(nil, 0))
  s:on("disconnection", T.expect(nil, 0))
  s:on("reconnection", T.expect(function(_, c)
    T.eq(c, code, name)
    done()
  end))
  s:connect(port, host)
end

-- A TLS exchange with `s_server -rev` that must work.
local function expect_echo(port, host, name, done)
  local s = tls.createConnection()
  s:on("connection", T.expect(function(c) c:send("hello\n") end))
  s:on("sent", T.expect(nil, 1))
  s:on("receive", T.expect(function(c, d)
    T.eq(d, "olleh\n", name)
    c:close()
    done()
  end))
  s:on("reconnection", function(_, code)
    T.ok(false, name, "failed with " .. tostring(code))
    done()
  end)
  s:connect(port, host)
end

-- ---- the module ----

T.test("tls module shape: the sockets are net sockets", function(done)
  local plain = net.createConnection()
  local a, b = tls.createConnection(), net.createConnection(net.TCP, 1)
  T.ok(getmetatable(a) == getmetatable(plain), "tls.createConnection(): a net.tcpsocket")
  T.ok(getmetatable(b) == getmetatable(plain), "net.createConnection(net.TCP, 1): a net.tcpsocket")
  T.ok(tostring(a):find("net.tcpsocket", 1, true), "tostring names net.tcpsocket")
  T.eq(require("tls"), tls, "require 'tls' gives the global")
  T.ok(net.cert == tls.cert, "net.cert is tls.cert (the firmware's old name)")
  T.eq(type(tls.cert.verify), "function", "tls.cert.verify")
  T.eq(type(tls.cert.auth), "function", "tls.cert.auth")
  T.eq(type(tls.setDebug), "function", "tls.setDebug")
  T.raises(function() a:send("x") end, "not connected", "send before connect")
  T.raises(function() a:close() end, "not connected", "close before connect")
  T.raises(function() a:connect(0) end, "specify port", "port 0")
  T.raises(function() a:connect(443, ("a"):rep(300)) end, "invalid domain", "a name over 255 bytes")
  T.raises(function() a:send("x") end, "not connected", "the failed connect left it unconnected")
  done()
end)

T.test("tls.cert and tls.setDebug refuse bad input, with no effect", function(done)
  local ca, key = pem("ca.pem"), pem("server.key")
  T.raises(function() tls.cert.verify("not a certificate") end, "No PEM header", "verify: text")
  T.raises(function() tls.cert.verify(key) end, "Wrong PEM type", "verify: a key")
  T.raises(function()
    tls.cert.verify("-----BEGIN CERTIFICATE-----\nAAAA!!\n-----END CERTIFICATE-----\n")
  end, "Invalid PEM format data", "verify: a broken certificate")
  T.raises(function() tls.cert.verify(ca .. "-----BEGIN CERTIFICATE-----\nAA\n") end,
    "Invalid PEM format data", "verify: a good one, then a broken one")
  T.raises(function() tls.cert.verify(ca, 5) end, "string expected", "verify: not a string")
  T.raises(function() tls.cert.verify(function() return 5 end) end,
    "certificate callback returned a number", "verify: callback giving a number")
  T.raises(function() tls.cert.verify(function() error("cb boom") end) end, "cb boom",
    "verify: the callback's error")
  T.raises(function() tls.cert.verify(function() return ca end) end, "too many certificates",
    "verify: a callback that never ends")
  T.raises(function() tls.cert.auth(pem("client.pem")) end, "Wrong PEM type", "auth: no key")
  T.raises(function() tls.cert.auth(pem("client.key")) end, "Wrong PEM type", "auth: no certificate")
  T.raises(function() tls.cert.auth(pem("client.pem"), pem("other-client.key")) end,
    "certificate and private key do not match", "auth: the wrong key")
  T.raises(function() tls.cert.auth("x", "y") end, "No PEM header", "auth: text")
  T.raises(function() tls.cert.auth(true) end, "no certificates found", "auth(true) with none given")
  T.raises(function() tls.setDebug("x") end, "integer expected", "setDebug: a string")
  T.raises(function() tls.setDebug(1.5) end, "integer expected", "setDebug: 1.5")
  T.eq(tls.cert.auth(false), true, "auth(false) gives true")
  done()
end)

-- ---- verification ----

T.test("default, as the firmware: no verification (an expired certificate is accepted)",
  function(done)
    s_server("expired", nil, function(port)
      expect_echo(port, "localhost", "expired certificate accepted without verification", done)
    end)
  end)

T.test("verify(true) without a CA given: the system's store, which trusts the server",
  function(done)
    T.eq(tls.cert.verify(true), true, "verify(true) gives true")
    s_server("server", nil, function(port)
      expect_echo(port, "localhost", "verified by the system store", done)
    end)
  end)

T.test("verify(true), system store: a self-signed certificate fails with -28", function(done)
  s_server("selfsigned", nil, function(port)
    expect_failure(port, "localhost", HANDSHAKE, "self-signed refused", done)
  end)
end)

T.test("verify(CA PEM): the server's certificate by name, SNI sent, every event", function(done)
  T.eq(tls.cert.verify(pem("ca.pem")), true, "verify(pem) gives true")
  peer("echo", "server", nil, function(port, out)
    local s = tls.createConnection()
    local log = {}
    s:on("dns", T.expect(function(_, ip) log[#log + 1] = "dns " .. tostring(ip) end))
    s:on("connection", T.expect(function(c)
      log[#log + 1] = "connection"
      local pport, pip = c:getpeer()
      T.ok(pport == port and pip == "127.0.0.1", "getpeer", tostring(pport) .. " " .. tostring(pip))
      T.ok((c:getaddr()) ~= nil, "getaddr")
      T.eq(c:ttl(), 64, "ttl")
      c:send("secret")
    end))
    s:on("sent", T.expect(function() log[#log + 1] = "sent" end))
    s:on("receive", T.expect(function(c, d)
      T.eq(d, "secret", "plaintext echoed")
      c:close()
      peer_result(out, 5, function(r)
        T.eq(table.concat(log, ","), "dns 127.0.0.1,connection,sent", "events in order")
        T.ok(r and r:find("^close_notify 6 sni=localhost"), "the peer saw SNI, 6 bytes, close_notify", r)
        done()
      end)
    end))
    s:connect(port, "localhost")
  end)
end)

for _, case in ipairs({
  {"expired", "localhost", "an expired certificate"},
  {"wrongname", "localhost", "a certificate for another name"},
  {"wrongname", "127.0.0.1", "an address the certificate does not name"},
  {"untrusted", "localhost", "a certificate of another CA"},
  {"selfsigned", "localhost", "a self-signed certificate"},
}) do
  T.test("verify(CA PEM): " .. case[3] .. " fails with -28, never connects", function(done)
    tls.cert.verify(pem("ca.pem"))
    -- calls that raise leave verification on
    T.ok(not pcall(tls.cert.verify, "junk") and not pcall(tls.cert.verify, pem("server.key")),
      "bad certificates raise")
    s_server(case[1], nil, function(port)
      expect_failure(port, case[2], HANDSHAKE, case[3] .. " refused", done)
    end)
  end)
end

T.test("verify(CA PEM): an IPv4 literal is checked against the certificate's address",
  function(done)
    s_server("server", nil, function(port)
      expect_echo(port, "127.0.0.1", "127.0.0.1 matches its IP SAN", done)
    end)
  end)

T.test("verify(false), then verify(true) uses the CA given before", function(done)
  tls.cert.verify(false)
  s_server("wrongname", nil, function(port)
    expect_echo(port, "localhost", "verification off: wrong name accepted", function()
      tls.cert.verify(true)
      s_server("wrongname", nil, function(port2)
        expect_failure(port2, "localhost", HANDSHAKE, "verify(true): on again", done)
      end)
    end)
  end)
end)

T.test("verify(callback): its certificates verify; a callback giving none turns it off",
  function(done)
    local asked = {}
    tls.cert.verify(function(k)
      asked[#asked + 1] = k
      if k == 1 then return pem("other-ca.pem") end
    end)
    T.eq(table.concat(asked, ","), "1,2", "called with 1, 2, ... until nil")
    s_server("untrusted", nil, function(port)
      expect_echo(port, "localhost", "the callback's CA verified the server", function()
        s_server("server", nil, function(port2)
          expect_failure(port2, "localhost", HANDSHAKE, "only the callback's CA is trusted", function()
            tls.cert.verify(function() return nil end)
            s_server("selfsigned", nil, function(port3)
              expect_echo(port3, "localhost", "no certificate from the callback: no verification", done)
            end)
          end)
        end)
      end)
    end)
  end)

-- ---- client certificates ----

T.test("a server that requires a client certificate: none gives -28; auth(cert, key) works",
  function(done)
    tls.cert.verify(pem("ca.pem"))
    local req = "-Verify 1 -verify_return_error -CAfile " .. DIR .. "/ca.pem"
    s_server("server", req, function(port)
      expect_failure(port, "localhost", HANDSHAKE, "no client certificate", function()
        T.eq(tls.cert.auth(pem("client.pem"), pem("client.key")), true, "auth(cert, key) gives true")
        s_server("server", req, function(port2)
          expect_echo(port2, "localhost", "the client certificate was accepted", done)
        end)
      end, true)
    end)
  end)

T.test("auth: another CA's certificate gives -28; auth(false) sends none; the callback form",
  function(done)
    local req = "-Verify 1 -verify_return_error -CAfile " .. DIR .. "/ca.pem"
    tls.cert.auth(pem("other-client.pem") .. pem("other-client.key")) -- one text with both
    s_server("server", req, function(port)
      expect_failure(port, "localhost", HANDSHAKE, "a certificate of another CA", function()
        tls.cert.auth(false)
        s_server("server", req, function(port2)
          expect_failure(port2, "localhost", HANDSHAKE, "auth(false)", function()
            local asked = {}
            tls.cert.auth(function(k)
              asked[#asked + 1] = k
              if k == 0 then return pem("client.key") end
              if k == 1 then return pem("client.pem") end
            end)
            T.eq(table.concat(asked, ","), "0,1,2", "key (0), then certificates (1, 2, ...)")
            s_server("server", req, function(port3)
              expect_echo(port3, "localhost", "the callback's certificate was accepted", function()
                tls.cert.auth(false)
                tls.cert.verify(false)
                done()
              end)
            end)
          end, true)
        end)
      end, true)
    end)
  end)

-- ---- the socket's contract over TLS ----

T.test("sends made before the handshake go out after it, in order, one sent each", function(done)
  peer("echo", "server", nil, function(port, out)
    local s = net.createConnection(net.TCP, 1)
    local got, connected, sent, in_send = "", false, 0, false
    s:on("connection", T.expect(function() connected = true end))
    s:on("sent", function()
      T.ok(not in_send, "sent never inside send()")
      sent = sent + 1
    end)
    s:on("receive", function(c, d)
      T.ok(connected, "connection before any data")
      got = got .. d
      if #got == 3 then
        T.eq(got, "abc", "in order")
        c:close()
        peer_result(out, 5, function(r)
          T.eq(sent, 3, "one sent per send")
          T.ok(r and r:find("^close_notify 3 sni=none"), "no SNI for an address", r)
          done()
        end)
      end
    end)
    s:connect(port, "127.0.0.1")
    in_send = true
    s:send("a"); s:send("b"); s:send("c")
    in_send = false
  end)
end)

T.test("a 4 MiB send and 200 small ones: echoed intact, one sent per send", function(done)
  peer("echo", "server", nil, function(port, out)
    local parts = {}
    for i = 1, 4 * MiB / 64 do parts[i] = ("%063d\n"):format(i) end
    local big = table.concat(parts)
    local small = {}
    for i = 1, 200 do small[i] = ("<%d>"):format(i) end
    local want = big .. table.concat(small)
    local got, n, sent = {}, 0, 0
    local s = tls.createConnection()
    s:on("sent", function() sent = sent + 1 end)
    s:on("connection", function(c)
      c:send(big)
      for i = 1, 200 do c:send(small[i]) end
    end)
    s:on("receive", function(c, d)
      got[#got + 1] = d
      n = n + #d
      if n >= #want then
        T.ok(table.concat(got) == want, "echo intact (" .. n .. " bytes)")
        c:close()
        peer_result(out, 10, function(r)
          T.eq(sent, 201, "201 sent callbacks")
          T.ok(r and r:find("^close_notify " .. #want), "the peer counted every byte", r)
          local maxrec = tonumber(r and r:match("maxrecord=(%d+)"))
          T.ok(maxrec and maxrec <= 16384 + 256, "records of at most 16 KiB (+ the cipher's overhead)", r)
          done()
        end)
      end
    end)
    s:connect(port, "localhost")
  end)
end, 60)

T.test("a record that arrives a byte at a time is delivered once, whole", function(done)
  peer("trickle", "server", nil, function(port, out)
    local s = tls.createConnection()
    s:on("receive", T.expect(function(c, d)
      T.eq(d, "trickled", "one receive with the record's data")
      c:close()
      peer_result(out, 5, function(r)
        local n = tonumber(r and r:match("trickled (%d+) bytes"))
        T.ok(n and n > 8, "it came in " .. tostring(n) .. " pieces", r)
        done()
      end)
    end))
    s:connect(port, "127.0.0.1")
  end)
end)

T.test("hold() pushes back: the peer stalls, nothing arrives while held; unhold delivers all",
  function(done)
    local total = 32 * MiB
    peer("flood", "server", "32", function(port, out)
      local s = tls.createConnection()
      local got, held, while_held = 0, false, 0
      s:on("receive", function(c, d)
        if held then while_held = while_held + 1 end
        got = got + #d
        if got == #d then -- the first chunk: hold
          held = true
          c:hold()
          -- (the timer is no upvalue of this hot function: LuaJIT's traces
          -- may keep such a closure, and so the timer, alive after the test)
          local t = tmr.create()
          t:alarm(400, tmr.ALARM_SINGLE, function()
            local p1 = tonumber(read_file(out .. ".progress"))
            t:alarm(300, tmr.ALARM_SINGLE, function()
              local p2 = tonumber(read_file(out .. ".progress"))
              T.ok(p1 ~= nil and p1 == p2, "the peer stalled while held", tostring(p1) .. " then " .. tostring(p2))
              T.ok(p2 ~= nil and p2 < total * 3 / 4, "it could not send most of it", p2)
              T.eq(while_held, 0, "no receive while held")
              held = false
              c:unhold()
            end)
          end)
        elseif got == total then
          c:close()
          peer_result(out, 10, function(r)
            T.eq(r, "flood " .. total .. "\n", "every byte arrived after unhold")
            done()
          end)
        end
      end)
      s:connect(port, "127.0.0.1")
    end)
  end, 60)

T.test("hold() before connect: the handshake still completes, the data waits for unhold",
  function(done)
    peer("echo", "server", nil, function(port, out)
      local s = tls.createConnection()
      local held = true
      s:on("connection", T.expect(function(c)
        c:send("x")
        tmr.create():alarm(300, tmr.ALARM_SINGLE, function()
          held = false
          c:unhold()
        end)
      end))
      s:on("receive", T.expect(function(c, d)
        T.ok(not held, "received only after unhold")
        T.eq(d, "x", "the data")
        c:close()
        peer_result(out, 5, function() done() end)
      end))
      s:connect(port, "127.0.0.1")
      s:hold()
    end)
  end)

T.test("KeyUpdate from the server (TLS 1.3): answered, the exchange goes on", function(done)
  peer("keyupdate", "server", nil, function(port, out)
    local s = tls.createConnection()
    s:on("connection", function(c) c:send("one") end)
    s:on("receive", function(c, d)
      if d == "one" then c:send("two") return end
      T.eq(d, "two", "data after the key update")
      c:close()
      peer_result(out, 5, function(r)
        T.ok(r and r:find("^close_notify 6 ") and r:find("keyupdates=1", 1, true),
          "our KeyUpdate answered theirs", r)
        done()
      end)
    end)
    s:connect(port, "127.0.0.1")
  end)
end)

T.test("renegotiation by the server (TLS 1.2): a send during it waits, the exchange goes on",
  function(done)
    peer("reneg", "server", nil, function(port, out)
      local s = tls.createConnection()
      local sent = 0
      s:on("sent", function() sent = sent + 1 end)
      s:on("connection", function(c) c:send("one") end)
      s:on("receive", function(c, d)
        if d == "one" then c:send("two") return end
        T.eq(d, "two", "data after the renegotiation")
        c:close()
        peer_result(out, 5, function(r)
          T.ok(r and r:find("^close_notify 6 ") and r:find("hellos=2", 1, true),
            "the send made during the renegotiation went out after it", r)
          T.eq(sent, 2, "one sent per send")
          done()
        end)
      end)
      s:connect(port, "127.0.0.1")
    end)
  end)

T.test("close() in the connection callback: close_notify, then FIN; nothing fires", function(done)
  peer("sink", "server", nil, function(port, out)
    local s = tls.createConnection()
    s:on("receive", T.expect(nil, 0))
    s:on("disconnection", T.expect(nil, 0))
    s:on("connection", T.expect(function(c)
      c:send("last words")
      c:close()
      peer_result(out, 5, function(r)
        T.ok(r and r:find("^close_notify 10 "), "data, then close_notify", r)
        done()
      end)
    end))
    s:connect(port, "127.0.0.1")
  end)
end)

T.test("the server's close_notify: its data, then disconnection(0); ours answers it",
  function(done)
    peer("notify", "server", nil, function(port, out)
      local s = tls.createConnection()
      local got = ""
      s:on("receive", function(_, d) got = got .. d end)
      s:on("disconnection", T.expect(function(_, code)
        T.eq(code, 0, "normal close")
        T.eq(got, "bye", "data before it")
        peer_result(out, 5, function(r)
          T.eq(r, "client_notify=1\n", "the peer got our close_notify")
          done()
        end)
      end))
      s:connect(port, "127.0.0.1")
    end)
  end)

T.test("the server's FIN without close_notify: data, then disconnection(0)", function(done)
  peer("fin", "server", nil, function(port)
    local s = tls.createConnection()
    local got = ""
    s:on("receive", function(_, d) got = got .. d end)
    s:on("disconnection", T.expect(function(_, code)
      T.eq(code, 0, "a normal close, as for TCP")
      T.eq(got, "bye", "data before it")
      done()
    end))
    s:connect(port, "127.0.0.1")
  end)
end)

T.test("a refused connect: -9 as for TCP; the socket connects again, callbacks kept",
  function(done)
    local srv = net.createServer()
    srv:listen(0, "127.0.0.1", function() end)
    local closed = srv:getaddr()
    srv:close()
    local s = tls.createConnection()
    local tries = 0
    s:on("reconnection", function(_, code)
      tries = tries + 1
      T.eq(code, -9, "refused")
      s_server("server", nil, function(port) s:connect(port, "localhost") end)
    end)
    s:on("connection", T.expect(function(c) c:send("again\n") end))
    s:on("receive", T.expect(function(c, d)
      T.eq(d, "niaga\n", "the second connect works")
      T.eq(tries, 1, "one failure")
      c:close()
      done()
    end))
    s:connect(closed, "127.0.0.1")
  end)

T.test("an unreferenced TLS socket works, and is collected after close", function(done)
  peer("echo", "server", nil, function(port, out)
    local w
    do
      local s = tls.createConnection()
      w = T.weak(s)
      s:on("connection", function(c) c:send("gc") end)
      s:on("receive", function(c) c:close() end)
      s:connect(port, "127.0.0.1")
    end
    collectgarbage()
    peer_result(out, 5, function(r)
      T.ok(r and r:find("^close_notify 2 "), "it worked without a reference", r)
      T.ok(T.collected(w), "collected after close")
      done()
    end)
  end)
end)

-- ---- misbehaving peers, each beside a healthy connection ----

-- Runs a healthy echo over TLS beside the test; cb() once it worked.
local function healthy(name, cb)
  peer("echo", "server", nil, function(port)
    local s = tls.createConnection()
    s:on("connection", function(c) c:send("healthy") end)
    s:on("receive", function(c, d)
      T.eq(d, "healthy", name .. ": a parallel connection still works")
      c:close()
      cb()
    end)
    s:connect(port, "127.0.0.1")
  end)
end

local function both(n, done)
  local left = n
  return function()
    left = left - 1
    if left == 0 then done() end
  end
end

T.test("a peer that resets mid-handshake: -9; others unaffected", function(done)
  local fin = both(2, done)
  peer("rst", "server", nil, function(port)
    expect_failure(port, "127.0.0.1", -9, "reset during the handshake", fin)
    healthy("reset", fin)
  end)
end)

T.test("a peer that answers the ClientHello with garbage: -28; others unaffected", function(done)
  local fin = both(2, done)
  peer("garbage", "server", nil, function(port)
    expect_failure(port, "127.0.0.1", HANDSHAKE, "garbage handshake", fin)
    healthy("garbage", fin)
  end)
end)

T.test("a plain TCP server (not TLS): -28", function(done)
  local srv = net.createServer()
  srv:listen(0, "127.0.0.1", function(c)
    c:on("receive", function(sc) sc:send("HTTP/1.0 400 Bad Request\r\n\r\n") sc:close() end)
  end)
  expect_failure((srv:getaddr()), "127.0.0.1", HANDSHAKE, "plain text answer", function()
    srv:close()
    done()
  end)
end)

T.test("garbage after the handshake: -61 (invalid TLS data); others unaffected", function(done)
  local fin = both(2, done)
  peer("garbage2", "server", nil, function(port)
    local s = tls.createConnection()
    s:on("connection", T.expect(function(c) c:send("a") end))
    s:on("disconnection", T.expect(nil, 0))
    s:on("reconnection", T.expect(function(_, code)
      T.eq(code, BADDATA, "bad records end the connection")
      fin()
    end))
    s:connect(port, "127.0.0.1")
    healthy("garbage after handshake", fin)
  end)
end)

T.test("a peer that stops reading: sends queue, others unaffected, close is bounded",
  function(done)
    peer("noread", "server", "3", function(port)
      local s = tls.createConnection()
      s:on("receive", T.expect(function(c)
        local chunk = string.rep("q", MiB / 2)
        for _ = 1, 32 do c:send(chunk) end -- 16 MiB: far more than the kernel holds
        healthy("stalled peer", function()
          c:close() -- lingers until the peer exits, bounded by the linger
          done()
        end)
      end))
      s:connect(port, "127.0.0.1")
    end)
  end, 30)

T.test("close() while the handshake waits for a silent server: nothing fires, nothing leaks",
  function(done)
    local srv = net.createServer()
    local accepted
    srv:listen(0, "127.0.0.1", function(c) accepted = c end)
    local s = tls.createConnection()
    s:on("connection", T.expect(nil, 0))
    s:on("disconnection", T.expect(nil, 0))
    s:on("reconnection", T.expect(nil, 0))
    s:connect((srv:getaddr()), "127.0.0.1")
    poll(5, function() return accepted end, function()
      s:close()
      accepted:close()
      srv:close()
      done()
    end)
  end)

-- ---- debug output ----

T.test("setDebug(3) reports the handshake on stderr; 0 is silent", function(done)
  peer("echo", "server", nil, function(port, out)
    local script = DIR .. "/debug.lua"
    local f = io.open(script, "w")
    f:write(([[
tls.setDebug(tonumber(arg and arg[1]) or 3)
local s = tls.createConnection()
s:on("connection", function(c) c:close() end)
s:connect(%d, "localhost")
]]):format(port))
    f:close()
    local p = io.popen(T.netmcu .. " " .. script .. " 2>&1")
    local text = p:read("*a")
    p:close()
    T.ok(text:find("TLS localhost: connected: TLSv1.3", 1, true), "the handshake's result", text)
    T.ok(text:find("TLS localhost: sent handshake 1,", 1, true), "each message (ClientHello)", text)
    T.ok(text:find("TLS localhost: sent alert: close notify", 1, true), "alerts", text)
    peer_result(out, 5, function()
      peer("echo", "server", nil, function(port2, out2)
        local g = io.open(script, "w")
        g:write(([[
tls.setDebug(0)
local s = tls.createConnection()
s:on("connection", function(c) c:close() end)
s:connect(%d, "localhost")
]]):format(port2))
        g:close()
        local q = io.popen(T.netmcu .. " " .. script .. " 2>&1")
        T.eq(q:read("*a"), "", "level 0 prints nothing")
        q:close()
        peer_result(out2, 5, function() done() end)
      end)
    end)
  end)
end)

T.test("cleanup: the test's servers are gone", function(done)
  for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
  T.ok(true, "stopped " .. #pids .. " server processes")
  done()
end)

T.run()
