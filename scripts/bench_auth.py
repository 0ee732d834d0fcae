#!/usr/bin/env python3
"""Per-request cost of authentication and authorization (BENCHMARKS.md). Two modes:

  bench_auth.py reviewer PORT
      a stand-in kube-apiserver answering TokenReview (every token is user "bench") and SubjectAccessReview
      (allowed), counting both; the adapter asks it once per cache TTL.
  bench_auth.py measure ADAPTER_PORT SERVING_CA DIR N LABEL [MODE]
      N sequential keep-alive GETs of /version, MODE one of: anonymous, client-cert, front-proxy, token.
      Prints p50/p99/max in milliseconds.
"""
import http.client
import http.server
import json
import ssl
import sys
import time


class Reviewer(http.server.BaseHTTPRequestHandler):
    counts = {"tokenreviews": 0, "subjectaccessreviews": 0}

    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        kind = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        Reviewer.counts[kind] = Reviewer.counts.get(kind, 0) + 1
        if kind == "tokenreviews":
            review["status"] = {"authenticated": True, "user": {"username": "bench", "groups": ["bench"]}}
        else:
            review["status"] = {"allowed": True}
        body = json.dumps(review).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        body = json.dumps({"counts": Reviewer.counts}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def measure(port, ca, directory, n, label, mode):
    context = ssl.create_default_context(cafile=ca)
    headers = {"Accept": "application/json"}
    if mode == "client-cert":
        context.load_cert_chain(f"{directory}/client.crt", f"{directory}/client.key")
    elif mode == "front-proxy":
        context.load_cert_chain(f"{directory}/proxy.crt", f"{directory}/proxy.key")
        headers.update({"X-Remote-User": "bench", "X-Remote-Group": "bench"})
    elif mode == "token":
        headers["Authorization"] = "Bearer bench-token"
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", "/version", headers=headers)
        response = conn.getresponse()
        body = response.read()
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status == 200, (mode, response.status, body[:300])
    samples.sort()
    p50, p99, top = samples[len(samples) // 2], samples[int(len(samples) * 0.99)], samples[-1]
    print(f"{label:48} {p50:6.3f} {p99:6.3f} {top:7.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "reviewer":
        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Reviewer).serve_forever()
    else:
        measure(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6],
                sys.argv[7] if len(sys.argv) > 7 else "anonymous")
