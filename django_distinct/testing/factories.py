"""factory-boy factories for erasure requests (needs factory-boy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory.declarations import Sequence, Trait
from factory.django import DjangoModelFactory

from django_distinct.models import ErasureRequest, Source, Status

if TYPE_CHECKING:
    # factory-boy's factories are generic over their model from 3.3.1 on;
    # only the checker subscripts it, so that 3.3.0 still imports this.
    _Factory = DjangoModelFactory[ErasureRequest]
else:
    _Factory = DjangoModelFactory


# factory-boy ships type information but leaves the declarations'
# constructors unannotated, so each call to one is marked no-untyped-call.
class ErasureRequestFactory(_Factory):
    """A pending request from a user deletion, with an email."""

    class Meta:
        model = ErasureRequest

    user_id = Sequence(lambda n: str(1000 + n))  # type: ignore[no-untyped-call]
    email = Sequence(lambda n: f"erased{n}@example.com")  # type: ignore[no-untyped-call]
    phone = ""
    status = Status.PENDING
    source = Source.USER_DELETION

    class Params:
        with_phone = Trait(  # type: ignore[no-untyped-call]
            phone=Sequence(lambda n: f"+1415555{n % 10000:04d}")  # type: ignore[no-untyped-call]
        )
        failed = Trait(  # type: ignore[no-untyped-call]
            status=Status.FAILED, failure_reason="Distinct rejected the request"
        )
