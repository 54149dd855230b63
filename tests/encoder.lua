-- encoder: Base64 and hex, with the firmware's errors.
local T = dofile("tests/lib/t.lua")

local all = {}
for i = 0, 255 do all[#all + 1] = string.char(i) end
all = table.concat(all)

T.test("encoder is a global and a module", function(done)
  T.ok(type(encoder) == "table", "encoder global")
  T.eq(require("encoder"), encoder, "require 'encoder' gives the same table")
  done()
end)

T.test("Base64: RFC 4648 test vectors, both ways", function(done)
  local v = {[""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
             fooba = "Zm9vYmE=", foobar = "Zm9vYmFy"}
  for plain, b64 in pairs(v) do
    T.eq(encoder.toBase64(plain), b64, ("toBase64(%q)"):format(plain))
    T.eq(encoder.fromBase64(b64), plain, ("fromBase64(%q)"):format(b64))
  end
  T.eq(encoder.toBase64("hello world"), "aGVsbG8gd29ybGQ=", "the docs' example")
  T.eq(encoder.fromBase64(encoder.toBase64(all)), all, "every byte value round-trips")
  T.eq(encoder.toBase64("\255\254\253"), "//79", "the alphabet's last characters")
  T.eq(encoder.fromBase64("Zh=="), "f", "bits beyond the last byte are ignored (as the firmware)")
  local big = all:rep(4096)
  T.eq(encoder.fromBase64(encoder.toBase64(big)), big, "1 MiB round-trips")
  done()
end)

T.test("Base64: invalid strings raise the firmware's error", function(done)
  for _, bad in ipairs({"Zg=", "abc", "a", "Zm9v\n", "ab=c", "a===", "====", "Zm9@", "Zm9v Zg==",
                        "Zm\0v", "Zg==Zg=="}) do
    T.raises(function() encoder.fromBase64(bad) end, "Invalid base64 string",
      "fromBase64 of " .. encoder.toHex(bad))
  end
  T.raises(function() encoder.toBase64() end, "string expected", "toBase64() needs a string")
  T.raises(function() encoder.fromBase64({}) end, "string expected", "fromBase64({})")
  done()
end)

T.test("hex: both ways, lower-case out, either case in", function(done)
  T.eq(encoder.toHex("\0\1\127\128\255"), "00017f80ff", "toHex")
  T.eq(encoder.toHex(""), "", "toHex('')")
  T.eq(encoder.fromHex("6a6a6a"), "jjj", "the docs' example")
  T.eq(encoder.fromHex("00017F80Ff"), "\0\1\127\128\255", "fromHex, mixed case")
  T.eq(encoder.fromHex(""), "", "fromHex('')")
  T.eq(encoder.fromHex(encoder.toHex(all)), all, "every byte value round-trips")
  T.eq(encoder.toHex(12), "3132", "a number is taken as its string, as in Lua")
  for _, bad in ipairs({"abc", "0g", "zz", " 00", "0\0", "-1"}) do
    T.raises(function() encoder.fromHex(bad) end, "Invalid hex string", ("fromHex(%q)"):format(bad))
  end
  T.raises(function() encoder.toHex(nil) end, "string expected", "toHex(nil)")
  done()
end)

T.run()
