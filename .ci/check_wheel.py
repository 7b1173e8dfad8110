"""
Check the built wheel, then run the example site on it alone.

    python .ci/check_wheel.py DIST_DIR

1. DIST_DIR must hold exactly one wheel, of the version in the tree.
2. The wheel holds django_distinct and its dist-info and nothing else: no
   tests/, no example_project/. Every file tracked under django_distinct/
   (migrations, management commands, py.typed, templates) must be in it.
3. The wheel is installed, not editable, into a new virtualenv in a
   temporary folder, with dj-database-url for the example's settings. From
   that folder, with no PYTHONPATH, django_distinct must import from the
   virtualenv, and the example site's check, migrate and makemigrations
   --check must pass on a temporary SQLite file.

Exits 1 with the reason when any of it fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "django_distinct"
REQUIRED = [f"{PACKAGE}/py.typed", f"{PACKAGE}/migrations/__init__.py"]


class CheckFailed(Exception):
    pass


def tree_version() -> str:
    source = (ROOT / PACKAGE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', source, re.MULTILINE)
    if not match:
        raise CheckFailed(f"no __version__ in {PACKAGE}/__init__.py")
    return match.group(1)


def tracked_package_files() -> list[str]:
    """Return the package's files as git tracks them, or as the tree has them.

    Outside a git checkout (an unpacked sdist) every file counts but
    bytecode.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", PACKAGE],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(
            path.relative_to(ROOT).as_posix()
            for path in (ROOT / PACKAGE).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        )
    return sorted(name for name in listed.split("\0") if name)


def find_wheel(dist: Path) -> Path:
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        found = ", ".join(w.name for w in wheels) or "none"
        raise CheckFailed(f"expected one wheel in {dist}, found {found}")
    return wheels[0]


def check_contents(wheel: Path) -> int:
    version = tree_version()
    if not wheel.name.startswith(f"{PACKAGE}-{version}-"):
        raise CheckFailed(f"{wheel.name} is not version {version} of {PACKAGE}")

    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = f"{PACKAGE}-{version}.dist-info/"
    strays = sorted(
        name for name in names if not name.startswith((f"{PACKAGE}/", dist_info))
    )
    if strays:
        raise CheckFailed(f"{wheel.name} holds files outside the package: {strays}")

    # A tracked file under the package that is neither code nor declared data
    # would be silently left out; listing them all catches that.
    expected = set(REQUIRED) | set(tracked_package_files())
    missing = sorted(expected - names)
    if missing:
        raise CheckFailed(f"{wheel.name} lacks {missing}")
    if not any(name.startswith(f"{PACKAGE}/migrations/0") for name in names):
        raise CheckFailed(f"{wheel.name} has no migration")
    return len(names)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    print("   $", " ".join(str(a) for a in args), flush=True)
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        command = " ".join(Path(a).name if "/" in a else a for a in args)
        raise CheckFailed(
            f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def check_installed(wheel: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="wheel-check-") as tmp:
        work = Path(tmp)
        venv = work / "venv"
        python = str(venv / "bin" / "python")
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE"}
        }
        env.update(
            DATABASE_URL=f"sqlite:///{work / 'site.sqlite3'}",
            DISTINCT_API_KEY="wheel-check-key",
        )

        run([sys.executable, "-m", "venv", str(venv)], work, env)
        run(
            [python, "-m", "pip", "install", "--quiet", str(wheel), "dj-database-url"],
            work,
            env,
        )

        where = run(
            [python, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], work, env
        ).strip()
        if not Path(where).resolve().is_relative_to(venv.resolve()):
            raise CheckFailed(f"{PACKAGE} was imported from {where}, not the wheel")
        print(f"   imported from the virtualenv: {Path(where).relative_to(work)}")

        manage = str(ROOT / "example_project" / "manage.py")
        print("  ", run([python, manage, "check"], work, env).strip())
        run([python, manage, "migrate", "--no-input", "--verbosity", "0"], work, env)
        run([python, manage, "makemigrations", "--check", "--dry-run"], work, env)
        run([python, manage, "distinct_erase", "--help"], work, env)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        wheel = find_wheel(Path(sys.argv[1]).resolve())
        count = check_contents(wheel)
        print(f"== {wheel.name}: {count} files, no tests or example_project")
        check_installed(wheel)
    except CheckFailed as failure:
        print(f"wheel check failed: {failure}", file=sys.stderr)
        return 1
    print(f"== {wheel.name} installs and runs the example site on its own")
    return 0


if __name__ == "__main__":
    sys.exit(main())
