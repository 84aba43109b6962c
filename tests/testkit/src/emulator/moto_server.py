"""moto_server, with the fixes the tests and the bench need.

With `LOCAL_PLANE_HOOK` set (the hook URL of the local data plane, `cargo
xtask up`), it first imports `plane_patches.py`, which fits moto to the
plane; without it, moto is as described here.

moto 5.2.5's TransactWriteItems deep-copies every table it touches (once per
action) so that it can roll back a cancelled transaction: a transaction costs
time in proportion to the size of its table. A ledger table grows with every
event, so the emulator slows down as a test, the simulator or the bench runs,
and a big table written by one test slows every other. This launcher keeps
moto's transaction exactly as it is but snapshots only the items the
transaction touches, and restores (or deletes) those on rollback: the same
behaviour, in time proportional to the transaction.

moto 5.2.5's ExecuteChangeSet updates a stack's template and resources but
not the parameters it compares the next change set with: a change set that
puts a parameter back to its value at creation (a rollback to the first
release) is then refused as "didn't contain changes". AWS compares with the
parameters last deployed; so does this launcher.

moto 5.2.5 answers a change set whose execution fails with an error and
leaves the stack in REVIEW_IN_PROGRESS with what it created. AWS accepts
the execution, then rolls the stack back: a failed first create ends in
ROLLBACK_COMPLETE, its resources deleted except those a `Retain` policy
keeps, unless the execution said `RetainExceptOnCreate` (delete what this
operation created, whatever its policy) or `DisableRollback` (keep it all,
CREATE_FAILED). This launcher does the same, so the deploy's recovery is
tested against what AWS does.

moto 5.2.5 ignores a stack update of a DynamoDB table (it has no update
handler for the type), and does not see that a resource changes when only
a parameter behind one of its conditions (`Fn::If`) does: AWS updates
`DeletionProtectionEnabled` in place when its condition turns, and so does
this launcher.

moto 5.2.5 computes a stack's outputs only when the stack is created or
updated directly, never after a change set; AWS reports them after either.
It also reads every template with Python's YAML reader, ~100 ms for ours,
several times a deploy: this launcher reads JSON as JSON.

moto 5.2.5 replays every archived event to every rule of the bus: it
ignores the replay's window and its `FilterArns`. AWS replays the events of
the window, to the rules named only (a replay onto one rule is how
`cargo xtask replay --detail-type` narrows it); so does this launcher.

moto 5.2.5 has no resource import: an `IMPORT` change set is taken for a
`CREATE` (its `ResourcesToImport` ignored) and its execution creates the
resources again, which fails on every name a retained resource still holds.
AWS checks that every resource of the template is named in
`ResourcesToImport`, has a `DeletionPolicy` and exists, that a new stack
gets no outputs, lists the resources with the action `Import`, and on
execution takes the existing resources into the stack, untouched, ending
`IMPORT_COMPLETE`
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html).
This launcher does the same for the types the stack retains (a DynamoDB
table, SQS queues, log groups, an EventBridge bus and archive, KMS keys);
another type's import fails the change set, saying so.

moto 5.2.5's EventBridge bus and archive have no physical id (a `Ref` to
one yields moto's object); AWS's is the name, which `Ref` returns and
CloudFormation records. So does this launcher.

moto 5.2.5 lists the resources a deleted stack kept as `CREATE_COMPLETE`;
AWS lists them, by the deleted stack's id, as `DELETE_SKIPPED` (and what it
deleted as `DELETE_COMPLETE`, which moto forgets). So does this launcher.

moto 5.2.5's GetTemplate ignores `ChangeSetName` and returns the stack's
template; AWS returns the change set's. So does this launcher.

moto 5.2.5 runs a function it is asked to invoke in Docker; here there is
none, and it writes `error running docker: …` into the function's log group
with fractional timestamps, which the SDK cannot read back (the `logs`
command then fails on that group). The tests run the functions themselves
(the Runtime and Invoke API shims, the local plane, which answers `Invoke`
before moto sees it), so this launcher answers moto's own invocation as a
failure without touching Docker or the logs. The deploy's first sweep, an
asynchronous `Invoke`, is then accepted (202) and runs nothing, as on a
stage whose function cannot start.

Started by `testkit::emulator::moto` as `python moto_server.py --port-file
FILE` with `MOTO_LAUNCH_NONCE` set: the server binds a port of 127.0.0.1 the
system picks (no other server can take it between choosing and binding),
writes it to FILE, and answers `GET /moto-api/launcher` with the nonce, so
the launcher knows the server answering is the one it started.
"""

import copy
import os
import sys

if os.environ.get("LOCAL_PLANE_HOOK"):
    # Before any other moto import: the plane's clock must replace
    # `utcnow` before moto's modules bind it by name.
    import plane_patches  # noqa: F401

from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.comparisons import get_filter_expression as _filter
from moto.cloudformation.models import CloudFormationBackend, Event, Stack
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse
from moto.awslambda.models import LambdaFunction
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.events.models import Archive, EventBus, Replay, ReplayState, events_backends


def _key_of(backend, op_type, op):
    table = backend.get_table(op["TableName"])
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def transact_write_items(self, transact_items):
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    # The items this transaction may change, as they are now.
    snapshot = []
    for item in transact_items:
        op_type, op = next(iter(item.items()))
        table_name = op.get("TableName")
        if not table_name or table_name not in self.tables:
            continue
        try:
            key = _key_of(self, op_type, op)
        except Exception:  # noqa: BLE001 - validation happens below
            continue
        current = self.get_item(table_name, key)
        before = copy.deepcopy(current.to_json()["Attributes"]) if current else None
        snapshot.append((table_name, key, before))

    def rollback():
        for table_name, key, before in reversed(snapshot):
            if before is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)

    target_items = set()

    def check_unicity(table_name, key):
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors = []
    for item in transact_items:
        original_item = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            return_old = op.get("ReturnValuesOnConditionCheckFailure")
            key = _key_of(self, op_type, op)
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition = _filter(condition_expression, names, values)
                if not condition.expr(current):
                    if return_old == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - as moto does
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


DynamoDBBackend.transact_write_items = transact_write_items


_execute_change_set = CloudFormationBackend.execute_change_set


def _find_change_set(backend, name):
    for change_set in backend.change_sets.values():
        if name in (change_set.change_set_id, change_set.change_set_name):
            return change_set
    return None


def _existing(account_id, region, resource_type, value):
    """The moto model an import's identifier names (None: there is none)."""
    if resource_type == "AWS::DynamoDB::Table":
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[account_id][region].tables.get(value)
    if resource_type == "AWS::SQS::Queue":
        from moto.sqs.models import sqs_backends

        return sqs_backends[account_id][region].queues.get(value.rsplit("/", 1)[-1])
    if resource_type == "AWS::Logs::LogGroup":
        from moto.logs.models import logs_backends

        return logs_backends[account_id][region].groups.get(value)
    if resource_type == "AWS::Events::EventBus":
        return events_backends[account_id][region].event_buses.get(value)
    if resource_type == "AWS::Events::Archive":
        return events_backends[account_id][region].archives.get(value)
    if resource_type == "AWS::KMS::Key":
        from moto.kms.models import kms_backends

        return kms_backends[account_id][region].keys.get(value)
    raise ValueError(f"this emulator cannot import a {resource_type}")


def _import_problem(backend, change_set, to_import):
    """Why AWS would fail this import change set, or None (and the models
    it names, by logical id, on `change_set.imported`)."""
    template = change_set.template_dict
    resources = template.get("Resources", {})
    named = {r["LogicalResourceId"]: r for r in to_import}
    if change_set.stack.status == "REVIEW_IN_PROGRESS" and template.get("Outputs"):
        return "As part of the import operation, you cannot modify or add [Outputs]"
    missing = sorted(set(resources) - set(named))
    if missing:
        return f"Resources {missing} are not in ResourcesToImport: an import creates nothing"
    change_set.imported = {}
    for logical_id, entry in named.items():
        resource = resources.get(logical_id)
        if resource is None:
            return f"{logical_id} is in ResourcesToImport but not in the template"
        if resource.get("Type") != entry["ResourceType"]:
            return f"{logical_id} is a {resource.get('Type')} in the template"
        if "DeletionPolicy" not in resource:
            return f"{logical_id}: resources to import need a DeletionPolicy"
        value = next(iter(entry["ResourceIdentifier"].values()), "")
        try:
            model = _existing(backend.account_id, backend.region_name, entry["ResourceType"], value)
        except ValueError as error:
            return str(error)
        if model is None:
            return f"{logical_id}: the {entry['ResourceType']} {value} does not exist"
        change_set.imported[logical_id] = model
    return None


def _execute_import(backend, change_set):
    """The existing resources taken into the stack, as they are."""
    stack = backend.stacks[change_set.stack_id]
    stack._add_stack_event("IMPORT_IN_PROGRESS", resource_status_reason="User Initiated")
    resources = stack.resource_map
    template = change_set.template_dict
    resources._template = template
    resources.input_parameters = change_set.parameters
    resources.load_mapping()
    resources.load_parameters()
    resources.load_conditions()
    resources._resource_json_map = template["Resources"]
    for logical_id, model in change_set.imported.items():
        model.logical_resource_id = logical_id
        resources._parsed_resources[logical_id] = model
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=logical_id,
                physical_resource_id=getattr(model, "physical_resource_id", ""),
                resource_type=template["Resources"][logical_id]["Type"],
                resource_status="IMPORT_COMPLETE",
                resource_status_reason="Resource import completed.",
                resource_properties=None,
            )
        )
    stack.template = change_set.template
    stack.template_dict = template
    stack.parameters = change_set.parameters
    stack.status = "IMPORT_COMPLETE"
    stack._add_stack_event("IMPORT_COMPLETE")
    change_set.execution_status = "EXECUTE_COMPLETE"


_create_change_set = CloudFormationBackend.create_change_set


def create_change_set(self, *args, **kwargs):
    to_import = getattr(self, "_resources_to_import", None)
    self._resources_to_import = None
    change_set_id, stack_id = _create_change_set(self, *args, **kwargs)
    change_set = self.change_sets[change_set_id]
    if change_set.change_set_type == "IMPORT":
        problem = _import_problem(self, change_set, to_import or [])
        if problem is not None:
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
            change_set.status_reason = problem
        for change in change_set.changes:
            change.action = "Import"
    return change_set_id, stack_id


_respond_create_change_set = CloudFormationResponse.create_change_set


def respond_create_change_set(self):
    to_import = []
    for entry in self._get_param("ResourcesToImport", []) or []:
        identifier = entry.get("ResourceIdentifier") or {}
        if "entry" in identifier:
            identifier = {e["key"]: e["value"] for e in identifier["entry"]}
        to_import.append(dict(entry, ResourceIdentifier=identifier))
    self.cloudformation_backend._resources_to_import = to_import
    return _respond_create_change_set(self)


CloudFormationResponse.create_change_set = respond_create_change_set
CloudFormationBackend.create_change_set = create_change_set


def respond_list_stack_resources(self):
    from moto.core.responses import ActionResult

    stack, resources = self.cloudformation_backend.list_stack_resources(
        self._get_param("StackName")
    )
    status = "CREATE_COMPLETE"
    if stack.status == "DELETE_COMPLETE":
        # What a deleted stack still lists is what its deletion skipped:
        # the resources still parsed (moto's map would create the others
        # again, lazily, if they were iterated).
        status = "DELETE_SKIPPED"
        declared = stack.resource_map._resource_json_map
        resources = [
            r for k, r in stack.resource_map._parsed_resources.items() if k in declared
        ]
    return ActionResult(
        {
            "StackResourceSummaries": [
                {
                    "ResourceStatus": status,
                    "LogicalResourceId": getattr(resource, "logical_resource_id", ""),
                    "LastUpdatedTimestamp": stack.creation_time,
                    "PhysicalResourceId": getattr(resource, "physical_resource_id", ""),
                    "ResourceType": getattr(resource, "cf_resource_type", ""),
                }
                for resource in resources
            ]
        }
    )


CloudFormationResponse.list_stack_resources = respond_list_stack_resources
EventBus.physical_resource_id = property(lambda self: self.name)
Archive.physical_resource_id = property(lambda self: self.name)

_respond_get_template = CloudFormationResponse.get_template


def respond_get_template(self):
    from moto.core.responses import ActionResult

    name = self._get_param("ChangeSetName")
    if not name:
        return _respond_get_template(self)
    change_set = self.cloudformation_backend.describe_change_set(change_set_name=name)
    return ActionResult({"TemplateBody": change_set.template})


CloudFormationResponse.get_template = respond_get_template


def execute_change_set(self, change_set_name, stack_name=None):
    change_set = _find_change_set(self, change_set_name)
    options = getattr(self, "_execution_options", {})
    if change_set is not None and change_set.change_set_type == "IMPORT":
        _execute_import(self, change_set)
        return
    try:
        _execute_change_set(self, change_set_name, stack_name)
    except Exception as error:
        if change_set is None or change_set.change_set_type != "CREATE":
            raise
        stack = self.stacks[change_set.stack_id]
        resources = stack.resource_map
        failed = next(
            (k for k in resources._resource_json_map if k not in resources._parsed_resources),
            stack.name,
        )
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=failed,
                physical_resource_id="",
                resource_type=resources._resource_json_map.get(failed, {}).get(
                    "Type", "AWS::CloudFormation::Stack"
                ),
                resource_status="CREATE_FAILED",
                resource_status_reason=str(error),
                resource_properties=None,
            )
        )
        if options.get("DisableRollback"):
            stack.status = "CREATE_FAILED"
            stack._add_stack_event("CREATE_FAILED", resource_status_reason=str(error))
            return
        stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=str(error))
        if options.get("RetainExceptOnCreate"):
            for resource in resources._resource_json_map.values():
                resource.pop("DeletionPolicy", None)
        resources.delete()
        stack.status = "ROLLBACK_COMPLETE"
        stack._add_stack_event("ROLLBACK_COMPLETE")
        change_set.execution_status = "EXECUTE_FAILED"
        return
    if change_set is not None:
        stack = self.stacks[change_set.stack_id]
        stack.parameters = change_set.parameters
        # AWS reports a stack's outputs once a change set created or updated
        # it; moto computes them only when a stack is created or updated
        # directly, so a deploy through change sets saw none.
        stack._parse_template()
        stack.output_map = stack._create_output_map()


_respond_execute_change_set = CloudFormationResponse.execute_change_set


def respond_execute_change_set(self):
    self.cloudformation_backend._execution_options = {
        name: self._get_param(name) in ("true", True)
        for name in ("RetainExceptOnCreate", "DisableRollback")
    }
    return _respond_execute_change_set(self)


CloudFormationResponse.execute_change_set = respond_execute_change_set


def update_table_from_cloudformation_json(
    original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    properties = cloudformation_json.get("Properties", {})
    value = properties.get("DeletionProtectionEnabled", False)
    original_resource.deletion_protection_enabled = value in (True, "true")
    return original_resource


Table.update_from_cloudformation_json = staticmethod(update_table_from_cloudformation_json)


def _refs(value):
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            yield value["Ref"]
        for inner in value.values():
            yield from _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _refs(inner)


def _conditions_used(value):
    if isinstance(value, dict):
        condition = value.get("Fn::If")
        if isinstance(condition, list) and condition and isinstance(condition[0], str):
            yield condition[0]
        for inner in value.values():
            yield from _conditions_used(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _conditions_used(inner)


_build_resource_diff = ResourceMap.build_resource_diff


def build_resource_diff(self, other_template, parameters=None):
    diff = _build_resource_diff(self, other_template, parameters)
    if parameters:
        changed = {p for p in parameters if self.input_parameters.get(p) != parameters[p]}
        turned = {
            name
            for name, condition in other_template.get("Conditions", {}).items()
            if changed & set(_refs(condition))
        }
        for name, resource in other_template.get("Resources", {}).items():
            if (
                name in self._resource_json_map
                and name not in diff["Modify"]
                and turned & set(_conditions_used(resource))
            ):
                diff["Modify"].append(name)
    return diff


def _epoch_seconds(when):
    """An archived event's `time` (ISO 8601, or seconds) in seconds."""
    import datetime

    if isinstance(when, (int, float)):
        return float(when)
    try:
        parsed = datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def replay_events(self, archive):
    import uuid

    from moto.core.utils import unix_time

    bus_name = self.destination["Arn"].split("/")[-1]
    bus = events_backends[self.account_id][self.region].describe_event_bus(bus_name)
    only = set(self.destination.get("FilterArns") or [])
    start = _epoch_seconds(self.event_start_time)
    end = _epoch_seconds(self.event_end_time)
    for event in archive.events:
        when = _epoch_seconds(event.get("time"))
        if None not in (when, start, end) and not (start <= when < end):
            continue
        for rule in bus.rules.values():
            if only and rule.arn not in only:
                continue
            rule.send_to_targets(
                dict(event, **{"id": str(uuid.uuid4()), "replay-name": self.name}),
                transform_input=False,
            )
    self.state = ReplayState.COMPLETED
    self.end_time = unix_time()


def parse_template(template):
    """A template as a dict: JSON first (every synthesized template is
    JSON, and Python's YAML reader takes ~100 ms on one, several times per
    deploy), then YAML as moto does."""
    import json

    try:
        return json.loads(template)
    except ValueError:
        return _parse_template(template)


_parse_template = Stack.parse_template
Stack.parse_template = staticmethod(parse_template)
Replay.replay_events = replay_events
LambdaFunction._invoke_lambda = lambda self, event=None: (
    "moto runs no functions here (no Docker)",
    True,
    "",
)
ResourceMap.build_resource_diff = build_resource_diff
CloudFormationBackend.execute_change_set = execute_change_set

def _launcher_identity(request, full_url, headers):
    """The nonce the launcher started this server with."""
    import os

    return 200, {"Content-Type": "text/plain"}, os.environ.get("MOTO_LAUNCH_NONCE", "")


def serve(argv):
    """moto's server on 127.0.0.1, on the port the system picks (or
    `--port`), which is written to `--port-file` once bound."""
    import argparse
    import os
    import signal

    from moto.moto_api._internal import urls as moto_api_urls
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args(argv)

    moto_api_urls.url_paths["{0}/moto-api/launcher$"] = _launcher_identity
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    os.environ["MOTO_PORT"] = str(server.port)
    with open(args.port_file + ".tmp", "w") as out:
        out.write(str(server.port))
    os.replace(args.port_file + ".tmp", args.port_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1:])
