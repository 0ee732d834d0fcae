#!/usr/bin/env python3
"""Decodes Kubernetes protobuf answers independently of the adapter: protoc (grpcio-tools) compiles
k8s.proto, Python's protobuf runtime parses the k8s\\0 envelope and the object, and each message is
printed in its JSON form (Time as RFC 3339 seconds, Duration as Go prints it, Quantity as its string, maps
as objects), with kind and apiVersion from the envelope, so it can be compared with the JSON answer.
Usage: decode.py FILE... ; prints one JSON document per line."""
import datetime
import importlib
import json
import os
import sys
import tempfile

from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))


def load():
    out = tempfile.mkdtemp()
    if protoc.main(["protoc", f"-I{HERE}", f"--python_out={out}", os.path.join(HERE, "k8s.proto")]) != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    return importlib.import_module("k8s_pb2")


def go_duration(nanos):
    seconds, rest = divmod(nanos, 10**9)
    assert rest == 0, "whole seconds only"
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def repeated(field):
    # protobuf 5.x: label; 6.x and later: is_repeated.
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def plain(message):
    name = message.DESCRIPTOR.name
    if name == "Time":
        return datetime.datetime.fromtimestamp(message.seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == "Duration":
        return go_duration(message.duration)
    if name == "Quantity":
        return message.string
    out = {}
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            out[field.name] = {k: (plain(v) if hasattr(v, "DESCRIPTOR") else v) for k, v in value.items()}
        elif repeated(field):
            out[field.name] = [plain(v) if hasattr(v, "DESCRIPTOR") else v for v in value]
        elif field.message_type is not None:
            out[field.name] = plain(value)
        else:
            out[field.name] = value
    return out


def main():
    pb = load()
    for path in sys.argv[1:]:
        data = open(path, "rb").read()
        assert data[:4] == b"k8s\x00", f"{path}: no k8s magic: {data[:8]!r}"
        unknown = pb.Unknown()
        unknown.ParseFromString(data[4:])
        kind, version = unknown.typeMeta.kind, unknown.typeMeta.apiVersion
        if kind == "MetricValueList":
            kind = "MetricValueListV1beta1" if version.endswith("v1beta1") else "MetricValueListV1beta2"
        message = getattr(pb, kind)()
        message.ParseFromString(unknown.raw)
        document = {"kind": unknown.typeMeta.kind, "apiVersion": version}
        document.update(plain(message))
        print(json.dumps(document, sort_keys=True))


main()
