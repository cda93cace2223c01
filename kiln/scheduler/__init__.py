"""Pipeline schedules: a thread that starts ENABLED scheduled pipelines when their time comes.

    due.py           when a pipeline's schedule fires next, in the schedule's time zone (pure)
    dependencies.py  EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE: is there anything new?
    checkpoint.py    the last moment the schedules were checked, kept in the data directory
    scheduler.py     PipelineScheduler: tick() every minute, starting pipelines through the
                     StartImagePipelineExecution path (kiln.services.imagebuilder.builds)

A run missed while Kiln was stopped starts once when Kiln comes back (the checkpoint is older
than the fire time); a run already started is never started again: the window begins at the
later of the checkpoint and the pipeline's dateLastRun, which is written in the transaction
that starts the build.
"""

from kiln.scheduler.due import next_fire
from kiln.scheduler.scheduler import PipelineScheduler, ScheduledRun

__all__ = ["PipelineScheduler", "ScheduledRun", "next_fire"]
