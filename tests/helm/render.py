#!/usr/bin/env python3
"""Renders or lints the Helm chart with a real Helm engine (the PyPI package helm-python-sdk: Helm v4's SDK
as a library, offline). Usage:
  render.py render CHART_DIR VALUES_FILE   -> JSON {template path: manifest} on stdout
  render.py lint CHART_DIR [VALUES_FILE]   -> JSON lint report on stdout"""
import json
import sys

import helm_python as helm


def values(path):
    return helm.values_from_yaml(open(path).read()) if path else {}


command, chart = sys.argv[1], sys.argv[2]
if command == "render":
    rendered = helm.Chart.load(chart).render(values(sys.argv[3]), name="prometheus-adapter", namespace="monitoring")
    print(json.dumps(rendered))
elif command == "lint":
    print(json.dumps(helm.lint(chart, values(sys.argv[3] if len(sys.argv) > 3 else None), strict=True)))
else:
    sys.exit(f"unknown command {command}")
