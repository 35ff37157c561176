"""The service's core: request and event models, the reconciler, Azure access, the ledger and messaging.

Nothing here imports `azure.functions` or the `handlers` package; heavy Azure SDK modules are imported
where first used so that indexing the function app stays fast.
"""
