from geo.shapes import Rect


def total_area(rects: list[Rect]) -> float:
    # gen: the sum of the area() of each rect
