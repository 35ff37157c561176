"""`./dev demo --hub`: a hub Argo CD and two new AKS clusters; one is registered on it, one refused with its fix.

Everything goes through the production path (events, the work queue, the real SDK clients against the local ARM):
the hub is bootstrapped with a hub profile (workload identity for its controller and server), then two clusters
appear with the spokes profile as the default. Printed: each cluster's steps, the cluster Secret the hub's chart
renders for the spoke (its CA, and no token: the kubeconfig's token is never kept), the hub identity's role
assignment on the spoke; last, each cluster's outcome: the ineligible one refused with the `az aks update` that
fixes it. Exits as `argoboot` does on the registered spoke's outcome (0 when it is registered).
"""
from __future__ import annotations

import logging
import shutil

import yaml

from argoboot_cli.exit_codes import MEANING, for_outcome
from benchmarks.hub import HUB_GROUP, profiles_dir
from localazure.arm import argocd_chart
from localazure.arm.subscriptions import REGISTERED
from localazure.stack import SUBSCRIPTION, LocalAzure
from shared.bootstrap.hub_profile import SPOKE_ROLES
from tests.e2e.helpers import send_request


def _steps(az: LocalAzure, cluster_id: str) -> None:
    record = az.services.ledger.get_cluster(cluster_id.lower())
    if record is None:
        print("    (no record)")
        return
    print(f"  {cluster_id.rsplit('/', 1)[-1]}: {record.phase}")
    for entry in record.history:
        print(f"    - {entry['step']}")


def _outcome(az: LocalAzure, cluster_id: str) -> int:
    """One line of the closing block: the cluster, what it ended in, and the exit code `argoboot` would give."""
    record = az.services.ledger.get_cluster(cluster_id.lower())
    phase, error = (record.phase, record.last_error_code) if record else ("unknown", None)
    code = for_outcome(phase, error)
    said = f"{MEANING[code].split(':')[0].split(',')[0]}: {error}: {record.last_error_message}" \
        if error and record else phase
    print(f"  {cluster_id.rsplit('/', 1)[-1]:<11} {said} (exit {int(code)})")
    return int(code)


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    hub_id = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{HUB_GROUP}/providers/Microsoft.ContainerService/"
              "managedClusters/aks-hub")
    directory = profiles_dir(hub_id)
    try:
        with LocalAzure(settings={"PROFILES_DIR": str(directory), "DEFAULT_PROFILE": "spokes"},
                        provider_states=REGISTERED) as az:
            az.arm.add_aks_cluster(SUBSCRIPTION, HUB_GROUP, "aks-hub")
            send_request(az, hub_id, message_id="hub", profile="hub", reply_to=None)
            az.drain()
            print("The hub (profile hub: hub.serve, workload identity for the controller and the server):")
            _steps(az, hub_id)
            good = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-team-a", "aks-team-a")
            bad = az.arm.add_aks_cluster(SUBSCRIPTION, "rg-legacy", "aks-legacy")
            az.arm.set_cluster_access(bad["data"]["resourceUri"], aad_rbac=False)  # local accounts, no Entra
            az.deliver_event(good)
            az.deliver_event(bad)
            az.drain()
            print("\nTwo new AKS clusters appear (events; default profile spokes):")
            for event in (good, bad):
                _steps(az, event["data"]["resourceUri"])
            ext = az.arm.extension(hub_id, "argocd")
            assert ext is not None
            values = argocd_chart.values_tree(ext["properties"]["configurationSettings"])
            print("\nThe spoke's cluster Secret, as the hub's argo-cd chart renders it (no token anywhere):")
            for secret in argocd_chart.cluster_secrets(values):
                print("\n".join(f"    {line}" for line in yaml.safe_dump(secret, sort_keys=False).splitlines()))
            spoke_id = good["data"]["resourceUri"]
            roles = {role_id: name for role_id, name in SPOKE_ROLES.values()}
            for assignment in az.arm.role_assignments(spoke_id):
                role = assignment["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]
                print(f"\nRole assignment on {spoke_id.rsplit('/', 1)[-1]}: {roles.get(role, role)} for principal "
                      f"{assignment['properties']['principalId']} (the hub's identity)")
            tokens = az.arm.issued_user_tokens
            blob = str(ext) + str([az.services.ledger.get_cluster(e["data"]["resourceUri"].lower()) for e in (good,)])
            print(f"\nkubeconfig tokens ARM handed out: {len(tokens)}; found in the hub's settings or the ledger: "
                  f"{sum(t in blob for t in tokens)}")
            patches = az.arm.count("PATCH", r"/aks-hub/providers/.*/extensions/argocd$")
            print(f"hub PATCHes: {patches} (the hub's own root settings, if any, and the spokes' batch)")
            print("\noutcome:")
            _outcome(az, hub_id)
            code = _outcome(az, spoke_id)
            _outcome(az, bad["data"]["resourceUri"])
            return code
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
