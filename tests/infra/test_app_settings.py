"""The function app's settings in Bicep are exactly the names the code, its bindings and host.json read.

The names are derived from the code, not listed here, so a setting another change adds to shared/ or handlers/
fails this test until Bicep sets it (and a setting Bicep keeps after the code stopped reading it fails too).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from tests.infra.bicep import ROOT, app_settings

# Read by the code only when it runs on the local Azure (localazure/); never set in Azure.
LOCAL_ONLY = {
    "ARM_ENDPOINT": "the ARM emulator's URL; in Azure the code's default, the public ARM endpoint",
    "ARM_CA_BUNDLE": "the emulator's test CA",
    "ARM_RETRY_BACKOFF_SECONDS": "the local Azure shortens azure-core's backoff; in Azure the code's default 0.8",
    "LEDGER_CONNECTION_STRING": "Azurite's connection string; in Azure LEDGER_TABLE_ENDPOINT with the identity",
    "GRAPH_ENDPOINT": "the Graph emulator's URL; in Azure the code's default, Microsoft Graph's public endpoint",
    "PROFILES_DIR": "tests and the demo point it at a copy; in Azure the default, profiles/ deployed with the app",
}

_ENV_NAMES = {"env", "environ", "environment"}
_BINDING_EXPRESSION = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")
# Identity-based connections by trigger kind: the settings a user-assigned identity needs for `connection=X`.
_CONNECTION_SUFFIXES = {
    "service_bus": ("__fullyQualifiedNamespace", "__credential", "__clientId"),
    "event_hub": ("__fullyQualifiedNamespace", "__credential", "__clientId"),
}


def _is_env(node: ast.expr) -> bool:
    """`env`, `environ`, `os.environ`, `(os.environ if env is None else env)`: a mapping of app settings."""
    if isinstance(node, ast.IfExp):
        return _is_env(node.body) or _is_env(node.orelse)
    return (isinstance(node, ast.Name) and node.id in _ENV_NAMES) or (
        isinstance(node, ast.Attribute) and node.attr in _ENV_NAMES)


def _literal(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    """A string literal, or a module-level constant naming one (CONNECTION_SETTING = "...")."""
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _reads(node: ast.AST, constants: dict[str, str]) -> str | None:
    """The setting name this expression reads, if it reads one."""
    if isinstance(node, ast.Subscript) and _is_env(node.value):  # env["NAME"]
        return _literal(node.slice, constants)
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault") and _is_env(func.value):
        return _literal(node.args[0], constants)  # env.get("NAME"), os.environ.get("NAME")
    if isinstance(func, ast.Attribute | ast.Name) and getattr(func, "attr", getattr(func, "id", "")) == "getenv":
        return _literal(node.args[0], constants)  # os.getenv("NAME")
    if _is_env(node.args[0]) and len(node.args) > 1:
        return _literal(node.args[1], constants)  # helper readers: _float(env, "NAME", default)
    return None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def settings_the_code_reads(paths: list[Path] | None = None) -> dict[str, str]:
    """Setting name -> where it is read, from shared/, handlers/ and function_app.py."""
    found: dict[str, str] = {}
    if paths is None:
        paths = sorted((ROOT / "shared").glob("*.py")) + sorted((ROOT / "handlers").glob("*.py")) + \
            [ROOT / "function_app.py"]
    for path in paths:
        where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        tree = ast.parse(path.read_text())
        constants = _module_constants(tree)
        for node in ast.walk(tree):
            name = _reads(node, constants)
            if name:
                found.setdefault(name, f"{where}:{getattr(node, 'lineno', '?')}")
            if isinstance(node, ast.Call):  # binding expressions in decorator arguments: queue_name="%NAME%"
                for argument in [*node.args, *(k.value for k in node.keywords)]:
                    for expression in _BINDING_EXPRESSION.findall(_literal(argument, constants) or ""):
                        found.setdefault(expression, f"{where}:{node.lineno} (binding expression)")
            if isinstance(node, ast.Name) and node.id in ("DefaultAzureCredential", "ManagedIdentityCredential"):
                found.setdefault("AZURE_CLIENT_ID", f"{where}:{node.lineno} ({node.id} with a user-assigned identity)")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                for keyword in node.keywords:
                    connection = _literal(keyword.value, constants) if keyword.arg == "connection" else None
                    if connection is None:
                        continue
                    kinds = [k for k in _CONNECTION_SUFFIXES if k in node.func.attr]
                    assert kinds, f"{where}:{node.lineno}: teach me {node.func.attr}'s connection"
                    for suffix in _CONNECTION_SUFFIXES[kinds[0]]:
                        found.setdefault(connection + suffix, f"{where}:{node.lineno} (connection={connection!r})")
    return found


def settings_the_host_reads() -> dict[str, str]:
    """What the Functions host needs whatever the code: identity-based AzureWebJobsStorage, and telemetry."""
    found = {name: "Functions host storage, identity-based" for name in
             ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId")}
    host = json.loads((ROOT / "host.json").read_text())
    if "applicationInsights" in host.get("logging", {}):
        found["APPLICATIONINSIGHTS_CONNECTION_STRING"] = "host.json logging.applicationInsights"
        found["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] = "host.json logging.applicationInsights, Entra ID ingestion"
    return found


def test_the_scan_finds_what_the_code_reads() -> None:
    code = settings_the_code_reads()
    for name in ("ALLOWED_SUBSCRIPTIONS", "INSTALL_QUEUE_NAME", "MAX_WAIT_POLLS", "LEDGER_TABLE_ENDPOINT",
                 "ServiceBusConnection__fullyQualifiedNamespace", "ServiceBusConnection__clientId", "AZURE_CLIENT_ID"):
        assert name in code, f"the scan no longer sees {name}: fix settings_the_code_reads()"
    stale = sorted(set(LOCAL_ONLY) - set(code))
    assert stale == [], f"LOCAL_ONLY names the code no longer reads (delete them): {stale}"


def test_bicep_sets_exactly_the_settings_the_code_and_the_host_read() -> None:
    wanted = {**settings_the_host_reads(), **settings_the_code_reads()}
    for name in LOCAL_ONLY:
        wanted.pop(name, None)
    in_bicep = set(app_settings())
    missing = sorted(set(wanted) - in_bicep)
    unread = sorted(in_bicep - set(wanted) - set(LOCAL_ONLY))
    local_in_bicep = sorted(in_bicep & set(LOCAL_ONLY))
    problems = [f"read but not set by Bicep (add it to `var appSettings` in infra/modules/functionapp.bicep): "
                f"{name}, read at {wanted[name]}" for name in missing]
    problems += [f"set by Bicep but read by nothing (drop it from infra/modules/functionapp.bicep): {name}"
                 for name in unread]
    problems += [f"local-only setting set by Bicep: {name} ({LOCAL_ONLY[name]})" for name in local_in_bicep]
    assert problems == [], "\n".join(problems)


def test_identity_settings_point_at_the_user_assigned_identity() -> None:
    settings = app_settings()
    for name in ("AzureWebJobsStorage__credential", "ServiceBusConnection__credential"):
        assert settings[name] == "managedidentity", name
    client_ids = {settings[n] for n in ("AzureWebJobsStorage__clientId", "ServiceBusConnection__clientId",
                                        "AZURE_CLIENT_ID")}
    assert client_ids == {"identityClientId"}, client_ids
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD;ClientId=${identityClientId}"
    assert not any("connectionstring" in n.lower() and n != "APPLICATIONINSIGHTS_CONNECTION_STRING" for n in settings)


def test_the_scan_reads_helpers_bindings_and_connections(tmp_path: Path) -> None:
    """The scanner itself, on a made-up module: each way of reading a setting is found, defaults are not."""
    module = tmp_path / "made_up.py"
    module.write_text(
        '"""Not a setting: a docstring that says %DOCSTRING% or REQUEST_RETENTION_DAYS."""\n'
        "import os\n"
        "from azure.identity import DefaultAzureCredential\n"
        "ZETA_SETTING = 'ZETA'\n"
        "def f(env):\n"
        "    a = env.get('ALPHA') or _float(env, 'BETA', 'not_a_setting')\n"
        "    b = (os.environ if env is None else env).get(ZETA_SETTING)\n"
        "    return os.environ['GAMMA'], os.getenv('DELTA'), DefaultAzureCredential()\n"
        "@bp.service_bus_queue_trigger(arg_name='msg', queue_name='%EPSILON%', connection='Bus')\n"
        "def g(msg): pass\n")
    assert set(settings_the_code_reads([module])) == {
        "ALPHA", "BETA", "GAMMA", "DELTA", "EPSILON", "ZETA", "AZURE_CLIENT_ID",
        "Bus__fullyQualifiedNamespace", "Bus__credential", "Bus__clientId"}
