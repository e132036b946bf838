"""The work behind every command, shared by the CLI and the server: find a run's weights, load
its model and data, sample with checked arguments, render, run the tasks on a person's pictures,
record what was generated, evaluate, de-duplicate and search.

Every function here raises a :class:`~genlab.errors.GenlabError` with a one-line message for a
user's mistake, so a caller can show it as it is. Callers use ``service.NAME``; the modules are:

* :mod:`.models`: runs, models, sampling and provenance records;
* :mod:`.samples`: recording generated files in the registry, scoring a batch;
* :mod:`.pictures`: inpainting, super-resolution, translation;
* :mod:`.evaluation`: the likelihood, sample quality, scores against the truth;
* :mod:`.search`: de-duplication and nearest-neighbour search.
"""

from ...runs import check_data_matches, resolve_weights  # noqa: F401  (re-exported: callers find them here)
from .models import (  # noqa: F401
    MAX_SAMPLES, MAX_NEW_TOKENS, MAX_IW_SAMPLES, RESERVED_SAMPLE_ARGS, load_model, run_data, sample_parameters,
    check_sample_args, check_count, draw_samples, with_display_defaults, data_condition, render_stamped_files,
    check_sample_out, write_samples, provenance_record, samples_as_text)
from .samples import (  # noqa: F401
    record_samples, rescore_sample, batch_scorer, score_batch)
from .pictures import (  # noqa: F401
    INPAINT_FILES, GREY_MODES, read_image, refuse_grey_for_rgb, inpaint_mask, inpaint_outputs, inpaint_picture,
    stamp_files, read_picture, superres, upscale_levels, upscale_picture,
    picture_outputs, read_source_image, translation_size, translate_levels, translate_picture,
    picture_png, write_picture, interpolate_pictures)
from .generate import Generated, generate  # noqa: F401
from .evaluation import (  # noqa: F401
    evaluate_likelihood, load_features, evaluate_quality, require_run_folder, paired_eval_data, evaluate_restoration)
from .search import (  # noqa: F401
    DEDUP_FILES, MAX_GROUPS_SHOWN, MAX_K, indexed_data, dedup, dedup_markdown, read_query, search, example_file)
