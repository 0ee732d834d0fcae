#!/usr/bin/env python3
"""Independent counterparts for tests/backend_auth.rs: an OAuth 2.0 token endpoint (client credentials,
RFC 6749 §4.4) and a reverse proxy in front of Prometheus that lets a call through only with a token the
endpoint issued and that has not expired, or with HTTP basic credentials matching a password file.

usage: servers.py TOKEN_PORT PROXY_PORT PROMETHEUS_PORT CLIENT_ID SECRET_FILE USERNAME PASSWORD_FILE LIFETIME
Secrets are read from their files at every check, so a test rotates them by rewriting the files.
GET /state on the token port answers what was seen; POST /down and /up stop and restart issuing tokens."""
import base64, http.server, json, sys, threading, time, urllib.parse

import relay

token_port, proxy_port, prom_port = map(int, sys.argv[1:4])
client_id, secret_file, username, password_file = sys.argv[4:8]
lifetime = int(sys.argv[8])
lock = threading.Lock()
state = {"fetches": 0, "refused": 0, "down": False, "scope": None, "audience": None, "proxied": 0, "rejected": 0}
tokens = {}


def read(path):
    with open(path) as f:
        return f.read().strip()


class Tokens(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers answer

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            self.answer(200, state)

    def do_POST(self):
        if self.path in ("/down", "/up"):
            with lock:
                state["down"] = self.path == "/down"
            return self.answer(200, state)
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        one = lambda k: form.get(k, [None])[0]
        with lock:
            if state["down"]:
                return self.answer(503, {"error": "temporarily_unavailable"})
            ok = (one("grant_type") == "client_credentials" and one("client_id") == client_id
                  and one("client_secret") == read(secret_file))
            if not ok:
                state["refused"] += 1
                return self.answer(401, {"error": "invalid_client"})
            state["fetches"] += 1
            state["scope"], state["audience"] = one("scope"), one("audience")
            token = "tok-%d" % state["fetches"]
            tokens[token] = time.time() + lifetime
        self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": lifetime})

    def log_message(self, *args):
        pass


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def allowed(self):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return tokens.get(auth[7:], 0) > time.time()
        if auth.startswith("Basic "):
            return base64.b64decode(auth[6:]).decode() == "%s:%s" % (username, read(password_file))
        return False

    def relay(self):
        with lock:
            ok = self.allowed()
            state["proxied" if ok else "rejected"] += 1
        if not ok:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        relay.to_prometheus(self, prom_port, self.rfile.read(length) if length else None)

    do_GET = do_POST = relay

    def log_message(self, *args):
        pass


for port, handler in ((token_port, Tokens), (proxy_port, Proxy)):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
