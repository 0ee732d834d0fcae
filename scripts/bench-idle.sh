#!/usr/bin/env bash
# Idle connections and memory (BENCHMARKS.md): the demo stack with a release build; RSS at idle, with N idle TLS
# connections open (handshake done, client certificate, one request each so HTTP/2 is set up, then silent), and
# after they are closed.
# Usage: scripts/bench-idle.sh [CONNECTIONS=2000] [EXTRA ADAPTER FLAGS...]
# ADAPTER_BIN=PATH measures that binary (an older build, for an A/B) instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
shift || true
source scripts/env.sh
bin=$(release_adapter)
ADAPTER_EXTRA_ARGS="$*" start_stack "$bin"

adapter_pid=${pids[-1]}
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$adapter_pid/status"; }
echo "idle: $(rss)"
ulimit -n 65536 2>/dev/null || true
python3 - "$port" "$work" "$n" "$adapter_pid" <<'PY'
import socket, ssl, sys, time
port, work, n, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return f"{int(line.split()[1]) / 1024:.1f} MiB"
ctx = ssl.create_default_context(cafile=f"{work}/certs/apiserver.crt")
ctx.load_cert_chain(f"{work}/demo-user.crt", f"{work}/demo-user.key")
ctx.set_alpn_protocols(["http/1.1"])
conns, waiting = [], 0
for i in range(n):
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=2)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        s.sendall(b"GET /apis HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(65536)
        conns.append(s)
    except OSError:
        # Beyond --max-connections the connection waits in the backlog: the handshake times out.
        waiting += 1
        raw.close()
time.sleep(2)
print(f"{len(conns)} idle TLS connections open ({waiting} not accepted within 2 s): {rss()}")
for s in conns:
    s.close()
time.sleep(5)
print(f"5 s after closing them: {rss()}")
PY
