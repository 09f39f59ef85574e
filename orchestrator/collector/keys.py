"""Key modes: what of a cache key is stored (``CACHE_METRICS_KEY_MODE``).

Semantic-cache keys are often prompts, i.e. user data, so the default stores a short hash:
enough to count distinct keys and follow one key over time, not enough to read the prompt.

- ``hash`` (default): the first 16 hex digits of BLAKE2b of the key's UTF-8 bytes;
- ``full``: the key itself (at most 4096 characters);
- ``none``: nothing (NULL).

The mode is applied on the flusher thread, never on the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import blake2b

from orchestrator.collector.events import Event

KEY_MODES = ("hash", "full", "none")


def check_key_mode(mode: str) -> str:
    if mode not in KEY_MODES:
        raise ValueError(f"key mode must be one of {', '.join(KEY_MODES)}, got {mode!r}")
    return mode


def hash_key(key: str | bytes) -> str:
    data = key if isinstance(key, bytes) else key.encode("utf-8", "surrogatepass")
    return blake2b(data, digest_size=8).hexdigest()


def _full(key: str | bytes) -> str:
    return key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key


def key_function(mode: str) -> Callable[[str | bytes], str | None]:
    if mode == "hash":
        return hash_key
    if mode == "full":
        return _full
    return lambda key: None


# Hashes of recent short keys: a cache's keys repeat, and BLAKE2b of a key costs about as much
# as encoding its whole row for COPY. Bounded (entries and key length: at most about 4 MB of
# keys, which the buffer held anyway); emptied when full, never evicted one by one.
_HASHED: dict[str, str] = {}
_HASHED_MAX_ENTRIES = 16_384
_HASHED_MAX_KEY = 256


def _hash_keys(events: Sequence[Event]) -> list[Event]:
    cache = _HASHED
    get = cache.get
    out: list[Event] = []
    append = out.append
    for t, et, impl, key, rt, size, ety, emsg in events:
        if key is not None:
            stored = get(key) if type(key) is str else None
            if stored is None:
                stored = hash_key(key)
                if type(key) is str and len(key) <= _HASHED_MAX_KEY:
                    if len(cache) >= _HASHED_MAX_ENTRIES:
                        cache.clear()
                    cache[key] = stored
            key = stored
        append((t, et, impl, key, rt, size, ety, emsg))
    return out


def apply_key_mode(events: Sequence[Event], mode: str) -> list[Event]:
    """The events with their keys in stored form (the same tuples when nothing changes)."""
    if mode == "full" and all(type(e[3]) is not bytes for e in events):
        return list(events)
    if mode == "hash":
        return _hash_keys(events)
    fn = key_function(mode)
    return [
        (t, et, impl, None if key is None else fn(key), rt, size, ety, emsg)
        for t, et, impl, key, rt, size, ety, emsg in events
    ]
