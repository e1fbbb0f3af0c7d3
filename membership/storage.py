"""Where queued exports' files are kept: one interface, two places.

`LocalFiles` (the default) keeps them in MEMBERSHIP_EXPORT_DIR on the worker's disk and the web process sends
them itself, so web and workers must share that directory. `S3Files` (EXPORT_STORAGE_URL=s3://bucket/prefix)
keeps them in S3 or any S3-compatible service (AWS_ENDPOINT_URL), so any web host serves a file any worker
wrote: the download is a redirect to a presigned URL that works for EXPORT_DOWNLOAD_URL_SECONDS.
"""

from __future__ import annotations

import abc
import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

EXTENSION_KEY = "export_storage"


class FileMissing(Exception):
    """The named file isn't in the store (deleted since, or never written)."""


@dataclass(frozen=True)
class Download:
    """How to hand a stored file to the person asking: a local file to send, or an address to redirect to."""

    path: Path | None = None
    url: str | None = None


class FileStore(abc.ABC):
    """A flat set of named files (names are ours: `export-<job>-<attempt>.<format>`)."""

    @abc.abstractmethod
    def store(self, name: str, write: Callable[[Path], None], content_type: str) -> int:
        """Keep the file `write(path)` writes under `name`, whole or not at all; returns its size in bytes."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Delete the named file; nothing happens if it is already gone."""

    @abc.abstractmethod
    def download(self, name: str, *, filename: str, content_type: str) -> Download:
        """How to serve the named file, saved as `filename`; FileMissing if it isn't there."""

    def remove_abandoned(self, before: float) -> None:  # noqa: B027 (only the local store has any)
        """Remove what writers that stopped before `before` (a unix time) left half-written."""

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """Where the files are, for messages to the operator."""


class LocalFiles(FileStore):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def description(self) -> str:
        return str(self.directory)

    def store(self, name: str, write: Callable[[Path], None], content_type: str) -> int:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / name
        write(path)  # `write_export` writes under a temporary name, then renames
        return path.stat().st_size

    def delete(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)

    def download(self, name: str, *, filename: str, content_type: str) -> Download:
        path = self.directory / name
        if not path.is_file():
            raise FileMissing(name)
        return Download(path=path)

    def remove_abandoned(self, before: float) -> None:
        if not self.directory.is_dir():
            return
        for partial in self.directory.glob(".*.partial"):
            with contextlib.suppress(FileNotFoundError):  # a writer may rename or remove its own meanwhile
                if partial.stat().st_mtime < before:
                    partial.unlink()


class S3Files(FileStore):
    """Files under `prefix/` in an S3 bucket. Credentials and region come the usual boto3 way (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, an instance role…); `endpoint_url` points at an S3-compatible
    service. An object is created by a single upload, so a reader never sees half of one."""

    def __init__(self, url: str, *, endpoint_url: str = "", link_seconds: int = 60) -> None:
        import boto3
        from botocore.config import Config

        bucket, prefix = parse_s3_url(url)
        self.bucket, self.prefix, self.link_seconds = bucket, prefix, link_seconds
        # Path-style addresses for a custom endpoint: an S3-compatible server on a host name of its own has no
        # wildcard DNS for bucket sub-domains.
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"} if endpoint_url else {},
                        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=60)
        self.client: Any = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def store(self, name: str, write: Callable[[Path], None], content_type: str) -> int:
        with tempfile.TemporaryDirectory(prefix="membership-export-") as scratch:
            path = Path(scratch) / name
            write(path)
            size = path.stat().st_size
            self.client.upload_file(str(path), self.bucket, self._key(name),
                                    ExtraArgs={"ContentType": content_type})
        return size

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))  # S3 answers 204 for a missing one too

    def download(self, name: str, *, filename: str, content_type: str) -> Download:
        from botocore.exceptions import ClientError

        key = self._key(name)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileMissing(name) from exc
            raise
        url = self.client.generate_presigned_url(
            "get_object", ExpiresIn=self.link_seconds,
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentType": content_type,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                    "ResponseCacheControl": "no-store"},
        )
        return Download(url=str(url))


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key prefix ending in "/" or empty) from s3://bucket/prefix; ValueError if it isn't one."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(url)
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def _settings(config: Any) -> tuple[str, str, int, str]:
    return (str(config.get("EXPORT_STORAGE_URL") or ""), str(config.get("AWS_ENDPOINT_URL") or ""),
            int(config.get("EXPORT_DOWNLOAD_URL_SECONDS") or 60), str(config["MEMBERSHIP_EXPORT_DIR"]))


def make_store(config: Any) -> FileStore:
    """The store the settings name: S3 with EXPORT_STORAGE_URL, else the MEMBERSHIP_EXPORT_DIR directory."""
    url, endpoint_url, link_seconds, directory = _settings(config)
    if url:
        return S3Files(url, endpoint_url=endpoint_url, link_seconds=link_seconds)
    return LocalFiles(Path(directory))


def export_storage(app: Flask | None = None) -> FileStore:
    """The app's store for queued exports' files, made once per app and settings (a boto3 client is shared by
    threads)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    settings = _settings(app.config)
    made = app.extensions.get(EXTENSION_KEY)
    if made is None or made[0] != settings:
        made = app.extensions[EXTENSION_KEY] = (settings, make_store(app.config))
    store = made[1]
    assert isinstance(store, FileStore)
    return store
