"""`.github/workflows/rotate.yml`: the scheduled rotation workflow, its steps run for real.

Each step's shell runs as the workflow runs it (bash -e -o pipefail), with the real
`secretsctl` on PATH, real git against a local bare "origin", and a fake `gh` that keeps
pull requests and issues in a JSON file: a rerun updates them instead of opening more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.history_support import TODAY, scripted_history
from tests.test_github_workflows import load, steps
from tests.workflow_support import Repo, bytecode_settings, git

BIN = Path(sys.executable).parent  # the venv's bin: secretsctl, python

FAKE_GH = """#!{python}
import json, os, sys
args = sys.argv[1:]
path = os.environ["GH_STATE"]
state = json.load(open(path)) if os.path.exists(path) else {{"prs": [], "issues": [], "calls": []}}
state["calls"].append(args[:2])
def value(flag):
    return args[args.index(flag) + 1]
def body():
    return open(value("--body-file")).read()
if args[:2] == ["label", "create"]:
    pass
elif args[:2] == ["pr", "list"]:
    open_prs = [p for p in state["prs"] if p["head"] == value("--head") and p["open"]]
    print(open_prs[0]["number"] if open_prs else "")
elif args[:2] == ["pr", "create"]:
    number = 100 + len(state["prs"])
    state["prs"].append({{"number": number, "head": value("--head"), "base": value("--base"),
                         "title": value("--title"), "body": body(),
                         "labels": value("--label").split(","), "open": True, "edits": 0}})
elif args[:2] == ["pr", "edit"]:
    pr = next(p for p in state["prs"] if p["number"] == int(args[2]))
    pr.update(title=value("--title"), body=body(), edits=pr["edits"] + 1)
elif args[:2] == ["issue", "list"]:
    for issue in state["issues"]:
        if issue["open"] and issue["title"] == os.environ["ISSUE_TITLE"]:
            print(issue["number"])
elif args[:2] == ["issue", "create"]:
    state["issues"].append({{"number": 7 + len(state["issues"]), "title": value("--title"),
                            "labels": [value("--label")], "body": body(), "open": True,
                            "edits": 0}})
elif args[:2] == ["issue", "edit"]:
    issue = next(i for i in state["issues"] if i["number"] == int(args[2]))
    issue.update(body=body(), edits=issue["edits"] + 1)
elif args[:2] == ["issue", "close"]:
    next(i for i in state["issues"] if i["number"] == int(args[2]))["open"] = False
else:
    sys.exit("unexpected gh call: " + " ".join(args))
json.dump(state, open(path, "w"))
"""


def workflow() -> dict[str, Any]:
    return load("rotate.yml")


def step(job: str, name: str) -> dict[str, Any]:
    found = [s for s in steps(workflow()["jobs"][job]) if s.get("name") == name]
    assert len(found) == 1, name
    return found[0]


class Runner:
    """A clone of the scripted history with a bare origin, a fake gh and the real CLI."""

    def __init__(self, tmp_path: Path) -> None:
        source = scripted_history(tmp_path / "source")
        self.origin = tmp_path / "origin.git"
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(source.root), str(self.origin)], check=True
        )
        self.work = tmp_path / "work"
        subprocess.run(["git", "clone", "-q", str(self.origin), str(self.work)], check=True)
        (self.work / "Pulumi.yaml").write_text(
            "name: secrets-store\nruntime: python\nstackConfigDir: stacks\n"
        )
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(FAKE_GH.format(python=sys.executable))
        gh.chmod(0o755)
        self.state = tmp_path / "gh.json"
        self.output = tmp_path / "github_output"
        self.summary = tmp_path / "summary"

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.output.write_text("")
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.work,
            env={
                "PATH": f"{self.bin}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
                "HOME": os.environ.get("HOME", str(self.work)),
                "GH_STATE": str(self.state),
                "GITHUB_OUTPUT": str(self.output),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": "acme/secrets",
                "TODAY": TODAY,
                "LABEL": workflow()["env"]["LABEL"],
                **bytecode_settings(),
                **env,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def gh(self) -> dict[str, Any]:
        return json.loads(self.state.read_text())

    def reset(self) -> None:
        """Back to the base branch, as a fresh checkout of the next run."""
        git(self.work, "checkout", "-q", "-f", "main")
        git(self.work, "clean", "-q", "-fd", "-e", "Pulumi.yaml")

    def pull_request(self, matrix: dict[str, str], verified: bool) -> None:
        """The PR job's steps for one matrix entry (the verify step's outcome given)."""
        env = {
            "STACK": matrix["stack"],
            "BRANCH": matrix["branch"],
            "VERIFY": matrix["verify"],
            "LABELS": matrix["labels"],
            "BASE": "main",
        }
        apply_step = step("pull-request", "secretsctl bot apply")
        self.run(apply_step["run"], VERIFIED="true" if verified else "false", **env)
        self.run(
            step("pull-request", "Push the branch and open or update the pull request")["run"],
            **env,
        )


def test_runs_on_a_schedule_and_by_hand_with_full_history():
    document = workflow()
    assert document["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in document["on"]
    assert document["concurrency"]["cancel-in-progress"] is False
    for job in document["jobs"].values():
        checkout = next(s for s in steps(job) if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["fetch-depth"] == 0  # ages come from the git history
    assert document["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
    }


def test_the_live_check_gates_every_step_past_fallback_or_swapped():
    verify = step("pull-request", "secretsctl verify --live")
    assert verify["if"] == "matrix.verify != ''"
    assert verify["continue-on-error"] is True  # a failed check holds the gated steps back
    assert verify["env"]["CLOUDFLARE_API_TOKEN"] == "${{ secrets.CLOUDFLARE_API_TOKEN }}"
    # one verify per stack the pull request moves (it may carry the stacks that follow)
    assert 'secretsctl verify --stack "$stack" --live' in verify["run"]
    apply_step = step("pull-request", "secretsctl bot apply")
    assert apply_step["env"]["VERIFIED"] == "${{ steps.verify.outcome == 'success' }}"
    assert "flags+=(--verified)" in apply_step["run"]


@pytest.mark.skipif(not shutil.which("jq"), reason="jq not installed")
def test_a_rerun_updates_the_same_pull_requests_and_issue(tmp_path):
    runner = Runner(tmp_path)
    # the plan job: its matrix comes from `secretsctl bot plan --format json`
    runner.run(step("plan", "secretsctl bot plan")["run"])
    output = runner.output.read_text()
    assert output.startswith("prs=")
    matrix = json.loads(output.removeprefix("prs="))
    # one pull request: staging and prod follow dev into the same stages (no soak)
    assert matrix == [
        {
            "stack": "dev",
            "branch": "secretsctl/rotation-dev",
            "verify": "dev:jwt_key",
            "labels": "secretsctl-rotation,secretsctl-promotion",
        },
    ]
    assert "Dry run of the rotation workflow on 2026-06-01" in runner.summary.read_text()
    issue_step = step("plan", "Open, update or close the rotation issue")["run"]
    runner.run(issue_step)
    # the PR jobs: dev's live check failed, so jwt_key's finish is held back
    runner.pull_request(matrix[0], verified=False)
    state = runner.gh()
    assert [(p["head"], p["number"]) for p in state["prs"]] == [("secretsctl/rotation-dev", 100)]
    dev = state["prs"][0]
    assert dev["title"].startswith(
        "secretsctl rotation dev, staging, prod: hmac_key (dev) v2 steady to v2 → v3 fallback, "
        "vault_key (staging) v1 steady to v1 → v2 fallback, "
    )
    assert "Not advanced: `jwt_key`" in dev["body"]
    assert "### Rotation diff for stack `dev`" in dev["body"]
    assert "![Rotation timeline](https://github.com/acme/secrets/blob/" in dev["body"]
    assert dev["labels"] == ["secretsctl-rotation", "secretsctl-promotion"]
    assert dev["base"] == "main"
    # the branch holds one commit on main: the three stack files, one stage each
    pushed = git(runner.origin, "diff", "--stat", "main", "secretsctl/rotation-dev")
    assert "stacks/Pulumi.dev.yaml" in pushed and "3 files changed" in pushed
    picture = git(runner.origin, "show", "secretsctl/rotation-dev-timeline:timeline.svg")
    assert "lane-dev" in picture and "lane-prod" in picture
    (issue,) = state["issues"]
    assert issue["title"] == "Secret rotation: what a person must do" and issue["open"]

    # WHEN the workflow runs again and the live check now passes
    runner.reset()
    runner.run(step("plan", "secretsctl bot plan")["run"])
    runner.run(issue_step)
    runner.pull_request(matrix[0], verified=True)
    state = runner.gh()
    # THEN the same PR and issue are edited, none added
    assert len(state["prs"]) == 1 and len(state["issues"]) == 1
    dev = state["prs"][0]
    assert dev["edits"] == 1 and state["issues"][0]["edits"] == 1
    assert dev["title"].startswith(
        "secretsctl rotation dev, staging, prod: hmac_key (dev) v2 steady to v2 → v3 fallback, "
        "jwt_key (dev) v1 → v2 swapped to v2 steady, "
    )
    assert "Live check passed" in dev["body"]
    branch = git(runner.origin, "show", "secretsctl/rotation-dev:stacks/Pulumi.dev.yaml")
    assert "      current: 2\n      since: '2026-06-01'\n" in branch


@pytest.mark.skipif(not shutil.which("jq"), reason="jq not installed")
def test_the_issue_is_closed_once_nothing_is_left_for_a_person(tmp_path):
    runner = Runner(tmp_path)
    issue_step = step("plan", "Open, update or close the rotation issue")["run"]
    runner.run(step("plan", "secretsctl bot plan")["run"])
    runner.run(issue_step)
    assert runner.gh()["issues"][0]["open"] is True
    # a person rolls dev's api_key back and gives it a yearly policy: nothing needs anyone
    editor = Repo.__new__(Repo)
    editor.root = runner.work
    editor.set_api_key("dev", "current: 1")
    for stack in ("dev", "staging", "prod"):
        editor.sub(stack, r"(    api_key:\n(?:      .*\n)*?      rotateEvery: )90d", r"\g<1>365d")
    git(runner.work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "x")
    runner.run(step("plan", "secretsctl bot plan")["run"], TODAY="2026-06-02")
    runner.run(issue_step)
    assert runner.gh()["issues"][0]["open"] is False
