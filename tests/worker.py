"""
A stand-in for a site's process, run by the tests that kill and race.

    python -m tests.worker ACTION [ARG]

Settings come from tests.settings, with DATABASE_URL naming a database the
calling test created and DISTINCT_TEST_BASE_URL its Distinct double.
"""

import json
import os
import sys


def main(action, arg=None):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    if os.environ.get("DISTINCT_TEST_TASK_BACKEND") == "celery":
        # As a site's project package does, so that tasks reach its broker.
        import tests.celery_app  # noqa: F401
    from django.db import transaction

    from django_distinct import services
    from django_distinct.client import DistinctClient
    from django_distinct.models import ErasureRequest
    from tests.testapp.models import User

    if action == "create-users":
        emails = json.loads(arg)
        User.objects.bulk_create(
            User(username=email.split("@")[0], email=email) for email in emails
        )
    elif action == "delete-users":
        # A site deleting users, one by one and in bulk, in its own process.
        usernames = json.loads(arg)
        User.objects.get(username=usernames[0]).delete()
        User.objects.filter(username__in=usernames[1:]).delete()
    elif action == "queue-sweep":
        from tests.celery_app import app

        app.send_task("django_distinct.sweep")
    elif action == "delete-then-die":
        # Our own callback, registered first, runs first: the process dies
        # after the deletion committed and before the erasure is sent.
        with transaction.atomic():
            transaction.on_commit(lambda: os._exit(3))
            User.objects.get(username=arg).delete()
    elif action == "delete-and-roll-back":
        try:
            with transaction.atomic():
                User.objects.get(username=arg).delete()
                raise RuntimeError("the deletion is abandoned")
        except RuntimeError:
            pass
    elif action == "sweep-and-die-after-answer":
        send = DistinctClient.delete_user

        def answered_then_died(self, payload, **kwargs):
            send(self, payload, **kwargs)
            os._exit(4)

        DistinctClient.delete_user = answered_then_died
        services.sweep()
    elif action == "pending":
        emails = json.loads(arg)
        rows = [
            ErasureRequest(user_id=str(i), email=email, source="command")
            for i, email in enumerate(emails)
        ]
        for row in rows:
            row.derive_from_identifiers()
        ErasureRequest.objects.bulk_create(rows, batch_size=500)
    elif action == "report":
        rows = ErasureRequest.objects.order_by("pk").values(
            "user_id", "status", "attempts", "claim_token"
        )
        print(
            json.dumps(
                [
                    {
                        "user_id": r["user_id"],
                        "status": r["status"],
                        "attempts": r["attempts"],
                        "claimed": r["claim_token"] is not None,
                    }
                    for r in rows
                ]
            )
        )
    elif action == "attempts":
        from django_distinct.models import ErasureAttempt

        rows = ErasureAttempt.objects.order_by("pk").values_list(
            "request__user_id", "outcome", "in_doubt"
        )
        print(json.dumps([list(row) for row in rows]))
    else:
        raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
