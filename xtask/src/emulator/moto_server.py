"""moto_server, with one fix the tests and the bench need.

moto 5.2.5's TransactWriteItems deep-copies every table it touches (once per
action) so that it can roll back a cancelled transaction: a transaction costs
time in proportion to the size of its table. A ledger table grows with every
event, so the emulator slows down as a test, the simulator or the bench runs,
and a big table written by one test slows every other. This launcher keeps
moto's transaction exactly as it is but snapshots only the items the
transaction touches, and restores (or deletes) those on rollback: the same
behaviour, in time proportional to the transaction.

Started by `xtask::emulator::moto` as `python moto_server.py -H 127.0.0.1 -p PORT`.
"""

import copy
import sys

from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.comparisons import get_filter_expression as _filter
from moto.dynamodb.models import DynamoDBBackend


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

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
