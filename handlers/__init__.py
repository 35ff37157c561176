"""One module per trigger: binding input -> the core's request; the core's result -> settlement or reply.

Handlers stay thin and import-light: `shared.services` builds the heavy parts on first invocation.
"""
