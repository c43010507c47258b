"""One contract for every `CertificateStore`: the 0600 file, Secrets Manager on moto's server (real HTTP),
and the in-memory store. Empty until saved, a save replaced whole, a broken or unreadable store one
error naming it, never a value."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import boto3
import pytest

from chalicelib.adapters.certificates import (
    FileCertificateStore,
    MemoryCertificateStore,
    SecretsManagerCertificateStore,
)
from chalicelib.domain.certificate import AcmeAccount, CertificateVault, Renewal
from chalicelib.ports import CertificateError
from tests.contract.motoserver import REGION, running_moto
from tests.support.certs import self_signed

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def secretsmanager():
    with running_moto() as endpoint:
        yield boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)


@pytest.fixture(params=["file", "secretsmanager", "memory"])
def store(request, tmp_path):
    if request.param == "file":
        return FileCertificateStore(str(tmp_path / "vault" / "certificate.json"))
    if request.param == "secretsmanager":
        client = request.getfixturevalue("secretsmanager")
        return SecretsManagerCertificateStore(f"bbbscale/test/{tmp_path.name}", client=client)
    return MemoryCertificateStore()


def test_empty_until_saved_then_replaced_whole(store):
    assert store.load() == CertificateVault()
    first = CertificateVault(
        certificate=self_signed("*.bbb.example.org", T0),
        account=AcmeAccount("https://ca.example/dir", "https://ca.example/acct/1", key='{"kty": "EC"}'),
        renewal=Renewal(T0, 0, ""),
    )
    store.save(first)
    assert store.load() == first
    second = CertificateVault(renewal=Renewal(T0, 2, "rateLimited"))
    store.save(second)
    assert store.load() == second


def test_the_file_is_root_only_in_a_private_directory(tmp_path):
    store = FileCertificateStore(str(tmp_path / "private" / "certificate.json"))
    store.save(CertificateVault(certificate=self_signed("*.bbb.example.org", T0)))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert [p.name for p in store.path.parent.iterdir()] == ["certificate.json"]  # no temporary left


def test_a_broken_file_is_one_error_without_its_content(tmp_path):
    path = tmp_path / "certificate.json"
    path.write_text('{"certificate": "-----BEGIN PRIVATE KEY----- secret')
    with pytest.raises(CertificateError) as refused:
        FileCertificateStore(str(path)).load()
    assert "not a certificate vault" in str(refused.value) and "secret" not in str(refused.value)


def test_secrets_manager_refusals_name_the_secret_not_its_value(secretsmanager):
    secretsmanager.create_secret(Name="bbbscale/test/garbled", SecretString="PRIVATE KEY garbage")
    with pytest.raises(CertificateError) as refused:
        SecretsManagerCertificateStore("bbbscale/test/garbled", client=secretsmanager).load()
    assert "secretsmanager:bbbscale/test/garbled" in str(refused.value)
    assert "garbage" not in str(refused.value)
