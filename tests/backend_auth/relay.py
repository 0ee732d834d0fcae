"""What the test proxies in this folder share: passing a checked call on to the real Prometheus."""
import urllib.error, urllib.request


def to_prometheus(handler, prom_port, body):
    """Sends `handler`'s request (its method, path and `body`) to Prometheus and answers with its reply."""
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (prom_port, handler.path), data=body or None,
                                     method=handler.command)
    if body:
        request.add_header("Content-Type", handler.headers.get("Content-Type", ""))
    try:
        upstream = urllib.request.urlopen(request)
    except urllib.error.HTTPError as error:
        upstream = error
    with upstream:
        data = upstream.read()
        handler.send_response(upstream.status)
        handler.send_header("Content-Type", upstream.headers.get("Content-Type", "application/json"))
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
