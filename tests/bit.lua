-- bit (NodeMCU's bit module): 32-bit operations with signed 32-bit
-- results on every Lua version, as on the device.
local T = dofile("tests/lib/t.lua")
local is53 = math.type ~= nil

T.test("bit is a global and a module", function(done)
  T.ok(type(bit) == "table", "bit global")
  T.eq(require("bit"), bit, "require 'bit' gives the same table")
  for _, f in ipairs({"bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift", "bit",
                      "set", "clear", "isset", "isclear"}) do
    T.eq(type(bit[f]), "function", "bit." .. f)
  end
  done()
end)

T.test("the firmware's documented examples", function(done)
  T.eq(bit.arshift(3, 1), 1, "arshift(3, 1)")
  T.eq(bit.band(3, 2), 2, "band(3, 2)")
  T.eq(bit.bit(4), 16, "bit(4)")
  T.eq(bit.bor(3, 2), 3, "bor(3, 2)")
  T.eq(bit.bxor(3, 2), 1, "bxor(3, 2)")
  T.eq(bit.lshift(3, 1), 6, "lshift(3, 1)")
  T.eq(bit.rshift(3, 1), 1, "rshift(3, 1)")
  T.eq(bit.set(0, 1, 3), 10, "set(0, 1, 3)")
  T.eq(bit.clear(15, 0, 3), 6, "clear(15, 0, 3)")
  T.eq(bit.isset(5, 2), true, "isset(5, 2)")
  T.eq(bit.isset(5, 1), false, "isset(5, 1)")
  T.eq(bit.isclear(5, 1), true, "isclear(5, 1)")
  T.eq(bit.isclear(5, 0), false, "isclear(5, 0)")
  done()
end)

T.test("signed 32-bit results, arguments modulo 2^32", function(done)
  T.eq(bit.bnot(0), -1, "bnot(0) is -1")
  T.eq(bit.bnot(-1), 0, "bnot(-1)")
  T.eq(bit.bnot(0x7fffffff), -2147483648, "bnot(0x7fffffff)")
  T.eq(bit.band(0xffffffff, 0xff), 255, "0xffffffff is all ones")
  T.eq(bit.band(0xffffffff), -1, "band(0xffffffff) is -1")
  T.eq(bit.band(0x1ffffffff, -1), -1, "bits above 32 are dropped")
  T.eq(bit.bor(0x80000000, 0), -2147483648, "bit 31 makes a negative result")
  T.eq(bit.bxor(-1, 1), -2, "bxor(-1, 1)")
  T.eq(bit.band(7, 3, 1), 1, "band is variadic")
  T.eq(bit.bor(1, 2, 4, 8), 15, "bor is variadic")
  T.eq(bit.bxor(1, 3, 7), 5, "bxor is variadic")
  T.eq(bit.lshift(1, 31), -2147483648, "lshift(1, 31)")
  T.eq(bit.lshift(0xff, 28), -268435456, "lshift drops what leaves bit 31")
  T.eq(bit.lshift(1, 32), 1, "shift counts use their low 5 bits (as the chip)")
  T.eq(bit.rshift(-1, 28), 15, "rshift is logical")
  T.eq(bit.rshift(-1, 0), -1, "rshift(-1, 0)")
  T.eq(bit.rshift(0x80000000, 31), 1, "rshift(0x80000000, 31)")
  T.eq(bit.arshift(-16, 2), -4, "arshift keeps the sign")
  T.eq(bit.arshift(0x80000000, 31), -1, "arshift(0x80000000, 31)")
  T.eq(bit.arshift(0x40000000, 30), 1, "arshift of a positive value")
  T.eq(bit.bit(31), -2147483648, "bit(31)")
  T.eq(bit.set(0, 31), -2147483648, "set(0, 31)")
  T.eq(bit.isset(-1, 31), true, "isset(-1, 31)")
  T.eq(bit.clear(-1, 31), 0x7fffffff, "clear(-1, 31)")
  if is53 then
    T.eq(math.type(bit.band(5, 3)), "integer", "results are integers on 5.3+")
    T.eq(math.type(bit.bnot(0)), "integer", "bnot result is an integer")
  end
  done()
end)

T.test("argument errors", function(done)
  T.raises(function() bit.band() end, "number expected", "band() needs a number")
  T.raises(function() bit.bnot("x") end, "number expected", "bnot('x')")
  T.raises(function() bit.lshift(1) end, "number expected", "lshift needs a count")
  T.raises(function() bit.set(1, {}) end, "number expected", "set with a table position")
  T.eq(bit.band("12", 4), 4, "numeric strings are numbers, as in Lua")
  if is53 then
    T.raises(function() bit.band(1.5, 1) end, "number has no integer representation",
      "5.3+: a fraction is refused, as luaL_checkinteger on the device's 5.3 build")
    T.eq(bit.band(2.0, 3), 2, "5.3+: an integral float is accepted")
  else
    T.eq(bit.band(1.5, 1), 1, "5.1: a fraction is truncated, as on the device's 5.1 build")
    T.eq(bit.band(-1.5, -1), -1, "5.1: truncation toward zero")
  end
  done()
end)

T.run()
