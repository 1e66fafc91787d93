from point import Point, distance


def length(points: list[Point]) -> float:
    # gen: the sum of distance() between each pair of consecutive points
