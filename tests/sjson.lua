-- sjson: encode/decode, the streaming decoder and encoder,
-- sjson.NULL, options, the firmware's (jsonsl's) error names, and hostile
-- input: nesting bombs, truncated text, invalid UTF-8, 1e400, huge strings,
-- NUL bytes.  Every streaming result is checked against the one-shot one.
local T = dofile("tests/lib/t.lua")
local is53 = math.type ~= nil
local sanitized = os.getenv("NETMCU_SANITIZED") == "1"

-- A string shown on one line of TAP.
local function show(s)
  return '"' .. s:gsub("[%c\128-\255\\\"]", function(c) return ("\\%d"):format(c:byte()) end) .. '"'
end

-- Order-independent rendering of a decoded value, for comparisons
-- (numbers with their subtype unless anynum).
local function canon(v, anynum)
  if type(v) ~= "table" then
    if type(v) == "string" then return show(v) end
    if type(v) == "number" and is53 and not anynum then return math.type(v) .. ":" .. ("%.17g"):format(v) end
    if type(v) == "number" then return ("%.17g"):format(v) end
    return tostring(v)
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    return a < b
  end)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = canon(k) .. "=" .. canon(v[k], anynum) end
  return "{" .. table.concat(out, ",") .. "}"
end

local function perr(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return nil end
  return e
end

T.test("sjson is a global and a module; sjson.NULL", function(done)
  T.ok(type(sjson) == "table", "sjson global")
  T.eq(require("sjson"), sjson, "require 'sjson' gives the same table")
  for _, f in ipairs({"encode", "decode", "encoder", "decoder"}) do
    T.eq(type(sjson[f]), "function", "sjson." .. f)
  end
  T.eq(type(sjson.NULL), "userdata", "sjson.NULL is a (light) userdata")
  T.eq(sjson.decode("[null]")[1], sjson.NULL, "null decodes to sjson.NULL by default")
  T.eq(sjson.encode({sjson.NULL}), "[null]", "sjson.NULL encodes to null")
  done()
end)

T.test("decode: values and types as the firmware's Lua builds read them", function(done)
  local t = sjson.decode('{"key":"value","n":[1,-2,3.5,-0.25,1e2,true,false,null],"o":{"a":{}},"e":[]}')
  T.eq(t.key, "value", "string member")
  T.eq(t.n[1], 1, "integer")
  T.eq(t.n[2], -2, "negative integer")
  T.eq(t.n[3], 3.5, "float")
  T.eq(t.n[4], -0.25, "negative float")
  T.eq(t.n[5], 100, "exponent")
  T.eq(t.n[6], true, "true")
  T.eq(t.n[7], false, "false")
  T.eq(t.n[8], sjson.NULL, "null")
  T.eq(#t.n, 8, "array length")
  T.eq(type(t.o.a), "table", "nested object")
  T.eq(next(t.e), nil, "empty array")
  if is53 then
    T.eq(math.type(t.n[1]), "integer", "5.3+: 1 is an integer (lua_stringtonumber)")
    T.eq(math.type(t.n[5]), "float", "5.3+: 1e2 is a float")
    T.eq(math.type(sjson.decode("[1.0]")[1]), "float", "5.3+: 1.0 is a float")
    T.eq(sjson.decode("[9223372036854775807]")[1], math.maxinteger, "maxinteger")
    T.eq(sjson.decode("[-9223372036854775808]")[1], math.mininteger, "mininteger")
    T.eq(math.type(sjson.decode("[9223372036854775808]")[1]), "float", "beyond an integer: a float")
  end
  T.eq(sjson.decode("[12345678901234567890]")[1], 12345678901234567890.0, "a big integer")
  T.eq(sjson.decode("[1E-400]")[1], 0, "underflow is 0")
  T.eq(sjson.decode("[0.1]")[1], 0.1, "0.1 exactly as Lua reads it")
  T.eq(sjson.decode('["a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"]')[1], "a\"b\\c/d\b\f\n\r\t", "escapes")
  T.eq(sjson.decode('["\\u0041\\u00e9\\u20ac\\ud83d\\ude00"]')[1], "A\195\169\226\130\172\240\159\152\128",
    "\\u escapes to UTF-8, surrogate pairs joined")
  T.eq(sjson.decode('["\\ud83d!\\ude00"]')[1], "?!?", "lone surrogates are '?', as in the firmware")
  T.eq(sjson.decode('["a\\u0000b"]')[1], "a\0b", "\\u0000 is a NUL byte")
  T.eq(sjson.decode(' \t\r\n{ "a" : [ 1 , 2 ] } \n').a[2], 2, "whitespace anywhere")
  T.eq(sjson.decode('{"a":1,"a":2}').a, 2, "a repeated key: the last wins")
  T.eq(canon(sjson.decode('{"1":true}')), '{"1"=true}', "object keys stay strings")
  T.eq(sjson.decode('[1] trailing text is ignored, as the firmware')[1], 1,
    "text after the complete value is not parsed")
  done()
end)

T.test("decode: the firmware's errors (jsonsl's names)", function(done)
  local cases = {
    {"[1,]", "TRAILING_COMMA"}, {'{"a":1,}', "TRAILING_COMMA"}, {"[1 2]", "CANT_INSERT"},
    {'{"a" 1}', "CANT_INSERT"}, {'{"a":1 "b":2}', "STRAY_TOKEN"}, {'{"a" "b"}', "MISSING_TOKEN"},
    {"{1:2}", "HKEY_EXPECTED"}, {"{{}}", "HKEY_EXPECTED"}, {'{"a":1 2}', "HKEY_EXPECTED"},
    {'{"a":}', "VALUE_EXPECTED"}, {'{"a"}', "VALUE_EXPECTED"}, {"[}", "BRACKET_MISMATCH"},
    {"{]", "BRACKET_MISMATCH"}, {"]", "BRACKET_MISMATCH"}, {'[1,{"a":2]]', "BRACKET_MISMATCH"},
    {"[,1]", "STRAY_TOKEN"}, {"[1,,2]", "STRAY_TOKEN"}, {"[1:2]", "STRAY_TOKEN"},
    {'{"a"::1}', "STRAY_TOKEN"}, {'"abc"', "STRING_OUTSIDE_CONTAINER"},
    {"[tru]", "SPECIAL_INCOMPLETE"}, {"[nul ]", "SPECIAL_INCOMPLETE"}, {"[trux]", "SPECIAL_EXPECTED"},
    {"[truee]", "SPECIAL_EXPECTED"}, {"[True]", "SPECIAL_EXPECTED"}, {"[x]", "SPECIAL_EXPECTED"},
    {"[.5]", "SPECIAL_EXPECTED"}, {"[+1]", "SPECIAL_EXPECTED"}, {"[NaN]", "SPECIAL_EXPECTED"},
    {"[-]", "INVALID_NUMBER"}, {"[01]", "INVALID_NUMBER"}, {"[1.]", "INVALID_NUMBER"},
    {"[1.5.2]", "INVALID_NUMBER"}, {"[1e]", "INVALID_NUMBER"}, {"[1e+]", "INVALID_NUMBER"},
    {"[1x]", "INVALID_NUMBER"}, {"[0x10]", "INVALID_NUMBER"}, {"[-Infinity]", "INVALID_NUMBER"},
    {"[1e400]", "INVALID_NUMBER"}, {"[-1e400]", "INVALID_NUMBER"},
    {'["\\x"]', "ESCAPE_INVALID"}, {'["\\u12zz"]', "ESCAPE_INVALID"}, {'["\\u12"]', "UESCAPE_TOOSHORT"},
    {"[\\]", "ESCAPE_OUTSIDE_STRING"}, {'["a\nb"]', "WEIRD_WHITESPACE"}, {'["a\0b"]', "WEIRD_WHITESPACE"},
    {"[\0]", "FOUND_NULL_BYTE"}, {"[\1]", "WEIRD_WHITESPACE"}, {"[1\0]", "INVALID_NUMBER"},
    {"[\255]", "SPECIAL_EXPECTED"}, {"1 2", "CANT_INSERT"}, {"1 [1]", "CANT_INSERT"},
    {'["a" "b"]', "CANT_INSERT"},
  }
  for _, c in ipairs(cases) do
    T.eq(perr(sjson.decode, c[1]), "JSON parse error: " .. c[2], "decode(" .. show(c[1]) .. ")")
  end
  for _, s in ipairs({"", "   ", "[", "[1", '{"a"', '{"a":', '{"a":1', '["abc', '["a\\', "[tru", "1", "true ", "123 "}) do
    T.eq(perr(sjson.decode, s), "Incomplete JSON object passed to sjson.decode",
      "incomplete: " .. show(s) .. " (top-level scalars never complete, as in the firmware)")
  end
  T.raises(function() sjson.decode() end, "string expected", "decode() needs a string")
  T.raises(function() sjson.decode({}) end, "string expected", "decode({})")
  T.raises(function() sjson.decode("[]", {metatable = 5}) end, "metatable must be a table", "a bad metatable")
  T.eq(sjson.decode("[]", "not a table")[1], nil, "options that are not a table are ignored")
  done()
end)

T.test("decode: depth limit as jsonsl's (default 20, kept within 4..1000)", function(done)
  local function nest(n, inner) return ("["):rep(n) .. inner .. ("]"):rep(n) end
  T.ok(perr(sjson.decode, nest(18, "1")) == nil, "18 arrays holding a number")
  T.ok(perr(sjson.decode, nest(19, "")) == nil, "19 empty nested arrays")
  T.eq(perr(sjson.decode, nest(19, "1")), "JSON parse error: LEVELS_EXCEEDED", "a value at level 20")
  T.eq(perr(sjson.decode, nest(20, "")), "JSON parse error: LEVELS_EXCEEDED", "20 nested arrays")
  T.eq(perr(sjson.decode, ('{"a":'):rep(19) .. "1" .. ("}"):rep(19)), "JSON parse error: LEVELS_EXCEEDED",
    "keys count as a level too")
  T.ok(perr(sjson.decode, nest(99, "1"), {depth = 101}) == nil, "depth = 101 allows 99 + a value")
  T.eq(perr(sjson.decode, nest(100, "1"), {depth = 101}), "JSON parse error: LEVELS_EXCEEDED", "and no more")
  T.eq(perr(sjson.decode, nest(3, "1"), {depth = 2}), "JSON parse error: LEVELS_EXCEEDED", "depth below 4 is 4")
  T.ok(perr(sjson.decode, nest(2, "1"), {depth = 2}) == nil, "depth 4: 2 arrays and a value")
  T.ok(perr(sjson.decode, nest(999, ""), {depth = 5000}) == nil, "depth above 1000 is 1000: 999 levels")
  T.eq(perr(sjson.decode, nest(1000, ""), {depth = 5000}), "JSON parse error: LEVELS_EXCEEDED", "not 1000")
  T.ok(perr(sjson.decode, nest(18, "1"), {depth = 0}) == nil, "depth 0 is the default")
  done()
end)

T.test("decode: null and metatable options, checkpath (the firmware's docs)", function(done)
  T.eq(sjson.decode("[null,1]", {})[1], nil, "with options but no null: nil (as the firmware)")
  T.eq(sjson.decode("[null,1]", {})[2], 1, "and the index still advances")
  T.eq(sjson.decode("[null]", {null = "\0"})[1], "\0", "null = '\\0'")
  T.eq(sjson.decode('{"a":null}', {null = sjson.NULL}).a, sjson.NULL, "null = sjson.NULL")
  local calls = {}
  local mt = {checkpath = function(t, path)
    T.ok(type(t) == "table" and next(t) == nil, "checkpath gets the new, empty table")
    local p = {}
    for i, k in ipairs(path) do p[i] = tostring(k) end
    calls[#calls + 1] = "{" .. table.concat(p, ",") .. "}"
    return true
  end}
  local r = sjson.decode('{ "foo": [1, 2, []] }', {metatable = mt})
  T.eq(table.concat(calls, " "), "{} {foo} {foo,3}", "checkpath paths, as the docs' example")
  T.eq(getmetatable(r), mt, "tables get the metatable")
  T.eq(getmetatable(r.foo[3]), mt, "nested ones too")
  T.eq(r.foo[2], 2, "values are set")
  local log = {}
  local d = sjson.decoder({metatable = {__newindex = function(t, k, v)
    log[#log + 1] = tostring(k) .. "=" .. type(v)
    rawset(t, k, v)
  end}})
  d:write('[1, 2, {"foo":"bar"}]')
  T.eq(table.concat(log, " "), "1=number 2=number 3=table foo=string",
    "__newindex sees each element, a table before what it holds (the docs' example)")
  local skip = sjson.decode('{"foo":{"bar":[1,2,3,4],"cat":[5]}}', {metatable = {checkpath = function(_, p)
    return p[#p] ~= "bar"
  end}})
  T.eq(canon(skip), canon({foo = {cat = {5}}}), "checkpath returning false leaves the table out")
  local filtered = sjson.decode('[{"download_url":"u1","x":1},{"download_url":"u2","y":[1,2]}]',
    {metatable = {__newindex = function(t, k, v)
      if type(k) == "number" or k == "download_url" then rawset(t, k, v) end
    end}})
  T.eq(canon(filtered), canon({{download_url = "u1"}, {download_url = "u2"}}), "filtering with __newindex")
  T.eq(sjson.decode("[1]", {metatable = {checkpath = function() return false end}}), nil,
    "an unwanted root: the result is nil")
  T.raises(function() sjson.decode("[[1]]", {metatable = {checkpath = function() error("cp boom") end}}) end,
    "cp boom", "an error in checkpath propagates")
  T.raises(function() sjson.decode("[1]", {metatable = {__newindex = function() error("ni boom") end}}) end,
    "ni boom", "an error in __newindex propagates")
  done()
end)

T.test("decoder: write()/result() as documented", function(done)
  local d = sjson.decoder()
  T.eq(select("#", d:write("[10, 1")), 0, "an incomplete write returns nothing")
  T.raises(function() d:result() end, "decode not complete", "result() before the end")
  T.eq(select("#", d:write("1")), 0, "still incomplete")
  local r = d:write(', "foo"]')
  T.eq(canon(r), canon({10, 11, "foo"}), "the docs' example: the result when complete")
  T.eq(d:result(), r, "result() returns the same object")
  T.eq(d:result(), r, "... each time")
  T.eq(d:write("more"), r, "a write after the end returns the result again")
  local bad = sjson.decoder()
  T.eq(perr(bad.write, bad, "[1,]"), "JSON parse error: TRAILING_COMMA", "a parse error raises")
  T.eq(perr(bad.write, bad, "[1]"), "JSON parse error: previous call", "the decoder cannot be used again")
  T.raises(function() bad:result() end, "decode not complete", "and has no result")
  T.raises(function() d.write(d) end, "string expected", "write() needs a string")
  T.raises(function() d.write({}, "[]") end, "sjson.decoder expected", "write() on something else")
  local re
  re = sjson.decoder({metatable = {__newindex = function(t, k, v) rawset(t, k, v); re:write("1") end}})
  T.raises(function() re:write("[1]") end, "previous call", "a write from inside the decoder's own callback")
  T.eq(perr(re.write, re, "[1]"), "JSON parse error: previous call", "leaves it unusable")
  local w = T.weak(sjson.decoder())
  w[1]:write('{"a":["partial')
  T.ok(T.collected(w), "an unfinished decoder is collected")
  done()
end)

-- Documents that exercise every token kind across chunk boundaries.
local docs = {
  '{"key":"value","list":[1,-2,3.25,-0.5e-3,1E+2,true,false,null],"nested":{"a":{"b":[[],{}]}}}',
  '["esc\\"aped\\\\ \\/ \\b\\f\\n\\r\\t","\\u00e9\\u20ac\\ud83d\\ude00","caf\195\169 raw UTF-8","\\u0000"]',
  '[12345678901234567890, 0, -0, 0.000001, 1.5e300, 123456789, -987654321, 3.14159265358979]',
  ' \n[ { "k1" : [ "v" , 1 ] , "k2" : { } } , [ null , true ] ] \n',
}

T.test("decoder: any split into chunks gives the one-shot result", function(done)
  for di, doc in ipairs(docs) do
    local want = canon(sjson.decode(doc))
    local ok = true
    for i = 0, #doc do
      local d = sjson.decoder()
      local r1 = d:write(doc:sub(1, i))
      local r = r1 or d:write(doc:sub(i + 1))
      if canon(r) ~= want then
        ok = false
        T.ok(false, ("doc %d split at %d"):format(di, i), canon(r) .. " vs " .. want)
        break
      end
    end
    T.ok(ok, ("doc %d: all %d two-chunk splits"):format(di, #doc + 1))
    local d, r = sjson.decoder(), nil
    for i = 1, #doc do r = d:write(doc:sub(i, i)) or r end
    T.eq(canon(r), want, ("doc %d: one byte at a time"):format(di))
  end
  done()
end)

T.test("decoder: errors are the same however the text is split", function(done)
  for _, bad in ipairs({'{"a":[1,2,]}', '["abc\\q"]', "[1.2.3]", "[truth]", '{"k" "v"}', "[\0]", "[1e999]",
                        '["\\uzzzz\1"]', '["a\1\\x"]', '["\\u12"]', '["\\ud83d\\u12"]', '["\\ud83d\\uDC0G"]',
                        '["ok\\u00e9\\n", "\\u0041\\uD83D\\uDE0x"]'}) do
    local want = perr(sjson.decode, bad)
    local same = true
    for i = 0, #bad do
      local d = sjson.decoder()
      local e = perr(d.write, d, bad:sub(1, i)) or perr(d.write, d, bad:sub(i + 1))
      if e ~= want then
        same = false
        T.ok(false, show(bad) .. " split at " .. i, tostring(e) .. " vs " .. tostring(want))
        break
      end
    end
    T.ok(same, show(bad) .. ": " .. tostring(want) .. " at every split")
  end
  done()
end)

T.test("decode: every truncation of a valid document is incomplete, never an error", function(done)
  for di, doc in ipairs(docs) do
    local text, bad = doc:match("^(.-)%s*$"), nil -- up to the closing bracket
    for i = 0, #text - 1 do
      local e = perr(sjson.decode, text:sub(1, i))
      if e ~= "Incomplete JSON object passed to sjson.decode" then
        bad = i .. ": " .. tostring(e)
        break
      end
    end
    T.ok(bad == nil, ("doc %d: all %d proper prefixes"):format(di, #text), bad)
  end
  done()
end)

T.test("encode: output as the firmware's", function(done)
  T.eq(sjson.encode({key = "value"}), '{"key":"value"}', "the docs' example")
  T.eq(sjson.encode({1, 2, 3}), "[1,2,3]", "an array")
  T.eq(sjson.encode({}), "[]", "an empty table is an array, as the firmware")
  T.eq(sjson.encode({[1] = "a", [3] = "c"}), '["a",null,"c"]', "holes are null")
  T.eq(sjson.encode({[2] = true}), "[null,true]", "an array up to its largest key")
  T.eq(sjson.encode({a = {b = {c = {}}}}), '{"a":{"b":{"c":[]}}}', "nesting")
  T.eq(sjson.encode({true, false, sjson.NULL}), "[true,false,null]", "literals")
  T.eq(sjson.encode({'q"b\\s/\b\f\n\r\t\1\31\127'}), '["q\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\127"]',
    "escaping: quote, backslash, control characters; / and DEL as they are")
  T.eq(sjson.encode({"caf\195\169 \255\254"}), '["caf\195\169 \255\254"]', "bytes >= 0x80 pass as they are")
  T.eq(sjson.encode({"a\0b"}), '["a\\u0000b"]', "NUL as \\u0000")
  T.eq(sjson.encode({3, -7, 0}), "[3,-7,0]", "integers")
  T.eq(sjson.encode({3.0}), "[3]", "an integral float prints as an integer (%.19g)")
  T.eq(sjson.encode({0.5, -2.25}), "[0.5,-2.25]", "exact floats")
  T.eq(sjson.encode({0.1}), "[0.1000000000000000056]", "other floats with the firmware's %.19g")
  T.eq(sjson.encode({1e20}), "[1e+20]", "large floats")
  local zero = 0.0
  T.eq(sjson.encode({-zero}), "[-0]", "negative zero")
  T.eq(sjson.encode({math.huge, -math.huge, 0 / 0}), "[null,null,null]", "infinities and NaN are null")
  if is53 then
    T.eq(sjson.encode({math.maxinteger, math.mininteger}), "[9223372036854775807,-9223372036854775808]",
      "64-bit integers")
  end
  T.eq(sjson.encode({[1] = 1, x = 2}):len(), 13, "mixed keys: an object")
  T.eq(sjson.encode({[1.5] = 1}), '{"1.5":1}', "number keys as strings")
  T.eq(sjson.encode({function() return "lazy" end}), '["lazy"]', "a function is called, its result encoded")
  T.eq(sjson.encode({function() return function() return {1} end end}), "[[1]]", "... repeatedly")
  T.eq(sjson.encode({a = function() end}), '{"a":null}', "a function returning nothing: null")
  T.eq(sjson.encode({io.stdout}), "[null]", "a userdata is null (docs)")
  for _, v in ipairs(docs) do
    local t = sjson.decode(v)
    T.eq(canon(sjson.decode(sjson.encode(t)), true), canon(t, true),
      "decode(encode(t)) == t (1e2 comes back as 100): " .. show(v:sub(1, 30)))
  end
  done()
end)

T.test("encode: options and errors", function(done)
  T.eq(sjson.encode({"a", "\0", "b"}, {null = "\0"}), '["a",null,"b"]', "null = '\\0'")
  T.eq(sjson.encode({a = "x"}, {null = "x"}), '{"a":null}', "the null string as a member")
  local d4 = {1, {2, {3, {4}}}}
  T.eq(sjson.encode(d4, {depth = 4}), "[1,[2,[3,[4]]]]", "depth 4: 4 nested tables")
  T.eq(perr(sjson.encode, {d4}, {depth = 4}), "encoder stack overflow", "5 with depth 4")
  local deep = {}
  for _ = 1, 20 do deep = {deep} end
  T.eq(perr(sjson.encode, deep), "encoder stack overflow", "21 levels with the default 20")
  T.eq(perr(sjson.encode, deep[1]), nil, "20 levels")
  local cyc = {}
  cyc.self = cyc
  T.eq(perr(sjson.encode, cyc), "encoder stack overflow", "a cycle")
  T.eq(perr(sjson.encode, {coroutine.create(function() end)}), "Cannot encode type 8", "a thread")
  local f
  f = function() return f end
  T.eq(perr(sjson.encode, {f}), "Cannot encode type 6", "a function after 10 calls")
  T.eq(perr(sjson.encode, {[true] = 1}), "Cannot encode type 1", "a boolean key")
  T.eq(perr(sjson.encode, {[2 ^ 40] = 1}), "Cannot serialise table: excessively sparse array",
    "a huge sparse array is refused")
  T.eq(perr(sjson.encode, {function() error("fn boom") end}):match("fn boom"), "fn boom", "errors propagate")
  T.eq(sjson.encode({function() return sjson.encode({1, {2}}) end, 3}), '["[1,[2]]",3]',
    "encode called from inside encode")
  T.eq(perr(sjson.encode, {function() error("mid") end}):match("mid"), "mid", "an encode that raises ...")
  T.eq(sjson.encode({a = {1}}), '{"a":[1]}', "... leaves the next one working")
  local inner
  local outer = sjson.decode('[[1],[2]]', {metatable = {__newindex = function(t, k, v)
    inner = sjson.decode('{"x":[true]}')
    rawset(t, k, v)
  end}})
  T.eq(canon(outer, true) .. canon(inner), canon({{1}, {2}}, true) .. canon({x = {true}}),
    "decode called from inside decode")
  T.raises(function() sjson.encode("str") end, "table expected", "encode needs a table")
  T.raises(function() sjson.encoder(nil) end, "table expected", "encoder needs a table")
  done()
end)

T.test("encoder: read() chunks concatenate to encode()", function(done)
  local t = sjson.decode(docs[1])
  t.more = {("x"):rep(3000), {1, 2, {3}}, "caf\195\169\n"}
  local want = sjson.encode(t)
  for _, size in ipairs({1, 2, 3, 7, 64, 1000, 1024, 100000}) do
    -- pairs() order is the same for the same table
    local e, parts = sjson.encoder(t), {}
    while true do
      local s = e:read(size)
      if not s then break end
      if #s > size then T.ok(false, "read(" .. size .. ") gave " .. #s .. " bytes") end
      parts[#parts + 1] = s
    end
    T.eq(table.concat(parts), want, "read(" .. size .. ")")
    T.eq(e:read(size), nil, "nil once done")
  end
  local e = sjson.encoder({("y"):rep(5000)})
  T.eq(#e:read(), 1024, "the default size is 1024")
  T.eq(#e:read(0), 1, "a size below 1 is 1")
  local called = 0
  local lazy = sjson.encoder({"aaaa", function() called = called + 1 return "b" end})
  T.eq(lazy:read(3), '["a', "first bytes")
  T.eq(called, 0, "a function is not called before the encoder reaches it")
  T.eq(lazy:read(100), 'aaa","b"]', "the rest")
  T.eq(called, 1, "called once")
  local failing = sjson.encoder({"a", function() error("read boom") end})
  T.raises(function() failing:read(100) end, "read boom", "an error from a function")
  T.raises(function() failing:read(100) end, "previous read failed", "leaves the encoder unusable")
  local w = T.weak(sjson.encoder({1, 2, 3}))
  w[1]:read(1)
  T.ok(T.collected(w), "an unfinished encoder is collected")
  done()
end)

T.test("hostile input: bombs, huge tokens, bytes", function(done)
  T.eq(perr(sjson.decode, ("["):rep(1000000)), "JSON parse error: LEVELS_EXCEEDED", "10^6 '['")
  T.eq(perr(sjson.decode, ('{"a":'):rep(100000)), "JSON parse error: LEVELS_EXCEEDED", "10^5 '{\"a\":'")
  local d = sjson.decoder({depth = 1000})
  local chunk = ("["):rep(4096)
  local e
  for _ = 1, 1000 do
    e = perr(d.write, d, chunk)
    if e then break end
  end
  T.eq(e, "JSON parse error: LEVELS_EXCEEDED", "a streamed bomb stops at the limit")
  T.eq(perr(sjson.decode, "[" .. ("1"):rep(5000) .. "]"), "JSON parse error: INVALID_NUMBER",
    "a number of 5000 digits is refused (a carried number stays small)")
  local s = ("\0\1abc\255\254\"\\"):rep(1024 * 1024) -- 10 MiB with escapes
  local enc = sjson.encode({s})
  T.eq(sjson.decode(enc)[1], s, "a 10 MiB string with NULs, quotes, backslashes round-trips")
  local dd, r = sjson.decoder(), nil
  for i = 1, #enc, 65536 do r = dd:write(enc:sub(i, i + 65535)) end
  T.eq(r and r[1], s, "... and streamed in 64 KiB chunks")
  T.eq(sjson.decode('["\255\254\192\128 invalid UTF-8"]')[1], "\255\254\192\128 invalid UTF-8",
    "invalid UTF-8 in strings passes byte for byte (as the firmware)")
  T.eq(sjson.decode('["\20\31"]')[1], "\20\31", "0x14-0x1f pass (jsonsl's table), 0x00-0x13 do not")
  -- random text: a parse error or "incomplete", nothing else, and what parses re-encodes
  local state = 12345
  local function rnd(n)
    state = (state * 16807) % 2147483647
    return state % n + 1
  end
  local alphabet = {"{", "}", "[", "]", ",", ":", '"', "\\", "u", "1", "-", ".", "e", "0", "t", "r", "u",
                    "e", "n", "l", " ", "a", "\0", "\255", "\n", "d83d", "ude00", '"k":', "[1,2]", "{}", "null"}
  local bad, parsed = 0, 0
  for _ = 1, 3000 do
    local p = {"["}
    for j = 1, rnd(30) do p[j + 1] = alphabet[rnd(#alphabet)] end
    local text = table.concat(p)
    local ok, res = pcall(sjson.decode, text, {depth = 8})
    if ok then
      parsed = parsed + 1
      local again = sjson.decode(sjson.encode(res))
      if canon(again) ~= canon(res) then bad = bad + 1 end
    elseif not (res:match("^JSON parse error: [A-Z_]+$") or res == "Incomplete JSON object passed to sjson.decode") then
      bad = bad + 1
      T.diag(show(text) .. " -> " .. res)
    end
  end
  T.eq(bad, 0, ("3000 random texts: only the firmware's errors (%d parsed and round-tripped)"):format(parsed))
  done()
end)

-- Resident memory of this process, in KiB.
local function rss_kib()
  local f = io.open("/proc/self/statm")
  if not f then return nil end
  local pages = f:read("*a"):match("^%d+%s+(%d+)")
  f:close()
  return tonumber(pages) * 4
end

T.test("streaming a 10 MB document holds a chunk and the result, not the text", function(done)
  -- The document is made chunk by chunk and never held whole; checkpath
  -- (the firmware's way) drops each record from the result, so memory
  -- must stay flat while 10 MB go through.
  local count = 0
  local d = sjson.decoder({metatable = {checkpath = function(_, path)
    if #path == 1 then count = count + 1 return false end
    return true
  end}})
  local rec = '{"id":%d,"name":"sensor %d","vals":[%d,%d.5,-%d],"ok":true,"note":"\\u00e9\\n%s"},'
  local sent, n, peak_lua = 0, 0, 0
  collectgarbage()
  local lua0, rss0 = collectgarbage("count"), rss_kib()
  local rss_peak = rss0
  d:write("[")
  while sent < 10 * 1000 * 1000 do
    local parts = {}
    for _ = 1, 40 do
      n = n + 1
      parts[#parts + 1] = rec:format(n, n, n, n, n, ("x"):rep(n % 64))
    end
    local chunk = table.concat(parts)
    -- cut anywhere: 3 pieces of odd sizes
    local a, b = math.floor(#chunk / 3) + 1, math.floor(#chunk / 2) + 7
    d:write(chunk:sub(1, a)); d:write(chunk:sub(a + 1, b)); d:write(chunk:sub(b + 1))
    sent = sent + #chunk
    if n % 4000 == 0 then
      collectgarbage()
      peak_lua = math.max(peak_lua, collectgarbage("count") - lua0)
      local r = rss_kib()
      if r and r > rss_peak then rss_peak = r end
    end
  end
  local r = d:write("0]")
  T.ok(r ~= nil, "the document completes")
  T.eq(count, n, ("all %d records seen by checkpath"):format(n))
  T.ok(peak_lua < 1024, ("live Lua heap grew by at most %.0f KiB for %.1f MB of text"):format(peak_lua, sent / 1e6))
  if rss0 and not sanitized then
    T.ok(rss_peak - rss0 < 8 * 1024, ("resident memory grew by %d KiB"):format(rss_peak - rss0))
  else
    T.skip("resident memory", "sanitized build (its allocator keeps freed memory) or no /proc")
  end
  done()
end, 120)

T.run()
