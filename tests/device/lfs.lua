-- node.LFS served from --lfs DIR; run by tests/node_lfs.sh:
-- netmcu --fs ROOT --lfs LFSDIR this.lua REPO
local repo = ...
local T = dofile(repo .. "/tests/lib/t.lua")

T.test("list, get, the index", function(done)
  local l = node.LFS.list()
  T.eq(table.concat(l, ","), "_init,broken,greet,twice", "list: the sorted module names")
  local f = node.LFS.get("greet")
  T.eq(type(f), "function", "get: the module's function")
  T.eq(f("you"), "hello you", "which runs the module")
  T.eq(node.LFS.get("greet"), f, "the same function again")
  T.eq(node.LFS.greet, f, "node.LFS.<name> is get(name)")
  T.eq(node.flashindex("greet"), f, "node.flashindex is get")
  T.eq(node.LFS.get("twice")(), "lc", "a .lc is taken before a .lua")
  T.eq(node.LFS.get("nothing"), nil, "a missing module: nil")
  T.eq(node.LFS.get(5), nil, "not a string: nil")
  T.eq(node.LFS.get("../root/x"), nil, "a path: nil")
  T.raises(function() node.LFS.get("broken") end, "broken.lua:1:", "a module that does not compile raises")
  local ok = pcall(node.flashindex("_init"))
  T.ok(ok and LFS_INIT_RAN, "the _init pattern: pcall(node.flashindex('_init'))")
  done()
end)

T.test("config, time, info, partition table", function(done)
  local c = node.LFS.config
  T.ok(c.lfs_size > 0 and c.lfs_used > 0 and c.lfs_used <= c.lfs_size, "config: size and use")
  T.eq(c.lfs_base, node.info("lfs").lfs_base, "config is node.info('lfs')")
  T.eq(type(node.LFS.time), "number", "time")
  T.eq(node.getpartitiontable().lfs_size, c.lfs_size, "the partition table's lfs_size")
  T.eq(node.info("build_config").lfs_size, c.lfs_size, "build_config.lfs_size")
  done()
end)

T.test("reload", function(done)
  T.eq(node.LFS.reload("no_such_image"), "No LFS partition allocated", "a missing image: the firmware's message")
  file.putcontents("image.img", "not a directory")
  T.ok(node.LFS.reload("image.img"):find("directory", 1, true), "a file: says LFS is a directory here")
  T.eq(node.LFS.reload("/etc"), "No LFS partition allocated", "outside the root: missing")
  done()
end)

T.run()
