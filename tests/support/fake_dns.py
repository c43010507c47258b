"""A hand-written fake of our `Dns` port, in memory (cosmicpython: fake what you own). The act step's unit
tests read `asked` (each call, and whether its intent was already in the history); the ACME code's tests
read `txt` (the TXT sets, as a resolver would hand them to the ACME server). tests/contract/test_dns.py
holds it to the same contract as the real adapters."""

from __future__ import annotations

from chalicelib.adapters.dns.base import TXT_NAME, TXT_VALUE
from chalicelib.ports import DnsError, DnsRecord


class FakeDns:
    """Our port, in memory; it notes whether the intent was already in the history at each call.
    `fail` lists records whose creation fails (HTTP 503), as a provider's outage would."""

    zone = "bbb.example.org"

    def __init__(self, store, fail=()):
        self.store, self.fail, self.held = store, set(fail), set()
        self.asked: list[tuple[str, DnsRecord, bool]] = []
        self.txt: dict[str, list[str]] = {}

    def _intent_recorded(self, record) -> bool:
        return any(
            e.detail.get("intent") and e.detail["dns"]["record"].startswith(f"{record.name} {record.type}")
            for e in self.store.history.recent(50, kind="action")
        )

    def records(self):
        return sorted(self.held, key=str)

    def create(self, record):
        self.asked.append(("create", record, self._intent_recorded(record)))
        if record in self.fail:
            raise DnsError("dns fake create failed: HTTP 503")
        self.held.add(record)

    def delete(self, record):
        self.asked.append(("delete", record, self._intent_recorded(record)))
        self.held.discard(record)

    def calls(self, operation, records):
        return [f"{operation} {r}" for r in records]

    def set_txt(self, name, values, ttl=60):
        # The same input rules as the real adapters (chalicelib/adapters/dns/base.py).
        if not TXT_NAME.match(name) or not all(TXT_VALUE.match(v) for v in values) or not 1 <= ttl <= 86400:
            raise DnsError(f"dns fake set TXT {name!r:.80} in {self.zone}: bad name, value or ttl")
        if values:
            self.txt[name] = sorted(set(values))
        else:
            self.txt.pop(name, None)

    def delete_txt(self, name):
        if not TXT_NAME.match(name):
            raise DnsError(f"dns fake TXT in {self.zone}: bad name {name!r:.80}")
        self.txt.pop(name, None)
