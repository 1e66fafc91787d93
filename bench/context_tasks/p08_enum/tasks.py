from status import Status


def is_done(task: dict) -> bool:
    # gen: whether task["status"] equals the value of Status.DONE
