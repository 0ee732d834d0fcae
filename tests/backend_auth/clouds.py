#!/usr/bin/env python3
"""Independent counterparts for tests/backend_clouds.rs, each checking what it receives as the cloud would:

- a reverse proxy in front of Prometheus that lets a call through only when its AWS Signature Version 4
  verifies (recomputed by botocore's own SigV4Auth from the request as received: method, path, query,
  signed headers, body) with a known key that has not expired, or with a bearer token one of the token
  endpoints below issued and that has not expired;
- an STS endpoint: AssumeRoleWithWebIdentity (the token must be the web identity token file's content)
  and AssumeRole (itself SigV4-verified), both issuing temporary keys that expire after LIFETIME seconds;
- the container credentials endpoint of ECS and EKS Pod Identity (the pod's token file's content as the
  Authorization header), issuing the same temporary keys;
- Google's metadata server (the `Metadata-Flavor: Google` header and the monitoring.read scope required)
  and a Google token endpoint for the JWT-bearer grant, verifying the assertion's RS256 signature with
  the service account's public key (Python's `cryptography`) and its claims;
- Microsoft Entra's token endpoint (workload identity: the client assertion must be the federated token
  file's content, the scope Azure Monitor's) and Azure's instance metadata service (`Metadata: true`,
  expires_in as a string, as Azure sends it).

usage: clouds.py DIR PROMETHEUS_PORT LIFETIME
Writes DIR/ports.json (each server's port) and two service-account keys (DIR/google-key-a.json,
DIR/google-key-b.json; only key a is accepted until POST /rotate-google), then prints "ready".
GET /state on the control port answers what was seen, POST /reset forgets it; POST /down/NAME and /up/NAME
stop and restart one token endpoint (sts, container, metadata, google, entra, imds)."""
import base64, datetime, http.server, json, os, sys, threading, time, urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import relay

directory, prom_port, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
STATIC_KEY, STATIC_SECRET = "AKIASTATICTESTKEY", "static/secret+key"
MONITORING_READ = "https://www.googleapis.com/auth/monitoring.read"
AZURE_SCOPE = "https://prometheus.monitor.azure.com/.default"
lock = threading.Lock()
state = {"fetches": {}, "refused": {}, "down": [], "proxied": {}, "rejected": 0, "reasons": [],
         "signed_posts": 0}
aws_keys = {STATIC_KEY: (STATIC_SECRET, None, None)}  # key id -> (secret, session token, expiry)
tokens = {}  # bearer token -> (issuer, expiry)
google_keys = {}
accepted_google = {"a"}


def read(path):
    with open(path) as f:
        return f.read().strip()


def count(kind, name):
    state[kind][name] = state[kind].get(name, 0) + 1


def make_google_key(name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    google_keys[name] = key.public_key()
    return pem


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_sigv4(handler, body, expected_service="aps"):
    """Why the request's signature does not verify, or None when it does."""
    auth = handler.headers.get("Authorization", "")
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key_id, day, region, service, _ = fields["Credential"].split("/")
    if key_id not in aws_keys:
        return "unknown key " + key_id
    secret, token, expiry = aws_keys[key_id]
    if expiry is not None and expiry < time.time():
        return "expired key " + key_id
    if service != expected_service or region != "us-east-1":
        return "scope %s/%s" % (region, service)
    amz_date = handler.headers["X-Amz-Date"]
    signed = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    if abs(time.time() - signed.timestamp()) > 300:
        return "stale date"
    headers = {name: handler.headers[name] for name in fields["SignedHeaders"].split(";")}
    if token is not None and headers.get("x-amz-security-token") != token:
        return "session token not signed"
    request = AWSRequest(method=handler.command, url="http://%s%s" % (handler.headers["Host"], handler.path),
                         data=body or b"", headers=headers)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key_id, secret, token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return None if expected == fields["Signature"] else "bad signature"


def issue_aws(issuer):
    with lock:
        count("fetches", issuer)
        n = sum(state["fetches"].values())
        key, secret, token = "ASIATEMP%d" % n, "temp-secret-%d" % n, "session-token-%d" % n
        expiry = time.time() + lifetime
        aws_keys[key] = (secret, token, expiry)
    stamp = datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return key, secret, token, stamp


def issue_bearer(issuer):
    with lock:
        count("fetches", issuer)
        token = "%s-token-%d" % (issuer, state["fetches"][issuer])
        tokens[token] = (issuer, time.time() + lifetime)
    return token


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers answer
    name = "base"

    def answer(self, code, body, kind="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def refuse(self, why, code=401):
        with lock:
            count("refused", self.name)
            state["reasons"].append("%s: %s" % (self.name, why))
        return self.answer(code, {"error": "invalid_request", "error_description": why})

    def is_down(self):
        with lock:
            return self.name in state["down"]

    def log_message(self, *args):
        pass


class Sts(Base):
    name = "sts"

    def do_POST(self):
        body = self.body()
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if self.is_down():
            return self.answer(503, b"<ErrorResponse/>", "text/xml")
        action = form.get("Action")
        if action == "AssumeRoleWithWebIdentity":
            if form.get("WebIdentityToken") != read(os.path.join(directory, "web-identity-token")):
                return self.refuse("web identity token", 400)
            issuer = "sts-web-identity"
        elif action == "AssumeRole":
            with lock:
                why = verify_sigv4(self, body, "sts") if self.headers.get("Authorization", "").startswith("AWS4") \
                    else "unsigned"
            if why is not None:
                return self.refuse(why, 403)
            issuer = "sts-assume-role"
        else:
            return self.refuse("action %s" % action, 400)
        key, secret, token, expiry = issue_aws(issuer)
        result = action + "Result"
        xml = ("<{a}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{r}><Credentials>"
               "<AccessKeyId>{k}</AccessKeyId><SecretAccessKey>{s}</SecretAccessKey>"
               "<SessionToken>{t}</SessionToken><Expiration>{e}</Expiration></Credentials>"
               "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/prometheus/adapter</Arn>"
               "<AssumedRoleId>AROA:adapter</AssumedRoleId></AssumedRoleUser></{r}>"
               "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></{a}Response>").format(
            a=action, r=result, k=key, s=secret, t=token, e=expiry)
        self.answer(200, xml.encode(), "text/xml")


class Container(Base):
    """The container credentials endpoint (ECS; EKS Pod Identity's agent): the pod's token file as the
    Authorization header, temporary keys as JSON."""
    name = "container"

    def do_GET(self):
        if self.is_down():
            return self.answer(503, {"message": "unavailable"})
        if self.path != "/v1/credentials":
            return self.refuse("path " + self.path, 404)
        if self.headers.get("Authorization") != read(os.path.join(directory, "pod-identity-token")):
            return self.refuse("authorization token", 401)
        key, secret, token, expiry = issue_aws("container")
        self.answer(200, {"AccessKeyId": key, "SecretAccessKey": secret, "Token": token, "Expiration": expiry,
                          "AccountId": "123456789012"})


class Metadata(Base):
    name = "metadata"

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if self.is_down():
            return self.answer(503, {"error": "unavailable"})
        if url.path != "/computeMetadata/v1/instance/service-accounts/default/token":
            return self.refuse("path " + url.path, 404)
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.refuse("no Metadata-Flavor header", 403)
        if query.get("scopes") != [MONITORING_READ]:
            return self.refuse("scopes %s" % query.get("scopes"), 400)
        self.answer(200, {"access_token": issue_bearer("metadata"), "expires_in": lifetime,
                          "token_type": "Bearer"})


class Google(Base):
    name = "google"

    def do_POST(self):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.body().decode()).items()}
        if self.is_down():
            return self.answer(503, {"error": "unavailable"})
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self.refuse("grant_type %s" % form.get("grant_type"), 400)
        head, claims, signature = form.get("assertion", "..").split(".")
        header, payload = json.loads(b64url(head)), json.loads(b64url(claims))
        with lock:
            accepted = [n for n in accepted_google if header.get("kid") == "key-" + n]
        if header.get("alg") != "RS256" or not accepted:
            return self.refuse("header %s" % header)
        try:
            google_keys[accepted[0]].verify(b64url(signature), ("%s.%s" % (head, claims)).encode(),
                                            padding.PKCS1v15(), hashes.SHA256())
        except Exception as error:  # InvalidSignature has no message
            return self.refuse("signature %r" % error)
        token_uri = "http://127.0.0.1:%d/token" % ports["google"]
        if (payload.get("iss") != "adapter@project.iam.gserviceaccount.com" or payload.get("aud") != token_uri
                or payload.get("scope") != MONITORING_READ or payload.get("exp", 0) < time.time()):
            return self.refuse("claims %s" % payload)
        self.answer(200, {"access_token": issue_bearer("google"), "expires_in": lifetime,
                          "token_type": "Bearer"})


class Entra(Base):
    name = "entra"

    def do_POST(self):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.body().decode()).items()}
        if self.is_down():
            return self.answer(503, {"error": "temporarily_unavailable"})
        if self.path != "/tenant-1/oauth2/v2.0/token":
            return self.refuse("path " + self.path, 404)
        expected = {"grant_type": "client_credentials", "client_id": "client-1", "scope": AZURE_SCOPE,
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": read(os.path.join(directory, "azure-federated-token"))}
        wrong = sorted(k for k, v in expected.items() if form.get(k) != v)
        if wrong:
            return self.refuse("fields %s" % wrong)
        self.answer(200, {"access_token": issue_bearer("entra"), "expires_in": lifetime,
                          "token_type": "Bearer"})


class Imds(Base):
    name = "imds"

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if self.is_down():
            return self.answer(503, {"error": "unavailable"})
        if url.path != "/metadata/identity/oauth2/token" or self.headers.get("Metadata") != "true":
            return self.refuse("path or Metadata header", 400)
        if query != {"api-version": "2018-02-01", "resource": "https://prometheus.monitor.azure.com",
                     "client_id": "identity-1"}:
            return self.refuse("query %s" % query, 400)
        # Azure answers the lifetime as a string.
        self.answer(200, {"access_token": issue_bearer("imds"), "expires_in": str(lifetime),
                          "resource": query["resource"], "token_type": "Bearer"})


class Proxy(Base):
    name = "proxy"

    def relay(self):
        body = self.body()
        auth = self.headers.get("Authorization", "")
        with lock:
            if auth.startswith("AWS4-HMAC-SHA256 "):
                why, method = verify_sigv4(self, body), "sigv4"
            elif auth.startswith("Bearer "):
                issuer, expiry = tokens.get(auth[7:], (None, 0))
                why, method = (None if expiry > time.time() else "unknown or expired token"), issuer
            else:
                why, method = "no credentials", None
            if why is None:
                count("proxied", method)
                if method == "sigv4" and self.command == "POST":
                    state["signed_posts"] += 1
            else:
                state["rejected"] += 1
                state["reasons"].append("proxy: " + why)
        if why is not None:
            return self.answer(403, {"status": "error", "error": why})
        relay.to_prometheus(self, prom_port, body)

    do_GET = do_POST = relay


class Control(Base):
    def do_GET(self):
        with lock:
            self.answer(200, state)

    def do_POST(self):
        with lock:
            if self.path == "/reset":
                state.update(fetches={}, refused={}, proxied={}, rejected=0, reasons=[], signed_posts=0)
            elif self.path == "/rotate-google":
                accepted_google.clear()
                accepted_google.add("b")
            elif self.path.startswith("/down/"):
                state["down"].append(self.path[6:])
            elif self.path.startswith("/up/"):
                state["down"].remove(self.path[4:])
            self.answer(200, state)


ports = {}
for name, handler in (("proxy", Proxy), ("sts", Sts), ("container", Container), ("metadata", Metadata), ("google", Google),
                      ("entra", Entra), ("imds", Imds), ("control", Control)):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ports[name] = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
for name in ("a", "b"):
    key = {"type": "service_account", "client_email": "adapter@project.iam.gserviceaccount.com",
           "private_key_id": "key-" + name, "private_key": make_google_key(name),
           "token_uri": "http://127.0.0.1:%d/token" % ports["google"]}
    with open(os.path.join(directory, "google-key-%s.json" % name), "w") as f:
        json.dump(key, f)
with open(os.path.join(directory, "ports.json"), "w") as f:
    json.dump(ports, f)
print("ready", flush=True)
threading.Event().wait()
