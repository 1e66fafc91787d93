import enum


class Status(enum.Enum):
    OPEN = "open"
    DONE = "done"
