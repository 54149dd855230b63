-- tests/fuzz/nul.lua - the fuzzer's NUL-embedded addresses (issue 18 item
-- 9): every call that takes an address, host name, URL or interface name
-- must refuse one with an embedded NUL, never use its prefix.  A call that
-- accepts one is a finding (note_bad), not only a count.
return function(h)
  local R, pick, call, note_bad = h.R, h.pick, h.call, h.note_bad
  local function nul()
    return pick({"127.0.0.1", "localhost", "224.0.0.251", "lo", "0.0.0.0", ""}) .. "\0" ..
           pick({"", "x", "garbage", "\0", "127.0.0.1"})
  end
  local port = function() return h.closed_port() or 9 end
  -- each must raise for a NUL address a
  local raising = {
    {"srv.listen", function(a) return net.createServer():listen(0, a, function() end) end},
    {"tcp.connect", function(a) return net.createConnection():connect(port(), a) end},
    {"tls.connect", function(a) return tls.createConnection():connect(port(), a) end},
    {"udp.listen", function(a) return net.createUDPSocket():listen(0, a) end},
    {"udp.send", function(a) return net.createUDPSocket():send(port(), a, "x") end},
    {"net.dns.setdnsserver", function(a) return net.dns.setdnsserver(a, R(2) - 1) end},
    {"net.multicastJoin(if)", function(a) return net.multicastJoin(a, "224.0.0.251") end},
    {"net.multicastJoin(group)", function(a) return net.multicastJoin("127.0.0.1", a) end},
    {"net.multicastLeave", function(a) return net.multicastLeave("127.0.0.1", a) end},
    {"mqtt.connect", function(a) return mqtt.Client("nul", 10):connect(a, port()) end},
    {"sntp.sync", function(a) return sntp.sync(a, function() end, function() end) end},
    {"sntp.sync{}", function(a) return sntp.sync({"127.0.0.1", a}, function() end, function() end) end},
  }
  local ops = {}
  for _, c in ipairs(raising) do
    ops[#ops + 1] = {"nul." .. c[1], function()
      local a = nul()
      if call("nul." .. c[1], c[2], a)[1] then note_bad(c[1] .. " accepted " .. ("%q"):format(a)) end
    end}
  end
  ops[#ops + 1] = {"nul.net.ifinfo", function()
    local a = pick({"lo\0", "lo\0x", "\0", "lo\0lo"})
    local r = call("nul.net.ifinfo", net.ifinfo, a)
    if r[1] and r[2] ~= nil then note_bad(("net.ifinfo(%q) found an interface"):format(a)) end
  end}
  -- lookups answer nil: a name with a NUL names nothing
  ops[#ops + 1] = {"nul.net.dns.resolve", function()
    local a = "localhost\0" .. pick({"", "x", "evil.invalid"})
    call("nul.net.dns.resolve", net.dns.resolve, a, function(_, ip)
      if ip ~= nil then note_bad(("net.dns.resolve(%q) answered %s"):format(a, tostring(ip))) end
    end)
  end}
  ops[#ops + 1] = {"nul.sock.dns", function()
    local a = "localhost\0" .. pick({"", "x"})
    call("nul.sock.dns", net.createUDPSocket().dns, net.createUDPSocket(), a, function(_, ip)
      if ip ~= nil then note_bad(("sock:dns(%q) answered %s"):format(a, tostring(ip))) end
    end)
  end}
  -- URLs: refused from the loop with the firmware's code
  ops[#ops + 1] = {"nul.ws.connect", function()
    local ws = websocket.createClient()
    ws:on("close", function(_, status)
      if status ~= -1 then note_bad("websocket URL with a NUL: close " .. tostring(status)) end
    end)
    call("nul.ws.connect", ws.connect, ws, "ws://" .. nul() .. "/")
  end}
  ops[#ops + 1] = {"nul.http.get", function()
    call("nul.http.get", http.get, "http://" .. nul() .. ":" .. port() .. "/", nil, function(code)
      if code ~= -1 then note_bad("http URL with a NUL: code " .. tostring(code)) end
    end)
  end}
  return ops
end
