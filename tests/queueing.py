"""What was handed to django-q2, read from a patched `django_q.tasks.async_task` mock."""

from circletel.models import FollowUp


def queued_work(async_task_mock) -> list[tuple]:
    """(func, args) of each queued task; a follow-up's doorbell (issue 20) shown as the work its row holds."""
    work = []
    for call in async_task_mock.call_args_list:
        func, *args = call.args
        if func == "circletel.tasks.run_follow_up":
            row = FollowUp.objects.get(pk=args[0])
            func, args = row.func, row.args
        work.append((func, tuple(args)))
    return work
