//! Python records -> core values, walking the objects directly (no json.dumps).
//! Accepts exactly what `json.dumps` accepts and gives what `json.loads` would.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::errors::type_error;
use crate::canonical::MAX_DEPTH;
use crate::digest_map::KeyMap;
use crate::value::{Record, Value};

/// Where in the input a value sits, for error messages.
enum Step {
    Key(Arc<str>),
    Index(usize),
}

pub struct Converter<'a> {
    step: &'a str,
    op: &'a str,
    record: usize,
    path: Vec<Step>,
    /// Shared Python strings become one shared Rust string (unnest rows share
    /// texts). The Python reference held here keeps the address from being reused.
    strings: KeyMap<usize, (Py<PyString>, Arc<str>)>,
}

impl<'a> Converter<'a> {
    pub fn new(step: &'a str, op: &'a str) -> Self {
        Converter {
            step,
            op,
            record: 0,
            path: Vec::new(),
            strings: KeyMap::default(),
        }
    }

    pub fn records(&mut self, data: &Bound<'_, PyAny>) -> PyResult<Vec<Record>> {
        let list = data.cast::<PyList>().map_err(|_| {
            type_error(format!(
                "records for step {:?}, operation {:?} must be a list of dicts, not {}",
                self.step,
                self.op,
                type_name(data)
            ))
        })?;
        let mut out = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            self.record = i;
            let dict = item.cast::<PyDict>().map_err(|_| {
                type_error(format!(
                    "record {i} of step {:?}, operation {:?} is a {}, not a dict",
                    self.step,
                    self.op,
                    type_name(&item)
                ))
            })?;
            match self.object(dict, 0)? {
                Value::Object(fields) => out.push(fields),
                _ => unreachable!("object() returns objects"),
            }
        }
        Ok(out)
    }

    fn location(&self) -> String {
        let mut path = String::new();
        for step in &self.path {
            match step {
                Step::Key(k) if path.is_empty() => path.push_str(k),
                Step::Key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        format!(
            "step {:?}, operation {:?}, record {}, key path {}",
            self.step,
            self.op,
            self.record,
            if path.is_empty() { "<record>" } else { &path }
        )
    }

    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
        if depth > MAX_DEPTH {
            return Err(PyValueError::new_err(format!(
                "cannot save {}: nested deeper than {MAX_DEPTH} levels (or a circular reference)",
                self.location()
            )));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            // the only failure is a lone surrogate
            return match self.string(s) {
                Ok(text) => Ok(Value::Str(text)),
                Err(_) => surrogates(s),
            };
        }
        if obj.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return Ok(Value::Bool(b.is_true()));
        }
        if let Ok(i) = obj.cast::<PyInt>() {
            return Ok(match i.extract::<i64>() {
                Ok(n) => Value::Int(n),
                Err(_) => Value::BigInt(int_text(i)?.into()),
            });
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            // json.loads gives every NaN (any sign or payload) as the one float('nan')
            let x = f.value();
            return Ok(Value::Float(if x.is_nan() { f64::NAN } else { x }));
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            return self.object(d, depth);
        }
        if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            let mut items = Vec::new();
            for (i, item) in obj.try_iter()?.enumerate() {
                self.path.push(Step::Index(i));
                items.push(self.value(&item?, depth + 1)?);
                self.path.pop();
            }
            return Ok(Value::List(items));
        }
        Err(type_error(format!(
            "cannot save {}: a value of type {} is not JSON serializable",
            self.location(),
            type_name(obj)
        )))
    }

    fn object(&mut self, dict: &Bound<'_, PyDict>, depth: usize) -> PyResult<Value> {
        let mut fields: Vec<(Arc<str>, Value)> = Vec::with_capacity(dict.len());
        for (k, v) in dict.iter() {
            let key = self.key(&k)?;
            self.path.push(Step::Key(key.clone()));
            let value = self.value(&v, depth + 1)?;
            self.path.pop();
            // json.dumps writes both of {1: a, "1": b}; json.loads keeps the last value
            match fields.iter_mut().find(|(existing, _)| *existing == key) {
                Some(slot) => slot.1 = value,
                None => fields.push((key, value)),
            }
        }
        Ok(Value::Object(fields))
    }

    /// A dict key as json.dumps writes it: str as is; int, float, bool, None coerced.
    fn key(&mut self, key: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
        if let Ok(s) = key.cast::<PyString>() {
            return self.string(s);
        }
        let text = if key.is_none() {
            "null".to_string()
        } else if let Ok(b) = key.cast::<PyBool>() {
            (if b.is_true() { "true" } else { "false" }).to_string()
        } else if let Ok(i) = key.cast::<PyInt>() {
            int_text(i)?
        } else if let Ok(f) = key.cast::<PyFloat>() {
            let x = f.value();
            if x.is_nan() {
                "NaN".to_string()
            } else if x.is_infinite() {
                (if x > 0.0 { "Infinity" } else { "-Infinity" }).to_string()
            } else {
                key.py()
                    .get_type::<PyFloat>()
                    .call_method1("__repr__", (key,))?
                    .extract()?
            }
        } else {
            return Err(type_error(format!(
                "cannot save {}: keys must be str, int, float, bool or None, not {}",
                self.location(),
                type_name(key)
            )));
        };
        Ok(Arc::from(text))
    }

    fn string(&mut self, s: &Bound<'_, PyString>) -> PyResult<Arc<str>> {
        let ptr = s.as_ptr() as usize;
        if let Some((_, shared)) = self.strings.get(&ptr) {
            return Ok(shared.clone());
        }
        let text = s.to_str().map_err(|_| {
            PyValueError::new_err(format!(
                "cannot save {}: the key holds a lone surrogate (values may, keys may not)",
                self.location()
            ))
        })?;
        let shared: Arc<str> = Arc::from(text);
        self.strings
            .insert(ptr, (s.clone().unbind(), shared.clone()));
        Ok(shared)
    }
}

/// A str with lone surrogates, as "surrogatepass" bytes (what `json.dumps`
/// writes as `\\udXXX` escapes and DocETL's JSON store keeps).
fn surrogates(s: &Bound<'_, PyString>) -> PyResult<Value> {
    let bytes = s.call_method1("encode", ("utf-8", "surrogatepass"))?;
    let bytes: Vec<u8> = bytes.extract()?;
    Ok(Value::Surrogates(bytes.into()))
}

/// Decimal text of an int (or int subclass such as IntEnum), as json.dumps writes it.
fn int_text(i: &Bound<'_, PyInt>) -> PyResult<String> {
    i.py()
        .get_type::<PyInt>()
        .call_method1("__repr__", (i,))?
        .extract()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_string())
}
