"""Where the fleet's certificate is kept (the `CertificateStore` port): one secret holding the
certificate, its key, the ACME account key and the order under way (domain/certificate.CertificateVault).

- `file` (hosts without AWS, the default): a JSON file of its own, 0600, written whole by an atomic
  rename. Its own file rather than a table in the state store: the state file is read by more (status,
  chat, the simulated world shares it, operators copy it to look at a tick), and a copy of it must not
  carry the fleet's private key; a root-only file beside it is the same protection certbot gives
  /etc/letsencrypt/live.
- `secretsmanager` (AWS): one Secrets Manager secret (`secret_id`), encrypted with KMS, read by the
  API function and written by the capacity check only, each right granted per function.
- `memory`: for the simulated fleet and tests.
Errors name the store and the operation, never a value.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.config import CertificateSettings
from chalicelib.domain.certificate import CertificateVault
from chalicelib.ports import CertificateError, CertificateStore


class FileCertificateStore:
    """The vault in one 0600 JSON file (its directory is made 0700 when missing)."""

    def __init__(self, path: str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileCertificateStore({str(self.path)!r})"

    def load(self) -> CertificateVault:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return CertificateVault()
        except OSError as error:
            raise CertificateError(f"certificate store {self.path}: cannot read: {error.strerror}") from None
        try:
            return CertificateVault.from_json(text)
        except (ValueError, TypeError, KeyError):
            raise CertificateError(f"certificate store {self.path}: not a certificate vault") from None

    def save(self, vault: CertificateVault) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".certificate-", dir=self.path.parent)  # 0600
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(vault.to_json())
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise CertificateError(f"certificate store {self.path}: cannot write: {error.strerror}") from None


class SecretsManagerCertificateStore:
    """The vault as one Secrets Manager secret (created on first save). boto3 honours AWS_ENDPOINT_URL."""

    def __init__(self, secret_id: str, client=None):
        self.secret_id, self._client = secret_id, client

    def __repr__(self) -> str:
        return f"SecretsManagerCertificateStore({self.secret_id!r})"

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def load(self) -> CertificateVault:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            text = self.client.get_secret_value(SecretId=self.secret_id)["SecretString"]
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return CertificateVault()
            raise self._failed("read", _code(error)) from None
        except BotoCoreError as error:
            raise self._failed("read", type(error).__name__) from None
        try:
            return CertificateVault.from_json(text)
        except (ValueError, TypeError, KeyError):
            raise self._failed("read", "not a certificate vault") from None

    def save(self, vault: CertificateVault) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        text = vault.to_json()
        try:
            try:
                self.client.put_secret_value(SecretId=self.secret_id, SecretString=text)
            except ClientError as error:
                if _code(error) != "ResourceNotFoundException":
                    raise
                self.client.create_secret(
                    Name=self.secret_id,
                    SecretString=text,
                    Description="bbbscale: the fleet's wildcard certificate, its key and the ACME account",
                )
        except ClientError as error:
            raise self._failed("write", _code(error)) from None
        except BotoCoreError as error:
            raise self._failed("write", type(error).__name__) from None

    def _failed(self, what: str, why: str) -> CertificateError:
        return CertificateError(f"certificate store secretsmanager:{self.secret_id}: cannot {what}: {why}")


def _code(error) -> str:
    return error.response.get("Error", {}).get("Code", "") or type(error).__name__


class MemoryCertificateStore:
    """The vault in memory (the simulated fleet, tests)."""

    def __init__(self) -> None:
        self._vault, self._lock = CertificateVault(), threading.Lock()

    def load(self) -> CertificateVault:
        with self._lock:
            return self._vault

    def save(self, vault: CertificateVault) -> None:
        with self._lock:
            self._vault = vault


def open_certificate_store(settings: CertificateSettings):
    """The store `[certificates] store` names."""
    if settings.store == "secretsmanager":
        return SecretsManagerCertificateStore(settings.secret_id)
    if settings.store == "memory":
        return MemoryCertificateStore()
    return FileCertificateStore(settings.path)


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _file: type[CertificateStore] = FileCertificateStore
    _secrets_manager: type[CertificateStore] = SecretsManagerCertificateStore
    _memory: type[CertificateStore] = MemoryCertificateStore
