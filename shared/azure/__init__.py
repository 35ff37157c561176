"""How the service talks to Azure: the only package that sees azure-core and the Azure SDK clients.

Protocols and plain records (`api`, `errors`, `ledger`, `outbox`) are what `shared.bootstrap` and `shared.pipeline`
import; the implementations (`arm_gateway`, `graph_gateway`, `pacing_policy`, `table_ledger`, `service_bus_outbox`)
are built only by the composition root `shared.services` (and the CLI), as import-linter checks.
"""
