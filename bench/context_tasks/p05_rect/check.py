from geo.shapes import Rect
from main import total_area

assert total_area([Rect(2, 3), Rect(1, 1)]) == 7
