-- httpd.lua: a small HTTP/1.0-style server module for net.createServer.
-- Collects a whole request (headers, then Content-Length bytes of body),
-- hands it to a handler, and sends answers or flash files in chunks, one
-- send() after the other's "sent", as the firmware's send queue wants.
local M = {}

local reasons = {[200] = "OK", [400] = "Bad Request", [404] = "Not Found",
                 [405] = "Method Not Allowed", [413] = "Payload Too Large"}
local types = {html = "text/html", css = "text/css", js = "application/javascript",
               json = "application/json", txt = "text/plain"}

local function send_all(sck, parts)
  local function nxt(s)
    local p = table.remove(parts, 1)
    if p then s:send(p) else s:close() end
  end
  sck:on("sent", nxt)
  nxt(sck)
end

function M.reply(sck, code, body, ctype)
  body = body or ""
  send_all(sck, {
    string.format("HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
      code, reasons[code] or "", ctype or "text/plain", #body),
    body ~= "" and body or nil,
  })
end

function M.json(sck, code, t)
  M.reply(sck, code, sjson.encode(t), "application/json")
end

-- A flash file, 512 bytes per send.
function M.file(sck, name)
  local f = file.open(name, "r")
  if not f then return M.reply(sck, 404, "not found\n") end
  local size = file.stat(name).size
  local ext = name:match("%.(%w+)$") or "txt"
  sck:on("sent", function(s)
    local chunk = f:read(512)
    if chunk then s:send(chunk) else f:close() f = nil s:close() end
  end)
  sck:on("disconnection", function() if f then f:close() f = nil end end)
  sck:send(string.format("HTTP/1.0 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
    types[ext] or "application/octet-stream", size))
end

local function parse(buf)
  local head_end = buf:find("\r\n\r\n", 1, true)
  if not head_end then return nil end
  local method, path, query = buf:match("^(%u+) ([^%s?]+)%??(%S*) HTTP/1%.%d\r\n")
  if not method then return false end
  local len = tonumber(buf:sub(1, head_end):lower():match("\r\ncontent%-length: *(%d+)")) or 0
  if #buf < head_end + 3 + len then return nil end
  local args = {}
  for k, v in query:gmatch("([^&=]+)=([^&]*)") do args[k] = v end
  return {method = method, path = path, args = args, body = buf:sub(head_end + 4, head_end + 3 + len)}
end

function M.start(port, ip, handler)
  local srv = net.createServer(net.TCP, 10)
  srv:listen(port, ip, function(conn)
    local buf = ""
    conn:on("receive", function(sck, data)
      buf = buf .. data
      if #buf > 4096 then buf = "" return M.reply(sck, 413, "too large\n") end
      local req = parse(buf)
      if req == nil then return end
      buf = ""
      if req == false then return M.reply(sck, 400, "bad request\n") end
      handler(sck, req)
    end)
  end)
  return srv
end

return M
