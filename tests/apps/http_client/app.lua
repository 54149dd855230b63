-- app.lua of the data logger: fetches its settings from the API (JSON,
-- HTTP basic auth), installs the update file the API names (download to
-- flash, compile, run), then posts signed JSON reports (HMAC-SHA256 of the
-- body; each sample also packed with struct and base64-encoded) until the
-- API's count is reached; the last answer is kept on flash.
local auth = "Authorization: Basic " .. encoder.toBase64(API_USER .. ":" .. API_PASS) .. "\r\n"
local settings
local sent = 0

local function sample(i)
  local ts = rtctime.get()
  local temp = 200 + i * 3            -- tenths of a degree, made up
  return {n = i, ts = ts, temp = temp,
          raw = encoder.toBase64(struct.pack("<I4h", ts, temp))}
end

local function save(name, text)
  local f = file.open(name, "w")
  f:write(text)
  f:close()
end

local function report(done)
  local samples = {}
  for i = 1, settings.samples do samples[i] = sample(sent * settings.samples + i) end
  local body = sjson.encode({device = DEVICE, uptime = tmr.time(), samples = samples})
  local headers = "Content-Type: application/json\r\n" ..
    "X-Signature: " .. encoder.toHex(crypto.hmac("sha256", body, SIGN_KEY)) .. "\r\n" ..
    "X-Digest: " .. encoder.toHex(crypto.hash("sha1", body)) .. "\r\n" .. auth
  http.post(API .. "/report", headers, body, function(code, data)
    if code ~= 200 then
      print("report refused: " .. code .. " " .. tostring(data))
    else
      local answer = sjson.decode(data)
      sent = sent + 1
      print("report " .. answer.id .. " accepted")
      save("last_report.json", data)
    end
    done()
  end)
end

local function run_reports()
  local t = tmr.create()
  t:alarm(settings.interval, tmr.ALARM_AUTO, function()
    t:stop()
    report(function()
      if sent >= settings.reports then
        t:unregister()
        print("all " .. sent .. " reports sent")
      else
        t:start()
      end
    end)
  end)
end

local function install(name, next_step)
  http.get(API .. "/files/" .. name, auth, function(code, data)
    if code ~= 200 then
      print("update " .. name .. ": HTTP " .. code)
      return next_step()
    end
    save(name, data)
    node.compile(name)
    file.remove(name)
    print("installed " .. name .. " (" .. #data .. " bytes)")
    dofile((name:gsub("%.lua$", ".lc")))
    next_step()
  end)
end

http.get(API .. "/config?device=" .. DEVICE, auth, function(code, data)
  if code ~= 200 then
    print("no settings from the API: " .. code)
    return
  end
  settings = sjson.decode(data)
  print("settings: every " .. settings.interval .. " ms, " .. settings.reports .. " reports")
  if settings.update and settings.update ~= sjson.NULL then
    install(settings.update, run_reports)
  else
    run_reports()
  end
end)
