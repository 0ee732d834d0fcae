//! Coalescing of identical in-flight calls: the first caller starts the backend call, later callers with
//! the same key await the same result, and the entry is gone once it completes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, Shared};

type SharedCall<T> = Shared<LocalBoxFuture<'static, T>>;
/// Calls by key, each with the id of the call that created the entry.
type Calls<K, T> = Rc<RefCell<HashMap<K, (u64, SharedCall<T>)>>>;

/// In-flight calls by key. Cloning shares the table.
pub struct Inflight<K, T: Clone> {
    calls: Calls<K, T>,
    next_id: Rc<RefCell<u64>>,
}

impl<K, T: Clone> Clone for Inflight<K, T> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            next_id: self.next_id.clone(),
        }
    }
}

impl<K, T: Clone> Default for Inflight<K, T> {
    fn default() -> Self {
        Self {
            calls: Rc::default(),
            next_id: Rc::default(),
        }
    }
}

impl<K: Hash + Eq + Clone + 'static, T: Clone + 'static> Inflight<K, T> {
    /// Joins the call in flight for `key`, or starts one with `start`.
    pub fn join_or_start(
        &self,
        key: K,
        start: impl FnOnce() -> LocalBoxFuture<'static, T>,
    ) -> LocalBoxFuture<'static, T> {
        if let Some((_, call)) = self.calls.borrow().get(&key) {
            return call.clone().boxed_local();
        }
        let id = {
            let mut next = self.next_id.borrow_mut();
            *next += 1;
            *next
        };
        let call = start().shared();
        self.calls
            .borrow_mut()
            .insert(key.clone(), (id, call.clone()));
        let calls = self.calls.clone();
        async move {
            let result = call.await;
            let mut calls = calls.borrow_mut();
            if calls.get(&key).is_some_and(|(current, _)| *current == id) {
                calls.remove(&key);
            }
            result
        }
        .boxed_local()
    }

    /// Whether a call for `key` is in flight.
    pub fn is_running(&self, key: &K) -> bool {
        self.calls.borrow().contains_key(key)
    }

    /// Forgets every call (after a restart the futures behind them are gone).
    pub fn clear(&self) {
        self.calls.borrow_mut().clear();
    }
}
