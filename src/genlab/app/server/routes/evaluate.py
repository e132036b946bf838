"""``POST /api/models/{id}/evaluate``: the likelihood, or the metrics against the truth."""

from __future__ import annotations

import time

from fastapi import APIRouter

from ... import service
from ..requests import APIError, EvaluateRequest
from ..state import ServerDep, guarded

router = APIRouter(prefix="/api/models", tags=["evaluate"])


@router.post("/{model_id}/evaluate", summary="the likelihood (or the restoration metrics) on a split")
async def evaluate(model_id: str, body: EvaluateRequest, server: ServerDep):
    s, limits = server.model_of(model_id), server.limits
    if body.max_examples > limits.max_eval_examples:
        raise APIError(413, f"max_examples is {body.max_examples}; this server scores at most "
                            f"{limits.max_eval_examples:,}", "max_examples")
    if body.iw_samples is not None and body.iw_samples > limits.max_iw_samples:
        raise APIError(413, f"iw_samples is {body.iw_samples}; at most {limits.max_iw_samples:,}", "iw_samples")

    def run():
        import torch

        torch.manual_seed(body.seed)
        data = s.get_data()
        if s.model.data_info.modality.scored_against_truth(s.model):
            return service.evaluate_restoration(s.model, data, body.split, body.max_examples)
        return service.evaluate_likelihood(s.model, data, body.split, body.iw_samples, body.max_examples)

    started = time.monotonic()
    result = await server.work(guarded(run))
    return {"model": s.id, "result": result, "seconds": round(time.monotonic() - started, 3)}
