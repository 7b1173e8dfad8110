"""
Signals django-distinct sends, for sites that alert or audit.

Each is sent with ``sender=ErasureRequest`` and ``request`` (the
``ErasureRequest``); the three outcome signals also pass ``result``, the
``services.SendResult`` of the attempt that reached it.  Receivers run in
the sending worker, after the outcome is recorded; an exception in one
propagates to that worker, so keep them quick and let them fail softly.
"""

from django.dispatch import Signal

#: Distinct erased the person.
erasure_succeeded = Signal()
#: Distinct had no such person (or no longer has them).
erasure_not_found = Signal()
#: The request failed for good: rejected, out of attempts, or cancelled.
erasure_failed = Signal()
#: A pending request is past its deadline (sent once per request, by
#: ``distinct_erase``).
erasure_overdue = Signal()
