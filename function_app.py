"""The function app: registers the functions; nothing else runs at import (see handlers/ and shared/)."""
import azure.functions as func

from handlers import cluster_events, install_requests, request_purge, status_api, sweep, work_items

app = func.FunctionApp()
app.register_functions(cluster_events.bp)
app.register_functions(install_requests.bp)
app.register_functions(work_items.bp)
app.register_functions(status_api.bp)
app.register_functions(request_purge.bp)
app.register_functions(sweep.bp)
