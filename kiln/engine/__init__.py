"""The workflow engine: runs an image's build, test and distribution workflows for real.

    status.py       the image status machine (transition table + guards): the only writer
    queue.py        work items with lease + heartbeat (claimed by kiln.executors)
    owners.py       lease owners (host:pid:start:nonce) and whether one is a dead process
    ledger.py       resources written down before they are created; swept after any ending
    plan.py         BuildPlan, resolved by the service when a build is requested
    executions.py   workflow / step execution records and their API views
    runner.py       one workflow document, step by step: `if`, inputs, timeouts, onFailure,
                    rollback in reverse order, WaitForAction parking
    actions.py      the step-action registry (LaunchInstance, ExecuteComponents, ...)
    container.py    a container recipe's rendered Dockerfile applied in a build instance
    build.py        run_build: PENDING → ... → AVAILABLE | FAILED | CANCELLED
    logs.py         where a build's logs are, and BuildLogs to read them as they are written
    host.py         the BuildHost port; podman_host.py (PodmanBuildHost), fakes.py (tests)

Errors: step failures are BuildErrors, recorded on the image's state.reason and the step
execution's message; IllegalTransitionError (KilnError) for a refused status change.
"""

from kiln.engine.build import BuildOutcome, BuildResult, run_build
from kiln.engine.context import BuildRun, EngineConfig
from kiln.engine.host import BuildHost, PublishTarget
from kiln.engine.status import IllegalTransitionError, ImageStatus, transition

__all__ = [
    "BuildHost",
    "BuildOutcome",
    "BuildResult",
    "BuildRun",
    "EngineConfig",
    "IllegalTransitionError",
    "ImageStatus",
    "PublishTarget",
    "run_build",
    "transition",
]
