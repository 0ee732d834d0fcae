//! Kubernetes protobuf answers (`application/vnd.kubernetes.protobuf`), which kube-controller-manager and
//! kubectl ask for: the `k8s\0` magic, then a `runtime.Unknown` whose `raw` is the object encoded with
//! the field numbers of the Kubernetes `.proto` files (k8s.io/metrics `generated.proto` for the metrics
//! types, apimachinery's for ObjectMeta, ListMeta, Time, Duration, LabelSelector and Status, core/v1's for
//! ObjectReference, and `resource.Quantity` as its canonical string). JSON stays the default and the
//! answer for `*/*`; discovery, OpenAPI and Tables are JSON only.
//!
//! Encoded as gogo-protobuf encodes Kubernetes types: fields in number order, strings that are set even
//! when empty, maps as sorted key/value entries, nested messages length-prefixed.

use std::collections::BTreeMap;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::wire::{
    ContainerMetrics, ExternalMetricValue, GoDuration, LabelSelector, List, ListMeta,
    MetricIdentifier, MetricValueV1beta1, MetricValueV1beta2, NodeMetrics, ObjectMeta,
    ObjectReference, PodMetrics, Time, Usage,
};

/// The media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The envelope's magic prefix.
const MAGIC: &[u8] = b"k8s\0";

/// A message being encoded.
#[derive(Default)]
pub struct Message(Vec<u8>);

impl Message {
    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) -> &mut Self {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    /// A string field (written even when empty, as Go writes non-pointer strings).
    pub fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    /// An optional string field.
    pub fn optional_string(&mut self, field: u32, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.string(field, value);
        }
        self
    }

    /// An integer field (int32/int64; negative values take ten bytes, as protobuf says).
    pub fn int(&mut self, field: u32, value: i64) -> &mut Self {
        self.key(field, 0);
        self.varint(value as u64);
        self
    }

    /// A nested message field.
    pub fn message(&mut self, field: u32, value: &impl Encode) -> &mut Self {
        let mut inner = Message::default();
        value.encode(&mut inner);
        self.bytes(field, &inner.0)
    }

    /// A `map<string, string>` field.
    pub fn string_map(&mut self, field: u32, map: &BTreeMap<String, String>) -> &mut Self {
        for (key, value) in map {
            let mut entry = Message::default();
            entry.string(1, key).string(2, value);
            self.bytes(field, &entry.0);
        }
        self
    }

    /// Encodes `value` whole.
    pub fn of(value: &impl Encode) -> Vec<u8> {
        let mut message = Message::default();
        value.encode(&mut message);
        message.0
    }
}

/// A type with a Kubernetes protobuf form.
pub trait Encode {
    /// Writes the fields.
    fn encode(&self, m: &mut Message);
}

/// `resource.Quantity`: its canonical string.
struct Quantity<'a>(&'a str);

impl Encode for Quantity<'_> {
    fn encode(&self, m: &mut Message) {
        m.string(1, self.0);
    }
}

impl Encode for Time {
    fn encode(&self, m: &mut Message) {
        let seconds = self.0.floor();
        let nanos = ((self.0 - seconds) * 1e9).round().clamp(0.0, 999_999_999.0);
        m.int(1, seconds as i64);
        if nanos > 0.0 {
            m.int(2, nanos as i64);
        }
    }
}

impl Encode for GoDuration {
    fn encode(&self, m: &mut Message) {
        m.int(1, i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX));
    }
}

impl Encode for ListMeta {
    fn encode(&self, _: &mut Message) {}
}

impl Encode for ObjectMeta {
    fn encode(&self, m: &mut Message) {
        m.string(1, &self.name)
            .optional_string(3, self.namespace.as_deref())
            .message(8, &self.creation_timestamp)
            .string_map(11, &self.labels);
    }
}

impl Encode for ObjectReference {
    fn encode(&self, m: &mut Message) {
        m.string(1, &self.kind)
            .optional_string(2, self.namespace.as_deref())
            .string(3, &self.name)
            .string(5, &self.api_version);
    }
}

impl Encode for LabelSelector {
    fn encode(&self, m: &mut Message) {
        m.string_map(1, &self.match_labels);
        for requirement in &self.match_expressions {
            let mut entry = Message::default();
            entry
                .string(1, &requirement.key)
                .string(2, requirement.operator);
            for value in &requirement.values {
                entry.string(3, value);
            }
            m.bytes(2, &entry.0);
        }
    }
}

impl Encode for MetricValueV1beta1 {
    fn encode(&self, m: &mut Message) {
        m.message(1, &self.described_object)
            .string(2, &self.metric_name)
            .message(3, &self.timestamp);
        if let Some(window) = self.window_seconds {
            m.int(4, window as i64);
        }
        m.message(5, &Quantity(&self.value));
        if let Some(selector) = &self.selector {
            m.message(6, selector);
        }
    }
}

impl Encode for MetricIdentifier {
    fn encode(&self, m: &mut Message) {
        m.string(1, &self.name);
        if let Some(selector) = &self.selector {
            m.message(2, selector);
        }
    }
}

impl Encode for MetricValueV1beta2 {
    fn encode(&self, m: &mut Message) {
        m.message(1, &self.described_object)
            .message(2, &self.metric)
            .message(3, &self.timestamp);
        if let Some(window) = self.window_seconds {
            m.int(4, window as i64);
        }
        m.message(5, &Quantity(&self.value));
    }
}

impl Encode for ExternalMetricValue {
    fn encode(&self, m: &mut Message) {
        m.string(1, &self.metric_name);
        if let Some(labels) = &self.metric_labels {
            m.string_map(2, labels);
        }
        m.message(3, &self.timestamp)
            .message(5, &Quantity(&self.value));
    }
}

/// `map<string, Quantity>` entries of a usage, sorted by name (cpu, memory).
fn usage(m: &mut Message, field: u32, usage: &Usage) {
    for (name, value) in [("cpu", &usage.cpu), ("memory", &usage.memory)] {
        let mut entry = Message::default();
        entry.string(1, name).message(2, &Quantity(value));
        m.bytes(field, &entry.0);
    }
}

impl Encode for ContainerMetrics {
    fn encode(&self, m: &mut Message) {
        m.string(1, &self.name);
        usage(m, 2, &self.usage);
    }
}

impl Encode for PodMetrics {
    fn encode(&self, m: &mut Message) {
        m.message(1, &self.metadata)
            .message(2, &self.timestamp)
            .message(3, &self.window);
        for container in &self.containers {
            m.message(4, container);
        }
    }
}

impl Encode for NodeMetrics {
    fn encode(&self, m: &mut Message) {
        m.message(1, &self.metadata)
            .message(2, &self.timestamp)
            .message(3, &self.window);
        usage(m, 4, &self.usage);
    }
}

impl<T: Encode> Encode for List<T> {
    fn encode(&self, m: &mut Message) {
        m.message(1, &self.metadata);
        for item in &self.items {
            m.message(2, item);
        }
    }
}

/// `metav1.Status` for errors.
#[derive(Debug, Clone)]
pub struct Status {
    /// `Failure`.
    pub status: &'static str,
    /// Human-readable.
    pub message: String,
    /// `NotFound`, …
    pub reason: &'static str,
    /// `details.causes[].message`.
    pub causes: Vec<&'static str>,
    /// HTTP code.
    pub code: u16,
}

impl Encode for Status {
    fn encode(&self, m: &mut Message) {
        m.message(1, &ListMeta {})
            .string(2, self.status)
            .string(3, &self.message)
            .string(4, self.reason);
        if !self.causes.is_empty() {
            let mut details = Message::default();
            for cause in &self.causes {
                let mut entry = Message::default();
                entry.string(2, cause);
                details.bytes(4, &entry.0);
            }
            m.bytes(5, &details.0);
        }
        m.int(6, i64::from(self.code));
    }
}

/// The envelope: magic, then `runtime.Unknown{typeMeta{apiVersion, kind}, raw}`.
pub fn envelope(api_version: &str, kind: &str, object: &impl Encode) -> Vec<u8> {
    let mut type_meta = Message::default();
    type_meta.string(1, api_version).string(2, kind);
    let mut unknown = Message::default();
    unknown
        .bytes(1, &type_meta.0)
        .bytes(2, &Message::of(object))
        .string(3, "")
        .string(4, "");
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&unknown.0);
    out
}

/// Whether the client prefers protobuf: the `Accept` media type of highest quality (first among
/// equals) that we serve is `application/vnd.kubernetes.protobuf`. Anything else — JSON, `*/*`, no
/// header — is JSON.
pub fn wanted(req: &HttpRequest) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
    else {
        return false;
    };
    let mut best: Option<(f32, bool)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut quality = 1.0f32;
        for parameter in parts {
            if let Some(q) = parameter
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
            {
                quality = q;
            }
        }
        let protobuf = match media.as_str() {
            CONTENT_TYPE => true,
            "application/json" | "application/*" | "*/*" => false,
            _ => continue,
        };
        if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, protobuf));
        }
    }
    best.is_some_and(|(_, protobuf)| protobuf)
}

/// Middleware: an error answered as JSON Status (it carries its [`Status`] in the response extensions)
/// is re-encoded as a protobuf Status when the client prefers protobuf — 404s, 400s, 401/403 from
/// authentication, 503s alike.
pub async fn errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let protobuf = wanted(req.request());
    let response = next.call(req).await?.map_into_boxed_body();
    if !protobuf {
        return Ok(response);
    }
    let status = response.response().extensions().get::<Status>().cloned();
    Ok(match status {
        Some(status) => response.map_body(|head, _| {
            head.headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(CONTENT_TYPE),
            );
            BoxBody::new(envelope("v1", "Status", &status))
        }),
        None => response,
    })
}

/// A 200 with `value` as protobuf when the client prefers it, JSON otherwise.
pub fn ok<T: Serialize + Encode>(
    req: &HttpRequest,
    api_version: &str,
    kind: &str,
    value: &T,
) -> HttpResponse {
    if wanted(req) {
        HttpResponse::Ok()
            .content_type(CONTENT_TYPE)
            .body(envelope(api_version, kind, value))
    } else {
        HttpResponse::Ok().json(value)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn accepts(value: &str) -> bool {
        wanted(
            &TestRequest::default()
                .insert_header((header::ACCEPT, value))
                .to_http_request(),
        )
    }

    #[test]
    fn negotiation_follows_accept_order_and_quality() {
        assert!(accepts("application/vnd.kubernetes.protobuf"));
        assert!(accepts(
            "application/vnd.kubernetes.protobuf, application/json"
        ));
        assert!(!accepts(
            "application/json, application/vnd.kubernetes.protobuf"
        ));
        assert!(accepts(
            "application/json;q=0.5, application/vnd.kubernetes.protobuf"
        ));
        assert!(!accepts("*/*"));
        assert!(!accepts("application/vnd.kubernetes.protobuf;q=0, */*"));
        assert!(!accepts("text/html"));
        assert!(!wanted(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn varints_strings_and_nesting_follow_the_protobuf_encoding() {
        let mut m = Message::default();
        m.int(1, 150).string(2, "testing").int(3, -1);
        assert_eq!(
            m.0,
            [
                0x08, 0x96, 0x01, 0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g', 0x18, 0xff,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ]
        );
        let bytes = envelope("v1", "Status", &ListMeta {});
        assert_eq!(&bytes[..4], b"k8s\0");
        // typeMeta{apiVersion "v1", kind "Status"}, raw (empty), contentEncoding "", contentType "".
        assert_eq!(
            &bytes[4..],
            [
                0x0a, 0x0c, 0x0a, 0x02, b'v', b'1', 0x12, 0x06, b'S', b't', b'a', b't', b'u', b's',
                0x12, 0x00, 0x1a, 0x00, 0x22, 0x00
            ]
        );
    }

    #[test]
    fn times_carry_seconds_and_nanoseconds() {
        assert_eq!(
            Message::of(&Time(1.5)),
            [0x08, 0x01, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01]
        );
        assert_eq!(Message::of(&Time(2.0)), [0x08, 0x02]);
        assert_eq!(
            Message::of(&GoDuration(std::time::Duration::from_secs(1))),
            [0x08, 0x80, 0x94, 0xeb, 0xdc, 0x03]
        );
    }
}
