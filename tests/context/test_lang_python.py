"""Python: names resolved through `import` and `from ... import` the way Python finds modules."""

from __future__ import annotations

from pathlib import Path

from tests.context.workspace import by_name, gather, write_tree
from typilot_lsp.context.model import DefinitionKind, Rank
from typilot_lsp.context.render import definitions_text

GEOMETRY = (
    "import math\n\n\n"
    "class Point:\n"
    '    """A point in the plane."""\n\n'
    "    def __init__(self, x: float, y: float) -> None:\n"
    "        self.x = x\n"
    "        self.y = y\n\n"
    "    def distance_to(self, other: 'Point') -> float:\n"
    "        return math.hypot(self.x - other.x, self.y - other.y)\n\n"
    "    def scaled(self, factor: float) -> 'Point':\n"
    "        return Point(self.x * factor, self.y * factor)\n\n\n"
    "ORIGIN = Point(0.0, 0.0)\n\n\n"
    "def midpoint(a: Point, b: Point) -> Point:\n"
    '    """The point halfway between a and b."""\n'
    "    return Point((a.x + b.x) / 2, (a.y + b.y) / 2)\n"
)


def test_a_module_import_resolves_the_attribute_the_code_uses(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "geometry.py": GEOMETRY,
            "main.py": "import geometry\n\np = geometry.midpoint(a, b)\n# gen: print p\n",
        },
    )
    found = by_name(gather(tmp_path, "main.py"))
    assert found["midpoint"].rank is Rank.DIRECT
    assert "The point halfway" in found["midpoint"].text
    # midpoint's signature names Point: it comes too, ranked after what the code names.
    assert found["Point"].rank is Rank.INDIRECT


def test_aliases_dotted_packages_and_submodules(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/geo/__init__.py": "",
            "pkg/geo/shapes.py": GEOMETRY,
            "pkg/util.py": "def clamp(v: float, lo: float, hi: float) -> float:\n"
            "    return max(lo, min(hi, v))\n",
            "app.py": (
                "import pkg.geo.shapes as sh\n"
                "from pkg import util\n\n"
                "# gen: clamp the distance of sh.ORIGIN to p with util.clamp\n"
                "d = util.clamp(sh.ORIGIN.distance_to(p), 0, 1)\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "app.py"))
    assert found["clamp"].path == "pkg/util.py" and found["clamp"].rank is Rank.DIRECT
    assert found["ORIGIN"].path == "pkg/geo/shapes.py"
    assert found["ORIGIN"].kind is DefinitionKind.CONSTANT


def test_relative_imports_count_folders_up(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/models.py": "class User:\n    name: str\n    email: str\n",
            "app/api/__init__.py": "",
            "app/api/views.py": (
                "from ..models import User\n\n\ndef show(user: User) -> str:\n    # gen: name <email>\n"
            ),
        },
    )
    user = by_name(gather(tmp_path, "app/api/views.py"))["User"]
    assert user.path == "app/models.py" and "email: str" in user.text


def test_a_name_re_exported_by_a_package_init_and_a_star_import(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "lib/__init__.py": "from .core import *\n",
            "lib/core.py": "def tokenize(text: str) -> list[str]:\n    return text.split()\n",
            "main.py": "from lib import tokenize\n\nwords = tokenize(s)\n# gen: count them\n",
        },
    )
    tokenize = by_name(gather(tmp_path, "main.py"))["tokenize"]
    assert tokenize.path == "lib/core.py" and tokenize.rank is Rank.DIRECT


def test_the_src_layout(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "src/shop/__init__.py": "",
            "src/shop/prices.py": "TAX_RATE = 0.2\n\n\ndef net(gross: float) -> float:\n"
            "    return gross / (1 + TAX_RATE)\n",
            "tests/test_prices.py": "from shop.prices import net\n\n# gen: a test of net\n",
        },
    )
    found = by_name(gather(tmp_path, "tests/test_prices.py"))
    assert found["net"].path == "src/shop/prices.py"


def test_a_long_class_shows_its_outline_and_the_members_the_code_uses_whole(
    tmp_path: Path,
) -> None:
    filler = "".join(f"        step_{n} = self.x * {n}\n" for n in range(40))
    big = GEOMETRY.replace(
        "    def scaled(self, factor: float) -> 'Point':\n",
        f"    def rotate(self, angle: float) -> 'Point':\n{filler}        return self\n\n"
        "    def scaled(self, factor: float) -> 'Point':\n",
    )
    write_tree(
        tmp_path,
        {
            "geometry.py": big,
            "main.py": "from geometry import Point\n\n"
            "def far(p: Point, q: Point) -> bool:\n"
            "    # gen: whether p.distance_to(q) is over 10\n"
            "    return p.distance_to(q) > 10\n",
        },
    )
    point = by_name(gather(tmp_path, "main.py"))["Point"]
    assert "self.x = x" in point.text  # __init__ whole: the fields
    assert "return math.hypot" in point.text  # the method the code calls, whole
    assert "def rotate(self, angle: float) -> 'Point':" in point.text
    assert "step_3" not in point.text  # a long method it does not call: its signature only


def test_names_the_file_defines_itself_and_the_standard_library_add_nothing(
    tmp_path: Path,
) -> None:
    write_tree(
        tmp_path,
        {
            "helpers.py": "def local_helper():\n    return 1\n",
            "main.py": (
                "import os\nimport json\n\n\ndef local_helper():\n    return 2\n\n"
                "# gen: local_helper() and os.getcwd() as json\n"
            ),
        },
    )
    assert gather(tmp_path, "main.py").definitions == ()


def test_the_instruction_does_not_change_what_is_found(tmp_path: Path) -> None:
    """The prompt's head (the definitions) stays the same while the instruction is typed."""
    write_tree(tmp_path, {"geometry.py": GEOMETRY})
    head = "from geometry import midpoint, Point\n\n"
    texts = set()
    for instruction in ("# gen: u", "# gen: use midpoint of two points", "# gen: ORIGIN"):
        result = gather(tmp_path, "main.py", text=head + instruction + "\n")
        texts.add(definitions_text(result.definitions))
    assert len(texts) == 1 and "def midpoint" in texts.pop()


def test_a_module_named_alone_brings_its_public_names(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "geometry.py": GEOMETRY + "\n\ndef _private():\n    pass\n",
            "main.py": "import geometry\n\n# gen: the midpoint of two points, with geometry\n",
        },
    )
    found = by_name(gather(tmp_path, "main.py"))
    assert {"Point", "midpoint", "ORIGIN"} <= set(found) and "_private" not in found
