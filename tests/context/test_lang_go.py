"""Go: the package's other files, and the module's own packages through go.mod."""

from __future__ import annotations

from pathlib import Path

from tests.context.workspace import by_name, gather, recorded_reads, write_tree
from typilot_lsp.context.model import DefinitionKind, Rank

GO_MOD = "module example.com/shop\n\ngo 1.21\n"
MODELS = (
    "package models\n\n"
    "// Order is one customer order.\n"
    "type Order struct {\n\tID    int\n\tItems []Item\n}\n\n"
    "// Item is one line of an order.\n"
    "type Item struct {\n\tSKU   string\n\tCents int\n}\n\n"
    "// Total is the order's price in cents.\n"
    "func (o Order) Total() int {\n\tt := 0\n\tfor _, it := range o.Items {\n"
    "\t\tt += it.Cents\n\t}\n\treturn t\n}\n\n"
    "const MaxItems = 50\n"
)


def test_a_package_of_the_module_imported_through_go_mod(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": GO_MOD,
            "models/order.go": MODELS,
            "api/orders.go": (
                "package api\n\n"
                'import (\n\t"fmt"\n\n\t"example.com/shop/models"\n)\n\n'
                "func Describe(o models.Order) string {\n"
                "\t// gen: the order's id and total as 'order 7: 1250 cents'\n"
                "\treturn fmt.Sprint(o.ID)\n}\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "api/orders.go"))
    order = found["Order"]
    assert order.kind is DefinitionKind.STRUCT and order.rank is Rank.DIRECT
    assert "func (o Order) Total() int" in order.text  # its method, declared with it
    assert "Cents int" in found["Item"].text  # named by Order's fields
    assert "fmt" not in found and "Sprint" not in found  # the standard library: not ours


def test_an_aliased_import_and_a_constant(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": GO_MOD,
            "models/order.go": MODELS,
            "cart/cart.go": (
                'package cart\n\nimport m "example.com/shop/models"\n\n'
                "func Full(items []m.Item) bool {\n"
                "\t// gen: whether there are too many items\n"
                "\treturn len(items) >= m.MaxItems\n}\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "cart/cart.go"))
    assert found["MaxItems"].kind is DefinitionKind.CONSTANT
    assert found["Item"].rank is Rank.DIRECT


def test_only_files_of_the_same_package_and_test_files_only_from_tests(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": GO_MOD,
            "calc/calc.go": "package calc\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n",
            "calc/helpers_test.go": "package calc\n\nfunc mustAdd(a, b int) int {\n"
            "\treturn Add(a, b)\n}\n",
            "calc/gen.go": "//go:build ignore\n\npackage main\n\nfunc Add(x string) {}\n",
            "calc/use.go": "package calc\n\nfunc Double(a int) int {\n"
            "\t// gen: Add a to itself, or mustAdd\n\treturn Add(a, 0)\n}\n",
            "calc/use_test.go": "package calc\n\nfunc TestDouble() {\n"
            "\t// gen: check Double(2) with mustAdd\n\t_ = mustAdd(1, 1)\n}\n",
        },
    )
    found = by_name(gather(tmp_path, "calc/use.go"))
    assert found["Add"].path == "calc/calc.go" and "mustAdd" not in found
    in_test = by_name(gather(tmp_path, "calc/use_test.go"))
    assert in_test["mustAdd"].path == "calc/helpers_test.go"


def test_a_method_on_a_type_the_code_holds_from_another_file(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": GO_MOD,
            "store/store.go": ("package store\n\ntype Store struct {\n\tdata map[string]int\n}\n"),
            "store/ops.go": (
                "package store\n\n"
                "// Incr adds n to key and returns the new value.\n"
                "func (s *Store) Incr(key string, n int) int {\n"
                "\ts.data[key] += n\n\treturn s.data[key]\n}\n"
            ),
            "store/use.go": (
                "package store\n\nfunc bump(s *Store) {\n\t// gen: s.Incr the key hits by one\n}\n"
            ),
        },
    )
    store = by_name(gather(tmp_path, "store/use.go"))["Store"]
    assert "func (s *Store) Incr(key string, n int) int" in store.text


def test_a_package_outside_the_module_is_not_looked_for(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": GO_MOD,
            "main.go": (
                'package main\n\nimport "github.com/other/lib"\n\n'
                "func main() {\n\t// gen: lib.Run()\n}\n"
            ),
        },
    )
    with recorded_reads() as reads:
        result = gather(tmp_path, "main.go")
    assert result.definitions == ()
    assert [path for _event, path in reads if "other" in path] == []


def test_a_package_named_alone_brings_its_exported_names(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": GO_MOD,
            "limits/limits.go": "package limits\n\nconst MaxCartItems = 50\n\nconst minItems = 1\n",
            "cart/cart.go": (
                'package cart\n\nimport "example.com/shop/limits"\n\n'
                "func Full(n int) bool {\n\t// gen: whether n reached the limit in limits\n}\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "cart/cart.go"))
    # Named by the import only (the code to come will use it): ranked last, but there.
    assert found["MaxCartItems"].rank is Rank.IMPORTED and "minItems" not in found
