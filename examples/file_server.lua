-- examples/file_server.lua - an HTTP file server as a NodeMCU user writes
-- one: GET serves files from a directory in pieces chained by the `sent`
-- callback (a big file never sits in memory whole), PUT/POST stores the
-- body, which arrives over any number of `receive` events.
--   build/netmcu examples/file_server.lua [dir] [port]
-- (The firmware reads files with its `file` module; on a host, io.open.)
local root = arg and arg[1] or "."
local port = tonumber(arg and arg[2]) or 8081
local CHUNK = 4096

local function respond(sck, status, body, extra)
  sck:send("HTTP/1.1 " .. status .. "\r\nContent-Length: " .. #body ..
    "\r\nConnection: close\r\n" .. (extra or "") .. "\r\n" .. body,
    function(s) s:close() end)
end

-- Streams a file: each `sent` callback sends the next piece.
local function send_file(sck, f, size)
  sck:send("HTTP/1.1 200 OK\r\nContent-Length: " .. size ..
    "\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
    function(s)
      local piece = f:read(CHUNK)
      if piece then
        s:send(piece) -- the same callback runs again when it is out
      else
        f:close()
        s:close()
      end
    end)
end

local function safe_path(path)
  local name = path:match("^/([%w%._%-]+)$")
  if name and not name:find("^%.") then return root .. "/" .. name end
end

local function handle(sck, method, path, body)
  local file = safe_path(path)
  if not file then return respond(sck, "400 Bad Request", "bad path\n") end
  if method == "GET" then
    local f = io.open(file, "rb")
    if not f then return respond(sck, "404 Not Found", "no such file\n") end
    local size = f:seek("end")
    f:seek("set")
    send_file(sck, f, size)
  elseif method == "PUT" or method == "POST" then
    local f = assert(io.open(file, "wb"))
    f:write(body)
    f:close()
    respond(sck, "201 Created", ("stored %d bytes\n"):format(#body))
  else
    respond(sck, "405 Method Not Allowed", "GET, PUT or POST\n")
  end
end

local srv = net.createServer(net.TCP, 30)
srv:listen(port, "127.0.0.1", function(conn)
  local buf, method, path, need = {}, nil, nil, nil
  local have = 0
  conn:on("receive", function(sck, data)
    buf[#buf + 1] = data
    have = have + #data
    if not method then
      local all = table.concat(buf)
      local head_end = all:find("\r\n\r\n", 1, true)
      if not head_end then return end -- headers not complete yet
      method, path = all:match("^(%u+) (%S+) HTTP/1%.%d\r\n")
      need = tonumber(all:sub(1, head_end):lower():match("\r\ncontent%-length:%s*(%d+)")) or 0
      buf, have = {all:sub(head_end + 4)}, #all - head_end - 3
      if not method then return respond(sck, "400 Bad Request", "bad request\n") end
    end
    if have >= need then -- the whole body is in (it may take many receives)
      local body = table.concat(buf):sub(1, need)
      conn:on("receive", nil)
      handle(sck, method, path, body)
    end
  end)
end)
print(("file server for %s on http://127.0.0.1:%d/"):format(root, (srv:getaddr())))
