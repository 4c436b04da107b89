"""The HTTP routes: thin translations between requests and the store, executor and registry.

``v1`` holds every route that needs an API key; ``health`` the open ones.
"""

from api.routes import exports, jobs, kinds, scenarios, solving
from api.routes import health as _health
from api.routes.common import InvalidRequest, issues_response

v1 = (solving.router, scenarios.router, jobs.router, kinds.router, exports.router)
health = _health.router

__all__ = ["InvalidRequest", "health", "issues_response", "v1"]
