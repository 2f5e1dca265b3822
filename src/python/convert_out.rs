//! Stored checkpoints -> Python objects, built straight from the Arrow arrays.
//! A large string shared by many rows becomes one shared Python `str`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};

use super::strings::SharedStrings;
use crate::canonical;
use crate::rare;
use crate::store::{CellRef, Loaded};
use crate::value::Value;

pub fn records<'py>(
    py: Python<'py>,
    loaded: &Loaded,
    strings: &SharedStrings,
) -> PyResult<Bound<'py, PyList>> {
    let keys: Vec<Bound<'py, PyString>> = loaded
        .columns
        .iter()
        .map(|c| PyString::new(py, &c.key))
        .collect();
    let mut fields = Vec::new();
    let rows = (0..loaded.num_rows())
        .map(|row| {
            fields.clear();
            loaded.for_each_field(row, |key, id, cell| {
                fields.push((key, id, cell));
                Ok(())
            })?;
            let dict = PyDict::new(py);
            for (&(key, id, cell), &col) in fields.iter().zip(loaded.shape(row)) {
                let value = match (id, cell) {
                    (Some(id), CellRef::Str(s)) => match loaded.values.hash(id) {
                        Some(hash) => strings.get(py, hash, s).into_any(),
                        None => PyString::new(py, s).into_any(),
                    },
                    (_, cell) => cell_to_py(py, cell)?,
                };
                // dense keys' Python strings are made once per checkpoint
                if col == rare::RARE {
                    dict.set_item(PyString::new(py, key), value)?;
                } else {
                    dict.set_item(&keys[col as usize], value)?;
                }
            }
            Ok(dict)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, rows)
}

fn cell_to_py<'py>(py: Python<'py>, cell: CellRef) -> PyResult<Bound<'py, PyAny>> {
    Ok(match cell {
        CellRef::Null => py.None().into_bound(py),
        CellRef::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        CellRef::Int(n) => n.into_pyobject(py)?.into_any(),
        CellRef::Float(f) => PyFloat::new(py, f).into_any(),
        CellRef::Str(s) => PyString::new(py, s).into_any(),
        // nested values are decoded fresh for each row: Python code may mutate them
        CellRef::Canonical(bytes) => value_to_py(py, &canonical::decode(bytes)?)?,
    })
}

pub fn value_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Int(n) => n.into_pyobject(py)?.into_any(),
        Value::BigInt(digits) => py.get_type::<PyInt>().call1((&**digits,))?,
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::Surrogates(bytes) => pyo3::types::PyBytes::new(py, bytes)
            .call_method1("decode", ("utf-8", "surrogatepass"))?,
        Value::List(items) => PyList::new(
            py,
            items
                .iter()
                .map(|v| value_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (k, v) in fields {
                dict.set_item(PyString::new(py, k), value_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
