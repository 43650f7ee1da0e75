"""Runs remembered by what they read (`runcache`): shared by copies of a project, run again
when anything they read, listed or looked at changed, and never stale across projects."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secretsctl.cli import app
from secretsctl.offline import runcache
from secretsctl.offline.mockrun import ProgramRun, remembering_runs, run_program
from secretsctl.offline.stackfile import load_stack_config
from tests.conftest import ACCOUNT

PROGRAM = """\
from pathlib import Path

import pulumi
from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

import naming

store = SecretsStore("store", account_id=pulumi.Config("shop").require("account"))
signing = VersionedSecret("signing", store=store, kind="signing_key", generate=True,
                          secret_name="signing_key")
workers = ["edge"] + (["extra"] if Path("../workers/extra.js").exists() else [])
for name in workers:
    Worker(name, account_id=store.account_id, script_name=naming.script(name), root="..",
           main_module=f"workers/{name}.js", bindings={"KEY": SecretBinding(signing)})
"""
STACK = f"config:\n  shop:account: '{ACCOUNT}'\n"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
RANDOM = "random:index/randomBytes:RandomBytes"


def make_project(root: Path) -> Path:
    for folder in ("infra", "envs", "workers"):
        (root / folder).mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(
        "name: shop\nruntime: python\nmain: infra\nstackConfigDir: envs\n"
    )
    (root / "infra" / "__main__.py").write_text(PROGRAM)
    (root / "infra" / "naming.py").write_text('def script(name):\n    return f"shop-{name}"\n')
    (root / "workers" / "edge.js").write_text(worker("edge v1"))
    (root / "envs" / "Pulumi.dev.yaml").write_text(STACK)
    return root


def worker(body: str) -> str:
    return f"export default {{ fetch() {{ return new Response('{body}'); }} }};\n"


def plan(root: Path) -> ProgramRun:
    path = root / "envs" / "Pulumi.dev.yaml"
    return run_program(load_stack_config("dev", path))


def drawn(run: ProgramRun) -> list[str]:
    """The values the run's mocks generated."""
    return [out["base64"] for urn, out in sorted(run.state.items()) if RANDOM.split(":")[-1] in urn]


def scripts(run: ProgramRun) -> dict[str, str]:
    """script name -> its main module's text."""
    found = {}
    for r in run.of_type(SCRIPT):
        found[r.inputs["scriptName"]] = r.inputs["content"]
    return found


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_project(tmp_path / "a" / "shop")


def test_a_copy_of_a_project_in_another_folder_shares_its_run(shop: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b" / "shop"
    shutil.copytree(shop, copy)
    with remembering_runs():
        first = plan(shop)
        assert drawn(plan(copy)) == drawn(first)  # one run: a fresh one draws anew
    assert drawn(plan(copy)) != drawn(first)  # outside a span every run runs
    assert drawn(first) and len(set(drawn(first))) == len(drawn(first))


@pytest.mark.parametrize(
    "change",
    [
        "a worker module",
        "the program's own module",
        "a file the program looks for",
        "a module moved behind a link",
    ],
)
def test_a_run_whose_reads_changed_runs_again(shop: Path, change: str) -> None:
    with remembering_runs():
        before = plan(shop)
        if change == "a worker module":
            (shop / "workers" / "edge.js").write_text(worker("edge v2"))
        elif change == "the program's own module":
            (shop / "infra" / "naming.py").write_text(
                'def script(name):\n    return f"store-{name}"\n'
            )
        elif change == "a file the program looks for":
            (shop / "workers" / "extra.js").write_text(worker("extra"))
        else:  # the same text, read through a link: uploaded under the file's own name
            (shop / "workers" / "impl").mkdir()
            (shop / "workers" / "edge.js").rename(shop / "workers" / "impl" / "edge_impl.js")
            (shop / "workers" / "edge.js").symlink_to("impl/edge_impl.js")
        after = plan(shop)
    assert drawn(after) != drawn(before)  # it ran again
    expected = {
        "a worker module": {"shop-edge": worker("edge v2")},
        "the program's own module": {"store-edge": worker("edge v1")},
        "a file the program looks for": {
            "shop-edge": worker("edge v1"),
            "shop-extra": worker("extra"),
        },
        "a module moved behind a link": {"shop-edge": worker("edge v1")},
    }[change]
    assert scripts(after) == expected
    linked = change == "a module moved behind a link"
    main = {r.name: r.inputs["mainModule"] for r in after.of_type(SCRIPT)}
    assert main["edge-script"] == ("edge_impl.js" if linked else "edge.js")


def test_a_redrawing_span_gives_each_recall_fresh_values_where_the_run_had_its_own(
    shop: Path,
) -> None:
    with remembering_runs(redrawing=True):
        first = plan(shop)
        again = plan(shop)
        with remembering_runs():  # within a command: the same values, recalled or not
            inner = plan(shop)
            assert drawn(plan(shop)) == drawn(inner)
    assert drawn(again) != drawn(first) and drawn(inner) not in (drawn(first), drawn(again))
    # the same run otherwise: each value is where the first run had its own, in every form
    swap = dict(zip(drawn(first), drawn(again), strict=True))
    for urn, out in first.state.items():
        if "base64" in out:
            raw = base64.b64decode(swap[out["base64"]])
            assert again.state[urn] == {**out, "base64": swap[out["base64"]], "hex": raw.hex()}
    assert [r.urn for r in again.resources] == [r.urn for r in first.resources]
    secrets = [r for r in again.resources if r.type.endswith("SecretsStoreSecret")]
    assert {r.inputs["value"]["value"] for r in secrets} == set(drawn(again))


def test_a_run_that_names_its_folder_or_writes_is_not_shared_with_another_folder(
    shop: Path, tmp_path: Path
) -> None:
    program = shop / "infra" / "__main__.py"
    program.write_text(PROGRAM + 'pulumi.export("where", str(Path.cwd()))\n')
    copy = tmp_path / "b" / "shop"
    shutil.copytree(shop, copy)
    with remembering_runs():
        first = plan(shop)
        assert drawn(plan(shop)) == drawn(first)  # the same folder: shared
        elsewhere = plan(copy)
        assert drawn(elsewhere) != drawn(first)
        assert elsewhere.outputs["where"] == str(copy / "infra")
        program.write_text(PROGRAM + 'Path("../written").write_text("x")\n')
        written = plan(shop)
        assert drawn(plan(shop)) != drawn(written)


def test_a_pr_changing_the_programs_own_module_shows_in_diff_and_check(shop: Path) -> None:
    git = ["git", "-C", str(shop), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    # The base's run imports its naming.py first; the head's must import its own.
    (shop / "infra" / "naming.py").write_text('def script(name):\n    return f"store-{name}"\n')
    result = CliRunner().invoke(
        app, ["diff", "--stack", "dev", "--base", "HEAD", "--cwd", str(shop)]
    )
    assert result.exit_code == 0, result.stderr
    # was "0 to replace": the head ran with the base's naming module
    assert "| WorkersScript | `edge-script` | scriptName |" in result.stdout, result.stdout
    assert "0 to update, 0 to delete, 1 to replace" in result.stdout


def test_nothing_is_remembered_outside_a_span(shop: Path) -> None:
    assert not runcache.remembering() or runcache._spans[0].redrawing  # the suite's own
    with runcache.forgotten():
        assert not runcache.remembering()
        assert drawn(plan(shop)) != drawn(plan(shop))


def test_a_main_file_cannot_import_a_module_beside_it_as_under_the_engine(shop: Path) -> None:
    # Pulumi runs a `main:` folder with its folder on sys.path, a `main:` file as a script
    # (checked with `pulumi preview`: "No module named 'naming'"); offline runs the same way.
    project = shop / "Pulumi.yaml"
    project.write_text(project.read_text().replace("main: infra", "main: infra/__main__.py"))
    result = CliRunner().invoke(app, ["plan", "--stack", "dev", "--cwd", str(shop)])
    assert result.exit_code == 2
    assert "__main__.py:6: the program raised ModuleNotFoundError: No module named 'naming'" in (
        result.stderr
    )
