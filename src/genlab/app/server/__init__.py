"""genlab's REST service: a FastAPI application that serves trained runs (``genlab serve RUN ...``).

Every model is loaded once, when the application is made. A request is checked against the
server's :class:`Limits` before any work; the work itself (sampling, a task, an evaluation) runs
in a worker thread through the same functions as the CLI (:mod:`genlab.app.service`), under
a time limit that stops it between two sampler steps (:func:`genlab.progress.deadline`). Only
``limits.concurrency`` pieces of work run at once; up to ``limits.queue`` more wait, and a request
beyond that is answered 503 with ``Retry-After``.

Every error is JSON, ``{"error": "<what is wrong and how to fix it>", "field": "<the field or
null>"}``, with a 4xx status: 400 a value the model or data refuse, 401 a missing or wrong token,
404 an unknown model or file, 408 the time limit, 413 an upload or picture over the limits, 422 a
field of the wrong type or out of range, 503 a full queue.

Generated files are written under ``RUN/served/<request id>/`` (or ``--store DIR/<model>/<request
id>/``), stamped with their provenance, and recorded in the registry of samples when one is given.
"""

from .admission import Admission  # noqa: F401
from .app import STATIC, TOKEN_COOKIE, TOKEN_ENV, create_app, default_token  # noqa: F401
from .requests import APIError, EvaluateRequest, GenerateRequest, TagsRequest, coerce_sample_args  # noqa: F401
from .served import Served, describe, load_served, sample_arg_specs  # noqa: F401
