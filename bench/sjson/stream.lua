-- bench/sjson/stream.lua - memory of decoding a 10 MB document, in a fresh
-- process per mode (run by bench/sjson.sh):
--   lua5.3 bench/sjson/stream.lua drop|keep|whole [MB] [CHUNK]
-- drop:  sjson.decoder fed CHUNK-byte pieces made one at a time (the text
--        is never whole), checkpath dropping every record: memory must stay
--        flat, whatever the document's size;
-- keep:  the same, keeping the result: memory grows by the result only;
-- whole: the text made whole, then sjson.decode: text + result.
-- Prints "mode bytes_of_text rss_growth_kib lua_live_kib": the growth of
-- the peak resident memory (VmHWM) over the resident memory before the
-- document, and the live Lua heap at the end (after a full collection).
local sjson = require "sjson"
local mode = arg[1] or "drop"
local total = (tonumber(arg[2]) or 10) * 1000 * 1000
local chunk = tonumber(arg[3]) or 4096

local function status(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s+(%d+)")
    if v then return tonumber(v) end
  end
end

local rec = '{"id":%d,"name":"sensor %d","vals":[%d,%d.5,-%d],"ok":true,"note":"\\u00e9\\n%s"},'
local n, made = 0, 0
local pending, pos = "", 1
-- The next piece of the document, chunk bytes long (nil at the end); made
-- 64 records at a time, so the generator itself makes little garbage.
local function next_piece()
  if #pending - pos + 1 < chunk and made < total then
    local parts = {pending:sub(pos)}
    for _ = 1, 64 do
      n = n + 1
      local r = rec:format(n, n, n, n, n, ("x"):rep(n % 64))
      if made == 0 then r = "[" .. r end
      made = made + #r
      if made >= total then r = r .. "0]" end
      parts[#parts + 1] = r
      if made >= total then break end
    end
    pending, pos = table.concat(parts), 1
  end
  if pos > #pending then return nil end
  local p = pending:sub(pos, pos + chunk - 1)
  pos = pos + chunk
  return p
end

-- A collector that keeps up (as a device's must), so that the peak shows
-- what is live rather than how much garbage Lua's default pause lets pile
-- up (twice the live heap).
collectgarbage("setpause", 100)
collectgarbage()
local rss0 = status("VmRSS")
local result
if mode == "whole" then
  local parts = {}
  for p in next_piece do parts[#parts + 1] = p end
  local text = table.concat(parts)
  parts = nil
  result = sjson.decode(text)
  text = nil
else
  local opts = {}
  if mode == "drop" then
    opts.metatable = {checkpath = function(_, path) return #path ~= 1 end}
  end
  local d = sjson.decoder(opts)
  for p in next_piece do result = d:write(p) or result end
  assert(result, "the document did not complete")
end
collectgarbage()
print(("%s %d %d %d"):format(mode, made, status("VmHWM") - rss0, math.floor(collectgarbage("count") + 0.5)))
