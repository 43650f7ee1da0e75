"""Workers are uploaded whole: the main module and every module it imports, transitively."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from secrets_store.modules import ModuleGraphError, collect_modules

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
    with pytest.raises(ModuleGraphError, match=r"imports 'lib/gone.js', which does not exist"):
        collect_modules(tmp_path, "w/main.js")


def test_an_import_from_outside_the_worker_folder_is_refused(tmp_path):
    write(tmp_path, {"w/main.js": 'import "../elsewhere.js";\n', "elsewhere.js": ""})
    with pytest.raises(ModuleGraphError, match="from outside w/"):
        collect_modules(tmp_path, "w/main.js")


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
