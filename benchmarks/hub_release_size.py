"""How a hub's Helm release grows per spoke, measured with real Helm on the real argo-cd chart (issue 25).

Run with `./dev bench hub --helm-size` (`--spokes 0,1,10,50,100,200`). For each count and each spokes profile
(bare, GitOps Bridge) it renders the hub's settings as the service does, has Helm build the release offline
(`helm install --dry-run=client -o json`) and encodes it as Helm's Secret storage driver does
(tests/helm/release_size.py says how). Prints the table in docs/hub-and-spoke.md, the bytes per spoke, the spoke count
at which the release passes Kubernetes' 1 MiB Secret limit, and where the service's estimate
(shared/bootstrap/hub_size.py) refuses. tests/helm/test_hub_release_size.py checks the constants against a
measurement.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
from dataclasses import asdict

from shared.bootstrap.gitops import REGISTRATIONS_KEY
from shared.bootstrap.hub_registration import entry_size, parse_registrations
from shared.bootstrap.hub_size import RELEASE_BUDGET, SECRET_LIMIT, registrations_budget, release_estimate
from tests.helm.helm import HELM, ROOT
from tests.helm.release_size import CHART, MEASURED, SPOKE_PROFILES, Measured, hub_settings, measure


def refused_at(kind: str) -> int:
    """How many spokes of this profile the service registers before it refuses the next (HubFull)."""
    settings = hub_settings(1, kind)
    [manifest] = parse_registrations(settings).values()
    return registrations_budget({k: v for k, v in settings.items() if k != REGISTRATIONS_KEY}) // entry_size(manifest)


def report(kind: str, rows: list[Measured]) -> None:
    base, last = rows[0], rows[-1]
    spokes = max(last.spokes - base.spokes, 1)
    per_spoke = (last.secret_bytes - base.secret_bytes) / spokes
    print(f"\nspokes profile: {kind}")
    print("| spokes | hub settings (bytes) | ARM settings JSON (bytes) | release JSON (bytes) | "
          "release Secret payload (bytes) | service's estimate (bytes) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row.spokes} | {row.settings_bytes:,} | {row.arm_bytes:,} | {row.release_json_bytes:,} | "
              f"{row.secret_bytes:,} | {release_estimate(row.settings_bytes):,} |")
    print(f"per spoke: {(last.settings_bytes - base.settings_bytes) / spokes:,.0f} bytes of settings, "
          f"{(last.arm_bytes - base.arm_bytes) / spokes:,.0f} of ARM JSON, {per_spoke:,.0f} of release payload")
    print(f"the release passes the Secret limit ({SECRET_LIMIT:,}) at about "
          f"{int((SECRET_LIMIT - base.secret_bytes) / per_spoke)} spokes; the service refuses from spoke "
          f"{refused_at(kind) + 1} on (its budget: {RELEASE_BUDGET:,} bytes, by its estimate)")
    under = [row.spokes for row in rows if release_estimate(row.settings_bytes) < row.secret_bytes]
    if under:
        print(f"WARNING: the service's estimate is under the measured payload at {under} spokes: "
              "update shared/bootstrap/hub_size.py")


def helm_version() -> str:
    return subprocess.run([str(HELM), "version", "--short"], capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spokes", default="0,1,10,50,100,200", help="comma-separated spoke counts")
    parser.add_argument("--record", action="store_true",
                        help=f"write the figures to {MEASURED.relative_to(ROOT)} (checked by tests without the chart)")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.spokes.split(",")})
    if not CHART.is_file():
        raise SystemExit(f"{CHART} is missing: set ARGOCD_CHART to a packaged argo-cd chart "
                         "(docs/hub-and-spoke.md, 'Measuring the hub's size')")
    print("A hub's Helm release by spokes: real Helm, argo-cd chart 10.1.1 (redis-ha 4.38.0), RSA-4096 CAs")
    measured = {kind: [measure(n, kind) for n in counts] for kind in SPOKE_PROFILES}
    for kind, rows in measured.items():
        report(kind, rows)
    if args.record:
        record = {"chart": CHART.name, "helm": helm_version(), "measured": str(datetime.date.today()),
                  "rows": {kind: [asdict(row) for row in rows] for kind, rows in measured.items()}}
        MEASURED.write_text(json.dumps(record, indent=1) + "\n")
        print(f"recorded in {MEASURED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
