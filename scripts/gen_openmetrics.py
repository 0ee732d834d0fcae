#!/usr/bin/env python3
"""Writes 2,000 names x PODS pods (default 500: 1 M series, the benchmark shape) as OpenMetrics for
`promtool tsdb create-blocks-from openmetrics`, one sample each, at the Unix time given (default: now - 120 s).
FORMAT=prometheus writes Prometheus text with millisecond timestamps instead (VictoriaMetrics' import)."""
import os
import sys
import time

at = float(sys.argv[1]) if len(sys.argv) > 1 else time.time() - 120
pods = int(os.environ.get("PODS", "500"))
prometheus_text = os.environ.get("FORMAT") == "prometheus"
stamp = f"{int(at * 1000)}" if prometheus_text else f"{at:.3f}"
out = sys.stdout
for i in range(2000):
    name = ("container_" if i < 1000 else "app_") + ["metric_%d_seconds", "metric_%d_requests", "metric_%d_bytes"][i % 3] % i
    out.write(f"# TYPE {name} gauge\n")
    out.write("".join(
        f'{name}{{container="app",endpoint="https-metrics",instance="10.{pod // 62500}.{pod // 250 % 250}.{pod % 250}:10250",'
        f'job="kubelet",namespace="ns-{pod % 20}",pod="web-{pod:05}",service="kubelet"}} 1 {stamp}\n'
        for pod in range(pods)
    ))
if not prometheus_text:
    out.write("# EOF\n")
