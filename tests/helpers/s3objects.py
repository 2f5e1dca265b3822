"""What is in a bucket, read straight from the S3 API (not through the store).

SeaweedFS without an identity config accepts anonymous requests, so plain
ListObjectsV2 over urllib is an independent witness of what the store wrote.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix)."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def list_objects(endpoint: str, url: str) -> dict[str, int]:
    """Key (relative to the store's prefix) -> size, for every object under `url`."""
    bucket, prefix = split_url(url)
    objects: dict[str, int] = {}
    token = None
    while True:
        query = {"list-type": "2", "prefix": prefix + "/" if prefix else ""}
        if token:
            query["continuation-token"] = token
        with urllib.request.urlopen(
            f"{endpoint}/{bucket}?{urllib.parse.urlencode(query)}", timeout=30
        ) as response:
            root = ET.fromstring(response.read())
        for item in root.iter(f"{NS}Contents"):
            key = item.findtext(f"{NS}Key", "")
            objects[key[len(prefix) + 1 :] if prefix else key] = int(
                item.findtext(f"{NS}Size", "0")
            )
        token = root.findtext(f"{NS}NextContinuationToken")
        if root.findtext(f"{NS}IsTruncated") != "true" or not token:
            return objects


def store_objects(endpoint: str, url: str, folder: str) -> dict[str, int]:
    """The objects of one folder of the store (`files`, `values`, `manifests`)."""
    return in_folder(list_objects(endpoint, url), folder)


def in_folder(objects: dict[str, int], folder: str) -> dict[str, int]:
    start = f".docetl_checkpoint/{folder}/"
    return {k: v for k, v in objects.items() if k.startswith(start)}


def counted_bytes(objects: dict[str, int]) -> int:
    """Of an object-store layout (key relative to the store -> size): the data
    objects and the newest manifest generation, as the store counts them."""
    data = in_folder(objects, "files") | in_folder(objects, "values")
    manifests = in_folder(objects, "manifests")
    return sum(data.values()) + (manifests[max(manifests)] if manifests else 0)


def delete_objects(endpoint: str, url: str, keys: list[str]) -> None:
    """Deletes objects (keys relative to the store's prefix) behind the store's back."""
    bucket, prefix = split_url(url)
    for key in keys:
        full = f"{prefix}/{key}" if prefix else key
        request = urllib.request.Request(
            f"{endpoint}/{bucket}/{urllib.parse.quote(full)}", method="DELETE"
        )
        urllib.request.urlopen(request, timeout=30).close()
