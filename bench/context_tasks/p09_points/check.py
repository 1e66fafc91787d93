from path import length
from point import Point

assert length([Point(0, 0), Point(3, 4), Point(3, 0)]) == 9
assert length([Point(1, 1)]) == 0
