//! The object caches' memory: what serving reads of each watched object (namespace, name, labels) and
//! nothing else, indexed by namespace so that a request touches only its own namespace's objects.
//!
//! Why a store of our own rather than kube-runtime's reflector `Store`: the reflector keeps whole
//! `PartialObjectMeta` objects (managed fields, annotations — kubectl's last-applied configuration is often
//! kilobytes — owner references) in one flat map, so every request read the whole cluster and copied each
//! object's labels before filtering (BENCHMARKS.md, "Object caches"). Here each object costs its name and a
//! reference to a label set shared by every object of its namespace with the same labels (a Deployment's
//! pods carry identical labels), and a request walks one namespace's names in order.
//!
//! [`WatchedIndex`] applies kube-runtime's watcher events: a relist (after a 410 Gone or a broken watch)
//! fills a fresh index and replaces the served one only when complete, so requests never see an empty or
//! half-filled cache. Pure: no I/O, fed by `kube_objects`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use adapter_actors::objects::{Labels, ObjectMeta};
use adapter_config::Selector;

/// Heap bytes an object costs beyond its name and label strings: its entry in the namespace's name map
/// (the boxed name and the label-set pointer, with the map's node overhead) — an estimate for `/metrics`.
const OBJECT_OVERHEAD: usize = 48;
/// Heap bytes a distinct label set costs beyond its strings: the `Arc`, its map's nodes and the entry in
/// the namespace's set of sets.
const LABEL_SET_OVERHEAD: usize = 96;
/// Heap bytes one label costs beyond its key and value bytes (two `String`s in a map node).
const LABEL_OVERHEAD: usize = 56;

/// One namespace's objects ("" holds cluster-scoped ones).
#[derive(Debug, Default)]
struct Namespace {
    /// By name, in the API's order.
    by_name: BTreeMap<Box<str>, Labels>,
    /// Every distinct label set the namespace's objects carry, stored once, with how many carry it (not
    /// `Arc::strong_count`: answers handed out hold references too).
    label_sets: HashMap<Labels, usize>,
}

impl Namespace {
    /// The stored copy of `labels` for one more object, added when new; answers it and the bytes a new
    /// set added.
    fn share(&mut self, labels: BTreeMap<String, String>) -> (Labels, usize) {
        if let Some((shared, carriers)) = self.label_sets.get_key_value(&labels) {
            let shared = shared.clone();
            *self.label_sets.get_mut(&shared).expect("just found") = carriers + 1;
            return (shared, 0);
        }
        let added = label_set_bytes(&labels);
        let shared = Arc::new(labels);
        self.label_sets.insert(shared.clone(), 1);
        (shared, added)
    }

    /// One object fewer carries `labels`; forgets the set with its last. Answers the bytes freed.
    fn release(&mut self, labels: &Labels) -> usize {
        match self.label_sets.get_mut(labels) {
            Some(carriers) if *carriers > 1 => {
                *carriers -= 1;
                0
            }
            Some(_) => {
                self.label_sets.remove(labels);
                label_set_bytes(labels)
            }
            None => 0,
        }
    }
}

fn label_set_bytes(labels: &BTreeMap<String, String>) -> usize {
    LABEL_SET_OVERHEAD
        + labels
            .iter()
            .map(|(k, v)| k.len() + v.len() + LABEL_OVERHEAD)
            .sum::<usize>()
}

/// Objects of one resource by namespace and name, with their labels.
#[derive(Debug, Default)]
pub struct ObjectIndex {
    namespaces: HashMap<Box<str>, Namespace>,
    objects: usize,
    bytes: usize,
}

impl ObjectIndex {
    /// Adds or replaces the object `namespace`/`name` (namespace "" when cluster-scoped).
    pub fn apply(&mut self, namespace: &str, name: &str, labels: BTreeMap<String, String>) {
        let space = match self.namespaces.get_mut(namespace) {
            Some(space) => space,
            None => self.namespaces.entry(namespace.into()).or_default(),
        };
        let (labels, added) = space.share(labels);
        self.bytes += added;
        match space.by_name.get_mut(name) {
            Some(stored) => {
                let before = std::mem::replace(stored, labels);
                self.bytes -= space.release(&before);
            }
            None => {
                space.by_name.insert(name.into(), labels);
                self.objects += 1;
                self.bytes += OBJECT_OVERHEAD + name.len();
            }
        }
    }

    /// Removes the object `namespace`/`name`, if held.
    pub fn delete(&mut self, namespace: &str, name: &str) {
        let Some(space) = self.namespaces.get_mut(namespace) else {
            return;
        };
        if let Some(labels) = space.by_name.remove(name) {
            self.objects -= 1;
            self.bytes -= OBJECT_OVERHEAD + name.len() + space.release(&labels);
            if space.by_name.is_empty() {
                self.namespaces.remove(namespace);
            }
        }
    }

    /// The objects in `namespace` (every namespace when `None`) whose labels match `selector`, by namespace
    /// then name as the API server lists them; `phase` is copied onto each (the caches hold no status).
    pub fn select(
        &self,
        namespace: Option<&str>,
        selector: &Selector,
        phase: &str,
    ) -> Vec<ObjectMeta> {
        let mut found = Vec::new();
        let mut take = |namespace: &str, space: &Namespace| {
            found.extend(
                space
                    .by_name
                    .iter()
                    .filter(|(_, labels)| selector.matches(labels))
                    .map(|(name, labels)| ObjectMeta {
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        labels: labels.clone(),
                        phase: phase.to_string(),
                    }),
            );
        };
        match namespace {
            Some(namespace) => {
                if let Some(space) = self.namespaces.get(namespace) {
                    take(namespace, space);
                }
            }
            None => {
                let mut spaces: Vec<_> = self.namespaces.iter().collect();
                spaces.sort_unstable_by_key(|(namespace, _)| *namespace);
                for (namespace, space) in spaces {
                    take(namespace, space);
                }
            }
        }
        found
    }

    /// How many objects are held.
    pub fn len(&self) -> usize {
        self.objects
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.objects == 0
    }

    /// An estimate of the heap bytes held: names, distinct label sets and the maps' entries.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// One object as a watch event carries it, already trimmed to what the index keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Namespace, "" for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl Watched {
    /// As a list answers it, with the phase the list's field selector guarantees.
    pub fn into_meta(self, phase: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: self.namespace,
            name: self.name,
            labels: self.labels.into(),
            phase: phase.to_string(),
        }
    }
}

/// A watcher event, as kube-runtime's `watcher::Event` orders them, with the object trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A (re)list starts.
    Init,
    /// An object of the list.
    InitApply(Watched),
    /// The list is complete.
    InitDone,
    /// An object added or changed after the list.
    Apply(Watched),
    /// An object deleted after the list.
    Delete(Watched),
}

/// The index a watch keeps: the one requests read, and while a (re)list runs, the one it fills.
#[derive(Debug, Default)]
pub struct WatchedIndex {
    served: ObjectIndex,
    listing: Option<ObjectIndex>,
    synced: bool,
}

impl WatchedIndex {
    /// Applies one event; a relist's objects replace the served ones at its end, all at once.
    pub fn apply(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Init => self.listing = Some(ObjectIndex::default()),
            WatchEvent::InitApply(o) => {
                let target = self.listing.get_or_insert_with(ObjectIndex::default);
                target.apply(&o.namespace, &o.name, o.labels);
            }
            WatchEvent::InitDone => {
                self.served = self.listing.take().unwrap_or_default();
                self.synced = true;
            }
            WatchEvent::Apply(o) => self.served.apply(&o.namespace, &o.name, o.labels),
            WatchEvent::Delete(o) => self.served.delete(&o.namespace, &o.name),
        }
    }

    /// Whether a first list has completed: before that, requests must ask the API server.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The index requests read.
    pub fn served(&self) -> &ObjectIndex {
        &self.served
    }

    /// Bytes held, a relist in progress included.
    pub fn bytes(&self) -> usize {
        self.served.bytes() + self.listing.as_ref().map_or(0, ObjectIndex::bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selector(text: &str) -> Selector {
        Selector::parse(text).unwrap()
    }

    fn names(found: &[ObjectMeta]) -> Vec<String> {
        found
            .iter()
            .map(|o| format!("{}/{}", o.namespace, o.name))
            .collect()
    }

    fn watched(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> Watched {
        Watched {
            namespace: namespace.into(),
            name: name.into(),
            labels: labels(pairs),
        }
    }

    #[test]
    fn a_request_reads_its_namespace_in_name_order_and_all_namespaces_in_api_order() {
        let mut index = ObjectIndex::default();
        index.apply("prod", "web-b", labels(&[("app", "web")]));
        index.apply("prod", "web-a", labels(&[("app", "web")]));
        index.apply("prod", "db", labels(&[("app", "db")]));
        index.apply("dev", "web-c", labels(&[("app", "web")]));
        let web = selector("app=web");
        assert_eq!(
            names(&index.select(Some("prod"), &web, "Running")),
            ["prod/web-a", "prod/web-b"]
        );
        assert_eq!(
            names(&index.select(None, &web, "")),
            ["dev/web-c", "prod/web-a", "prod/web-b"]
        );
        assert!(index.select(Some("absent"), &web, "").is_empty());
        let one = &index.select(Some("prod"), &selector("app=db"), "Running")[0];
        assert_eq!(
            (
                one.phase.as_str(),
                one.labels.get("app").map(String::as_str)
            ),
            ("Running", Some("db"))
        );
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn objects_with_equal_labels_share_one_set_and_the_set_goes_with_the_last() {
        let mut index = ObjectIndex::default();
        for i in 0..100 {
            index.apply("prod", &format!("web-{i}"), labels(&[("app", "web")]));
        }
        let found = index.select(Some("prod"), &selector("app=web"), "");
        assert!(Arc::ptr_eq(&found[0].labels, &found[99].labels));
        assert_eq!(index.namespaces["prod"].label_sets.len(), 1);
        let one_set = index.bytes();
        index.apply("prod", "web-0", labels(&[("app", "web"), ("canary", "1")]));
        assert_eq!(index.namespaces["prod"].label_sets.len(), 2);
        index.apply("prod", "web-0", labels(&[("app", "web")]));
        assert_eq!(index.namespaces["prod"].label_sets.len(), 1);
        assert_eq!(index.bytes(), one_set, "relabelling back frees the set");
        for i in 0..100 {
            index.delete("prod", &format!("web-{i}"));
        }
        assert!(index.is_empty());
        assert_eq!(index.bytes(), 0, "nothing is left accounted");
        assert!(index.namespaces.is_empty());
    }

    #[test]
    fn relabelled_and_deleted_objects_change_what_a_selector_finds() {
        let mut index = ObjectIndex::default();
        index.apply("prod", "a", labels(&[("app", "web")]));
        index.apply("prod", "b", labels(&[("app", "web")]));
        index.apply("prod", "b", labels(&[("app", "db")]));
        index.delete("prod", "a");
        index.delete("prod", "never-there");
        index.delete("nowhere", "a");
        assert!(
            index
                .select(Some("prod"), &selector("app=web"), "")
                .is_empty()
        );
        assert_eq!(
            names(&index.select(Some("prod"), &selector("app in (db)"), "")),
            ["prod/b"]
        );
        assert_eq!(
            names(&index.select(Some("prod"), &selector(""), "")),
            ["prod/b"]
        );
    }

    #[test]
    fn a_relist_replaces_the_served_objects_only_when_complete() {
        let mut watch = WatchedIndex::default();
        assert!(!watch.synced());
        watch.apply(WatchEvent::Init);
        watch.apply(WatchEvent::InitApply(watched("prod", "a", &[])));
        assert!(!watch.synced(), "a first list in progress is not served");
        watch.apply(WatchEvent::InitApply(watched("prod", "b", &[])));
        watch.apply(WatchEvent::InitDone);
        assert!(watch.synced());
        watch.apply(WatchEvent::Apply(watched("prod", "c", &[])));
        watch.apply(WatchEvent::Delete(watched("prod", "a", &[])));
        let all = |watch: &WatchedIndex| names(&watch.served().select(None, &selector(""), ""));
        assert_eq!(all(&watch), ["prod/b", "prod/c"]);

        // A relist (after 410 Gone): until its end, requests see the previous objects, whole.
        watch.apply(WatchEvent::Init);
        watch.apply(WatchEvent::InitApply(watched("prod", "c", &[])));
        assert_eq!(all(&watch), ["prod/b", "prod/c"]);
        assert!(
            watch.bytes() > watch.served().bytes(),
            "the relist is counted"
        );
        watch.apply(WatchEvent::InitApply(watched("prod", "d", &[])));
        watch.apply(WatchEvent::InitDone);
        assert_eq!(
            all(&watch),
            ["prod/c", "prod/d"],
            "b was deleted while unwatched"
        );
        assert_eq!(watch.bytes(), watch.served().bytes());
    }

    #[test]
    fn cluster_scoped_objects_live_under_the_empty_namespace() {
        let mut index = ObjectIndex::default();
        index.apply("", "node-2", labels(&[("zone", "a")]));
        index.apply("", "node-1", labels(&[("zone", "a")]));
        assert_eq!(
            names(&index.select(None, &selector("zone=a"), "")),
            ["/node-1", "/node-2"]
        );
    }
}
