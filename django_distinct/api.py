"""
The REST API: list, inspect, create and re-send erasure requests.

Mount it with ``path("distinct/", include("django_distinct.urls"))``.  Only
staff with the app's model permissions get in (``IsDistinctOperator``;
replace it with ``DISTINCT['API_PERMISSION_CLASSES']``).  Email and phone are
masked unless the caller has ``view_pii_erasurerequest``.
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from . import conf, evidence, services
from .identifiers import Identity
from .models import ErasureAttempt, ErasureRequest, Source, Status, Trigger

VIEW_PII_PERMISSION = "django_distinct.view_pii_erasurerequest"


class IsDistinctOperator(permissions.BasePermission):
    """Staff holding the app's permission for what they ask to do."""

    required = {
        "GET": "django_distinct.view_erasurerequest",
        "HEAD": "django_distinct.view_erasurerequest",
        "OPTIONS": "django_distinct.view_erasurerequest",
        "POST": "django_distinct.add_erasurerequest",
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        action = getattr(view, "action", None)
        if action == "resend":
            return bool(user.has_perm("django_distinct.resend_erasurerequest"))
        if action in ("hold", "release", "cancel", "extend"):
            return bool(user.has_perm("django_distinct.hold_erasurerequest"))
        needed = self.required.get(request.method or "")
        return needed is not None and bool(user.has_perm(needed))


class ErasureAttemptSerializer(serializers.ModelSerializer[ErasureAttempt]):
    class Meta:
        model = ErasureAttempt
        fields = [
            "started_at",
            "duration_ms",
            "trigger",
            "actor",
            "outcome",
            "http_status",
            "message",
            "in_doubt",
        ]


class ErasureRequestSerializer(serializers.ModelSerializer[ErasureRequest]):
    email = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()

    class Meta:
        model = ErasureRequest
        fields = [
            "id",
            "uuid",
            "user_id",
            "email",
            "phone",
            "identifier_problems",
            "status",
            "source",
            "received_at",
            "due_at",
            "extension_reason",
            "hold_reason",
            "hold_set_by",
            "hold_until",
            "cancelled_at",
            "attempts",
            "next_attempt_at",
            "last_http_status",
            "last_message",
            "failure_reason",
            "created_at",
            "updated_at",
            "completed_at",
        ]

    def _shows_pii(self) -> bool:
        request = self.context.get("request")
        return bool(request and request.user.has_perm(VIEW_PII_PERMISSION))

    def get_email(self, obj: ErasureRequest) -> str:
        return obj.email if self._shows_pii() else obj.masked_email

    def get_phone(self, obj: ErasureRequest) -> str:
        return obj.phone if self._shows_pii() else obj.masked_phone


class ErasureRequestDetailSerializer(ErasureRequestSerializer):
    history = ErasureAttemptSerializer(many=True, read_only=True)

    class Meta(ErasureRequestSerializer.Meta):
        fields = [*ErasureRequestSerializer.Meta.fields, "history"]


class ErasureCreateSerializer(serializers.Serializer[Any]):
    """An ad-hoc erasure, checked by Distinct's own rules before it is sent."""

    id = serializers.CharField(max_length=255)
    email = serializers.EmailField(required=False, max_length=254)
    phone = PhoneNumberField(required=False)
    received_at = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("email") and not attrs.get("phone"):
            raise ValidationError(
                {"non_field_errors": [_("Give an email, a phone, or both.")]},
                code="required",
            )
        return attrs


class ErasureRequestPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _permission_classes() -> list[Any]:
    return [
        import_string(p) if isinstance(p, str) else p
        for p in conf.get("API_PERMISSION_CLASSES")
    ]


class ErasureRequestViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ErasureRequest],
):
    pagination_class = ErasureRequestPagination

    def get_permissions(self) -> list[Any]:
        # Read at request time, so the setting can change under tests.
        return [permission() for permission in _permission_classes()]

    def get_queryset(self) -> Any:
        rows = ErasureRequest.objects.order_by("-created_at", "-pk")
        if self.action == "retrieve":
            rows = rows.prefetch_related("history")
        wanted = self.request.query_params.get("status")
        if wanted is not None and self.action == "list":
            if wanted not in Status.values:
                raise ValidationError(
                    {"status": [_("Choose one of: %s.") % ", ".join(Status.values)]}
                )
            rows = rows.filter(status=wanted)
        return rows

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return ErasureCreateSerializer
        if self.action == "list":
            return ErasureRequestSerializer
        return ErasureRequestDetailSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = ErasureCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        erasure = services.request_erasure(
            Identity(data["id"], data.get("email"), data.get("phone")),
            source=Source.API,
            send_on_commit=False,
            received_at=data.get("received_at"),
            actor=request.user.get_username(),
        )
        if erasure.was_duplicate:
            # Already open for this person: the same request, not a new one.
            body = ErasureRequestDetailSerializer(erasure, context={"request": request})
            return Response(body.data, status=status.HTTP_200_OK)
        if erasure.status == Status.PENDING and not conf.get("SEND_DELAY"):
            services.send(
                erasure.pk,
                trigger=Trigger.API,
                actor=request.user.get_username(),
                only_due=False,
            )
            erasure.refresh_from_db()
        body = ErasureRequestDetailSerializer(erasure, context={"request": request})
        return Response(body.data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: Any = None) -> Response:
        erasure = self.get_object()
        if erasure.status in (Status.SUCCEEDED, Status.NOT_FOUND):
            return Response(
                {"detail": _("This request is final; it is not sent again.")},
                status=status.HTTP_409_CONFLICT,
            )
        report = services.resend(
            [erasure.pk], trigger=Trigger.API, actor=request.user.get_username()
        )
        if report.skipped:
            return Response(
                {"detail": _("Another worker is sending this request.")},
                status=status.HTTP_409_CONFLICT,
            )
        if report.paused:
            return Response(
                {
                    "detail": _("Distinct refused this site's configuration: %s")
                    % report.paused,
                    "distinct_status": report.paused_status,
                },
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        erasure.refresh_from_db()
        body = ErasureRequestDetailSerializer(erasure, context={"request": request})
        return Response(body.data)

    @action(detail=True, methods=["get"])
    def receipt(self, request: Request, pk: Any = None) -> Response:
        return Response(evidence.receipt(self.get_object()))

    def _state_change(self, request: Request, change: Any, **kwargs: Any) -> Response:
        erasure = self.get_object()
        try:
            erasure = change(erasure, actor=request.user.get_username(), **kwargs)
        except services.StateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        body = ErasureRequestDetailSerializer(erasure, context={"request": request})
        return Response(body.data)

    @action(detail=True, methods=["post"])
    def hold(self, request: Request, pk: Any = None) -> Response:
        incoming = HoldSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._state_change(
            request,
            services.set_hold,
            reason=incoming.validated_data["reason"],
            until=incoming.validated_data.get("until"),
        )

    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: Any = None) -> Response:
        return self._state_change(request, services.release_hold)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: Any = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._state_change(
            request, services.cancel, reason=incoming.validated_data["reason"]
        )

    @action(detail=True, methods=["post"])
    def extend(self, request: Request, pk: Any = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._state_change(
            request, services.extend_deadline, reason=incoming.validated_data["reason"]
        )


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500)


class HoldSerializer(ReasonSerializer):
    until = serializers.DateTimeField(required=False, allow_null=True)


__all__ = ["ErasureRequestViewSet", "IsDistinctOperator"]
