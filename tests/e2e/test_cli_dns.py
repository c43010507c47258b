"""`bbbscale tick` with a `[dns]` table, as an operator runs it: the built-in demo fleet plus a zone on a
loopback Gandi LiveDNS (the real libcloud driver), its token from the environment. A dry run lists the
DNS call that would remove an orphan record and leaves the zone alone; the acting tick removes it."""

from tests.provider_fakes.gandi_livedns import TOKEN, FakeGandiLiveDns
from tests.support.cli_runs import config_file, run_main

ORPHAN = ("bbbscale-demo-gandi-41", "A")


def test_tick_reconciles_the_zone_and_a_dry_run_only_lists_the_calls(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BBBSCALE_GANDI_TOKEN", TOKEN)
    with FakeGandiLiveDns() as zone:
        zone.rrsets["bbb.example.org"][ORPHAN] = {
            "rrset_name": ORPHAN[0],
            "rrset_type": "A",
            "rrset_ttl": 300,
            "rrset_values": ["203.0.113.41"],
        }
        dns = f'\n[dns]\ndriver = "gandi_live"\nzone = "bbb.example.org"\noptions = {{ endpoint = "{zone.url}" }}\n'
        config = config_file(tmp_path)
        config.write_text(config.read_text() + dns)

        planned = run_main(capsys, "tick", "--config", str(config), "--dry-run", "--json").document()
        (change,) = planned["dns"]
        assert change["operation"] == "delete" and change["record"] == "bbbscale-demo-gandi-41 A 203.0.113.41"
        assert change["reason"] == "orphan: no VM bbbscale-demo-gandi-41 any more"
        assert change["calls"] == [
            f"DELETE {zone.url}/v5/livedns/domains/bbb.example.org/records/{ORPHAN[0]}/A"
        ]
        assert ORPHAN in zone.rrsets["bbb.example.org"]

        people = run_main(capsys, "tick", "--config", str(config), "--dry-run")
        assert people.status == 0 and "dns delete bbbscale-demo-gandi-41 A 203.0.113.41: orphan" in people.out
        assert TOKEN not in people.out + people.err

        acted = run_main(capsys, "tick", "--config", str(config), "--json").document()
        assert [(d["operation"], d["result"]) for d in acted["dns"]] == [("delete", "done")]
        assert ORPHAN not in zone.rrsets["bbb.example.org"]
