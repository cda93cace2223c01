"""The Image Builder workflow document language: pure, no I/O beyond reading packaged data.

    parse_workflow(text, workflow_type=...) -> WorkflowDocument   (document.py)
    ACTIONS, StepAction, WorkflowType                             (actions.py)
    parse_path, interpolate                                       (jsonpath.py)
    check_condition, evaluate_condition                           (conditions.py)
    managed_workflow(name), managed_workflows()                   (managed.py)

Errors: WorkflowDocumentInvalidError (a ClientError, InvalidParameterValueException, with
``problems``), JsonPathError and ConditionError (KilnError, raised while evaluating).
"""

from kiln.workflow.actions import ACTIONS, StepAction, WorkflowType, step_action
from kiln.workflow.conditions import ConditionError, check_condition, evaluate_condition
from kiln.workflow.document import (
    OnFailure,
    ParameterType,
    Problem,
    WorkflowDocument,
    WorkflowDocumentInvalidError,
    WorkflowOutput,
    WorkflowParameter,
    WorkflowStep,
    parse_workflow,
)
from kiln.workflow.jsonpath import JsonPath, JsonPathError, interpolate, parse_path
from kiln.workflow.managed import ManagedWorkflow, managed_workflow, managed_workflows

__all__ = [
    "ACTIONS",
    "ConditionError",
    "JsonPath",
    "JsonPathError",
    "ManagedWorkflow",
    "OnFailure",
    "ParameterType",
    "Problem",
    "StepAction",
    "WorkflowDocument",
    "WorkflowDocumentInvalidError",
    "WorkflowOutput",
    "WorkflowParameter",
    "WorkflowStep",
    "WorkflowType",
    "check_condition",
    "evaluate_condition",
    "interpolate",
    "managed_workflow",
    "managed_workflows",
    "parse_path",
    "parse_workflow",
    "step_action",
]
