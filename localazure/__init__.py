"""The local Azure: an ARM emulator, a managed-identity token endpoint, Azurite and a Service Bus stand-in.

Used by the demo, the tests and the benchmarks; never imported by the function app.
"""
