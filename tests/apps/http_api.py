#!/usr/bin/env python3
"""tests/apps/http_api.py FILES_DIR LOG - the HTTP JSON API the data logger
(tests/apps/http_client) talks to, on 127.0.0.1 at a port the kernel picks
(printed first).  Every request needs basic auth logger-7:pw-7.
  GET  /config          {"interval", "samples", "reports", "update"} from
                        FILES_DIR/config.json
  GET  /files/NAME      FILES_DIR/NAME
  POST /report          checks X-Signature (HMAC-SHA256 of the body, key
                        "k-7"), X-Digest (SHA-1) and every sample's "raw"
                        (base64 of struct "<I4h" ts, temp); answers
                        {"ok": true, "id": n} and logs "report n ok ..."
                        to LOG, or 400/403 and "report bad ..."
Runs until killed."""
import base64, hashlib, hmac, json, os, struct, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FILES, LOG = sys.argv[1], sys.argv[2]
AUTH = "Basic " + base64.b64encode(b"logger-7:pw-7").decode()
KEY = b"k-7"
lock = threading.Lock()
reports = [0]


def log(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if self.headers.get("Authorization") == AUTH:
            return True
        log("unauthorized " + self.path)
        self.answer(401, '{"error":"unauthorized"}')
        return False

    def do_GET(self):
        if not self.authorized():
            return
        if self.path.startswith("/config"):
            log("config " + self.path)
            with open(os.path.join(FILES, "config.json")) as f:
                return self.answer(200, f.read())
        name = self.path[len("/files/"):] if self.path.startswith("/files/") else ""
        path = os.path.join(FILES, name)
        if name and "/" not in name and os.path.isfile(path):
            log("file " + name)
            with open(path, "rb") as f:
                return self.answer(200, f.read(), "text/plain")
        self.answer(404, '{"error":"not found"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.authorized():
            return
        sig = hmac.new(KEY, body, hashlib.sha256).hexdigest()
        if self.headers.get("X-Signature", "").lower() != sig:
            log("report bad signature")
            return self.answer(403, '{"ok":false}')
        if self.headers.get("X-Digest", "").lower() != hashlib.sha1(body).hexdigest():
            log("report bad digest")
            return self.answer(400, '{"ok":false}')
        try:
            doc = json.loads(body)
            for s in doc["samples"]:
                ts, temp = struct.unpack("<Ih", base64.b64decode(s["raw"]))
                if (ts, temp) != (s["ts"], s["temp"]):
                    raise ValueError("raw %r != %r" % ((ts, temp), (s["ts"], s["temp"])))
        except Exception as e:
            log("report bad %s" % e)
            return self.answer(400, '{"ok":false}')
        with lock:
            reports[0] += 1
            n = reports[0]
        log("report %d ok %s %d samples %s" % (n, doc["device"], len(doc["samples"]),
                                               " ".join(str(s["temp"]) for s in doc["samples"])))
        self.answer(200, json.dumps({"ok": True, "id": n}))


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
