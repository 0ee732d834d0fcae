//! Prometheus `/api/v1/query` answers: instant vectors and scalars, as the adapter's queries get them.
//! Pure: the caller reads the body.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::series_answer::AnswerError;

/// One sample of an instant-query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Every label of the sample (`__name__` included when the query keeps it).
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
    /// Sample time, Unix seconds.
    pub timestamp: f64,
}

/// An instant-query result.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// `resultType: vector`.
    Vector(Vec<Sample>),
    /// `resultType: scalar`: value and time.
    Scalar(f64, f64),
    /// `resultType: matrix` or `string`: never what a metrics query should return.
    Unexpected(&'static str),
}

/// The envelope of every Prometheus API answer read whole: `status`, then `data` or the error.
#[derive(Deserialize)]
pub(crate) struct Envelope<T> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
}

impl<T> Envelope<T> {
    /// The data of a success (`None` when it has none), or the error Prometheus answered.
    pub(crate) fn data(self) -> Result<Option<T>, AnswerError> {
        if self.status != "success" {
            return Err(AnswerError::Prometheus {
                error_type: self.error_type,
                error: self.error,
            });
        }
        Ok(self.data)
    }
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Reads an `/api/v1/query` answer, as Prometheus' Go client does: the error envelope, vectors and
/// scalars; a matrix or string result is returned as [`QueryResult::Unexpected`]. Never panics, whatever
/// the bytes (fuzzed: `tools/fuzz`, target `query_answer`).
pub fn read_query_answer(body: &[u8]) -> Result<QueryResult, AnswerError> {
    let bad = |e: serde_json::Error| AnswerError::Decode(e.to_string());
    let envelope: Envelope<Data> = serde_json::from_slice(body).map_err(bad)?;
    let data = envelope
        .data()?
        .ok_or_else(|| AnswerError::Decode("success without data".into()))?;
    match data.result_type.as_str() {
        "vector" => {
            let samples: Vec<VectorSample> = serde_json::from_value(data.result).map_err(bad)?;
            Ok(QueryResult::Vector(
                samples
                    .into_iter()
                    .map(|s| Sample {
                        labels: s.metric,
                        value: parse_value(&s.value.1),
                        timestamp: s.value.0,
                    })
                    .collect(),
            ))
        }
        "scalar" => {
            let (timestamp, value): (f64, String) =
                serde_json::from_value(data.result).map_err(bad)?;
            Ok(QueryResult::Scalar(parse_value(&value), timestamp))
        }
        "matrix" => Ok(QueryResult::Unexpected("matrix")),
        _ => Ok(QueryResult::Unexpected("string")),
    }
}

/// Prometheus values: decimal, `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> f64 {
    match text {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap_or(f64::NAN),
    }
}
