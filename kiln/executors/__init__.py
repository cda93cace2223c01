"""Where engine work runs: in-process worker threads (the embedded default)."""

from kiln.executors.threads import ThreadExecutor

__all__ = ["ThreadExecutor"]
