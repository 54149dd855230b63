-- http_req.lua - the HTTP/1.1 request handling shared by every Lua server
-- (netmcu, luv, copas), so that they do exactly the same Lua work and only
-- the networking glue differs.  Minimal but correct: a request ends at the
-- first "\r\n\r\n" (no bodies: GET/HEAD), several may arrive in one read
-- (pipelining), keep-alive unless "Connection: close" (or HTTP/1.0 without
-- "Connection: keep-alive").
local find, sub, match, lower = string.find, string.sub, string.match, string.lower

local KEEP = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"
local CLOSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n" ..
  "Connection: close\r\n\r\nhello\n"
local BAD = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
local CONN = "\r\n[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]:[ \t]*([%w-]+)"

-- Answers every complete request at the start of buf with send(sock, response,
-- close).  Returns the bytes not parsed yet, or nil after a response that
-- closes the connection.
return function(buf, send, sock)
  while true do
    local e = find(buf, "\r\n\r\n", 1, true)
    if not e then return buf end
    local ver = match(buf, "^%u+ %S+ HTTP/1%.(%d)\r\n")
    if not ver then
      send(sock, BAD, true)
      return nil
    end
    local head = buf
    if e + 3 == #buf then buf = "" else head, buf = sub(buf, 1, e + 3), sub(buf, e + 4) end
    local conn = match(head, CONN)
    conn = conn and lower(conn)
    if (ver == "1" and conn ~= "close") or conn == "keep-alive" then
      send(sock, KEEP, false)
    else
      send(sock, CLOSE, true)
      return nil
    end
  end
end
