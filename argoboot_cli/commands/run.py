"""`argoboot run|update|uninstall CLUSTER_ID`: the queue's actions, run here, until the cluster is done.

No queue and no function app: the same reconciler the service runs, with the user's credential. `run`
bootstraps (the queue's `bootstrap`), `update` re-applies the profile now (`update`: a PATCH of exactly
what drifted), `uninstall` removes the extension and what the service created (`uninstall`); `--adopt` takes
over an Argo CD extension the service did not create, as a request's `"adopt": true` does, and `--reinstall`
removes a 0.0.x one (with every Application) to install 1.x, as `"reinstall": true` does. Outcomes and exit
codes are the queue's. The reconciler never blocks on Azure; it returns WAITING, so this loop sleeps until the
poll schedule's next check (`shared.bootstrap.poll_planner`, the one the service's continuations follow:
Retry-After first, else 0.5 s then doubling up to the kind's cap) and reconciles again (one GET while the install runs).
Transient Azure errors are retried a few times, then end the command with the Azure exit code: at a terminal
nobody wants the service's hour of patience. The run is recorded in the ledger when one is configured (always
with --emulator), under a request id `run-...`, and what the ledger says the service created is what it owns.
"""
from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from typing import Any

from argoboot_cli.exit_codes import EXIT_CODES_HELP, CliError, Exit, HelpFormatter, for_outcome
from argoboot_cli.output import Output
from argoboot_cli.progress import Progress
from argoboot_cli.recording import RunRecorder
from argoboot_cli.target import open_job
from shared.azure.ledger import Owned
from shared.bootstrap.cluster_ids import ClusterRef
from shared.bootstrap.outcome import Outcome, Phase
from shared.bootstrap.poll_planner import WAIT_TIMED_OUT, PollPlanner, resumed
from shared.bootstrap.poll_schedule import WaitState
from shared.bootstrap.profiles import Profile
from shared.bootstrap.providers import ProviderCache
from shared.bootstrap.reconciler import Reconciler
from shared.settings import Settings

AZURE_RETRIES = 3  # consecutive transient Azure errors before giving up
AZURE_RETRY_CAP = 15.0  # seconds between those retries at most
_DONE = {"bootstrap": (Phase.SUCCEEDED,), "update": (Phase.SUCCEEDED,),
         "uninstall": (Phase.UNINSTALLED, Phase.DELETED)}
_HEADLINE = {"bootstrap": "Bootstrapping", "update": "Updating", "uninstall": "Uninstalling Argo CD from"}

#: One pass of the reconciler: (waiting_on, may_reinstall, what the service owns, protected hash, the registering
#: providers not due for a check) -> outcome.
Pass = Callable[[str | None, bool, Owned], Outcome]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    for command, action, summary in (
            ("run", "bootstrap", "bootstrap one cluster now, from here (no queue)"),
            ("update", "update", "re-apply the profile to one cluster now (a PATCH of what drifted)"),
            ("uninstall", "uninstall", "remove Argo CD and what the service created for one cluster")):
        parser = sub.add_parser(command, parents=[common], help=summary,
                                description=f"{summary[0].upper()}{summary[1:]}: the queue's {action!r} action, run "
                                "here with your credential until it is done; no queue, no function app.",
                                epilog=EXIT_CODES_HELP, formatter_class=HelpFormatter)
        parser.add_argument("cluster_id", metavar="CLUSTER_ID", help="ARM id of an AKS or Arc cluster")
        if action != "uninstall":
            parser.add_argument("--profile", help="profile name (default: DEFAULT_PROFILE, else 'default')")
        parser.add_argument("--adopt", action="store_true",
                            help="take over (or, for uninstall, remove) an Argo CD extension the service did not "
                            "create; without it such an extension is left alone (outcome skipped)")
        if action != "uninstall":
            parser.add_argument("--reinstall", action="store_true",
                                help="uninstall a 0.0.x Argo CD extension to install 1.x: Argo CD's CRDs go with "
                                "it, and every Application, ApplicationSet and AppProject on the cluster (a 1.x "
                                "extension is never removed)")
        parser.add_argument("--timeout", type=float, metavar="SECONDS",
                            help="stop following after this long (exit 5, still waiting); the install goes on in Azure")
        parser.set_defaults(handler=run, action=action)


def run(args: argparse.Namespace, out: Output) -> Exit:
    action: str = args.action
    job = open_job(args.emulator, args.cluster_id, getattr(args, "profile", None), out)
    target, cluster, settings, profile = job.target, job.cluster, job.settings, job.profile
    api = target.arm(settings)
    request_id = f"run-{uuid.uuid4().hex[:12]}"
    ledger = target.ledger() if target.has_ledger else None
    recorder = RunRecorder(ledger, cluster, profile, request_id, action=action) if ledger is not None else None
    planner = PollPlanner(settings=settings, clock=time.time)
    secrets = target.secrets(settings)
    reconciler = Reconciler(api=api, directory=target.directory(settings), settings=settings,
                            providers=ProviderCache(clock=time.time, ttl=settings.provider_cache_seconds),
                            secrets=secrets, hub_protection=target.hub_protection(settings, secrets, records=True))

    once = passes(reconciler, cluster, profile, action, adopt=args.adopt,
                  reinstall=getattr(args, "reinstall", False))
    out.line(f"{_HEADLINE[action]} {cluster.id}")
    out.line(f"  profile {profile.name}, on {target.where}" if action != "uninstall" else f"  on {target.where}")
    progress = Progress(out)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        outcome = follow(once, cluster.subscription, settings, progress, recorder, deadline, planner)
    finally:
        progress.close()
    error = {"code": outcome.error_code, "message": outcome.error_message} if outcome.error_code else None
    out.line(f"{outcome.phase.value} after {progress.elapsed:.1f}s"
             + (f": {outcome.error_code}: {outcome.error_message}" if error else ""))
    recorded = recorder is not None and recorder.written
    if recorded:
        out.line(f"recorded in the ledger as request {request_id} (argoboot status --request {request_id})")
    elif recorder is None:
        out.line("not recorded: no ledger configured (set LEDGER_TABLE_ENDPOINT to record runs)")
    out.result({"clusterResourceId": cluster.id, "profile": profile.name, "action": action,
                "outcome": outcome.phase.value, "steps": progress.steps, "error": error,
                "seconds": round(progress.elapsed, 1), "requestId": request_id if recorded else None,
                "recorded": recorded})
    return for_outcome(outcome.phase.value, outcome.error_code, tuple(p.value for p in _DONE[action]))


def passes(reconciler: Reconciler, cluster: ClusterRef, profile: Profile, action: str = "bootstrap", *,
           adopt: bool = False, reinstall: bool = False) -> Pass:
    """One pass of `action` on the cluster, as `follow` calls it."""
    def once(waiting_on: str | None, may_reinstall: bool, owned: Owned) -> Outcome:
        if action == "uninstall":
            return reconciler.remove(cluster, owned.created, adopt=adopt)
        return reconciler.reconcile(cluster, profile, may_reinstall=may_reinstall, waiting_on=waiting_on,
                                    adopt=adopt, owned=owned, reinstall=reinstall)
    return once


def follow(once: Pass, subscription: str, settings: Settings, progress: Progress, recorder: RunRecorder | None,
           deadline: float | None, planner: PollPlanner) -> Outcome:
    """Reconcile, wait until the poll schedule's next check, reconcile again, until a terminal outcome."""
    waiting_on: str | None = None
    wait: WaitState | None = None
    polls = azure_errors = installs = 0
    recorded: tuple[str, ...] | None = None
    # What the service owns: the ledger's record when there is one, plus what each pass created.
    owned = recorder.owned() if recorder is not None else Owned()
    while True:
        # The first pass is a new request (a Failed install is installed again); later ones follow the service's
        # bound on installs per request (MAX_INSTALL_ATTEMPTS).
        may_reinstall = polls == 0 or installs < settings.max_install_attempts
        outcome = once(waiting_on, may_reinstall, owned)
        owned = Owned((*owned.created, *(item for item in outcome.created if item not in owned.created)),
                      outcome.protected_hash or owned.protected_hash,
                      outcome.extension_seen if outcome.config_hash else owned.extension_seen)
        installs += outcome.installs
        polls += 1
        if not outcome.terminal and polls > settings.max_wait_polls:
            outcome = Outcome(Phase.FAILED, outcome.steps, error_code=WAIT_TIMED_OUT,
                              error_message=f"still waiting on {outcome.waiting_on} after {polls - 1} checks; "
                              "look at the cluster in the portal, then run again", installs=outcome.installs)
        tracked = planner.track(wait, outcome, subscription)
        wait = tracked.wait
        for step in outcome.steps:
            progress.step(step)
        changed = outcome.terminal or outcome.steps != recorded or outcome.installs
        # A typo in the id should not leave a ledger row behind.
        if recorder is not None and changed and outcome.error_code != "ClusterNotFound":
            recorder.record(outcome)
            recorded = outcome.steps
        if outcome.terminal:
            return outcome
        # Azure's identity races (a principal replicating) clear by themselves: waits, not errors to give up on.
        race = outcome.awaited is not None and outcome.awaited.kind == "race"
        azure_errors = azure_errors + 1 if outcome.waiting_on == "azure" and not race else 0
        if azure_errors > AZURE_RETRIES:
            raise CliError(Exit.AZURE, "AzureUnavailable", f"{outcome.steps[-1]}; gave up after "
                           f"{AZURE_RETRIES + 1} tries")
        delay = tracked.delay
        if outcome.waiting_on == "azure":
            delay = min(delay, AZURE_RETRY_CAP)
        if deadline is not None and time.monotonic() + delay > deadline:
            raise CliError(Exit.WAITING, "StillWaiting", f"still waiting on {outcome.waiting_on} "
                           f"({outcome.steps[-1]}); the install goes on in Azure: run again or "
                           "`argoboot status` to follow it")
        progress.wait(delay, outcome.steps[-1])
        waiting_on = resumed(outcome.waiting_on, wait)
