"""``POST /api/models/{id}/generate``: samples as files (PNG, text, WAV, MIDI, GIF), recorded."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from ... import service
from ..requests import LENGTH_ARGS, SEQUENCE_FIELDS, APIError, GenerateRequest, coerce_sample_args
from ..state import ServerDep, guarded

router = APIRouter(prefix="/api/models", tags=["generate"])


@router.post("/{model_id}/generate", summary="draw samples (PNG, text, WAV, MIDI, GIF)")
async def generate(model_id: str, body: GenerateRequest, request: Request, server: ServerDep):
    s, limits = server.model_of(model_id), server.limits
    modality = s.model.data_info.modality
    if modality.input_task:
        raise APIError(400, f"model '{s.id}' makes a picture from an input picture; POST one to "
                            f"/api/models/{s.id}/{modality.input_task}", "model")
    num = body.num if body.num is not None else min(modality.default_num_samples, limits.max_samples)
    if num > limits.max_samples:
        raise APIError(413, f"num is {num}; this server draws at most {limits.max_samples} samples a request", "num")
    if body.prompt is not None and len(body.prompt) > limits.max_prompt_chars:
        raise APIError(413, f"the prompt has {len(body.prompt):,} characters; at most {limits.max_prompt_chars:,}",
                       "prompt")
    server.check_tags(body.tags)
    sample_args = coerce_sample_args(s.model, body.sample_args)
    for name in SEQUENCE_FIELDS:  # a field, or (as /api/models lists them) a sample argument: one or the other
        value = getattr(body, name)
        if value is not None:
            if name in sample_args:
                raise APIError(422, f"{name} is given twice (as a field and in sample_args); give it once", name)
            sample_args[name] = value
    tokens = sample_args.get("max_new_tokens")
    if isinstance(tokens, int) and tokens > limits.max_new_tokens:
        field = "max_new_tokens" if body.max_new_tokens is not None else "sample_args.max_new_tokens"
        raise APIError(413, f"max_new_tokens is {tokens}; this server generates at most {limits.max_new_tokens}",
                       field)
    for name in LENGTH_ARGS:
        value = sample_args.get(name)
        if isinstance(value, int) and value > limits.max_length:
            raise APIError(413, f"{name} is {value:,}; this server draws samples of at most {limits.max_length:,} "
                                "steps", f"sample_args.{name}")
    accepted = service.sample_parameters(s.model)
    if accepted is not None and "max_new_tokens" in accepted and "max_new_tokens" not in sample_args:
        default = accepted["max_new_tokens"].default
        if isinstance(default, int) and default > limits.max_new_tokens:
            sample_args["max_new_tokens"] = limits.max_new_tokens
    rid, folder = server.request_folder(s, request)
    started = time.monotonic()

    def run():
        scorer = s.get_scorer(server.features) if body.score else None  # refused before sampling if it cannot score
        from_data = getattr(s.model.condition_spec, "from_data", False) and body.condition is None
        folder.mkdir(parents=True, exist_ok=True)
        done = service.generate(s.model, s.folder, s.run, folder / modality.default_output, command="serve generate",
                                num=num, condition=body.condition, prompt=body.prompt, prompt_is_content=True,
                                seed=body.seed, sample_args=sample_args, scorer=scorer,
                                data=s.get_data() if from_data else None, record=False)  # answer() records
        scores = (done.scores, done.score_info) if done.scores is not None else None
        return done.record, done.text, scores

    rec, text, scores = await server.work(guarded(run))
    return await server.in_thread(server.answer, s, rid, folder, rec, started, body.tags, scores, text=text)
