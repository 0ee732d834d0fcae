//! A small Kubernetes API server for tests: the real discovery and list paths and JSON shapes
//! (`APIVersions`, `APIGroupList`, `APIResourceList`, typed lists and `PartialObjectMetadataList`),
//! label selectors evaluated with real Kubernetes semantics, `status.phase` and `metadata.name` field
//! selectors, and a log of every request. The adapter reaches it through the real kube client.
//! For delegated auth it also answers TokenReview (a table of tokens) and SubjectAccessReview (a set of
//! allowed users; every review's spec is kept), and serves the ConfigMap
//! `kube-system/extension-apiserver-authentication` (get, list, watch) with updates.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::label_selector::LabelSelector;

/// One object the server holds.
#[derive(Clone)]
pub struct Object {
    pub group_version: &'static str,
    pub plural: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
    pub labels: Vec<(&'static str, &'static str)>,
    pub phase: &'static str,
    /// More metadata served with the object (annotations, managedFields, ownerReferences), as real
    /// objects carry it; shared, so that a large cluster holds one copy.
    pub extra: Option<Arc<serde_json::Map<String, Value>>>,
}

pub fn object(
    gv: &'static str,
    plural: &'static str,
    namespace: &'static str,
    name: &'static str,
    labels: &[(&'static str, &'static str)],
    phase: &'static str,
) -> Object {
    Object {
        group_version: gv,
        plural,
        namespace,
        name,
        labels: labels.to_vec(),
        phase,
        extra: None,
    }
}

/// The resources served: (group/version, plural, kind, namespaced).
const RESOURCES: &[(&str, &str, &str, bool)] = &[
    ("v1", "pods", "Pod", true),
    ("v1", "namespaces", "Namespace", false),
    ("v1", "nodes", "Node", false),
    ("v1", "services", "Service", true),
    ("apps/v1", "deployments", "Deployment", true),
    ("example.com/v1", "widgets", "Widget", false),
];

pub struct KubeApi {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
    hung: Arc<std::sync::atomic::AtomicBool>,
    list_delay: Arc<Mutex<std::time::Duration>>,
    objects: Arc<Mutex<Store>>,
    auth: Arc<AuthState>,
    handle: actix_web::dev::ServerHandle,
}

/// What the delegated-auth endpoints answer from.
#[derive(Default)]
pub struct AuthState {
    /// token → `UserInfo` JSON.
    tokens: Mutex<std::collections::HashMap<String, Value>>,
    /// Users SubjectAccessReview allows.
    allowed: Mutex<std::collections::HashSet<String>>,
    /// Every SubjectAccessReview spec received, in order.
    pub access_reviews: Mutex<Vec<Value>>,
    /// How many TokenReviews were received.
    pub token_reviews: Mutex<Vec<String>>,
    /// The authentication ConfigMap's (resource version, data), if it exists.
    config_map: Mutex<Option<(u64, Value)>>,
    /// When set, SubjectAccessReviews are answered by these RBAC objects instead of `allowed`.
    rbac: Mutex<Option<crate::support::rbac::Rbac>>,
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        // The stop command is sent on the call; the future only waits for it to finish.
        drop(self.handle.stop(false));
    }
}

struct Shared {
    /// While set, every new request waits a minute before it is answered (an apiserver that hangs).
    hung: Arc<std::sync::atomic::AtomicBool>,
    /// How long every list (page) waits before it is answered.
    list_delay: Arc<Mutex<std::time::Duration>>,
    objects: Arc<Mutex<Store>>,
    requests: Arc<Mutex<Vec<String>>>,
    auth: Arc<AuthState>,
}

impl KubeApi {
    pub fn start(objects: Vec<Object>) -> KubeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        // The objects it starts with were added at version 1.
        let objects = Arc::new(Mutex::new(Store {
            version: 1,
            compacted: 0,
            changes: objects.iter().map(|o| (1, None, Some(o.clone()))).collect(),
            objects: objects.into_iter().map(|o| (1, o)).collect(),
        }));
        let list_delay = Arc::new(Mutex::new(std::time::Duration::ZERO));
        let auth = Arc::new(AuthState::default());
        let hung = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let shared = web::Data::new(Shared {
            hung: hung.clone(),
            list_delay: list_delay.clone(),
            objects: Arc::clone(&objects),
            requests: requests.clone(),
            auth: auth.clone(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .default_service(web::to(handle))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                server.await
            })
        });
        KubeApi {
            port,
            hung,
            list_delay,
            requests,
            objects,
            auth,
            handle: rx.recv().unwrap(),
        }
    }

    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: 'http://127.0.0.1:{}'}}\nusers:\n- name: test\n  user: {{token: test}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\ncurrent-context: test\n",
                self.port
            ),
        )
        .unwrap();
        path
    }

    /// Adds an object; watchers see it as an ADDED event.
    pub fn add(&self, object: Object) {
        self.objects.lock().unwrap().change(None, Some(object));
    }

    /// Replaces the labels of the object named `name` (in `namespace`, of `plural`); watchers see a
    /// MODIFIED event, or ADDED / DELETED when that moves it into or out of what they watch.
    pub fn relabel(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        labels: &[(&'static str, &'static str)],
    ) {
        let mut store = self.objects.lock().unwrap();
        let old = store.take(plural, namespace, name);
        let new = Object {
            labels: labels.to_vec(),
            ..old.clone()
        };
        store.change(Some(old), Some(new));
    }

    /// Deletes the object named `name` (in `namespace`, of `plural`); watchers see a DELETED event.
    pub fn delete(&self, plural: &str, namespace: &str, name: &str) {
        let mut store = self.objects.lock().unwrap();
        let old = store.take(plural, namespace, name);
        store.change(Some(old), None);
    }

    /// Compacts the history, as etcd does: every watch still open, and every watch or continued list
    /// resumed from before now, is answered 410 Gone (`Expired`), so clients must list again.
    pub fn expire_watches(&self) {
        let mut store = self.objects.lock().unwrap();
        // A version of its own, so that a list made after this is watched from a version still valid.
        store.version += 1;
        store.compacted = store.version;
    }

    /// Makes every list (and list page) wait `delay` before it is answered.
    pub fn set_list_delay(&self, delay: std::time::Duration) {
        *self.list_delay.lock().unwrap() = delay;
    }

    /// Makes every new request hang (for a minute) or answer again.
    pub fn set_hung(&self, hung: bool) {
        self.hung.store(hung, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// TokenReview answers `token` with this user.
    pub fn token(&self, token: &str, user: &str, groups: &[&str]) {
        let mut groups: Vec<&str> = groups.to_vec();
        groups.push("system:authenticated");
        self.auth.tokens.lock().unwrap().insert(
            token.to_string(),
            json!({"username": user, "uid": format!("uid-{user}"), "groups": groups}),
        );
    }

    /// SubjectAccessReview allows `user` everything.
    pub fn allow(&self, user: &str) {
        self.auth.allowed.lock().unwrap().insert(user.to_string());
    }

    /// Answers SubjectAccessReviews with `rbac` from now on.
    pub fn set_rbac(&self, rbac: crate::support::rbac::Rbac) {
        *self.auth.rbac.lock().unwrap() = Some(rbac);
    }

    /// The SubjectAccessReview specs received so far.
    pub fn access_reviews(&self) -> Vec<Value> {
        self.auth.access_reviews.lock().unwrap().clone()
    }

    /// How many TokenReviews were received so far.
    pub fn token_reviews(&self) -> usize {
        self.auth.token_reviews.lock().unwrap().len()
    }

    /// Creates or updates `kube-system/extension-apiserver-authentication`; watchers see it.
    pub fn set_auth_config_map(&self, data: Value) {
        let mut map = self.auth.config_map.lock().unwrap();
        let version = map.as_ref().map_or(1000, |(v, _)| v + 1);
        *map = Some((version, data));
    }
}

fn config_map(version: u64, data: &Value) -> Value {
    json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {
        "name": "extension-apiserver-authentication", "namespace": "kube-system",
        "uid": "cm-uid", "resourceVersion": version.to_string()}, "data": data})
}

fn status(code: u16, reason: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).json(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": reason, "code": code, "message": message}))
}

/// TokenReview and SubjectAccessReview, answered as kube-apiserver does.
fn review(kind: &str, auth: &AuthState, body: &[u8]) -> HttpResponse {
    let Ok(mut review) = serde_json::from_slice::<Value>(body) else {
        return status(400, "BadRequest", "the body is not a JSON object");
    };
    // Two ways to make the reviewer fail, for the error paths.
    if review["spec"]["token"] == "failing-token" || review["spec"]["user"] == "failing-review" {
        return status(500, "InternalError", "the test reviewer failed");
    }
    if kind == "tokenreviews" {
        let token = review["spec"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        auth.token_reviews.lock().unwrap().push(token.clone());
        review["status"] = match auth.tokens.lock().unwrap().get(&token) {
            Some(user) => json!({"authenticated": true, "user": user, "audiences": []}),
            None => json!({"user": {}, "error": "invalid bearer token"}),
        };
    } else {
        let spec = review["spec"].clone();
        auth.access_reviews.lock().unwrap().push(spec.clone());
        let user = spec["user"].as_str().unwrap_or_default();
        let allowed = match auth.rbac.lock().unwrap().as_ref() {
            Some(rbac) => rbac.allows(&spec),
            None => auth.allowed.lock().unwrap().contains(user),
        };
        review["status"] = if allowed {
            json!({"allowed": true, "reason": "allowed by the test policy"})
        } else {
            json!({"allowed": false, "reason": "the test policy allows only listed users"})
        };
    }
    review["metadata"] = json!({"creationTimestamp": null});
    HttpResponse::Created().json(review)
}

/// The authentication ConfigMap: GET by name, LIST, or a WATCH streaming each update as MODIFIED.
fn auth_config_map(
    auth: Arc<AuthState>,
    query: &std::collections::HashMap<String, String>,
    by_name: bool,
) -> HttpResponse {
    if let Some(since) = watch_since(query) {
        return watch(since, move |since| {
            let current = auth.config_map.lock().unwrap().clone();
            current
                .filter(|(v, _)| *v > since)
                .map(|(version, data)| {
                    let event = json!({"type": "MODIFIED", "object": config_map(version, &data)});
                    (version, event)
                })
                .into_iter()
                .collect()
        });
    }
    let current = auth.config_map.lock().unwrap().clone();
    match (current, by_name) {
        (Some((version, data)), true) => HttpResponse::Ok().json(config_map(version, &data)),
        (None, true) => status(
            404,
            "NotFound",
            "configmaps \"extension-apiserver-authentication\" not found",
        ),
        (current, false) => {
            let version = current.as_ref().map_or(1, |(v, _)| *v);
            let items: Vec<Value> = current.iter().map(|(v, d)| config_map(*v, d)).collect();
            HttpResponse::Ok().json(json!({"kind": "ConfigMapList", "apiVersion": "v1",
                "metadata": {"resourceVersion": version.to_string()}, "items": items}))
        }
    }
}

fn resource_list(group_version: &str) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|(gv, ..)| *gv == group_version)
        .flat_map(|(_, plural, kind, namespaced)| {
            [
                json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind, "verbs": ["get", "list", "watch"]}),
                json!({"name": format!("{plural}/status"), "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "patch", "update"]}),
            ]
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if shared.hung.load(std::sync::atomic::Ordering::SeqCst) {
        actix_web::rt::time::sleep(std::time::Duration::from_secs(60)).await;
    }
    let path = req.path().to_string();
    shared
        .requests
        .lock()
        .unwrap()
        .push(format!("{path}?{}", req.query_string()));
    let query: std::collections::HashMap<String, String> =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let delay = *shared.list_delay.lock().unwrap();
    if !delay.is_zero()
        && watch_since(&query).is_none()
        && req.method() == actix_web::http::Method::GET
    {
        actix_web::rt::time::sleep(delay).await;
    }
    match parts.as_slice() {
        ["api"] => HttpResponse::Ok().json(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})),
        ["apis"] => HttpResponse::Ok().json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
            {"name": "example.com", "versions": [{"groupVersion": "example.com/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"}},
        ]})),
        ["api", "v1"] => HttpResponse::Ok().json(resource_list("v1")),
        ["apis", "authentication.k8s.io", "v1", kind @ "tokenreviews"]
        | ["apis", "authorization.k8s.io", "v1", kind @ "subjectaccessreviews"]
            if req.method() == actix_web::http::Method::POST =>
        {
            // Tokens named slow-* take a while, so that concurrent requests overlap.
            if body.windows(5).any(|w| w == b"slow-") {
                actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            review(kind, &shared.auth, &body)
        }
        ["api", "v1", "namespaces", "kube-system", "configmaps"] => auth_config_map(shared.auth.clone(), &query, false),
        ["api", "v1", "namespaces", "kube-system", "configmaps", "extension-apiserver-authentication"] => {
            auth_config_map(shared.auth.clone(), &query, true)
        }
        ["apis", group, version] => HttpResponse::Ok().json(resource_list(&format!("{group}/{version}"))),
        ["api", "v1", plural] => list(&req, &shared, &query, "v1", plural, None),
        ["api", "v1", "namespaces", ns, plural] => list(&req, &shared, &query, "v1", plural, Some(ns)),
        ["apis", group, version, plural] => list(&req, &shared, &query, &format!("{group}/{version}"), plural, None),
        ["apis", group, version, "namespaces", ns, plural] => list(&req, &shared, &query, &format!("{group}/{version}"), plural, Some(ns)),
        _ => HttpResponse::NotFound().json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"})),
    }
}

/// The objects, and every change since the start for watches, each at its resource version.
struct Store {
    /// The newest resource version.
    version: u64,
    /// Watches and continued lists from before this version are answered 410 Gone.
    compacted: u64,
    /// The objects now, with the version at which each last changed.
    objects: Vec<(u64, Object)>,
    /// (version, before, after): an addition has no before, a deletion no after.
    changes: Vec<(u64, Option<Object>, Option<Object>)>,
}

impl Store {
    /// Removes and returns the object; panics when there is none (a test's mistake).
    fn take(&mut self, plural: &str, namespace: &str, name: &str) -> Object {
        let at = self
            .objects
            .iter()
            .position(|(_, o)| o.plural == plural && o.namespace == namespace && o.name == name)
            .unwrap_or_else(|| panic!("no {plural} {namespace}/{name}"));
        self.objects.remove(at).1
    }

    fn change(&mut self, before: Option<Object>, after: Option<Object>) {
        self.version += 1;
        if let Some(after) = &after {
            self.objects.push((self.version, after.clone()));
        }
        self.changes.push((self.version, before, after));
    }

    /// The objects as they were at `version` (with the version each last changed at), replayed from the
    /// history: what a list continued from a snapshot reads, as etcd serves it.
    fn objects_at(&self, version: u64) -> Vec<(u64, &Object)> {
        if version >= self.version {
            return self.objects.iter().map(|(v, o)| (*v, o)).collect();
        }
        let key = |o: &Object| (o.group_version, o.plural, o.namespace, o.name);
        let mut live = std::collections::HashMap::new();
        for (v, before, after) in self.changes.iter().take_while(|(v, ..)| *v <= version) {
            if let Some(o) = before {
                live.remove(&key(o));
            }
            if let Some(o) = after {
                live.insert(key(o), (*v, o));
            }
        }
        live.into_values().collect()
    }

    /// What a watch with `filter` sees after `since`, as Kubernetes sends it: a change that moves an object
    /// into the filter is ADDED, out of it DELETED (with its last state), within it MODIFIED; a watch from
    /// before the compaction gets one ERROR event, 410 Gone, and ends.
    fn events(&self, filter: &Filter, since: u64) -> Vec<(u64, Value)> {
        if since < self.compacted {
            let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {since} ({})", self.compacted), "reason": "Expired", "code": 410}});
            return vec![(u64::MAX, gone)];
        }
        let event = |kind: &str, o: &Object, v: u64| json!({"type": kind, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata(o, v)}});
        // The history is in version order: a watch that is up to date (every 100 ms) looks at nothing,
        // however many objects the server holds.
        let newer = self.changes.partition_point(|(v, ..)| *v <= since);
        self.changes[newer..]
            .iter()
            .filter_map(|(v, before, after)| {
                let was = before.as_ref().filter(|o| filter.matches(o));
                let is = after.as_ref().filter(|o| filter.matches(o));
                let event = match (was, is) {
                    (None, Some(o)) => event("ADDED", o, *v),
                    (Some(_), Some(o)) => event("MODIFIED", o, *v),
                    (Some(o), None) => event("DELETED", after.as_ref().unwrap_or(o), *v),
                    (None, None) => return None,
                };
                Some((*v, event))
            })
            .collect()
    }
}

/// Which objects a list or watch selects.
struct Filter {
    gv: String,
    plural: String,
    namespace: Option<String>,
    selector: LabelSelector,
    fields: Vec<(String, String)>,
}

impl Filter {
    fn matches(&self, o: &Object) -> bool {
        o.group_version == self.gv
            && o.plural == self.plural
            && self.namespace.as_deref().is_none_or(|ns| ns == o.namespace)
            && self.fields.iter().all(|(k, v)| match k.as_str() {
                "status.phase" => o.phase == v,
                "metadata.name" => o.name == v,
                "metadata.namespace" => o.namespace == v,
                _ => false,
            })
            && self.selector.matches(&o.labels)
    }
}

fn metadata(o: &Object, version: u64) -> Value {
    let labels: serde_json::Map<String, Value> = o
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut metadata = json!({"name": o.name, "uid": format!("uid-{}", o.name), "resourceVersion": version.to_string(), "labels": labels});
    if !o.namespace.is_empty() {
        metadata["namespace"] = json!(o.namespace);
    }
    for (key, value) in o.extra.iter().flat_map(|extra| extra.iter()) {
        metadata[key] = value.clone();
    }
    metadata
}

fn list(
    req: &HttpRequest,
    shared: &Shared,
    query: &std::collections::HashMap<String, String>,
    gv: &str,
    plural: &str,
    namespace: Option<&str>,
) -> HttpResponse {
    let Some((_, _, kind, _)) = RESOURCES.iter().find(|(g, p, ..)| *g == gv && *p == plural) else {
        return HttpResponse::NotFound().finish();
    };
    let selector = match LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
    {
        Ok(selector) => selector,
        Err(e) => {
            return HttpResponse::BadRequest().json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "BadRequest", "code": 400, "message": e}));
        }
    };
    let fields = query
        .get("fieldSelector")
        .map(|f| {
            f.split(',')
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_start_matches('=').to_string()))
                .collect()
        })
        .unwrap_or_default();
    let filter = Filter {
        gv: gv.to_string(),
        plural: plural.to_string(),
        namespace: namespace.map(str::to_string),
        selector,
        fields,
    };
    let accept = req
        .headers()
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    let metadata_only = accept.contains("as=PartialObjectMetadata");
    if let Some(since) = watch_since(query) {
        let objects = shared.objects.clone();
        return watch(since, move |since| {
            objects.lock().unwrap().events(&filter, since)
        });
    }
    // Pages as Kubernetes cuts them: `limit` objects in key order (namespace, name), then a `continue`
    // token that reads the next ones from the same snapshot; a token from before a compaction is 410 Gone.
    let store = shared.objects.lock().unwrap();
    let resumed = query
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(|token| {
            let (version, after) = token.split_once(':').expect("a token this server made");
            let (namespace, name) = after.split_once('/').expect("a token this server made");
            (
                version.parse::<u64>().unwrap(),
                namespace.to_string(),
                name.to_string(),
            )
        });
    let version = resumed.as_ref().map_or(store.version, |(v, ..)| *v);
    if version < store.compacted {
        return HttpResponse::Gone().json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Expired", "code": 410,
            "message": "The provided continue parameter is too old to display a consistent list result."}));
    }
    let mut matching: Vec<(u64, &Object)> = store
        .objects_at(version)
        .into_iter()
        .filter(|(_, o)| {
            resumed
                .as_ref()
                .is_none_or(|(_, ns, name)| (o.namespace, o.name) > (ns.as_str(), name.as_str()))
        })
        .filter(|(_, o)| filter.matches(o))
        .collect();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let key = |(_, o): &(u64, &Object)| (o.namespace, o.name);
    // The first `limit` in key order without sorting the rest: a 100,000-pod list is 200 pages.
    if let Some(limit) = limit.filter(|l| *l < matching.len()) {
        matching.select_nth_unstable_by_key(limit, key);
        matching[..limit].sort_unstable_by_key(key);
    } else {
        matching.sort_unstable_by_key(key);
    }
    let next = limit.filter(|l| matching.len() > *l).map(|l| {
        let last = &matching[l - 1].1;
        (
            format!("{version}:{}/{}", last.namespace, last.name),
            matching.len() - l,
        )
    });
    matching.truncate(limit.unwrap_or(usize::MAX));
    let items: Vec<Value> = matching
        .iter()
        .map(|&(v, o)| {
            if metadata_only {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata(o, v)})
            } else {
                json!({"metadata": metadata(o, v), "status": {"phase": o.phase}})
            }
        })
        .collect();
    let mut list_meta = json!({"resourceVersion": version.to_string()});
    if let Some((token, remaining)) = next {
        list_meta["continue"] = json!(token);
        list_meta["remainingItemCount"] = json!(remaining);
    }
    if metadata_only {
        HttpResponse::Ok().json(json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "items": items}))
    } else {
        HttpResponse::Ok().json(json!({"kind": format!("{kind}List"), "apiVersion": gv, "metadata": list_meta, "items": items}))
    }
}

/// The resource version a watch request starts after, if the request is a watch (`watch=true`).
fn watch_since(query: &std::collections::HashMap<String, String>) -> Option<u64> {
    query
        .get("watch")
        .is_some_and(|w| w == "true" || w == "1")
        .then(|| {
            query
                .get("resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
}

/// A watch response: every 100 ms for up to 30 s, the events `newer(since)` gives as (resource version,
/// event) are streamed one JSON line each, and `since` moves to the newest of them.
fn watch(since: u64, newer: impl Fn(u64) -> Vec<(u64, Value)> + 'static) -> HttpResponse {
    let events = futures_util::stream::unfold(
        (newer, since, 0u32),
        |(newer, mut since, mut ticks)| async move {
            while ticks < 300 {
                let fresh = newer(since);
                if let Some(newest) = fresh.iter().map(|(v, _)| *v).max() {
                    // After an ERROR (410 Gone, at version u64::MAX) the watch ends.
                    if newest == u64::MAX {
                        ticks = u32::MAX;
                    }
                    since = newest;
                    let lines: String = fresh.iter().map(|(_, e)| format!("{e}\n")).collect();
                    return Some((
                        Ok::<_, actix_web::Error>(web::Bytes::from(lines)),
                        (newer, since, ticks),
                    ));
                }
                ticks += 1;
                actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            None
        },
    );
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(events)
}
