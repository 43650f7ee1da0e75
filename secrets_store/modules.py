"""A worker's ES module graph: the main module plus everything it imports, transitively.

Workers here have no build step, so the upload must carry every module the
main one imports (`import ... from "./lib/x.js"`), each named by its path
relative to the main module's folder, the name its importers resolve.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from secrets_store.spec import shown

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
    """A module graph that cannot be uploaded: a file missing, outside the project once its
    symlinks are followed, not a regular file, too large or not UTF-8. The message has no key:
    the caller adds the config key or argument it came from."""


MAX_MODULE_BYTES = 10 * 1024 * 1024
"""Largest module file read, 10 MiB: Cloudflare refuses a Worker over 10 MB compressed on
paid plans (3 MB on free), so no bigger file could deploy; the cap also bounds what reading
and hashing a hostile file costs."""

# Open without following a last-component link (the path is already resolved: a link put
# there since is refused, not followed) and without blocking (a FIFO opens at once, and fstat
# then refuses it instead of waiting for a writer forever).
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


@functools.lru_cache(maxsize=512)
def _module(name: str, source: str) -> Module:
    """One Module per name and content: its digest and base64 are computed once a process,
    however many workers (and program runs, for secretsctl) upload it."""
    return Module(name, source)


@functools.lru_cache(maxsize=512)
def _imports(source: str) -> tuple[str, ...]:
    return tuple(match["spec"] for match in IMPORT.finditer(source))


def read_module(root: Path, relative: str) -> str:
    """The text of the module at `relative` (a POSIX path under `root`), refused with a
    `ModuleGraphError` unless it is a regular UTF-8 file of at most MAX_MODULE_BYTES that
    lies inside `root` once every symlink on the way is followed.

    The containment test comes after `resolve(strict=True)`: a string test on the path as
    written passes `workers/env.js -> /proc/self/environ` and `workers/lib -> /etc`.
    """
    real_root = root.resolve()
    got = shown(relative)
    if any(ord(c) < 32 or ord(c) == 127 for c in relative):
        raise ModuleGraphError(f"holds a control character, got {got} (rename the file)")
    try:
        real = (root / relative).resolve(strict=True)
    except FileNotFoundError:
        raise ModuleGraphError(
            f"does not exist (or is a link to nothing), got {got} "
            "(create it or fix the path, relative to the project root)"
        ) from None
    except RuntimeError:  # how Python 3.11-3.12 report a symlink loop
        raise ModuleGraphError(f"is a symlink loop, got {got} (fix the link)") from None
    except OSError as exc:
        raise ModuleGraphError(
            f"cannot be read ({exc.strerror or 'error'}), got {got} (check the path)"
        ) from None
    if not real.is_relative_to(real_root):
        raise ModuleGraphError(
            f"lies outside the project once symlinks are followed, got {got} -> "
            f"{shown(str(real))} (a worker's modules are uploaded: they must be files "
            f"inside {shown(str(real_root))}; copy the file in instead of linking to it)"
        )
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise ModuleGraphError(
            f"cannot be read ({exc.strerror or 'error'}), got {got} (check its permissions)"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # of what was opened, not of a name
        os.close(fd)
        raise ModuleGraphError(
            f"is not a regular file (a folder, FIFO, device or socket), got {got} "
            "(a module must be a plain .js/.mjs file)"
        )
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_MODULE_BYTES + 1)
    if len(data) > MAX_MODULE_BYTES:
        raise ModuleGraphError(
            f"is larger than {MAX_MODULE_BYTES // (1024 * 1024)} MiB, got {got} "
            "(Cloudflare refuses a Worker over 10 MB compressed: split or trim it)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModuleGraphError(
            f"is not UTF-8 text (byte {exc.start:,}), got {got} (save it as UTF-8)"
        ) from None


def collect_modules(root: Path, main: str) -> list[Module]:
    """The main module first, then each imported module once, in discovery order.

    Every file is read by `read_module`: inside `root` after symlinks, regular, capped.
    Imports resolve from the main module's real folder, as Node and esbuild resolve them.
    """
    main_source = read_module(root, main)
    real_root = root.resolve()
    main_path = (root / main).resolve()
    base = main_path.parent
    folder = base.relative_to(real_root).as_posix()  # "." for the project root
    seen: dict[str, Module] = {main_path.name: _module(main_path.name, main_source)}
    pending: list[tuple[str, str]] = [(main_path.name, main_source)]
    while pending:
        importer, source = pending.pop(0)
        for spec in _imports(source):
            name = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
            if name in seen:
                continue
            importer_path = posixpath.normpath(posixpath.join(folder, importer))
            where = f"{importer_path} imports {shown(spec)}, which"
            if name.startswith(".."):
                raise ModuleGraphError(
                    f"{where} lies outside the main module's folder, got {shown(spec)} "
                    f"(modules are uploaded by their path under {folder}/: move it there)"
                )
            relative = posixpath.normpath(posixpath.join(folder, name))
            try:
                text = read_module(real_root, relative)
            except ModuleGraphError as exc:
                raise ModuleGraphError(f"{where} {exc}") from None
            seen[name] = _module(name, text)
            pending.append((name, text))
    return list(seen.values())


def module_graph_problem(root: Path, main: str) -> str | None:
    """Why the worker module `main` (or a module it imports) cannot be uploaded; None when
    all of it can. The spec's check, run before any resource is registered."""
    try:
        collect_modules(root, main)
    except ModuleGraphError as exc:
        return str(exc)
    return None
