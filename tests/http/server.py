#!/usr/bin/env python3
# tests/http/server.py - the HTTP(S) server of the http tests, on loopback.
#   server.py DIR   (DIR holds ca.pem and the server certificates made by
#                    tests/http.sh; without them only plain HTTP is served)
# Listens on free 127.0.0.1 ports and prints one line
#   READY http=P https=P expired=P wrongname=P untrusted=P
# then serves until killed, until its stdin closes, or after 600 s.
# Every path is a behaviour the tests need (see ROUTES below).
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TAGS = {}  # X-Tag of a connection's first request -> connections open now
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client closes

    def log_message(self, *args):
        pass

    tag = None

    def finish(self):
        try:
            super().finish()
        finally:
            if self.tag is not None:
                with LOCK:
                    TAGS[self.tag] -= 1

    def reply(self, code, body=b"", headers=(), close=False):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def handle_any(self):
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        data = self.body()
        if self.tag is None and self.headers.get("X-Tag"):
            self.tag = self.headers.get("X-Tag")
            with LOCK:
                TAGS[self.tag] = TAGS.get(self.tag, 0) + 1
        route = ROUTES.get(path.split("/")[1] if path.count("/") else path)
        if route is None:
            return self.reply(404, "no such page: " + path)
        return route(self, path, q, data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = handle_any


def hello(h, path, q, data):
    h.reply(200, "hello world", [("Content-Type", "text/plain"), ("X-Dup", "first"), ("X-Dup", "last"),
                                 ("X-Spaced", "   value")])


def echo(h, path, q, data):
    # method, path, then the request headers as received, then the body
    lines = [h.command + " " + h.path]
    for k, v in h.headers.items():
        lines.append(k + ": " + v)
    h.reply(200, "\n".join(lines) + "\n\n" + data.decode("latin-1"))


def status(h, path, q, data):
    code = int(path.split("/")[2])
    h.reply(code, "status %d" % code)


def redirect(h, path, q, data):
    # /redirect/CODE?to=URL
    code = int(path.split("/")[2])
    h.reply(code, "moved", [("Location", q.get("to", "/hello"))])


def chain(h, path, q, data):
    # /chain/N: N redirects, then 200 "done N"
    n = int(path.split("/")[2])
    if n == 0:
        return h.reply(200, "done")
    h.reply(302, "", [("Location", "/chain/%d" % (n - 1))])


def loop(h, path, q, data):
    h.reply(302, "", [("Location", "/loop")])


def rel(h, path, q, data):
    # /rel/a/b: Location "hello" relative to /rel/a/
    if path.endswith("/hello"):
        return h.reply(200, "relative ok " + path)
    h.reply(301, "", [("Location", "hello")])


def chunked(h, path, q, data):
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for part in [b"chunk one,", b" chunk two,", b"x" * 5000, b" end"]:
        h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.flush()
    h.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")


def slow(h, path, q, data):
    time.sleep(int(q.get("ms", "1000")) / 1000.0)
    h.reply(200, "slow")


def stall(h, path, q, data):
    # headers and part of the body, then nothing for a while
    h.send_response(200)
    h.send_header("Content-Length", "100")
    h.end_headers()
    h.wfile.write(b"x" * 10)
    h.wfile.flush()
    time.sleep(int(q.get("ms", "5000")) / 1000.0)
    h.close_connection = True


def drop(h, path, q, data):
    # promises 1000 bytes, sends 100, closes
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    h.wfile.write(b"y" * 100)
    h.wfile.flush()
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


def hangup(h, path, q, data):
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


def garbage(h, path, q, data):
    h.wfile.write(b"SURPRISE\r\nnot http at all\r\n\r\n")
    h.close_connection = True


def big(h, path, q, data):
    # /big?n=N: N bytes, a repeating pattern the client can check
    n = int(q.get("n", "100000"))
    h.send_response(200)
    h.send_header("Content-Length", str(n))
    h.end_headers()
    pat = b"0123456789abcdef" * 4096
    while n > 0:
        k = min(n, len(pat))
        h.wfile.write(pat[:k])
        n -= k


def conns(h, path, q, data):
    # /conns?tag=T: connections tagged T (X-Tag) still open
    with LOCK:
        n = TAGS.get(q.get("tag"), 0)
    h.reply(200, str(n), close=True)


ROUTES = {"hello": hello, "echo": echo, "status": status, "redirect": redirect, "chain": chain,
          "loop": loop, "rel": rel, "chunked": chunked, "slow": slow, "stall": stall, "drop": drop,
          "hangup": hangup, "garbage": garbage, "big": big, "conns": conns}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    tls = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is not None:  # the handshake runs in the handler's thread
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass  # a client that fails the handshake or hangs up is expected


def serve(tls_files=None):
    srv = Server(("127.0.0.1", 0), Handler)
    if tls_files:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls_files)
        srv.tls = ctx
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else ""
    ports = {"http": serve()}
    for name in ("https", "expired", "wrongname", "untrusted"):
        cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
        if d and os.path.exists(cert):
            ports[name] = serve((cert, key))
    print("READY " + " ".join("%s=%d" % kv for kv in ports.items()), flush=True)
    # Ends with its parent: stdin closes; a bound as a last resort.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    time.sleep(600)
    os._exit(0)


if __name__ == "__main__":
    main()
