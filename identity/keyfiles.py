"""Keysets kept as JSON in a setting or a file: the plumbing the OpenID Connect signing keys
(oidc.keys) and the SAML IdP's certificates (saml.keys) share.

A keyset comes from its setting (deployments that keep secrets in the environment) or else from its
file, which development makes on first use. Every process must sign with the same keys, so the file
is created once (the first writer wins) and replaced atomically; it is readable by its owner only.
A parsed keyset is re-read when its source changes, so a rotation on one node takes effect in every
process reading the same file without a restart.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from django.conf import settings

T = TypeVar("T")


def read_keyset(inline: str, path: Path, *, first: Callable[[], dict], missing: Callable[[], Exception]) -> dict:
    """The keyset as stored: the setting's JSON if set, else the file. In development a missing file
    is made from `first()`; outside it, `missing()` is raised (no process may invent its own key)."""
    if inline:
        return json.loads(inline)
    if not path.exists():
        if not settings.DEBUG:
            raise missing()
        create_once(path, first())
    return json.loads(path.read_text())


def create_once(path: Path, keyset: dict) -> None:
    """Create the file unless another process just did: every process must sign with the same key."""
    temporary = _private_copy(path, keyset)
    try:
        os.link(temporary, path)  # fails if the file exists: the first writer wins
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def write_keyset(path: Path, keyset: dict) -> None:
    """Replace the file atomically: a reader sees the old keyset or the new one, never half of one."""
    os.replace(_private_copy(path, keyset), path)


def _private_copy(path: Path, keyset: dict) -> Path:
    """The keyset written beside `path` (same file system, for link and replace), mode 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keyset, handle, indent=1)
    return temporary


@contextmanager
def explained(unavailable: Callable[[str], Exception]) -> Iterator[None]:
    """Turn a keyset that cannot be read or parsed into the app's error, built from what went wrong:
    the error's type only, since a parser's message could quote the key material it choked on."""
    try:
        yield
    except OSError as error:
        raise unavailable(f"cannot be read: {error.strerror}.") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise unavailable(f"is not a valid keyset ({type(error).__name__}).") from None


def _stamp(inline: str, path: Path) -> Hashable | None:
    """What changes when the keyset does; None while the file does not exist yet."""
    if inline:
        return ("setting", inline)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), stat.st_mtime_ns, stat.st_size)


class Reloading(Generic[T]):
    """A parsed keyset, kept per process and parsed again when its source changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: Hashable | None = None
        self._value: T | None = None

    def get(self, inline: str, path: Path, load: Callable[[], T]) -> T:
        stamp = _stamp(inline, path)  # taken before reading: a change during the read is seen next time
        if stamp is None or stamp != self._stamp or self._value is None:
            with self._lock:
                value = load()
                self._stamp, self._value = stamp, value
            return value
        return self._value
