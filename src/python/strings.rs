//! Python `str` objects for large values, shared across loads by content hash:
//! a text carried by five checkpoints becomes one object, not five.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::digest_map::KeyMap;

/// Characters kept alive by the cache at most; past it the cache starts over.
const CACHE_CHARS: usize = 256 << 20;

#[derive(Default)]
pub struct SharedStrings {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    strings: KeyMap<[u8; 32], Py<PyString>>,
    chars: usize,
}

impl SharedStrings {
    /// The shared `str` for value `hash` holding `text`, made on first use.
    pub fn get<'py>(&self, py: Python<'py>, hash: &[u8], text: &str) -> Bound<'py, PyString> {
        let Ok(key) = <[u8; 32]>::try_from(hash) else {
            return PyString::new(py, text);
        };
        if let Some(s) = self.lock().strings.get(&key) {
            return s.bind(py).clone();
        }
        // made outside the lock: allocating may run a collection, and with it Python code
        let s = PyString::new(py, text);
        let mut inner = self.lock();
        if inner.chars + text.len() > CACHE_CHARS {
            inner.strings.clear();
            inner.chars = 0;
        }
        inner.chars += text.len();
        inner.strings.insert(key, s.clone().unbind());
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
