"""Alert rules over anything tallyml measures, with pending -> firing -> resolved states.

A rule is a small expression over *named values* (``"psi > 0.2"``, ``"f1_last_10000 < 0.9"``,
``"latency_p99_seconds > 0.05 and gpu_memory_ratio > 0.9"``, ``"overfitting_detected"``) that an
:class:`AlertEngine` evaluates against the values a provider returns. The engine is given the set
of known names up front, so a rule naming an unknown value fails when it is added, not at its
first evaluation.

Expression language (a restricted subset of Python expression syntax, parsed with ``ast``):
    names (the known values), numbers, ``True``/``False``; arithmetic ``+ - * /`` and unary ``-``;
    comparisons ``< <= > >= == !=`` (chains allowed); ``and``, ``or``, ``not``; parentheses.
    A bare name is true when its value is non-zero (0/1 flags such as ``overfitting_detected``).
    Windows are the provider's business: name the windowed value (``f1_last_10000``).

States and timing (Prometheus' model, plus counts of evaluations)
    inactive -> pending when the condition becomes true;
    pending -> firing once it has held for ``for_`` seconds *and* ``for_count`` consecutive
    evaluations (both default to 0/1: fire at once); pending -> inactive when it is false again;
    firing -> resolved when the ``clear`` condition (default: the condition is false) has held for
    ``clear_for`` seconds and ``clear_count`` evaluations: hysteresis, e.g. fire at
    ``psi > 0.2`` and resolve only at ``psi < 0.1``; resolved -> pending when it is true again.
    An evaluation where a value the expression needs is missing, None or NaN is *no data*: the
    rule keeps its state and its counters (no evidence either way).

Actions: callables ``action(event)`` run when a rule starts or stops firing (per rule and for the
whole engine); :class:`LogAction` logs. :meth:`Rule.to_prometheus` renders the rule as a
Prometheus alerting rule (the exporter maps value names to its metric names).
"""
from __future__ import annotations

import ast
import dataclasses
import logging
import math
import numbers
import threading
import time

__all__ = ["Rule", "AlertEngine", "AlertEvent", "LogAction", "RULE_STATES"]

RULE_STATES = ("inactive", "pending", "firing", "resolved")
_log = logging.getLogger("tallyml.rules")


class _NoData(Exception):
    """A value the expression needs is missing, None or NaN."""


_CMP = {ast.Lt: ("<", lambda a, b: a < b), ast.LtE: ("<=", lambda a, b: a <= b),
        ast.Gt: (">", lambda a, b: a > b), ast.GtE: (">=", lambda a, b: a >= b),
        ast.Eq: ("==", lambda a, b: a == b), ast.NotEq: ("!=", lambda a, b: a != b)}
_NEG = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_ARITH = {ast.Add: ("+", lambda a, b: a + b), ast.Sub: ("-", lambda a, b: a - b),
          ast.Mult: ("*", lambda a, b: a * b), ast.Div: ("/", lambda a, b: a / b)}


class _Expr:
    """A parsed rule expression: the names it reads, an evaluator and a PromQL renderer."""

    def __init__(self, text: str, what: str = "expr"):
        if not isinstance(text, str) or not text.strip():
            raise TypeError(f"{what} must be a non-empty string; got {text!r}")
        self.text = text
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as e:
            raise ValueError(f"{what} {text!r} is not a valid expression: {e.msg}") from None
        self.names: set[str] = set()
        self._root = tree.body
        self._check(self._root, what)

    def _check(self, node, what):
        if isinstance(node, ast.Name):
            self.names.add(node.id)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, numbers.Real):  # bools are Real: True/False allowed
                raise ValueError(f"{what} {self.text!r}: only numbers and True/False are allowed "
                                 f"as constants; got {node.value!r}")
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v, what)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            self._check(node.operand, what)
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            self._check(node.left, what)
            self._check(node.right, what)
        elif isinstance(node, ast.Compare) and all(type(op) in _CMP for op in node.ops):
            self._check(node.left, what)
            for c in node.comparators:
                self._check(c, what)
        else:
            raise ValueError(f"{what} {self.text!r}: {type(node).__name__} is not allowed "
                             "(names, numbers, + - * /, comparisons, and/or/not only)")

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, values) -> bool:
        """True/False, or raises _NoData."""
        return bool(self._eval(self._root, values))

    def _eval(self, node, values):
        if isinstance(node, ast.Name):
            v = values.get(node.id)
            if v is None:
                raise _NoData(node.id)
            v = float(v)
            if math.isnan(v):
                raise _NoData(node.id)
            return v
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._truth(v, values) for v in node.values)
            return any(self._truth(v, values) for v in node.values)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return not self._truth(node.operand, values)
            x = self._eval(node.operand, values)
            return -x if isinstance(node.op, ast.USub) else +x
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, values), self._eval(node.right, values)
            if isinstance(node.op, ast.Div) and b == 0:
                raise _NoData("division by zero")
            return _ARITH[type(node.op)][1](a, b)
        # Compare
        left = self._eval(node.left, values)
        for op, comp in zip(node.ops, node.comparators):
            right = self._eval(comp, values)
            if not _CMP[type(op)][1](left, right):
                return False
            left = right
        return True

    def _truth(self, node, values):
        v = self._eval(node, values)
        return bool(v)

    # -- PromQL --------------------------------------------------------------------------------
    def promql(self, name_map) -> str:
        return self._pq(self._root, name_map, negate=False)

    def _pq(self, node, nm, negate):
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And) != negate  # De Morgan under negation
            parts = [f"({self._pq(v, nm, negate)})" for v in node.values]
            return (" and on() " if is_and else " or ").join(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._pq(node.operand, nm, not negate)
        if isinstance(node, ast.Compare):
            if len(node.ops) > 1:  # a < b < c  ==  (a < b) and (b < c)
                pairs = []
                left = node.left
                for op, comp in zip(node.ops, node.comparators):
                    pairs.append(ast.Compare(left=left, ops=[op], comparators=[comp]))
                    left = comp
                return self._pq(ast.BoolOp(op=ast.And(), values=pairs), nm, negate)
            sym = _CMP[type(node.ops[0])][0]
            if negate:
                sym = _NEG[sym]
            return f"{self._pv(node.left, nm)} {sym} {self._pv(node.comparators[0], nm)}"
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return "vector(1) > 0" if node.value != negate else "vector(0) > 0"
        # a bare value used as a condition: non-zero means true
        return f"{self._pv(node, nm)} {'==' if negate else '!='} 0"

    def _pv(self, node, nm):
        if isinstance(node, ast.Name):
            return nm(node.id)
        if isinstance(node, ast.Constant):
            return repr(float(node.value)) if not isinstance(node.value, bool) else str(int(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return ("-" if isinstance(node.op, ast.USub) else "") + f"({self._pv(node.operand, nm)})"
        if isinstance(node, ast.BinOp):
            sym = _ARITH[type(node.op)][0]
            return f"({self._pv(node.left, nm)} {sym} {self._pv(node.right, nm)})"
        return f"({self._pq(node, nm, False)})"


def _seconds(name, value):
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a duration in seconds >= 0; got {value!r}")
    return float(value)


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def _duration_text(seconds: float) -> str:
    s = int(round(seconds))
    for unit, size in (("h", 3600), ("m", 60)):
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


@dataclasses.dataclass(frozen=True)
class AlertEvent:
    """A rule's state change."""
    rule: str
    previous: str
    state: str
    time: float
    values: dict  # the values the expression read at this evaluation
    severity: str
    summary: str


class LogAction:
    """Log firing (at ``level``) and resolved (at INFO) events to a logger."""

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.WARNING):
        self.logger = logger or _log
        self.level = level

    def __call__(self, event: AlertEvent) -> None:
        level = self.level if event.state == "firing" else logging.INFO
        self.logger.log(level, "alert %s %s (was %s): %s %s", event.rule, event.state,
                        event.previous, event.summary, event.values)


class Rule:
    """One alert rule (see the module doc for the expression language and the states).

    ``for_`` / ``clear_for``: seconds; ``for_count`` / ``clear_count``: consecutive evaluations
    (``for_count=3`` with one evaluation per window is "for 3 consecutive windows").
    ``actions``: callables run with an :class:`AlertEvent` when this rule fires or resolves."""

    def __init__(self, name: str, expr: str, *, for_: float | None = None, for_count: int = 1,
                 clear: str | None = None, clear_for: float | None = None, clear_count: int = 1,
                 severity: str = "warning", summary: str | None = None, labels: dict | None = None,
                 actions=()):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name must be an identifier-like string; got {name!r}")
        self.name = name
        self.expr = _Expr(expr, "expr")
        self.clear = None if clear is None else _Expr(clear, "clear")
        self.for_ = _seconds("for_", for_)
        self.for_count = _count("for_count", for_count)
        self.clear_for = _seconds("clear_for", clear_for)
        self.clear_count = _count("clear_count", clear_count)
        self.severity = str(severity)
        self.summary = summary if summary is not None else expr
        self.labels = dict(labels or {})
        self.actions = list(actions)
        for a in self.actions:
            if not callable(a):
                raise TypeError(f"actions must be callables; got {a!r}")
        self.reset()

    @property
    def names(self) -> set:
        """Every value name the rule reads."""
        return self.expr.names | (self.clear.names if self.clear is not None else set())

    def reset(self) -> None:
        self.state = "inactive"
        self._since = None  # when the current pending/clearing streak began
        self._streak = 0
        self.active_since = None  # when it went pending (kept while firing)

    def _step(self, values, now):
        """Advance the state machine; returns the new state if it changed, else None."""
        try:
            if self.state in ("firing",):
                if self.clear is not None:
                    cond = self.clear.evaluate(values)
                else:
                    cond = not self.expr.evaluate(values)
            else:
                cond = self.expr.evaluate(values)
        except _NoData:
            return None
        old = self.state
        if self.state == "firing":
            if not cond:
                self._since, self._streak = None, 0
                return None
            if self._since is None:
                self._since = now
            self._streak += 1
            if self._streak >= self.clear_count and now - self._since >= self.clear_for:
                self.state = "resolved"
                self._since, self._streak, self.active_since = None, 0, None
        elif cond:
            if self.state != "pending":
                self.state = "pending"
                self._since, self._streak, self.active_since = now, 0, now
            self._streak += 1
            if self._streak >= self.for_count and now - self._since >= self.for_:
                self.state = "firing"
                self._since, self._streak = None, 0
        elif self.state == "pending":
            self.state = "inactive"
            self._since, self._streak, self.active_since = None, 0, None
        return self.state if self.state != old else None

    def to_prometheus(self, name_map=None, *, evaluation_interval: float | None = None) -> dict:
        """This rule as a Prometheus alerting rule (a dict for a rule file's ``rules:`` list).

        ``name_map``: value name -> PromQL expression (a dict or a callable); names it lacks
        become ``tallyml_<name>``. ``for_count`` becomes time only given ``evaluation_interval``
        (seconds); ``clear_for`` becomes ``keep_firing_for``. A ``clear`` expression has no
        Prometheus equivalent and is left out (the alert resolves when ``expr`` is false)."""
        if callable(name_map):
            nm = name_map
        else:
            mapping = dict(name_map or {})
            nm = lambda n: mapping.get(n, f"tallyml_{n}")  # noqa: E731
        if self.for_count > 1 and evaluation_interval is None:
            raise ValueError(f"rule {self.name!r} counts evaluations (for_count={self.for_count}): "
                             "pass evaluation_interval (seconds) to express it as a duration")
        wait = max(self.for_, (self.for_count - 1) * (evaluation_interval or 0.0))
        out = {"alert": self.name, "expr": self.expr.promql(nm)}
        if wait > 0:
            out["for"] = _duration_text(wait)
        clear_wait = max(self.clear_for, (self.clear_count - 1) * (evaluation_interval or 0.0))
        if clear_wait > 0:
            out["keep_firing_for"] = _duration_text(clear_wait)
        out["labels"] = {"severity": self.severity, **self.labels}
        out["annotations"] = {"summary": self.summary}
        return out

    def __repr__(self):
        return f"Rule({self.name!r}, {self.expr.text!r}, state={self.state!r})"


class AlertEngine:
    """Evaluates rules against named values.

    ``known``: the names values may have (an iterable, or a mapping name -> PromQL expression
    used by :meth:`to_prometheus`). ``provider``: a callable returning {name: value} used when
    :meth:`evaluate` is called without values. ``actions``: run for every rule's firing and
    resolved events. ``clock``: seconds (monotonic by default)."""

    def __init__(self, known, rules=(), *, provider=None, actions=(), clock=time.monotonic):
        if isinstance(known, str):
            raise TypeError("known must be a collection of value names, not a string")
        self._promql = dict(known) if isinstance(known, dict) else {}
        self.known = frozenset(known)
        for n in self.known:
            if not isinstance(n, str):
                raise TypeError(f"known value names must be strings; got {n!r}")
        if provider is not None and not callable(provider):
            raise TypeError(f"provider must be callable; got {provider!r}")
        self.provider = provider
        self.actions = list(actions)
        self.clock = clock
        self._rules: dict[str, Rule] = {}
        self._lock = threading.Lock()
        for r in rules:
            self.add(r)

    def add(self, rule: Rule) -> Rule:
        """Add a rule; ValueError if it names an unknown value or its name is taken."""
        if not isinstance(rule, Rule):
            raise TypeError(f"rule must be a Rule; got {rule!r}")
        unknown = sorted(rule.names - self.known)
        if unknown:
            raise ValueError(f"rule {rule.name!r} names unknown values {unknown}; "
                             f"known: {sorted(self.known)}")
        with self._lock:
            if rule.name in self._rules:
                raise ValueError(f"a rule named {rule.name!r} already exists")
            self._rules[rule.name] = rule
        return rule

    def remove(self, name: str) -> None:
        with self._lock:
            del self._rules[name]

    @property
    def rules(self) -> list:
        return list(self._rules.values())

    def states(self) -> dict:
        """{rule name: state}."""
        return {n: r.state for n, r in self._rules.items()}

    def firing(self) -> list:
        return [n for n, r in self._rules.items() if r.state == "firing"]

    def evaluate(self, values: dict | None = None, now: float | None = None) -> list:
        """Evaluate every rule once; returns the state changes (AlertEvents), and runs the
        actions of those that started firing or resolved. An action that raises is logged and
        does not stop the others."""
        if values is None:
            if self.provider is None:
                raise ValueError("evaluate() needs values, or an engine built with a provider")
            values = self.provider()
        if not isinstance(values, dict):
            raise TypeError(f"values must be a dict of name -> number; got {type(values).__name__}")
        now = self.clock() if now is None else float(now)
        events = []
        with self._lock:
            for rule in self._rules.values():
                previous = rule.state
                new = rule._step(values, now)
                if new is not None:
                    seen = {n: values.get(n) for n in sorted(rule.names)}
                    events.append((rule, AlertEvent(rule.name, previous, new, now, seen,
                                                    rule.severity, rule.summary)))
        for rule, event in events:
            if event.state in ("firing", "resolved"):
                for action in rule.actions + self.actions:
                    try:
                        action(event)
                    except Exception:  # an action must not break monitoring
                        _log.exception("alert action %r failed for rule %s", action, rule.name)
        return [e for _, e in events]

    def to_prometheus(self, group: str = "tallyml", *, evaluation_interval: float | None = None,
                      name_map=None) -> dict:
        """A Prometheus rule-file group {"name", "rules"} (dump it as YAML under ``groups:``)."""
        mapping = dict(self._promql)
        if name_map:
            mapping.update(name_map)
        out = {"name": group,
               "rules": [r.to_prometheus(mapping, evaluation_interval=evaluation_interval)
                         for r in self._rules.values()]}
        if evaluation_interval is not None:
            out["interval"] = _duration_text(evaluation_interval)
        return out
