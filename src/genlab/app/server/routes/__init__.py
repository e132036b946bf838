"""The server's routes, one ``APIRouter`` per group (as FastAPI's guide to bigger applications
lays them out). Each route takes the :class:`~genlab.app.server.state.Server` as a dependency and
does the work through :mod:`genlab.app.service`, the layer the CLI uses too."""

from . import evaluate, files, generate, models, playground, samples, search, tasks

ROUTERS = [models.router, generate.router, tasks.router, evaluate.router, search.router, files.router,
           samples.router, playground.router]

__all__ = ["ROUTERS"]
