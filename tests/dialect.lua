-- The firmware's Lua dialect (issue 12): NodeMCU's Lua 5.3 keeps
-- unpack, loadstring and package.loaders (LUA_COMPAT_UNPACK,
-- LUA_COMPAT_LOADSTRING, LUA_COMPAT_LOADERS), so the runtime's 5.3 and 5.4
-- builds provide exactly those; 5.1 and LuaJIT have them natively.
local T = dofile("tests/lib/t.lua")

local v53 = _VERSION == "Lua 5.3" or _VERSION == "Lua 5.4"

T.test("unpack: the global, as on the firmware (" .. _VERSION .. ")", function(done)
  T.eq(type(unpack), "function", "unpack is a global")
  if v53 then T.ok(unpack == table.unpack, "the same function as table.unpack") end
  local a, b, c = unpack({1, 2, 3})
  T.ok(a == 1 and b == 2 and c == 3, "unpack({1, 2, 3})")
  T.eq(select("#", unpack({1, nil, 3}, 1, 3)), 3, "unpack(t, i, j)")
  -- A third-party web server's way of calling it.
  local function handler(...) return select("#", ...) end
  T.eq(handler(unpack({"GET", "/", "HTTP/1.1"})), 3, "spreads arguments")
  done()
end)

T.test("loadstring: load under its 5.1 name", function(done)
  T.eq(type(loadstring), "function", "loadstring is a global")
  if v53 then T.ok(loadstring == load, "the same function as load (as LUA_COMPAT_LOADSTRING)") end
  T.eq(loadstring("return 1 + 1")(), 2, "compiles and runs a chunk")
  local f, err = loadstring("return +", "=mychunk")
  T.ok(f == nil and tostring(err):find("mychunk", 1, true), "a syntax error: nil and the message", err)
  local ok, e = pcall(loadstring("error('boom')", "=named"))
  T.ok(not ok and tostring(e):find("named:1: boom", 1, true), "the chunk name is used", e)
  done()
end)

T.test("package.loaders: the searchers, under their 5.1 name", function(done)
  T.eq(type(package.loaders), "table", "package.loaders is a table")
  if v53 then
    T.ok(package.loaders == package.searchers, "the same table as package.searchers")
  end
  -- An old-style loader, inserted the way 5.1-era libraries do it.
  table.insert(package.loaders, 2, function(name)
    if name == "dialect_test_mod" then
      return function() return {answer = 42} end
    end
    return "\n\tno dialect_test_mod here"
  end)
  T.eq(require("dialect_test_mod").answer, 42, "require uses a loader added to package.loaders")
  T.raises(function() require("dialect_no_such_mod") end, "no dialect_test_mod here",
    "its message is part of require's error")
  table.remove(package.loaders, 2)
  done()
end)

T.test("exactly those: nothing else of 5.1 is added on 5.3/5.4", function(done)
  if not v53 then
    T.skip("5.1 forms absent on 5.3/5.4", "this is " .. _VERSION)
    done()
    return
  end
  -- The firmware's 5.3 leaves these out (no LUA_COMPAT_MODULE, no fenv).
  T.eq(setfenv, nil, "no setfenv")
  T.eq(getfenv, nil, "no getfenv")
  T.eq(module, nil, "no module()")
  T.eq(table.getn, nil, "no table.getn")
  done()
end)

T.test("a stock interpreter that loads net.so keeps its own globals", function(done)
  local lua, cpath = os.getenv("NETMCU_LUA"), os.getenv("NETMCU_CPATH")
  if os.getenv("NETMCU_SANITIZED") then
    T.skip("stock interpreter", "a sanitized module cannot load into it")
  elseif not lua or not cpath or not os.execute(lua .. " -v >/dev/null 2>&1") then
    T.skip("stock interpreter", "no NETMCU_LUA interpreter")
  else
    local p = io.popen(("LUA_CPATH='%s' %s -e 'local before = tostring(unpack) .. tostring(loadstring) .. " ..
      "tostring(package.loaders); require \"net\"; print(before == tostring(unpack) .. " ..
      "tostring(loadstring) .. tostring(package.loaders))' 2>&1"):format(cpath, lua))
    local out = p:read("*a")
    p:close()
    T.eq(out, "true\n", "require \"net\" changes none of them in " .. lua)
  end
  done()
end)

T.run()
