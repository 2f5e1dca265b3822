//! `s3://bucket/prefix` locations and their options: object_store's S3 keys
//! (the `AWS_*` environment first, explicit options over it) plus ours.

use std::collections::BTreeMap;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

use crate::error::{Error, Result};

/// Unreferenced objects younger than this are left alone by gc: they may be
/// the data of a commit in flight on another machine.
pub const DEFAULT_GC_GRACE: Duration = Duration::from_secs(3600);
const GRACE_KEY: &str = "gc_grace_seconds";

pub fn is_url(location: &str) -> bool {
    ["s3://", "s3a://", "file://"]
        .iter()
        .any(|scheme| location.starts_with(scheme))
}

/// The gc grace period option, the one option every URL takes.
fn grace_of(value: &str) -> Result<Duration> {
    let seconds: f64 = value
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            Error::InvalidValue(format!(
                "storage option {GRACE_KEY} must be a number of seconds >= 0, not {value:?}"
            ))
        })?;
    Ok(Duration::from_secs_f64(seconds))
}

/// A `file:///folder` location: the object-store protocol (conditional
/// creates, no lock) on a local or shared folder.
pub struct FileLocation {
    pub folder: std::path::PathBuf,
    pub grace: Duration,
}

pub fn parse_file(location: &str, options: &BTreeMap<String, String>) -> Result<FileLocation> {
    let folder = location.trim_start_matches("file://");
    if !folder.starts_with('/') {
        return Err(Error::InvalidValue(format!(
            "{location:?}: a file:// URL names an absolute folder, as in file:///data/run"
        )));
    }
    let mut grace = DEFAULT_GC_GRACE;
    for (key, value) in options {
        if key != GRACE_KEY {
            return Err(Error::InvalidValue(format!(
                "unknown storage option {key:?} for a file:// store: only {GRACE_KEY}"
            )));
        }
        grace = grace_of(value)?;
    }
    Ok(FileLocation {
        folder: folder.into(),
        grace,
    })
}

/// A parsed location: the bucket, the key prefix under it, and the builder.
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
    pub builder: AmazonS3Builder,
    pub grace: Duration,
}

pub fn parse(location: &str, options: &BTreeMap<String, String>) -> Result<S3Location> {
    let rest = location
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::InvalidValue(format!(
            "{location:?} names no bucket: use s3://bucket/prefix"
        )));
    }
    let prefix = prefix.trim_matches('/').to_string();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let mut grace = DEFAULT_GC_GRACE;
    for (key, value) in options {
        if key == GRACE_KEY {
            let seconds: f64 = value
                .parse()
                .ok()
                .filter(|s: &f64| *s >= 0.0)
                .ok_or_else(|| {
                    Error::InvalidValue(format!(
                    "storage option {GRACE_KEY} must be a number of seconds >= 0, not {value:?}"
                ))
                })?;
            grace = Duration::from_secs_f64(seconds);
            continue;
        }
        let config: AmazonS3ConfigKey = key.to_ascii_lowercase().parse().map_err(|_| {
            Error::InvalidValue(format!(
                "unknown storage option {key:?}: use object_store's S3 keys \
                 (endpoint, region, access_key_id, secret_access_key, allow_http, ...) \
                 or {GRACE_KEY}"
            ))
        })?;
        builder = builder.with_config(config, value);
    }
    Ok(S3Location {
        bucket: bucket.to_string(),
        prefix,
        builder,
        grace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn splits_bucket_and_prefix() {
        let loc = parse("s3://b/some/prefix/", &BTreeMap::new()).expect("parse");
        assert_eq!(
            (loc.bucket.as_str(), loc.prefix.as_str()),
            ("b", "some/prefix")
        );
        let loc = parse("s3://b", &BTreeMap::new()).expect("parse");
        assert_eq!((loc.bucket.as_str(), loc.prefix.as_str()), ("b", ""));
    }

    #[test]
    fn rejects_bad_locations_and_options() {
        assert!(parse("s3:///x", &BTreeMap::new()).is_err());
        let err = parse("s3://b/p", &opts(&[("endpiont", "x")]))
            .err()
            .expect("error");
        assert!(err.to_string().contains("endpiont"), "{err}");
        let err = parse("s3://b/p", &opts(&[(GRACE_KEY, "-1")]))
            .err()
            .expect("error");
        assert!(err.to_string().contains(GRACE_KEY), "{err}");
        let loc = parse(
            "s3://b/p",
            &opts(&[(GRACE_KEY, "2.5"), ("region", "eu-west-1")]),
        )
        .expect("parse");
        assert_eq!(loc.grace, Duration::from_millis(2500));
    }
}
