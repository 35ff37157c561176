"""The identity part of a reconcile: the cluster's managed identity, its federated credentials, AcrPull (or Container
Registry Repository Reader where the registry uses ABAC repository permissions) on the profile's registries, and the
SSO application's credential.

Same rules as the rest of the reconciler: observe, then write only a difference; one credential write
at a time per identity (Azure refuses parallel ones with a 409); never touch a resource that lacks
the service's ownership tags; Azure's races (a principal not replicated yet, a concurrent write)
end the run WAITING, and the next run picks up where this one stopped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from shared.azure.api import DirectoryApi, IdentityApi
from shared.bootstrap.cluster_facts import ClusterFacts
from shared.bootstrap.cluster_ids import ClusterRef, parse_resource_id
from shared.bootstrap.identity_placement import IdentityPlacement
from shared.bootstrap.outcome import Run
from shared.bootstrap.profiles import Profile
from shared.bootstrap.workload_identity import (
    AUDIENCE,
    CREDENTIAL_PREFIX,
    IdentityRef,
    ManagedIdentity,
    desired_credentials,
    graph_credential_ref,
    identity_for,
    owned_by_us,
    ownership_tags,
    parse_graph_credential_ref,
    parse_role_assignment_ref,
    pull_role,
    role_assignment_name,
    role_assignment_ref,
    role_definition_id,
    sso_credential,
    sso_redirects,
)
from shared.errors import PermanentError

APP_CREDENTIAL_LIMIT = 20


@dataclass
class IdentitySteps:
    api: IdentityApi
    directory: DirectoryApi
    placement: IdentityPlacement

    def ensure_identity(self, run: Run, cluster: ClusterRef, profile: Profile, facts: ClusterFacts,
                        issuer: str) -> ManagedIdentity:
        """The cluster's identity with exactly the profile's credentials and role assignments."""
        ref = identity_for(cluster, self.placement)
        identity = self.api.get_identity(ref)
        if identity is None:
            identity = self.api.put_identity(ref, facts.location, ownership_tags(cluster))
            run.created.append(identity.id)
            run.created_principal = True
            run.step(f"created managed identity {ref.name} in {ref.resource_group} ({facts.location}), "
                     f"client id {identity.client_id}")
        elif not owned_by_us(identity.tags, cluster):
            raise PermanentError(
                "IdentityNotOwned",
                f"managed identity {ref.id} exists but does not carry the service's ownership tags, so the service "
                "will not use or change it. Delete or rename it, or set IDENTITY_RESOURCE_GROUP to another group")
        else:
            run.created.append(identity.id)  # ours (tagged): a run that died after creating it left it unrecorded
        self._credentials(run, ref, profile, issuer)
        for registry in profile.container_registries:
            self._registry_pull(run, registry, identity)
        return identity

    def _credentials(self, run: Run, ref: IdentityRef, profile: Profile, issuer: str) -> None:
        existing = self.api.list_credentials(ref)
        wanted = desired_credentials(profile.workload_identity.service_accounts, issuer)
        for want in wanted:
            if any(have.matches(want) for have in existing):
                if any(have.name == want.name for have in existing):
                    run.created.append(f"{ref.id}/federatedIdentityCredentials/{want.name}")
                continue
            replaced = next((have for have in existing if have.name == want.name), None)
            self.api.put_credential(ref, want)  # one at a time: parallel writes under one identity get a 409
            run.created.append(f"{ref.id}/federatedIdentityCredentials/{want.name}")
            run.step(f"{'updated' if replaced else 'created'} federated credential {want.name}: subject "
                     f"{want.subject}, issuer {want.issuer}")
        for stale in existing:
            if stale.name.startswith(CREDENTIAL_PREFIX) and all(stale.name != w.name for w in wanted):
                self.api.delete_credential(ref, stale.name)
                run.step(f"deleted federated credential {stale.name} (its service account left the profile)")

    def _registry_pull(self, run: Run, registry: str, identity: ManagedIdentity) -> None:
        """AcrPull, or Container Registry Repository Reader on a registry with ABAC repository permissions."""
        scope = parse_resource_id(registry)
        mode = self.api.registry_role_mode(scope.subscription, scope.id)
        role, role_name = pull_role(mode)
        name = role_assignment_name(scope.id, identity.principal_id, role)
        if self.api.role_assignment_exists(scope.subscription, scope.id, name):
            # Its deterministic name says the service made it for this identity (maybe in a run that died after).
            run.created.append(role_assignment_ref(scope.id, name))
            return
        assignment = self.api.create_role_assignment(scope.subscription, scope.id, name,
                                                     role_definition_id(scope.subscription, role),
                                                     identity.principal_id)
        run.created.append(assignment)
        why = f"roleAssignmentMode {mode}" if mode else "its roleAssignmentMode could not be read (403): the default"
        run.step(f"granted {role_name} on registry {scope.name} to the identity ({why})")

    def ensure_sso(self, run: Run, cluster: ClusterRef, profile: Profile, issuer: str) -> None:
        """The SSO app registration trusts this cluster's argocd-server and takes Argo CD's redirect URIs (web
        `<url>/auth/callback`, CLI `http://localhost:8085/auth/callback`): made through Graph, or reported."""
        sso = profile.sso
        if sso is None:
            return
        want = sso_credential(cluster, issuer)
        web, public = sso_redirects(profile.url or "")  # a profile with sso has a url (checked when loaded)
        if not sso.create_federated_credential:
            parameters = json.dumps({"name": want.name, "issuer": want.issuer, "subject": want.subject,
                                     "audiences": [AUDIENCE]})
            run.actions_required.append(f"add federated credential {want.name} to Entra application {sso.client_id} "
                     f"(issuer {want.issuer}, subject {want.subject}, audience {AUDIENCE}): "
                     f"az ad app federated-credential create --id {sso.client_id} --parameters '{parameters}'")
            run.actions_required.append(
                f"make sure Entra application {sso.client_id} has the web redirect URI {web[0]} and the mobile and "
                f"desktop (public client) redirect URI {public[0]}, and a groups claim: az ad app update --id "
                f"{sso.client_id} --web-redirect-uris {web[0]} --public-client-redirect-uris {public[0]} (these flags "
                "replace the lists: add the URIs it already has)")
            return
        app = self.directory.find_application(sso.client_id)
        if app is None:
            raise PermanentError("SsoApplicationNotFound",
                                 f"no Entra application has client id {sso.client_id} (sso.clientId of profile "
                                 f"{profile.name!r}), or the service's identity cannot read it: make the identity an "
                                 "owner of the application")
        have_web, have_public = self.directory.redirect_uris(app)
        missing = [u for u in web if u not in have_web] + [u for u in public if u not in have_public]
        if missing:
            self.directory.add_redirect_uris(app, web, public)
            run.step(f"added redirect URIs {', '.join(missing)} to Entra application {sso.client_id}")
        existing = self.directory.list_credentials(app)
        if any(have.matches(want) for have in existing):
            # Ours if it has our name: a run that died right after creating it left it out of the ledger.
            run.created += [graph_credential_ref(app, have.id) for have in existing
                            if have.matches(want) and have.name == want.name and have.id]
            return
        if len(existing) >= APP_CREDENTIAL_LIMIT:
            raise PermanentError(
                "SsoApplicationCredentialLimit",
                f"Entra application {sso.client_id} already holds {len(existing)} federated credentials, Entra's "
                f"limit of {APP_CREDENTIAL_LIMIT}; remove unused ones (az ad app federated-credential list --id "
                f"{sso.client_id}) or give this group of clusters its own SSO application")
        credential_id = self.directory.add_credential(app, want, f"Argo CD SSO for {cluster.id}")
        run.created.append(graph_credential_ref(app, credential_id))
        run.step(f"created federated credential {want.name} on Entra application {sso.client_id} for argocd-server")

    def remove(self, run: Run, cluster: ClusterRef, created: tuple[str, ...]) -> None:
        """Delete what the ledger says the service created, and the cluster's identity if it carries our tags."""
        for item in created:
            if (credential := parse_graph_credential_ref(item)) is not None:
                self.directory.delete_credential(*credential)
                run.removed.append(item)
                run.step(f"deleted the SSO application's federated credential for this cluster ({credential[1]})")
        for item in created:
            if (assignment := parse_role_assignment_ref(item)) is not None:
                scope, name = assignment
                self.api.delete_role_assignment(parse_resource_id(scope).subscription, scope, name)
                run.removed.append(item)
                run.step(f"deleted role assignment {name} on {scope.rsplit('/', 1)[-1]}")
        refs = {identity_for(cluster, self.placement)}
        for item in created:
            if "/userassignedidentities/" in item.lower() and "/federatedidentitycredentials/" not in item.lower():
                parsed = parse_resource_id(item)
                refs.add(IdentityRef(parsed.subscription, parsed.resource_group, parsed.name))
        for ref in sorted(refs, key=lambda r: r.id):
            self._remove_identity(run, cluster, ref, created)

    def _remove_identity(self, run: Run, cluster: ClusterRef, ref: IdentityRef, created: tuple[str, ...]) -> None:
        identity = self.api.get_identity(ref)
        gone = [i for i in created if i.lower().startswith(ref.id.lower())]
        if identity is None:
            run.removed.extend(gone)
            return
        if not owned_by_us(identity.tags, cluster):
            run.step(f"managed identity {ref.name} does not carry the service's ownership tags; left alone")
            return
        for credential in self.api.list_credentials(ref):
            if credential.name.startswith(CREDENTIAL_PREFIX):
                self.api.delete_credential(ref, credential.name)  # one at a time, as for writes
                run.step(f"deleted federated credential {credential.name}")
        self.api.delete_identity(ref)
        run.removed.extend(gone)
        run.step(f"deleted managed identity {ref.name}")
