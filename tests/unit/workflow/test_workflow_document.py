"""Workflow documents: valid examples accepted, invalid ones rejected with precise locations."""

from __future__ import annotations

import json
import textwrap

import pytest

from kiln.workflow import (
    ACTIONS,
    OnFailure,
    ParameterType,
    WorkflowDocumentInvalidError,
    WorkflowType,
    managed_workflows,
    parse_workflow,
)

# Shaped after the AWS user guide's sample test workflow (image-workflow-create-document).
SAMPLE_TEST = """\
---
name: sample-test-image
description: Workflow for a sample image, with extra configuration options exposed.
schemaVersion: 1.0

parameters:
  - name: waitForActionAtEnd
    type: boolean
    default: true
    description: "Wait for an external action at the end of the workflow"

steps:
  - name: LaunchTestInstance
    action: LaunchInstance
    onFailure: Abort
    inputs:
      waitFor: "ssmAgent"

  - name: ApplyTestComponents
    action: ExecuteComponents
    onFailure: Abort
    inputs:
      instanceId.$: "$.stepOutputs.LaunchTestInstance.instanceId"

  - name: TerminateTestInstance
    action: TerminateInstance
    onFailure: Continue
    inputs:
      instanceId.$: "$.stepOutputs.LaunchTestInstance.instanceId"

  - name: WaitForActionAtEnd
    action: WaitForAction
    if:
      booleanEquals: true
      value: "$.parameters.waitForActionAtEnd"
"""

# The CDK README's BUILD example, in JSON.
CDK_BUILD = {
    "schemaVersion": "1.0",
    "steps": [
        {"name": "LaunchBuildInstance", "action": "LaunchInstance", "onFailure": "Abort",
         "inputs": {"waitFor": "ssmAgent"}},
        {"name": "ExecuteComponents", "action": "ExecuteComponents", "onFailure": "Abort",
         "inputs": {"instanceId": "i-123"}},
        {"name": "CreateImage", "action": "CreateImage", "onFailure": "Abort",
         "inputs": {"instanceId": "i-123"}},
        {"name": "TerminateInstance", "action": "TerminateInstance", "onFailure": "Continue",
         "inputs": {"instanceId": "i-123"}},
    ],
    "outputs": [{"name": "ImageId", "value": "$.stepOutputs.CreateImage.imageId"}],
}  # fmt: skip

# A build workflow exercising the step-action page's examples: WaitForAction with an SNS topic
# and an interpolated payload, RunCommand with parameters, ExecuteStateMachine.
RICH_BUILD = """\
schemaVersion: 1.0
parameters:
  - name: topic
    type: string
  - name: retries
    type: integer
    default: 3
  - name: packages
    type: stringList
    default: ["curl", "jq"]
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    timeoutSeconds: 7200
    inputs:
      waitFor: ssmAgent
      instanceTypesOverride: ["t3.large"]
  - name: WaitForSSM
    action: WaitForSSMAgent
    timeoutSeconds: 10800
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
  - name: SendHello
    action: RunCommand
    rollbackEnabled: false
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
      documentName: AWS-RunShellScript
      parameters:
        commands: ["echo {{ $.imagebuilder.imageName }} {{ $.parameters.retries }}"]
  - name: Approve
    action: WaitForAction
    timeoutSeconds: 259200
    inputs:
      snsTopicArn.$: "$.parameters.topic"
      payload: '{"instance": "{{ $.stepOutputs.LaunchBuildInstance.instanceId }}"}'
  - name: Notify
    action: ExecuteStateMachine
    if:
      or:
        - numberGreaterThan: 2
          value: "$.parameters.retries"
        - not:
            stringEquals: "Approve"
            value: "$.stepOutputs.Approve.action"
    inputs:
      stateMachineArn: arn:aws:states:us-east-1:111122223333:stateMachine:x
      input: '{"out": "{{ $.stepOutputs.SendHello.output[0] }}"}'
  - name: CreateOutputAMI
    action: CreateImage
    rollbackEnabled: "$.parameters.topic"
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
  - name: Terminate
    action: TerminateInstance
    onFailure: Continue
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
outputs:
  - name: ImageId
    value: "$.stepOutputs.CreateOutputAMI.imageId"
  - name: FromEarlierWorkflow
    value: "$.workflowOutputs.Something"
"""


def test_sample_test_workflow_accepted() -> None:
    doc = parse_workflow(SAMPLE_TEST, workflow_type="TEST")
    assert doc.name == "sample-test-image"
    assert doc.workflow_type is WorkflowType.TEST
    assert [s.name for s in doc.steps][-1] == "WaitForActionAtEnd"
    (param,) = doc.parameters
    assert (param.type, param.default, param.has_default) == (ParameterType.BOOLEAN, True, True)
    terminate = doc.step("TerminateTestInstance")
    assert terminate.on_failure is OnFailure.CONTINUE
    assert terminate.timeout_seconds == ACTIONS["TerminateInstance"].default_timeout == 1800
    assert terminate.rollback_enabled is True


def test_cdk_json_build_accepted() -> None:
    doc = parse_workflow(json.dumps(CDK_BUILD), workflow_type=WorkflowType.BUILD)
    assert [o.name for o in doc.outputs] == ["ImageId"]


def test_rich_build_accepted_and_inputs_resolve() -> None:
    doc = parse_workflow(RICH_BUILD, workflow_type="BUILD")
    assert doc.step("LaunchBuildInstance").timeout_seconds == 7200
    assert doc.step("CreateOutputAMI").rollback_enabled == "$.parameters.topic"
    context = {
        "parameters": {"topic": "arn:aws:sns:us-east-1:1:t", "retries": 3},
        "imagebuilder": {"imageName": "demo"},
        "stepOutputs": {
            "LaunchBuildInstance": {"instanceId": "i-0abc"},
            "SendHello": {"output": ["hello", "x"]},
        },
    }
    approve = doc.step("Approve").resolve_inputs(context)
    assert approve == {
        "snsTopicArn": "arn:aws:sns:us-east-1:1:t",
        "payload": '{"instance": "i-0abc"}',
    }
    hello = doc.step("SendHello").resolve_inputs(context)
    assert hello["parameters"] == {"commands": ["echo demo 3"]}
    assert hello["instanceId"] == "i-0abc"
    assert doc.step("Notify").resolve_inputs(context)["input"] == '{"out": "hello"}'


@pytest.mark.parametrize("name", sorted(managed_workflows()))
def test_managed_workflows_pass_the_validator(name: str) -> None:
    managed = managed_workflows()[name]
    doc = parse_workflow(managed.data, workflow_type=managed.workflow_type)
    assert doc == managed.document
    assert doc.name == name


def test_managed_build_image_is_canonical() -> None:
    doc = managed_workflows()["build-image"].document
    assert [s.action.name for s in doc.steps] == [
        "LaunchInstance", "ExecuteComponents", "CollectImageMetadata", "SanitizeInstance",
        "RunSysPrep", "CreateImage", "TerminateInstance",
    ]  # fmt: skip
    assert doc.steps[-1].on_failure is OnFailure.CONTINUE
    assert [(o.name, o.value) for o in doc.outputs] == [
        ("ImageId", "$.stepOutputs.CreateOutputAMI.imageId")
    ]


def doc_with_steps(steps: str, *, head: str = "") -> str:
    return (
        "schemaVersion: 1.0\n"
        + textwrap.dedent(head)
        + "steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "  ")
    )


LAUNCH = """\
- name: Launch
  action: LaunchInstance
  inputs: {waitFor: ssmAgent}
"""

INVALID = [
    ("not yaml: [", "BUILD", "", "not valid YAML or JSON"),
    ("- a list", "BUILD", "", "must be a YAML or JSON mapping"),
    ("steps: []\n", "BUILD", "schemaVersion", "schemaVersion is required"),
    ("schemaVersion: 2.0\nsteps: []", "BUILD", "schemaVersion", "must be 1.0"),
    ("schemaVersion: 1.0\n", "BUILD", "steps", "steps is required"),
    ("schemaVersion: 1.0\nsteps: []\n", "BUILD", "steps", "non-empty list"),
    ("schemaVersion: 1.0\nfoo: 1\nsteps:\n" + textwrap.indent(LAUNCH, "  "), "BUILD", "foo",
     "unknown key 'foo'"),
    ("schemaVersion: 1.0\nname: [x]\nsteps:\n" + textwrap.indent(LAUNCH, "  "), "BUILD", "name",
     "name must be a string"),
    (doc_with_steps("".join(
        f"- name: Wait{i}\n  action: WaitForAction\n" for i in range(16))), "BUILD", "steps",
     "at most 15 steps, not 16"),
    (doc_with_steps("- name: 1bad\n  action: WaitForAction\n"), "BUILD", "steps[0].name",
     "must match ^[A-Za-z]"),
    (doc_with_steps("- name: A\n  action: WaitForAction\n"), "BUILD", "steps[0].name",
     "must match"),
    (doc_with_steps("- name: Same\n  action: WaitForAction\n"
                    "- name: Same\n  action: WaitForAction\n"),
     "BUILD", "steps[1] 'Same'.name", "duplicate step name 'Same'"),
    (doc_with_steps("- name: Step1\n  action: Reboot\n"), "BUILD", "steps[0] 'Step1'.action",
     "unknown step action 'Reboot'"),
    (doc_with_steps("- name: Step1\n"), "BUILD", "steps[0] 'Step1'.action", "action is required"),
    (doc_with_steps("- name: Scan\n  action: CollectImageScanFindings\n"
                    "  inputs: {instanceId: i-1}\n"),
     "BUILD", "steps[0] 'Scan'.action", "not allowed in a BUILD workflow (only TEST)"),
    (doc_with_steps("- name: Make\n  action: CreateImage\n  inputs: {instanceId: i-1}\n"),
     "TEST", "steps[0] 'Make'.action", "CreateImage is not allowed in a TEST workflow"),
    (doc_with_steps("- name: Launch\n  action: LaunchInstance\n"), "DISTRIBUTION",
     "steps[0] 'Launch'.action", "not allowed in a DISTRIBUTION workflow"),
    (doc_with_steps("- name: Step1\n  action: WaitForAction\n  description: ''\n"), "BUILD",
     "steps[0] 'Step1'.description", "1 to 1024 characters"),
    (doc_with_steps("- name: Step1\n  action: WaitForAction\n  onFailure: Retry\n"), "BUILD",
     "steps[0] 'Step1'.onFailure", "must be Abort or Continue, not 'Retry'"),
    (doc_with_steps("- name: Step1\n  action: WaitForAction\n  onFailure: abort\n"), "BUILD",
     "steps[0] 'Step1'.onFailure", "must be Abort or Continue"),
    (doc_with_steps("- name: Step1\n  action: WaitForAction\n  rollbackEnabled: maybe\n"), "BUILD",
     "steps[0] 'Step1'.rollbackEnabled", "boolean or JSONPath"),
    (doc_with_steps("- name: Step1\n  action: WaitForAction\n"
                    "  rollbackEnabled: $.parameters.nope\n"),
     "BUILD", "steps[0] 'Step1'.rollbackEnabled", "no parameter named 'nope'"),
    (doc_with_steps("- name: Step1\n  action: WaitForAction\n  timeoutSeconds: 0\n"), "BUILD",
     "steps[0] 'Step1'.timeoutSeconds", "from 1 to 259200 for WaitForAction, not 0"),
    (doc_with_steps(LAUNCH + "- name: Term\n  action: TerminateInstance\n  timeoutSeconds: 86400\n"
                    "  inputs: {instanceId.$: $.stepOutputs.Launch.instanceId}\n"),
     "BUILD", "steps[1] 'Term'.timeoutSeconds", "from 1 to 43200 for TerminateInstance"),
    (doc_with_steps("- name: Step1\n  action: WaitForAction\n  timeoutSeconds: '60'\n"), "BUILD",
     "steps[0] 'Step1'.timeoutSeconds", "must be an integer"),
    (doc_with_steps("- name: Launch\n  action: LaunchInstance\n"), "BUILD",
     "steps[0] 'Launch'.inputs", "LaunchInstance requires input 'waitFor'"),
    (doc_with_steps("- name: Launch\n  action: LaunchInstance\n"
                    "  inputs: {waitFor: ssmAgent, color: red}\n"),
     "BUILD", "steps[0] 'Launch'.inputs.color", "LaunchInstance has no input 'color'"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId: i-1, instanceId.$: $.stepOutputs.Launch.instanceId}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$", "input 'instanceId' is given twice"),
    (doc_with_steps("- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: $.stepOutputs.Later.instanceId}\n" +
                    LAUNCH.replace("Launch", "Later")),
     "BUILD", "steps[0] 'Apply'.inputs.instanceId.$",
     "step 'Later' is not an earlier step (a later step)"),
    (doc_with_steps("- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: $.stepOutputs.Apply.instanceId}\n"),
     "BUILD", "steps[0] 'Apply'.inputs.instanceId.$", "is not an earlier step"),
    (doc_with_steps("- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: $.stepOutputs.Ghost.instanceId}\n"),
     "BUILD", "steps[0] 'Apply'.inputs.instanceId.$", "(no such step)"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: $.stepOutputs.Launch.imageId}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$", "LaunchInstance has no output 'imageId'"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: $.parameters.instance}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$", "no parameter named 'instance' is declared"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: $.imagebuilder.instanceId}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$",
     "unknown Image Builder variable 'instanceId'"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: $.env.HOME}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$", "a path starts with $.parameters"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: stepOutputs.Launch.instanceId}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$", "must start with '$'"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: '$.stepOutputs.Launch[x]'}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$", "unexpected '[x]'"),
    (doc_with_steps(LAUNCH + "- name: Apply\n  action: ExecuteComponents\n"
                    "  inputs: {instanceId.$: 5}\n"),
     "BUILD", "steps[1] 'Apply'.inputs.instanceId.$", "needs a JSONPath string"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n"
                    "  inputs: {payload: 'x {{ $.parameters.missing }}'}\n"),
     "BUILD", "steps[0] 'Wait'.inputs.payload", "no parameter named 'missing'"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n  if: {booleanEquals: true}\n"),
     "BUILD", "steps[0] 'Wait'.if", "booleanEquals needs a 'value'"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n  if: {equals: 1, value: 1}\n"),
     "BUILD", "steps[0] 'Wait'.if", "exactly one of and, or, not or a comparison"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n  if: {and: []}\n"),
     "BUILD", "steps[0] 'Wait'.if.and", "list of 1 to 10 conditions"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n  if:\n    and:\n"
                    + "".join("      - {booleanEquals: true, value: true}\n" for _ in range(11))),
     "BUILD", "steps[0] 'Wait'.if.and", "list of 1 to 10 conditions"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n  if:\n    not:\n      not:\n"
                    "        not:\n          not: {booleanEquals: true, value: true}\n"),
     "BUILD", "steps[0] 'Wait'.if.not.not.not.not", "at most 4 levels deep"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n  if: {numberEquals: abc, value: 1}\n"),
     "BUILD", "steps[0] 'Wait'.if.numberEquals", "'abc' is not valid for numberEquals"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n"
                    "  if: {stringEquals: AMI, value: $.imagebuilder.imageKind}\n"),
     "BUILD", "steps[0] 'Wait'.if.value", "unknown Image Builder variable 'imageKind'"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n"
                    "  if: {stringEquals: AMI, value: x, extra: 1}\n"),
     "BUILD", "steps[0] 'Wait'.if.extra", "unexpected key 'extra' beside stringEquals"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n  retries: 3\n"),
     "BUILD", "steps[0] 'Wait'.retries", "unknown key 'retries'"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  - name: p\n    type: number\n"),
     "BUILD", "parameters[0] 'p'.type", "type must be one of string, integer, boolean, stringList"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  - name: p\n    type: integer\n    default: '3'\n"),
     "BUILD", "parameters[0] 'p'.default", "default '3' is not a valid integer"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  - name: p\n    type: boolean\n    default: 'true'\n"),
     "BUILD", "parameters[0] 'p'.default", "is not a valid boolean"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  - name: p\n    type: stringList\n    default: [1, 2]\n"),
     "BUILD", "parameters[0] 'p'.default", "is not a valid stringList"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  - name: p\n    default: 3\n"),
     "BUILD", "parameters[0] 'p'.default", "default 3 is not a valid string"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  - name: p\n  - name: p\n"),
     "BUILD", "parameters[1] 'p'.name", "duplicate parameter name 'p'"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  p: {type: string}\n"),
     "BUILD", "parameters", "must be a list of mappings"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n",
                    head="parameters:\n  - type: string\n"),
     "BUILD", "parameters[0].name", "needs a name"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n") + "outputs:\n  - name: X\n"
     "    value: $.stepOutputs.Wait.imageId\n",
     "BUILD", "outputs[0] 'X'.value", "WaitForAction has no output 'imageId'"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n") + "outputs:\n  - name: X\n"
     "    value: $.stepOutputs.Wait.action\n  - name: X\n    value: $.stepOutputs.Wait.reason\n",
     "BUILD", "outputs[1] 'X'.name", "duplicate output name 'X'"),
    (doc_with_steps("- name: Wait\n  action: WaitForAction\n") + "outputs:\n  - value: x\n",
     "BUILD", "outputs[0].name", "an output needs a name"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "location", "message"), INVALID)
def test_invalid_documents(text: str, kind: str, location: str, message: str) -> None:
    with pytest.raises(WorkflowDocumentInvalidError) as info:
        parse_workflow(text, workflow_type=kind)
    problems = info.value.problems
    assert any(p.location == location and message in p.message for p in problems), problems
    assert info.value.code == "InvalidParameterValueException"


def test_enough_invalid_cases() -> None:
    assert len(INVALID) >= 25


def test_all_problems_are_collected() -> None:
    text = doc_with_steps(
        "- name: Launch\n  action: LaunchInstance\n  onFailure: Never\n"
        "- name: Launch\n  action: Bogus\n",
        head="parameters:\n  - name: p\n    type: float\n",
    )
    with pytest.raises(WorkflowDocumentInvalidError) as info:
        parse_workflow(text, workflow_type="BUILD")
    locations = [p.location for p in info.value.problems]
    assert locations == [
        "parameters[0] 'p'.type",
        "steps[0] 'Launch'.onFailure",
        "steps[0] 'Launch'.inputs",
        "steps[1] 'Launch'.name",
        "steps[1] 'Launch'.action",
    ]
    assert "steps[0] 'Launch'.onFailure: onFailure must be Abort" in info.value.message


def test_document_length_limit() -> None:
    with pytest.raises(WorkflowDocumentInvalidError, match="at most 16000"):
        parse_workflow("#" * 16001, workflow_type="BUILD")


def test_unknown_workflow_type() -> None:
    with pytest.raises(ValueError, match="DEPLOY"):
        parse_workflow(SAMPLE_TEST, workflow_type="DEPLOY")
