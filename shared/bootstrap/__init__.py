"""What a cluster should look like and how to get it there: profiles, cluster ids and facts, the desired extension,
workload identity, the reconciler's steps, dry runs and outcomes.

Pure decisions: Azure is reached only through the protocols in `shared.azure.api`; nothing here imports
`shared.pipeline` (which calls it) or an Azure implementation, as import-linter checks.
"""
