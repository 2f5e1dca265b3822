//! `s3://bucket/prefix` locations and their options: object_store's S3 keys
//! (the `AWS_*` environment first, explicit options over it) plus ours.

use std::collections::BTreeMap;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientConfigKey, RetryConfig};

use crate::error::{Error, Result};

/// Unreferenced objects younger than this are left alone by gc: they may be
/// the data of a commit in flight on another machine.
pub const DEFAULT_GC_GRACE: Duration = Duration::from_secs(3600);
const GRACE_KEY: &str = "gc_grace_seconds";
/// How long one request is retried before the call fails (ours, not object_store's).
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(30);
const RETRY_KEY: &str = "retry_timeout_seconds";

pub fn is_url(location: &str) -> bool {
    ["s3://", "s3a://", "file://"]
        .iter()
        .any(|scheme| location.starts_with(scheme))
}

/// A number of seconds >= 0 given as the option `key` (finite, and small
/// enough for a `Duration`: "inf" or "1e30" are refused, not a panic).
fn seconds_of(key: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            Error::InvalidValue(format!(
                "storage option {key} must be a finite number of seconds >= 0, not {value:?}"
            ))
        })
}

/// An endpoint must be an http(s) URL with a host (and a port in range):
/// the HTTP client panics on anything else at the first request.
fn check_endpoint(key: &str, value: &str) -> Result<()> {
    let parsed = url::Url::parse(value).ok();
    let valid = parsed.is_some_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    }) && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidValue(format!(
            "S3 endpoint {key} must be an http:// or https:// URL with a host, not {value:?}"
        )))
    }
}

/// Checks the values object_store would only reject (or panic on) at the
/// first request: no control characters anywhere (they end up in HTTP
/// headers), endpoints, bucket names and durations ("5s", "500ms", "1m").
/// S3 bucket names: letters, digits, dots, dashes (and underscores, which
/// some S3-compatible servers allow); anything else cannot be sent.
fn check_bucket(key: &str, value: &str) -> Result<()> {
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidValue(format!(
            "{key}: {value:?} is not a bucket name (letters, digits, '.', '-', '_')"
        )))
    }
}

fn check_value(config: &AmazonS3ConfigKey, key: &str, value: &str) -> Result<()> {
    use ClientConfigKey as C;
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidValue(format!(
            "storage option {key} holds a control character: {value:?}"
        )));
    }
    match config {
        AmazonS3ConfigKey::Endpoint | AmazonS3ConfigKey::S3Endpoint => check_endpoint(key, value),
        AmazonS3ConfigKey::Bucket => check_bucket(key, value),
        AmazonS3ConfigKey::Client(
            C::ConnectTimeout
            | C::Timeout
            | C::ReadTimeout
            | C::PoolIdleTimeout
            | C::Http2KeepAliveInterval
            | C::Http2KeepAliveTimeout,
        ) => humantime::parse_duration(value.trim())
            .map(drop)
            .map_err(|_| {
                Error::InvalidValue(format!(
                "storage option {key} must be a duration such as \"5s\" or \"500ms\", not {value:?}"
            ))
            }),
        _ => Ok(()),
    }
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
        grace = seconds_of(GRACE_KEY, value)?;
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
    check_bucket("the bucket of the URL", bucket)?;
    let prefix = prefix.trim_matches('/').to_string();
    // bounded requests: a paused or unreachable server fails in seconds, not
    // after object_store's 3-minute retry budget (the environment and the
    // options override these)
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5s",
        )
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "30s");
    // the AWS_* environment, as object_store's from_env reads it, checked
    for (var, value) in std::env::vars_os() {
        let (Some(var), Some(value)) = (var.to_str(), value.to_str()) else {
            continue;
        };
        if let Some(config) = var
            .strip_prefix("AWS_")
            .and_then(|_| var.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().ok())
        {
            check_value(&config, var, value)?;
            builder = builder.with_config(config, value);
        }
    }
    let mut retry = RetryConfig {
        retry_timeout: DEFAULT_RETRY_TIMEOUT,
        ..RetryConfig::default()
    };
    let mut grace = DEFAULT_GC_GRACE;
    for (key, value) in options {
        if key == GRACE_KEY {
            grace = seconds_of(GRACE_KEY, value)?;
            continue;
        }
        if key == RETRY_KEY {
            retry.retry_timeout = seconds_of(RETRY_KEY, value)?;
            continue;
        }
        let config: AmazonS3ConfigKey = key.to_ascii_lowercase().parse().map_err(|_| {
            Error::InvalidValue(format!(
                "unknown storage option {key:?}: use object_store's S3 keys \
                 (endpoint, region, access_key_id, secret_access_key, allow_http, ...) \
                 or {GRACE_KEY}"
            ))
        })?;
        check_value(&config, key, value)?;
        builder = builder.with_config(config, value);
    }
    Ok(S3Location {
        bucket: bucket.to_string(),
        prefix,
        builder: builder.with_retry(retry),
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

    #[test]
    fn refuses_values_that_would_panic_or_fail_later() {
        for (key, value) in [
            (GRACE_KEY, "inf"),
            (GRACE_KEY, "1e30"),
            (GRACE_KEY, "nan"),
            (RETRY_KEY, "-3"),
            ("endpoint", "not a url"),
            ("endpoint", "http://"),
            ("aws_endpoint_url_s3", "localhost:9000"),
            ("timeout", "soon"),
            ("connect_timeout", "-1s"),
        ] {
            let err = parse("s3://b/p", &opts(&[(key, value)]))
                .err()
                .unwrap_or_else(|| panic!("{key}={value} accepted"));
            assert!(
                matches!(err, Error::InvalidValue(_)) && err.to_string().contains(key),
                "{key}={value}: {err}"
            );
        }
        let err = parse_file("file:///tmp/x", &opts(&[(GRACE_KEY, "1e30")]))
            .err()
            .expect("error");
        assert!(err.to_string().contains(GRACE_KEY), "{err}");
        let loc = parse(
            "s3://b/p",
            &opts(&[
                ("endpoint", "http://127.0.0.1:8333"),
                ("timeout", "2s"),
                (RETRY_KEY, "1.5"),
            ]),
        );
        assert!(loc.is_ok());
    }
}
