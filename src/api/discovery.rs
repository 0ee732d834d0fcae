//! Discovery documents: `/apis` (legacy `APIGroupList`, or the aggregated `APIGroupDiscoveryList` when
//! the client asks for it, as kube-apiserver's aggregator and kubectl do), `/apis/<group>`,
//! `/apis/<group>/<version>`, and `/openapi/v2`, `/openapi/v3` with ETags. Unlike upstream, custom
//! metrics list both v1beta1 and v1beta2, and `metrics.k8s.io` serves v1 beside v1beta1 (the HPA prefers
//! v1 where listed).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use adapter_actors::registry::Snapshot;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use adapter_actors::front_door::GetDiscovery;
use serde_json::{Value, json};

use super::State;
use super::status::ApiError;

use crate::groups::{CUSTOM, EXTERNAL, RESOURCE};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(groups))
        .route("/apis/{group}", web::get().to(group))
        .route("/apis/{group}/{version}", web::get().to(resources))
        .route("/openapi/v2", web::get().to(openapi_v2))
        .route("/openapi/v3", web::get().to(openapi_v3))
        .route(
            "/openapi/v3/apis/{group}/{version}",
            web::get().to(openapi_v3_group),
        );
}

/// The versions of a metrics group, preferred first.
fn versions(group: &str) -> &'static [&'static str] {
    match group {
        CUSTOM => &["v1beta2", "v1beta1"],
        EXTERNAL => &["v1beta1"],
        _ => &["v1", "v1beta1"],
    }
}

/// `(group, versions)` served under the current rules or forwarded (router mode), preferred version
/// first.
fn served(state: &State) -> Vec<(&'static str, &'static [&'static str])> {
    let snapshot = state.registry.load();
    let served = &snapshot.served;
    [
        (CUSTOM, served.custom),
        (EXTERNAL, served.external),
        (RESOURCE, served.resource),
    ]
    .into_iter()
    .filter(|(group, ours)| *ours || super::forward::covers(state, group))
    .map(|(group, _)| (group, versions(group)))
    .collect()
}

/// One resource of a group: name, namespaced, kind, verbs.
struct Entry {
    name: String,
    namespaced: bool,
    kind: String,
    verbs: Vec<String>,
}

impl Entry {
    /// One of a forwarding target's resources, as its APIResourceList has it.
    fn theirs(resource: &Value) -> Option<Entry> {
        Some(Entry {
            name: resource["name"].as_str()?.to_string(),
            namespaced: resource["namespaced"].as_bool().unwrap_or(false),
            kind: resource["kind"].as_str().unwrap_or_default().to_string(),
            verbs: resource["verbs"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// The resources of a group our rules serve, from the discovery snapshot.
fn entries(snapshot: &Snapshot, group: &str) -> Vec<Entry> {
    let served = &snapshot.served;
    let ours = match group {
        CUSTOM => served.custom,
        EXTERNAL => served.external,
        _ => served.resource,
    };
    if !ours {
        return Vec::new();
    }
    let entry = |name: &str, namespaced, kind: &str, verbs: &[&str]| Entry {
        name: name.to_string(),
        namespaced,
        kind: kind.to_string(),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
    };
    if group == RESOURCE {
        return vec![
            entry("nodes", false, "NodeMetrics", &["get", "list"]),
            entry("pods", true, "PodMetrics", &["get", "list"]),
        ];
    }
    if group == CUSTOM {
        snapshot
            .custom_entries()
            .map(|e| entry(&e.name, e.namespaced, "MetricValueList", &["get"]))
            .collect()
    } else {
        snapshot
            .external_entries()
            .map(|e| entry(&e.name, e.namespaced, "ExternalMetricValueList", &["get"]))
            .collect()
    }
}

/// Ours plus a forwarding target's resources of `group/version`; on a name both serve, ours (logged once).
async fn merged(
    req: &HttpRequest,
    state: &State,
    snapshot: &Snapshot,
    group: &'static str,
    version: &str,
) -> Vec<Entry> {
    let mut out = entries(snapshot, group);
    let Some(forwarding) = state
        .forwarding
        .as_ref()
        .filter(|f| f.groups.contains(group))
    else {
        return out;
    };
    let asked = crate::backends::forward::TheirResources {
        group,
        version: version.to_string(),
        caller: super::forward::caller(req),
    };
    let theirs = forwarding.forwarder.send(asked).await.ok().flatten();
    for resource in theirs
        .iter()
        .flat_map(|t| t.iter())
        .filter_map(Entry::theirs)
    {
        if out.iter().any(|e| e.name == resource.name) {
            forwarding
                .forwarder
                .do_send(crate::backends::forward::Clash {
                    name: format!("{group}/{version}/{}", resource.name),
                });
        } else {
            out.push(resource);
        }
    }
    out
}

/// Discovery documents rendered once per discovery snapshot and reused until the next relist: the
/// aggregator refetches them every minute from every replica, and broad rules make them megabytes.
#[derive(Default)]
pub struct Rendered {
    cache: Mutex<Option<RenderedFor>>,
}

/// The documents rendered for one snapshot, by group-version (or `aggregated`).
struct RenderedFor {
    snapshot: Arc<Snapshot>,
    documents: HashMap<String, Document>,
}

/// A rendered document: its JSON, the same gzipped (rendered once too), and its ETag.
#[derive(Clone)]
struct Document {
    json: Bytes,
    gzip: Bytes,
    etag: String,
}

impl Document {
    /// JSON and ETag only: for small documents rendered per request, where gzip would not pay.
    fn plain(value: &Value) -> Self {
        let json = Bytes::from(value.to_string());
        let etag = format!("\"{}\"", content_hash(&json));
        Self {
            json,
            gzip: Bytes::new(),
            etag,
        }
    }

    /// JSON, the same gzipped, and the ETag: for documents rendered once and served many times.
    fn new(value: &Value) -> Self {
        use std::io::Write;
        let mut document = Self::plain(value);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        document.gzip = encoder
            .write_all(&document.json)
            .and_then(|()| encoder.finish())
            .map(Bytes::from)
            .unwrap_or_default();
        document
    }
}

impl Rendered {
    fn get_or_render(
        &self,
        snapshot: &Arc<Snapshot>,
        key: &str,
        render: impl FnOnce() -> Value,
    ) -> Document {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = cache.get_or_insert_with(|| RenderedFor {
            snapshot: snapshot.clone(),
            documents: HashMap::new(),
        });
        if !Arc::ptr_eq(&current.snapshot, snapshot) {
            *current = RenderedFor {
                snapshot: snapshot.clone(),
                documents: HashMap::new(),
            };
        }
        current
            .documents
            .entry(key.to_string())
            .or_insert_with(|| Document::new(&render()))
            .clone()
    }
}

/// A rendered document: 304 when the client has it, gzipped when the client accepts it.
fn cached_response(req: &HttpRequest, document: Document, content_type: &str) -> HttpResponse {
    let header_has = |name, needle: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(needle))
    };
    if header_has(header::IF_NONE_MATCH, &document.etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, document.etag))
            .finish();
    }
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::ETAG, document.etag))
        .content_type(content_type);
    if header_has(header::ACCEPT_ENCODING, "gzip") && !document.gzip.is_empty() {
        response
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(document.gzip)
    } else {
        response.body(document.json)
    }
}

fn group_json(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
}

async fn groups(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    if !accept.contains("as=APIGroupDiscoveryList") {
        let groups: Vec<Value> = served(&state)
            .into_iter()
            .map(|(g, v)| group_json(g, v))
            .collect();
        return Ok(HttpResponse::Ok()
            .json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})));
    }
    let snapshot = state.front_door.send(GetDiscovery).await?;
    let body = if state.forwarding.is_some() {
        // A forwarding target's resources change on their own schedule: rendered per request.
        let mut groups = Vec::new();
        for (group, versions) in served(&state) {
            let mut by_version = Vec::new();
            for version in versions {
                by_version.push((
                    *version,
                    merged(&req, &state, &snapshot, group, version).await,
                ));
            }
            groups.push((group, by_version));
        }
        Document::plain(&aggregated(groups))
    } else {
        state.rendered.get_or_render(&snapshot, "aggregated", || {
            let groups = served(&state)
                .into_iter()
                .map(|(group, versions)| {
                    let by_version = versions
                        .iter()
                        .map(|version| (*version, entries(&snapshot, group)))
                        .collect();
                    (group, by_version)
                })
                .collect();
            aggregated(groups)
        })
    };
    Ok(cached_response(&req, body, AGGREGATED))
}

/// Each served group with each of its versions' resources.
type GroupEntries<'a> = Vec<(&'a str, Vec<(&'a str, Vec<Entry>)>)>;

fn aggregated(groups: GroupEntries<'_>) -> Value {
    let mut items = Vec::new();
    for (group, versions) in groups {
        let versions: Vec<Value> = versions
            .into_iter()
            .map(|(version, entries)| {
                let resources = aggregated_resources(entries);
                json!({"version": version, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(json!({"metadata": {"name": group}, "versions": versions}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn aggregated_resources(entries: Vec<Entry>) -> Vec<Value> {
    entries
        .into_iter()
        .map(|e| {
            json!({
                "resource": e.name,
                "responseKind": {"group": "", "version": "", "kind": e.kind},
                "scope": if e.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": "",
                "verbs": e.verbs,
            })
        })
        .collect()
}

async fn group(state: web::Data<State>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let (group, versions) = served(&state)
        .into_iter()
        .find(|(g, _)| *g == name)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "the server could not find the requested resource (group {name})"
            ))
        })?;
    let mut body = group_json(group, versions);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Ok(HttpResponse::Ok().json(body))
}

/// The served group named `group` (as `'static`), if it has `version`.
fn check_served(state: &State, group: &str, version: &str) -> Result<&'static str, ApiError> {
    let known = served(state)
        .into_iter()
        .find(|(g, versions)| *g == group && versions.contains(&version));
    if let Some((group, _)) = known {
        Ok(group)
    } else {
        Err(ApiError::NotFound(format!(
            "the server could not find the requested resource ({group}/{version})"
        )))
    }
}

async fn resources(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group, version) = path.into_inner();
    let group = check_served(&state, &group, &version)?;
    let snapshot = state.front_door.send(GetDiscovery).await?;
    let list = |entries: Vec<Entry>| {
        let resources: Vec<Value> = entries
            .into_iter()
            .map(|e| json!({"name": e.name, "singularName": "", "namespaced": e.namespaced, "kind": e.kind, "verbs": e.verbs}))
            .collect();
        json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": format!("{group}/{version}"),
            "resources": resources,
        })
    };
    let body = if super::forward::covers(&state, group) {
        Document::plain(&list(
            merged(&req, &state, &snapshot, group, &version).await,
        ))
    } else {
        state
            .rendered
            .get_or_render(&snapshot, &format!("{group}/{version}"), || {
                list(entries(&snapshot, group))
            })
    };
    Ok(cached_response(&req, body, "application/json"))
}

/// The content-derived hash of a document, the ETag's value and OpenAPI v3's `?hash=`.
fn content_hash(text: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// A JSON body with a strong ETag; `304 Not Modified` when the client already has it.
fn with_etag(req: &HttpRequest, body: &Value) -> HttpResponse {
    cached_response(req, Document::plain(body), "application/json")
}

fn info() -> Value {
    json!({"title": "prometheus-metrics-adapter", "version": "1.0.0"})
}

async fn openapi_v2(req: HttpRequest) -> HttpResponse {
    with_etag(
        &req,
        &json!({"swagger": "2.0", "info": info(), "paths": {}, "definitions": {}}),
    )
}

async fn openapi_v3(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    let mut paths = serde_json::Map::new();
    for (group, versions) in served(&state) {
        for version in versions {
            // Clients cache group documents by this hash, so it must change with the document.
            let hash = content_hash(group_document().to_string().as_bytes());
            let url = format!("/openapi/v3/apis/{group}/{version}?hash={hash}");
            paths.insert(
                format!("apis/{group}/{version}"),
                json!({"serverRelativeURL": url}),
            );
        }
    }
    with_etag(&req, &json!({"paths": paths}))
}

async fn openapi_v3_group(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group, version) = path.into_inner();
    check_served(&state, &group, &version)?;
    Ok(with_etag(&req, &group_document()))
}

/// The OpenAPI v3 document of a group-version (the metric types are not described yet).
fn group_document() -> Value {
    json!({"openapi": "3.0.0", "info": info(), "paths": {}, "components": {}})
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn documents_carry_an_etag_and_answer_304_when_unchanged() {
        let body = json!({"swagger": "2.0"});
        let first = with_etag(&TestRequest::default().to_http_request(), &body);
        assert_eq!(first.status(), 200);
        let etag = first
            .headers()
            .get(header::ETAG)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let again = with_etag(
            &TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, etag.as_str()))
                .to_http_request(),
            &body,
        );
        assert_eq!(again.status(), 304);
        let changed = with_etag(
            &TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, etag.as_str()))
                .to_http_request(),
            &json!({"swagger": "3"}),
        );
        assert_eq!(changed.status(), 200);
    }
}

#[cfg(test)]
mod rendered_tests {
    use std::io::Read;

    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn documents_render_once_per_snapshot_and_are_served_gzipped_or_plain() {
        let rendered = Rendered::default();
        let first = Arc::new(Snapshot::default());
        let mut renders = 0;
        for _ in 0..3 {
            rendered.get_or_render(&first, "custom/v1beta1", || {
                renders += 1;
                json!({"resources": ["a"]})
            });
        }
        assert_eq!(renders, 1, "one render per snapshot");
        let second = Arc::new(Snapshot::default());
        let document =
            rendered.get_or_render(&second, "custom/v1beta1", || json!({"resources": ["b"]}));
        assert_eq!(
            &document.json[..],
            br#"{"resources":["b"]}"#,
            "a new snapshot renders anew"
        );

        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&document.gzip[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped.as_bytes(), &document.json[..]);
        let gz = cached_response(
            &TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, "gzip, deflate"))
                .to_http_request(),
            document.clone(),
            "application/json",
        );
        assert_eq!(gz.headers().get(header::CONTENT_ENCODING).unwrap(), "gzip");
        let plain = cached_response(
            &TestRequest::default().to_http_request(),
            document.clone(),
            "application/json",
        );
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let etag = document.etag.clone();
        let unchanged = cached_response(
            &TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, etag))
                .to_http_request(),
            document,
            "application/json",
        );
        assert_eq!(unchanged.status(), 304);
    }
}
