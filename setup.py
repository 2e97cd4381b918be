"""Build hook: ship the top-level ``templates/`` and ``gunicorn.conf.py`` inside the wheel.

The project keeps its page templates and gunicorn settings at the top of the repository (where
``make run`` and ``gunicorn -c gunicorn.conf.py`` use them), outside any package, so plain
package-data cannot reach them. ``build_py`` copies them into the built ``portal`` package
(``portal/templates/`` and ``portal/gunicorn.conf.py``), where an installed portal finds them; an
editable install keeps using the repository's own files. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"templates": "templates", "gunicorn.conf.py": "gunicorn.conf.py"}  # repo path -> portal/…


class BuildPyWithPortalFiles(build_py):
    """``build_py`` plus the top-level templates and gunicorn settings copied into ``portal``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable portal reads them from the repository
        target = Path(self.build_lib) / "portal"
        for source, name in SHIPPED.items():
            src, dst = ROOT / source, target / name
            if src.is_dir():
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithPortalFiles})
