-- examples/http_server.lua - a small HTTP server, written the way NodeMCU
-- users write them, run by netmcu on a host:
--   build/netmcu examples/http_server.lua [port]
-- Serves "/" (a page with a hit counter) and "/hello" (plain text), with
-- HTTP/1.1 keep-alive; anything else is a 404.
local port = tonumber(arg and arg[1]) or 8080
local hits = 0

local function page(path)
  if path == "/" then
    return "200 OK", "text/html",
      "<!DOCTYPE html><html><head><title>netmcu</title></head><body>" ..
      "<h1>Hello from netmcu</h1><p>NodeMCU's net module, on a host.</p>" ..
      "<p>Requests served: " .. hits .. "</p></body></html>\n"
  elseif path == "/hello" then
    return "200 OK", "text/plain", "hello\n"
  end
  return "404 Not Found", "text/plain", "not found: " .. path .. "\n"
end

local function on_connection(conn)
  local buf = ""
  conn:on("receive", function(sck, payload)
    buf = buf .. payload
    -- a client may pipeline several requests into one receive
    while true do
      local head_end = buf:find("\r\n\r\n", 1, true)
      if not head_end then return end
      local head = buf:sub(1, head_end + 3)
      buf = buf:sub(head_end + 4)
      local method, path, version = head:match("^(%u+) (%S+) HTTP/(%d%.%d)\r\n")
      if not method then
        sck:send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
          function(s) s:close() end)
        return
      end
      hits = hits + 1
      local status, ctype, body = page(path)
      local conn_hdr = head:lower():match("\r\nconnection:%s*([%w-]+)")
      local keep = (version == "1.1" and conn_hdr ~= "close") or conn_hdr == "keep-alive"
      local response = "HTTP/1.1 " .. status .. "\r\nContent-Type: " .. ctype ..
        "\r\nContent-Length: " .. #body ..
        (keep and "\r\n" or "\r\nConnection: close\r\n") .. "\r\n" ..
        (method == "HEAD" and "" or body)
      if keep then
        sck:send(response)
      else
        sck:send(response, function(s) s:close() end)
        return
      end
    end
  end)
end

local srv = net.createServer(net.TCP, 30)
if not pcall(srv.listen, srv, port, "127.0.0.1", on_connection) then
  srv:listen(0, "127.0.0.1", on_connection) -- port taken: let the OS choose
end
print(("netmcu demo: http://127.0.0.1:%d/"):format((srv:getaddr())))
