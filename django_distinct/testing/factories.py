"""factory-boy factories for erasure requests (needs factory-boy)."""

from __future__ import annotations

import factory

from django_distinct.models import ErasureRequest, Source, Status


class ErasureRequestFactory(factory.django.DjangoModelFactory):
    """A pending request from a user deletion, with an email."""

    class Meta:
        model = ErasureRequest

    user_id = factory.Sequence(lambda n: str(1000 + n))
    email = factory.Sequence(lambda n: f"erased{n}@example.com")
    phone = ""
    status = Status.PENDING
    source = Source.USER_DELETION

    class Params:
        with_phone = factory.Trait(
            phone=factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
        )
        failed = factory.Trait(
            status=Status.FAILED, failure_reason="Distinct rejected the request"
        )
