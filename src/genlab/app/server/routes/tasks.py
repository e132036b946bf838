"""Tasks on an uploaded picture: inpainting, super-resolution, image-to-image translation."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from ....tasks import get_task
from ... import service
from ..requests import APIError, form_tags
from ..served import describe
from ..state import UPLOAD_STEM, Server, ServerDep, guarded

router = APIRouter(prefix="/api/models", tags=["tasks"])


@router.post("/{model_id}/inpaint", summary="fill the masked part of an uploaded picture")
async def inpaint(model_id: str, request: Request, server: ServerDep,
                  image: Annotated[UploadFile, File(description="the picture (PNG or JPEG)")],
                  mask: Annotated[UploadFile | None, File(description="a mask picture: white = to fill")] = None,
                  box: Annotated[str | None, Form(description="x,y,w,h in the model's pixels")] = None,
                  mask_kind: Annotated[str | None, Form(description="bottom, right, box or strokes")] = None,
                  num: Annotated[int, Form(ge=1)] = 4, seed: Annotated[int, Form(ge=0)] = 0,
                  condition: Annotated[int | None, Form(ge=0)] = None, tags: Annotated[str, Form()] = ""):
    s = server.model_of(model_id)
    if not get_task("inpaint").supports(s.model):
        raise APIError(400, f"model '{s.id}' ({s.model.family} family) cannot inpaint; serve a DDPM, PixelCNN "
                            "or VAE", "model")
    if num > server.limits.max_samples:
        raise APIError(413, f"num is {num}; this server draws at most {server.limits.max_samples}", "num")
    tag_list = server.check_tags(form_tags(tags))  # refused before any work
    rid, folder = server.request_folder(s, request)
    source = await save_upload(server, image, folder, UPLOAD_STEM, "image")
    mask_path = await save_upload(server, mask, folder, f"{UPLOAD_STEM}-mask", "mask") if mask is not None else None
    started = time.monotonic()

    def run():
        paths, _ = service.inpaint_picture(s.model, source, folder, mask=mask_path, box=box, mask_kind=mask_kind,
                                           num=num, condition=condition, seed=seed)
        rec = {**service.provenance_record(s.model, s.folder, s.run, "serve inpaint", seed,
                                           {"num": num, "condition": condition, "box": box, "mask_kind": mask_kind,
                                            "mask": "uploaded" if mask_path else None}), "source": image.filename}
        service.stamp_files(paths, rec)  # the record the files carry is the one recorded and answered
        return rec

    rec = await server.work(guarded(run))
    return await server.in_thread(server.answer, s, rid, folder, rec, started, tag_list)


@router.post("/{model_id}/superres", summary="enlarge an uploaded picture")
async def superres(model_id: str, request: Request, server: ServerDep, image: Annotated[UploadFile, File()],
                   tile: Annotated[int | None, Form(ge=1)] = None, seed: Annotated[int, Form(ge=0)] = 0,
                   tags: Annotated[str, Form()] = ""):
    return await picture_task(server, model_id, request, "superres", image, seed, tags, tile=tile)


@router.post("/{model_id}/translate", summary="translate an uploaded picture (pix2pix)")
async def translate(model_id: str, request: Request, server: ServerDep, image: Annotated[UploadFile, File()],
                    seed: Annotated[int, Form(ge=0)] = 0, tags: Annotated[str, Form()] = ""):
    return await picture_task(server, model_id, request, "translate", image, seed, tags)


async def picture_task(server: Server, model_id: str, request: Request, task: str, image: UploadFile, seed: int,
                       tags: str, **options: Any):
    s = server.model_of(model_id)
    if not get_task(task).supports(s.model):
        raise APIError(400, f"model '{s.id}' does not {'enlarge' if task == 'superres' else 'translate'} pictures; "
                            f"its tasks are: {', '.join(describe(s)['tasks'])}", "model")
    tag_list = server.check_tags(form_tags(tags))  # refused before any work
    rid, folder = server.request_folder(s, request)
    source = await save_upload(server, image, folder, UPLOAD_STEM, "image")
    started = time.monotonic()

    def run():
        out = folder / f"output{'_x' + str(s.model.config.scale) if task == 'superres' else ''}.png"
        if task == "superres":
            service.upscale_picture(s.model, source, out, tile=options.get("tile"), seed=seed)
        else:
            service.translate_picture(s.model, source, out, seed=seed)
        rec = {**service.provenance_record(s.model, s.folder, s.run, f"serve {task}", seed,
                                           {k: v for k, v in options.items() if v is not None}),
               "source": image.filename}
        service.stamp_files([out], rec)
        return rec

    rec = await server.work(guarded(run))
    return await server.in_thread(server.answer, s, rid, folder, rec, started, tag_list)


async def save_upload(server: Server, upload: UploadFile, folder: Path, stem: str, field: str) -> Path:
    """The uploaded picture, checked (size, pixels, readable) and kept in the request's folder."""
    from PIL import Image, UnidentifiedImageError

    limits = server.limits
    data = await upload.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise APIError(413, f"{field} is over the server's limit of {limits.max_upload_bytes:,} bytes; send a "
                            "smaller file", field)
    if not data:
        raise APIError(400, f"{field} is empty; send a PNG or JPEG picture", field)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as im:
            width, height, fmt = im.width, im.height, (im.format or "png").lower()
            if width * height > limits.max_image_pixels:
                raise APIError(413, f"{field} is {width}x{height} pixels, over the server's limit of "
                                    f"{limits.max_image_pixels:,} pixels; send a smaller picture", field)
            im.load()  # a truncated or corrupt file fails here, not in the model
    except APIError:
        raise
    except Image.DecompressionBombError:
        raise APIError(413, f"{field} claims more pixels than the server's limit of {limits.max_image_pixels:,} "
                            "(a decompression bomb?); send a smaller picture", field) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise APIError(400, f"{field} is not a readable picture ({type(e).__name__}); send a PNG or JPEG file",
                       field) from None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.{'jpg' if fmt == 'jpeg' else fmt}"
    path.write_bytes(data)
    return path


@router.post("/{model_id}/interpolate", summary="the pictures between two uploaded pictures (VAE latent space)")
async def interpolate(model_id: str, request: Request, server: ServerDep,
                      a: Annotated[UploadFile, File(description="the first picture (PNG or JPEG)")],
                      b: Annotated[UploadFile, File(description="the second picture")],
                      steps: Annotated[int, Form(ge=2, le=64)] = 8,
                      condition: Annotated[int | None, Form(ge=0)] = None, tags: Annotated[str, Form()] = ""):
    s = server.model_of(model_id)
    if not get_task("interpolate").supports(s.model):
        raise APIError(400, f"model '{s.id}' ({s.model.family} family) has no encoder to interpolate in; serve a "
                            "VAE", "model")
    tag_list = server.check_tags(form_tags(tags))  # refused before any work
    rid, folder = server.request_folder(s, request)
    first = await save_upload(server, a, folder, f"{UPLOAD_STEM}-a", "a")
    second = await save_upload(server, b, folder, f"{UPLOAD_STEM}-b", "b")
    started = time.monotonic()

    def run():
        rec = {**service.provenance_record(s.model, s.folder, s.run, "serve interpolate", None,
                                           {"steps": steps, "condition": condition}), "source": f"{a.filename} -> {b.filename}"}
        service.interpolate_pictures(s.model, first, second, folder / "interpolation", steps=steps,
                                     condition=condition, rec=rec)
        return rec

    rec = await server.work(guarded(run))
    return await server.in_thread(server.answer, s, rid, folder, rec, started, tag_list)
