-- tests/fuzz/data.lua - the fuzzer's calls of the data modules: sjson
-- (decode, encode, streaming decoders and encoders kept in pools), encoder,
-- struct and bit, with generated and mutated JSON, random Lua values
-- (cycles, functions, hostile values), random struct formats and hostile
-- arguments.  Loaded by fuzz.lua, which passes its helpers in F; returns the
-- list of ops ({name, fn}).  Deterministic per seed (all choices from F.R).
return function(F)
  local R, chance, pick, hv, call, NIL = F.R, F.chance, F.pick, F.hv, F.call, F.NIL
  local unpack = table.unpack or unpack

  -- ---- JSON text ----
  local strings = {'""', '"plain"', '"esc\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\u00e9\\u20ac"', '"\\ud83d\\ude00"',
                   '"\\ud800 lone"', '"caf\195\169"', '"\255\254 bad utf-8"', '"\\u0000"', '"\20\31"'}
  local numbers = {"0", "-0", "1", "-17", "3.25", "-0.5e-3", "1E+2", "12345678901234567890",
                   "9223372036854775807", "-9223372036854775808", "1e400", "1e-400", "0.1"}
  local function jvalue(depth)
    local r = R(depth > 0 and 9 or 6)
    if r == 1 then return pick(strings)
    elseif r == 2 then return pick(numbers)
    elseif r == 3 then return pick({"true", "false", "null"})
    elseif r <= 6 then return tostring(R(1000))
    elseif r <= 8 then
      local n, parts = R(4) - 1, {}
      for i = 1, n do parts[i] = jvalue(depth - 1) end
      return "[" .. table.concat(parts, pick({",", " , ", ",\n"})) .. "]"
    else
      local n, parts = R(4) - 1, {}
      for i = 1, n do parts[i] = pick(strings) .. ":" .. jvalue(depth - 1) end
      return "{" .. table.concat(parts, ",") .. "}"
    end
  end
  local junk = {"", ",", "]", "}", "[", "{", ":", '"', "\\", "\0", "\1", "\255", "x", "1.", "-",
                "tru", "nul", "\\u12", " ", "\n", "[[[[[[[[[[[[[[[[[[[[[[[[", "1e99999"}
  local function json_text()
    local s = (chance(0.5) and "[" or "{\"k\":") .. jvalue(R(6)) .. (chance(0.5) and "]" or "}")
    local r = R(8)
    if r == 1 then return s:sub(1, R(#s + 1) - 1) -- truncated
    elseif r == 2 then -- a byte replaced
      local i = R(#s)
      return s:sub(1, i - 1) .. pick(junk) .. s:sub(i + 1)
    elseif r == 3 then return ("["):rep(R(5000)) .. s -- a nesting bomb
    elseif r == 4 then return ('{"a":'):rep(R(2000)) .. s
    elseif r == 5 then return "[" .. ("9"):rep(R(6000)) .. "]" -- a long number
    end
    return s
  end

  -- ---- options ----
  local function deliberate() error("fuzz: deliberate error") end
  local dec_pool, enc_pool = {}, {}
  local function metatable()
    local r = R(6)
    if r == 1 then return {__newindex = function(t, k, v) if chance(0.9) then rawset(t, k, v) end end}
    elseif r == 2 then return {checkpath = function(_, path) return #path ~= 1 or chance(0.5) end}
    elseif r == 3 then return {checkpath = function() if chance(0.1) then deliberate() end return true end}
    elseif r == 4 then -- re-enters a decoder from inside a write
      return {__newindex = function(t, k, v)
        rawset(t, k, v)
        local e = dec_pool[R(#dec_pool + 1)]
        if e then e.d:write("[1]") end
      end}
    elseif r == 5 then return hv()
    end
    return {}
  end
  local function dec_opts()
    if chance(0.3) then return hv() end
    local o = {}
    if chance(0.5) then o.depth = chance(0.5) and R(40) or hv() end
    if chance(0.3) then o.null = hv() end
    if chance(0.3) then o.metatable = metatable() end
    return o
  end

  -- ---- Lua values to encode ----
  local function lvalue(depth)
    local r = R(depth > 0 and 10 or 6)
    if r <= 3 then return hv()
    elseif r == 4 then return pick({sjson.NULL, "str\0\"\\\n", 0.1, -0.0, 2 ^ 63, R(100)})
    elseif r == 5 then return function() if chance(0.05) then deliberate() end return lvalue(depth - 1) end
    elseif r == 6 then return nil
    end
    local t = {}
    for _ = 1, R(5) - 1 do
      local kr = R(6)
      local k = kr <= 3 and R(6) or kr == 4 and ("k" .. R(9)) or kr == 5 and (R(4) + 0.5) or hv()
      if k ~= nil and k == k then t[k] = lvalue(depth - 1) end
    end
    if chance(0.05) then t[R(3)] = t end -- a cycle
    if chance(0.03) then t[R(2 ^ 30)] = 1 end -- sparse
    return t
  end
  local function enc_opts()
    if chance(0.3) then return hv() end
    local o = {}
    if chance(0.5) then o.depth = chance(0.5) and R(30) or hv() end
    if chance(0.3) then o.null = chance(0.5) and "str\0\"\\\n" or hv() end
    return o
  end
  local function table_arg()
    if chance(0.1) then return hv() end
    local v = lvalue(R(5))
    return type(v) == "table" and v or {v}
  end

  -- ---- struct ----
  local fmt_items = {"b", "B", "h", "H", "l", "L", "T", "i", "I", "i3", "I8", "i16", "I32", "i33", "c", "c0",
                     "c5", "s", "f", "d", "x", "<", ">", "!", "!4", "!3", " ", "z", "c99999999999", "I0", "!64"}
  local function fmt()
    local parts = {}
    for i = 1, R(6) - 1 do parts[i] = pick(fmt_items) end
    return table.concat(parts)
  end
  local function struct_val()
    local r = R(5)
    if r == 1 then return hv() elseif r == 2 then return "abcdef" elseif r == 3 then return R(70000) - 35000 end
    return pick({0, -1, 2 ^ 31, 2 ^ 32 - 1, 1.5, 2 ^ 63, 3, "12"})
  end
  local last_packed = ""

  local function nargs(gen, max)
    local a = {n = R(max + 1) - 1}
    for i = 1, a.n do a[i] = gen() end
    return a
  end
  local function pool_add(pool, o)
    if #pool >= 8 then table.remove(pool, R(#pool)) end
    pool[#pool + 1] = o
  end

  local bitf = {"bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift", "bit", "set", "clear",
                "isset", "isclear"}
  local function bit_arg()
    if chance(0.3) then return hv() end
    return pick({0, -1, 1, 31, 32, 33, -33, 0xffffffff, 0x80000000, 2 ^ 40, R(100000)})
  end

  return {
    {"sjson.decode", function()
      local r = call("sjson.decode", sjson.decode, chance(0.95) and json_text() or hv(), dec_opts())
      -- what decodes must encode (functions/cycles cannot come from JSON)
      if r[1] and type(r[2]) == "table" then call("sjson.encode", sjson.encode, r[2], {depth = 1000}) end
    end},
    {"sjson.decoder", function()
      local r = call("sjson.decoder", sjson.decoder, dec_opts())
      if r[1] then pool_add(dec_pool, {d = r[2], text = json_text(), pos = 1}) end
    end},
    {"sjson.decoder.write", function()
      local e = dec_pool[R(#dec_pool + 1)]
      if not e or chance(0.05) then
        call("sjson.decoder.write", sjson.decoder().write, hv(), hv())
        return
      end
      local n = pick({1, 2, 3, 7, 64, 4096})
      local chunk = chance(0.95) and e.text:sub(e.pos, e.pos + n - 1) or hv()
      e.pos = e.pos + n
      call("sjson.decoder.write", e.d.write, e.d, chunk)
    end},
    {"sjson.decoder.result", function()
      local e = dec_pool[R(#dec_pool + 1)]
      local d = e and e.d or sjson.decoder()
      call("sjson.decoder.result", d.result, chance(0.95) and d or hv())
    end},
    {"sjson.encode", function() call("sjson.encode", sjson.encode, table_arg(), enc_opts()) end},
    {"sjson.encoder", function()
      local r = call("sjson.encoder", sjson.encoder, table_arg(), enc_opts())
      if r[1] then pool_add(enc_pool, r[2]) end
    end},
    {"sjson.encoder.read", function()
      local e = enc_pool[R(#enc_pool + 1)] or sjson.encoder({1})
      local size = chance(0.8) and pick({1, 2, 5, 64, 1024, 1e9, 0, -5}) or hv()
      call("sjson.encoder.read", e.read, chance(0.95) and e or hv(), size)
    end},
    {"sjson.forget", function()
      local pool = chance(0.5) and dec_pool or enc_pool
      if #pool > 0 then table.remove(pool, R(#pool)) end
    end},
    {"encoder", function() -- one op for the four functions (the message names the function)
      local f = pick({"toBase64", "fromBase64", "toHex", "fromHex"})
      local s = chance(0.5) and hv() or pick({"", "Zg==", "Zm9v", "Zg=", "a===", "6a6A", "0g", "abc"})
      if chance(0.3) and type(s) == "string" then s = encoder.toBase64(s) end
      call("encoder", encoder[f], s)
    end},
    {"struct.pack", function()
      local a = nargs(struct_val, 6)
      local r = call("struct.pack", struct.pack, chance(0.9) and fmt() or hv(), unpack(a, 1, a.n))
      if r[1] then last_packed = r[2] end
    end},
    {"struct.unpack", function()
      local data = chance(0.6) and last_packed or (chance(0.5) and hv() or ("\255\0\1\128"):rep(R(10)))
      local off = chance(0.7) and nil or (chance(0.5) and R(20) - 5 or hv())
      call("struct.unpack", struct.unpack, chance(0.9) and fmt() or hv(), data, off)
    end},
    {"struct.size", function() call("struct.size", struct.size, chance(0.9) and fmt() or hv()) end},
    {"bit", function() -- one op for the twelve functions
      local f = pick(bitf)
      local a = nargs(bit_arg, 4)
      call("bit", bit[f], unpack(a, 1, a.n))
    end},
  }
end
