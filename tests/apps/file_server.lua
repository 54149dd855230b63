-- A web server for the files of the flash: GET /name sends the file, read
-- with file objects 1 kB at a time from the 'sent' callback; "/" is
-- index.html; anything that does not open is a 404.
local port = tonumber((...)) or 80
local types = {html = "text/html", css = "text/css", js = "application/javascript"}
local srv = net.createServer(net.TCP, 30)
srv:listen(port, "127.0.0.1", function(conn)
  conn:on("receive", function(sck, req)
    local name = req:match("^GET /(%S*) HTTP")
    if name == "" then name = "index.html" end
    local ok, fd = pcall(file.open, name or "", "r")
    if not ok or not fd then
      sck:send("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 9\r\n\r\nnot found",
        function(s) s:close() end)
      return
    end
    local size = file.stat(name).size
    local ext = name:match("%.(%w+)$")
    sck:on("sent", function(s)
      local chunk = fd:read(1024)
      if chunk then
        s:send(chunk)
      else
        fd:close()
        s:close()
      end
    end)
    sck:send(("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n")
      :format(types[ext] or "application/octet-stream", size))
  end)
end)
print("ready " .. srv:getaddr())
