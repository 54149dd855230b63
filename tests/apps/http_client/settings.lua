-- settings.lua: this device's network, API and keys (edit before upload)
SSID = "HomeNet"
PASSWORD = "secret123"
API = "http://192.168.1.10:8080"
DEVICE = "logger-7"
API_USER = "logger-7"
API_PASS = "changeme"
SIGN_KEY = "shared secret"
