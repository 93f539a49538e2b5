"""Finding migrations: a directory of modules, a package, or Migration objects."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from anyodm.migrations.definition import Migration
from anyodm.migrations.errors import MigrationError

__all__ = ["MigrationSource", "load_migrations"]

MigrationSource = str | os.PathLike[str] | ModuleType | Iterable[Migration]


def load_migrations(source: MigrationSource) -> list[Migration]:
    """The migrations of ``source``, sorted by name.

    ``source`` is a directory of migration modules (each ``*.py`` not starting with
    ``_`` defines ``migration = ...``), a package (module object or dotted name) holding
    such modules, or an iterable of :class:`Migration` objects.  A migration without a
    name takes its module's file name.
    """
    if isinstance(source, ModuleType):
        found = _from_package(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            found = _from_directory(path)
        elif isinstance(source, str) and source.replace(".", "").replace("_", "").isalnum():
            try:
                module = importlib.import_module(source)
            except ImportError as exc:
                raise MigrationError(
                    f"no migrations at {source!r}: neither a directory nor an importable "
                    f"package ({exc})"
                ) from exc
            found = _from_package(module)
        else:
            raise MigrationError(f"no migrations at {source!r}: not a directory")
    else:
        found = list(source)
        for item in found:
            if not isinstance(item, Migration):
                raise TypeError(f"expected Migration objects, got {type(item).__name__}")
    seen: dict[str, Migration] = {}
    for migration in found:
        name = migration.name
        if name in seen:
            raise MigrationError(f"two migrations are named {name!r}")
        seen[name] = migration
    return sorted(found, key=lambda m: m.name)


def _migration_of(module: ModuleType, stem: str) -> Migration:
    migration: Any = getattr(module, "migration", None)
    if not isinstance(migration, Migration):
        raise MigrationError(
            f"migration module {module.__name__!r} ({module.__file__}) defines no "
            "`migration = ModelMigration(...)` (or UpdateMigration / DocumentMigration)"
        )
    migration._set_default_name(stem)
    return migration


def _from_directory(path: Path) -> list[Migration]:
    found = []
    for file in sorted(path.glob("*.py")):
        if file.name.startswith("_"):
            continue
        module_name = f"anyodm_migration_{abs(hash(str(path.resolve()))):x}_{file.stem}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:  # pragma: no cover - a .py file loads
                raise MigrationError(f"cannot load migration module {file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
        found.append(_migration_of(module, file.stem))
    return found


def _from_package(package: ModuleType) -> list[Migration]:
    paths = getattr(package, "__path__", None)
    if paths is None:
        return [_migration_of(package, package.__name__.rpartition(".")[2])]
    found = []
    for info in sorted(pkgutil.iter_modules(paths), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(_migration_of(module, info.name))
    return found
