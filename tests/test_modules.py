"""Workers are uploaded whole: the main module and every module it imports, transitively."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from secrets_store.modules import MAX_MODULE_BYTES, ModuleGraphError, collect_modules
from tests.workflow_support import Project, Result, bytecode_settings, secretsctl

ROOT = Path(__file__).resolve().parent.parent


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_imports_are_collected_transitively_and_once(tmp_path):
    write(
        tmp_path,
        {
            "w/main.js": (
                'import { a } from "./lib/a.js";\nimport "./lib/side.js";\nexport default {};\n'
            ),
            "w/lib/a.js": 'export { b } from "./b.js";\nimport { c } from "../shared/c.js";\n',
            "w/lib/b.js": 'import { a } from "./a.js";\nexport const b = 1;\n',  # a cycle
            "w/lib/side.js": "export const side = 1;\n",
            "w/shared/c.js": 'import { connect } from "cloudflare:sockets";\nexport const c = 1;\n',
        },
    )
    names = [m.name for m in collect_modules(tmp_path, "w/main.js")]
    assert names == ["main.js", "lib/a.js", "lib/side.js", "lib/b.js", "shared/c.js"]


def test_changing_an_imported_module_changes_the_upload(tmp_path):
    write(tmp_path, {"w/main.js": 'import "./lib/a.js";\n', "w/lib/a.js": "export const a = 1;\n"})
    before = {m.name: m.sha256 for m in collect_modules(tmp_path, "w/main.js")}
    (tmp_path / "w/lib/a.js").write_text("export const a = 2;\n")
    after = {m.name: m.sha256 for m in collect_modules(tmp_path, "w/main.js")}
    assert before["main.js"] == after["main.js"]
    assert before["lib/a.js"] != after["lib/a.js"]
    # The same process reads the files again: a new import is followed, not a remembered list.
    write(tmp_path, {"w/lib/a.js": 'import "./b.js";\n', "w/lib/b.js": "export const b = 1;\n"})
    assert [m.name for m in collect_modules(tmp_path, "w/main.js")] == [
        "main.js",
        "lib/a.js",
        "lib/b.js",
    ]


def test_an_import_of_a_missing_file_is_refused(tmp_path):
    write(tmp_path, {"w/main.js": 'import "./lib/gone.js";\n'})
    with pytest.raises(
        ModuleGraphError,
        match=r"^w/main.js imports './lib/gone.js', which does not exist .*got 'w/lib/gone.js'",
    ):
        collect_modules(tmp_path, "w/main.js")


def test_an_import_from_outside_the_worker_folder_is_refused(tmp_path):
    write(tmp_path, {"w/main.js": 'import "../elsewhere.js";\n', "elsewhere.js": ""})
    with pytest.raises(ModuleGraphError, match="lies outside the main module's folder"):
        collect_modules(tmp_path, "w/main.js")


# ---- hostile files: links out of the project, FIFOs, oversized and undecodable files ------

OUTSIDE_TEXT = "outside-canary-Qm4T"
"""The content of every file outside the project: no refusal or upload may carry it."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder, with a file and a folder of modules beside it (outside)."""
    write(tmp_path, {"outside/secret.js": OUTSIDE_TEXT, "outside/lib/x.js": OUTSIDE_TEXT})
    root = tmp_path / "project"
    write(root, {"w/main.js": 'import "./lib/x.js";\n', "w/lib/x.js": "export const x = 1;\n"})
    return root


def refusal(root: Path, main: str = "w/main.js") -> str:
    with pytest.raises(ModuleGraphError) as info:
        collect_modules(root, main)
    message = str(info.value)
    assert OUTSIDE_TEXT not in message and "\n" not in message
    return message


def test_a_main_module_linked_to_a_file_outside_the_project_is_refused(project):
    (project / "w/env.js").symlink_to(project.parent / "outside/secret.js")
    assert refusal(project, "w/env.js").startswith(
        "lies outside the project once symlinks are followed, got 'w/env.js' -> "
    )


def test_a_main_module_linked_to_proc_self_environ_is_refused(project):
    (project / "w/env.js").symlink_to("/proc/self/environ")
    assert "lies outside the project" in refusal(project, "w/env.js")


def test_a_main_module_linked_to_etc_passwd_is_refused(project):
    (project / "w/passwd.js").symlink_to("/etc/passwd")
    assert "-> '/etc/passwd'" in refusal(project, "w/passwd.js")


def test_an_import_through_a_folder_linked_outside_the_project_is_refused(project):
    shutil.rmtree(project / "w/lib")
    (project / "w/lib").symlink_to(project.parent / "outside/lib", target_is_directory=True)
    assert refusal(project).startswith(
        "w/main.js imports './lib/x.js', which lies outside the project once symlinks are "
        "followed, got 'w/lib/x.js' -> "
    )


def test_an_outside_module_whose_import_climbs_further_is_refused_without_reading_on(project):
    # The link is refused before its imports are followed (they were a ValueError before).
    write(project.parent, {"outside/deep/m.js": 'import "../../../../etc/x.js";\n'})
    (project / "w/m.js").symlink_to(project.parent / "outside/deep/m.js")
    assert "lies outside the project" in refusal(project, "w/m.js")


def test_an_import_climbing_out_of_the_project_is_refused(project):
    write(project, {"w/climb.js": 'import "../../../../etc/x.js";\n'})
    assert "'../../../../etc/x.js', which lies outside the main module's folder" in refusal(
        project, "w/climb.js"
    )


def test_a_dangling_link_and_a_link_loop_are_refused(project):
    (project / "w/gone.js").symlink_to(project / "w/nothing.js")
    assert "does not exist (or is a link to nothing)" in refusal(project, "w/gone.js")
    (project / "w/a.js").symlink_to(project / "w/b.js")
    (project / "w/b.js").symlink_to(project / "w/a.js")
    assert "symlink loop" in refusal(project, "w/a.js") or "does not exist" in refusal(
        project, "w/a.js"
    )


def collect_within(root: Path, main: str, seconds: float = 10) -> BaseException | None:
    """What collect_modules raises, from a thread the test gives up on after `seconds`."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            collect_modules(root, main)
            outcome.append(None)
        except BaseException as exc:  # handed to the test to assert on
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"collect_modules({main!r}) still runs after {seconds} s: it hangs"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_as_module_or_import_is_refused_at_once(project):
    os.mkfifo(project / "w/fifo.js")  # opening it for reading would wait for a writer
    raised = collect_within(project, "w/fifo.js")
    assert isinstance(raised, ModuleGraphError) and "is not a regular file" in str(raised)
    write(project, {"w/via.js": 'import "./fifo.js";\n'})
    raised = collect_within(project, "w/via.js")
    assert isinstance(raised, ModuleGraphError)
    assert str(raised).startswith("w/via.js imports './fifo.js', which is not a regular file")


def test_a_folder_named_as_a_module_is_refused(project):
    (project / "w/dir.js").mkdir()
    assert "is not a regular file" in refusal(project, "w/dir.js")


def test_a_module_over_the_size_cap_is_refused(project):
    with (project / "w/big.js").open("wb") as big:
        big.truncate(MAX_MODULE_BYTES + 1)  # sparse: no 10 MiB written
    assert "is larger than 10 MiB, got 'w/big.js'" in refusal(project, "w/big.js")


def test_a_module_that_is_not_utf8_is_refused_with_its_byte_offset(project):
    (project / "w/latin.js").write_bytes(b"// caf\xe9\n")
    assert "is not UTF-8 text (byte 6), got 'w/latin.js'" in refusal(project, "w/latin.js")


def test_an_import_holding_a_control_character_is_refused(project):
    write(project, {"w/nul.js": 'import "./a\x00.js";\n'})
    assert "holds a control character" in refusal(project, "w/nul.js")


def test_links_that_stay_inside_the_project_are_followed(project):
    # GIVEN a main module linked to another folder of the project, and a linked lib folder
    write(project, {"impl/api.js": 'import "./shared/y.js";\n', "impl/real/y.js": "1;\n"})
    (project / "impl/shared").symlink_to(project / "impl/real", target_is_directory=True)
    (project / "w/api.js").symlink_to(project / "impl/api.js")
    # THEN imports resolve from the real folder of the main module (as Node resolves them)
    modules = collect_modules(project, "w/api.js")
    assert [(m.name, m.source) for m in modules] == [
        ("api.js", 'import "./shared/y.js";\n'),
        ("shared/y.js", "1;\n"),
    ]


@pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules/miniflare").is_dir(),
    reason="node and node_modules are needed (run `make setup`)",
)
def test_the_local_runtime_loads_the_same_modules_as_the_pulumi_upload():
    workers = sorted(p.name for p in (ROOT / "workers").glob("*.js"))
    script = (
        "import { collectModules } from './workers/local/index.mjs';"
        f"const out = {{}}; for (const w of {json.dumps(workers)}) "
        "{ out[w] = collectModules('workers', w).map(m => m.name); }"
        "console.log(JSON.stringify(out));"
    )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    local = json.loads(result.stdout)
    for worker in workers:
        ours = sorted(m.name for m in collect_modules(ROOT, f"workers/{worker}"))
        assert sorted(local[worker]) == ours, worker


# ---- as commands run it: the stack file names a hostile module ----------------------------

ENV_CANARY = "env-canary-Hq7W2x"
"""Set in the environment of the process that runs the commands: /proc/self/environ holds it."""

HOSTILE_RUNS = {
    "plan": ["plan", "--stack", "dev", "--format", "json"],
    "check": ["check", "--base", "HEAD"],
    "diff": ["diff", "--stack", "dev", "--base", "HEAD", "--format", "json"],
    "export": ["export", "wrangler", "--stack", "dev", "--worker", "api"],
    "rehearse": ["rehearse", "--stack", "dev", "--json"],
}

# Runs each command in one child process (so its /proc/self/environ holds the canary) with
# exceptions not caught: a traceback would reach the child's stderr, as it would a user's.
RUN_IN_CHILD = """
import json, sys
from typer.testing import CliRunner
from secretsctl.cli import app
results = []
for argv in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, argv, catch_exceptions=False)
    results.append([result.exit_code, result.stdout, result.stderr])
print(json.dumps(results))
"""


def use_module(project: Project, target: str, stacks: tuple[str, ...] = ("dev",)) -> None:
    """Point the api worker of `stacks` at `target` (a path relative to the project)."""
    for stack in stacks:
        project.sub(stack, r"module: workers/api\.js", f"module: {target}")


def assert_refused_at_the_worker_key(result: Result) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" or "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "secrets-store:workers.api.module: " in lines[0], result.stderr
    assert "Traceback" not in result.output, result.output
    leaked = OUTSIDE_TEXT in result.output or "root:" in result.output
    assert not leaked, "a file outside the project reached the output"


def test_a_module_linked_to_proc_self_environ_never_reaches_any_command_output(tmp_path):
    # GIVEN a project whose api worker is a link to the process environment, in every stack
    project = Project(tmp_path / "project")
    (project.root / "workers/env.js").symlink_to("/proc/self/environ")
    use_module(project, "workers/env.js", ("dev", "staging", "prod"))
    # WHEN every command that reads the module runs with a canary in its environment
    child = subprocess.run(
        [sys.executable, "-c", RUN_IN_CHILD, json.dumps(list(HOSTILE_RUNS.values()))],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            ENV_CANARY: ENV_CANARY,
            **bytecode_settings(),
        },
    )
    # THEN none prints it (nor traces back); each refuses in one line naming the key
    leaked = ENV_CANARY in child.stdout + child.stderr
    assert not leaked, "the process environment reached a command's output"  # not shown
    assert child.returncode == 0 and "Traceback" not in child.stderr, child.stderr[-2000:]
    for command, (code, stdout, stderr) in zip(HOSTILE_RUNS, json.loads(child.stdout), strict=True):
        assert (code, stdout) == (2, ""), f"{command}: {code} {stdout[:300]}"
        lines = stderr.splitlines()
        if command == "check":  # one line for each stack file
            assert [line.split(":")[0] for line in lines] == [
                f"stacks/Pulumi.{stack}.yaml" for stack in ("dev", "prod", "staging")
            ], stderr
            lines = [line.split(": ", 1)[1] for line in lines]
        assert len(set(lines)) == 1, f"{command}: {stderr}"
        assert lines[0].startswith(
            "secrets-store:workers.api.module: lies outside the project once "
            "symlinks are followed, got 'workers/env.js' -> "
        ), f"{command}: {stderr}"


@pytest.fixture
def project_repo(tmp_path: Path) -> Project:
    write(tmp_path, {"outside/secret.js": OUTSIDE_TEXT, "outside/lib/http.js": OUTSIDE_TEXT})
    return Project(tmp_path / "project")


def plan(project: Project) -> Result:
    return secretsctl("plan", "--stack", "dev", "--format", "json", "--cwd", str(project.root))


def test_plan_refuses_a_module_linked_to_etc_passwd(project_repo):
    (project_repo.root / "workers/passwd.js").symlink_to("/etc/passwd")
    use_module(project_repo, "workers/passwd.js")
    result = plan(project_repo)
    assert_refused_at_the_worker_key(result)
    assert "-> '/etc/passwd'" in result.stderr


def test_plan_and_check_refuse_a_lib_folder_linked_outside_the_project(project_repo):
    lib = project_repo.root / "workers/lib"
    for path in lib.glob("*.js"):  # every module but the one read first stays real
        if path.name != "http.js":
            shutil.copy(path, project_repo.root.parent / "outside/lib" / path.name)
    shutil.rmtree(lib)
    lib.symlink_to(project_repo.root.parent / "outside/lib", target_is_directory=True)
    result = plan(project_repo)
    assert result.exit_code == 2 and "Traceback" not in result.output
    leaked = OUTSIDE_TEXT in result.output
    assert not leaked, "a file outside the project reached the plan"
    assert (
        "secrets-store:workers.api.module: workers/api.js imports './lib/http.js', which "
        "lies outside the project once symlinks are followed" in result.stderr
    )
    # check names every worker that imports it, one line each, and passes nothing
    checked = secretsctl("check", "--root", str(project_repo.root))
    assert checked.exit_code == 2 and "OK" not in checked.stdout
    assert all("lies outside the project" in line for line in checked.stderr.splitlines())


def test_plan_refuses_an_outside_module_whose_import_climbs_further(project_repo):
    write(project_repo.root.parent, {"outside/deep/m.js": 'import "../../../../etc/x.js";\n'})
    (project_repo.root / "workers/m.js").symlink_to(project_repo.root.parent / "outside/deep/m.js")
    use_module(project_repo, "workers/m.js")
    assert_refused_at_the_worker_key(plan(project_repo))


def test_plan_refuses_an_import_climbing_out_of_the_project(project_repo):
    write(project_repo.root, {"workers/climb.js": 'import "../../../../etc/x.js";\n'})
    use_module(project_repo, "workers/climb.js")
    result = plan(project_repo)
    assert_refused_at_the_worker_key(result)
    assert "which lies outside the main module's folder" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_plan_refuses_a_fifo_module_at_once(project_repo):
    os.mkfifo(project_repo.root / "workers/fifo.js")
    use_module(project_repo, "workers/fifo.js")
    result = plan(project_repo)  # the old reader waited for a writer here, forever
    assert_refused_at_the_worker_key(result)
    assert "is not a regular file" in result.stderr


def test_a_module_linked_inside_the_project_is_planned_with_its_content(project_repo):
    root = project_repo.root
    (root / "workers/impl").mkdir()
    (root / "workers/api.js").rename(root / "workers/impl/api_impl.js")
    (root / "workers/impl/lib").symlink_to(root / "workers/lib", target_is_directory=True)
    (root / "workers/api.js").symlink_to(root / "workers/impl/api_impl.js")
    result = plan(project_repo)
    assert result.exit_code == 0, result.output
    scripts = [
        r["inputs"]
        for r in json.loads(result.stdout)["resources"]
        if r["inputs"].get("scriptName") == "dev_api"
    ]
    assert scripts and scripts[0]["mainModule"] == "api_impl.js"
    assert "lib/http.js" in scripts[0]["files"]
