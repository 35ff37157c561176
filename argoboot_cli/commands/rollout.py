"""`argoboot rollout status [PROFILE] | resume PROFILE | abort PROFILE`: staged profile rollouts, for the operator.

`status` reads what the status API shows (`GET /api/rollouts`): the wave, why it halted, every failed cluster with
Azure's message. `resume` and `abort` change the rollout's row in the ledger, with the caller's own access to it
(the same storage `argoboot status` reads; writing needs Storage Table Data Contributor): they are the platform
team's acts, not another team's, which is why the public request queue does not take them (docs/integration.md).
"""
from __future__ import annotations

import argparse
import getpass
import os
import time
from pathlib import Path
from typing import Any

from argoboot_cli.exit_codes import CliError, Exit
from argoboot_cli.output import Output
from argoboot_cli.target import Target
from shared.azure.rollout_store import RolloutStore
from shared.bootstrap.names import PROFILE_NAME_RULE, is_profile_name
from shared.bootstrap.profiles import ProfileCatalog, ProfileError
from shared.bootstrap.rollout_plan import RolloutPlan
from shared.errors import RequestRejected
from shared.pipeline.rollout_request import act, no_rollout
from shared.pipeline.status_view import rollout_view
from shared.settings import REPOSITORY_PROFILES
from shared.untrusted import shown


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("rollout", parents=[common], help="staged profile rollouts: status, resume, abort",
                            description="Show a profile's rollout (wave, halt, failed clusters with Azure's "
                            "messages), resume a halted one (its failed clusters are tried again), or abort one (no "
                            "further wave; revert the profile file to roll back).")
    parser.add_argument("action", choices=("status", "resume", "abort"))
    parser.add_argument("profile", metavar="PROFILE", nargs="?", help="the profile (status: all when left out)")
    parser.set_defaults(handler=rollout)


def rollout(args: argparse.Namespace, out: Output) -> Exit:
    if args.profile is not None and not is_profile_name(args.profile):
        raise CliError(Exit.BAD_INPUT, "InvalidProfile", f"{shown(args.profile)} is not a profile name "
                       f"({PROFILE_NAME_RULE})")
    if args.action != "status" and args.profile is None:
        raise CliError(Exit.BAD_INPUT, "MissingProfile", f"argoboot rollout {args.action} needs the profile")
    store = Target.open(args.emulator, out).ledger().rollouts
    if args.action != "status" and args.profile is not None:
        try:
            act(store, args.profile, args.action, f"argoboot rollout {args.action} ({_who()})", time.time)
        except RequestRejected as exc:
            raise CliError(Exit.NOT_FOUND, exc.reason, exc.description) from None
    if args.profile is None:
        views = rollout_views(store)
    else:
        state = store.get_state(args.profile)
        if state is None:
            missing = no_rollout(args.profile)
            raise CliError(Exit.NOT_FOUND, missing.reason, missing.description)
        views = [rollout_view(state, _plans().get(state.profile), store.members(state.profile, state.target))]
    for view in views:
        show(view, out)
    if not views:
        out.line("no rollouts in the ledger")
    out.result({"rollouts": views} if args.profile is None else {"rollout": views[0]})
    return Exit.OK


def rollout_views(store: RolloutStore, *, unfinished: bool = False) -> list[dict[str, Any]]:
    plans = _plans()
    return [rollout_view(s, plans.get(s.profile), store.members(s.profile, s.target)) for s in store.list_states()
            if not unfinished or s.status != "completed"]


def show(view: dict[str, Any], out: Output) -> None:
    wave = view["wave"]
    where = f" at wave {wave['index'] + 1}/{wave['of']} ({wave['name']})" if wave and wave["name"] else ""
    out.line(f"profile {view['profile']}: {view['status']}{where}")
    counts = ", ".join(f"{n} {status}" for status, n in view["clusters"].items())
    rows = [("version", f"{view['version']} (from {view['previousVersion']}; new clusters get "
             f"{view['newClustersGet']})"), ("clusters", counts), ("why", view["reason"] or "-"),
            *([("soaking", f"until {view['soakingUntil']}")] if view["soakingUntil"] else []),
            ("updated", view["updated"] or "-")]
    for name, value in rows:
        out.line(f"  {name:<9} {value}")
    for failure in view["failures"]:
        out.line(f"  failed    {failure['clusterResourceId']} [{failure['wave']}] {failure['code']}: "
                 f"{failure['message']}")


def _plans() -> dict[str, RolloutPlan]:
    """The waves of the deployment's profiles (PROFILES_DIR), for the wave names; none if they do not load."""
    directory = Path(os.environ.get("PROFILES_DIR") or REPOSITORY_PROFILES)
    try:
        catalog = ProfileCatalog.load(directory, os.environ.get("DEFAULT_PROFILE") or "default")
    except ProfileError:
        return {}
    return {name: p.rollout for name, p in catalog.profiles.items() if p.rollout is not None}


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"
