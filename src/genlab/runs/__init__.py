"""Training run folders: ``run.json``, the best and last weights, ``metrics.jsonl``, the lock,
what a resume needs (``genlab verify`` checks them: app/service/verify.py)."""

from .run import (LOCK_FILE, METRICS_FILE, RUN_FILE, STATE_FILE, RunLock, append_metrics, check_can_write_run,
                  check_data_matches, check_resume_steps, clear_run, is_run_folder, load_run_data, read_metrics,
                  read_run_file, read_trainer_state, resolve_checkpoint_dir, resolve_weights, truncate_metrics,
                  write_run_file)

__all__ = ["LOCK_FILE", "METRICS_FILE", "RUN_FILE", "STATE_FILE", "RunLock", "append_metrics", "check_can_write_run",
           "check_data_matches", "check_resume_steps", "clear_run", "is_run_folder", "load_run_data", "read_metrics",
           "read_run_file", "read_trainer_state", "resolve_checkpoint_dir", "resolve_weights", "truncate_metrics",
           "write_run_file"]
