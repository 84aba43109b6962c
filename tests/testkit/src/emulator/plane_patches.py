"""The local data plane's patches to moto 5.2.5: moto stores and matches, the plane runs.

`moto_server.py` imports this module only when `LOCAL_PLANE_HOOK` is set (to
the plane's hook base URL, e.g. `http://127.0.0.1:4567`), before any other
moto import, so the rest of the suite keeps moto as it is. Nothing here runs
a process, a timer or a retry, and nothing evaluates IAM or resource
policies: the plane (Rust, `xtask::plane`) does all of that. moto's own IAM
enforcement stays off.

What each patch does (each function or class below says what AWS does and
what moto did):

1. CloudFormation creates, updates and deletes the types moto skips:
   `AWS::CloudWatch::Alarm`, `AWS::Lambda::EventInvokeConfig`,
   `AWS::SNS::Subscription`, `AWS::SQS::QueuePolicy`, `AWS::SNS::TopicPolicy`.
2. Alarms as CloudWatch keeps them: a new alarm is `INSUFFICIENT_DATA`, an
   update keeps state, reason and history, a per-alarm history
   (`ConfigurationUpdate`, `StateUpdate`, and `Action` items the plane
   records) and `DescribeAlarmHistory`. `SetAlarmState` runs no action: the
   plane publishes the alarm's notifications and records them.
3. Metric reads match as CloudWatch does: namespace, name and the exact
   dimension set; buckets aligned to `StartTime` and `Period`; percentiles.
4. EventBridge matches in moto and hands every delivery to the plane.
5. A clock the plane moves: moto reads time through a patched `utcnow()`.
6. SQS counts for the plane's metric sampler; retention really deletes.
7. Function code and `LoggingConfig` for the plane.
8. E-mail subscriptions wait for confirmation; their mail is kept.

SNS deliveries to SQS stay moto's (its envelope is AWS's). Neither they nor
anything else here checks a queue's or topic's policy (e.g. that the queue
lets `sns.amazonaws.com` send from that topic): policy checks are the
plane's, not this module's.

Hook (moto → plane), synchronous, JSON, 5 s timeout; a failure is logged
and moto carries on (the PutEvents caller still gets its EventId):

    POST <hook>/events/matched   once per matched rule, before its deliveries
      {"rule_arn", "rule_name", "event_bus_name", "event_id",
       "managed_by": <"prod.vhs.events.aws.internal" for an archive's rule, else null>}
    POST <hook>/events/deliver   once per (matched rule, non-archive target)
      {"rule_arn", "rule_name", "event_bus_name",
       "target": {"Id", "Arn", "Input"?, "InputPath"?, "InputTransformer"?,
                  "RetryPolicy"?, "DeadLetterConfig"?, "RoleArn"?, "SqsParameters"?},
       "event": {"version", "id", "detail-type", "source", "account",
                 "time" (ISO 8601, seconds, Z), "region", "resources", "detail",
                 "replay-name"? (replays only)},
       "payload": <the string the target receives: the event as compact JSON,
                   or the target's Input, InputPath or InputTransformer result>}

Control routes (plane → moto); bodies are JSON (send `Content-Type:
application/json`), answers JSON unless said otherwise:

    GET  /moto-api/local-plane/clock
      → {"now_ms", "offset_ms", "rate", "epoch_ms"};  now = epoch + offset + rate·(wall − epoch)
    POST /moto-api/local-plane/clock  {"offset_ms"?, "rate"?, "advance_ms"?}
      applied in that order: offset_ms sets the offset; rate (≥ 0; 0 freezes)
      re-anchors epoch at the current wall time so that `now` is continuous;
      advance_ms adds to the offset.  → the same object as GET
      Everything in moto reads this clock, its HTTP `Date` header too; an SQS
      long poll ends after WaitTimeSeconds of this clock (never while it is
      frozen, unless a message comes).
    GET  /moto-api/local-plane/sqs-stats
      → {"now_ms", "queues": [{"name", "url", "arn", "account_id", "region",
          "visible", "not_visible", "delayed", "oldest_sent_timestamp_ms" (or null),
          "sent", "received", "deleted", "empty_receives", "last_activity_ms" (or null)}]}
      the four counters are since the previous GET (each GET resets them)
    GET  /moto-api/local-plane/code/<function name or ARN>[?account_id=&region=]
      → 200 the zip's bytes (application/zip, header x-local-plane-code-sha256),
        404 {"error": "..."} when no such function
    GET  /moto-api/local-plane/mail?address=<e-mail address>
      → [{"type": "SubscriptionConfirmation"|"Notification", "subject", "body",
          "timestamp" (ISO 8601 ms Z), "from", "topic_arn", "subscription_arn",
          "token" (confirmations only)}], oldest first; [] for an unknown address
    POST /moto-api/local-plane/alarm-history
      {"alarm_name", "item_type": "Action", "summary", "data": {...},
       "account_id"?, "region"?}
      → 200 {"AlarmName", "AlarmType", "Timestamp", "HistoryItemType",
             "HistorySummary", "HistoryData"};  404 unknown alarm; 400 bad request
"""

# The clock comes first: every module that does `from moto.core.utils import
# utcnow` binds the function it finds at import time, and moto imports its
# service modules lazily: patched first, every later import binds ours.

import datetime
import json
import logging
import math
import os
import re
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

import moto.core.utils as _moto_utils

_log = logging.getLogger("local_plane")
if not _log.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("local-plane: %(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False

_EPOCH = datetime.datetime(1970, 1, 1)


class _Clock:
    """Virtual time: `now = epoch + offset + rate·(wall − epoch)`, in ms.

    AWS: time is time. moto: `moto.core.utils.utcnow()` (wall clock), read by
    every service directly or through `unix_time()`/`unix_time_millis()`/
    `iso_8601_*`. Here that function reads this clock, so SQS timestamps,
    visibility, retention and long polls, CloudWatch datapoint and alarm
    timestamps, alarm history and Logs ingestion times follow the plane's clock.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.epoch_ms = time.time() * 1000.0
        self.offset_ms = 0.0
        self.rate = 1.0

    def now_ms(self, wall_ms=None):
        wall = time.time() * 1000.0 if wall_ms is None else wall_ms
        return self.epoch_ms + self.offset_ms + self.rate * (wall - self.epoch_ms)

    def update(self, offset_ms=None, rate=None, advance_ms=None):
        with self._lock:
            if offset_ms is not None:
                self.offset_ms = float(offset_ms)
            if rate is not None:
                wall = time.time() * 1000.0
                now = self.now_ms(wall)
                self.epoch_ms = wall
                self.rate = float(rate)
                self.offset_ms = now - wall
            if advance_ms is not None:
                self.offset_ms += float(advance_ms)

    def state(self):
        return {
            "now_ms": int(self.now_ms()),
            "offset_ms": self.offset_ms,
            "rate": self.rate,
            "epoch_ms": self.epoch_ms,
        }


CLOCK = _Clock()
_WALL_UTCNOW = _moto_utils.utcnow


def utcnow():
    """moto's `utcnow()` (a naive UTC datetime) on the plane's clock."""
    return _EPOCH + datetime.timedelta(milliseconds=CLOCK.now_ms())


def _install_clock():
    """Points `moto.core.utils.utcnow`, and every moto module that already
    bound the wall-clock one by name, at `utcnow` above."""
    _moto_utils.utcnow = utcnow
    for name, module in list(sys.modules.items()):
        if not name.startswith("moto") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is _WALL_UTCNOW:
                setattr(module, attr, utcnow)


_install_clock()

# Only now the service modules (their `utcnow` is the patched one).

from moto.awslambda.exceptions import UnknownFunctionException  # noqa: E402
from moto.awslambda.models import (  # noqa: E402
    EventInvokeConfig,
    LambdaBackend,
    LambdaFunction,
    lambda_backends,
)
from moto.cloudformation import parsing as _cfn_parsing  # noqa: E402
from moto.cloudwatch.exceptions import (  # noqa: E402
    CloudWatchException,
    InvalidParameterCombination,
    InvalidParameterValue,
)
from moto.cloudwatch.metric_data_expression_parser import parse_expression  # noqa: E402
from moto.cloudwatch.models import (  # noqa: E402
    Alarm,
    CloudWatchBackend,
    Dimension,
    Metric,
    MetricAggregatedDatum,
    MetricDataQuery,
    MetricDatum,
    MetricStat,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse  # noqa: E402
from moto.core.common_models import CloudFormationModel  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
from moto.core.utils import unix_time_millis  # noqa: E402
from moto.events.models import Rule  # noqa: E402
from moto.events.utils import EventTemplateParser  # noqa: E402
from moto.moto_api._internal import urls as _moto_api_urls  # noqa: E402
from moto.sns.exceptions import SNSInvalidParameter  # noqa: E402
from moto.sns.models import SNSBackend, Subscription, Topic, sns_backends  # noqa: E402
from moto.sns.responses import SNSResponse  # noqa: E402
from moto.sqs.exceptions import QueueDoesNotExist  # noqa: E402
from moto.sqs.models import SQSBackend, sqs_backends  # noqa: E402
from moto.utilities.arns import parse_arn  # noqa: E402

_install_clock()

HOOK = os.environ.get("LOCAL_PLANE_HOOK", "").rstrip("/")
HOOK_TIMEOUT_SECONDS = 5
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _loaded(backend_dict):
    """(account, region, backend) of the backends that exist (creates none)."""
    for account_id, regions in dict.items(backend_dict):
        for region, backend in dict.items(regions):
            yield account_id, region, backend


def _iso_ms(when):
    """A naive UTC datetime as `2026-12-04T18:00:00.000Z`."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _bool(value, default=None):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _json_text(value):
    """A CloudFormation JSON property (object or JSON text) as JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


# ---------------------------------------------------------------------------
# 4. EventBridge: match in moto, deliver in the plane
# ---------------------------------------------------------------------------


def _post_hook(path, body):
    """POSTs JSON to the plane; logs and returns False on any failure."""
    url = HOOK + path
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _NO_PROXY.open(request, timeout=HOOK_TIMEOUT_SECONDS) as response:
            response.read()
        return True
    except Exception as error:  # noqa: BLE001 - the hook must never break moto
        _log.warning("hook %s failed: %s", url, error)
        return False


def _epoch_seconds(when):
    """An event `time` (epoch seconds, ISO 8601 text or datetime) in seconds."""
    if when is None or when == "":
        return unix_time_millis() / 1000.0
    if isinstance(when, datetime.datetime):
        if when.tzinfo is not None:
            return when.timestamp()
        return (when - _EPOCH).total_seconds()
    if isinstance(when, (int, float)):
        return float(when)
    text = str(when)
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _iso_seconds(when):
    seconds = int(math.floor(_epoch_seconds(when)))
    return (_EPOCH + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(event):
    """The event as AWS delivers it (moto's message minus `ingestion-time`,
    with `account` and an ISO `time`)."""
    envelope = {
        "version": event.get("version", "0"),
        "id": event.get("id"),
        "detail-type": event.get("detail-type"),
        "source": event.get("source"),
        "account": event.get("account"),
        "time": _iso_seconds(event.get("time")),
        "region": event.get("region"),
        "resources": event.get("resources") or [],
        "detail": event.get("detail") if event.get("detail") is not None else {},
    }
    if "replay-name" in event:
        envelope["replay-name"] = event["replay-name"]
    return envelope


def _compact(value):
    return json.dumps(value, separators=(",", ":"))


def _json_path(path, envelope):
    from jsonpath_ng.ext import parse

    matches = parse(path).find(envelope)
    return matches[0].value if matches else None


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _quoted_spans(template):
    """Index ranges of the template that sit inside a JSON string literal."""
    spans, start, escaped = [], None, False
    for index, char in enumerate(template):
        if start is not None and escaped:
            escaped = False
        elif start is not None and char == "\\":
            escaped = True
        elif char == '"':
            if start is None:
                start = index
            else:
                spans.append((start, index))
                start = None
    return spans


def _transform(transformer, envelope, ingestion_seconds, rule):
    """`InputTransformer`, as the EventBridge guide's examples show
    (eb-transform-target-input.html): a variable inside a JSON string is
    inserted as text, elsewhere as a JSON value (so a string gets quotes).
    [guess] A path that matches nothing: "" inside a string, `null` elsewhere."""
    paths = transformer.get("InputPathsMap") or {}
    values = {name: _json_path(path, envelope) for name, path in paths.items()}
    without_detail = {k: v for k, v in envelope.items() if k != "detail"}
    values["aws.events.rule-arn"] = rule.arn
    values["aws.events.rule-name"] = rule.name
    values["aws.events.event.ingestion-time"] = _iso_seconds(ingestion_seconds)
    raw = {
        "aws.events.event": _compact(without_detail),
        "aws.events.event.json": _compact(envelope),
    }
    template = transformer.get("InputTemplate") or ""
    spans = _quoted_spans(template)

    def inside(position):
        return any(start < position < end for start, end in spans)

    def replace(match):
        name = match.group(1)
        if name in raw:
            return raw[name]
        if name not in values:
            return match.group(0)
        value = values[name]
        if inside(match.start()):
            if value is None:
                return ""
            text = value if isinstance(value, str) else _compact(value)
            return json.dumps(text)[1:-1]
        return "null" if value is None else json.dumps(value)

    return _PLACEHOLDER.sub(replace, template)


def _payload(target, envelope, ingestion_seconds, rule):
    if "Input" in target and target["Input"] is not None:
        return target["Input"]
    if target.get("InputPath"):
        return _compact(_json_path(target["InputPath"], envelope))
    if target.get("InputTransformer"):
        return _transform(target["InputTransformer"], envelope, ingestion_seconds, rule)
    return _compact(envelope)


_TARGET_KEYS = (
    "Id",
    "Arn",
    "Input",
    "InputPath",
    "InputTransformer",
    "RetryPolicy",
    "DeadLetterConfig",
    "RoleArn",
    "SqsParameters",
)


def _is_archive_target(target):
    # moto's archive is a managed rule whose target ARN is `arn:aws:events:<region>:::`.
    arn = parse_arn(target["Arn"])
    return arn.service == "events" and not arn.resource_type


def send_to_targets(self, original_event, transform_input=True):
    """Matches the event; the plane delivers it.

    AWS: only an ENABLED rule whose pattern matches gets the event; a
    scheduled rule gets none (eb-rule-dlq / eb-create-rule-schedule). Each
    target is invoked with the envelope (incl. `account`) or its Input.
    moto 5.2.5: delivered through DISABLED rules, an empty pattern matched
    scheduled rules, Lambda targets raised NotImplementedError (500), SQS
    bodies lacked `account`. Here: DISABLED and scheduled rules are skipped,
    archive targets (moto's managed archive rule) stay in-process, every
    other target goes to the plane's hook. `transform_input` (moto's replay
    flag) is ignored for the hook: the target's Input applies to replays too.
    """
    if self.state == "DISABLED" or self.scheduled_expression:
        return
    if not self.event_pattern.matches_event(original_event):
        return
    envelope = _envelope(original_event)
    ingestion = original_event.get("ingestion-time", unix_time_millis() / 1000.0)
    _post_hook(
        "/events/matched",
        {
            "rule_arn": self.arn,
            "rule_name": self.name,
            "event_bus_name": self.event_bus_name,
            "event_id": envelope["id"],
            "managed_by": self.managed_by,
        },
    )
    for target in self.targets:
        if _is_archive_target(target):
            if not transform_input:
                continue
            transformer = target.get("InputTransformer", {})
            archived = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=original_event,
            )
            self._send_to_events_archive(
                parse_arn(archived["archive-arn"]).resource_id, original_event
            )
            continue
        _post_hook(
            "/events/deliver",
            {
                "rule_arn": self.arn,
                "rule_name": self.name,
                "event_bus_name": self.event_bus_name,
                "target": {k: target[k] for k in _TARGET_KEYS if k in target},
                "event": envelope,
                "payload": _payload(target, envelope, ingestion, self),
            },
        )


Rule.send_to_targets = send_to_targets


# ---------------------------------------------------------------------------
# 2. Alarms as CloudWatch keeps them
# ---------------------------------------------------------------------------

HISTORY_RETENTION = datetime.timedelta(days=30)


def _history(backend):
    """The backend's alarm history (kept after an alarm is deleted, as AWS does)."""
    return backend.__dict__.setdefault("_plane_alarm_history", [])


def _alarm_type(alarm):
    return "CompositeAlarm" if alarm.rule is not None else "MetricAlarm"


def _record(backend, alarm_name, alarm_type, item_type, summary, data):
    item = {
        "AlarmName": alarm_name,
        "AlarmType": alarm_type,
        "Timestamp": utcnow(),
        "HistoryItemType": item_type,
        "HistorySummary": summary[:255],
        "HistoryData": data if isinstance(data, str) else json.dumps(data),
    }
    _history(backend).append(item)
    return item


def _alarm_config(alarm):
    """The alarm's configuration, for ConfigurationUpdate items.
    [guess] AWS does not document these keys: lower-camel API names, and
    `okactions` as remembered from real records (unverified)."""
    config = {
        "alarmName": alarm.name,
        "alarmArn": alarm.alarm_arn,
        "alarmDescription": alarm.description,
        "actionsEnabled": alarm.actions_enabled,
        "alarmActions": list(alarm.alarm_actions or []),
        "okactions": list(alarm.ok_actions or []),
        "insufficientDataActions": list(alarm.insufficient_data_actions or []),
    }
    if alarm.rule is not None:
        config["alarmRule"] = alarm.rule
        return config
    optional = {
        "metricName": alarm.metric_name,
        "namespace": alarm.namespace,
        "statistic": alarm.statistic,
        "extendedStatistic": alarm.extended_statistic,
        "period": alarm.period,
        "unit": alarm.unit,
        "evaluationPeriods": alarm.evaluation_periods,
        "datapointsToAlarm": alarm.datapoints_to_alarm,
        "threshold": alarm.threshold,
        "comparisonOperator": alarm.comparison_operator,
        "treatMissingData": alarm.treat_missing_data,
        "evaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile,
        "thresholdMetricId": alarm.threshold_metric_id,
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    if alarm.dimensions:
        config["dimensions"] = [{"name": d.name, "value": d.value} for d in alarm.dimensions]
    if alarm.metric_data_queries:
        config["metrics"] = [_query_config(q) for q in alarm.metric_data_queries]
    return config


def _query_config(query):
    out = {"id": query.id}
    for key in ("label", "expression", "period"):
        if getattr(query, key, None) is not None:
            out[key] = getattr(query, key)
    if query.return_data is not None:
        out["returnData"] = _bool(query.return_data)
    if query.metric_stat is not None:
        stat = query.metric_stat
        out["metricStat"] = {
            "metric": {
                "namespace": stat.metric.namespace,
                "metricName": stat.metric.metric_name,
                "dimensions": [{"name": d.name, "value": d.value} for d in stat.metric.dimensions],
            },
            "period": stat.period,
            "stat": stat.stat,
        }
        if stat.unit:
            out["metricStat"]["unit"] = stat.unit
    return out


_alarm_init = Alarm.__init__


def alarm_init(self, *args, **kwargs):
    """AWS: a new alarm is INSUFFICIENT_DATA, reason `Unchecked: Initial
    alarm creation` (alarm-evaluation.html). moto 5.2.5: OK."""
    _alarm_init(self, *args, **kwargs)
    self.state_value = "INSUFFICIENT_DATA"
    self.state_transitioned_timestamp = self.state_updated_timestamp


Alarm.__init__ = alarm_init

_put_metric_alarm = CloudWatchBackend.put_metric_alarm


def put_metric_alarm(self, *args, **kwargs):
    """AWS (API_PutMetricAlarm): on an existing alarm "its state is left
    unchanged, but the update completely overwrites the previous
    configuration"; history records the create or update. moto 5.2.5: a
    fresh alarm (state reset), no history. [guess] The items' wording
    (`Alarm "<name>" created|updated|deleted`) and HistoryData keys
    (`type`, `createdAlarm`/`updatedAlarm`+`originalUpdatedFields`/`deletedAlarm`)."""
    name = kwargs["name"] if "name" in kwargs else args[0]
    previous = self.alarms.get(name)
    alarm = _put_metric_alarm(self, *args, **kwargs)
    if previous is not None:
        for attr in (
            "state_value",
            "state_reason",
            "state_reason_data",
            "state_updated_timestamp",
            "state_transitioned_timestamp",
            "history",
        ):
            if hasattr(previous, attr):
                setattr(alarm, attr, getattr(previous, attr))
        before, after = _alarm_config(previous), _alarm_config(alarm)
        changed = {
            k: before.get(k) for k in set(before) | set(after) if before.get(k) != after.get(k)
        }
        _record(
            self,
            name,
            _alarm_type(alarm),
            "ConfigurationUpdate",
            f'Alarm "{name}" updated',
            {
                "version": "1.0",
                "type": "Update",
                "updatedAlarm": after,
                "originalUpdatedFields": changed,
            },
        )
    else:
        _record(
            self,
            name,
            _alarm_type(alarm),
            "ConfigurationUpdate",
            f'Alarm "{name}" created',
            {"version": "1.0", "type": "Create", "createdAlarm": _alarm_config(alarm)},
        )
    return alarm


CloudWatchBackend.put_metric_alarm = put_metric_alarm

_delete_alarms = CloudWatchBackend.delete_alarms


def delete_alarms(self, alarm_names):
    """AWS keeps a deleted alarm's history, with a ConfigurationUpdate
    `Alarm "<name>" deleted` item. moto 5.2.5: no history."""
    for name in alarm_names:
        alarm = self.alarms.get(name)
        if alarm is not None:
            _record(
                self,
                name,
                _alarm_type(alarm),
                "ConfigurationUpdate",
                f'Alarm "{name}" deleted',
                {"version": "1.0", "type": "Delete", "deletedAlarm": _alarm_config(alarm)},
            )
    return _delete_alarms(self, alarm_names)


CloudWatchBackend.delete_alarms = delete_alarms

_set_alarm_state = CloudWatchBackend.set_alarm_state


def set_alarm_state(self, alarm_name, reason, reason_data, state_value):
    """AWS: a state change is a StateUpdate history item (HistorySummary
    `Alarm updated from OK to ALARM`, HistoryData `{version, oldState
    {stateValue, stateReason}, newState {stateValue, stateReason,
    stateReasonData?}}` as in the describe-alarm-history example of the AWS
    CLI reference) and runs the new state's actions. moto 5.2.5: a tuple in
    `alarm.history`, no actions. Here: the history item; the actions are the
    plane's (it publishes and records an Action item through the route)."""
    alarm = self.alarms.get(alarm_name)
    old_value = alarm.state_value if alarm else None
    old_reason = alarm.state_reason if alarm else None
    _set_alarm_state(self, alarm_name, reason, reason_data, state_value)
    if alarm is None or old_value == state_value:
        return
    alarm.state_transitioned_timestamp = alarm.state_updated_timestamp
    new_state = {"stateValue": state_value, "stateReason": reason}
    if reason_data:
        new_state["stateReasonData"] = json.loads(reason_data)
    _record(
        self,
        alarm_name,
        _alarm_type(alarm),
        "StateUpdate",
        f"Alarm updated from {old_value} to {state_value}",
        {
            "version": "1.0",
            "oldState": {"stateValue": old_value, "stateReason": old_reason},
            "newState": new_state,
        },
    )


CloudWatchBackend.set_alarm_state = set_alarm_state


class InvalidNextToken(CloudWatchException):
    code = "InvalidNextToken"


def describe_alarm_history(self):
    """AWS (API_DescribeAlarmHistory): filters AlarmName, AlarmTypes (only
    MetricAlarm when omitted), HistoryItemType, StartDate/EndDate; MaxRecords
    (≤ 100), NextToken; ScanBy (TimestampDescending by default). moto
    5.2.5: NotImplementedError (500). [unclear] Retention: 30 days here
    (the current guide; an older one says two weeks)."""
    backend = self.cloudwatch_backend
    name = self._get_param("AlarmName")
    types = self._get_param("AlarmTypes") or ["MetricAlarm"]
    item_type = self._get_param("HistoryItemType")
    start = self._get_param("StartDate")
    end = self._get_param("EndDate")
    max_records = int(self._get_param("MaxRecords") or 100)
    token = self._get_param("NextToken")
    scan_by = self._get_param("ScanBy") or "TimestampDescending"
    if not 1 <= max_records <= 100:
        raise InvalidParameterValue("The parameter MaxRecords must be between 1 and 100.")
    horizon = utcnow() - HISTORY_RETENTION
    history = _history(backend)
    history[:] = [item for item in history if item["Timestamp"] >= horizon]
    items = [
        item
        for item in history
        if (name is None or item["AlarmName"] == name)
        and item["AlarmType"] in types
        and (item_type is None or item["HistoryItemType"] == item_type)
        and (start is None or item["Timestamp"] >= start)
        and (end is None or item["Timestamp"] <= end)
    ]
    items.sort(key=lambda item: item["Timestamp"], reverse=scan_by != "TimestampAscending")
    offset = 0
    if token:
        try:
            offset = int(token)
        except ValueError:
            raise InvalidNextToken("The value for NextToken is invalid.") from None
        if not 0 <= offset <= len(items):
            raise InvalidNextToken("The value for NextToken is invalid.")
    page = items[offset : offset + max_records]
    result = {"AlarmHistoryItems": page}
    if offset + max_records < len(items):
        result["NextToken"] = str(offset + max_records)
    return ActionResult(result)


CloudWatchResponse.describe_alarm_history = describe_alarm_history


# ---------------------------------------------------------------------------
# 3. Metric reads that match as CloudWatch does
# ---------------------------------------------------------------------------

_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100(\.0+)?)$")
_BASIC_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def _dimension_set(dimensions):
    out = set()
    for dimension in dimensions or []:
        if isinstance(dimension, Dimension):
            out.add((dimension.name, dimension.value))
        else:
            out.add((dimension["Name"], dimension.get("Value")))
    return frozenset(out)


def _same_metric(datum, namespace, name, dimensions):
    """AWS: a metric is namespace + name + the exact dimension set
    (cloudwatch_concepts.html#Dimension). moto 5.2.5: a subset match, and
    GetMetricData with dimensions forgot the namespace."""
    return (
        datum.namespace == namespace
        and datum.name == name
        and _dimension_set(datum.dimensions) == dimensions
    )


def _aligned_start(start, period, now):
    """AWS (GetMetricStatistics, GetMetricData): a sub-minute period rounds
    StartTime down to a multiple of the period; otherwise down to the
    minute (< 15 days ago), 5 minutes (< 63 days) or the hour."""
    seconds = int((start - _EPOCH).total_seconds())
    if period < 60:
        step = period
    elif now - start < datetime.timedelta(days=15):
        step = 60
    elif now - start < datetime.timedelta(days=63):
        step = 300
    else:
        step = 3600
    return _EPOCH + datetime.timedelta(seconds=seconds - seconds % step)


def _percentile(values, name):
    """[guess] Nearest rank over the raw values (AWS does not say how it
    interpolates). None when unavailable: AWS gives no percentile for data
    published as statistic sets or with a negative value."""
    if not values or min(values) < 0:
        return None
    p = float(name[1:])
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100.0 * len(ordered))))
    return ordered[rank - 1]


def _statistic(data, stat):
    singles = [d.value for d in data if isinstance(d, MetricDatum)]
    sets = [d for d in data if isinstance(d, MetricAggregatedDatum)]
    count = len(singles) + sum(s.sample_count for s in sets)
    if stat == "SampleCount":
        return float(count)
    if stat == "Sum":
        return sum(singles) + sum(s.sum for s in sets)
    if stat == "Average":
        return (sum(singles) + sum(s.sum for s in sets)) / count if count else None
    if stat == "Minimum":
        return min(singles + [s.min for s in sets])
    if stat == "Maximum":
        return max(singles + [s.max for s in sets])
    if _PERCENTILE.match(stat or ""):
        return None if sets else _percentile(singles, stat)
    return None


def _buckets(backend, namespace, name, dimensions, start, end, period, unit):
    """[(bucket start, data)] for non-empty buckets of `period` seconds from
    the aligned StartTime; data in [start, end)."""
    start = _aligned_start(start, period, utcnow())
    delta = datetime.timedelta(seconds=period)
    wanted = _dimension_set(dimensions)
    buckets = {}
    for datum in backend.get_all_metrics():
        if not (start <= datum.timestamp < end):
            continue
        if not _same_metric(datum, namespace, name, wanted):
            continue
        if unit and datum.unit != unit:
            continue
        index = int((datum.timestamp - start) / delta)
        buckets.setdefault(index, []).append(datum)
    return [(start + index * delta, buckets[index]) for index in sorted(buckets)]


def get_metric_statistics(self):
    """AWS (API_GetMetricStatistics): exact metric, buckets from the rounded
    StartTime, `ExtendedStatistics` percentiles, empty periods omitted.
    moto 5.2.5: subset dimensions, buckets from the first datum, no
    percentiles."""
    namespace = self._get_param("Namespace")
    name = self._get_param("MetricName")
    start = self._get_param("StartTime").replace(microsecond=0)
    end = self._get_param("EndTime").replace(microsecond=0)
    period = self._get_int_param("Period")
    statistics = self._get_param("Statistics") or []
    extended = self._get_param("ExtendedStatistics") or []
    dimensions = self._get_param("Dimensions") or []
    unit = self._get_param("Unit")
    if not statistics and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
    if statistics and extended:
        raise InvalidParameterCombination(
            "The parameters Statistics and ExtendedStatistics are mutually exclusive "
            "and you have specified both."
        )
    for stat in statistics:
        if stat not in _BASIC_STATS:
            raise InvalidParameterValue(f"The value {stat} for parameter Statistics is not valid.")
    for stat in extended:
        if not _PERCENTILE.match(stat):
            raise InvalidParameterValue(
                f"The value {stat} for parameter ExtendedStatistics is not supported."
            )
    if start >= end:
        raise InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime."
        )
    datapoints = []
    for when, data in _buckets(
        self.cloudwatch_backend, namespace, name, dimensions, start, end, period, unit
    ):
        point = {"Timestamp": when, "Unit": unit or data[0].unit or "None"}
        for stat in statistics:
            value = _statistic(data, stat)
            if value is not None:
                point[stat] = value
        if extended:
            values = {stat: _statistic(data, stat) for stat in extended}
            values = {k: v for k, v in values.items() if v is not None}
            if not values:
                continue
            point["ExtendedStatistics"] = values
        datapoints.append(point)
    return ActionResult({"Label": name, "Datapoints": datapoints})


CloudWatchResponse.get_metric_statistics = get_metric_statistics

_get_metric_data = CloudWatchBackend.get_metric_data


def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
    """AWS (API_GetMetricData): each MetricStat query reads the exact
    metric, in buckets from the rounded StartTime, `Stat` incl. `pNN`, no
    value for an empty bucket. moto 5.2.5: namespace forgotten with
    dimensions, subset match without, no percentiles. Metric math stays
    moto's (a reference to another id only); the plane evaluates math."""
    start = start_time.replace(microsecond=0)
    end = end_time.replace(microsecond=0)
    if start > end:
        raise InvalidParameterValue("The parameter EndTime must be greater than StartTime.")
    if start == end:
        raise InvalidParameterValue("The parameter StartTime must not equal parameter EndTime.")
    results, returned = [], []
    for query in queries:
        if "MetricStat" not in query:
            continue
        stat_spec = query["MetricStat"]
        metric = stat_spec["Metric"]
        stat = stat_spec["Stat"]
        values, timestamps = [], []
        for when, data in _buckets(
            self,
            metric.get("Namespace"),
            metric.get("MetricName"),
            metric.get("Dimensions") or [],
            start,
            end,
            int(stat_spec["Period"]),
            stat_spec.get("Unit"),
        ):
            value = _statistic(data, stat)
            if value is not None:
                values.append(value)
                timestamps.append(when)
        if scan_by != "TimestampAscending":
            values.reverse()
            timestamps.reverse()
        result = {
            "id": query["Id"],
            "label": query.get("Label") or f"{metric.get('MetricName')} {stat}",
            "values": values,
            "timestamps": timestamps,
            "status_code": "Complete",
        }
        results.append(result)
        if _bool(query.get("ReturnData"), True):
            returned.append(result)
    for query in queries:
        expression = query.get("Expression")
        if expression is None or expression.startswith("SELECT"):
            continue
        values, timestamps = parse_expression(expression, results)
        returned.append(
            {
                "id": query["Id"],
                "label": query.get("Label") or query["Id"],
                "values": values,
                "timestamps": timestamps,
                "status_code": "Complete",
            }
        )
    insights = [q for q in queries if (q.get("Expression") or "").startswith("SELECT")]
    if insights:
        returned.extend(_get_metric_data(self, insights, start_time, end_time, scan_by))
    return returned


CloudWatchBackend.get_metric_data = get_metric_data


# ---------------------------------------------------------------------------
# 1. CloudFormation types moto skips
# ---------------------------------------------------------------------------


def _alarm_arguments(name, properties):
    """AWS::CloudWatch::Alarm properties as `put_metric_alarm` arguments."""

    def integer(key):
        value = properties.get(key)
        return None if value is None else int(value)

    queries = None
    if properties.get("Metrics"):
        queries = []
        for metric in properties["Metrics"]:
            stat = metric.get("MetricStat")
            metric_stat = None
            if stat:
                spec = stat.get("Metric", {})
                metric_stat = MetricStat(
                    metric=Metric(
                        metric_name=spec.get("MetricName"),
                        namespace=spec.get("Namespace"),
                        dimensions=[
                            Dimension(name=d.get("Name"), value=d.get("Value"))
                            for d in spec.get("Dimensions", [])
                        ],
                    ),
                    period=None if stat.get("Period") is None else int(stat["Period"]),
                    stat=stat.get("Stat"),
                    unit=stat.get("Unit"),
                )
            queries.append(
                MetricDataQuery(
                    query_id=metric.get("Id"),
                    label=metric.get("Label"),
                    period=None if metric.get("Period") is None else int(metric["Period"]),
                    return_data=_bool(metric.get("ReturnData")),
                    expression=metric.get("Expression"),
                    metric_stat=metric_stat,
                )
            )
    threshold = properties.get("Threshold")
    return dict(
        name=name,
        namespace=properties.get("Namespace"),
        metric_name=properties.get("MetricName"),
        metric_data_queries=queries,
        comparison_operator=properties.get("ComparisonOperator"),
        evaluation_periods=integer("EvaluationPeriods"),
        datapoints_to_alarm=integer("DatapointsToAlarm"),
        period=integer("Period"),
        threshold=None if threshold is None else float(threshold),
        statistic=properties.get("Statistic"),
        extended_statistic=properties.get("ExtendedStatistic"),
        description=properties.get("AlarmDescription"),
        dimensions=[
            {"Name": d["Name"], "Value": d["Value"]} for d in properties.get("Dimensions", [])
        ],
        alarm_actions=list(properties.get("AlarmActions", [])),
        ok_actions=list(properties.get("OKActions", [])),
        insufficient_data_actions=list(properties.get("InsufficientDataActions", [])),
        unit=properties.get("Unit"),
        actions_enabled=_bool(properties.get("ActionsEnabled"), True),
        treat_missing_data=properties.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=properties.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=properties.get("ThresholdMetricId"),
        tags=properties.get("Tags") or None,
    )


class CloudFormationAlarm(CloudFormationModel):
    """AWS::CloudWatch::Alarm (physical id = the alarm name; Ref → name;
    GetAtt Arn). AWS creates the alarm; moto 5.2.5 skipped the type."""

    __module__ = "moto.local_plane"

    def __init__(self, account_id, region_name, name):
        self.account_id = account_id
        self.region_name = region_name
        self.name = name

    @property
    def physical_resource_id(self):
        return self.name

    @staticmethod
    def cloudformation_name_type():
        return "AlarmName"

    @staticmethod
    def cloudformation_type():
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            backend = cloudwatch_backends[self.account_id][self.region_name]
            return backend.alarms[self.name].alarm_arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        backend = cloudwatch_backends[account_id][region_name]
        backend.put_metric_alarm(
            **_alarm_arguments(resource_name, cloudformation_json["Properties"])
        )
        return cls(account_id, region_name, resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = cloudformation_json["Properties"]
        name = properties.get("AlarmName") or original_resource.name
        backend = cloudwatch_backends[account_id][region_name]
        backend.put_metric_alarm(**_alarm_arguments(name, properties))
        if name != original_resource.name:
            backend.delete_alarms([original_resource.name])
        return cls(account_id, region_name, name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

    def delete(self, account_id, region_name):
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


def _invoke_config(properties):
    config = {}
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if properties.get(key) is not None:
            config[key] = int(properties[key])
    if properties.get("DestinationConfig"):
        config["DestinationConfig"] = properties["DestinationConfig"]
    return config


class CloudFormationEventInvokeConfig(CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig → the function's async invoke config
    (retries, max event age, on-failure/on-success destinations). AWS
    configures it; moto 5.2.5 skipped the type (its API exists)."""

    __module__ = "moto.local_plane"

    def __init__(self, account_id, region_name, physical_id, function_name):
        self.account_id = account_id
        self.region_name = region_name
        self.physical_id = physical_id
        self.function_name = function_name

    @property
    def physical_resource_id(self):
        return self.physical_id

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @classmethod
    def _apply(cls, account_id, region_name, properties):
        backend = lambda_backends[account_id][region_name]
        function = backend.get_function(properties["FunctionName"])
        function.event_invoke_config = []
        backend.put_function_event_invoke_config(function.function_name, _invoke_config(properties))
        return function.function_name

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        name = cls._apply(account_id, region_name, cloudformation_json["Properties"])
        return cls(account_id, region_name, resource_name, name)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = cloudformation_json["Properties"]
        name = cls._apply(account_id, region_name, properties)
        if name != original_resource.function_name:
            original_resource.delete(account_id, region_name)
        return cls(account_id, region_name, original_resource.physical_id, name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        name = cloudformation_json.get("Properties", {}).get("FunctionName")
        if name:
            cls(account_id, region_name, resource_name, name).delete(account_id, region_name)

    def delete(self, account_id, region_name):
        try:
            lambda_backends[account_id][region_name].get_function(
                self.function_name
            ).event_invoke_config = []
        except UnknownFunctionException:
            pass


_SUBSCRIPTION_ATTRIBUTES = (
    "RawMessageDelivery",
    "FilterPolicyScope",
    "FilterPolicy",
    "DeliveryPolicy",
    "RedrivePolicy",
    "SubscriptionRoleArn",
)


def _subscription_backend(account_id, region_name, properties):
    region = properties.get("Region") or properties["TopicArn"].split(":")[3] or region_name
    return sns_backends[account_id][region]


def _set_subscription_attributes(backend, arn, properties, previous=None):
    for key in _SUBSCRIPTION_ATTRIBUTES:
        value = properties.get(key)
        if value is None:
            if previous is not None and previous.get(key) is not None:
                backend.set_subscription_attributes(
                    arn, key, False if key == "RawMessageDelivery" else ""
                )
            continue
        if key == "RawMessageDelivery":
            value = _bool(value)
        elif not isinstance(value, str):
            value = json.dumps(value)
        backend.set_subscription_attributes(arn, key, value)


class CloudFormationSubscription(CloudFormationModel):
    """AWS::SNS::Subscription (physical id = Ref = the subscription ARN;
    RawMessageDelivery, FilterPolicy(+Scope), DeliveryPolicy, RedrivePolicy).
    AWS subscribes (e-mail ones wait for confirmation); moto 5.2.5 skipped
    the type. A change of topic, protocol or endpoint replaces it."""

    __module__ = "moto.local_plane"

    def __init__(self, account_id, region_name, arn, properties):
        self.account_id = account_id
        self.region_name = region_name
        self.arn = arn
        self.properties = properties

    @property
    def physical_resource_id(self):
        return self.arn

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::SNS::Subscription"

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        properties = cloudformation_json["Properties"]
        backend = _subscription_backend(account_id, region_name, properties)
        subscription = backend.subscribe(
            properties["TopicArn"], properties["Endpoint"], properties["Protocol"]
        )
        _set_subscription_attributes(backend, subscription.arn, properties)
        return cls(account_id, region_name, subscription.arn, properties)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = cloudformation_json["Properties"]
        old = original_resource.properties
        if any(
            properties.get(k) != old.get(k) for k in ("TopicArn", "Protocol", "Endpoint", "Region")
        ):
            created = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return created
        backend = _subscription_backend(account_id, region_name, properties)
        _set_subscription_attributes(backend, original_resource.arn, properties, old)
        return cls(account_id, region_name, original_resource.arn, properties)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        for _, _, backend in _loaded(sns_backends):
            backend.unsubscribe(resource_name)

    def delete(self, account_id, region_name):
        _subscription_backend(account_id, region_name, self.properties).unsubscribe(self.arn)


def _queue_of(reference, account_id, region_name):
    """(backend, queue name) of a queue URL (or ARN)."""
    if reference.startswith("arn:"):
        parts = reference.split(":")
        return sqs_backends[parts[4]][parts[3]], parts[5]
    parsed = urllib.parse.urlparse(reference)
    segments = [s for s in parsed.path.split("/") if s]
    account = segments[-2] if len(segments) >= 2 and segments[-2].isdigit() else account_id
    match = re.match(r"^sqs\.([a-z0-9-]+)\.amazonaws\.com", parsed.netloc)
    region = match.group(1) if match else region_name
    return sqs_backends[account][region], segments[-1]


class CloudFormationQueuePolicy(CloudFormationModel):
    """AWS::SQS::QueuePolicy: sets each listed queue's `Policy` attribute;
    delete removes it (the queue keeps no policy). AWS applies it; moto
    5.2.5 skipped the type. Nothing here evaluates it."""

    __module__ = "moto.local_plane"

    def __init__(self, account_id, region_name, physical_id, queues):
        self.account_id = account_id
        self.region_name = region_name
        self.physical_id = physical_id
        self.queues = list(queues)

    @property
    def physical_resource_id(self):
        return self.physical_id

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @staticmethod
    def _set(account_id, region_name, queues, document):
        for reference in queues:
            backend, name = _queue_of(reference, account_id, region_name)
            try:
                backend.set_queue_attributes(name, {"Policy": document})
            except QueueDoesNotExist:
                if document:
                    raise

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        properties = cloudformation_json["Properties"]
        cls._set(
            account_id, region_name, properties["Queues"], _json_text(properties["PolicyDocument"])
        )
        return cls(account_id, region_name, resource_name, properties["Queues"])

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = cloudformation_json["Properties"]
        dropped = [q for q in original_resource.queues if q not in properties["Queues"]]
        cls._set(account_id, region_name, dropped, "")
        cls._set(
            account_id, region_name, properties["Queues"], _json_text(properties["PolicyDocument"])
        )
        return cls(account_id, region_name, original_resource.physical_id, properties["Queues"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        cls._set(
            account_id, region_name, cloudformation_json.get("Properties", {}).get("Queues", []), ""
        )

    def delete(self, account_id, region_name):
        self._set(account_id, region_name, self.queues, "")


def _topic_of(arn, account_id, region_name):
    parts = arn.split(":")
    try:
        return sns_backends[parts[4] or account_id][parts[3] or region_name].topics.get(arn)
    except IndexError:
        return None


class CloudFormationTopicPolicy(CloudFormationModel):
    """AWS::SNS::TopicPolicy: sets each listed topic's `Policy`. AWS applies
    it; moto 5.2.5 skipped the type. [guess] Delete puts back the topic's
    default policy. Nothing here evaluates it."""

    __module__ = "moto.local_plane"

    def __init__(self, account_id, region_name, physical_id, topics):
        self.account_id = account_id
        self.region_name = region_name
        self.physical_id = physical_id
        self.topics = list(topics)

    @property
    def physical_resource_id(self):
        return self.physical_id

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @staticmethod
    def _set(account_id, region_name, topics, document):
        for arn in topics:
            topic = _topic_of(arn, account_id, region_name)
            if topic is None:
                if document:
                    raise SNSInvalidParameter(f"Invalid parameter: Topic {arn} does not exist")
                continue
            if document:
                topic.policy = document
            else:
                topic._policy_json = topic._create_default_topic_policy(
                    topic.sns_backend.region_name, topic.account_id, topic.name
                )

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        properties = cloudformation_json["Properties"]
        cls._set(
            account_id, region_name, properties["Topics"], _json_text(properties["PolicyDocument"])
        )
        return cls(account_id, region_name, resource_name, properties["Topics"])

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = cloudformation_json["Properties"]
        dropped = [t for t in original_resource.topics if t not in properties["Topics"]]
        cls._set(account_id, region_name, dropped, "")
        cls._set(
            account_id, region_name, properties["Topics"], _json_text(properties["PolicyDocument"])
        )
        return cls(account_id, region_name, original_resource.physical_id, properties["Topics"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        cls._set(
            account_id, region_name, cloudformation_json.get("Properties", {}).get("Topics", []), ""
        )

    def delete(self, account_id, region_name):
        self._set(account_id, region_name, self.topics, "")


# moto finds CloudFormation types through these caches of
# CloudFormationModel.__subclasses__(): clear them so they see ours.
_cfn_parsing.get_model_list.cache_clear()
_cfn_parsing.get_model_map.cache_clear()
_cfn_parsing.get_name_type_map.cache_clear()


# ---------------------------------------------------------------------------
# 7. Function code and LoggingConfig
# ---------------------------------------------------------------------------

_function_init = LambdaFunction.__init__


def function_init(self, account_id, spec, region, version=1):
    """AWS keeps a function's `LoggingConfig` (and returns the default one,
    `Text` to `/aws/lambda/<name>`). moto 5.2.5 dropped it."""
    _function_init(self, account_id, spec, region, version)
    self.logging_config = spec.get("LoggingConfig")


LambdaFunction.__init__ = function_init

_function_configuration = LambdaFunction.get_configuration


def _logging_config(function):
    config = dict(getattr(function, "logging_config", None) or {})
    config.setdefault("LogFormat", "Text")
    config.setdefault("LogGroup", f"/aws/lambda/{function.function_name}")
    if config["LogFormat"] == "JSON":
        # [guess] what AWS fills in for a JSON format without levels.
        config.setdefault("ApplicationLogLevel", "INFO")
        config.setdefault("SystemLogLevel", "INFO")
    return config


def function_configuration(self, *args, **kwargs):
    config = _function_configuration(self, *args, **kwargs)
    config["LoggingConfig"] = _logging_config(self)
    return config


LambdaFunction.get_configuration = function_configuration

_function_update = LambdaFunction.update_configuration


def function_update(self, config_updates):
    if config_updates.get("LoggingConfig") is not None:
        merged = dict(getattr(self, "logging_config", None) or {})
        merged.update(config_updates["LoggingConfig"])
        self.logging_config = merged
    return _function_update(self, config_updates)


LambdaFunction.update_configuration = function_update

_function_from_cfn = LambdaFunction.create_from_cloudformation_json.__func__


@classmethod
def function_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """moto 5.2.5's CloudFormation dropped `LoggingConfig` and `Architectures`."""
    function = _function_from_cfn(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    properties = cloudformation_json["Properties"]
    if properties.get("LoggingConfig"):
        function.logging_config = properties["LoggingConfig"]
    if properties.get("Architectures"):
        function.architectures = properties["Architectures"]
    return function


LambdaFunction.create_from_cloudformation_json = function_from_cfn

_function_update_from_cfn = LambdaFunction.update_from_cloudformation_json.__func__


@classmethod
def function_update_from_cfn(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    """A stack update sets the template's `LoggingConfig` (the default
    when it has none) and `Architectures`, as AWS does."""
    function = _function_update_from_cfn(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    )
    properties = cloudformation_json["Properties"]
    function.logging_config = properties.get("LoggingConfig")
    if properties.get("Architectures"):
        function.architectures = properties["Architectures"]
    return function


LambdaFunction.update_from_cloudformation_json = function_update_from_cfn


def _put_invoke_config(self, function_name, config):
    """AWS: PutFunctionEventInvokeConfig replaces the configuration. moto
    5.2.5 appended, and Get kept answering the first one."""
    function = self.get_function(function_name)
    event_config = EventInvokeConfig(function.function_arn, function.last_modified, config)
    function.event_invoke_config = [event_config]
    return event_config.response()


def _update_invoke_config(self, function_name, config):
    """AWS: UpdateFunctionEventInvokeConfig changes only the given fields."""
    function = self.get_function(function_name)
    merged = dict(function.event_invoke_config[0].config) if function.event_invoke_config else {}
    merged.update(config)
    return _put_invoke_config(self, function_name, merged)


LambdaBackend.put_function_event_invoke_config = _put_invoke_config
LambdaBackend.update_function_event_invoke_config = _update_invoke_config


def _find_function(name, account_id=None, region=None):
    for account, region_name, backend in _loaded(lambda_backends):
        if account_id and account != account_id or region and region_name != region:
            continue
        try:
            return backend.get_function(name)
        except UnknownFunctionException:
            continue
    return None


# ---------------------------------------------------------------------------
# 6. SQS: counts for the sampler, retention that deletes
# ---------------------------------------------------------------------------


def _counters(queue):
    counters = queue.__dict__.get("_plane_counters")
    if counters is None:
        counters = {"sent": 0, "received": 0, "deleted": 0, "empty_receives": 0}
        queue.__dict__["_plane_counters"] = counters
    return counters


def _expire(queue):
    """AWS deletes a message once it is older than the queue's
    MessageRetentionPeriod. moto 5.2.5 kept it: counted, never returned, and
    (at the head) stopping a ReceiveMessage from returning newer ones."""
    horizon = unix_time_millis() - int(queue.message_retention_period) * 1000
    with queue._messages_lock:
        expired = [
            m
            for m in queue._messages
            if m.sent_timestamp is not None and m.sent_timestamp <= horizon
        ]
        if expired:
            queue._messages = [m for m in queue._messages if m not in expired]
            for message in expired:
                queue._pending_messages.discard(message)


_get_queue = SQSBackend.get_queue


def get_queue(self, queue_name):
    queue = _get_queue(self, queue_name)
    queue.__dict__["_plane_last_activity_ms"] = int(unix_time_millis())
    return queue


SQSBackend.get_queue = get_queue

_create_queue = SQSBackend.create_queue


def create_queue(self, name, tags=None, **kwargs):
    queue = _create_queue(self, name, tags, **kwargs)
    queue.__dict__["_plane_last_activity_ms"] = int(unix_time_millis())
    return queue


SQSBackend.create_queue = create_queue

_send_message = SQSBackend.send_message


def send_message(self, queue_name, *args, **kwargs):
    message = _send_message(self, queue_name, *args, **kwargs)
    _counters(self.get_queue(queue_name))["sent"] += 1
    return message


SQSBackend.send_message = send_message

_receive_message = SQSBackend.receive_message


def receive_message(self, queue_name, *args, **kwargs):
    _expire(self.get_queue(queue_name))
    messages = _receive_message(self, queue_name, *args, **kwargs)
    counters = _counters(self.get_queue(queue_name))
    if messages:
        counters["received"] += len(messages)
    else:
        counters["empty_receives"] += 1
    return messages


SQSBackend.receive_message = receive_message

_delete_message = SQSBackend.delete_message


def delete_message(self, queue_name, receipt_handle):
    queue = self.get_queue(queue_name)
    already = receipt_handle in queue.deleted_messages
    _delete_message(self, queue_name, receipt_handle)
    if not already:
        _counters(queue)["deleted"] += 1


SQSBackend.delete_message = delete_message

_get_queue_attributes = SQSBackend.get_queue_attributes


def get_queue_attributes(self, queue_name, attribute_names):
    _expire(self.get_queue(queue_name))
    return _get_queue_attributes(self, queue_name, attribute_names)


SQSBackend.get_queue_attributes = get_queue_attributes


def _queue_stats(queue, base_url):
    _expire(queue)
    messages = list(queue._messages)
    counters = _counters(queue)
    queue.__dict__["_plane_counters"] = None
    young = [
        m.sent_timestamp
        for m in messages
        if m.approximate_receive_count < 3 and m.sent_timestamp is not None
    ]
    return {
        "name": queue.name,
        "url": f"{base_url}/{queue.account_id}/{queue.name}",
        "arn": queue.queue_arn,
        "account_id": queue.account_id,
        "region": queue.region,
        "visible": sum(1 for m in messages if m.visible and not m.delayed),
        "not_visible": sum(1 for m in messages if not m.visible),
        "delayed": sum(1 for m in messages if m.delayed),
        "oldest_sent_timestamp_ms": int(min(young)) if young else None,
        "sent": counters["sent"],
        "received": counters["received"],
        "deleted": counters["deleted"],
        "empty_receives": counters["empty_receives"],
        "last_activity_ms": queue.__dict__.get("_plane_last_activity_ms"),
    }


# ---------------------------------------------------------------------------
# 8. E-mail subscriptions
# ---------------------------------------------------------------------------

_EMAIL = ("email", "email-json")
_FOOTER = (
    "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or "
    "visit the link below to unsubscribe:\n{unsubscribe}\n\nPlease do not reply directly to "
    "this email. If you have any questions or comments regarding this email, please contact "
    "us at https://aws.amazon.com/support"
)


def _mailbox(backend, address):
    return backend.__dict__.setdefault("_plane_mail", {}).setdefault(address, [])


def _sender(topic):
    return f"{topic.display_name or 'AWS Notifications'} <no-reply@sns.amazonaws.com>"


def _send_confirmation(backend, subscription):
    """[guess] Wording of AWS's confirmation mails (not documented); the
    token is the one ConfirmSubscription takes."""
    topic = subscription.topic
    region = backend.region_name
    token = subscription.__dict__["_plane_token"]
    query = urllib.parse.urlencode(
        {"TopicArn": topic.arn, "Token": token, "Endpoint": subscription.endpoint}
    )
    now = utcnow()
    if subscription.protocol == "email-json":
        body = json.dumps(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": str(uuid.uuid4()),
                "Token": token,
                "TopicArn": topic.arn,
                "Message": f"You have chosen to subscribe to the topic {topic.arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message.",
                "SubscribeURL": f"https://sns.{region}.amazonaws.com/?Action=ConfirmSubscription&"
                + urllib.parse.urlencode({"TopicArn": topic.arn, "Token": token}),
                "Timestamp": _iso_ms(now),
                "SignatureVersion": "1",
                "Signature": "EXAMPLE",
                "SigningCertURL": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem",
            }
        )
    else:
        body = (
            f"You have chosen to subscribe to the topic: \n{topic.arn}\n\n"
            "To confirm this subscription, click or visit the link below (If this was in error no "
            f"action is necessary):\nConfirm subscription\nhttps://sns.{region}.amazonaws.com/"
            f"confirmation.html?{query}\n\nPlease do not reply directly to this email. If you wish to "
            "remove yourself from receiving all future SNS subscription confirmation requests please "
            "send an email to sns-opt-out"
        )
    _mailbox(backend, subscription.endpoint).append(
        {
            "type": "SubscriptionConfirmation",
            "subject": "AWS Notification - Subscription Confirmation",
            "body": body,
            "timestamp": _iso_ms(now),
            "from": _sender(topic),
            "topic_arn": topic.arn,
            "subscription_arn": subscription.arn,
            "token": token,
        }
    )


def _pending(subscription):
    return bool(subscription.__dict__.get("_plane_pending"))


_subscribe = SNSBackend.subscribe


def subscribe(self, topic_arn, endpoint, protocol):
    """AWS: an e-mail subscription is `PendingConfirmation` until the
    address confirms (a confirmation mail carries the token); nothing is
    delivered to it before. moto 5.2.5: confirmed at once."""
    existing = self._find_subscription(topic_arn, endpoint, protocol)
    subscription = _subscribe(self, topic_arn, endpoint, protocol)
    if existing is None and protocol in _EMAIL:
        subscription.__dict__["_plane_pending"] = True
        subscription.__dict__["_plane_token"] = "".join(uuid.uuid4().hex for _ in range(4))
        subscription.attributes["PendingConfirmation"] = True
        subscription.attributes["ConfirmationWasAuthenticated"] = False
        _send_confirmation(self, subscription)
    return subscription


SNSBackend.subscribe = subscribe

_respond_subscribe = SNSResponse.subscribe


def respond_subscribe(self):
    """AWS answers `pending confirmation` for a subscription awaiting
    confirmation, unless ReturnSubscriptionArn is true."""
    result = _respond_subscribe(self)
    arn = result.result["SubscriptionArn"]
    subscription = self.backend.subscriptions.get(arn)
    if (
        subscription is not None
        and _pending(subscription)
        and not _bool(self._get_param("ReturnSubscriptionArn"), False)
    ):
        result.result["SubscriptionArn"] = "pending confirmation"
    return result


SNSResponse.subscribe = respond_subscribe


def respond_confirm_subscription(self):
    """AWS: ConfirmSubscription(TopicArn, Token) confirms the subscription
    the token was sent for and returns its ARN; an unknown token is
    InvalidParameter. moto 5.2.5: a made-up ARN for any token."""
    topic_arn = self._get_param("TopicArn")
    token = self._get_param("Token")
    self.backend.get_topic(topic_arn)
    for subscription in self.backend.subscriptions.values():
        if (
            subscription.topic.arn == topic_arn
            and subscription.__dict__.get("_plane_token") == token
        ):
            if _pending(subscription):
                subscription.__dict__["_plane_pending"] = False
                subscription.confirmed = True
                subscription.attributes["PendingConfirmation"] = False
                subscription.attributes["ConfirmationWasAuthenticated"] = _bool(
                    self._get_param("AuthenticateOnUnsubscribe"), False
                )
            return ActionResult({"SubscriptionArn": subscription.arn})
    raise SNSInvalidParameter("Invalid token")


SNSResponse.confirm_subscription = respond_confirm_subscription


def _count(topic, pending):
    subscriptions = topic.sns_backend.subscriptions.values()
    return sum(1 for s in subscriptions if s.topic is topic and _pending(s) == pending)


# GetTopicAttributes: AWS counts SubscriptionsPending/Confirmed; moto 5.2.5 said 0 and 0.
Topic.subscriptions_pending = property(lambda self: _count(self, True), lambda self, value: None)
Topic.subscriptions_confimed = property(lambda self: _count(self, False), lambda self, value: None)


class _SubscriptionMeta:
    # ListSubscriptions(ByTopic) lists a pending subscription as `PendingConfirmation`.
    serialization_aliases = {"SubscriptionArn": "listed_subscription_arn"}


Subscription.Meta = _SubscriptionMeta
Subscription.listed_subscription_arn = property(
    lambda self: "PendingConfirmation" if _pending(self) else self.arn
)

_subscription_publish = Subscription.publish


def subscription_publish(
    self, message, message_id, subject=None, message_attributes=None, **kwargs
):
    """AWS mails `email` subscribers the message (the `email` key of a
    MessageStructure=json message, else `default`) with an unsubscribe
    footer, and `email-json` subscribers the JSON envelope; pending ones get
    nothing. moto 5.2.5 mailed nothing. Kept for `/moto-api/local-plane/mail`."""
    if self.protocol not in _EMAIL:
        return _subscription_publish(
            self, message, message_id, subject, message_attributes, **kwargs
        )
    if _pending(self):
        return None
    if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
        message_attributes, message
    ):
        return None
    if kwargs.get("message_structure") == "json":
        message = self._parse_message_structure(message, self.protocol)
    backend = self.topic.sns_backend
    unsubscribe = (
        f"https://sns.{backend.region_name}.amazonaws.com/unsubscribe.html?"
        + urllib.parse.urlencode({"SubscriptionArn": self.arn, "Endpoint": self.endpoint})
    )
    if self.protocol == "email":
        body = message + _FOOTER.format(unsubscribe=unsubscribe)
    else:
        envelope = self.get_post_data(
            message, message_id, subject, message_attributes=message_attributes
        )
        envelope["UnsubscribeURL"] = unsubscribe
        body = json.dumps(envelope)
    _mailbox(backend, self.endpoint).append(
        {
            "type": "Notification",
            "subject": subject or "AWS Notification Message",
            "body": body,
            "timestamp": _iso_ms(utcnow()),
            "from": _sender(self.topic),
            "topic_arn": self.topic.arn,
            "subscription_arn": self.arn,
        }
    )
    return None


Subscription.publish = subscription_publish


# ---------------------------------------------------------------------------
# Control routes (/moto-api/local-plane/...)
# ---------------------------------------------------------------------------

_JSON = {"Content-Type": "application/json"}


def _reply(status, body):
    return status, dict(_JSON), json.dumps(body, default=str)


def _body(request):
    data = request.get_data()
    if not data:
        return {}
    parsed = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    if not isinstance(parsed, dict):
        raise ValueError("the body must be a JSON object")
    return parsed


def _query(full_url):
    return {
        k: v[-1] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(full_url).query).items()
    }


def clock_route(request, full_url, headers):
    if request.method == "POST":
        try:
            body = _body(request)
            rate = body.get("rate")
            if rate is not None and (not isinstance(rate, (int, float)) or rate < 0):
                raise ValueError("rate must be a number >= 0")
            for key in ("offset_ms", "advance_ms"):
                if body.get(key) is not None and not isinstance(body[key], (int, float)):
                    raise ValueError(f"{key} must be a number")
            CLOCK.update(body.get("offset_ms"), rate, body.get("advance_ms"))
        except ValueError as error:
            return _reply(400, {"error": str(error)})
    elif request.method != "GET":
        return _reply(405, {"error": "GET or POST"})
    return _reply(200, CLOCK.state())


def sqs_stats_route(request, full_url, headers):
    parsed = urllib.parse.urlparse(full_url)
    base_url = f"{parsed.scheme}://{parsed.netloc}"
    queues = []
    for _, _, backend in _loaded(sqs_backends):
        for queue in list(backend.queues.values()):
            queues.append(_queue_stats(queue, base_url))
    return _reply(200, {"now_ms": int(unix_time_millis()), "queues": queues})


def code_route(request, full_url, headers):
    path = urllib.parse.urlparse(full_url).path
    name = urllib.parse.unquote(path.rsplit("/moto-api/local-plane/code/", 1)[-1])
    query = _query(full_url)
    function = _find_function(name, query.get("account_id"), query.get("region"))
    if function is None:
        return _reply(404, {"error": f"Function not found: {name}"})
    return (
        200,
        {
            "Content-Type": "application/zip",
            "x-local-plane-code-sha256": function.code_sha_256 or "",
        },
        function.code_bytes or b"",
    )


def mail_route(request, full_url, headers):
    address = _query(full_url).get("address")
    if not address:
        return _reply(400, {"error": "address is required"})
    mail = []
    for _, _, backend in _loaded(sns_backends):
        mail.extend(backend.__dict__.get("_plane_mail", {}).get(address, []))
    mail.sort(key=lambda item: item["timestamp"])
    return _reply(200, mail)


def alarm_history_route(request, full_url, headers):
    if request.method != "POST":
        return _reply(405, {"error": "POST"})
    try:
        body = _body(request)
    except ValueError as error:
        return _reply(400, {"error": str(error)})
    name = body.get("alarm_name")
    if not name or body.get("item_type") != "Action" or not body.get("summary"):
        return _reply(400, {"error": 'alarm_name, item_type "Action" and summary are required'})
    for account, region, backend in _loaded(cloudwatch_backends):
        if body.get("account_id") and account != body["account_id"]:
            continue
        if body.get("region") and region != body["region"]:
            continue
        alarm = backend.alarms.get(name)
        if alarm is None:
            continue
        item = _record(
            backend, name, _alarm_type(alarm), "Action", body["summary"], body.get("data") or {}
        )
        return _reply(200, dict(item, Timestamp=_iso_ms(item["Timestamp"])))
    return _reply(404, {"error": f"Alarm not found: {name}"})


# ---------------------------------------------------------------------------
# 9. IAM: a role's inline policies as JSON
# ---------------------------------------------------------------------------
#
# AWS: GetRolePolicy returns the policy document (URL-encoded JSON).
# moto: a role created by CloudFormation keeps its inline `Policies` as the
# template's dicts, and GetRolePolicy answers their Python repr, which no
# reader can parse. The plane reads a function's role to authorize its calls.

from moto.iam.models import IAMBackend as _IAMBackend

_get_role_policy = _IAMBackend.get_role_policy


def get_role_policy(self, role_name, policy_name):
    name, document = _get_role_policy(self, role_name, policy_name)
    return name, _json_text(document) if isinstance(document, (dict, list)) else document


_IAMBackend.get_role_policy = get_role_policy


# ---------------------------------------------------------------------------
# 10. Logs: a log group's `Arn` attribute as CloudFormation gives it
# ---------------------------------------------------------------------------
#
# AWS: `Fn::GetAtt LogGroup.Arn` is `arn:…:log-group:NAME:*` (the `:*` makes
# a policy statement on it cover the group's streams). moto: without `:*`,
# so a role's statement on it would cover no stream and a function could
# write no log (the plane authorizes the functions' log writes).

from moto.logs.models import LogGroup as _LogGroup

_log_group_attribute = _LogGroup.get_cfn_attribute


def log_group_cfn_attribute(self, attribute_name):
    value = _log_group_attribute(self, attribute_name)
    if attribute_name == "Arn" and not value.endswith(":*"):
        return value + ":*"
    return value


_LogGroup.get_cfn_attribute = log_group_cfn_attribute


# ---------------------------------------------------------------------------
# 11. EventBridge: a bus's resource policy from CloudFormation
# ---------------------------------------------------------------------------
#
# AWS: `AWS::Events::EventBus` takes a `Policy` (the bus's resource policy;
# who may put which events on it), which `DescribeEventBus` returns.
# moto: ignores the property. The plane authorizes `PutEvents` against it.

from moto.events.models import EventBus as _EventBus

_bus_policy = _EventBus.policy
_bus_create = _EventBus.create_from_cloudformation_json.__func__
_bus_update = _EventBus.update_from_cloudformation_json.__func__


def _bus_with_policy(bus, properties):
    document = properties.get("Policy")
    bus._plane_policy = _json_text(document) if document else None
    return bus


def bus_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    bus = _bus_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    return _bus_with_policy(bus, cloudformation_json.get("Properties") or {})


def bus_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    properties = cloudformation_json.get("Properties") or {}
    if original_resource is not None and original_resource.name == new_resource_name:
        return _bus_with_policy(original_resource, properties)
    bus = _bus_update(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    )
    return _bus_with_policy(bus, properties)


def bus_policy(self):
    own = self.__dict__.get("_plane_policy")
    return own if own else _bus_policy.fget(self)


_EventBus.create_from_cloudformation_json = classmethod(bus_create)
_EventBus.update_from_cloudformation_json = classmethod(bus_update)
_EventBus.policy = property(bus_policy)


# ---------------------------------------------------------------------------
# 12. KMS: a key's state changed by its ARN
# ---------------------------------------------------------------------------
# KMS takes a key ID or a key ARN in `KeyId` for DisableKey, EnableKey,
# ScheduleKeyDeletion and CancelKeyDeletion
# (https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html);
# moto's backend looks the argument up as an ID only and fails with a 500 on
# an ARN (the stack's output `KmsKeyArn` is one).

from moto.kms.models import KmsBackend as _KmsBackend


def _key_id_of(key_id):
    if isinstance(key_id, str) and key_id.startswith("arn:") and ":key/" in key_id:
        return key_id.rsplit("/", 1)[1]
    return key_id


def _by_id_or_arn(method):
    def wrapped(self, key_id, *args, **kwargs):
        return method(self, _key_id_of(key_id), *args, **kwargs)

    return wrapped


for _name in ("disable_key", "enable_key", "schedule_key_deletion", "cancel_key_deletion"):
    setattr(_KmsBackend, _name, _by_id_or_arn(getattr(_KmsBackend, _name)))


_moto_api_urls.url_paths.update(
    {
        "{0}/moto-api/local-plane/clock": clock_route,
        "{0}/moto-api/local-plane/sqs-stats": sqs_stats_route,
        "{0}/moto-api/local-plane/code/(?P<function_name>.+)$": code_route,
        "{0}/moto-api/local-plane/mail": mail_route,
        "{0}/moto-api/local-plane/alarm-history": alarm_history_route,
    }
)
