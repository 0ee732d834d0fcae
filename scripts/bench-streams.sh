#!/usr/bin/env bash
# Unread HTTP/2 streams (BENCHMARKS.md, "Streams whose answers are never read"): the demo stack with a release
# build; one TLS connection that reads the server's SETTINGS, ignores its stream limit, opens N streams for
# /metrics (~20 KB answers) at once and never widens a window. Prints how many streams were answered, refused
# (RST_STREAM(REFUSED_STREAM)) or cut by a GOAWAY, and RSS before, during and 5 s after.
# Usage: scripts/bench-streams.sh [STREAMS=20000]
# ADAPTER_BIN=PATH measures that binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
source scripts/env.sh
bin=$(release_adapter)
start_stack "$bin"
python3 - "$port" "$work" "$n" "${pids[-1]}" <<'PY'
import socket, ssl, struct, sys, time
port, work, n, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return f"{int(line.split()[1]) / 1024:.1f} MiB"
def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
def literal(index, value):  # HPACK literal without indexing, indexed name, no Huffman (value < 127 bytes)
    return bytes([index, len(value)]) + value
print(f"idle: {rss()}")
ctx = ssl.create_default_context(cafile=f"{work}/certs/apiserver.crt")
ctx.load_cert_chain(f"{work}/demo-user.crt", f"{work}/demo-user.key")
ctx.set_alpn_protocols(["h2"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
assert s.selected_alpn_protocol() == "h2"
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
block = b"\x82\x87" + literal(4, b"/metrics") + literal(1, b"127.0.0.1")  # GET, https, :path, :authority
out = bytearray()
for i in range(n):
    out += frame(1, 0x5, 1 + 2 * i, block)  # HEADERS, END_STREAM | END_HEADERS
s.sendall(bytes(out))
answered = refused = 0
goaway = None
s.settimeout(5)
buf = b""
def read(k):
    global buf
    while len(buf) < k:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    head, buf = buf[:k], buf[k:]
    return head
try:
    while answered + refused < n:
        head = read(9)
        length = int.from_bytes(head[:3], "big")
        kind, flags = head[3], head[4]
        payload = read(length)
        if kind == 1:
            answered += 1
        elif kind == 3:
            refused += 1
        elif kind == 7:
            goaway = int.from_bytes(payload[4:8], "big")
        elif kind == 4 and not flags & 1:
            s.sendall(frame(4, 1, 0))
        elif kind == 6 and not flags & 1:
            s.sendall(frame(6, 1, 0, payload))
except (EOFError, socket.timeout, ConnectionResetError):
    pass
print(f"{n} streams: {answered} answered, {refused} refused, GOAWAY {goaway}; RSS with the connection open: {rss()}")
s.close()
time.sleep(5)
print(f"5 s after closing it: {rss()}")
PY
