//! The three API groups the adapter serves, named once for the API side and router mode's flags.

/// `custom.metrics.k8s.io`: metrics of Kubernetes objects (v1beta1, v1beta2).
pub const CUSTOM: &str = "custom.metrics.k8s.io";
/// `external.metrics.k8s.io`: metrics of nothing in the cluster (v1beta1).
pub const EXTERNAL: &str = "external.metrics.k8s.io";
/// `metrics.k8s.io`: CPU and memory of pods and nodes (v1beta1, v1).
pub const RESOURCE: &str = "metrics.k8s.io";
