"""Run the Distinct double on a loopback address until stopped."""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from django_distinct import conf
from django_distinct.management.base import TranslatedHelpCommand
from django_distinct.testing import FakeDistinct, FakeDistinctServer

DEFAULT_API_KEY = "test-api-key"


def port_number(value: str) -> int:
    """Parse a TCP port, 0 meaning any free one."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0 to 65535)")
    return port


class Command(TranslatedHelpCommand):
    help = gettext_noop(
        "Serve an in-memory double of Distinct's delete-user endpoint on a "
        "loopback address, for demos and tests. Prints "
        "'Distinct double listening on URL' once ready; stop it with "
        "SIGTERM or Ctrl-C."
    )
    # The double must start even while the project's own settings are
    # incomplete (no API key yet, say): that is when it is most useful.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help=_("Loopback address to listen on (default: %(default)s)."),
        )
        parser.add_argument(
            "--port",
            type=port_number,
            default=8765,
            help=_("Port to listen on; 0 picks a free one (default: %(default)s)."),
        )
        parser.add_argument(
            "--api-key",
            help=_(
                "The key the double accepts (default: the DISTINCT API_KEY "
                "setting, else %(key)s)."
            )
            % {"key": repr(DEFAULT_API_KEY)},
        )
        parser.add_argument(
            "--seed",
            type=Path,
            metavar="FILE.json",
            help=_("JSON file holding a list of users to load at start."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"]
        if not _is_loopback(host):
            raise CommandError(
                f"Refusing to listen on {host!r}: the double holds PII, even if "
                "fake, and has no authentication on its control API. Use a "
                "loopback address such as 127.0.0.1."
            )

        fake = FakeDistinct(
            api_key=options["api_key"] or conf.api_key() or DEFAULT_API_KEY
        )
        if options["seed"] is not None:
            _seed(fake, options["seed"])

        server = FakeDistinctServer(fake, host=host, port=options["port"])
        try:
            server.start()
        except OSError as err:
            raise CommandError(
                f"Cannot listen on {host}:{options['port']}: {err.strerror or err}. "
                "Choose another --port, or --port 0 for any free one."
            ) from err

        stop = threading.Event()
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.stdout.write(f"Distinct double listening on {server.url}")
            self.stdout.flush()
            # A timeout, so the main thread wakes to run the signal handler
            # on every platform.
            while not stop.wait(0.2):
                pass
        finally:
            server.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seed(fake: FakeDistinct, path: Path) -> None:
    try:
        users = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CommandError(
            f"Cannot read the seed file {path}: {err.strerror}."
        ) from err
    except ValueError as err:
        raise CommandError(f"The seed file {path} is not valid JSON: {err}.") from err

    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        raise CommandError(f"The seed file {path} must hold a list of user objects.")
    try:
        fake.add_users(users)
    except (TypeError, ValueError) as err:
        raise CommandError(f"The seed file {path} has a bad user: {err}.") from err
