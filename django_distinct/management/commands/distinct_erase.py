"""
Send pending erasure requests to Distinct, or erase given identifiers now.

Meant for cron (every few minutes) as well as for people: it prints counts,
shows progress on a terminal, and exits non-zero with the reason when
Distinct refuses this site's configuration.
"""

from __future__ import annotations

import argparse
import datetime
import json
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from ... import conf, evidence, services
from ...identifiers import Identity, mask_email, mask_phone, normalize
from ...models import ErasureRequest, Source, Status, Trigger
from ...outcomes import Outcome, refusal_text
from ..base import TranslatedHelpCommand


class Command(TranslatedHelpCommand):
    help = gettext_noop(
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
            "--concurrency",
            type=int,
            default=1,
            metavar="K",
            help=_("Send up to K requests at once (default 1)."),
        )
        parser.add_argument(
            "--loop",
            action="store_true",
            help=_(
                "Keep sweeping, sleeping --interval seconds between sweeps, "
                "until SIGTERM or SIGINT; requests in flight are finished."
            ),
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=60.0,
            metavar="S",
            help=_("With --loop: seconds between sweeps (default 60)."),
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
            "--received-at",
            type=_moment,
            metavar="DATE",
            help=_(
                "With --user-id: when the person's request reached the site "
                "(ISO date or time; default now). The deadline counts from it."
            ),
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help=_("Recompute every evidence chain and report any break."),
        )
        parser.add_argument(
            "--receipts",
            action="store_true",
            help=_("Print receipts as JSON lines (with --since), send nothing."),
        )
        parser.add_argument(
            "--since",
            type=_moment,
            metavar="DATE",
            help=_("With --receipts: requests created since this date."),
        )
        parser.add_argument(
            "--purge-evidence",
            action="store_true",
            help=_(
                "Delete finished requests older than EVIDENCE_RETENTION_DAYS, "
                "with their history (--dry-run counts them)."
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
        if not 1 <= options["concurrency"] <= 64:
            raise CommandError(_("--concurrency must be from 1 to 64."))
        if options["interval"] <= 0:
            raise CommandError(_("--interval must be above 0."))
        if options["loop"]:
            self.loop(options)
            return
        if options["find"] is not None:
            self.find(options)
            return
        if options["verify"]:
            self.verify(options)
            return
        if options["receipts"]:
            self.receipts(options)
            return
        if options["purge_evidence"]:
            self.purge(options)
            return
        if options["since"] is not None:
            raise CommandError(_("--since goes with --receipts."))
        if options["received_at"] is not None and options["user_id"] is None:
            raise CommandError(_("--received-at goes with --user-id."))
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
            identity,
            source=Source.COMMAND,
            using=using,
            send_on_commit=False,
            received_at=options["received_at"],
        )
        if request.was_duplicate:
            self.stdout.write(
                _("A request for this person is already open: %s (%s).")
                % (services.describe(request), request.uuid)
            )
            return
        if conf.get("SEND_DELAY"):
            self.stdout.write(
                _("Recorded %(who)s (%(uuid)s); it is sent after SEND_DELAY.")
                % {"who": services.describe(request), "uuid": request.uuid}
            )
            return
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

    def verify(self, options: dict[str, Any]) -> None:
        checked, breaks = evidence.verify(options["database"])
        for found in breaks:
            self.stdout.write(
                _("Erasure #%(pk)s (%(uuid)s): entry %(seq)s %(reason)s.")
                % {
                    "pk": found.request_pk,
                    "uuid": found.request_uuid,
                    "seq": found.seq,
                    "reason": found.reason,
                }
            )
        if breaks:
            raise CommandError(
                _("%(broken)d of %(checked)d evidence chain(s) are broken.")
                % {"broken": len(breaks), "checked": checked}
            )
        self.stdout.write(_("%d evidence chain(s) verified, none broken.") % checked)

    def receipts(self, options: dict[str, Any]) -> None:
        using = options["database"]
        rows = ErasureRequest.objects.using(using).order_by("pk")
        if options["since"] is not None:
            rows = rows.filter(created_at__gte=options["since"])
        for request in rows.iterator(chunk_size=services.SWEEP_BATCH_SIZE):
            self.stdout.write(
                json.dumps(evidence.receipt(request, using), sort_keys=True)
            )

    def purge(self, options: dict[str, Any]) -> None:
        count = services.purge_evidence(options["database"], dry_run=options["dry_run"])
        days = conf.get("EVIDENCE_RETENTION_DAYS")
        if options["dry_run"]:
            text = _(
                "Would delete %(count)d finished request(s) older than %(days)d days."
            )
        else:
            text = _("Deleted %(count)d finished request(s) older than %(days)d days.")
        self.stdout.write(text % {"count": count, "days": days})

    stop: threading.Event | None = None

    def loop(self, options: dict[str, Any]) -> None:
        """Sweep until a signal says stop, then finish what is in flight."""
        stop = self.stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        previous = {
            signum: signal.signal(signum, request_stop)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        options = {**options, "loop": False, "looping": True}
        try:
            while not stop.is_set():
                try:
                    self.run_sweep(options)
                except CommandError as exc:
                    # A refusal or a bad row: say so, and keep the worker up
                    # so it resumes by itself once the cause is fixed.
                    self.stderr.write(str(exc))
                stop.wait(options["interval"])
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write(_("Stopped; nothing left in flight."))

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
            limit=options["limit"],
            using=using,
            on_result=on_result,
            concurrency=options["concurrency"],
            stop=self.stop,
        )
        if progress and seen and options["verbosity"] < 2:
            self.stdout.write("")
        if options.get("looping") and not (report.processed or report.errors):
            return  # an idle sweep of a long-running worker: nothing to say

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
        self.deadline_line(using)
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

    def deadline_line(self, using: str) -> None:
        services.announce_overdue(using)
        late = services.overdue(using).count()
        soon = services.overdue(using, within_days=conf.get("DUE_SOON_DAYS")).count()
        held = (
            ErasureRequest.objects.using(using)
            .filter(status=Status.PENDING, hold_set_at__isnull=False)
            .count()
        )
        if late or soon or held:
            self.stdout.write(
                _(
                    "Overdue: %(late)d. Due within %(days)d days: %(soon)d. "
                    "On hold: %(held)d."
                )
                % {
                    "late": late,
                    "days": conf.get("DUE_SOON_DAYS"),
                    "soon": soon - late,
                    "held": held,
                }
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


def _moment(value: str) -> datetime.datetime:
    """Parse an ISO date or date-time; a naive one is in the current zone."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a date (2026-01-31) or time (2026-01-31T09:00)"
            )
        moment = datetime.datetime.combine(day, datetime.time())
    if timezone.is_naive(moment) and settings.USE_TZ:
        moment = timezone.make_aware(moment)
    return moment


def _masked(email: str, phone: str) -> str:
    parts = [p for p in (mask_email(email), mask_phone(phone)) if p]
    return "(" + ", ".join(parts) + ")"
