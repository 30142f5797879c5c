"""No import runs from a lower layer of s2h_lib up (docs/ARCHITECTURE.md's picture).

Every module is parsed, not imported, and every import counts, inside functions and under
TYPE_CHECKING too: a lazy import up is still a dependency up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import s2h_lib

PACKAGE_ROOT = Path(s2h_lib.__file__).parent
UTILITIES = ("paths", "atomic", "config_io", "devices", "extras", "restricted_pickle")
# Bottom to top; a name is a subpackage or a top-level module of s2h_lib. A module may import
# its own layer and the layers below it.
LAYERS = (
    UTILITIES,
    ("hand", "render"),
    ("data",),
    ("net",),
    ("losses",),
    ("evaluation", "fit", "train", "viz"),
    ("predict",),
    ("lab", "experiments"),
    ("cli",),
)
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path, root: Path) -> str:
    """root/fit/fitter.py -> "s2h_lib.fit.fitter"; a package's __init__ is the package."""
    parts = ("s2h_lib", *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every s2h_lib module or name `path` imports, absolute, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # `from s2h_lib import fit` names a subpackage; `from s2h_lib.fit import x` a module
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "s2h_lib"}


def top_part(module: str) -> str | None:
    """The subpackage or top-level module of s2h_lib that `module` lies in (None: s2h_lib)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layering_violations(root: Path = PACKAGE_ROOT) -> list[str]:
    """One line per import that runs up, naming the importing and the imported module; `root`
    is the s2h_lib folder."""
    violations = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path, root)
        source = top_part(importer)
        if source is None:  # s2h_lib/__init__.py sits above every layer
            continue
        assert source in LAYER_OF, f"{importer} is in no layer of LAYERS: add {source!r}"
        for imported in sorted(imported_modules(path, root)):
            target = top_part(imported)
            if target is None or target == source or target not in LAYER_OF:
                continue  # s2h_lib itself, its own package, or a name imported from s2h_lib
            if source in UTILITIES and target not in UTILITIES:
                violations.append(f"{importer} (a shared utility) imports {imported}")
            elif LAYER_OF[target] > LAYER_OF[source]:
                violations.append(
                    f"{importer} (layer {source}) imports {imported} (layer {target}, above it)"
                )
    return violations


def test_every_top_level_part_has_a_layer():
    parts = {path.stem for path in PACKAGE_ROOT.glob("*.py")} - {"__init__"}
    parts |= {path.parent.name for path in PACKAGE_ROOT.glob("*/__init__.py")}
    assert sorted(parts - set(LAYER_OF)) == []


def test_no_import_runs_from_a_lower_layer_up():
    violations = layering_violations()
    assert not violations, "imports that run up the layers:\n" + "\n".join(violations)


def test_the_check_sees_an_import_up(tmp_path):
    """The checker itself: a lazy import of the network in a hand module is reported, a
    relative import of a shared utility is not."""
    (tmp_path / "hand").mkdir()
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "hand" / "__init__.py").write_text("")
    (tmp_path / "hand" / "bad.py").write_text(
        "def f():\n    from s2h_lib.net.model import HandNet\n    from ..paths import X\n"
    )
    assert layering_violations(tmp_path) == [
        "s2h_lib.hand.bad (layer hand) imports s2h_lib.net.model.HandNet (layer net, above it)"
    ]
