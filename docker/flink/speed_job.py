"""Keeps the speed layer's PyFlink job running on the Flink cluster (the ``speed-job`` service).

When no live job of that name is on the cluster, it submits one the way any Flink user would:

    flink run --detached [--fromSavepoint <newest retained checkpoint>] \\
        --python /opt/websessions/$SPEED_JOB --checkpoint-dir $FLINK_CHECKPOINT_DIR

(``SPEED_JOB`` is ``streaming/sessions_job.py``). The job takes Kafka and topic names from the
``WEBSESSIONS_*`` settings of this container, checkpoints into the volume shared by the JobManager and
the TaskManagers, and keeps its checkpoints when it is cancelled or fails. Submitting from the newest
one restores the operators' state and the Kafka offsets that belong to it, exactly as the local runner does
(``streaming.runner.latest_checkpoint``): nothing lost, nothing counted twice; the HBase writer absorbs
the re-emitted updates. Once the new job has completed a checkpoint of its own, older job directories
are removed (``streaming.runner.prune_checkpoints``).

``--once``: submit if needed, wait until the job is live, exit (``docker compose run --rm speed-job
--once``). Without it the service watches every ``--interval`` seconds and resubmits after a JobManager
restart or a job failure. To stop the speed layer, stop this service first, then cancel the job.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import flink_rest

from streaming.runner import latest_checkpoint, prune_checkpoints
from websessions.settings import load_settings

log = logging.getLogger("speed-job")
PROJECT_DIR = Path(__file__).resolve().parents[2]  # /opt/websessions in the image


def submit_command(job_file: Path, checkpoint_root: Path, restore_from: Path | None) -> list[str]:
    restore = ["--fromSavepoint", str(restore_from)] if restore_from else []
    return ["flink", "run", "--detached", *restore, "--python", str(job_file), "--checkpoint-dir", str(checkpoint_root)]


def wait_until_live(name: str, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = flink_rest.live_jobs(name)
        if jobs:
            return jobs
        time.sleep(2)
    return []


def ensure_running(name: str, job_file: Path, checkpoint_root: Path, submit_timeout_s: float) -> bool:
    """Submit the job unless a live one exists; True once it is live."""
    jobs = flink_rest.live_jobs(name)
    if jobs:
        prune_checkpoints(checkpoint_root, jobs[0]["jid"])
        return True
    restore_from = latest_checkpoint(checkpoint_root)
    command = submit_command(job_file, checkpoint_root, restore_from)
    log.info("no live job %r: submitting (%s)", name, f"restoring {restore_from}" if restore_from else "no checkpoint")
    # The client's exit status is not the verdict: a detached submission may return before the job is
    # listed, and waiting on a detached result can fail although the job runs. The REST API decides.
    result = subprocess.run(command, cwd=PROJECT_DIR, check=False)
    jobs = wait_until_live(name, submit_timeout_s)
    if jobs:
        log.info("job %s is %s", jobs[0]["jid"], jobs[0]["state"])
        return True
    log.error("the job is not live %.0f s after submission (flink run exited %d)", submit_timeout_s, result.returncode)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="submit if needed, wait until live, exit")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between checks")
    parser.add_argument("--submit-timeout", type=float, default=180.0, help="seconds to wait for a submitted job")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settings = load_settings(create_secrets=False)
    name = flink_rest.speed_job_name(settings.kafka_topic_events)
    job_file = PROJECT_DIR / os.environ.get("SPEED_JOB", "streaming/sessions_job.py")
    checkpoint_root = Path(os.environ.get("FLINK_CHECKPOINT_DIR", "/var/lib/flink/checkpoints"))
    if not job_file.is_file():
        log.error("no job file %s (SPEED_JOB)", job_file)
        return 2
    checkpoint_root.mkdir(parents=True, exist_ok=True)
    if args.once:
        return 0 if ensure_running(name, job_file, checkpoint_root, args.submit_timeout) else 1
    while True:
        try:
            ensure_running(name, job_file, checkpoint_root, args.submit_timeout)
        except OSError as exc:  # the JobManager restarting: its REST API is briefly unreachable
            log.warning("flink REST API: %s", exc)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
