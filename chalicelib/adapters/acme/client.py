"""The `CertificateAuthority` port over ACME (RFC 8555) with certbot's own client library, `acme`.

Why `acme` and not a hand-written client: it is what certbot itself runs against Let's Encrypt, kept up
with the CA's changes (nonces, POST-as-GET, orderNotReady, Retry-After), and it signs with `josepy`.

An order is split into steps that each return within seconds (the capacity check must not wait on DNS
propagation): `order` creates it and says which TXT record DNS-01 expects; `complete`, a tick or more
later, answers the challenge, polls and finalizes within its time, and hands back either the certificate
or the order to resume; a resumed order is only polled (`poll_finalization` finalizes a `ready` order,
downloads a `valid` one, and reports an `invalid` one with the CA's error). The order is kept as the library's own JSON form (`OrderResource.json_dumps`),
so resuming needs no private call. Keys: the account key is EC P-256 (ES256); the certificate's key is a
fresh EC P-256 key per order (what certbot issues by default), never logged or put in an error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.config import CertificateSettings
from chalicelib.domain.certificate import AcmeAccount, FleetCertificate, PendingOrder, wildcard
from chalicelib.ports import CertificateAuthority, CertificateError

USER_AGENT = "bbbscale (acme-python)"


class AcmeAuthority:
    """An ACME CA at `settings.directory` (Let's Encrypt by default; pebble in the tests)."""

    def __init__(self, settings: CertificateSettings, timeout: float = 10.0):
        self.settings, self.timeout = settings, timeout

    def __repr__(self) -> str:
        return f"AcmeAuthority(directory={self.settings.directory!r})"

    # --- the port -------------------------------------------------------------------------------------
    def account(self, existing: AcmeAccount | None) -> AcmeAccount:
        from acme import errors, messages

        if existing is not None and existing.directory == self.settings.directory:
            return existing
        key = _new_account_key()
        client = self._client(key, None)
        contact = (f"mailto:{self.settings.email}",) if self.settings.email else ()
        registration = messages.NewRegistration.from_data(terms_of_service_agreed=True)
        if contact:
            registration = registration.update(contact=contact)
        try:
            uri = client.new_account(registration).uri
        except errors.ConflictError as conflict:  # the key already has an account: its URL
            uri = str(conflict)
        except Exception as error:  # noqa: BLE001 - every library failure becomes one line
            raise _failed("account registration", error) from None
        return AcmeAccount(directory=self.settings.directory, uri=uri, key=key.json_dumps())

    def order(self, account: AcmeAccount, domain: str, zone: str, now: datetime) -> PendingOrder:
        from acme import crypto_util
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        client, key = self._account_client(account)
        cert_key = ec.generate_private_key(ec.SECP256R1())
        key_pem = cert_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        csr = crypto_util.make_csr(key_pem, [wildcard(domain)])
        try:
            order = client.new_order(csr)
        except Exception as error:  # noqa: BLE001
            raise _failed("new order", error) from None
        names, values = set(), []
        for authz in order.authorizations:
            challenge = _dns01(authz)
            names.add(challenge.chall.validation_domain_name(authz.body.identifier.value))
            values.append(challenge.chall.validation(key))
        if len(names) != 1:  # one identifier, *.<domain>: one record
            raise CertificateError(f"acme new order: expected one DNS-01 record, got {sorted(names)}")
        return PendingOrder(
            order=order.json_dumps(),
            key=key_pem.decode(),
            record=relative_name(names.pop(), zone),
            values=tuple(values),
            started_at=now,
        )

    def complete(self, account: AcmeAccount, pending: PendingOrder, seconds: float):
        from acme import errors, messages

        client, key = self._account_client(account)
        order = _load_order(pending.order)
        deadline = datetime.now() + timedelta(seconds=seconds)  # the library compares naive local times
        try:
            if pending.answered:  # a later tick: the order's own status says what is left to do
                done = client.poll_finalization(order, deadline)
            else:
                for authz in order.authorizations:
                    if authz.body.status == messages.STATUS_PENDING:
                        challenge = _dns01(authz)
                        client.answer_challenge(challenge, challenge.response(key))
                pending = _answered(pending)
                order = client.poll_authorizations(order, deadline)
                done = client.finalize_order(order, deadline)
        except errors.TimeoutError:
            return pending  # not done within this tick's time: the next tick resumes
        except errors.ValidationError as error:
            problems = "; ".join(
                f"{c.error.typ.rsplit(':', 1)[-1]}: {c.error.detail}"
                for authz in error.failed_authzrs
                for c in authz.body.challenges
                if c.error is not None
            )
            raise CertificateError(f"acme challenge refused: {problems}"[:300]) from None
        except Exception as error:  # noqa: BLE001
            raise _failed("order completion", error) from None
        return certificate_of(done.fullchain_pem, pending.key)

    # --- the library ----------------------------------------------------------------------------------
    def _client(self, key, account_uri: str | None):
        import josepy
        from acme import client as acme_client
        from acme import messages

        net = acme_client.ClientNetwork(
            key,
            account=messages.RegistrationResource(uri=account_uri) if account_uri else None,
            alg=josepy.ES256,
            user_agent=USER_AGENT,
            timeout=int(self.timeout),
        )
        # requests takes a CA bundle's path where the library says bool (a test CA's directory)
        net.verify_ssl = self.settings.directory_ca or True  # type: ignore[assignment]
        try:
            directory = acme_client.ClientV2.get_directory(self.settings.directory, net)
        except Exception as error:  # noqa: BLE001
            raise _failed("directory", error) from None
        return acme_client.ClientV2(directory, net)

    def _account_client(self, account: AcmeAccount):
        import josepy

        try:
            key = josepy.JWK.json_loads(account.key)
        except Exception:  # noqa: BLE001 - never echo the key
            raise CertificateError("acme account key in the store is not a JWK") from None
        return self._client(key, account.uri), key


def _new_account_key():
    import josepy
    from cryptography.hazmat.primitives.asymmetric import ec

    return josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def _dns01(authz):
    from acme import challenges

    for challenge in authz.body.challenges:
        if isinstance(challenge.chall, challenges.DNS01):
            return challenge
    raise CertificateError(f"acme: no dns-01 challenge offered for {authz.body.identifier.value}")


def _load_order(text: str):
    from acme import messages

    document: dict[str, Any] = json.loads(text)
    order = messages.OrderResource.from_json(document)
    authorizations = [messages.AuthorizationResource.from_json(a) for a in document["authorizations"]]
    return order.update(authorizations=authorizations)


def _answered(pending: PendingOrder) -> PendingOrder:
    from dataclasses import replace

    return replace(pending, answered=True)


def relative_name(fqdn: str, zone: str) -> str:
    """`_acme-challenge.bbb.example.org` in zone `example.org` -> `_acme-challenge.bbb` (the Dns port's
    names are relative to the zone, without a trailing dot)."""
    fqdn, zone = fqdn.rstrip(".").lower(), zone.rstrip(".").lower()
    if fqdn == zone or not fqdn.endswith("." + zone):
        raise CertificateError(f"acme: the challenge record {fqdn} is not inside the zone {zone}")
    return fqdn[: -len(zone) - 1]


def certificate_of(fullchain: str, key_pem: str) -> FleetCertificate:
    """The FleetCertificate of a downloaded chain (its leaf's name and validity read from the PEM)."""
    from cryptography import x509

    try:
        leaf = x509.load_pem_x509_certificate(fullchain.encode())
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # noqa: BLE001
        raise CertificateError("acme: the downloaded certificate cannot be read") from None
    domain = next(iter(names.get_values_for_type(x509.DNSName)), "")
    return FleetCertificate(
        domain=domain,
        fullchain=fullchain,
        privkey=key_pem,
        not_before=leaf.not_valid_before_utc.astimezone(UTC),
        not_after=leaf.not_valid_after_utc.astimezone(UTC),
    )


def _failed(step: str, error: Exception) -> CertificateError:
    """One line naming the step and what the CA said (an ACME problem's type and detail); never a key."""
    from acme import messages

    if isinstance(error, messages.Error):
        said = f"{(error.typ or '').rsplit(':', 1)[-1]}: {error.detail or ''}"
    else:
        said = f"{type(error).__name__}: {error}"
    return CertificateError(f"acme {step} failed: {said}"[:300])


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[CertificateAuthority] = AcmeAuthority
