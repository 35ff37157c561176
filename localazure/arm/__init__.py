"""The local ARM, its managed-identity token endpoint and the part of Microsoft Graph the service uses.

`emulator.ArmEmulator` is the entry point; each resource family is one module with its state, bodies and routes.
"""
