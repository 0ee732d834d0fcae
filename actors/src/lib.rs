//! The prometheus-adapter actor system. Filled by the actor-system issue.
#![forbid(unsafe_code)]
