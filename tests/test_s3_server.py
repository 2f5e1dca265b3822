"""The S3 server the tests run against does what the store relies on.

Checked straight through boto3, not through the store: a conditional create
(`If-None-Match: *`) that loses cleanly and atomically, a conditional overwrite
(`If-Match`), `StartAfter` listing, ranged GETs and deletes. If one of these fails,
the S3 store tests that depend on it say nothing about the store.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import S3_BUCKET


@pytest.fixture
def client(s3_options: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_options["endpoint"],
        region_name=s3_options["region"],
        aws_access_key_id=s3_options["access_key_id"],
        aws_secret_access_key=s3_options["secret_access_key"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def prefix(s3_url: str) -> str:
    return s3_url.removeprefix(f"s3://{S3_BUCKET}/") + "/"


def put(client: Any, key: str, body: bytes, **conditions: str) -> int:
    """HTTP status of a PutObject: 200, or the error status (e.g. 412)."""
    try:
        response = client.put_object(Bucket=S3_BUCKET, Key=key, Body=body, **conditions)
    except ClientError as e:
        return int(e.response["ResponseMetadata"]["HTTPStatusCode"])
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


def get(client: Any, key: str, **kwargs: str) -> bytes:
    return bytes(client.get_object(Bucket=S3_BUCKET, Key=key, **kwargs)["Body"].read())


def test_conditional_create_rejects_an_existing_key(client: Any, prefix: str) -> None:
    key = prefix + "manifest-1"
    assert put(client, key, b"first", IfNoneMatch="*") == 200
    with pytest.raises(ClientError) as error:
        client.put_object(Bucket=S3_BUCKET, Key=key, Body=b"second", IfNoneMatch="*")
    assert error.value.response["Error"]["Code"] == "PreconditionFailed"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert get(client, key) == b"first"


def race(client: Any, key: str, writers: int) -> list[int]:
    """`writers` threads released together, each conditionally creating `key`."""
    statuses = [0] * writers
    barrier = threading.Barrier(writers)

    def write(i: int) -> None:
        barrier.wait(timeout=30)
        statuses[i] = put(client, key, f"writer {i}".encode(), IfNoneMatch="*")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses


def test_concurrent_conditional_creates_have_exactly_one_winner(client: Any, prefix: str) -> None:
    # Contended losers can wait ~1 s on the server's lock before their 412: few rounds.
    for round_ in range(3):
        key = f"{prefix}race-{round_}"
        statuses = race(client, key, writers=4)
        assert sorted(statuses) == [200, 412, 412, 412], statuses
        assert get(client, key) == f"writer {statuses.index(200)}".encode()


def test_conditional_overwrite_needs_the_current_etag(client: Any, prefix: str) -> None:
    key = prefix + "pointer"
    put(client, key, b"v1")
    etag = client.head_object(Bucket=S3_BUCKET, Key=key)["ETag"]
    assert put(client, key, b"v2", IfMatch=etag) == 200
    assert put(client, key, b"v3", IfMatch=etag) == 412
    assert get(client, key) == b"v2"


def test_list_start_after_returns_only_later_keys_in_order(client: Any, prefix: str) -> None:
    names = ["a", "b", "c/d", "c/e", "f"]
    for name in reversed(names):
        put(client, prefix + name, name.encode())

    def listed(**kwargs: Any) -> tuple[list[str], Any]:
        page = client.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix, **kwargs)
        keys = [o["Key"].removeprefix(prefix) for o in page.get("Contents", [])]
        return keys, page.get("NextContinuationToken")

    assert listed()[0] == names
    assert listed(StartAfter=prefix + "b")[0] == ["c/d", "c/e", "f"]
    assert listed(StartAfter=prefix + "c/d")[0] == ["c/e", "f"]
    assert listed(StartAfter=prefix + "f")[0] == []
    first, token = listed(MaxKeys=2)
    assert first == ["a", "b"] and token
    assert listed(MaxKeys=10, ContinuationToken=token)[0] == ["c/d", "c/e", "f"]


def test_ranged_get_returns_exactly_the_range(client: Any, prefix: str) -> None:
    key = prefix + "segment"
    put(client, key, bytes(range(100)))
    response = client.get_object(Bucket=S3_BUCKET, Key=key, Range="bytes=10-19")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert response["ContentRange"] == "bytes 10-19/100"
    assert response["Body"].read() == bytes(range(10, 20))
    assert get(client, key, Range="bytes=-8") == bytes(range(92, 100))  # footer-style suffix
    assert get(client, key, Range="bytes=95-") == bytes(range(95, 100))


def test_delete_removes_the_key_and_frees_it_for_a_conditional_create(
    client: Any, prefix: str
) -> None:
    key = prefix + f"value-{uuid.uuid4().hex}"
    put(client, key, b"x")
    status = client.delete_object(Bucket=S3_BUCKET, Key=key)["ResponseMetadata"]["HTTPStatusCode"]
    assert status == 204
    with pytest.raises(ClientError) as error:
        client.get_object(Bucket=S3_BUCKET, Key=key)
    assert error.value.response["Error"]["Code"] == "NoSuchKey"
    # deleting a missing key succeeds too (S3 semantics), and the key can be created again
    again = client.delete_object(Bucket=S3_BUCKET, Key=key)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert put(client, key, b"y", IfNoneMatch="*") == 200
