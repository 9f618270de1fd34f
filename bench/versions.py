"""Installed versions of pip distributions, without importing them (Python 3.6 too)."""
from typing import Dict, Iterable

try:  # Python 3.8+
    from importlib.metadata import PackageNotFoundError, version as _version  # novermin: guarded
except ImportError:  # Python 3.6/3.7 (JetPack 4.x): setuptools' pkg_resources
    from pkg_resources import DistributionNotFound as PackageNotFoundError
    from pkg_resources import get_distribution

    def _version(name: str) -> str:
        return get_distribution(name).version


def package_versions(names: Iterable[str]) -> Dict[str, str]:
    """{name: version} for the distributions that are installed; others are left out."""
    found = {}
    for name in names:
        try:
            found[name] = _version(name)
        except PackageNotFoundError:
            pass
    return found
