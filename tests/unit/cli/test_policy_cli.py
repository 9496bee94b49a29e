"""`rsp-ledger policy validate|show|diff` through click's runner on the `policy` group, and the
policy file loader (JSON, YAML, TOML; safe YAML; duplicate keys refused)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from cli.policy import PolicyFileError, load_policy_file, policy
from tests.unit.domain.test_policy import VALID


def run(*args: str) -> Result:
    return CliRunner().invoke(policy, list(args))


def write_json(tmp_path: Path, doc: dict[str, Any], name: str = "p.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def to_toml(doc: dict[str, Any]) -> str:
    """Just enough TOML for a policy document (tables, arrays of tables, scalars, lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)

    return "\n".join(f"{json.dumps(k)} = {value(v)}" for k, v in doc.items()) + "\n"


# -- the loader ----------------------------------------------------------------------------------


def test_json_yaml_and_toml_give_the_same_object(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(VALID), encoding="utf-8")
    (tmp_path / "p.toml").write_text(to_toml(VALID), encoding="utf-8")
    write_json(tmp_path, VALID)
    assert tomllib.loads(to_toml(VALID)) == VALID  # the helper is faithful
    for name in ("p.json", "p.yaml", "p.toml"):
        assert load_policy_file(str(tmp_path / name)) == VALID, name


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("dup.yaml", "id: a\nid: b\n", "duplicate key 'id'"),
        ("dup.json", '{"id": "a", "id": "b"}', "duplicate key 'id'"),
        ("dup.toml", 'id = "a"\nid = "b"\n', "not valid TOML"),
        ("unsafe.yaml", "id: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
        (
            "date.yaml",
            "id: x\neffective: 2025-05-14\n",
            "effective: expected a JSON value, found a date",
        ),
        ("time.toml", "effective = 2025-05-14T00:00:00Z\n", "effective: expected a JSON value"),
        ("nan.json", '{"max": NaN}', "NaN is not a JSON number"),
        ("inf.yaml", "max: .inf\n", "max: expected a finite number"),
        ("intkey.yaml", "1: x\n", "expected string keys"),
        ("list.yaml", "- a\n- b\n", "expected a YAML object (a mapping), found a list"),
        ("empty.yaml", "", "found nothing"),
        ("two.yaml", "a: 1\n---\nb: 2\n", "not valid YAML"),
        ("alias.yaml", "a: &x [1, 2]\nb: *x\n", "expected no aliases"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("bad.json", "{", "not valid JSON"),
        ("bad.toml", "a = ", "not valid TOML"),
        ("policy.txt", "{}", "expected a .json, .yaml, .yml or .toml file"),
    ],
)
def test_loader_refuses(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyFileError) as e:
        load_policy_file(str(path))
    assert message in str(e.value)
    assert str(e.value).startswith(str(path))


def test_loader_refuses_missing_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="expected a file, found none"):
        load_policy_file(str(tmp_path / "none.yaml"))
    (tmp_path / "latin.yaml").write_bytes(b"title: caf\xe9\n")
    with pytest.raises(PolicyFileError, match="expected UTF-8 text"):
        load_policy_file(str(tmp_path / "latin.yaml"))


# -- validate ------------------------------------------------------------------------------------


def test_validate_a_valid_policy(tmp_path: Path) -> None:
    path = write_json(tmp_path, VALID)
    result = run("validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: valid policy anthropic-rsp@2.2\n"
    result = run("validate", str(path), "--json")
    assert json.loads(result.stdout) == {
        "file": str(path),
        "policy": "anthropic-rsp@2.2",
        "valid": True,
        "problems": [],
    }


def test_validate_an_invalid_policy_exits_1_with_every_problem(tmp_path: Path) -> None:
    doc = copy.deepcopy(VALID)
    doc["thresholds"][1]["requires"]["security"] = "ASL-5"
    doc["scopes"] = ["internal", "internal"]
    path = write_json(tmp_path, doc)
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert "thresholds[1].requires.security: level 'ASL-5' is not in levels" in result.stdout
    assert "scopes: expected distinct entries" in result.stdout
    report = json.loads(run("validate", str(path), "--json").stdout)
    assert report["valid"] is False
    assert len(report["problems"]) == 2


@pytest.mark.parametrize("command", ["validate", "show"])
def test_unreadable_file_is_a_usage_error_on_one_line(tmp_path: Path, command: str) -> None:
    (tmp_path / "bad.yaml").write_text("id: [\n", encoding="utf-8")
    for target in (tmp_path / "bad.yaml", tmp_path / "missing.yaml"):
        result = run(command, str(target))
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


def test_missing_argument_is_a_usage_error() -> None:
    assert run("validate").exit_code == 2
    assert run("diff", "only-one.json").exit_code == 2


# -- show ----------------------------------------------------------------------------------------


def test_show_summarises_the_policy(tmp_path: Path) -> None:
    path = write_json(tmp_path, VALID)
    result = run("show", str(path))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "anthropic-rsp@2.2 — Responsible Scaling Policy"
    assert "levels:      ASL-2 < ASL-3 < ASL-4  (baseline ASL-2)" in lines
    assert any(
        line.startswith("  CBRN-3") and "deployment ASL-3, security ASL-3" in line for line in lines
    )
    assert "  ASL-4 security: not yet specified (nothing satisfies it)" in lines
    assert "  deployment_decision: ceo + responsible-scaling-officer" in lines
    assert "notify before deployment above the baseline: board, ltbt" in lines
    assert any("183 days" in line and "4× the effective compute" in line for line in lines)


def test_show_json_is_the_document(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(VALID), encoding="utf-8")
    result = run("show", str(tmp_path / "p.yaml"), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"policy": "anthropic-rsp@2.2", "document": VALID}


def test_show_an_invalid_policy_exits_1(tmp_path: Path) -> None:
    path = write_json(tmp_path, {**VALID, "levels": []})
    result = run("show", str(path))
    assert result.exit_code == 1
    assert "levels: expected at least one level" in result.stdout


# -- diff ----------------------------------------------------------------------------------------


def amended() -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    doc["version"] = "2.3"
    doc["thresholds"].append({"id": "CYBER-3", "requires": {"security": "ASL-3"}})
    doc["thresholds"][1]["requires"]["deployment"] = "ASL-3"
    doc["standards"]["ASL-3"]["deployment"].append("bug-bounty")
    doc["standards"]["ASL-3"]["security"].remove("audits")
    doc["assessment"]["max_age_days"] = 90
    doc["safeguards"]["max_validity_days"] = 180
    doc["approvals"]["policy_adopted"] = ["board", "ltbt"]
    doc["approvals"]["safeguards_determination"] = ["ceo"]
    del doc["approvals"]["capability_determination"]
    return doc


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_diff_lists_what_an_amendment_changes(tmp_path: Path) -> None:
    old = write_json(tmp_path, VALID, "old.json")
    new = write_json(tmp_path, amended(), "new.json")
    result = run("diff", str(old), str(new), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["old"], report["new"]) == ("anthropic-rsp@2.2", "anthropic-rsp@2.3")
    changes = {
        (c["area"], c["item"], c["change"], dump(c["old"]), dump(c["new"]))
        for c in report["changes"]
    }
    assert changes == {
        ("policy", "version", "changed", '"2.2"', '"2.3"'),
        ("thresholds", "AI-RD-4", "changed",
         dump({"id": "AI-RD-4", "requires": {"security": "ASL-3"}, "title": "..."}),
         dump({"id": "AI-RD-4", "requires": {"deployment": "ASL-3", "security": "ASL-3"}, "title": "..."})),
        ("thresholds", "CYBER-3", "added", "null", dump({"id": "CYBER-3", "requires": {"security": "ASL-3"}})),
        ("controls", "ASL-3 deployment", "added", "null", '"bug-bounty"'),
        ("controls", "ASL-3 security", "removed", '"audits"', "null"),
        ("windows", "assessment.max_age_days", "changed", "183.0", "90.0"),
        ("windows", "safeguards.max_validity_days", "changed", "365.0", "180.0"),
        ("approvals", "policy_adopted", "changed", '["board"]', '["board", "ltbt"]'),
        ("approvals", "safeguards_determination", "added", "null", '["ceo"]'),
        ("approvals", "capability_determination", "removed", '["ceo", "responsible-scaling-officer"]', "null"),
    }  # fmt: skip


def test_diff_human_output(tmp_path: Path) -> None:
    old = write_json(tmp_path, VALID, "old.json")
    new = write_json(tmp_path, amended(), "new.json")
    result = run("diff", str(old), str(new))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "anthropic-rsp@2.2 → anthropic-rsp@2.3: 10 change(s)"
    assert "+ thresholds: CYBER-3: requires security ASL-3" in lines
    assert "+ controls: ASL-3 deployment: bug-bounty" in lines
    assert "- controls: ASL-3 security: audits" in lines
    assert "~ windows: assessment.max_age_days: 183 → 90" in lines
    assert "~ approvals: policy_adopted: board → board, ltbt" in lines


def test_diff_of_identical_policies_is_empty(tmp_path: Path) -> None:
    path = write_json(tmp_path, VALID)
    result = run("diff", str(path), str(path), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["changes"] == []


def test_diff_with_an_invalid_side_exits_1(tmp_path: Path) -> None:
    old = write_json(tmp_path, VALID, "old.json")
    new = write_json(tmp_path, {**VALID, "extra": 1}, "new.json")
    result = run("diff", str(old), str(new))
    assert result.exit_code == 1
    assert "extra: unknown field" in result.stdout


def test_shipped_policies_validate() -> None:
    root = Path(__file__).resolve().parents[3] / "policies"
    files = sorted(root.glob("*.yaml"))
    assert files, "expected the shipped policies in policies/"
    for path in files:
        result = run("validate", str(path))
        assert result.exit_code == 0, result.output


# -- the installed command, in a real process ----------------------------------------------------


def rsp_ledger(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "rsp-ledger"
    assert exe.exists(), f"expected the installed command at {exe}"
    return subprocess.run([str(exe), "policy", *args], capture_output=True, text=True, timeout=60)


def test_installed_command_exit_codes(tmp_path: Path) -> None:
    valid = write_json(tmp_path, VALID, "valid.json")
    invalid = write_json(tmp_path, {**VALID, "levels": []}, "invalid.json")
    (tmp_path / "broken.yaml").write_text("a: [\n", encoding="utf-8")

    ok = rsp_ledger("validate", str(valid))
    assert (ok.returncode, ok.stdout) == (0, f"{valid}: valid policy anthropic-rsp@2.2\n")

    bad = rsp_ledger("validate", str(invalid), "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["valid"] is False

    for target in (tmp_path / "broken.yaml", tmp_path / "missing.yaml"):
        usage = rsp_ledger("show", str(target))
        assert usage.returncode == 2
        assert usage.stderr.startswith("error: ") and usage.stderr.count("\n") == 1
        assert "Traceback" not in usage.stderr
