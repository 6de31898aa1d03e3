"""Build glue that pyproject.toml cannot express: package directory mapping and cffi modules.

Every ``native/build_*.py`` script defines an ``ffibuilder``; each becomes a compiled extension,
so adding a native module needs no edit here.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
PACKAGE_ROOTS = {"spacemesh_core": "spacemesh_core", "spacemesh_hooks": "hooks", "spacemesh_plugins": "plugins"}


def _find_mapped_packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for name, directory in PACKAGE_ROOTS.items():
        packages.append(name)
        package_dir[name] = directory
        for sub in find_packages(where=directory):
            packages.append(f"{name}.{sub}")
    return packages, package_dir


packages, package_dir = _find_mapped_packages()
cffi_modules = [f"native/{p.name}:ffibuilder" for p in sorted((ROOT / "native").glob("build_*.py"))]

setup(packages=packages, package_dir=package_dir, cffi_modules=cffi_modules)
