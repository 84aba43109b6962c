"""Tests of plane_patches.py against a real `moto_server.py` with LOCAL_PLANE_HOOK.

Run from the repository root, with the project's virtualenv (moto 5.2.5, boto3):

    .venv/bin/python -m unittest tests/testkit/src/emulator/test_plane_patches.py

One server (a subprocess on a free loopback port) for the module; a tiny
HTTP server here is the plane's hook and records what moto sends it. Every
test starts from `/moto-api/reset` and the wall clock. The expectations
are written from the AWS documentation cited in plane_patches.py, not from
what the patches happen to do.
"""

import base64
import collections
import datetime
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
SNAPSHOT = ROOT / "infra/tests/stack/snapshots/stack__snapshot__template_dev.snap"
ACCOUNT = "123456789012"
REGION = "us-east-1"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ENDPOINT = None
SERVER = None
SERVER_LOG = collections.deque(maxlen=2000)
HOOK = None
PORT_DIR = None


class Hook(BaseHTTPRequestHandler):
    """The plane's hook: records every POST; answers 500 while `failing`."""

    calls = []
    lock = threading.Lock()
    failing = False

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Hook.lock:
            Hook.calls.append((self.path, json.loads(body)))
        status = 500 if Hook.failing else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

    @classmethod
    def take(cls, path=None):
        with cls.lock:
            calls, cls.calls = list(cls.calls), []
        return [body for p, body in calls if path is None or p == path]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Linux: the server gets SIGTERM if this process dies without tearing
    down (killed by a test runner), so no server outlives the tests."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _drain(stream):
    """Keeps the server's log in memory (no files); printed with PLANE_TEST_LOG=1."""
    for line in iter(stream.readline, b""):
        SERVER_LOG.append(line.decode(errors="replace"))


def setUpModule():  # noqa: N802 - unittest's name
    global ENDPOINT, SERVER, HOOK
    os.environ["NO_PROXY"] = ",".join(
        filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"])
    )
    os.environ["no_proxy"] = os.environ["NO_PROXY"]
    HOOK = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=HOOK.serve_forever, daemon=True).start()
    port = _free_port()
    ENDPOINT = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LOCAL_PLANE_HOOK=f"http://127.0.0.1:{HOOK.server_port}")
    server = HERE / "moto_server.py"
    if "--port-file" in server.read_text():
        # The launcher that reports its port in a file (removed at the end).
        global PORT_DIR
        PORT_DIR = tempfile.TemporaryDirectory(prefix="plane-patches-")
        arguments = ["--port", str(port), "--port-file", os.path.join(PORT_DIR.name, "port")]
    else:
        arguments = ["-H", "127.0.0.1", "-p", str(port)]
    SERVER = subprocess.Popen(
        [sys.executable, str(server), *arguments],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    threading.Thread(target=_drain, args=(SERVER.stderr,), daemon=True).start()
    deadline = time.time() + 30
    while True:
        try:
            _get("/moto-api/local-plane/clock")
            return
        except OSError:
            if time.time() > deadline or SERVER.poll() is not None:
                tearDownModule()
                raise RuntimeError("moto_server.py did not start") from None
            time.sleep(0.1)


def tearDownModule():  # noqa: N802 - unittest's name
    if SERVER is not None and SERVER.poll() is None:
        SERVER.terminate()
        try:
            SERVER.wait(10)
        except subprocess.TimeoutExpired:
            SERVER.kill()
            SERVER.wait()
    if SERVER is not None:
        SERVER.stderr.close()
        if os.environ.get("PLANE_TEST_LOG") == "1":
            sys.stderr.write("".join(SERVER_LOG))
    if HOOK is not None:
        HOOK.shutdown()
        HOOK.server_close()
    if PORT_DIR is not None:
        PORT_DIR.cleanup()


def _request(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        ENDPOINT + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with _NO_PROXY.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _get(path):
    status, _, body = _request("GET", path)
    return status, json.loads(body)


def _post(path, body):
    status, _, reply = _request("POST", path, body)
    return status, json.loads(reply)


def _client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


def _now_ms():
    return _get("/moto-api/local-plane/clock")[1]["now_ms"]


def _advance(ms):
    return _post("/moto-api/local-plane/clock", {"advance_ms": ms})[1]


def _utc(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)


class PlaneTest(unittest.TestCase):
    def setUp(self):
        status, _, _ = _request("POST", "/moto-api/reset")
        self.assertEqual(status, 200)
        _post("/moto-api/local-plane/clock", {"rate": 1})
        _post("/moto-api/local-plane/clock", {"offset_ms": 0})
        Hook.failing = False
        Hook.take()


# ---------------------------------------------------------------------------
# 5. The clock
# ---------------------------------------------------------------------------


class ClockTest(PlaneTest):
    def test_get_reports_now_offset_and_rate(self):
        status, clock = _get("/moto-api/local-plane/clock")
        self.assertEqual(status, 200)
        self.assertEqual(set(clock), {"now_ms", "offset_ms", "rate", "epoch_ms"})
        self.assertEqual(clock["rate"], 1)
        self.assertAlmostEqual(clock["now_ms"], time.time() * 1000, delta=2000)

    def test_advance_adds_to_the_offset(self):
        before = _now_ms()
        clock = _advance(3_600_000)
        self.assertAlmostEqual(clock["now_ms"] - before, 3_600_000, delta=2000)
        self.assertAlmostEqual(clock["offset_ms"], 3_600_000, delta=1)

    def test_a_new_rate_keeps_now_continuous(self):
        _advance(86_400_000)
        started = time.time()
        before = _now_ms()
        clock = _post("/moto-api/local-plane/clock", {"rate": 50})[1]
        # Continuous: no jump beyond the wall time the two requests took.
        self.assertLessEqual(clock["now_ms"] - before, (time.time() - started) * 1000 + 5)
        self.assertGreaterEqual(clock["now_ms"], before)
        started = time.time()
        time.sleep(0.4)
        moved = _now_ms() - clock["now_ms"]
        self.assertGreaterEqual(moved, 50 * 400)
        self.assertLessEqual(moved, 50 * (time.time() - started + 0.1) * 1000)
        frozen = _post("/moto-api/local-plane/clock", {"rate": 0})[1]["now_ms"]
        time.sleep(0.2)
        self.assertAlmostEqual(_now_ms(), frozen, delta=1)

    def test_bad_requests_are_refused(self):
        self.assertEqual(_post("/moto-api/local-plane/clock", {"rate": -1})[0], 400)
        self.assertEqual(_post("/moto-api/local-plane/clock", {"advance_ms": "x"})[0], 400)

    def test_sqs_sent_timestamp_follows_the_clock(self):
        sqs = _client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        _advance(5 * 86_400_000)
        sqs.send_message(QueueUrl=url, MessageBody="m")
        message = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
        self.assertAlmostEqual(int(message["Attributes"]["SentTimestamp"]), _now_ms(), delta=3000)

    def test_an_advance_past_retention_deletes_the_message(self):
        # SQS deletes messages older than MessageRetentionPeriod (60 s minimum).
        sqs = _client("sqs")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})[
            "QueueUrl"
        ]
        sqs.send_message(QueueUrl=url, MessageBody="old")
        _advance(61_000)
        sqs.send_message(QueueUrl=url, MessageBody="new")
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        self.assertEqual(attributes["Attributes"]["ApproximateNumberOfMessages"], "1")
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in messages], ["new"])

    def test_a_long_poll_waits_virtual_seconds(self):
        sqs = _client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        _post("/moto-api/local-plane/clock", {"rate": 20})
        started = time.time()
        reply = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        self.assertNotIn("Messages", reply)
        self.assertLess(
            time.time() - started, 6
        )  # 20 virtual seconds at 20×, plus moto's 1 s polls

    def test_a_datapoint_without_timestamp_is_at_virtual_now(self):
        cloudwatch = _client("cloudwatch")
        _advance(3 * 86_400_000)
        cloudwatch.put_metric_data(Namespace="N", MetricData=[{"MetricName": "M", "Value": 1}])
        now = _utc(_now_ms())

        def total(around):
            points = cloudwatch.get_metric_statistics(
                Namespace="N",
                MetricName="M",
                StartTime=around - datetime.timedelta(minutes=5),
                EndTime=around + datetime.timedelta(minutes=5),
                Period=600,
                Statistics=["Sum"],
            )["Datapoints"]
            return sum(p["Sum"] for p in points)

        self.assertEqual(total(now), 1)
        self.assertEqual(total(datetime.datetime.now(datetime.timezone.utc)), 0)

    def test_alarm_timestamps_follow_the_clock(self):
        cloudwatch = _client("cloudwatch")
        _advance(7 * 86_400_000)
        _put_alarm(cloudwatch, "a")
        cloudwatch.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="r")
        alarm = cloudwatch.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]
        now = _now_ms()
        self.assertAlmostEqual(alarm["StateUpdatedTimestamp"].timestamp() * 1000, now, delta=3000)
        self.assertAlmostEqual(
            alarm["AlarmConfigurationUpdatedTimestamp"].timestamp() * 1000, now, delta=3000
        )

    def test_log_ingestion_time_follows_the_clock(self):
        logs = _client("logs")
        logs.create_log_group(logGroupName="g")
        logs.create_log_stream(logGroupName="g", logStreamName="s")
        _advance(2 * 86_400_000)
        now = _now_ms()
        logs.put_log_events(
            logGroupName="g", logStreamName="s", logEvents=[{"timestamp": now, "message": "x"}]
        )
        event = logs.get_log_events(logGroupName="g", logStreamName="s")["events"][0]
        self.assertAlmostEqual(event["ingestionTime"], now, delta=3000)


# ---------------------------------------------------------------------------
# 2. Alarms and their history
# ---------------------------------------------------------------------------


def _put_alarm(cloudwatch, name, threshold=1.0, **extra):
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "f"}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        **extra,
    )


def _history(cloudwatch, name=None, **filters):
    if name is not None:
        filters["AlarmName"] = name
    return cloudwatch.describe_alarm_history(**filters)["AlarmHistoryItems"]


class AlarmTest(PlaneTest):
    def test_a_new_alarm_has_insufficient_data(self):
        cloudwatch = _client("cloudwatch")
        _put_alarm(cloudwatch, "a")
        alarm = cloudwatch.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]
        self.assertEqual(alarm["StateValue"], "INSUFFICIENT_DATA")
        self.assertEqual(alarm["StateReason"], "Unchecked: Initial alarm creation")

    def test_an_update_keeps_state_and_reason_and_overwrites_the_configuration(self):
        cloudwatch = _client("cloudwatch")
        _put_alarm(cloudwatch, "a", AlarmActions=["arn:aws:sns:us-east-1:123456789012:t"])
        cloudwatch.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="breached")
        _put_alarm(cloudwatch, "a", threshold=5.0)
        alarm = cloudwatch.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]
        self.assertEqual((alarm["StateValue"], alarm["StateReason"]), ("ALARM", "breached"))
        self.assertEqual(alarm["Threshold"], 5.0)
        self.assertEqual(alarm["AlarmActions"], [])
        kinds = [
            i["HistoryItemType"] for i in _history(cloudwatch, "a", ScanBy="TimestampAscending")
        ]
        self.assertEqual(kinds, ["ConfigurationUpdate", "StateUpdate", "ConfigurationUpdate"])

    def test_a_state_change_is_a_state_update_item(self):
        cloudwatch = _client("cloudwatch")
        _put_alarm(cloudwatch, "a")
        reason_data = {"version": "1.0", "recentDatapoints": [1.0], "threshold": 1.0}
        cloudwatch.set_alarm_state(AlarmName="a", StateValue="OK", StateReason="quiet")
        cloudwatch.set_alarm_state(
            AlarmName="a",
            StateValue="ALARM",
            StateReason="Threshold Crossed",
            StateReasonData=json.dumps(reason_data),
        )
        cloudwatch.set_alarm_state(
            AlarmName="a", StateValue="ALARM", StateReason="again"
        )  # no change
        items = _history(cloudwatch, "a", HistoryItemType="StateUpdate")
        self.assertEqual(
            [i["HistorySummary"] for i in items],
            ["Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK"],
        )
        latest = items[0]
        self.assertEqual((latest["AlarmName"], latest["AlarmType"]), ("a", "MetricAlarm"))
        self.assertIsInstance(latest["Timestamp"], datetime.datetime)
        self.assertEqual(
            json.loads(latest["HistoryData"]),
            {
                "version": "1.0",
                "oldState": {"stateValue": "OK", "stateReason": "quiet"},
                "newState": {
                    "stateValue": "ALARM",
                    "stateReason": "Threshold Crossed",
                    "stateReasonData": reason_data,
                },
            },
        )
        first = json.loads(items[1]["HistoryData"])
        self.assertEqual(
            first["oldState"],
            {"stateValue": "INSUFFICIENT_DATA", "stateReason": "Unchecked: Initial alarm creation"},
        )
        self.assertNotIn("stateReasonData", first["newState"])

    def test_configuration_updates_are_recorded_also_after_delete(self):
        cloudwatch = _client("cloudwatch")
        _put_alarm(cloudwatch, "a")
        _put_alarm(cloudwatch, "a", threshold=2.0)
        cloudwatch.delete_alarms(AlarmNames=["a"])
        items = _history(
            cloudwatch, "a", HistoryItemType="ConfigurationUpdate", ScanBy="TimestampAscending"
        )
        self.assertEqual(
            [i["HistorySummary"] for i in items],
            ['Alarm "a" created', 'Alarm "a" updated', 'Alarm "a" deleted'],
        )
        self.assertEqual(
            [json.loads(i["HistoryData"])["type"] for i in items], ["Create", "Update", "Delete"]
        )

    def test_history_filters_pages_and_order(self):
        cloudwatch = _client("cloudwatch")
        _put_alarm(cloudwatch, "a")
        _put_alarm(cloudwatch, "b")
        for state in ("OK", "ALARM", "OK", "ALARM"):
            _advance(60_000)
            cloudwatch.set_alarm_state(AlarmName="a", StateValue=state, StateReason=state)
        everything = _history(cloudwatch)
        self.assertEqual(len(everything), 6)
        stamps = [i["Timestamp"] for i in everything]
        self.assertEqual(stamps, sorted(stamps, reverse=True))  # TimestampDescending by default
        first = cloudwatch.describe_alarm_history(
            AlarmName="a", MaxRecords=2, ScanBy="TimestampAscending"
        )
        self.assertEqual(len(first["AlarmHistoryItems"]), 2)
        self.assertEqual(first["AlarmHistoryItems"][0]["HistoryItemType"], "ConfigurationUpdate")
        rest = cloudwatch.describe_alarm_history(
            AlarmName="a", MaxRecords=2, ScanBy="TimestampAscending", NextToken=first["NextToken"]
        )
        third = cloudwatch.describe_alarm_history(
            AlarmName="a", MaxRecords=2, ScanBy="TimestampAscending", NextToken=rest["NextToken"]
        )
        self.assertNotIn("NextToken", third)
        self.assertEqual(
            len(
                first["AlarmHistoryItems"] + rest["AlarmHistoryItems"] + third["AlarmHistoryItems"]
            ),
            5,
        )
        now = _utc(_now_ms())
        recent = _history(
            cloudwatch, "a", StartDate=now - datetime.timedelta(seconds=30), EndDate=now
        )
        self.assertEqual([i["HistorySummary"] for i in recent], ["Alarm updated from OK to ALARM"])
        self.assertEqual(_history(cloudwatch, "a", AlarmTypes=["CompositeAlarm"]), [])
        with self.assertRaises(ClientError) as bad:
            cloudwatch.describe_alarm_history(NextToken="nope")
        self.assertEqual(bad.exception.response["Error"]["Code"], "InvalidNextToken")

    def test_the_plane_records_action_items(self):
        cloudwatch = _client("cloudwatch")
        _put_alarm(cloudwatch, "a")
        data = {
            "actionState": "Succeeded",
            "stateUpdateTimestamp": 1667756633496,
            "notificationResource": "arn:aws:sns:us-east-1:123456789012:t",
            "publishedMessage": "{}",
            "error": None,
        }
        status, item = _post(
            "/moto-api/local-plane/alarm-history",
            {
                "alarm_name": "a",
                "item_type": "Action",
                "summary": "Successfully executed action arn:aws:sns:us-east-1:123456789012:t",
                "data": data,
            },
        )
        self.assertEqual(status, 200)
        self.assertEqual(item["HistoryItemType"], "Action")
        items = _history(cloudwatch, "a", HistoryItemType="Action")
        self.assertEqual(len(items), 1)
        self.assertEqual(
            items[0]["HistorySummary"],
            "Successfully executed action arn:aws:sns:us-east-1:123456789012:t",
        )
        self.assertEqual(json.loads(items[0]["HistoryData"]), data)
        self.assertEqual(
            _post(
                "/moto-api/local-plane/alarm-history",
                {"alarm_name": "x", "item_type": "Action", "summary": "s"},
            )[0],
            404,
        )
        self.assertEqual(
            _post(
                "/moto-api/local-plane/alarm-history",
                {"alarm_name": "a", "item_type": "StateUpdate", "summary": "s"},
            )[0],
            400,
        )

    def test_set_alarm_state_publishes_nothing(self):
        sns, sqs, cloudwatch = _client("sns"), _client("sqs"), _client("cloudwatch")
        topic = sns.create_topic(Name="t")["TopicArn"]
        url = sqs.create_queue(QueueName="sub")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        _put_alarm(cloudwatch, "a", AlarmActions=[topic], OKActions=[topic])
        cloudwatch.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="r")
        self.assertNotIn("Messages", sqs.receive_message(QueueUrl=url))

    def test_a_metric_math_alarm_keeps_its_metrics(self):
        cloudwatch = _client("cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName="m",
            Metrics=[
                {
                    "Id": "h",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Throttles",
                            "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                        },
                        "Period": 300,
                        "Stat": "Sum",
                    },
                    "ReturnData": False,
                },
                {"Id": "t", "Expression": "SUM([h])", "Label": "Throttles", "ReturnData": True},
            ],
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )
        alarm = cloudwatch.describe_alarms(AlarmNames=["m"])["MetricAlarms"][0]
        self.assertEqual([q["Id"] for q in alarm["Metrics"]], ["h", "t"])
        self.assertEqual(alarm["StateValue"], "INSUFFICIENT_DATA")
        created = json.loads(_history(cloudwatch, "m")[0]["HistoryData"])["createdAlarm"]
        self.assertEqual(created["metrics"][1]["expression"], "SUM([h])")


# ---------------------------------------------------------------------------
# 3. Metric reads
# ---------------------------------------------------------------------------


class MetricTest(PlaneTest):
    def setUp(self):
        super().setUp()
        self.cloudwatch = _client("cloudwatch")
        now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
        self.base = now - datetime.timedelta(hours=2)

    def put(self, value, seconds, dimensions, namespace="N", name="M"):
        self.cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Value": value,
                    "Timestamp": self.base + datetime.timedelta(seconds=seconds),
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                }
            ],
        )

    def statistics(self, dimensions, period=60, start=0, end=3600, **kwargs):
        kwargs.setdefault("Statistics", ["Sum"])
        return self.cloudwatch.get_metric_statistics(
            Namespace="N",
            MetricName="M",
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=self.base + datetime.timedelta(seconds=start),
            EndTime=self.base + datetime.timedelta(seconds=end),
            Period=period,
            **kwargs,
        )["Datapoints"]

    def data(self, dimensions, stat="Sum", period=60, namespace="N"):
        return self.cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "q",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": namespace,
                            "MetricName": "M",
                            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                        },
                        "Period": period,
                        "Stat": stat,
                    },
                }
            ],
            StartTime=self.base,
            EndTime=self.base + datetime.timedelta(hours=1),
            ScanBy="TimestampAscending",
        )["MetricDataResults"][0]

    def test_statistics_read_the_exact_dimension_set(self):
        self.put(1, 10, {"FunctionName": "f"})
        self.put(10, 10, {"FunctionName": "f", "Resource": "f:1"})
        self.put(100, 10, {})
        self.put(1000, 10, {"FunctionName": "f"}, namespace="Other")
        self.assertEqual([p["Sum"] for p in self.statistics({"FunctionName": "f"})], [1])
        self.assertEqual([p["Sum"] for p in self.statistics({})], [100])
        self.assertEqual(self.statistics({"FunctionName": "g"}), [])

    def test_metric_data_reads_the_exact_metric_in_its_namespace(self):
        self.put(1, 10, {"FunctionName": "f"})
        self.put(10, 10, {"FunctionName": "f", "Resource": "f:1"})
        self.put(1000, 10, {"FunctionName": "f"}, namespace="Other")
        self.put(100, 10, {})
        self.assertEqual(self.data({"FunctionName": "f"})["Values"], [1])
        self.assertEqual(self.data({})["Values"], [100])
        self.assertEqual(self.data({"FunctionName": "f"}, namespace="Other")["Values"], [1000])

    def test_buckets_start_at_the_rounded_start_time_and_skip_empty_periods(self):
        self.put(1, 65, {"D": "d"})
        self.put(2, 100, {"D": "d"})
        self.put(4, 250, {"D": "d"})
        # StartTime base+0:30 is rounded down to the minute (< 15 days ago).
        points = sorted(
            self.statistics({"D": "d"}, period=120, start=30), key=lambda p: p["Timestamp"]
        )
        self.assertEqual(
            [(p["Timestamp"] - self.base, p["Sum"]) for p in points],
            [(datetime.timedelta(0), 3.0), (datetime.timedelta(minutes=4), 4.0)],
        )
        result = self.data({"D": "d"}, period=120)
        self.assertEqual(result["Values"], [3.0, 4.0])
        self.assertEqual(
            [t - self.base for t in result["Timestamps"]],
            [datetime.timedelta(0), datetime.timedelta(minutes=4)],
        )

    def test_percentiles_come_from_the_raw_values(self):
        self.cloudwatch.put_metric_data(
            Namespace="N",
            MetricData=[
                {
                    "MetricName": "M",
                    "Values": [float(v) for v in range(1, 101)],
                    "Timestamp": self.base + datetime.timedelta(seconds=5),
                    "Dimensions": [{"Name": "D", "Value": "d"}],
                }
            ],
        )
        points = self.cloudwatch.get_metric_statistics(
            Namespace="N",
            MetricName="M",
            Dimensions=[{"Name": "D", "Value": "d"}],
            StartTime=self.base,
            EndTime=self.base + datetime.timedelta(hours=1),
            Period=3600,
            ExtendedStatistics=["p99", "p50", "p100"],
        )["Datapoints"]
        self.assertEqual(points[0]["ExtendedStatistics"], {"p99": 99.0, "p50": 50.0, "p100": 100.0})
        self.assertEqual(self.data({"D": "d"}, stat="p99", period=3600)["Values"], [99.0])
        self.assertEqual(self.data({"D": "d"}, stat="Average", period=3600)["Values"], [50.5])

    def test_statistic_sets_have_no_percentiles(self):
        self.cloudwatch.put_metric_data(
            Namespace="N",
            MetricData=[
                {
                    "MetricName": "M",
                    "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2},
                    "Timestamp": self.base + datetime.timedelta(seconds=5),
                    "Dimensions": [{"Name": "D", "Value": "d"}],
                }
            ],
        )
        self.assertEqual(self.data({"D": "d"}, stat="p90", period=3600)["Values"], [])
        self.assertEqual(self.data({"D": "d"}, stat="Maximum", period=3600)["Values"], [2.0])


# ---------------------------------------------------------------------------
# 4. EventBridge deliveries
# ---------------------------------------------------------------------------

HANDLER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler"
ENVELOPE_KEYS = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]


class EventsTest(PlaneTest):
    def setUp(self):
        super().setUp()
        self.events = _client("events")
        self.events.create_event_bus(Name="bus")

    def rule(self, name, targets, state="ENABLED", pattern=None, bus="bus"):
        arn = self.events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=json.dumps(pattern or {"detail-type": ["credits.granted"]}),
            State=state,
        )["RuleArn"]
        self.events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        return arn

    def put(self, detail_type="credits.granted", bus="bus", **extra):
        reply = self.events.put_events(
            Entries=[
                dict(
                    Source="producer",
                    DetailType=detail_type,
                    Detail=json.dumps({"account_id": "a1", "credits": 10}),
                    EventBusName=bus,
                    **extra,
                )
            ]
        )
        self.assertEqual(reply["FailedEntryCount"], 0)
        return reply["Entries"][0]["EventId"]

    def test_a_lambda_target_reaches_the_hook_with_the_full_envelope(self):
        retry = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 86400}
        dlq = {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}
        rule_arn = self.rule(
            "ledger",
            [{"Id": "handler", "Arn": HANDLER_ARN, "RetryPolicy": retry, "DeadLetterConfig": dlq}],
        )
        event_id = self.put(Resources=["arn:aws:s3:::r"])
        matched = Hook.take("/events/matched")
        # take() drained everything; replay the order check with a fresh put
        self.assertEqual(
            matched,
            [
                {
                    "rule_arn": rule_arn,
                    "rule_name": "ledger",
                    "event_bus_name": "bus",
                    "event_id": event_id,
                    "managed_by": None,
                }
            ],
        )
        event_id = self.put()
        calls = Hook.take()
        self.assertEqual([c.get("event_id") for c in calls[:1]], [event_id])
        deliver = calls[1]
        self.assertEqual(len(calls), 2)
        self.assertEqual(deliver["rule_arn"], rule_arn)
        self.assertEqual(deliver["rule_name"], "ledger")
        self.assertEqual(deliver["event_bus_name"], "bus")
        self.assertEqual(
            deliver["target"],
            {"Id": "handler", "Arn": HANDLER_ARN, "RetryPolicy": retry, "DeadLetterConfig": dlq},
        )
        event = deliver["event"]
        self.assertEqual(list(event), ENVELOPE_KEYS)
        self.assertEqual(event["id"], event_id)
        self.assertEqual(event["version"], "0")
        self.assertEqual(event["account"], ACCOUNT)
        self.assertEqual(event["region"], REGION)
        self.assertEqual(event["source"], "producer")
        self.assertEqual(event["detail-type"], "credits.granted")
        self.assertEqual(event["detail"], {"account_id": "a1", "credits": 10})
        self.assertRegex(event["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(json.loads(deliver["payload"]), event)

    def test_an_event_time_is_kept(self):
        self.rule("ledger", [{"Id": "handler", "Arn": HANDLER_ARN}])
        self.put(Time=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
        self.assertEqual(Hook.take("/events/deliver")[0]["event"]["time"], "2026-01-02T03:04:05Z")

    def test_a_disabled_rule_delivers_nothing(self):
        self.rule("off", [{"Id": "handler", "Arn": HANDLER_ARN}], state="DISABLED")
        self.rule("on", [{"Id": "handler", "Arn": HANDLER_ARN}])
        self.put()
        self.assertEqual([c["rule_name"] for c in Hook.take()], ["on", "on"])
        self.events.disable_rule(Name="on", EventBusName="bus")
        self.put()
        self.assertEqual(Hook.take(), [])

    def test_a_scheduled_rule_gets_no_put_event(self):
        self.events.put_rule(Name="sweep", ScheduleExpression="rate(6 hours)", State="ENABLED")
        self.events.put_targets(
            Rule="sweep", Targets=[{"Id": "sweep", "Arn": HANDLER_ARN, "Input": "{}"}]
        )
        self.rule(
            "everything",
            [{"Id": "handler", "Arn": HANDLER_ARN}],
            pattern={"source": ["producer"]},
            bus="default",
        )
        self.put(bus="default")
        self.assertEqual([c["rule_name"] for c in Hook.take()], ["everything", "everything"])

    def test_an_unmatched_event_reaches_nothing(self):
        self.rule("ledger", [{"Id": "handler", "Arn": HANDLER_ARN}])
        self.put(detail_type="video.rendred")
        self.assertEqual(Hook.take(), [])
        self.put()
        self.assertEqual(len(Hook.take("/events/deliver")), 1)

    def test_an_sqs_target_is_left_to_the_plane(self):
        sqs = _client("sqs")
        url = sqs.create_queue(QueueName="unrouted")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.rule("unrouted", [{"Id": "q", "Arn": arn}])
        self.put()
        self.assertEqual([c["target"]["Arn"] for c in Hook.take("/events/deliver")], [arn])
        self.assertNotIn("Messages", sqs.receive_message(QueueUrl=url))

    def test_target_inputs_make_the_payload(self):
        self.rule(
            "inputs",
            [
                {"Id": "constant", "Arn": HANDLER_ARN, "Input": "{}"},
                {"Id": "path", "Arn": HANDLER_ARN, "InputPath": "$.detail"},
                {
                    "Id": "json",
                    "Arn": HANDLER_ARN,
                    "InputTransformer": {
                        "InputPathsMap": {
                            "account": "$.detail.account_id",
                            "credits": "$.detail.credits",
                        },
                        "InputTemplate": '{"who": <account>, "n": [9, <credits>], "rule": <aws.events.rule-name>}',
                    },
                },
                {
                    "Id": "text",
                    "Arn": HANDLER_ARN,
                    "InputTransformer": {
                        "InputPathsMap": {"account": "$.detail.account_id"},
                        "InputTemplate": '"account <account> got credits"',
                    },
                },
            ],
        )
        self.put()
        payloads = {c["target"]["Id"]: c["payload"] for c in Hook.take("/events/deliver")}
        self.assertEqual(payloads["constant"], "{}")
        self.assertEqual(json.loads(payloads["path"]), {"account_id": "a1", "credits": 10})
        self.assertEqual(
            json.loads(payloads["json"]), {"who": "a1", "n": [9, 10], "rule": "inputs"}
        )
        self.assertEqual(payloads["text"], '"account a1 got credits"')

    def test_archive_stays_in_moto_and_replays_reach_the_hook(self):
        bus_arn = self.events.describe_event_bus(Name="bus")["Arn"]
        self.events.create_archive(
            ArchiveName="archive",
            EventSourceArn=bus_arn,
            EventPattern=json.dumps({"detail-type": ["credits.granted"]}),
        )
        replay_rule = self.rule(
            "replay",
            [{"Id": "handler", "Arn": HANDLER_ARN}],
            pattern={"detail-type": ["credits.granted"], "replay-name": [{"exists": True}]},
        )
        self.rule("ledger", [{"Id": "handler", "Arn": HANDLER_ARN}])
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
        original = self.put()
        calls = Hook.take()
        self.assertEqual(sorted(c["rule_name"] for c in calls if "target" in c), ["ledger"])
        managed = [c for c in calls if "target" not in c and c["managed_by"]]
        self.assertEqual([c["rule_name"] for c in managed], ["Events-Archive-archive"])
        self.assertEqual(self.events.describe_archive(ArchiveName="archive")["EventCount"], 1)
        self.events.start_replay(
            ReplayName="r1",
            EventSourceArn=self.events.describe_archive(ArchiveName="archive")["ArchiveArn"],
            EventStartTime=start,
            EventEndTime=datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(minutes=1),
            Destination={"Arn": bus_arn, "FilterArns": [replay_rule]},
        )
        deliveries = Hook.take("/events/deliver")
        self.assertEqual([d["rule_name"] for d in deliveries], ["replay"])
        replayed = deliveries[0]["event"]
        self.assertEqual(replayed["replay-name"], "r1")
        self.assertEqual(replayed["detail"], {"account_id": "a1", "credits": 10})
        self.assertEqual(replayed["account"], ACCOUNT)
        self.assertNotEqual(replayed["id"], original)
        self.assertEqual(json.loads(deliveries[0]["payload"]), replayed)

    def test_a_failing_hook_does_not_fail_put_events(self):
        self.rule("ledger", [{"Id": "handler", "Arn": HANDLER_ARN}])
        Hook.failing = True
        self.put()
        self.assertEqual(len(Hook.take("/events/deliver")), 1)


# ---------------------------------------------------------------------------
# 6. SQS stats
# ---------------------------------------------------------------------------


class SqsStatsTest(PlaneTest):
    def stats(self):
        status, body = _get("/moto-api/local-plane/sqs-stats")
        self.assertEqual(status, 200)
        return {q["name"]: q for q in body["queues"]}

    def test_counts_and_the_oldest_message_received_fewer_than_three_times(self):
        sqs = _client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="poison")
        for _ in range(3):
            sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
        _advance(10_000)
        sqs.send_message(QueueUrl=url, MessageBody="young")
        young_sent = _now_ms()
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        _advance(5_000)
        self.stats()  # drains the counters so far
        held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)[
            "Messages"
        ]
        self.assertEqual(sorted(m["Body"] for m in held), ["poison", "young"])
        sqs.delete_message(
            QueueUrl=url,
            ReceiptHandle=[m for m in held if m["Body"] == "poison"][0]["ReceiptHandle"],
        )
        sqs.receive_message(QueueUrl=url)  # empty
        q = self.stats()["q"]
        self.assertEqual(q["arn"], f"arn:aws:sqs:{REGION}:{ACCOUNT}:q")
        self.assertTrue(q["url"].endswith(f"/{ACCOUNT}/q"))
        self.assertEqual((q["visible"], q["not_visible"], q["delayed"]), (0, 1, 1))
        self.assertAlmostEqual(q["oldest_sent_timestamp_ms"], young_sent, delta=3000)
        self.assertEqual(
            (q["sent"], q["received"], q["deleted"], q["empty_receives"]), (0, 2, 1, 1)
        )
        self.assertAlmostEqual(q["last_activity_ms"], _now_ms(), delta=3000)
        again = self.stats()["q"]
        self.assertEqual(
            (again["sent"], again["received"], again["deleted"], again["empty_receives"]),
            (0, 0, 0, 0),
        )

    def test_the_oldest_skips_messages_received_three_times(self):
        sqs = _client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="poison")
        for _ in range(3):
            sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
        q = self.stats()["q"]
        self.assertIsNone(q["oldest_sent_timestamp_ms"])
        self.assertEqual((q["visible"], q["sent"], q["received"]), (1, 1, 3))


# ---------------------------------------------------------------------------
# 7. Function code and LoggingConfig
# ---------------------------------------------------------------------------


def _zip(text):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("bootstrap", text)
    return out.getvalue()


def _role():
    iam = _client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]


class FunctionTest(PlaneTest):
    def test_the_code_route_returns_the_deployed_zip(self):
        lam = _client("lambda")
        code = _zip("#!/bin/sh\necho v1\n")
        lam.create_function(
            FunctionName="fn",
            Runtime="provided.al2023",
            Role=_role(),
            Handler="bootstrap",
            Code={"ZipFile": code},
        )
        status, headers, body = _request("GET", "/moto-api/local-plane/code/fn")
        self.assertEqual((status, body), (200, code))
        sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
        self.assertEqual(headers["x-local-plane-code-sha256"], sha)
        newer = _zip("#!/bin/sh\necho v2\n")
        lam.update_function_code(FunctionName="fn", ZipFile=newer)
        self.assertEqual(_request("GET", "/moto-api/local-plane/code/fn")[2], newer)
        status, _, body = _request("GET", "/moto-api/local-plane/code/nope")
        self.assertEqual(status, 404)
        self.assertIn("error", json.loads(body))

    def test_logging_config_is_kept(self):
        lam = _client("lambda")
        role = _role()
        logging_config = {
            "LogFormat": "JSON",
            "LogGroup": "/custom/fn",
            "ApplicationLogLevel": "WARN",
            "SystemLogLevel": "INFO",
        }
        lam.create_function(
            FunctionName="fn",
            Runtime="provided.al2023",
            Role=role,
            Handler="bootstrap",
            Code={"ZipFile": _zip("x")},
            LoggingConfig=logging_config,
        )
        self.assertEqual(
            lam.get_function_configuration(FunctionName="fn")["LoggingConfig"], logging_config
        )
        lam.update_function_configuration(
            FunctionName="fn", LoggingConfig={"LogGroup": "/other/fn"}
        )
        self.assertEqual(
            lam.get_function_configuration(FunctionName="fn")["LoggingConfig"]["LogGroup"],
            "/other/fn",
        )
        lam.create_function(
            FunctionName="plain",
            Runtime="provided.al2023",
            Role=role,
            Handler="bootstrap",
            Code={"ZipFile": _zip("x")},
        )
        self.assertEqual(
            lam.get_function_configuration(FunctionName="plain")["LoggingConfig"],
            {"LogFormat": "Text", "LogGroup": "/aws/lambda/plain"},
        )

    def test_put_event_invoke_config_replaces_and_update_merges(self):
        lam = _client("lambda")
        lam.create_function(
            FunctionName="fn",
            Runtime="provided.al2023",
            Role=_role(),
            Handler="bootstrap",
            Code={"ZipFile": _zip("x")},
        )
        lam.put_function_event_invoke_config(FunctionName="fn", MaximumRetryAttempts=2)
        lam.put_function_event_invoke_config(
            FunctionName="fn", MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60
        )
        lam.update_function_event_invoke_config(FunctionName="fn", MaximumRetryAttempts=1)
        config = lam.get_function_event_invoke_config(FunctionName="fn")
        self.assertEqual(
            (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]), (1, 60)
        )


# ---------------------------------------------------------------------------
# 8. E-mail subscriptions
# ---------------------------------------------------------------------------


def _mail(address):
    status, mail = _get(
        "/moto-api/local-plane/mail?" + urllib.parse.urlencode({"address": address})
    )
    assert status == 200
    return mail


class MailTest(PlaneTest):
    def test_an_email_subscription_waits_for_confirmation(self):
        sns = _client("sns")
        topic = sns.create_topic(Name="alerts", Attributes={"DisplayName": "cc dev"})["TopicArn"]
        reply = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
        self.assertEqual(reply["SubscriptionArn"], "pending confirmation")
        listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual([s["SubscriptionArn"] for s in listed], ["PendingConfirmation"])
        sns.publish(TopicArn=topic, Message="before", Subject="s")
        mail = _mail("oncall@example.com")
        self.assertEqual(len(mail), 1)
        confirmation = mail[0]
        self.assertEqual(confirmation["type"], "SubscriptionConfirmation")
        self.assertIn(topic, confirmation["body"])
        self.assertIn(confirmation["token"], confirmation["body"])
        self.assertIn("cc dev", confirmation["from"])
        with self.assertRaises(ClientError):
            sns.confirm_subscription(TopicArn=topic, Token="wrong")
        arn = sns.confirm_subscription(TopicArn=topic, Token=confirmation["token"])[
            "SubscriptionArn"
        ]
        self.assertTrue(arn.startswith(topic + ":"))
        attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        self.assertEqual(attributes["PendingConfirmation"], "false")
        self.assertEqual(
            [
                s["SubscriptionArn"]
                for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
            ],
            [arn],
        )
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"default": "plain", "email": "for e-mail"}),
            MessageStructure="json",
            Subject="ALARM: x",
        )
        notification = _mail("oncall@example.com")[1]
        self.assertEqual(notification["type"], "Notification")
        self.assertEqual(notification["subject"], "ALARM: x")
        self.assertTrue(notification["body"].startswith("for e-mail"))
        self.assertRegex(notification["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_email_json_gets_the_envelope(self):
        sns = _client("sns")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        arn = sns.subscribe(
            TopicArn=topic,
            Protocol="email-json",
            Endpoint="bot@example.com",
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self.assertTrue(arn.startswith(topic + ":"))
        confirmation = _mail("bot@example.com")[0]
        self.assertEqual(json.loads(confirmation["body"])["Token"], confirmation["token"])
        sns.confirm_subscription(TopicArn=topic, Token=confirmation["token"])
        sns.publish(TopicArn=topic, Message="hello")
        envelope = json.loads(_mail("bot@example.com")[1]["body"])
        self.assertEqual(
            (envelope["Type"], envelope["Message"], envelope["TopicArn"]),
            ("Notification", "hello", topic),
        )

    def test_sqs_subscriptions_keep_moto_delivery(self):
        sns, sqs = _client("sns"), _client("sqs")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        url = sqs.create_queue(QueueName="sub")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        sns.publish(TopicArn=topic, Message="m", Subject="s")
        body = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
        self.assertEqual(
            (body["Type"], body["Message"], body["Subject"]), ("Notification", "m", "s")
        )


# ---------------------------------------------------------------------------
# 1. The stage's real template through CloudFormation
# ---------------------------------------------------------------------------


def _snapshot_template():
    text = SNAPSHOT.read_text()
    # insta: a header between two `---` lines, then the JSON.
    return json.loads(text.split("\n---\n", 2)[-1] if text.startswith("---\n") else text)


class StackTest(PlaneTest):
    def deploy(self, template, change_set):
        cfn = _client("cloudformation")
        kind = "CREATE" if change_set == "c1" else "UPDATE"
        cfn.create_change_set(
            StackName="cc-dev",
            ChangeSetName=change_set,
            ChangeSetType=kind,
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            Parameters=[
                {"ParameterKey": "ArtifactBucket", "ParameterValue": "artifacts"},
                {"ParameterKey": "HandlerCodeKey", "ParameterValue": "handler.zip"},
                {"ParameterKey": "SweepCodeKey", "ParameterValue": "sweep.zip"},
            ],
        )
        cfn.execute_change_set(StackName="cc-dev", ChangeSetName=change_set)
        # moto computes outputs on UpdateStack only; the deploy refreshes them
        # so (xtask/operator/src/deploy/emulator.rs).
        cfn.update_stack(
            StackName="cc-dev", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"]
        )
        stack = cfn.describe_stacks(StackName="cc-dev")["Stacks"][0]
        self.assertIn(stack["StackStatus"], ("CREATE_COMPLETE", "UPDATE_COMPLETE"))
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def test_the_dev_template_deploys_what_moto_skipped(self):
        s3 = _client("s3")
        s3.create_bucket(Bucket="artifacts")
        handler_zip = _zip("#!/bin/sh\nhandler\n")
        s3.put_object(Bucket="artifacts", Key="handler.zip", Body=handler_zip)
        s3.put_object(Bucket="artifacts", Key="sweep.zip", Body=_zip("#!/bin/sh\nsweep\n"))
        template = _snapshot_template()
        subscriber = f"arn:aws:sqs:{REGION}:{ACCOUNT}:alerts-sub"
        _client("sqs").create_queue(QueueName="alerts-sub")
        template["Resources"]["OpsAlertsSubscriptionA"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "OpsAlertsTopic"},
                "Protocol": "email",
                "Endpoint": "oncall@example.com",
            },
        }
        template["Resources"]["OpsAlertsSubscriptionB"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "OpsAlertsTopic"},
                "Protocol": "sqs",
                "Endpoint": subscriber,
                "RawMessageDelivery": True,
                "FilterPolicy": {"severity": ["high"]},
            },
        }
        template["Outputs"]["SubscriberArn"] = {"Value": {"Ref": "OpsAlertsSubscriptionB"}}
        template["Outputs"]["ErrorsAlarmArn"] = {
            "Value": {"Fn::GetAtt": ["HandlerErrorsAlarm", "Arn"]}
        }
        outputs = self.deploy(template, "c1")

        cloudwatch, sns, sqs, lam = (
            _client("cloudwatch"),
            _client("sns"),
            _client("sqs"),
            _client("lambda"),
        )
        names = outputs["AlarmNames"].split(",")
        alarms = {
            a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        }
        self.assertEqual(sorted(alarms), sorted(names))
        self.assertEqual({a["StateValue"] for a in alarms.values()}, {"INSUFFICIENT_DATA"})
        errors = alarms[outputs["ErrorsAlarmName"]]
        self.assertEqual(outputs["ErrorsAlarmArn"], errors["AlarmArn"])
        self.assertEqual(
            errors["Dimensions"],
            [{"Name": "FunctionName", "Value": outputs["HandlerFunctionName"]}],
        )
        self.assertEqual(
            (errors["Statistic"], errors["Period"], errors["Threshold"]), ("Sum", 300, 1.0)
        )
        self.assertEqual(
            (errors["TreatMissingData"], errors["DatapointsToAlarm"]), ("notBreaching", 1)
        )
        self.assertEqual(errors["AlarmActions"], [outputs["OpsAlertsTopicArn"]])
        self.assertEqual(errors["OKActions"], [outputs["OpsAlertsTopicArn"]])
        self.assertTrue(
            errors["AlarmDescription"].endswith("Runbook: docs/operations.md#alarm-errors")
        )
        throttles = alarms["cc-agent-reconciler-throttles-dev"]
        self.assertEqual(
            [(q["Id"], q["ReturnData"]) for q in throttles["Metrics"]],
            [("handler", False), ("sweep", False), ("throttles", True)],
        )
        self.assertEqual(throttles["Metrics"][2]["Expression"], "SUM([handler, sweep])")
        self.assertEqual(
            throttles["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"],
            [{"Name": "FunctionName", "Value": outputs["HandlerFunctionName"]}],
        )
        resource = _client("cloudformation").describe_stack_resource(
            StackName="cc-dev", LogicalResourceId="HandlerErrorsAlarm"
        )
        self.assertEqual(
            resource["StackResourceDetail"]["PhysicalResourceId"], outputs["ErrorsAlarmName"]
        )

        invoke = lam.get_function_event_invoke_config(FunctionName=outputs["HandlerFunctionName"])
        self.assertEqual(invoke["MaximumRetryAttempts"], 2)
        self.assertEqual(
            invoke["DestinationConfig"]["OnFailure"]["Destination"], outputs["DeadLetterQueueArn"]
        )
        configuration = lam.get_function_configuration(FunctionName=outputs["HandlerFunctionName"])
        self.assertEqual(configuration["LoggingConfig"]["LogFormat"], "JSON")
        self.assertEqual(configuration["LoggingConfig"]["LogGroup"], outputs["HandlerLogGroupName"])
        self.assertEqual(
            _request("GET", "/moto-api/local-plane/code/" + outputs["HandlerFunctionName"])[2],
            handler_zip,
        )

        dlq_policy = json.loads(
            sqs.get_queue_attributes(
                QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["Policy"]
            )["Attributes"]["Policy"]
        )
        self.assertEqual(
            [s["Sid"] for s in dlq_policy["Statement"]],
            ["StageRulesDeadLetter", "DenyInsecureTransport"],
        )
        self.assertIn(
            outputs["LedgerEventsRuleArn"],
            dlq_policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        )
        topic_policy = json.loads(
            sns.get_topic_attributes(TopicArn=outputs["OpsAlertsTopicArn"])["Attributes"]["Policy"]
        )
        self.assertEqual(
            topic_policy["Statement"][0]["Principal"], {"Service": "cloudwatch.amazonaws.com"}
        )

        subscriptions = {
            s["Protocol"]: s
            for s in sns.list_subscriptions_by_topic(TopicArn=outputs["OpsAlertsTopicArn"])[
                "Subscriptions"
            ]
        }
        self.assertEqual(subscriptions["email"]["SubscriptionArn"], "PendingConfirmation")
        self.assertEqual(subscriptions["sqs"]["SubscriptionArn"], outputs["SubscriberArn"])
        attributes = sns.get_subscription_attributes(SubscriptionArn=outputs["SubscriberArn"])[
            "Attributes"
        ]
        self.assertEqual(attributes["RawMessageDelivery"], "true")
        self.assertEqual(json.loads(attributes["FilterPolicy"]), {"severity": ["high"]})
        self.assertEqual(_mail("oncall@example.com")[0]["type"], "SubscriptionConfirmation")

        # An update: the alarm keeps its state and history, takes the new configuration.
        cloudwatch.set_alarm_state(
            AlarmName=outputs["ErrorsAlarmName"], StateValue="OK", StateReason="quiet"
        )
        template["Resources"]["HandlerErrorsAlarm"]["Properties"]["Threshold"] = 3.0
        template["Resources"]["OpsAlertsSubscriptionB"]["Properties"]["RawMessageDelivery"] = False
        del template["Resources"]["UnroutedQueuePolicy"]
        self.deploy(template, "c2")
        errors = cloudwatch.describe_alarms(AlarmNames=[outputs["ErrorsAlarmName"]])[
            "MetricAlarms"
        ][0]
        self.assertEqual(
            (errors["StateValue"], errors["StateReason"], errors["Threshold"]), ("OK", "quiet", 3.0)
        )
        summaries = [
            i["HistorySummary"]
            for i in _history(cloudwatch, outputs["ErrorsAlarmName"], ScanBy="TimestampAscending")
        ]
        name = outputs["ErrorsAlarmName"]
        self.assertEqual(
            summaries,
            [
                f'Alarm "{name}" created',
                "Alarm updated from INSUFFICIENT_DATA to OK",
                f'Alarm "{name}" updated',
            ],
        )
        attributes = sns.get_subscription_attributes(SubscriptionArn=outputs["SubscriberArn"])[
            "Attributes"
        ]
        self.assertEqual(attributes["RawMessageDelivery"], "false")
        unrouted = sqs.get_queue_url(QueueName="cc-agent-reconciler-unrouted-dev")["QueueUrl"]
        self.assertNotIn(
            "Policy",
            sqs.get_queue_attributes(QueueUrl=unrouted, AttributeNames=["Policy"]).get(
                "Attributes", {}
            ),
        )

        # A delete takes the alarms, subscriptions and invoke configs with the stack.
        _client("cloudformation").delete_stack(StackName="cc-dev")
        self.assertEqual(cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"], [])
        self.assertEqual(sns.list_subscriptions()["Subscriptions"], [])
        self.assertEqual(_history(cloudwatch, name)[0]["HistorySummary"], f'Alarm "{name}" deleted')


class SmallTemplateTest(PlaneTest):
    """The properties the snapshot does not use, on a template of its own."""

    def template(self):
        allow = {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
        }
        publish = {
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": "*",
        }
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        return {
            "Resources": {
                "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}},
                "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
                "QueuePolicy": {
                    "Type": "AWS::SQS::QueuePolicy",
                    "Properties": {
                        "Queues": [{"Ref": "Queue"}],
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [allow]},
                    },
                },
                "TopicPolicy": {
                    "Type": "AWS::SNS::TopicPolicy",
                    "Properties": {
                        "Topics": [{"Ref": "Topic"}],
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [publish]},
                    },
                },
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {"AssumeRolePolicyDocument": trust},
                },
                "Function": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "FunctionName": "fn",
                        "Runtime": "provided.al2023",
                        "Handler": "bootstrap",
                        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                        "Code": {"ZipFile": "x"},
                    },
                },
                "InvokeConfig": {
                    "Type": "AWS::Lambda::EventInvokeConfig",
                    "Properties": {
                        "FunctionName": {"Ref": "Function"},
                        "Qualifier": "$LATEST",
                        "MaximumRetryAttempts": 0,
                        "MaximumEventAgeInSeconds": 600,
                        "DestinationConfig": {
                            "OnFailure": {"Destination": {"Fn::GetAtt": ["Queue", "Arn"]}}
                        },
                    },
                },
                "Latency": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmDescription": "slow",
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Duration",
                        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "Function"}}],
                        "ExtendedStatistic": "p99",
                        "Unit": "Milliseconds",
                        "Period": 60,
                        "EvaluationPeriods": 5,
                        "DatapointsToAlarm": 3,
                        "Threshold": "1000",
                        "ComparisonOperator": "GreaterThanThreshold",
                        "TreatMissingData": "breaching",
                        "ActionsEnabled": False,
                        "AlarmActions": [{"Ref": "Topic"}],
                        "InsufficientDataActions": [{"Ref": "Topic"}],
                    },
                },
            },
            "Outputs": {
                "LatencyName": {"Value": {"Ref": "Latency"}},
                "LatencyArn": {"Value": {"Fn::GetAtt": ["Latency", "Arn"]}},
                "QueueUrl": {"Value": {"Ref": "Queue"}},
                "TopicArn": {"Value": {"Ref": "Topic"}},
            },
        }

    def test_alarm_invoke_config_and_policies_from_a_template(self):
        cfn, cloudwatch, lam, sqs, sns = (
            _client(s) for s in ("cloudformation", "cloudwatch", "lambda", "sqs", "sns")
        )
        template = self.template()
        cfn.create_stack(
            StackName="small", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
        )
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in cfn.describe_stacks(StackName="small")["Stacks"][0]["Outputs"]
        }
        name = outputs["LatencyName"]
        self.assertTrue(
            name.startswith("small-Latency-"), name
        )  # CloudFormation names an unnamed alarm
        alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        self.assertEqual(outputs["LatencyArn"], alarm["AlarmArn"])
        self.assertEqual(
            {
                k: alarm.get(k)
                for k in (
                    "ExtendedStatistic",
                    "Unit",
                    "Period",
                    "EvaluationPeriods",
                    "DatapointsToAlarm",
                    "Threshold",
                    "TreatMissingData",
                    "ActionsEnabled",
                    "AlarmDescription",
                )
            },
            {
                "ExtendedStatistic": "p99",
                "Unit": "Milliseconds",
                "Period": 60,
                "EvaluationPeriods": 5,
                "DatapointsToAlarm": 3,
                "Threshold": 1000.0,
                "TreatMissingData": "breaching",
                "ActionsEnabled": False,
                "AlarmDescription": "slow",
            },
        )
        self.assertEqual(
            (alarm["AlarmActions"], alarm["InsufficientDataActions"], alarm["OKActions"]),
            ([outputs["TopicArn"]], [outputs["TopicArn"]], []),
        )
        self.assertNotIn("Statistic", alarm)
        config = lam.get_function_event_invoke_config(FunctionName="fn")
        self.assertEqual(
            (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]), (0, 600)
        )
        self.assertEqual(
            config["DestinationConfig"]["OnFailure"]["Destination"],
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
        )
        policy = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["Policy"])[
            "Attributes"
        ]["Policy"]
        self.assertEqual(
            json.loads(policy)["Statement"][0]["Principal"], {"Service": "events.amazonaws.com"}
        )

        # Removing the policies and the invoke config takes them away; the alarm keeps its name.
        for logical in ("QueuePolicy", "TopicPolicy", "InvokeConfig"):
            del template["Resources"][logical]
        template["Resources"]["Latency"]["Properties"]["Threshold"] = 2000
        cfn.update_stack(
            StackName="small", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
        )
        self.assertEqual(
            cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["Threshold"], 2000.0
        )
        self.assertNotIn(
            "Policy",
            sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["Policy"]).get(
                "Attributes", {}
            ),
        )
        topic_policy = json.loads(
            sns.get_topic_attributes(TopicArn=outputs["TopicArn"])["Attributes"]["Policy"]
        )
        self.assertEqual([s["Sid"] for s in topic_policy["Statement"]], ["__default_statement_ID"])
        with self.assertRaises(ClientError):
            lam.get_function_event_invoke_config(FunctionName="fn")

    def test_topic_counts_pending_and_confirmed_subscriptions(self):
        sns, sqs = _client("sns"), _client("sqs")
        topic = sns.create_topic(Name="t")["TopicArn"]
        sqs.create_queue(QueueName="q")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:q")
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
        attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
        self.assertEqual(
            (attributes["SubscriptionsConfirmed"], attributes["SubscriptionsPending"]), ("1", "1")
        )


if __name__ == "__main__":
    unittest.main()
