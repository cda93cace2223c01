"""kiln.toe: the component document language and its runner (Kiln's AWSTOE).

Public surface:
    parse_document(text, *, platform="Linux", path=None) -> Document   (DocumentInvalidError)
    component_type(document) -> "BUILD" | "TEST"
    shell_script_document(script, *, name) -> str
    run_documents(documents, *, communicator, log_dir, ...) -> RunResult
    Communicator (port), LocalCommunicator, FakeCommunicator, ObjectStore (port)
"""

from kiln.toe.communicator import Communicator, CommunicatorError, ExecOutcome
from kiln.toe.document import (
    Constant,
    Document,
    Loop,
    Parameter,
    Phase,
    RunDocument,
    Step,
    component_type,
    shell_script_document,
)
from kiln.toe.errors import DocumentInvalidError, Problem, ToeRunError
from kiln.toe.fake import FakeCommunicator, Scripted
from kiln.toe.loader import DocumentLoader, LoadedDocument
from kiln.toe.local import LocalCommunicator
from kiln.toe.objectstore import MemoryObjectStore, ObjectStore, ObjectStoreError
from kiln.toe.results import RunResult
from kiln.toe.runner import run_documents
from kiln.toe.validate import parse_document

__all__ = [
    "Communicator",
    "CommunicatorError",
    "Constant",
    "Document",
    "DocumentInvalidError",
    "DocumentLoader",
    "ExecOutcome",
    "FakeCommunicator",
    "LoadedDocument",
    "LocalCommunicator",
    "Loop",
    "MemoryObjectStore",
    "ObjectStore",
    "ObjectStoreError",
    "Parameter",
    "Phase",
    "Problem",
    "RunDocument",
    "RunResult",
    "Scripted",
    "Step",
    "ToeRunError",
    "component_type",
    "parse_document",
    "run_documents",
    "shell_script_document",
]
