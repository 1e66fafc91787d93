from tasks import is_done

assert is_done({"status": "done"})
assert not is_done({"status": "open"})
