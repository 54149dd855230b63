-- bench/sjson/bench.lua - sjson.decode/encode against lua-cjson, in one
-- process of one interpreter, interleaved: for each document and round,
-- sjson then cjson.  Run by bench/sjson.sh (lua5.3 with build/?.so).
--   lua5.3 bench/sjson/bench.lua ROUNDS SECONDS_PER_SAMPLE RESULTS_FILE DOCS_FILE
-- Writes lines "doc op lib MB/s" (every sample) to RESULTS_FILE and
-- "# doc bytes description" to DOCS_FILE; progress on stderr.  MB/s is the
-- size of the document's text (cjson's encoding) over the time, for decode
-- and encode alike, so the two libraries are judged on the same work even
-- where their texts differ (sjson writes decimals with "%.19g").
sjson = require "sjson"
local cjson = require "cjson"
local rounds = tonumber(arg[1]) or 5
local secs = tonumber(arg[2]) or 0.25
local out = assert(io.open(arg[3] or "/dev/null", "w"))
local docsout = assert(io.open(arg[4] or "/dev/null", "w"))
local docs = dofile("bench/sjson/docs.lua")
local clock = os.clock

-- Calls f(x) until secs of CPU have passed; returns seconds per call.
local function per_call(f, x)
  collectgarbage()
  local n, t0 = 0, clock()
  local dt
  repeat
    for _ = 1, 8 do f(x) end
    n = n + 8
    dt = clock() - t0
  until dt >= secs
  return dt / n
end

local libs = {{"sjson", sjson}, {"cjson", cjson}}
-- Do a and b hold the same values (numbers compared as numbers)?
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

for _, d in ipairs(docs) do
  d.text = cjson.encode(d.table)
  -- both read the same text into the same values, and read back what
  -- sjson writes (the bench's own check)
  assert(same(sjson.decode(d.text), cjson.decode(d.text)), "sjson and cjson disagree on " .. d.name)
  assert(same(cjson.decode(sjson.encode(d.table)), d.table), "sjson.encode differs on " .. d.name)
  local line = ("# %s %d %s"):format(d.name, #d.text, d.what)
  docsout:write(line, "\n")
  io.stderr:write(line, "\n")
end
docsout:close()
for r = 1, rounds do
  for _, d in ipairs(docs) do
    local mb = #d.text / 1e6
    for _, op in ipairs({"decode", "encode"}) do
      for _, l in ipairs(libs) do
        local arg1 = op == "decode" and d.text or d.table
        local rate = mb / per_call(l[2][op], arg1)
        local line = ("%s %s %s %.2f"):format(d.name, op, l[1], rate)
        out:write(line, "\n")
        io.stderr:write(("round %d: %s\n"):format(r, line))
      end
    end
  end
end
out:close()
