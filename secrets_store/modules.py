"""A worker's uploaded modules: a plain ES module graph, or every module file of a built bundle.

A plain-module worker has no build step, so the upload must carry every module
the main one imports (`import ... from "./lib/x.js"`), each named by its path
relative to the main module's folder, the name its importers resolve. A bundle
(the output folder of esbuild or `wrangler deploy --outdir`) is uploaded whole:
every file that is a module by Cloudflare's rules, named by its path in the folder.
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


MODULE_CONTENT_TYPE = "application/javascript+module"
# Cloudflare's module types by file suffix (wrangler's default rules). Anything else in a
# bundle folder (README.md, metadata, source maps, which Cloudflare takes through another
# upload) is not a module and stays behind.
CONTENT_TYPES = {
    ".js": MODULE_CONTENT_TYPE,
    ".mjs": MODULE_CONTENT_TYPE,
    ".cjs": "application/javascript",
    ".wasm": "application/wasm",
    ".txt": "text/plain",
    ".html": "text/plain",
    ".sql": "text/plain",
    ".bin": "application/octet-stream",
}
TYPESCRIPT_SUFFIXES = (".ts", ".tsx", ".mts", ".cts")


@dataclass(frozen=True)
class Module:
    """One uploaded module: its part name, content and Cloudflare content type."""

    name: str
    """Path relative to the main module's (or bundle's) folder, for example `lib/rotation.js`."""
    data: bytes
    content_type: str = MODULE_CONTENT_TYPE

    @property
    def source(self) -> str:
        """The module's text (the main module is uploaded as text)."""
        return self.data.decode()

    # Cached: one module is uploaded by every worker that imports it.
    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @functools.cached_property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode()


class ModuleGraphError(ValueError):
    """An import or bundle file that does not resolve to a file inside the worker's folder."""


@functools.lru_cache(maxsize=512)
def _module(name: str, data: bytes, content_type: str = MODULE_CONTENT_TYPE) -> Module:
    """One Module per name and content: its digest and base64 are computed once a process,
    however many workers (and program runs, for secretsctl) upload it."""
    return Module(name, data, content_type)


def inside(path: Path, root: Path) -> bool:
    """Whether `path` stays under `root` once every symlink of both is followed."""
    resolved, base = path.resolve(), root.resolve()
    return resolved == base or base in resolved.parents


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
        data = path.read_bytes()  # read every time: the cache is keyed by the content
        seen[name] = _module(name, data)
        source = data.decode()
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


def collect_bundle(root: Path, bundle: str, main: str) -> list[Module]:
    """Every module file of a bundle folder, the entry `main` first, then by name.

    Each file must resolve inside `root` after its symlinks are followed, so a link in a
    build output cannot upload a file from elsewhere on the machine.
    """
    folder = root / bundle
    if not inside(folder, root):
        raise ModuleGraphError(f"{bundle}: resolves outside the project {root}")
    if not folder.is_dir():
        raise ModuleGraphError(f"{bundle}: is not a folder (build the bundle first)")
    parts: dict[str, Module] = {}
    for path in sorted(folder.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        name = path.relative_to(folder).as_posix()
        if not inside(path, root):
            raise ModuleGraphError(f"{bundle}/{name}: resolves outside the project {root}")
        parts[name] = _module(name, path.read_bytes(), content_type)
    entry = parts.pop(main, None)
    if entry is None or entry.content_type != MODULE_CONTENT_TYPE:
        found = ", ".join(n for n, m in parts.items() if m.content_type == MODULE_CONTENT_TYPE)
        raise ModuleGraphError(
            f"{bundle}: has no ES module {main!r}, got {found or 'no ES module'} "
            "(main_module names the entry inside the bundle folder, for example index.js)"
        )
    return [entry, *parts.values()]
