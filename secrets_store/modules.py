"""A worker's ES module graph: the main module plus everything it imports, transitively.

Workers here have no build step, so the upload must carry every module the
main one imports (`import ... from "./lib/x.js"`), each named by its path
relative to the main module's folder, the name its importers resolve.
"""

from __future__ import annotations

import base64
import errno
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

    The containment test comes after the links are followed (`realpath(strict=True)`): a
    string test on the path as written passes `workers/env.js -> /proc/self/environ` and
    `workers/lib -> /etc`.
    """
    return _read_inside(os.path.realpath(root), relative, {})[1]


def _real_path(real_root: str, relative: str, folders: dict[str, str]) -> str:
    """Where `relative` leads once every link is followed. Each folder is resolved once per
    graph (`folders`), each file with one lstat unless it is a link itself: a stack's
    workers read about fifty files a run, most of them from the same two folders."""
    folder, name = posixpath.split(relative)
    real_folder = folders.get(folder)
    if real_folder is None:
        real_folder = os.path.realpath(os.path.join(real_root, folder), strict=True)
        folders[folder] = real_folder
    path = os.path.join(real_folder, name)
    if stat.S_ISLNK(os.lstat(path).st_mode):
        return os.path.realpath(path, strict=True)
    return path


def _read_inside(real_root: str, relative: str, folders: dict[str, str]) -> tuple[str, str]:
    """`read_module` for a root already resolved: (the file's real path, its text)."""
    got = shown(relative)
    if not relative.isprintable():
        raise ModuleGraphError(f"holds a control character, got {got} (rename the file)")
    try:
        real = _real_path(real_root, relative, folders)
    except FileNotFoundError:
        raise ModuleGraphError(
            f"does not exist (or is a link to nothing), got {got} "
            "(create it or fix the path, relative to the project root)"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ModuleGraphError(f"is a symlink loop, got {got} (fix the link)") from None
        raise ModuleGraphError(
            f"cannot be read ({exc.strerror or 'error'}), got {got} (check the path)"
        ) from None
    if not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ModuleGraphError(
            f"lies outside the project once symlinks are followed, got {got} -> "
            f"{shown(real)} (a worker's modules are uploaded: they must be files inside "
            f"{shown(real_root)}; copy the file in instead of linking to it)"
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
        return real, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModuleGraphError(
            f"is not UTF-8 text (byte {exc.start:,}), got {got} (save it as UTF-8)"
        ) from None


def collect_modules(root: Path, main: str) -> list[Module]:
    """The main module first, then each imported module once, in discovery order.

    Every file is read as `read_module` reads it: inside `root` after symlinks, regular,
    capped. Imports resolve from the main module's real folder, as Node and esbuild do.
    """
    real_root = os.path.realpath(root)
    folders: dict[str, str] = {}
    main_real, main_source = _read_inside(real_root, main, folders)
    folder = Path(os.path.dirname(main_real)).relative_to(real_root).as_posix()  # "." at root
    main_name = os.path.basename(main_real)
    seen: dict[str, Module] = {main_name: _module(main_name, main_source)}
    pending: list[tuple[str, str]] = [(main_name, main_source)]
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
            try:
                relative = posixpath.normpath(posixpath.join(folder, name))
                _, text = _read_inside(real_root, relative, folders)
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
