-- tests/http/client.lua - the http module, run by tests/http.sh
-- against tests/http/server.py (NM_HTTP_PORTS) with the test CA
-- (NM_HTTP_CA).  ESP8266 forms first, then the ESP32 forms and connection
-- objects, then TLS, then the ESP8266 60 s timeout started at the beginning.
local T = dofile("tests/lib/t.lua")

local ports = {}
for k, v in (os.getenv("NM_HTTP_PORTS") or ""):gmatch("(%w+)=(%d+)") do ports[k] = tonumber(v) end
local function U(path, host) return ("http://%s:%d%s"):format(host or "127.0.0.1", ports.http, path) end
local function S(name, path, host) return ("https://%s:%d%s"):format(host or "localhost", ports[name], path) end
local f = io.open(os.getenv("NM_HTTP_CA") or "")
local CA = f and f:read("*a")
if f then f:close() end

local function now() return tmr.now() / 1e6 end
-- A port nothing listens on: bound and closed again.
local function closed_port()
  local s = net.createServer()
  s:listen(0, "127.0.0.1", function() end)
  local p = s:getaddr()
  s:close()
  return p
end
-- The request lines the server saw (/echo), as a table name -> value.
local function parse_echo(body)
  local head = body:match("^(.-)\n\n") or ""
  local first = head:match("^[^\n]*")
  local h = {}
  for k, v in head:gmatch("\n([^:\n]+): ([^\n]*)") do h[k:lower()] = v end
  return first, h, body:match("\n\n(.*)$")
end

-- ---- the ESP8266's 60 s timeout, running beside everything else ----
local slow = {}
T.test("ESP8266 timeout: a request to a silent server starts", function(done)
  slow.t0 = now()
  http.get(U("/slow?ms=80000"), nil, function(code, body, headers)
    slow.code, slow.body, slow.headers, slow.t = code, body, headers, now() - slow.t0
  end)
  done()
end, nil, 1) -- the request, finished by the last test

-- ---- ESP8266 forms ----
T.test("constants", function(done)
  T.eq(http.OK, 0, "http.OK")
  T.eq(http.ERROR, -1, "http.ERROR")
  T.eq(http.GET, 0, "http.GET")
  T.eq(http.POST, 1, "http.POST")
  T.eq(http.PUT, 2, "http.PUT")
  T.eq(http.DELETE, 4, "http.DELETE")
  T.eq(http.HEAD, 5, "http.HEAD")
  T.eq(http.DELAYACK, -99, "http.DELAYACK")
  T.eq(require("http"), http, "require 'http' is the global")
  done()
end)

T.test("get: 200 with body and lower-cased headers, callback never synchronous", function(done)
  local called = false
  http.get(U("/hello"), nil, function(code, body, headers)
    called = true
    T.eq(code, 200, "status")
    T.eq(body, "hello world", "body")
    T.eq(headers["content-type"], "text/plain", "header names lower-cased")
    T.eq(headers["x-dup"], "last", "the last of two same-named headers wins")
    T.eq(headers["x-spaced"], "value", "leading spaces of a value skipped")
    T.eq(headers["content-length"], "11", "content-length as a string")
    done()
  end)
  T.ok(not called, "nothing called inside http.get")
end)

T.test("get: 404 is a status, not a failure", function(done)
  http.get(U("/nothere"), "", function(code, body, headers)
    T.eq(code, 404, "status 404")
    T.ok(body:find("no such page", 1, true), "the server's body")
    T.eq(type(headers), "table", "headers")
    done()
  end)
end)

T.test("request headers: the firmware's defaults, the script's additions", function(done)
  http.get(U("/echo"), "X-One: 1\r\nX-Two:  two\r\nConnection: keep-alive\r\n", function(code, body)
    local first, h = parse_echo(body)
    T.eq(first, "GET /echo", "method and path")
    T.eq(h["user-agent"], "ESP8266", "User-Agent ESP8266")
    T.eq(h["connection"], "close", "Connection: close, not overridable")
    T.eq(h["host"], "127.0.0.1:" .. ports.http, "Host with the port")
    T.eq(h["x-one"], "1", "custom header")
    T.eq(h["x-two"], "two", "custom header, value trimmed")
    T.eq(h["accept"], nil, "no Accept (the firmware sends none)")
    T.eq(h["content-length"], nil, "no Content-Length without a body")
    done()
  end)
end)

T.test("request headers: User-Agent and Host from the script replace the defaults", function(done)
  http.get(U("/echo"), "User-Agent: mine\r\nHost: example.test\r\n", function(code, body)
    local _, h = parse_echo(body)
    T.eq(h["user-agent"], "mine", "User-Agent")
    T.eq(h["host"], "example.test", "Host")
    done()
  end)
end)

T.test("post, put, delete, request: method, body, Content-Length", function(done)
  local left = 5
  local function one(name, want_first, want_body, want_cl, want_ct)
    return function(code, body)
      local first, h, b = parse_echo(body)
      T.eq(code, 200, name .. " status")
      T.eq(first, want_first, name .. " request line")
      T.eq(b, want_body, name .. " body arrived")
      T.eq(h["content-length"], want_cl, name .. " Content-Length")
      T.eq(h["content-type"], want_ct, name .. " Content-Type only if given")
      left = left - 1
      if left == 0 then done() end
    end
  end
  http.post(U("/echo"), "Content-Type: application/json\r\n", '{"a":1}',
    one("post", "POST /echo", '{"a":1}', "7", "application/json"))
  http.put(U("/echo"), nil, "put body", one("put", "PUT /echo", "put body", "8"))
  http.delete(U("/echo"), nil, "", one("delete with an empty body", "DELETE /echo", "", "0"))
  http.request(U("/echo?x=1"), "PATCH", "", "p", one("request", "PATCH /echo?x=1", "p", "1"))
  http.request(U("/echo"), "OPTIONS", nil, nil, one("request without body", "OPTIONS /echo", "", nil))
end)

T.test("request HEAD: no body is awaited", function(done)
  http.request(U("/hello"), "HEAD", nil, nil, function(code, body, headers)
    T.eq(code, 200, "status")
    T.eq(body, "", "empty body")
    T.eq(headers["content-length"], "11", "headers of the GET")
    done()
  end)
end)

T.test("redirects 301/302/303/307/308 are followed with the same method and body", function(done)
  local codes, left = {301, 302, 303, 307, 308}, 5
  for _, c in ipairs(codes) do
    http.post(U("/redirect/" .. c .. "?to=/echo"), "X-Keep: yes\r\n", "payload", function(code, body)
      local first, h, b = parse_echo(body or "")
      T.eq(code, 200, c .. ": followed")
      T.eq(first, "POST /echo", c .. ": method kept")
      T.eq(b, "payload", c .. ": body sent again")
      T.eq(h["x-keep"], "yes", c .. ": headers sent again")
      left = left - 1
      if left == 0 then done() end
    end)
  end
end)

T.test("redirects: to another port by absolute URL, by relative path, to a name", function(done)
  local left = 3
  local function fin() left = left - 1; if left == 0 then done() end end
  http.get(U("/redirect/302?to=" .. U("/hello", "localhost")), nil, function(code, body)
    T.eq(code, 200, "absolute URL"); T.eq(body, "hello world", "its body"); fin()
  end)
  http.get(U("/rel/a/b"), nil, function(code, body)
    T.eq(code, 200, "relative Location"); T.eq(body, "relative ok /rel/a/hello", "resolved against the path"); fin()
  end)
  http.get(U("/redirect/301?to=ftp://example.test/"), nil, function(code, body, headers)
    T.eq(code, -1, "a Location that is not http(s): -1"); T.eq(body, nil, "no body"); T.eq(headers, nil, "no headers")
    fin()
  end)
end)

T.test("redirects: 20 are followed, the 21st fails; a loop fails", function(done)
  local left = 3
  local function fin() left = left - 1; if left == 0 then done() end end
  http.get(U("/chain/20"), nil, function(code, body) T.eq(code, 200, "20 redirects"); T.eq(body, "done", "body"); fin() end)
  http.get(U("/chain/21"), nil, function(code, body) T.eq(code, -1, "21 redirects: -1"); T.eq(body, nil, "nil body"); fin() end)
  http.get(U("/loop"), nil, function(code) T.eq(code, -1, "redirect loop: -1"); fin() end)
end)

T.test("chunked body is decoded", function(done)
  http.get(U("/chunked"), nil, function(code, body, headers)
    T.eq(code, 200, "status")
    T.eq(body, "chunk one, chunk two," .. string.rep("x", 5000) .. " end", "decoded body")
    T.eq(headers["transfer-encoding"], "chunked", "header kept")
    done()
  end)
end)

T.test("body limit: the firmware's 8 KiB response buffer", function(done)
  local left = 2
  http.get(U("/big?n=7000"), nil, function(code, body)
    T.eq(code, 200, "7000 bytes fit"); T.eq(#body, 7000, "whole body")
    left = left - 1; if left == 0 then done() end
  end)
  http.get(U("/big?n=9000"), nil, function(code, body)
    T.eq(code, -1, "9000 bytes: -1 as on the device"); T.eq(body, nil, "no body")
    left = left - 1; if left == 0 then done() end
  end)
end)

T.test("failures are -1, nil, nil: refused, dropped mid-body, hang-up, garbage, bad URLs, DNS", function(done)
  local cases = {
    {"connection refused", "http://127.0.0.1:" .. closed_port() .. "/"},
    {"dropped mid-body", U("/drop")},
    {"closed before a response", U("/hangup")},
    {"not HTTP", U("/garbage")},
    {"name that does not resolve", ("http://no-such-host.invalid:%d/"):format(ports.http)},
    {"scheme not http", "ftp://127.0.0.1/"},
    {"port 0", "http://127.0.0.1:0/"},
    {"port out of range", "http://127.0.0.1:70000/"},
    {"host of 128 characters", "http://" .. string.rep("a", 128) .. "/"},
    {"space in the path", U("/a b")},
    {"user info", "http://user:pw@127.0.0.1/"},
    {"empty", ""},
  }
  local left = #cases
  local sync = true
  for _, c in ipairs(cases) do
    http.get(c[2], nil, function(code, body, headers)
      T.ok(not sync, c[1] .. ": not synchronous")
      T.eq(code, -1, c[1] .. ": -1")
      T.ok(body == nil and headers == nil, c[1] .. ": nil body and headers")
      left = left - 1
      if left == 0 then done() end
    end)
  end
  sync = false
end)

T.test("a bad method or header line never reaches the server", function(done)
  local left = 3
  http.request(U("/echo"), "GET\0junk", nil, nil, function(code)
    T.eq(code, -1, "method with a NUL: -1"); left = left - 1; if left == 0 then done() end
  end)
  http.request(U("/echo"), "GET /x HTTP/1.1\r\nX:", nil, nil, function(code)
    T.eq(code, -1, "method with spaces and CRLF: -1"); left = left - 1; if left == 0 then done() end
  end)
  http.get(U("/echo"), "Bad Name: x\r\nGood: y\r\n\0Z: z\r\n", function(code, body)
    local _, h = parse_echo(body)
    T.eq(h["good"], "y", "the valid line is sent")
    T.eq(h["bad name"], nil, "a name with a space is left out")
    left = left - 1; if left == 0 then done() end
  end)
end)

T.test("many requests in flight at once, each with its own callback", function(done)
  local n, left, bad = 100, 100, 0
  for i = 1, n do
    http.get(U("/echo?i=" .. i), nil, function(code, body)
      if code ~= 200 or not body:find("GET /echo?i=" .. i .. "\n", 1, true) then bad = bad + 1 end
      left = left - 1
      if left == 0 then
        T.eq(bad, 0, n .. " parallel requests answered to the right callback")
        done()
      end
    end)
  end
end, 60)

T.test("a callback that starts the next request (50 in a chain), without callback too", function(done)
  local i = 0
  local function nexti(code)
    if code ~= nil and code ~= 200 then T.ok(false, "chain broke at " .. i .. " with " .. code); return done() end
    i = i + 1
    if i > 50 then T.ok(true, "50 chained requests"); return done() end
    http.get(U("/hello"), nil, nexti)
    if i % 10 == 0 then http.get(U("/hello"), nil) end -- no callback: allowed
  end
  nexti()
end, 60)

T.test("a callback error goes to node.setonerror, the next requests still work", function(done)
  local seen
  node.setonerror(function(msg) seen = msg end)
  http.get(U("/hello"), nil, function() error("boom in http callback") end)
  http.get(U("/hello"), nil, function()
    tmr.create():alarm(50, tmr.ALARM_SINGLE, function()
      node.setonerror()
      T.ok(seen and seen:find("boom in http callback", 1, true), "error reported", seen)
      http.get(U("/hello"), nil, function(code) T.eq(code, 200, "next request fine"); done() end)
    end)
  end)
end)

T.test("argument errors", function(done)
  T.raises(function() http.get() end, "string expected", "get without URL")
  T.raises(function() http.request(U("/")) end, "string expected", "request without method")
  T.raises(function() http.get(U("/"), true) end, "options must be nil or a table", "get(url, true)")
  T.raises(function() http.post(U("/"), {}, nil, print) end, "string expected", "ESP32 post without body")
  T.raises(function() http.get(U("/"), {}, 5) end, "callback must be nil or a function", "bad callback")
  T.raises(function() http.get("gopher://x/", {}, print) end, "invalid URL", "ESP32 form: bad URL raises")
  done()
end)

-- ---- ESP32 one-shot forms ----
T.test("ESP32 get(url, fn), get(url, opts, fn): own defaults", function(done)
  local left = 2
  http.get(U("/echo"), function(code, body, headers)
    local _, h = parse_echo(body)
    T.eq(code, 200, "status")
    T.eq(h["user-agent"], "NodeMCU (ESP32)", "ESP32 User-Agent")
    T.eq(h["connection"], "close", "one-shots close")
    T.eq(type(headers), "table", "headers")
    left = left - 1; if left == 0 then done() end
  end)
  http.get(U("/echo"), {headers = {["X-Opt"] = "o", Connection = "keep-alive"}}, function(code, body)
    local _, h = parse_echo(body)
    T.eq(h["x-opt"], "o", "options.headers")
    T.eq(h["connection"], "close", "Connection: close regardless of options")
    left = left - 1; if left == 0 then done() end
  end)
end)

T.test("ESP32 post/put(url, opts, body, fn): form Content-Type by default", function(done)
  local left = 3
  http.post(U("/echo"), nil, "a=1", function(code, body)
    local _, h = parse_echo(body)
    T.eq(h["user-agent"], "ESP8266", "nil options before a callback: the ESP8266 form")
    T.eq(h["content-type"], nil, "(which sends no Content-Type)")
    left = left - 1; if left == 0 then done() end
  end)
  http.post(U("/echo"), {}, "a=1", function(code, body)
    local first, h, b = parse_echo(body)
    T.eq(first, "POST /echo", "POST"); T.eq(b, "a=1", "body")
    T.eq(h["content-type"], "application/x-www-form-urlencoded", "default Content-Type")
    T.eq(h["user-agent"], "NodeMCU (ESP32)", "an options table: the ESP32 form")
    left = left - 1; if left == 0 then done() end
  end)
  http.put(U("/echo"), {headers = {["Content-Type"] = "text/plain"}}, "t", function(code, body)
    local first, h = parse_echo(body)
    T.eq(first, "PUT /echo", "PUT"); T.eq(h["content-type"], "text/plain", "Content-Type from options")
    left = left - 1; if left == 0 then done() end
  end)
end)

T.test("ESP32 synchronous get/post return code, body, headers", function(done)
  local code, body, headers = http.get(U("/hello"))
  T.eq(code, 200, "sync get status"); T.eq(body, "hello world", "sync get body")
  T.eq(headers["content-type"], "text/plain", "sync get headers")
  code, body = http.post(U("/echo"), {}, "s=1")
  T.eq(code, 200, "sync post"); T.eq(select(3, parse_echo(body)), "s=1", "sync post body")
  code, body, headers = http.get("http://127.0.0.1:" .. closed_port() .. "/", {timeout = 2000})
  T.eq(code, -0x7002, "sync refused: ESP_ERR_HTTP_CONNECT negated"); T.eq(body, "", "empty body"); T.eq(headers, nil, "no headers")
  done()
end)

T.test("ESP32 error codes: connect, fetch header, max redirects, body failure", function(done)
  local left = 5
  local function fin() left = left - 1; if left == 0 then done() end end
  http.get("http://127.0.0.1:" .. closed_port() .. "/", function(code) T.eq(code, -0x7002, "refused: -28674"); fin() end)
  http.get(U("/garbage"), function(code) T.eq(code, -0x7004, "garbage: -28676"); fin() end)
  http.get(U("/chain/11"), function(code) T.eq(code, -0x7001, "11 redirects > 10: -28673"); fin() end)
  http.get(U("/chain/3"), {max_redirects = 2}, function(code) T.eq(code, -0x7001, "max_redirects = 2"); fin() end)
  http.get(U("/drop"), function(code, body) T.eq(code, -1, "dropped mid-body: -1"); T.eq(body, "", "no body"); fin() end)
end)

T.test("ESP32 max_redirects = 0 returns the 3xx itself; 10 are followed", function(done)
  local left = 2
  http.get(U("/redirect/302?to=/hello"), {max_redirects = 0}, function(code, body, headers)
    T.eq(code, 302, "3xx delivered"); T.eq(headers.location, "/hello", "its Location")
    left = left - 1; if left == 0 then done() end
  end)
  http.get(U("/chain/10"), function(code, body) T.eq(code, 200, "10 redirects followed"); T.eq(body, "done", "body")
    left = left - 1; if left == 0 then done() end
  end)
end)

T.test("ESP32 timeout: no answer within options.timeout", function(done)
  local t0 = now()
  http.get(U("/slow?ms=5000"), {timeout = 400}, function(code)
    local dt = now() - t0
    T.eq(code, -0x7004, "no headers in time: -28676")
    T.ok(dt >= 0.35 and dt < 2.5, "after about 0.4 s", dt)
    local t1 = now()
    http.get(U("/stall?ms=5000"), {timeout = 400}, function(code2)
      local dt2 = now() - t1
      T.eq(code2, -1, "data stops mid-body: -1")
      T.ok(dt2 >= 0.35 and dt2 < 2.5, "after about 0.4 s", dt2)
      done()
    end)
  end)
end)

T.test("ESP32 one-shot: large body", function(done)
  http.get(U("/big?n=300000"), function(code, body)
    T.eq(code, 200, "status"); T.eq(#body, 300000, "300000 bytes")
    T.eq(body:sub(1, 20), "0123456789abcdef0123", "content")
    done()
  end)
end)

T.test("ESP32 options errors", function(done)
  T.raises(function() http.get(U("/"), {timeout = "x"}, print) end, "bad option timeout", "timeout type")
  T.raises(function() http.get(U("/"), {timeout = 1.5}, print) end, "bad option timeout", "timeout 1.5")
  T.raises(function() http.get(U("/"), {timeout = 0}, print) end, "bad option timeout", "timeout 0")
  T.raises(function() http.get(U("/"), {max_redirects = -1}, print) end, "bad option max_redirects", "negative redirects")
  T.raises(function() http.get(U("/"), {cert = 1}, print) end, "bad option cert", "cert type")
  T.raises(function() http.get(U("/"), {headers = "x"}, print) end, "bad option headers", "headers type")
  T.raises(function() http.get(U("/"), {headers = {["A\r\nB"] = "x"}}, print) end, "invalid header", "header name with CRLF")
  T.raises(function() http.get(U("/"), {headers = {A = "x\r\nB: y"}}, print) end, "invalid header", "header value with CRLF")
  T.raises(function() http.get(U("/"), {async = 1}, print) end, "bad option async", "async type")
  done()
end)

-- ---- ESP32 connection objects ----
local function conn_events(c, log)
  c:on("connect", function(...) log[#log + 1] = {"connect", select("#", ...)} end)
  c:on("headers", function(status, headers) log[#log + 1] = {"headers", status, headers} end)
  c:on("data", function(status, data) log[#log + 1] = {"data", status, data} end)
  return c
end

T.test("createConnection: connect, headers, data, complete in order (async)", function(done)
  local log = {}
  local c = http.createConnection(U("/chunked"), http.GET, {async = true})
  T.eq(conn_events(c, log), c, "on() returns the connection")
  c:on("complete", function(status, connected)
    T.eq(status, 200, "complete status")
    T.eq(connected, true, "keep-alive: still connected")
    T.eq(log[1][1], "connect", "connect first"); T.eq(log[1][2], 0, "connect has no arguments")
    T.eq(log[2][1], "headers", "then headers"); T.eq(log[2][2], 200, "headers status")
    T.eq(log[2][3]["transfer-encoding"], "chunked", "headers table")
    local all = {}
    for i = 3, #log do T.eq(log[i][1], "data", "then data " .. i); all[#all + 1] = log[i][3] end
    T.eq(table.concat(all), "chunk one, chunk two," .. string.rep("x", 5000) .. " end", "data concatenated")
    c:close()
    done()
  end)
  T.eq(c:request(), nil, "async request returns nothing")
  T.eq(#log, 0, "nothing synchronous")
end)

T.test("createConnection: keep-alive reuse (no second connect), setmethod/setbody/setheader, close()", function(done)
  local events = {}
  local c = http.createConnection(U("/echo"), {async = true})
  local n = 0
  local body = ""
  c:on("connect", function() events[#events + 1] = "connect" end)
  c:on("data", function(_, d) body = body .. d end)
  c:on("complete", function(status, connected)
    n = n + 1
    events[#events + 1] = "complete"
    if n == 1 then
      local _, h1 = parse_echo(body)
      T.eq(h1["user-agent"], "NodeMCU (ESP32)", "a connection's default User-Agent")
      T.eq(h1["connection"], nil, "no Connection header: keep-alive")
      body = ""
      c:setmethod(http.PUT)
      c:setbody("x=1")
      c:setheader("X-B", "b")
      c:setheader("User-Agent", nil)
      c:setheader("X-Tag", "ka1")
      c:request()
    else
      local first, h, b = parse_echo(body)
      T.eq(table.concat(events, ","), "connect,complete,complete", "one connection for two requests")
      T.eq(first, "PUT /echo", "setmethod"); T.eq(b, "x=1", "setbody")
      T.eq(h["content-type"], "application/x-www-form-urlencoded", "setbody's Content-Type")
      T.eq(h["x-b"], "b", "setheader"); T.eq(h["user-agent"], nil, "setheader(name, nil) removed User-Agent")
      T.eq(connected, true, "still connected")
      http.get(U("/conns?tag=ka1"), nil, function(code, cnt)
        T.eq(cnt, "1", "the server has the kept connection open")
        c:close()
        local tries = 0
        local function check()
          http.get(U("/conns?tag=ka1"), nil, function(code2, cnt2)
            tries = tries + 1
            if cnt2 ~= "0" and tries < 50 then return tmr.create():alarm(20, tmr.ALARM_SINGLE, check) end
            T.eq(cnt2, "0", "after close() the server saw the connection end")
            done()
          end)
        end
        check()
      end)
    end
  end)
  c:request()
end)

T.test("createConnection: close() inside data aborts, complete(-1, false) follows", function(done)
  local got, completes = 0, 0
  local c = http.createConnection(U("/big?n=2000000"), http.GET, {async = true})
  c:on("data", function(status, d) got = got + #d; c:close() end)
  c:on("complete", function(status, connected)
    completes = completes + 1
    T.eq(status, -1, "aborted: -1"); T.eq(connected, false, "not connected")
    T.ok(got > 0 and got < 2000000, "stopped early", got)
    tmr.create():alarm(100, tmr.ALARM_SINGLE, function() T.eq(completes, 1, "complete once"); done() end)
  end)
  c:request()
end)

T.test("createConnection: DELAYACK holds the events until ack()", function(done)
  local got, calls, waiting = 0, 0, false
  local c = http.createConnection(U("/big?n=1000000"), {async = true})
  c:on("data", function(status, d)
    T.ok(not waiting, "no data while an ack is pending") -- (reported once per breach)
    calls = calls + 1
    got = got + #d
    if calls % 3 == 1 then
      waiting = true
      T.raises(function() c:ack() end, "from within the callback", "ack inside the callback")
      tmr.create():alarm(20, tmr.ALARM_SINGLE, function() waiting = false; c:ack() end)
      return http.DELAYACK
    end
  end)
  c:on("complete", function(status)
    T.eq(status, 200, "complete"); T.eq(got, 1000000, "every byte, in order of arrival")
    T.raises(function() c:ack() end, "No asynchronous callback pending", "ack with nothing pending")
    c:close()
    done()
  end)
  c:request()
end, 30)

T.test("createConnection: a large body streams with bounded memory", function(done)
  local got, max = 0, 0
  local c = http.createConnection(U("/big?n=20000000"), {async = true})
  c:on("data", function(_, d) got = got + #d; if #d > max then max = #d end end)
  c:on("complete", function(status)
    T.eq(status, 200, "status"); T.eq(got, 20000000, "20 MB delivered")
    T.ok(max <= 65536 + 16384, "no data chunk above the pause threshold", max)
    c:close()
    done()
  end)
  c:request()
end, 60)

T.test("createConnection synchronous (the default): callbacks inside request()", function(done)
  local log = {}
  local c = conn_events(http.createConnection(U("/hello")), log)
  c:on("complete", function(status, connected) log[#log + 1] = {"complete", status, connected} end)
  local status, connected = c:request()
  T.eq(status, 200, "returns the status"); T.eq(connected, true, "and connected")
  T.eq(log[1] and log[1][1], "connect", "connect ran inside request()")
  T.eq(log[3] and log[3][3], "hello world", "data ran inside request()")
  T.eq(log[#log][1], "complete", "complete last")
  c:on("data", function() error("sync boom") end)
  T.raises(function() c:request() end, "sync boom", "an error in a synchronous callback raises from request()")
  c:on("data", function() return http.DELAYACK end)
  T.raises(function() c:request() end, "synchronous callbacks", "DELAYACK in synchronous mode")
  c:on("data", nil)
  T.eq((c:request()), 200, "usable after the errors")
  c:close()
  done()
end)

T.test("createConnection: timeout option on a stalled stream", function(done)
  local c = http.createConnection(U("/stall?ms=5000"), {async = true, timeout = 300})
  local got = 0
  c:on("data", function(_, d) got = got + #d end)
  c:on("complete", function(status, connected)
    T.eq(status, -1, "stalled mid-body: -1"); T.eq(got, 10, "the 10 bytes that came"); T.eq(connected, false, "closed")
    done()
  end)
  c:request()
end)

T.test("createConnection: misuse", function(done)
  T.raises(function() http.createConnection(U("/"), 99) end, "Bad HTTP method 99", "bad method")
  T.raises(function() http.createConnection("nope://") end, "invalid URL", "bad URL")
  T.raises(function() http.createConnection(U("/"), {bufsz = "x"}) end, "bad option bufsz", "bad option")
  local c = http.createConnection(U("/slow?ms=300"), {async = true})
  T.raises(function() c:on("bogus", print) end, "invalid option", "unknown event")
  T.raises(function() c:on("data", 5) end, "invalid callback function", "not a function")
  T.raises(function() c:setheader("A B", "x") end, "invalid header", "bad header name")
  T.raises(function() c:setmethod(17) end, "Bad HTTP method 17", "setmethod out of range")
  T.raises(function() c:seturl("x") end, "invalid URL", "seturl bad")
  c:on("complete", function(status)
    T.eq(status, 200, "request unaffected by the refused calls")
    done()
  end)
  c:request()
  T.raises(function() c:seturl(U("/")) end, "while a request is active", "seturl while active")
  T.raises(function() c:request() end, "while a request is active", "request while active")
  T.raises(function() c:setbody("x") end, "while a request is active", "setbody while active")
  T.raises(function() http.createConnection():request() end, "invalid URL", "request without URL")
end)

T.test("a connection object is collected after complete, kept while active", function(done)
  local w
  do
    local c = http.createConnection(U("/slow?ms=200"), {async = true})
    c:on("complete", function(status)
      T.eq(status, 200, "completed though unreferenced")
      tmr.create():alarm(10, tmr.ALARM_SINGLE, function()
        T.ok(T.collected(w), "collected once complete")
        done()
      end)
    end)
    c:request()
    w = T.weak(c)
  end
  collectgarbage(); collectgarbage()
  T.ok(w[1] ~= nil, "not collected while the request runs")
end)

-- ---- TLS ----
if not (CA and ports.https) then
  T.test("https", function(done) T.skip("https", "no test CA or TLS server"); done() end)
else
  T.test("https without verification (the firmware's default): every certificate accepted", function(done)
    local left = 5
    local function fin() left = left - 1; if left == 0 then done() end end
    for _, name in ipairs({"https", "expired", "wrongname", "untrusted"}) do
      http.get(S(name, "/hello"), nil, function(code, body)
        T.eq(code, 200, name .. ": accepted unverified"); T.eq(body, "hello world", name .. ": body"); fin()
      end)
    end
    http.get(S("https", "/hello", "127.0.0.1"), function(code) T.eq(code, 200, "ESP32 form, by address"); fin() end)
  end)

  T.test("https with options.cert: only a valid chain and name pass", function(done)
    local cases = {
      {"https", "localhost", 200},
      {"https", "127.0.0.1", 200},
      {"expired", "localhost", -0x7002},
      {"wrongname", "localhost", -0x7002},
      {"untrusted", "localhost", -0x7002},
    }
    local left = #cases + 2
    local function fin() left = left - 1; if left == 0 then done() end end
    for _, c in ipairs(cases) do
      http.get(S(c[1], "/hello", c[2]), {cert = CA}, function(code)
        T.eq(code, c[3], c[1] .. " via " .. c[2] .. " with verification")
        fin()
      end)
    end
    http.get(S("https", "/hello"), {cert = "not a certificate"}, function(code)
      T.eq(code, -0x7002, "garbage CA: fails closed"); fin()
    end)
    http.get(S("https", "/hello"), {cert = ""}, function(code)
      T.eq(code, -0x7002, "empty CA: fails closed"); fin()
    end)
  end)

  T.test("https: redirect from http to https keeps verification; streaming over TLS", function(done)
    local left = 2
    local function fin() left = left - 1; if left == 0 then done() end end
    http.get(U("/redirect/302?to=" .. S("untrusted", "/hello")), {cert = CA}, function(code)
      T.eq(code, -0x7002, "redirect to an untrusted server fails with cert set"); fin()
    end)
    local got = 0
    local c = http.createConnection(S("https", "/big?n=1000000"), {async = true, cert = CA})
    c:on("data", function(_, d) got = got + #d end)
    c:on("complete", function(status) T.eq(status, 200, "TLS stream"); T.eq(got, 1000000, "1 MB"); c:close(); fin() end)
    c:request()
  end)
end

-- ---- the ESP8266 timeout started first ----
T.test("ESP8266 timeout: -1 after 60 s", function(done)
  local function check()
    if slow.code == nil then return tmr.create():alarm(200, tmr.ALARM_SINGLE, check) end
    T.eq(slow.code, -1, "-1")
    T.ok(slow.body == nil and slow.headers == nil, "nil body and headers")
    T.ok(slow.t >= 59 and slow.t < 70, "after 60 s", slow.t)
    done()
  end
  check()
end, 90)

T.run()
