"""What the app's management commands share."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext


class TranslatedHelpCommand(BaseCommand):
    """A command whose ``help`` is translated when its parser is built.

    Mark ``help`` with ``gettext_noop``.  A lazy string cannot serve: the
    parser runs a regular expression over its description, which needs a
    real ``str``, so ``--help`` would crash.  ``gettext`` in the class body
    would translate once, at import, and needs the app registry ready then.
    """

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if self.help:
            parser.description = gettext(self.help)
        return parser
