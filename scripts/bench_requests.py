#!/usr/bin/env python3
"""Per-request overhead of the adapter over the PromQL it runs: the same queries sent through the adapter
(HTTPS, keep-alive) and straight to Prometheus (HTTP, keep-alive), sequentially, and the discovery document.
Prints p50/p99/max per case, in milliseconds.
Usage: bench_requests.py ADAPTER_PORT CA_FILE PROM_PORT N CLIENT_CERT CLIENT_KEY."""
import http.client
import ssl
import sys
import time
import urllib.parse

port, ca, prom_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
n = int(sys.argv[4])
context = ssl.create_default_context(cafile=ca)
context.load_cert_chain(sys.argv[5], sys.argv[6])
adapter = http.client.HTTPSConnection("127.0.0.1", port, context=context)
prometheus = http.client.HTTPConnection("127.0.0.1", prom_port)


def timed(conn, path):
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status == 200, (path, response.status, body[:200])
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)], samples[-1]


def prom(query):
    return "/api/v1/query?" + urllib.parse.urlencode({"query": query})


cases = [
    ("custom, one object (Object metric)",
     "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/worker/queue_length",
     'max(app_queue_length{namespace="prod",deployment="worker"}) by (deployment)'),
    ("custom, pods by selector (Pods metric)",
     "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/*/http_requests_per_second?labelSelector=app%3Dweb",
     'sum(rate(http_requests_total{namespace="prod",pod=~"web-1|web-2|web-3"}[2m])) by (pod)'),
    ("external",
     "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders",
     'sum(queue_depth{queue="orders",namespace="shop"}) by (queue)'),
]
print(f"{n} sequential requests per case; milliseconds")
print(f"{'case':42} {'adapter p50/p99/max':>22} {'prometheus p50/p99/max':>24} {'overhead p50/p99':>18}")
for name, path, query in cases:
    a = timed(adapter, path)
    p = timed(prometheus, prom(query))
    print(f"{name:42} {a[0]:6.2f} {a[1]:6.2f} {a[2]:7.2f} {p[0]:7.2f} {p[1]:7.2f} {p[2]:7.2f}   {a[0]-p[0]:6.2f} {a[1]-p[1]:6.2f}")
d = timed(adapter, "/apis/custom.metrics.k8s.io/v1beta1")
print(f"{'discovery /apis/custom.metrics.k8s.io/v1beta1':42} {d[0]:6.2f} {d[1]:6.2f} {d[2]:7.2f}")
