-- config.lua: edit before uploading
SSID = "HomeNet"
PASSWORD = "secret123"
BROKER = "192.168.1.10"
BRPORT = 1883
BRUSER = ""
BRPWD = ""
CLIENTID = "ESP8266-" .. node.chipid()
REPORT_MS = 60000
DISCOVERY_PORT = 5000
