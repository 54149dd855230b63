-- examples/line_server.lua - a telnet-style line service: each client gets
-- a prompt; commands end with a newline and may arrive in any pieces.
--   build/netmcu examples/line_server.lua [port]     then: nc 127.0.0.1 PORT
-- Commands: echo TEXT | say TEXT (to every other client) | who | uptime | quit
local port = tonumber(arg and arg[1]) or 2323
local clients = {} -- socket -> name

local function count()
  local n = 0
  for _ in pairs(clients) do n = n + 1 end
  return n
end

local commands = {
  echo = function(sck, text) sck:send(text .. "\n") end,
  say = function(sck, text)
    for other in pairs(clients) do
      if other ~= sck then other:send(clients[sck] .. ": " .. text .. "\n") end
    end
    sck:send("said to " .. (count() - 1) .. "\n")
  end,
  who = function(sck) sck:send(count() .. " connected\n") end,
  uptime = function(sck) sck:send(tmr.time() .. " s\n") end,
  quit = function(sck)
    clients[sck] = nil
    sck:send("bye\n", function(s) s:close() end)
    return true
  end,
}

local srv = net.createServer(net.TCP, 300)
srv:listen(port, "127.0.0.1", function(conn)
  local pending = ""
  local p, ip = conn:getpeer()
  clients[conn] = ip .. ":" .. p
  conn:on("receive", function(sck, data)
    pending = pending .. data
    for line in pending:gmatch("([^\n]*)\n") do
      local cmd, rest = line:gsub("\r$", ""):match("^(%S*)%s*(.-)$")
      local fn = commands[cmd]
      if fn then
        if fn(sck, rest) then return end -- quit: no prompt after it
      elseif cmd ~= "" then
        sck:send("unknown command: " .. cmd .. "\n")
      end
      sck:send("> ")
    end
    pending = pending:match("[^\n]*$")
  end)
  conn:on("disconnection", function(sck) clients[sck] = nil end)
  conn:send("welcome, " .. clients[conn] .. "\n> ")
end)
print(("line server on 127.0.0.1:%d"):format((srv:getaddr())))
