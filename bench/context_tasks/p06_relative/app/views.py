from .models import User


def label(user: User) -> str:
    # gen: the user's full name, a space, and the email address in angle brackets
