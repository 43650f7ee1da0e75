"""A worker's ES module graph: the main module plus everything it imports, transitively.

Workers here have no build step, so the upload must carry every module the
main one imports (`import ... from "./lib/x.js"`), each named by its path
relative to the main module's folder, the name its importers resolve.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

# Static relative imports and re-exports: `import x from "./a.js"`, `import "./a.js"`,
# `export { y } from "../b.js"`. Bare specifiers (`cloudflare:workers`) are runtime-provided.
IMPORT = re.compile(
    r"""^\s*(?:import|export)\b[^'"]*?(?:\bfrom\s*)?['"](?P<spec>\.{1,2}/[^'"]+)['"]""",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Module:
    """One uploaded module: its part name and content."""

    name: str
    """Path relative to the main module's folder, for example `lib/rotation.js`."""
    source: str

    # Cached: one module is uploaded by every worker that imports it.
    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    @functools.cached_property
    def base64(self) -> str:
        return base64.b64encode(self.source.encode()).decode()


class ModuleGraphError(ValueError):
    """An import that does not resolve to a file inside the worker's folder."""


@functools.lru_cache(maxsize=512)
def _module(name: str, source: str) -> Module:
    """One Module per name and content: its digest and base64 are computed once a process,
    however many workers (and program runs, for secretsctl) upload it."""
    return Module(name, source)


@functools.lru_cache(maxsize=512)
def _imports(source: str) -> tuple[str, ...]:
    return tuple(match["spec"] for match in IMPORT.finditer(source))


def collect_modules(root: Path, main: str) -> list[Module]:
    """The main module first, then each imported module once, in discovery order."""
    main_path = (root / main).resolve()
    base = main_path.parent
    seen: dict[str, Module] = {}
    pending = [main_path.name]
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        path = base / name
        if not path.is_file():
            raise ModuleGraphError(f"{main}: imports {name!r}, which does not exist")
        source = path.read_text()  # read every time: the cache is keyed by the content
        seen[name] = _module(name, source)
        folder = posixpath.dirname(name)
        for spec in _imports(source):
            target = posixpath.normpath(posixpath.join(folder, spec))
            if target.startswith(".."):
                raise ModuleGraphError(
                    f"{main}: {name} imports {spec!r} from outside "
                    f"{base.relative_to(root.resolve())}/"
                )
            pending.append(target)
    return list(seen.values())
