"""Site keys: Ed25519 signatures of closed ledger records (the `cryptography` package).

Tamper evidence that does not rest on the ledger's self-consistency: a forger who rewrites a
body, recomputes every hash and re-links the chain, or appends a forged recalculation, cannot
sign without the site's private key. `loopmeter carbon key create --site S` writes
`S.key` (PKCS#8 PEM, mode 0600) and `S.pub` into the key directory; `key export` prints the
public half for the regulator, who verifies with `carbon verify --public-key FILE`.
A signature covers a record's hash (which covers its body and the previous record's hash).
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyProblem(ValueError):
    """A key file is missing, exists already, or cannot be read; the message says which."""


def sign(key: Ed25519PrivateKey, record_hash: str) -> str:
    return base64.b64encode(key.sign(record_hash.encode("ascii"))).decode("ascii")


def signature_valid(key: Ed25519PublicKey, record_hash: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), record_hash.encode("ascii"))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_public(pem: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise KeyProblem(f"{source} is not a PEM public key") from error
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem(f"{source} is not an Ed25519 public key")
    return key


class SiteKeys:
    """The key directory: one Ed25519 key pair per site."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, site: str, suffix: str) -> Path:
        if not _SITE.match(site):
            raise KeyProblem(f"{site!r} is not a site id")
        return self._directory / f"{site}.{suffix}"

    def create(self, site: str) -> Path:
        """A new key pair for `site`; refuses to replace an existing one."""
        private_path, public_path = self._path(site, "key"), self._path(site, "pub")
        if private_path.exists():
            raise KeyProblem(f"{private_path} exists: a site key is never replaced silently")
        self._directory.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        public_path.write_bytes(_public_pem(key.public_key()))
        return public_path

    def public_pem(self, site: str) -> str:
        path = self._path(site, "pub")
        if not path.exists():
            raise KeyProblem(f"no key for site {site!r} in {self._directory}: "
                             "run `loopmeter carbon key create --site {site}`")
        return path.read_text(encoding="ascii")

    def private(self, site: str) -> Ed25519PrivateKey | None:
        path = self._path(site, "key")
        if not path.exists():
            return None
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyProblem(f"{path} is not an Ed25519 private key")
        return key

    def public(self, site: str) -> Ed25519PublicKey | None:
        try:
            path = self._path(site, "pub")
        except KeyProblem:
            return None
        return load_public(path.read_bytes(), str(path)) if path.exists() else None

    def sign(self, site: str, record_hash: str) -> str | None:
        """The signature of a record of `site`, or None if the site has no key."""
        key = self.private(site)
        return sign(key, record_hash) if key is not None else None


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
