-- crypto: hashes, HMACs, hash objects, AES, mask, fhash against
-- published test vectors (RFC 1321, FIPS 180 examples, RFC 2202, RFC 4231,
-- NIST SP 800-38A) and the firmware's error messages.
local T = dofile("tests/lib/t.lua")

-- hex in Lua (the encoder module is not used here)
local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end
local function unhex(h)
  return (h:gsub("%s", ""):gsub("..", function(b) return string.char(tonumber(b, 16)) end))
end

local ALPHA = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
local ALPHA2 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq" ..
  "klmnopqrlmnopqrsmnopqrstnopqrstu"
local MILLION_A = ("a"):rep(1000000)

T.test("crypto is a global and a module", function(done)
  T.ok(type(crypto) == "table", "crypto global")
  T.eq(require("crypto"), crypto, "require 'crypto' gives the same table")
  done()
end)

T.test("hash: RFC 1321 (MD5) and FIPS 180 (SHA) vectors", function(done)
  local vectors = {
    {"MD5", "", "d41d8cd98f00b204e9800998ecf8427e"},
    {"MD5", "a", "0cc175b9c0f1b6a831c399e269772661"},
    {"MD5", "abc", "900150983cd24fb0d6963f7d28e17f72"},
    {"MD5", "message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
    {"MD5", "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
    {"MD5", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f"},
    {"MD5", ("1234567890"):rep(8), "57edf4a22be3c955ac49da2e2107b67a"},
    {"SHA1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"SHA1", ALPHA, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    {"SHA1", MILLION_A, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
    {"SHA224", "abc", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
    {"SHA256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"SHA256", ALPHA, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"SHA256", MILLION_A, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    {"SHA384", "abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163" ..
      "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"},
    {"SHA384", ALPHA2, "09330c33f71147e83d192fc782cd1b4753111b173b3b05d2" ..
      "2fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039"},
    {"SHA512", "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" ..
      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
    {"SHA512", ALPHA2, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018" ..
      "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"},
    {"RIPEMD160", "abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"},
  }
  for _, v in ipairs(vectors) do
    local label = ("%s(%s)"):format(v[1], #v[2] > 20 and #v[2] .. " bytes" or ("%q"):format(v[2]))
    T.eq(hex(crypto.hash(v[1], v[2])), v[3], "hash " .. label)
  end
  T.eq(hex(crypto.hash("sha256", "abc")), vectors[12][3], "algorithm names are case-insensitive")
  T.eq(hex(crypto.hash("Md5", "abc")), vectors[3][3], "Md5 too")
  T.eq(hex(crypto.sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d", "crypto.sha1")
  T.eq(#crypto.hash("SHA1", "\0\1\2"), 20, "binary input, raw 20-byte digest")
  done()
end)

T.test("hmac: RFC 2202 (MD5, SHA1) and RFC 4231 (SHA-2) vectors", function(done)
  local k20, k16 = ("\11"):rep(20), ("\11"):rep(16)
  local big = ("\170"):rep(131)
  local jefe, want = "Jefe", "what do ya want for nothing?"
  local long1 = "Test Using Larger Than Block-Size Key - Hash Key First"
  local long2 = "This is a test using a larger than block-size key and a larger than block-size data." ..
    " The key needs to be hashed before being used by the HMAC algorithm."
  local vectors = {
    {"MD5", "Hi There", k16, "9294727a3638bb1c13f48ef8158bfc9d"},
    {"MD5", want, jefe, "750c783e6ab0b503eaa86e310a5db738"},
    {"SHA1", "Hi There", k20, "b617318655057264e28bc0b6fb378c8ef146be00"},
    {"SHA1", want, jefe, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
    {"SHA1", long1, ("\170"):rep(80), "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
    {"SHA224", "Hi There", k20, "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"},
    {"SHA256", "Hi There", k20, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"SHA256", want, jefe, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"SHA256", long1, big, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {"SHA256", long2, big, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    {"SHA384", "Hi There", k20, "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec6" ..
      "82aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
    {"SHA384", want, jefe, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47" ..
      "e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
    {"SHA512", "Hi There", k20, "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde" ..
      "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
    {"SHA512", want, jefe, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554" ..
      "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
    {"SHA512", long1, big, "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352" ..
      "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
  }
  for i, v in ipairs(vectors) do
    T.eq(hex(crypto.hmac(v[1], v[2], v[3])), v[4], ("hmac %s #%d (key %d bytes)"):format(v[1], i, #v[3]))
  end
  done()
end)

T.test("new_hash / new_hmac: streaming equals one-shot; finalize starts over", function(done)
  for _, algo in ipairs({"MD5", "SHA1", "SHA256", "SHA384", "SHA512"}) do
    local h = crypto.new_hash(algo)
    -- the million 'a' in uneven pieces
    local left, i = #MILLION_A, 0
    while left > 0 do
      i = i + 1
      local n = math.min(left, (i * 7919) % 100000 + 1)
      h:update(MILLION_A:sub(1, n))
      left = left - n
    end
    T.eq(h:finalize(), crypto.hash(algo, MILLION_A), algo .. ": " .. i .. " updates = one-shot")
    h:update("abc")
    T.eq(h:finalize(), crypto.hash(algo, "abc"), algo .. ": after finalize the object hashes anew")
    T.eq(h:finalize(), crypto.hash(algo, ""), algo .. ": finalize of nothing is the empty hash")
    local m = crypto.new_hmac(algo, "s3kr3t")
    m:update("FirstString")
    m:update("SecondString")
    T.eq(m:finalize(), crypto.hmac(algo, "FirstStringSecondString", "s3kr3t"), algo .. ": hmac object")
    m:update("again")
    T.eq(m:finalize(), crypto.hmac(algo, "again", "s3kr3t"), algo .. ": hmac object keeps its key")
  end
  local big = ("\170"):rep(131)
  local m = crypto.new_hmac("sha256", big)
  m:update("Test Using Larger Than Block-Size Key - Hash Key First")
  T.eq(hex(m:finalize()), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    "hmac object with a key longer than a block (RFC 4231 case 6)")
  local w = T.weak(crypto.new_hash("MD5"))
  T.ok(T.collected(w), "a hash object is collectable")
  T.ok(tostring(crypto.new_hash("MD5")):find("crypto.hash", 1, true), "tostring names the type")
  done()
end)

-- NIST SP 800-38A F.1.1 / F.2.1 (AES-128)
local KEY = unhex("2b7e151628aed2a6abf7158809cf4f3c")
local IV = unhex("000102030405060708090a0b0c0d0e0f")
local PLAIN = unhex([[6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710]])
local ECB = "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf" ..
  "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"
local CBC = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2" ..
  "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"

T.test("encrypt/decrypt: NIST SP 800-38A AES-128 ECB and CBC", function(done)
  T.eq(hex(crypto.encrypt("AES-ECB", KEY, PLAIN)), ECB, "ECB encrypt F.1.1")
  T.eq(crypto.decrypt("AES-ECB", KEY, unhex(ECB)), PLAIN, "ECB decrypt F.1.2")
  T.eq(hex(crypto.encrypt("AES-CBC", KEY, PLAIN, IV)), CBC, "CBC encrypt F.2.1")
  T.eq(crypto.decrypt("AES-CBC", KEY, unhex(CBC), IV), PLAIN, "CBC decrypt F.2.2")
  T.eq(hex(crypto.encrypt("aes-cbc", KEY, PLAIN, IV)), CBC, "cipher names are case-insensitive")
  T.eq(hex(crypto.encrypt("AES-ECB", KEY, PLAIN, IV)), ECB, "ECB ignores the IV")
  done()
end)

T.test("encrypt/decrypt: the firmware's zero padding and IV rules", function(done)
  local key = "1234567890abcdef"
  local c = crypto.encrypt("AES-ECB", key, "Hi, I'm secret!")
  T.eq(#c, 16, "15 bytes encrypt to one block")
  T.eq(c, crypto.encrypt("AES-ECB", key, "Hi, I'm secret!\0"), "padded with a zero byte")
  T.eq(crypto.decrypt("AES-ECB", key, c), "Hi, I'm secret!\0", "decrypt keeps the padding")
  T.eq(crypto.decrypt("AES-ECB", key, c):match("(.-)%z*$"), "Hi, I'm secret!", "docs' way to strip it")
  T.eq(#crypto.encrypt("AES-CBC", key, ("x"):rep(33)), 48, "33 bytes: three blocks")
  T.eq(crypto.encrypt("AES-CBC", key, ""), "", "nothing encrypts to nothing")
  T.eq(crypto.encrypt("AES-CBC", key, "abc"), crypto.encrypt("AES-CBC", key, "abc", ("\0"):rep(16)),
    "no IV is an all-zero IV")
  T.eq(crypto.encrypt("AES-CBC", key, "abc", "\1\2"),
    crypto.encrypt("AES-CBC", key, "abc", "\1\2" .. ("\0"):rep(14)), "a short IV is zero-padded")
  T.eq(crypto.encrypt("AES-CBC", key, "abc", ("i"):rep(16) .. "extra"),
    crypto.encrypt("AES-CBC", key, "abc", ("i"):rep(16)), "a long IV is cut to 16 bytes")
  -- a ciphertext that is not whole blocks is zero-padded, as on the device
  local partial = unhex(CBC):sub(1, 20)
  T.eq(crypto.decrypt("AES-CBC", KEY, partial, IV):sub(1, 16), PLAIN:sub(1, 16),
    "partial ciphertext: the whole blocks still decrypt")
  T.eq(#crypto.decrypt("AES-CBC", KEY, partial, IV), 32, "and the rest is padded to a block")
  local big = ("0123456789abcdef"):rep(65536) .. "tail"
  local enc = crypto.encrypt("AES-CBC", key, big, "iv")
  T.eq(crypto.decrypt("AES-CBC", key, enc, "iv"), big .. ("\0"):rep(12), "1 MiB round trip")
  done()
end)

T.test("mask", function(done)
  T.eq(hex(crypto.mask("some message to obscure", "X0Y7")),
    "2b5f3452785d3c442b513e527844361737522a542d423c", "mask repeats the key (computed independently)")
  T.eq(crypto.mask(crypto.mask("round trip\0\255", "k"), "k"), "round trip\0\255", "XOR twice")
  T.eq(crypto.mask("", "k"), "", "empty message")
  T.eq(crypto.mask("ab", "longer mask"), crypto.mask("ab", "lo"), "mask longer than the message")
  T.raises(function() crypto.mask("abc", "") end, "invalid argument: mask", "empty mask")
  done()
end)

T.test("fhash: a file of the root, streamed", function(done)
  local name = ("crypto-fhash-%d.tmp"):format(math.random(1e9))
  local f = assert(io.open(name, "wb"))
  f:write(MILLION_A)
  f:close()
  T.eq(hex(crypto.fhash("sha1", name)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f", "SHA1 of a 1 MB file")
  T.eq(crypto.fhash("SHA512", name), crypto.hash("SHA512", MILLION_A), "SHA512 of the same")
  f = assert(io.open(name, "wb"))
  f:close()
  T.eq(hex(crypto.fhash("md5", name)), "d41d8cd98f00b204e9800998ecf8427e", "an empty file")
  os.remove(name)
  T.raises(function() crypto.fhash("md5", name) end, "file does not exist", "missing file")
  T.raises(function() crypto.fhash("md5", "tests") end, "file does not exist", "a directory")
  T.raises(function() crypto.fhash("md9", "tests/crypto.lua") end, "unknown hash mech", "bad algorithm")
  done()
end)

T.test("old forms: crypto.toHex / toBase64 still run", function(done)
  T.eq(crypto.toHex("\0\1\171\255"), "0001abff", "toHex")
  local b = {"", "f", "fo", "foo", "foob", "fooba", "foobar"}
  local want = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"} -- RFC 4648
  for i = 1, #b do T.eq(crypto.toBase64(b[i]), want[i], "toBase64 " .. ("%q"):format(b[i])) end
  done()
end)

T.test("argument errors: the firmware's messages, no side effects", function(done)
  T.raises(function() crypto.hash("SHA3", "x") end, "unknown hash mech", "hash: unknown algorithm")
  T.raises(function() crypto.hmac("nope", "x", "k") end, "unknown hash mech", "hmac: unknown algorithm")
  T.raises(function() crypto.new_hash("") end, "unknown hash mech", "new_hash: empty name")
  T.raises(function() crypto.new_hmac("md4", "k") end, "unknown hash mech", "new_hmac: md4 not listed")
  T.raises(function() crypto.hash("MD5") end, "string expected", "hash: no data")
  T.raises(function() crypto.hash(nil, "x") end, "string expected", "hash: no algorithm")
  T.raises(function() crypto.hmac("MD5", "x") end, "string expected", "hmac: no key")
  T.raises(function() crypto.new_hmac("MD5") end, "string expected", "new_hmac: no key")
  T.raises(function() crypto.new_hash("MD5"):update({}) end, "string expected", "update: a table")
  T.raises(function() crypto.new_hash("MD5").update(42, "x") end, "crypto.hash expected",
    "update on something else")
  T.raises(function() crypto.encrypt("DES", KEY, "x") end, "unknown cipher: DES", "unknown cipher")
  T.raises(function() crypto.encrypt("AES-ECB", "short", "x") end, "crypto op failed", "5-byte key")
  T.raises(function() crypto.decrypt("AES-CBC", ("k"):rep(32), "x") end, "crypto op failed",
    "32-byte key (AES-128 only, as the firmware)")
  T.raises(function() crypto.encrypt("AES-ECB", KEY) end, "string expected", "no data")
  T.raises(function() crypto.encrypt("AES-CBC", KEY, "x", {}) end, "string expected", "table IV")
  T.raises(function() crypto.mask(nil, "x") end, "string expected", "mask: no message")
  T.raises(function() crypto.fhash("md5") end, "string expected", "fhash: no name")
  done()
end)

T.run()
