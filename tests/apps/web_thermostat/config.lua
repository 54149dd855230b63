-- config.lua: returns this device's settings
return {
  ssid = "HomeNet", pwd = "secret123",
  port = 80,
  heater_pin = 5,
  default_setpoint = 20,
}
