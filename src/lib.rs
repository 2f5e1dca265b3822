//! docetl-checkpoint: a deduplicating, crash-safe checkpoint store for DocETL.
//!
//! The core (everything but `python`) has no PyO3 types: `cargo test` covers
//! encoding, hashing, layout and commits without an interpreter.

pub mod arrow_out;
pub mod arrow_rare;
pub mod canonical;
pub mod checkpoint_file;
pub mod digest_map;
pub mod encode;
pub mod error;
pub mod fsio;
pub mod hash_filter;
pub mod hash_index;
pub mod json_text;
pub mod logical;
pub mod manifest;
pub mod names;
pub mod parallel;
pub mod parquet_io;
pub mod rare;
pub mod rare_columns;
pub mod segment;
pub mod storage;
pub mod store;
pub mod value;

#[cfg(feature = "python")]
mod python;
