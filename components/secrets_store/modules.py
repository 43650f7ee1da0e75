"""A worker's uploaded modules: a plain ES module graph, or a built bundle's entry and its parts.

A plain-module worker has no build step, so the upload must carry every module
the main one imports (`import ... from "./lib/x.js"`), each named by its path
relative to the main module's folder, the name its importers resolve. A bundle
(the output folder of esbuild or `wrangler deploy --outdir`) is uploaded from its entry:
the entry and every part it imports (statically or with `import("./...")`), each named by
its path in the folder; nothing else of the folder (a README, source maps, stray files).
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
BINARY = ("application/wasm", "application/octet-stream")
"""Part types whose content is not text (never checked as UTF-8)."""
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
def _module(name: str, data: bytes, content_type: str = MODULE_CONTENT_TYPE) -> Module:
    """One Module per name and content: its digest and base64 are computed once a process,
    however many workers (and program runs, for secretsctl) upload it."""
    return Module(name, data, content_type)


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
    return _read_inside(os.path.realpath(root), relative, {})[1].decode("utf-8")


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


def _read_inside(
    real_root: str, relative: str, folders: dict[str, str], *, text: bool = True
) -> tuple[str, bytes]:
    """`read_module` for a root already resolved: (the file's real path, its bytes, checked
    to be UTF-8 text unless `text` is False: a bundle's .wasm and .bin parts are binary)."""
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
            "(a module must be a plain file)"
        )
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_MODULE_BYTES + 1)
    if len(data) > MAX_MODULE_BYTES:
        raise ModuleGraphError(
            f"is larger than {MAX_MODULE_BYTES // (1024 * 1024)} MiB, got {got} "
            "(Cloudflare refuses a Worker over 10 MB compressed: split or trim it)"
        )
    if text:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModuleGraphError(
                f"is not UTF-8 text (byte {exc.start:,}), got {got} (save it as UTF-8)"
            ) from None
    return real, data


def collect_modules(root: Path, main: str) -> list[Module]:
    """The main module first, then each imported module once, in discovery order.

    Every file is read as `read_module` reads it: inside `root` after symlinks, regular,
    capped. Imports resolve from the main module's real folder, as Node and esbuild do.
    """
    real_root = os.path.realpath(root)
    folders: dict[str, str] = {}
    main_real, main_data = _read_inside(real_root, main, folders)
    folder = Path(os.path.dirname(main_real)).relative_to(real_root).as_posix()  # "." at root
    main_name = os.path.basename(main_real)
    seen: dict[str, Module] = {main_name: _module(main_name, main_data)}
    pending: list[tuple[str, str]] = [(main_name, main_data.decode("utf-8"))]
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
                _, data = _read_inside(real_root, relative, folders)
            except ModuleGraphError as exc:
                raise ModuleGraphError(f"{where} {exc}") from None
            seen[name] = _module(name, data)
            pending.append((name, data.decode("utf-8")))
    return list(seen.values())


def collect_bundle(root: Path, bundle: str, main: str) -> list[Module]:
    """The bundle's entry `main` first, then every part it imports, transitively (static and
    dynamic relative imports: esbuild's chunks, wasm and text modules), in discovery order.

    The folder must be a build output: never the project folder itself, nor one that holds
    `node_modules/` or a Pulumi project file at any depth (`bundle: .` would upload the
    whole project). Each part must resolve inside `root` after its symlinks are followed, so
    a link in a build output cannot upload a file from elsewhere on the machine.
    """
    real_root = os.path.realpath(root)
    folder = root / bundle
    real_folder = os.path.realpath(folder)
    if not (real_folder + os.sep).startswith(real_root.rstrip(os.sep) + os.sep):
        raise ModuleGraphError(
            f"lies outside the project once symlinks are followed, got {shown(bundle)} -> "
            f"{shown(real_folder)} (build the bundle inside the project)"
        )
    if not os.path.isdir(real_folder):
        raise ModuleGraphError(f"is not a folder, got {shown(bundle)} (build the bundle first)")
    _refuse_non_build_folder(bundle, Path(real_folder), Path(real_root))
    base = Path(bundle).as_posix()
    folders: dict[str, str] = {}

    def part(name: str) -> Module:
        content_type = CONTENT_TYPES.get(posixpath.splitext(name)[1])
        if content_type is None:
            raise ModuleGraphError(
                f"{bundle}: imports {shown(name)}, which is no module by Cloudflare's rules "
                "(.js, .mjs, .cjs, .wasm, .txt, .html, .sql, .bin)"
            )
        relative = posixpath.normpath(posixpath.join(base, name))
        _, data = _read_inside(real_root, relative, folders, text=content_type not in BINARY)
        return _module(name, data, content_type)

    try:
        entry = part(main)
    except ModuleGraphError:
        entry = None
    if entry is None or entry.content_type != MODULE_CONTENT_TYPE:
        found = ", ".join(
            p.relative_to(folder).as_posix()
            for p in sorted(folder.rglob("*"))
            if p.suffix in (".js", ".mjs") and p.is_file()
        )
        raise ModuleGraphError(
            f"{bundle}: has no ES module {main!r}, got {found or 'no ES module'} "
            "(main_module names the entry inside the bundle folder, for example index.js)"
        )
    seen: dict[str, Module] = {main: entry}
    pending = [entry]
    while pending:
        importer = pending.pop(0)
        if importer.content_type not in (MODULE_CONTENT_TYPE, "application/javascript"):
            continue
        for spec in _bundle_imports(importer.data.decode("utf-8")):
            name = posixpath.normpath(posixpath.join(posixpath.dirname(importer.name), spec))
            if name in seen:
                continue
            if name.startswith(".."):
                raise ModuleGraphError(
                    f"{bundle}/{importer.name} imports {shown(spec)}, which lies outside the "
                    "bundle folder (a bundle is uploaded from its own folder: rebuild it)"
                )
            seen[name] = part(name)
            pending.append(seen[name])
    return list(seen.values())


# A bundle's dynamic relative imports too: `import("./chunk-ABC.js")`, esbuild's splitting.
DYNAMIC_IMPORT = re.compile(r"""\bimport\s*\(\s*['"](?P<spec>\.{1,2}/[^'"]+)['"]\s*\)""")


@functools.lru_cache(maxsize=512)
def _bundle_imports(source: str) -> tuple[str, ...]:
    static = [match["spec"] for match in IMPORT.finditer(source)]
    return tuple(dict.fromkeys([*static, *(m["spec"] for m in DYNAMIC_IMPORT.finditer(source))]))


def _refuse_non_build_folder(bundle: str, folder: Path, root: Path) -> None:
    """A bundle folder is a build's output, never the project or a source tree."""
    fix = "(point bundle: at the build's output folder, for example dist/)"
    if folder == root:
        raise ModuleGraphError(f"is the project folder itself, got {shown(bundle)} {fix}")
    for path in folder.rglob("*"):
        if path.name == "node_modules" and path.is_dir():
            raise ModuleGraphError(
                f"holds a node_modules/ folder, got {shown(bundle)}: it is a source tree, "
                f"not a build output {fix}"
            )
        if path.name in ("Pulumi.yaml", "Pulumi.yml"):
            raise ModuleGraphError(
                f"holds a Pulumi project file, got {shown(bundle)}: it is a project, not a "
                f"build output {fix}"
            )


def module_graph_problem(root: Path, main: str) -> str | None:
    """Why the worker module `main` (or a module it imports) cannot be uploaded; None when
    all of it can. The spec's check, run before any resource is registered."""
    try:
        collect_modules(root, main)
    except ModuleGraphError as exc:
        return str(exc)
    return None


def bundle_problem(root: Path, bundle: str, main: str) -> str | None:
    """Why the bundle folder `bundle` (entry `main`) cannot be uploaded; None when it can."""
    try:
        collect_bundle(root, bundle, main)
    except ModuleGraphError as exc:
        return str(exc)
    return None
