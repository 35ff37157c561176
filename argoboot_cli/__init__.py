"""`argoboot`: run, plan, submit and inspect bootstraps from a laptop, against Azure or the local Azure.

An operator's tool on top of the service's core (`shared`); the function app never imports it.
"""
