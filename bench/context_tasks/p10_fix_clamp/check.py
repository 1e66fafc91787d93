from use import percent

assert percent(0.5) == 50
assert percent(2) == 100
assert percent(-1) == 0
