"""
The admin: erasure requests as a read-only audit log, with a re-send action.

Outcomes are never edited by hand; the only way to change one is to send
again (``Re-send to Distinct``), which is recorded on the attempt it makes
with who did it.  Email and phone show masked unless the viewer has the
``view_pii_erasurerequest`` permission.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import conf, evidence, services
from .models import (
    ErasureAttempt,
    ErasureEvent,
    ErasureRequest,
    Source,
    Status,
    Trigger,
)
from .outcomes import refusal_text

RESEND_PERMISSION = "django_distinct.resend_erasurerequest"
VIEW_PII_PERMISSION = "django_distinct.view_pii_erasurerequest"
REQUEST_PERMISSION = "django_distinct.add_erasurerequest"

if TYPE_CHECKING:
    # django-stubs makes the admin classes generic, Django does not: only
    # the checker sees the parameters.  The user-admin mixin is always
    # placed before a ModelAdmin, which is what it is checked as.
    _InlineBase = admin.TabularInline[Any, ErasureRequest]
    _RequestAdminBase = admin.ModelAdmin[ErasureRequest]
    _UserAdminBase = admin.ModelAdmin[Any]
else:
    _InlineBase = admin.TabularInline
    _RequestAdminBase = admin.ModelAdmin
    _UserAdminBase = object


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


class HoldForm(ReasonForm):
    until = forms.DateTimeField(
        label=_("Until (optional)"),
        required=False,
        help_text=_("Leave empty to hold until released."),
    )


class _HistoryInline(_InlineBase):
    """A part of the request's record: shown with it, never edited."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may see a request sees all of its history.
        return request.user.has_perm("django_distinct.view_erasurerequest")


class ErasureAttemptInline(_HistoryInline):
    model = ErasureAttempt
    fields = readonly_fields = (
        "started_at",
        "trigger",
        "actor",
        "outcome",
        "http_status",
        "message",
        "in_doubt",
        "duration_ms",
    )
    ordering = ("started_at", "pk")


class ErasureEventInline(_HistoryInline):
    model = ErasureEvent
    fields = readonly_fields = ("seq", "at", "kind", "actor", "detail", "hash")
    ordering = ("seq",)
    verbose_name_plural = _("evidence log")


class DeadlineFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("overdue", _("Overdue")),
            ("soon", _("Due within %d days") % conf.get("DUE_SOON_DAYS")),
            ("held", _("On legal hold")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        if self.value() == "overdue":
            return queryset.filter(pk__in=services.overdue().values("pk"))
        if self.value() == "soon":
            soon = services.overdue(within_days=conf.get("DUE_SOON_DAYS"))
            return queryset.filter(pk__in=soon.values("pk")).exclude(
                pk__in=services.overdue().values("pk")
            )
        if self.value() == "held":
            return queryset.filter(status="pending", hold_set_at__isnull=False)
        return queryset


@admin.register(ErasureRequest)
class ErasureRequestAdmin(_RequestAdminBase):
    list_display = (
        "id",
        "user_id",
        "masked_email",
        "masked_phone",
        "status",
        "attempts",
        "last_http_status",
        "last_message",
        "created_at",
        "deadline",
        "completed_at",
    )
    list_filter = ("status", "source", DeadlineFilter)
    search_fields = ("=user_id",)
    search_help_text = _(
        "The exact id sent to Distinct, or an email or phone (found by its "
        "keyed hash, even after the address itself was removed)."
    )
    date_hierarchy = "created_at"
    inlines = [ErasureAttemptInline, ErasureEventInline]
    actions = ["resend", "set_hold", "release_hold", "cancel"]
    list_per_page = 50

    # The stubs type the result as a list of names or of groups of names;
    # list being invariant, a list of names alone (which Django accepts)
    # cannot be declared without this ignore.
    def get_fields(  # type: ignore[override]
        self, request: HttpRequest, obj: Any = None
    ) -> list[str]:
        identifiers = (
            ["email", "phone"]
            if self.can_view_pii(request)
            else [
                "masked_email",
                "masked_phone",
            ]
        )
        return [
            "uuid",
            "receipt_link",
            "user_id",
            *identifiers,
            "identifier_problems",
            "status",
            "source",
            "received_at",
            "due_at",
            "extension_reason",
            "hold_reason",
            "hold_set_by",
            "hold_until",
            "cancelled_by",
            "attempts",
            "next_attempt_at",
            "last_http_status",
            "last_message",
            "failure_reason",
            "created_at",
            "updated_at",
            "completed_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.get_fields(request, obj)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ErasureRequest], search_term: str
    ) -> tuple[QuerySet[ErasureRequest], bool]:
        results, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            matches = services.find(term, using=queryset.db).values("pk")
            results = results | queryset.filter(pk__in=matches)
        return results, duplicates

    @admin.display(description=_("deadline"), ordering="due_at")
    def deadline(self, obj: ErasureRequest) -> str:
        if obj.due_at is None:
            return "-"
        when = date_format(timezone.localtime(obj.due_at), "SHORT_DATE_FORMAT")
        if obj.is_overdue:
            return _("%s (overdue)") % when
        if obj.is_held:
            return _("%s (on hold)") % when
        return when

    @admin.display(description=_("receipt"))
    def receipt_link(self, obj: ErasureRequest) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:django_distinct_erasurerequest_receipt", args=[obj.pk])
        return format_html('<a href="{}" download>{}</a>', url, _("Download (JSON)"))

    def get_urls(self) -> list[Any]:
        receipt = self.admin_site.admin_view(self.receipt_view)
        return [
            path(
                "<int:pk>/receipt/",
                receipt,
                name="django_distinct_erasurerequest_receipt",
            ),
            *super().get_urls(),
        ]

    def receipt_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self.get_object(request, str(pk))
        if obj is None or not self.has_view_permission(request, obj):
            raise PermissionDenied
        body = json.dumps(evidence.receipt(obj), indent=2, sort_keys=True)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = (
            f'attachment; filename="erasure-receipt-{obj.uuid}.json"'
        )
        return response

    def has_hold_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_distinct.hold_erasurerequest")

    def _ask_reason(
        self,
        request: HttpRequest,
        queryset: QuerySet[ErasureRequest],
        *,
        action: str,
        title: str,
        explanation: str,
        form_class: type[forms.Form],
    ) -> forms.Form | HttpResponse:
        """Return the filled form, or the page that asks for it."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            return form
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "explanation": explanation,
            "queryset": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/django_distinct/reason_form.html", context
        )

    @admin.action(description=_("Place a legal hold"), permissions=["hold"])
    def set_hold(
        self, request: HttpRequest, queryset: QuerySet[ErasureRequest]
    ) -> HttpResponse | None:
        asked = self._ask_reason(
            request,
            queryset,
            action="set_hold",
            title=str(_("Place a legal hold")),
            explanation=str(
                _(
                    "Held requests are not sent to Distinct until the hold is "
                    "released or its end date passes."
                )
            ),
            form_class=HoldForm,
        )
        if isinstance(asked, HttpResponse):
            return asked
        held = 0
        for obj in queryset.filter(status=Status.PENDING):
            services.set_hold(
                obj,
                reason=asked.cleaned_data["reason"],
                until=asked.cleaned_data["until"],
                actor=request.user.get_username(),
            )
            held += 1
        self.message_user(
            request,
            _("Placed %(held)d hold(s); %(other)d request(s) were not pending.")
            % {"held": held, "other": queryset.count() - held},
            messages.SUCCESS,
        )
        return None

    @admin.action(description=_("Cancel (only if never sent)"), permissions=["hold"])
    def cancel(
        self, request: HttpRequest, queryset: QuerySet[ErasureRequest]
    ) -> HttpResponse | None:
        asked = self._ask_reason(
            request,
            queryset,
            action="cancel",
            title=str(_("Cancel erasure requests")),
            explanation=str(
                _(
                    "A cancelled request is never sent and its identifiers are "
                    "removed. Requests already sent cannot be cancelled."
                )
            ),
            form_class=ReasonForm,
        )
        if isinstance(asked, HttpResponse):
            return asked
        cancelled, refused = 0, 0
        for obj in queryset:
            try:
                services.cancel(
                    obj,
                    reason=asked.cleaned_data["reason"],
                    actor=request.user.get_username(),
                )
            except services.StateError:
                refused += 1
            else:
                cancelled += 1
        level = messages.WARNING if refused else messages.SUCCESS
        self.message_user(
            request,
            _("Cancelled %(done)d; %(refused)d could not be (already sent or final).")
            % {"done": cancelled, "refused": refused},
            level,
        )
        return None

    @admin.action(description=_("Release legal hold"), permissions=["hold"])
    def release_hold(
        self, request: HttpRequest, queryset: QuerySet[ErasureRequest]
    ) -> None:
        released = 0
        for obj in queryset.filter(hold_set_at__isnull=False):
            services.release_hold(obj, actor=request.user.get_username())
            released += 1
        self.message_user(
            request,
            ngettext(
                "Released %d hold; the request is due again.",
                "Released %d holds; the requests are due again.",
                released,
            )
            % released,
            messages.SUCCESS,
        )

    @admin.display(description=_("email"))
    def masked_email(self, obj: ErasureRequest) -> str:
        return obj.masked_email or "-"

    @admin.display(description=_("phone"))
    def masked_phone(self, obj: ErasureRequest) -> str:
        return obj.masked_phone or "-"

    def can_view_pii(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_PII_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RESEND_PERMISSION)

    @admin.action(description=_("Re-send to Distinct"), permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        report = services.resend(
            queryset.values_list("pk", flat=True),
            trigger=Trigger.ADMIN,
            actor=request.user.get_username(),
            using=queryset.db,
            limit=conf.get("ADMIN_RESEND_LIMIT"),
        )
        report_to_user(self, request, report)


def report_to_user(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    report: services.SweepReport,
) -> None:
    """Tell the operator, in one or two messages, what a re-send came to."""
    if report.paused:
        model_admin.message_user(
            request,
            _("Stopped: %(refusal)s %(left)d request(s) were not sent.")
            % {
                "refusal": refusal_text(report.paused_status, report.paused),
                "left": report.not_attempted + 1,
            },
            messages.ERROR,
        )

    parts = []
    if report.sent or not report.paused:
        parts.append(
            _(
                "Re-sent %(sent)d: %(succeeded)d succeeded, %(not_found)d not "
                "found, %(failed)d failed, %(pending)d still pending."
            )
            % {
                "sent": report.sent,
                "succeeded": report.succeeded,
                "not_found": report.not_found,
                "failed": report.failed,
                "pending": report.retrying,
            }
        )
    if report.unsendable:
        parts.append(
            _("%d had nothing valid to send and stay failed.") % report.unsendable
        )
    for pk, reason in report.failures[:5]:
        parts.append(_("#%(pk)s: %(reason)s") % {"pk": pk, "reason": reason})
    if len(report.failures) > 5:
        parts.append(_("%d more failed.") % (len(report.failures) - 5))
    if report.queued:
        parts.append(
            ngettext(
                "%d request was queued for distinct_erase.",
                "%d requests were queued for distinct_erase.",
                report.queued,
            )
            % report.queued
        )
    if report.already_final:
        parts.append(
            _("%d already final (succeeded or not found), not sent again.")
            % report.already_final
        )
    if report.skipped:
        parts.append(_("%d being sent by another worker.") % report.skipped)
    if parts:
        trouble = report.failures or report.paused
        level = messages.WARNING if trouble else messages.SUCCESS
        model_admin.message_user(request, " ".join(str(p) for p in parts), level)


class EraseAtDistinctMixin(_UserAdminBase):
    """Add "Erase at Distinct" to a user admin, without deleting anyone.

    For a person who asked Distinct to forget them but keeps their account
    here.  Use it before the site's own ``UserAdmin``::

        @admin.register(User)
        class SiteUserAdmin(EraseAtDistinctMixin, UserAdmin):
            ...

    Needs the ``django_distinct.add_erasurerequest`` permission.
    """

    def get_actions(
        self, request: HttpRequest, action_location: Any = None
    ) -> dict[str, Any]:
        # Django 6.1 added action_location; 5.2 and 6.0 do not take it.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            # The stubs checked against are Django 5.2's, without it.
            actions = super().get_actions(request, action_location)  # type: ignore[call-arg]
        if request.user.has_perm(REQUEST_PERMISSION):
            actions["erase_at_distinct"] = self.get_action("erase_at_distinct")
        return actions

    @admin.action(description=_("Erase at Distinct (keep the account here)"))
    def erase_at_distinct(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        if not request.user.has_perm(REQUEST_PERMISSION):
            # get_actions hides the action; this refuses a forged POST.
            self.message_user(
                request, _("You may not request erasures."), messages.ERROR
            )
            return
        using = queryset.db
        created = [
            services.request_erasure(
                services.identity_for_user(user),
                source=Source.ADMIN,
                using=using,
                send_on_commit=False,
            )
            for user in queryset
        ]
        report = services.resend(
            [r.pk for r in created if r.status != Status.FAILED],
            trigger=Trigger.ADMIN,
            actor=request.user.get_username(),
            using=using,
            limit=conf.get("ADMIN_RESEND_LIMIT"),
        )
        for request_row in created:
            if request_row.status == Status.FAILED:
                report.unsendable += 1
                report.failures.append((request_row.pk, request_row.failure_reason))
        report_to_user(self, request, report)
