"""pysaml2 reads and checks a PEM private key each time it builds a Server or a metadata store: two per
Server, about 0.15 s each for the IdP's 3072-bit key on a CI machine (47 of the 107 s of
tests/saml/test_attacks.py). The tests remember each key by its PEM bytes: the same bytes give the same
key, so what pysaml2 signs and checks is unchanged, and bytes it has not seen (a new or a broken key) are
read and checked as always."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def keys_read_once() -> Iterator[None]:
    import saml2.cryptography.asymmetric as asymmetric

    original: Callable = asymmetric.load_pem_private_key
    seen: dict[tuple[bytes, bytes | None], object] = {}
    lock = threading.Lock()

    def load_pem_private_key(data, password=None):
        with lock:
            key = seen.get((data, password))
        if key is None:
            key = original(data, password)  # raises for a broken key: nothing is remembered then
            with lock:
                seen[(data, password)] = key
        return key

    asymmetric.load_pem_private_key = load_pem_private_key
    try:
        yield
    finally:
        asymmetric.load_pem_private_key = original
