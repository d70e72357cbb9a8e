"""The sync profile, read from the blob named by ``SYNC_PROFILE_BLOB`` and validated like a profile file."""

from __future__ import annotations

import tomllib

from sync.profile import Profile, ProfileError, parse_profile
from sync.settings import Settings
from sync.storage.blob_store import BlobStore


def load_profile_blob(blobs: BlobStore, settings: Settings) -> Profile:
    container, path = settings.profile_blob
    name = f"{container}/{path}"
    raw = blobs.read_bytes(container, path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ProfileError(name, [("toml", f"not UTF-8: bad byte at offset {err.start}")]) from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(name, [("toml", f"invalid TOML: {err}")]) from err
    return parse_profile(data, source_name=name)
