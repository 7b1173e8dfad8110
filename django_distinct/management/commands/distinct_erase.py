"""
Send pending erasure requests to Distinct, or erase given identifiers now.

Meant for cron (every few minutes) as well as for people: it prints counts,
shows progress on a terminal, and exits non-zero with the reason when
Distinct refuses this site's configuration.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS
from django.utils.translation import gettext as _

from ... import conf, services
from ...identifiers import Identity, mask_email, mask_phone, normalize
from ...models import ErasureRequest, Source, Status, Trigger
from ...outcomes import Outcome, refusal_text


class Command(BaseCommand):
    help = _(
        "Send due erasure requests to Distinct and print what came of them; "
        "with --user-id, erase the given identifiers now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            metavar="N",
            help=_("Send at most N requests in this run."),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Show what would be sent; send and change nothing."),
        )
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help=_("Put failed requests back to pending before sweeping."),
        )
        parser.add_argument(
            "--user-id",
            metavar="ID",
            help=_("Erase this person now instead of sweeping (the id sent)."),
        )
        parser.add_argument("--email", help=_("Email of the person, with --user-id."))
        parser.add_argument(
            "--phone",
            help=_(
                "Phone of the person, with --user-id; E.164, or national form "
                "with PHONENUMBER_DEFAULT_REGION set."
            ),
        )
        parser.add_argument(
            "--find",
            metavar="EMAIL_OR_PHONE",
            help=_(
                "List the erasure requests recorded for this email or phone, "
                "including finished ones whose identifiers were removed."
            ),
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help=_("Database alias to use (default: %(default)s)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError(_("--limit must be at least 1."))
        if options["find"] is not None:
            self.find(options)
            return
        if options["user_id"] is not None:
            self.erase_now(options)
            return
        if options["email"] or options["phone"]:
            raise CommandError(_("--email and --phone need --user-id."))
        if options["dry_run"]:
            self.dry_run(options)
            return
        self.run_sweep(options)

    # ------------------------------------------------------------------

    def erase_now(self, options: dict[str, Any]) -> None:
        if not (options["email"] or options["phone"]):
            raise CommandError(_("--user-id needs --email, --phone or both."))
        if options["retry_failed"] or options["limit"] is not None:
            raise CommandError(
                _("--retry-failed and --limit apply to sweeps, not to --user-id.")
            )
        identity = Identity(options["user_id"], options["email"], options["phone"])
        normalized = normalize(identity)
        if not normalized.sendable:
            # Typed by a person: refuse instead of recording a failure.
            raise CommandError(
                _("Nothing valid to send: %s") % "; ".join(normalized.problems)
            )
        for problem in normalized.problems:
            self.stderr.write(_("Left out: %s") % problem)
        if options["dry_run"]:
            self.stdout.write(
                _("Would send: user %(id)s %(who)s")
                % {
                    "id": normalized.id,
                    "who": _masked(normalized.email, normalized.phone),
                }
            )
            return

        using = options["database"]
        request = services.request_erasure(
            identity, source=Source.COMMAND, using=using, send_on_commit=False
        )
        result = services.send(
            request.pk, trigger=Trigger.COMMAND, using=using, only_due=False
        )
        if result is None:  # only another worker could have taken it this fast
            raise CommandError(
                _("Request #%s was claimed by another worker.") % request.pk
            )
        self.stdout.write(self.result_line(result))
        if result.outcome == Outcome.CONFIG_ERROR:
            raise CommandError(self.paused_message(result.http_status, result.message))

    def find(self, options: dict[str, Any]) -> None:
        rows = services.find(options["find"], options["database"]).order_by("pk")
        count = 0
        for request in rows:
            count += 1
            when = request.completed_at or request.created_at
            self.stdout.write(
                f"{services.describe(request)}: {request.status}, "
                f"{when.isoformat(timespec='seconds')}"
            )
        if not count:
            self.stdout.write(_("No erasure request was recorded for that value."))

    def dry_run(self, options: dict[str, Any]) -> None:
        using = options["database"]
        rows = services.due(using).order_by("pk")
        if options["retry_failed"]:
            failed = ErasureRequest.objects.using(using).filter(status=Status.FAILED)
            self.stdout.write(
                _("Would put %d failed request(s) back to pending.") % failed.count()
            )
        count = 0
        for request in rows.iterator(chunk_size=services.SWEEP_BATCH_SIZE):
            if options["limit"] is not None and count >= options["limit"]:
                break
            count += 1
            if options["verbosity"] >= 2:
                self.stdout.write(_("Would send %s") % services.describe(request))
        self.stdout.write(_("Would send %d due request(s).") % count)
        later = (
            ErasureRequest.objects.using(using).filter(status=Status.PENDING).count()
            - services.due(using).count()
        )
        if later:
            self.stdout.write(_("%d more pending, not due yet.") % later)
        blocked = conf.sending_blocked()
        if blocked:
            self.stdout.write(_("But nothing would go out: %s.") % blocked)

    def run_sweep(self, options: dict[str, Any]) -> None:
        using = options["database"]
        if options["retry_failed"]:
            reopened = services.retry_failed(using)
            self.stdout.write(_("Put %d failed request(s) back to pending.") % reopened)

        progress = self.stdout.isatty() and options["verbosity"] >= 1
        total = services.due(using).count() if progress else 0
        if options["limit"] is not None:
            total = min(total, options["limit"])
        seen = 0

        def on_result(result: services.SendResult) -> None:
            nonlocal seen
            seen += 1
            if options["verbosity"] >= 2:
                self.stdout.write(self.result_line(result))
            elif progress:
                self.stdout.write(f"\r{seen}/{total}", ending="")
                self.stdout.flush()

        report = services.sweep(
            limit=options["limit"], using=using, on_result=on_result
        )
        if progress and seen and options["verbosity"] < 2:
            self.stdout.write("")

        pending = ErasureRequest.objects.using(using).filter(status=Status.PENDING)
        self.stdout.write(
            _(
                "Sent %(sent)d: %(succeeded)d succeeded, %(not_found)d not found, "
                "%(failed)d failed, %(retry)d to retry. Still pending: %(pending)d."
            )
            % {
                "sent": report.sent,
                "succeeded": report.succeeded,
                "not_found": report.not_found,
                "failed": report.failed,
                "retry": report.retrying,
                "pending": pending.count(),
            }
        )
        if report.unsendable:
            self.stdout.write(
                _("%d had nothing valid to send and failed without a request.")
                % report.unsendable
            )
        if report.skipped:
            self.stdout.write(
                _("%d request(s) were taken by another worker.") % report.skipped
            )
        if report.paused:
            raise CommandError(self.paused_message(report.paused_status, report.paused))
        if report.errors:
            raise CommandError(
                _(
                    "%d request(s) could not be processed; the django_distinct "
                    "log has why. A later run retries them once their claims "
                    "lapse (CLAIM_TIMEOUT)."
                )
                % report.errors
            )

    # ------------------------------------------------------------------

    def result_line(self, result: services.SendResult) -> str:
        request = result.request
        line = f"{services.describe(request)}: {request.status}"
        if result.http_status is not None:
            line += f" (HTTP {result.http_status}: {result.message})"
        elif result.message:
            line += f" ({result.message})"
        if request.status == Status.PENDING and result.outcome == Outcome.RETRY:
            line += _(", next attempt at %s") % request.next_attempt_at.isoformat(
                timespec="seconds"
            )
        return line

    def paused_message(self, status: int | None, reason: str) -> str:
        stopped = _("Sending stopped; nothing else was tried.")
        return f"{refusal_text(status, reason)} {stopped}"


def _masked(email: str, phone: str) -> str:
    parts = [p for p in (mask_email(email), mask_phone(phone)) if p]
    return "(" + ", ".join(parts) + ")"
