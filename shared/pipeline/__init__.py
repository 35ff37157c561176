"""Messages in, outcomes out: install requests and cluster events parsed and validated, what a message means
(intent), the processing of one message (reconcile, record, continue or reply), the sweep and the status view.

Calls `shared.bootstrap` for the work and the protocols of `shared.azure` for the ledger and the outbox; the
handlers in `handlers/` are its only callers besides the CLI.
"""
