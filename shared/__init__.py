"""The service's core, grouped by role (handlers and the CLI call it; it imports neither).

- `shared.bootstrap`: what a cluster should look like and how to get it there (profiles, cluster ids and facts, the
  desired extension, workload identity, the reconciler, dry runs, outcomes). Pure decisions; Azure only through the
  protocols in `shared.azure.api`.
- `shared.pipeline`: messages in, outcomes out (install requests and cluster events parsed, intent, the processing
  of one message, the sweep, the status view).
- `shared.azure`: how the service talks to Azure, the only place that sees azure-core and the SDK clients (ARM and
  Graph gateways, error translation, pacing, the Table ledger, the Service Bus outbox), behind small protocols.
- top level: settings, the composition root (`services`), errors, log context and telemetry.

Nothing here imports `azure.functions` or `handlers`; heavy Azure SDK modules are imported where first used so that
indexing the function app stays fast.
"""
