-- http_client.lua - the HTTP client benchmark, as a NodeMCU script:
--   netmcu http_client.lua IMPL PORT TOTAL INFLIGHT
-- IMPL "curl": netmcu's http.get (libcurl in the loop); "lua": a minimal
-- HTTP/1.1 client written here in Lua on net.createConnection, the other
-- way the module could have been built.  Each does TOTAL GETs of
-- http://127.0.0.1:PORT/ with INFLIGHT of them at a time (1: one after
-- another), each on its own connection (Connection: close, as the ESP8266
-- module), and prints one line:
--   IMPL TOTAL INFLIGHT seconds req/s cpu_us_per_request failures
local impl, port, total, inflight = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local url = "http://127.0.0.1:" .. port .. "/"

-- The Lua client: what a script would write without the http module —
-- URL split, one request, the response read until the server closes,
-- status, lower-cased headers, body (Content-Length or until close).
local find, sub, lower, match = string.find, string.sub, string.lower, string.match
local function lua_get(u, headers, cb)
  local host, p, path = match(u, "^http://([^:/]+):?(%d*)(.*)$")
  p = tonumber(p) or 80
  if path == "" then path = "/" end
  local parts, conn = {}, net.createConnection(net.TCP, 0)
  local finished = false
  local function finish(code, body, hdrs)
    if finished then return end
    finished = true
    cb(code, body, hdrs)
  end
  conn:on("connection", function(s)
    s:send("GET " .. path .. " HTTP/1.1\r\nHost: " .. host .. ":" .. p ..
      "\r\nConnection: close\r\nUser-Agent: ESP8266\r\n" .. (headers or "") .. "\r\n")
  end)
  conn:on("receive", function(_, d) parts[#parts + 1] = d end)
  conn:on("disconnection", function(_, err)
    local resp = table.concat(parts)
    local e = find(resp, "\r\n\r\n", 1, true)
    local code = tonumber(match(resp, "^HTTP/1%.[01] (%d+)"))
    if err ~= 0 or not e or not code then return finish(-1) end
    local hdrs = {}
    for k, v in sub(resp, 1, e):gmatch("\n([^:\r\n]+): *([^\r\n]*)") do hdrs[lower(k)] = v end
    local body = sub(resp, e + 4)
    local len = tonumber(hdrs["content-length"])
    if len and #body < len then return finish(-1) end
    finish(code, len and sub(body, 1, len) or body, hdrs)
  end)
  conn:on("reconnection", function() finish(-1) end)
  conn:connect(p, host)
end

local get = impl == "lua" and lua_get or http.get

local function cpu_ns()
  local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
  local f = io.popen("cat /proc/" .. pid .. "/task/*/schedstat")
  local t = 0
  for line in f:lines() do t = t + tonumber(line:match("^(%d+)")) end
  f:close()
  return t
end

local started, finished, failures = 0, 0, 0
local c0, t0 = cpu_ns(), node.uptime()
local function one()
  started = started + 1
  get(url, nil, function(code, body)
    if code ~= 200 or body ~= "hello\n" then failures = failures + 1 end
    finished = finished + 1
    if started < total then
      one()
    elseif finished == total then
      local secs = (node.uptime() - t0) / 1e6
      local cpu = (cpu_ns() - c0) / total / 1e3
      print(("%s %d %d %.3f %.0f %.1f %d"):format(impl, total, inflight, secs, total / secs, cpu, failures))
    end
  end)
end
for _ = 1, inflight do one() end
