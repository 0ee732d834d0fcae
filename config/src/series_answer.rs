//! Series as discovery needs them: only the metric name and the label *names* (values never matter for
//! naming), interned and de-duplicated as the `/api/v1/series` answer is read, so a million series from
//! 2,000 metrics × 500 pods shrink to a few thousand distinct entries without holding the JSON's label
//! values.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// An interned string.
pub type Name = Arc<str>;

/// Index of a distinct sorted label-name set in a [`SeriesSet`].
pub type LabelSetId = u32;

/// Distinct (metric name, label-name set) pairs with how many series each stands for.
#[derive(Debug, Default, Clone)]
pub struct SeriesSet {
    strings: HashSet<Name>,
    label_sets: Vec<Arc<[Name]>>,
    label_set_ids: HashMap<Arc<[Name]>, LabelSetId>,
    entries: HashMap<(Name, LabelSetId), u64>,
    total: u64,
    scratch: Vec<Name>,
}

/// One distinct entry of a [`SeriesSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesEntry<'a> {
    /// Metric name (`__name__`).
    pub name: &'a Name,
    /// Label names other than `__name__`, sorted.
    pub labels: &'a [Name],
    /// Which label set this is, for callers that cache per set.
    pub label_set: LabelSetId,
    /// How many series had this name and these label names.
    pub count: u64,
}

impl SeriesSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Interns a string.
    pub fn intern(&mut self, text: &str) -> Name {
        if let Some(name) = self.strings.get(text) {
            return name.clone();
        }
        let name: Name = Arc::from(text);
        self.strings.insert(name.clone());
        name
    }

    /// Adds one series; `labels` are its label names other than `__name__`, in any order.
    pub fn insert<'s>(&mut self, name: &str, labels: impl IntoIterator<Item = &'s str>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(labels.into_iter().map(|l| self.intern(l)));
        let name = self.intern(name);
        self.insert_interned(name, &mut scratch);
        self.scratch = scratch;
    }

    fn insert_interned(&mut self, name: Name, labels: &mut Vec<Name>) {
        labels.sort_unstable();
        labels.dedup();
        let id = match self.label_set_ids.get(labels.as_slice()) {
            Some(&id) => id,
            None => {
                let id = LabelSetId::try_from(self.label_sets.len()).unwrap_or(LabelSetId::MAX);
                let set: Arc<[Name]> = Arc::from(labels.as_slice());
                self.label_sets.push(set.clone());
                self.label_set_ids.insert(set, id);
                id
            }
        };
        *self.entries.entry((name, id)).or_default() += 1;
        self.total += 1;
    }

    /// Distinct entries, sorted by name then label set, so everything built from them is deterministic.
    pub fn entries(&self) -> Vec<SeriesEntry<'_>> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .map(|((name, id), &count)| SeriesEntry {
                name,
                labels: &self.label_sets[*id as usize],
                label_set: *id,
                count,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(b.name).then_with(|| a.labels.cmp(b.labels)));
        out
    }

    /// How many series were inserted, duplicates included.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many distinct (name, label-name set) entries there are.
    pub fn distinct(&self) -> usize {
        self.entries.len()
    }
}

/// A `/api/v1/series` answer that is not a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The body is not the expected JSON.
    #[error("bad_response: {0}")]
    Decode(String),
    /// Prometheus said `"status":"error"`.
    #[error("{error_type}: {error}")]
    Prometheus {
        /// `errorType`.
        error_type: String,
        /// `error`.
        error: String,
    },
}

/// Reads a `/api/v1/series` answer into `set`, keeping only names and label names.
pub fn read_answer(body: &[u8], set: &mut SeriesSet) -> Result<(), AnswerError> {
    read_with(serde_json::Deserializer::from_slice(body), set)
}

/// Reads a `/api/v1/series` answer from a reader (a file or a response body), keeping only names and
/// label names; memory stays bounded by the distinct entries, not the answer's size.
pub fn read_answer_from<R: std::io::Read>(
    reader: R,
    set: &mut SeriesSet,
) -> Result<(), AnswerError> {
    read_with(serde_json::Deserializer::from_reader(reader), set)
}

fn read_with<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
    set: &mut SeriesSet,
) -> Result<(), AnswerError> {
    let decode = |e: serde_json::Error| AnswerError::Decode(e.to_string());
    let outcome = Envelope { set }
        .deserialize(&mut deserializer)
        .map_err(decode)?;
    deserializer.end().map_err(decode)?;
    outcome
}

struct Envelope<'s> {
    set: &'s mut SeriesSet,
}

impl<'de> DeserializeSeed<'de> for Envelope<'_> {
    type Value = Result<(), AnswerError>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Envelope<'_> {
    type Value = Result<(), AnswerError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Prometheus API answer object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut status = None::<String>;
        let mut error_type = String::new();
        let mut error = String::new();
        let mut saw_data = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "status" => status = Some(map.next_value()?),
                "errorType" => error_type = map.next_value()?,
                "error" => error = map.next_value()?,
                "data" => {
                    map.next_value_seed(SeriesList {
                        set: &mut *self.set,
                    })?;
                    saw_data = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match status.as_deref() {
            Some("success") if saw_data => Ok(()),
            Some("success") => Err(AnswerError::Decode("success without data".into())),
            Some("error") => Err(AnswerError::Prometheus { error_type, error }),
            other => Err(AnswerError::Decode(format!("unexpected status {other:?}"))),
        })
    }
}

struct SeriesList<'s> {
    set: &'s mut SeriesSet,
}

impl<'de> DeserializeSeed<'de> for SeriesList<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SeriesList<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of label sets")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut labels = Vec::new();
        while let Some(name) = seq.next_element_seed(LabelSet {
            set: &mut *self.set,
            labels: &mut labels,
        })? {
            let name = name.ok_or_else(|| de::Error::custom("series without __name__"))?;
            self.set.insert_interned(name, &mut labels);
        }
        Ok(())
    }
}

/// Reads one label set, interning label names into `labels` and returning the interned `__name__`.
struct LabelSet<'s> {
    set: &'s mut SeriesSet,
    labels: &'s mut Vec<Name>,
}

impl<'de> DeserializeSeed<'de> for LabelSet<'_> {
    type Value = Option<Name>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelSet<'_> {
    type Value = Option<Name>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a label set object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.labels.clear();
        let mut name = None;
        while let Some(key) = map.next_key_seed(Interned(&mut *self.set))? {
            if &*key == "__name__" {
                name = Some(map.next_value_seed(Interned(&mut *self.set))?);
            } else {
                map.next_value::<IgnoredAny>()?;
                self.labels.push(key);
            }
        }
        Ok(name)
    }
}

/// Deserializes a string straight into the interner, without an allocation when it is already known.
struct Interned<'s>(&'s mut SeriesSet);

impl<'de> DeserializeSeed<'de> for Interned<'_> {
    type Value = Name;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Name, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Interned<'_> {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
        Ok(self.0.intern(v))
    }
}

/// One series with all its labels, for offline evaluation of series selectors (`explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledSeries {
    /// Metric name.
    pub name: String,
    /// Every label but `__name__`.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Reads a `/api/v1/series` answer keeping label values, for offline selector evaluation.
pub fn read_answer_labeled(body: &[u8]) -> Result<Vec<LabeledSeries>, AnswerError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        status: String,
        #[serde(default)]
        data: Vec<std::collections::BTreeMap<String, String>>,
        #[serde(default, rename = "errorType")]
        error_type: String,
        #[serde(default)]
        error: String,
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| AnswerError::Decode(e.to_string()))?;
    if answer.status != "success" {
        return Err(AnswerError::Prometheus {
            error_type: answer.error_type,
            error: answer.error,
        });
    }
    answer
        .data
        .into_iter()
        .map(|mut labels| {
            let name = labels
                .remove("__name__")
                .ok_or_else(|| AnswerError::Decode("series without __name__".into()))?;
            Ok(LabeledSeries { name, labels })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{"status":"success","data":[
        {"__name__":"http_requests_total","namespace":"prod","pod":"web-1","method":"GET"},
        {"pod":"web-2","__name__":"http_requests_total","namespace":"prod","method":"POST"},
        {"__name__":"http_requests_total","namespace":"prod","pod":"web-3"},
        {"__name__":"queue_depth","queue":"q1"}]}"#;

    #[test]
    fn answers_reduce_to_distinct_names_and_label_names() {
        let mut set = SeriesSet::new();
        read_answer(ANSWER.as_bytes(), &mut set).unwrap();
        assert_eq!(set.total(), 4);
        let entries: Vec<_> = set
            .entries()
            .iter()
            .map(|e| {
                (
                    e.name.to_string(),
                    e.labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
                    e.count,
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                (
                    "http_requests_total".into(),
                    vec!["method".into(), "namespace".into(), "pod".into()],
                    2
                ),
                (
                    "http_requests_total".into(),
                    vec!["namespace".into(), "pod".into()],
                    1
                ),
                ("queue_depth".into(), vec!["queue".into()], 1),
            ]
        );
        let mut from_reader = SeriesSet::new();
        read_answer_from(ANSWER.as_bytes(), &mut from_reader).unwrap();
        assert_eq!(from_reader.entries(), set.entries());
    }

    #[test]
    fn error_answers_and_garbage_are_errors() {
        let mut set = SeriesSet::new();
        let err = read_answer(
            br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
            &mut set,
        );
        assert_eq!(
            err,
            Err(AnswerError::Prometheus {
                error_type: "bad_data".into(),
                error: "parse error".into()
            })
        );
        assert!(matches!(
            read_answer(b"<html>", &mut set),
            Err(AnswerError::Decode(_))
        ));
        assert!(matches!(
            read_answer(br#"{"status":"success","data":[{"a":"b"}]}"#, &mut set),
            Err(AnswerError::Decode(_))
        ));
        assert!(read_answer(br#"{"status":"success","data":null}"#, &mut set).is_ok());
    }

    #[test]
    fn labeled_answers_keep_values() {
        let series = read_answer_labeled(ANSWER.as_bytes()).unwrap();
        assert_eq!(series.len(), 4);
        assert_eq!(series[1].labels["pod"], "web-2");
        assert!(!series[1].labels.contains_key("__name__"));
    }
}
