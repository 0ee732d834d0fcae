#!/usr/bin/env python3
"""Writes a /api/v1/series answer of 2,000 names x 500 pods (1 M series) to stdout, the benchmark shape."""
import sys

out = sys.stdout
out.write('{"status":"success","data":[')
for i in range(2000):
    kind = ["metric_%d_seconds_total", "metric_%d_total", "metric_%d_bytes"][i % 3] % i
    name = ("container_" if i < 1000 else "app_") + kind
    series = (
        '{"__name__":"%s","container":"app","endpoint":"https-metrics","instance":"10.0.%d.%d:10250",'
        '"job":"kubelet","namespace":"ns-%d","pod":"web-%05d","service":"kubelet"}'
        % (name, pod // 250, pod % 250, pod % 20, pod)
        for pod in range(500)
    )
    out.write(("," if i else "") + ",".join(series))
out.write("]}")
