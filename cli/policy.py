"""`rsp-ledger policy validate|show|diff`: policy documents (SPEC §4) as files.

A policy file is JSON, YAML or TOML; each becomes the same JSON object (`load_policy_file`), which
is what gets signed in a `policy_adopted` statement. Validity is `domain.policy.policy_problems`,
the rule `amendment.valid` itself, so a file that validates here is judged valid by the verifier.

Exit codes: 0 valid (or shown, or diffed), 1 the policy is invalid, 2 usage error (a file that
cannot be read or parsed) with one line on stderr.

Invariants of the loader:
- YAML is read with a safe loader only; a mapping that repeats a key is refused (so is a JSON
  object that does; TOML refuses it by itself), and so are YAML aliases;
- the result holds JSON values only: a YAML date or a TOML time, a non-string key, NaN or an
  infinity is refused rather than silently converted.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from cli._common import EXIT_REFUSED, EXIT_USAGE, fail, json_option
from domain.policy import PARTS, PolicyDocument, label_of, policy_problems
from domain.policy_v2 import describe_condition
from ledger.errors import UsageError


class PolicyFileError(UsageError):
    """A policy file cannot be read or parsed into a JSON object (a usage error, exit 2)."""


# -- loading -------------------------------------------------------------------------------------


class _StrictYamlLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that repeats a key, and aliases (a policy needs none,
    and an alias bomb would expand into an exponentially large document)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "expected no aliases in a policy file, found one", mark
            )
        return super().compose_node(parent, index)


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError as e:
            raise yaml.constructor.ConstructorError(
                None, None, "expected a string key, found a complex one", key_node.start_mark
            ) from e
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictYamlLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def _json_object_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_json_value(value: Any, where: str) -> None:
    """Refuse anything that is not a JSON value (YAML dates, TOML times, non-string keys…)."""
    if value is None or isinstance(value, bool | str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PolicyFileError(f"{where}: expected a finite number, found {value}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json_value(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PolicyFileError(
                    f"{where}: expected string keys, found {type(key).__name__} key {key!r}"
                )
            _check_json_value(item, f"{where}.{key}" if where else key)
        return
    raise PolicyFileError(
        f"{where or 'document'}: expected a JSON value, found a {type(value).__name__} "
        f"({value!r}); quote it to make it a string"
    )


def _parse_json(text: str) -> Any:
    return json.loads(
        text, object_pairs_hook=_json_object_no_duplicates, parse_constant=_refuse_constant
    )


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_StrictYamlLoader)  # a SafeLoader subclass: no arbitrary objects


def _parse_toml(text: str) -> Any:
    return tomllib.loads(text)


_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    ".json": ("JSON", _parse_json),
    ".yaml": ("YAML", _parse_yaml),
    ".yml": ("YAML", _parse_yaml),
    ".toml": ("TOML", _parse_toml),
}


def load_policy_file(path: str) -> dict[str, Any]:
    """The JSON object a policy file holds; `PolicyFileError` if it cannot be read or parsed.

    The format follows the suffix: `.json`, `.yaml`/`.yml` or `.toml`. Whether the object is a
    valid policy is a separate question (`policy_problems`).
    """
    file = Path(path)
    fmt = _PARSERS.get(file.suffix.lower())
    if fmt is None:
        raise PolicyFileError(
            f"{path}: expected a .json, .yaml, .yml or .toml file, found suffix "
            f"{file.suffix or '(none)'!r}"
        )
    name, parse = fmt
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError as e:
        raise PolicyFileError(f"{path}: expected a file, found none") from e
    except IsADirectoryError as e:
        raise PolicyFileError(f"{path}: expected a file, found a directory") from e
    except OSError as e:
        raise PolicyFileError(f"{path}: cannot read: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise PolicyFileError(f"{path}: expected UTF-8 text: {e.reason}") from e
    try:
        data = parse(text)
    except (ValueError, RecursionError, yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        detail = " ".join(str(e).split())
        raise PolicyFileError(f"{path}: not valid {name}: {detail}") from e
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        raise PolicyFileError(f"{path}: expected a {name} object (a mapping), found {found}")
    try:
        _check_json_value(data, "")
    except PolicyFileError as e:
        raise PolicyFileError(f"{path}: {e}") from e
    except RecursionError as e:
        raise PolicyFileError(
            f"{path}: expected a policy document, found one nested too deeply"
        ) from e
    return data


# -- commands ------------------------------------------------------------------------------------


def _load_or_exit(path: str) -> dict[str, Any]:
    try:
        return load_policy_file(path)
    except PolicyFileError as e:
        fail(str(e), EXIT_USAGE)


def _valid_or_exit(path: str, as_json: bool) -> tuple[dict[str, Any], PolicyDocument]:
    data = _load_or_exit(path)
    problems = policy_problems(data)
    if problems:
        _report_invalid(path, data, problems, as_json)
        raise SystemExit(EXIT_REFUSED)
    return data, PolicyDocument.parse(data)


def _report_invalid(path: str, data: dict[str, Any], problems: list[str], as_json: bool) -> None:
    if as_json:
        report = {"file": path, "policy": label_of(data), "valid": False, "problems": problems}
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(f"{path}: not a valid policy ({len(problems)} problem(s))")
    for problem in problems:
        click.echo(f"  - {problem}")


@click.group("policy")
def policy() -> None:
    """Policy documents (SPEC §4): validate, show, diff."""


@policy.command("validate")
@click.argument("file", metavar="FILE")
@json_option
def validate(file: str, as_json: bool) -> None:
    """Check that FILE is a valid policy document (the rule amendment.valid)."""
    _, doc = _valid_or_exit(file, as_json)
    if as_json:
        report = {"file": file, "policy": doc.label, "valid": True, "problems": []}
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(f"{file}: valid policy {doc.label}")


@policy.command("show")
@click.argument("file", metavar="FILE")
@json_option
def show(file: str, as_json: bool) -> None:
    """Summarise the policy in FILE: levels, thresholds, standards, windows, approvals."""
    data, doc = _valid_or_exit(file, as_json)
    if as_json:
        click.echo(json.dumps({"policy": doc.label, "document": data}, indent=2))
        return
    for line in describe(doc):
        click.echo(line)


def _roles(roles: list[str]) -> str:
    return " + ".join(roles) if roles else "no signer"


def _requires(doc: PolicyDocument, threshold_id: str) -> str:
    requires = doc.thresholds_by_id[threshold_id].requires
    parts = [f"{p} {lvl}" for p in PARTS if (lvl := requires.level(p)) is not None]
    return ", ".join(parts) or "nothing"


def describe(doc: PolicyDocument) -> list[str]:
    """A readable summary of a policy, one line per fact."""
    a = doc.assessment
    lines = [f"{doc.label}" + (f" — {doc.title}" if doc.title else "")]
    levels = " < ".join(doc.levels)
    lines.append(f"levels:      {levels}  (baseline {doc.baseline})")
    lines.append(f"scopes:      {', '.join(doc.scopes) or 'none'}")
    lines.append(f"thresholds:  {len(doc.thresholds)}")
    width = max((len(t.id) for t in doc.thresholds), default=0)
    for t in doc.thresholds:
        title = f"  — {t.title}" if t.title else ""
        lines.append(f"  {t.id:<{width}}  requires {_requires(doc, t.id)}{title}")
    lines.append("standards:")
    for level in doc.levels:
        if not doc.needs_safeguards(level):
            lines.append(f"  {level}: no safeguards needed (baseline)")
            continue
        for part in PARTS:
            controls = doc.controls(level, part)
            shown = (
                f"{len(controls)} controls: {', '.join(controls)}"
                if doc.is_specified(level, part)
                else "not yet specified (nothing satisfies it)"
            )
            lines.append(f"  {level} {part}: {shown}")
    lines.append(
        f"assessment:  findings stale after {a.max_age_days:g} days, or once the model reaches "
        f"{a.effective_compute_multiple:g}× the effective compute evaluated"
    )
    lines.append(
        "             cannot_rule_out counts as crossed: "
        f"{'yes' if a.cannot_rule_out_counts_as_crossed else 'no'}; early warning requires a "
        f"comprehensive assessment: {'yes' if a.early_warning_requires_comprehensive else 'no'}"
    )
    lines.append(
        f"safeguards:  approved for at most {doc.safeguards.max_validity_days:g} days at a time"
    )
    lines.append("approvals:")
    for kind, roles in doc.approvals.items():
        lines.append(f"  {kind}: {_roles(roles)}")
    if "policy_adopted" not in doc.approvals or not doc.approvals["policy_adopted"]:
        lines.append("  policy_adopted: ledger-admin (none named)")
    notify = ", ".join(doc.notify_before_deployment) or "nobody"
    lines.append(f"notify before deployment above the baseline: {notify}")
    if doc.schema_version >= 2:
        lines.extend(_describe_v2(doc))
    return lines


def _describe_v2(doc: PolicyDocument) -> list[str]:
    """The lines of a policy v2's duties, conditional approvals and safety cases."""
    lines = ["approvals when (in addition):"]
    conditional = [
        f"  {kind}: + {_roles(list(c.roles))} when {describe_condition(c.when)}"
        for kind in _conditional_types(doc)
        for c in doc.conditional_approvals(kind)
    ]
    lines += conditional or ["  none"]
    lines.append("safety case approved before deploying a model past:")
    cases = [
        f"  {t.id}: to {', '.join(sorted(doc.safety_case_scopes(t.id)))}"
        for t in doc.thresholds
        if doc.safety_case_scopes(t.id)
    ]
    lines += cases or ["  none"]
    lines.append(f"duties:      {len(doc.duties_imposed())}")
    lines += [f"  {d.id}: {_duty_text(d.model_dump(mode='json'))}" for d in doc.duties_imposed()]
    return lines


def _conditional_types(doc: PolicyDocument) -> list[str]:
    data = doc.to_json().get("approvals_if", {})
    return list(data) if isinstance(data, dict) else []


def _duty_text(duty: dict[str, Any]) -> str:
    """`a risk_report_published at most every 183 days`, and so on, from a duty's JSON."""
    n = f"{duty.get('max_interval_days', duty.get('within_days')):g}"
    when = duty.get("when")
    condition = f" ({describe_condition(when)})" if when else ""
    statement = f"{_a(duty['statement'])} {duty['statement']}"
    match duty.get("kind"):
        case "periodic":
            return f"{statement} at most every {n} days"
        case "triggered":
            return (
                f"{statement} about the same model within {n} days of "
                f"{_a(duty['trigger'])} {duty['trigger']}{condition}"
            )
        case _:
            return (
                f"{statement} citing {_a(duty['regarding'])} {duty['regarding']}{condition} "
                f"within {n} days of notifying {', '.join(duty.get('notified', []))}"
            )


def _a(word: str) -> str:
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


# -- diff ----------------------------------------------------------------------------------------


def _change(area: str, item: str, kind: str, old: Any, new: Any) -> dict[str, Any]:
    return {"area": area, "item": item, "change": kind, "old": old, "new": new}


def _diff_lists(area: str, item: str, old: list[str], new: list[str]) -> list[dict[str, Any]]:
    out = [_change(area, item, "removed", x, None) for x in old if x not in new]
    out += [_change(area, item, "added", None, x) for x in new if x not in old]
    if not out and old != new:
        out.append(_change(area, item, "reordered", old, new))
    return out


def diff_policies(old: PolicyDocument, new: PolicyDocument) -> list[dict[str, Any]]:
    """What an amendment changes: identity, levels, scopes, thresholds, controls, windows,
    approvals and notification, each as {area, item, change, old, new}."""
    changes: list[dict[str, Any]] = []
    for name in ("id", "version", "title"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            changes.append(_change("policy", name, "changed", a, b))
    changes += _diff_lists("levels", "level", old.levels, new.levels)
    changes += _diff_lists("scopes", "scope", old.scopes, new.scopes)

    old_t, new_t = old.thresholds_by_id, new.thresholds_by_id
    for tid, t in old_t.items():
        if tid not in new_t:
            changes.append(_change("thresholds", tid, "removed", _threshold_json(t), None))
        elif t != new_t[tid]:
            changes.append(
                _change(
                    "thresholds", tid, "changed", _threshold_json(t), _threshold_json(new_t[tid])
                )
            )
    for tid, t in new_t.items():
        if tid not in old_t:
            changes.append(_change("thresholds", tid, "added", None, _threshold_json(t)))

    for level in dict.fromkeys([*old.standards, *new.standards]):
        for part in PARTS:
            a_c = list(old.controls(level, part)) if level in old.standards else None
            b_c = list(new.controls(level, part)) if level in new.standards else None
            if a_c == b_c:
                continue
            item = f"{level} {part}"
            if a_c is None:
                changes.append(_change("controls", item, "added", None, b_c))
            elif b_c is None:
                changes.append(_change("controls", item, "removed", a_c, None))
            else:
                changes += _diff_lists("controls", item, a_c, b_c)

    windows = {
        "assessment.max_age_days": (old.assessment.max_age_days, new.assessment.max_age_days),
        "assessment.effective_compute_multiple": (
            old.assessment.effective_compute_multiple,
            new.assessment.effective_compute_multiple,
        ),
        "assessment.cannot_rule_out_counts_as_crossed": (
            old.assessment.cannot_rule_out_counts_as_crossed,
            new.assessment.cannot_rule_out_counts_as_crossed,
        ),
        "assessment.early_warning_requires_comprehensive": (
            old.assessment.early_warning_requires_comprehensive,
            new.assessment.early_warning_requires_comprehensive,
        ),
        "safeguards.max_validity_days": (
            old.safeguards.max_validity_days,
            new.safeguards.max_validity_days,
        ),
    }
    for item, (a, b) in windows.items():
        if a != b:
            changes.append(_change("windows", item, "changed", a, b))

    for kind in dict.fromkeys([*old.approvals, *new.approvals]):
        a_r, b_r = old.approvals.get(kind), new.approvals.get(kind)
        if a_r != b_r:
            verb = "added" if a_r is None else "removed" if b_r is None else "changed"
            changes.append(_change("approvals", kind, verb, a_r, b_r))
    changes += _diff_lists(
        "notify", "body", old.notify_before_deployment, new.notify_before_deployment
    )
    if old.schema_version >= 2 or new.schema_version >= 2:
        changes += _diff_v2(old, new)
    return changes


def _diff_v2(old: PolicyDocument, new: PolicyDocument) -> list[dict[str, Any]]:
    """What changes in the parts of policy v2: schema, duties, conditional approvals, safety
    cases (a v1 document has none of them)."""
    changes: list[dict[str, Any]] = []
    if old.schema_ != new.schema_:
        changes.append(_change("policy", "schema", "changed", old.schema_, new.schema_))
    old_d = {d.id: d.model_dump(mode="json", exclude_none=True) for d in old.duties_imposed()}
    new_d = {d.id: d.model_dump(mode="json", exclude_none=True) for d in new.duties_imposed()}
    for did in dict.fromkeys([*old_d, *new_d]):
        a, b = old_d.get(did), new_d.get(did)
        if a != b:
            verb = "added" if a is None else "removed" if b is None else "changed"
            changes.append(_change("duties", did, verb, a, b))
    old_a = old.to_json().get("approvals_if", {})
    new_a = new.to_json().get("approvals_if", {})
    for kind in dict.fromkeys([*old_a, *new_a]):
        a, b = old_a.get(kind), new_a.get(kind)
        if a != b:
            verb = "added" if a is None else "removed" if b is None else "changed"
            changes.append(_change("approvals_if", kind, verb, a, b))
    for t in dict.fromkeys([*old.thresholds_by_id, *new.thresholds_by_id]):
        a_s, b_s = sorted(old.safety_case_scopes(t)), sorted(new.safety_case_scopes(t))
        if a_s != b_s:
            changes += _diff_lists("safety_case_before", t, a_s, b_s)
    return changes


def _threshold_json(t: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = t.model_dump(mode="json", exclude_none=True)
    return dumped


def _show_value(value: Any) -> str:
    if isinstance(value, dict) and "kind" in value and "statement" in value:
        return _duty_text(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        # approvals_if entries
        return "; ".join(
            f"+ {_roles(v.get('roles', []))} when {describe_condition(v.get('when'))}"
            for v in value
        )
    if isinstance(value, dict) and "requires" in value:
        requires = value["requires"]
        parts = ", ".join(f"{p} {requires[p]}" for p in PARTS if p in requires) or "nothing"
        return f"requires {parts}" + (f" ({value['title']})" if "title" in value else "")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@policy.command("diff")
@click.argument("old_file", metavar="OLD")
@click.argument("new_file", metavar="NEW")
@json_option
def diff(old_file: str, new_file: str, as_json: bool) -> None:
    """Show what the amendment NEW changes from OLD: thresholds, controls, approvals, windows."""
    _, old = _valid_or_exit(old_file, as_json)
    _, new = _valid_or_exit(new_file, as_json)
    changes = diff_policies(old, new)
    if as_json:
        report = {"old": old.label, "new": new.label, "changes": changes}
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(f"{old.label} → {new.label}: {len(changes)} change(s)")
    marks = {"added": "+", "removed": "-", "changed": "~", "reordered": "~"}
    for c in changes:
        if c["change"] == "added":
            text = _show_value(c["new"])
        elif c["change"] == "removed":
            text = _show_value(c["old"])
        else:
            text = f"{_show_value(c['old'])} → {_show_value(c['new'])}"
        click.echo(f"{marks[c['change']]} {c['area']}: {c['item']}: {text}")


__all__ = ["PolicyFileError", "describe", "diff_policies", "load_policy_file", "policy"]
