-- bench/sjson/docs.lua - the benchmark's documents, the same on every run
-- (Park-Miller numbers): returns {name = {table = t, what = "..."}}, in
-- order by .order.
local state = 42
local function rnd(n)
  state = (state * 16807) % 2147483647
  return state % n
end
local words = {"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed",
               "do", "eiusmod", "tempor", "incididunt", "labore", "magna", "aliqua", "caf\195\169",
               "na\195\175ve", "\226\130\172", "\"quoted\"", "back\\slash", "tab\there", "line\nbreak"}
local function text(n)
  local t = {}
  for i = 1, n do t[i] = words[rnd(#words) + 1] end
  return table.concat(t, " ")
end

-- A paginated REST answer: nested objects, a few of each JSON type.
local function api(n)
  local items = {}
  for i = 1, n do
    items[i] = {
      id = 100000 + i, login = "user" .. rnd(100000), name = text(2), email = "u" .. i .. "@example.com",
      active = rnd(3) ~= 0, score = rnd(100000) / 100, created_at = ("2024-%02d-%02dT%02d:%02d:%02dZ")
        :format(rnd(12) + 1, rnd(28) + 1, rnd(24), rnd(60), rnd(60)),
      tags = {words[rnd(8) + 1], words[rnd(8) + 1]}, parent = sjson.NULL,
      address = {street = rnd(999) .. " " .. text(1) .. " street", city = text(1), zip = ("%05d"):format(rnd(99999))},
      stats = {followers = rnd(5000), following = rnd(500), ratio = rnd(1000) / 10},
    }
  end
  return {data = items, page = 3, per_page = n, total = 57 * n, next = "https://api.example.com/v1/users?page=4"}
end

-- A sensor time series: arrays of numbers, integers and decimals.
local function numbers(n)
  local rows, t = {}, 1700000000
  for i = 1, n do
    t = t + 60
    rows[i] = {t, rnd(400) / 10 - 5, rnd(100), rnd(1000000) / 1000, -rnd(50)}
  end
  return {sensor = "bme280", unit = {"s", "C", "%", "hPa", "dBm"}, rows = rows}
end

-- Messages with long texts: escapes, raw UTF-8.
local function strings(n)
  local m = {}
  for i = 1, n do m[i] = {title = text(6), body = text(60 + rnd(60)), lang = "en"} end
  return {messages = m}
end

-- What a device decodes most often: one small answer (a weather API).
local function small()
  return {coord = {lon = 13.41, lat = 52.52}, weather = {{id = 800, main = "Clear", description = "clear sky"}},
          main = {temp = 21.5, feels_like = 20.9, pressure = 1012, humidity = 40}, visibility = 10000,
          wind = {speed = 4.1, deg = 80}, dt = 1700000000, name = "Berlin", cod = 200}
end

return {
  {name = "api", table = api(1500), what = "REST answer: 1500 nested objects (strings, integers, decimals, booleans, null)"},
  {name = "numbers", table = numbers(20000), what = "time series: 20000 arrays of 5 numbers (integers and decimals)"},
  {name = "strings", table = strings(1500), what = "1500 messages with long texts (escapes, raw UTF-8)"},
  {name = "small", table = small(), what = "one small answer (a weather API), the size a device decodes most often"},
}
