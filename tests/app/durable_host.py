"""A small stand-in for the Durable Functions host, for tests.

It drives an orchestrator exactly as the host does with the out-of-process protocol: it keeps the instance's
history in the host's JSON format (``OrchestratorStarted``, ``ExecutionStarted``, ``TaskScheduled``,
``TaskCompleted``/``TaskFailed``, ``TimerCreated``/``TimerFired``, ``SubOrchestrationInstance*``,
``EventRaised``, …), hands the whole history to the orchestrator function the app registered (the
``azure-functions-durable`` replay engine replays it from the start), reads back the actions the orchestrator
asked for, performs them (activities through a callable, sub-orchestrations recursively, timers by moving
the clock), appends their outcomes to the history and repeats until the orchestrator is done.

An orchestrator that continues as new starts again from a fresh history with its new input, as the host
does; :attr:`InstanceResult.generations` counts how often and :attr:`InstanceResult.generation_sizes` keeps
the size each generation's history reached.

Retries follow the host's semantics for ``call_activity_with_retry``: a failed attempt is a ``TaskFailed``
followed by a retry timer and, if attempts remain, a new ``TaskScheduled``; after the last attempt the host
still waits for one more timer before the orchestrator sees the failure.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.constants import DATETIME_STRING_FORMAT

# Host history event types (HistoryEventType in azure-functions-durable).
EXECUTION_STARTED, EXECUTION_COMPLETED, TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 0, 1, 4, 5, 6
SUB_CREATED, SUB_COMPLETED, SUB_FAILED, TIMER_CREATED, TIMER_FIRED = 7, 8, 9, 10, 11
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED, EVENT_RAISED = 12, 13, 15
# Action types the orchestrator returns.
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, CALL_SUB, CALL_SUB_WITH_RETRY = 0, 1, 2, 3
CONTINUE_AS_NEW, CREATE_TIMER, WAIT_FOR_EVENT = 4, 5, 6


def _memoize_timestamp_parsing() -> None:
    """The replay engine parses every event's timestamp with ``dateutil`` each time it replays a history,
    and it replays the whole history once per episode: the same strings, parsed again and again (three
    quarters of the time of a large run's replay). Memoized, the parse gives the same results (the very
    same objects); only the replay of a district-sized run gets faster."""
    module = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
    if not hasattr(module.dt_parse, "cache_info"):
        module.dt_parse = functools.lru_cache(maxsize=1 << 16)(module.dt_parse)


_memoize_timestamp_parsing()


class ActivityFault(Exception):
    """Raised by a test's activity callable to make that attempt fail (``TaskFailed``)."""


#: ``(activity name, input, attempt starting at 1) -> result`` (JSON-able), or raise to fail the attempt.
ActivityRunner = Callable[[str, Any, int], Any]


@dataclass
class InstanceResult:
    name: str
    instance_id: str
    output: Any
    error: str | None
    custom_status: Any
    history: list[dict[str, Any]]
    children: list[InstanceResult] = field(default_factory=list)
    #: Histories this instance went through: 1, plus one per ``continue_as_new``.
    generations: int = 1
    #: Events each generation's history reached, in order (the last one is :attr:`history`).
    generation_sizes: list[int] = field(default_factory=list)

    @property
    def own_largest_history(self) -> int:
        """Events in the largest history any generation of this instance reached."""
        return max([len(self.history), *self.generation_sizes])

    @property
    def largest_history(self) -> int:
        """Events in the largest history among this instance (every generation) and its sub-orchestrations."""
        return max([self.own_largest_history, *(child.largest_history for child in self.children)])

    def instances(self) -> list[InstanceResult]:
        return [self, *(instance for child in self.children for instance in child.instances())]


@dataclass
class _Work:
    kind: str  # activity | timer | sub | retry_timer
    name: str = ""
    input: str | None = None
    instance_id: str = ""
    fire_at: datetime | None = None
    attempt: int = 1
    max_attempts: int = 1
    interval_ms: int = 0


@dataclass
class DurableHost:
    #: Orchestrator name → the function the app registered (what ``get_user_function()`` returns).
    orchestrators: Mapping[str, Callable[[str], str]]
    activities: ActivityRunner
    #: External events to raise when an orchestrator waits for them: name → payload, raised once each.
    events: dict[str, Any] = field(default_factory=dict)
    #: Asked when an orchestrator waits for an event not in ``events``: the payload to raise, or ``None``.
    on_wait: Callable[[str, str], Any] | None = None
    clock: datetime = field(default_factory=lambda: datetime(2026, 9, 1, 2, 0, tzinfo=UTC))
    calls: list[tuple[str, Any, int]] = field(default_factory=list)
    #: Deliver one completion per episode (the most history a run can make) instead of all at once.
    one_completion_per_episode: bool = False

    def run(
        self, name: str, instance_id: str, input_: Any, *, parent_id: str | None = None
    ) -> InstanceResult:
        instance = _Instance(self, name, instance_id, json.dumps(input_), parent_id)
        return instance.run()

    def tick(self, seconds: float = 1.0) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock


class _Instance:
    def __init__(
        self, host: DurableHost, name: str, instance_id: str, input_json: str, parent_id: str | None
    ):
        self.host = host
        self.name = name
        self.instance_id = instance_id
        self.input_json = input_json
        self.parent_id = parent_id
        self.history: list[dict[str, Any]] = []
        self.children: list[InstanceResult] = []
        self.sequence = 0
        self.pending: dict[int, _Work] = {}
        self.timer_of_action: dict[int, int] = {}
        self.waiting: set[str] = set()
        self.known_actions = 0
        self.generations = 1
        self.generation_sizes: list[int] = []

    def continue_as_new(self, input_json: str) -> None:
        """Start the next generation: the new input, an empty history, nothing in flight."""
        self.generation_sizes.append(len(self.history))
        self.input_json = input_json
        self.history, self.sequence, self.known_actions = [], 0, 0
        self.pending, self.timer_of_action, self.waiting = {}, {}, set()
        self.generations += 1
        self.host.tick()
        self.event(ORCHESTRATOR_STARTED)
        self.event(EXECUTION_STARTED, Name=self.name, Version="", Input=self.input_json)

    # -- history ---------------------------------------------------------------------------------------

    def event(self, event_type: int, event_id: int = -1, **fields: Any) -> None:
        stamp = self.host.clock.strftime(DATETIME_STRING_FORMAT)
        self.history.append(
            {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": stamp, **fields}
        )

    def next_id(self) -> int:
        self.sequence += 1
        return self.sequence - 1

    def invoke(self) -> tuple[dict[str, Any], str | None]:
        last_start = max(i for i, e in enumerate(self.history) if e["EventType"] == ORCHESTRATOR_STARTED)
        history = [{**event, "IsPlayed": index < last_start} for index, event in enumerate(self.history)]
        context = {
            "history": history,
            "input": self.input_json,
            "instanceId": self.instance_id,
            "isReplaying": last_start > 1,
            "parentInstanceId": self.parent_id,
            "upperSchemaVersion": 0,
        }
        function = self.host.orchestrators[self.name]
        try:
            return json.loads(function(json.dumps(context))), None
        except Exception as err:
            marker = "$OutOfProcData$:"
            text = str(err)
            if marker not in text:
                raise  # not an orchestrator failure: the history or the test host is wrong
            # The replay engine reports an orchestrator exception as "<message>\n\n$OutOfProcData$:<state>".
            return json.loads(text.split(marker, 1)[1]), text.split("\n\n" + marker, 1)[0]

    # -- the loop --------------------------------------------------------------------------------------

    def run(self) -> InstanceResult:
        self.event(ORCHESTRATOR_STARTED)
        self.event(EXECUTION_STARTED, Name=self.name, Version="", Input=self.input_json)
        while True:
            state, error = self.invoke()
            actions = [action for group in state.get("actions", []) for action in group]
            renewal = [action for action in actions if action["actionType"] == CONTINUE_AS_NEW]
            if error is None and renewal:
                self.event(EXECUTION_COMPLETED, OrchestrationStatus=4, Result=None)  # ContinuedAsNew
                self.event(ORCHESTRATOR_COMPLETED)
                self.continue_as_new(renewal[-1]["input"])
                continue
            if error is not None or state.get("isDone"):
                self.schedule(actions)
                result = json.dumps(state.get("output")) if error is None else None
                self.event(EXECUTION_COMPLETED, OrchestrationStatus=0 if error is None else 3, Result=result)
                self.event(ORCHESTRATOR_COMPLETED)
                return InstanceResult(
                    self.name,
                    self.instance_id,
                    state.get("output"),
                    error,
                    state.get("customStatus"),
                    self.history,
                    self.children,
                    self.generations,
                    [*self.generation_sizes, len(self.history)],
                )
            self.schedule(actions)
            self.event(ORCHESTRATOR_COMPLETED)
            if not self.pending and not self.waiting:
                raise AssertionError(f"{self.name} waits for nothing the host can deliver: {state}")
            self.host.tick()
            self.event(ORCHESTRATOR_STARTED)
            self.deliver()

    def schedule(self, actions: list[dict[str, Any]]) -> None:
        for index, action in enumerate(actions):
            if index < self.known_actions:
                if action["actionType"] == CREATE_TIMER and action.get("isCanceled"):
                    self.pending.pop(self.timer_of_action.get(index, -1), None)
                continue
            kind = action["actionType"]
            if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
                event_id = self.next_id()
                retry = action.get("retryOptions") or {}
                self.event(TASK_SCHEDULED, event_id, Name=action["functionName"], Input=action["input"])
                self.pending[event_id] = _Work(
                    "activity",
                    action["functionName"],
                    action["input"],
                    max_attempts=int(retry.get("maxNumberOfAttempts", 1)),
                    interval_ms=int(retry.get("firstRetryIntervalInMilliseconds", 0)),
                )
            elif kind in (CALL_SUB, CALL_SUB_WITH_RETRY):
                event_id = self.next_id()
                self.event(
                    SUB_CREATED,
                    event_id,
                    Name=action["functionName"],
                    InstanceId=action["instanceId"],
                    Input=action["input"],
                )
                self.pending[event_id] = _Work(
                    "sub", action["functionName"], action["input"], instance_id=action["instanceId"]
                )
            elif kind == CREATE_TIMER:
                event_id = self.next_id()
                fire_at = datetime.strptime(action["fireAt"], DATETIME_STRING_FORMAT).replace(tzinfo=UTC)
                self.event(TIMER_CREATED, event_id, FireAt=action["fireAt"])
                self.timer_of_action[index] = event_id
                if not action.get("isCanceled"):
                    self.pending[event_id] = _Work("timer", fire_at=fire_at)
            elif kind == WAIT_FOR_EVENT:
                self.waiting.add(action["externalEventName"])
            else:
                raise AssertionError(f"the test host does not support action type {kind}")
        self.known_actions = max(self.known_actions, len(actions))

    def deliver(self) -> None:
        """Complete everything in flight; only when nothing is, raise an awaited event or fire a timer."""
        busy = {key: work for key, work in self.pending.items() if work.kind in ("activity", "sub")}
        if busy:
            started = self.history[-1]
            for event_id in sorted(busy)[: 1 if self.host.one_completion_per_episode else None]:
                self.complete(event_id, self.pending.pop(event_id))
            # The episode starts once its completions are in (a sub-orchestration may take hours).
            started["Timestamp"] = self.host.clock.strftime(DATETIME_STRING_FORMAT)
            return
        for name in sorted(self.waiting):
            if name not in self.host.events and self.host.on_wait is not None:
                payload = self.host.on_wait(self.instance_id, name)
                if payload is not None:
                    self.host.events[name] = payload
            if name in self.host.events:
                self.waiting.discard(name)
                self.event(EVENT_RAISED, Name=name, Input=json.dumps(self.host.events.pop(name)))
                return
        if not self.pending:
            raise AssertionError(f"{self.name} waits for events {sorted(self.waiting)} that nobody raises")
        event_id = min(self.pending, key=lambda key: (self.pending[key].fire_at or self.host.clock, key))
        work = self.pending.pop(event_id)
        assert work.fire_at is not None
        self.host.clock = max(self.host.clock, work.fire_at)
        self.history[-1]["Timestamp"] = self.host.clock.strftime(DATETIME_STRING_FORMAT)
        self.event(TIMER_FIRED, TimerId=event_id, FireAt=work.fire_at.strftime(DATETIME_STRING_FORMAT))
        if work.kind == "retry_timer":
            self.retry(work)

    def complete(self, event_id: int, work: _Work) -> None:
        if work.kind == "sub":
            child = self.host.run(
                work.name, work.instance_id, json.loads(work.input or "null"), parent_id=self.instance_id
            )
            self.children.append(child)
            if child.error is None:
                self.event(SUB_COMPLETED, TaskScheduledId=event_id, Result=json.dumps(child.output))
            else:
                self.event(SUB_FAILED, TaskScheduledId=event_id, Reason=child.error, Details="")
            return
        payload = json.loads(work.input) if work.input is not None else None
        self.host.calls.append((work.name, payload, work.attempt))
        try:
            result = self.host.activities(work.name, payload, work.attempt)
        except ActivityFault as fault:
            self.event(TASK_FAILED, TaskScheduledId=event_id, Reason=str(fault), Details="ActivityFault")
            if work.max_attempts > 1:
                timer_id = self.next_id()
                fire_at = self.host.clock + timedelta(milliseconds=work.interval_ms)
                self.event(TIMER_CREATED, timer_id, FireAt=fire_at.strftime(DATETIME_STRING_FORMAT))
                self.pending[timer_id] = _Work(
                    "retry_timer",
                    work.name,
                    work.input,
                    fire_at=fire_at,
                    attempt=work.attempt,
                    max_attempts=work.max_attempts,
                    interval_ms=work.interval_ms,
                )
            return
        self.event(TASK_COMPLETED, TaskScheduledId=event_id, Result=json.dumps(result))

    def retry(self, timer: _Work) -> None:
        if timer.attempt >= timer.max_attempts:
            return  # the orchestrator now sees the last failure
        event_id = self.next_id()
        self.event(TASK_SCHEDULED, event_id, Name=timer.name, Input=timer.input)
        self.pending[event_id] = _Work(
            "activity",
            timer.name,
            timer.input,
            attempt=timer.attempt + 1,
            max_attempts=timer.max_attempts,
            interval_ms=timer.interval_ms,
        )
