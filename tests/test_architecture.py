"""The project's modules import one another in layers, without loops.

- `trackly` is the base app: accounts, jobs, API keys, settings, the phone normaliser. It
  imports no feature app and no face.
- `contacts` and `audiences` are the feature apps; they never import the API, a face that
  calls them.
- `api` is the JSON API, a face beside the dashboard's views: it may import everything else.

Imports are read from the source with `ast`, at module level and inside functions alike, so a
loop hidden behind a function-level import counts too.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("trackly", "contacts", "audiences", "api")
FEATURE_APPS = ("contacts", "audiences")
FACES = ("api",)


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages (migrations left out), by dotted name."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).with_suffix("")
            if "migrations" in relative.parts:
                continue
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> Iterator[str]:
    """The dotted names an `import` or `from ... import` anywhere in the module refers to."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports."""
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path):
            # `from pkg import name` names a module when pkg.name is one, else pkg itself.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return loops


def package_of(module: str) -> str:
    return module.partition(".")[0]


def test_the_import_graph_is_read():
    graph = import_graph()
    assert "trackly.models" in graph["contacts.models"]
    assert "api.errors" in graph["api.auth"]


def test_no_module_imports_another_in_a_loop():
    assert import_loops(import_graph()) == []


def test_the_base_app_imports_no_feature_app_and_no_face():
    wrong = sorted(
        (module, target)
        for module, targets in import_graph().items()
        if package_of(module) == "trackly"
        for target in targets
        if package_of(target) in FEATURE_APPS + FACES
    )
    assert wrong == []


def test_feature_apps_do_not_import_the_api():
    wrong = sorted(
        (module, target)
        for module, targets in import_graph().items()
        if package_of(module) in FEATURE_APPS
        for target in targets
        if package_of(target) in FACES
    )
    assert wrong == []


# Choices classes that share some values with `Job.Kind` but name another thing.
OTHER_CHOICES = {
    # What one audit-log entry did to labels (a job's kind says how it runs: a preview, an
    # import, a freeze have no audit entry; an undo has the action it undoes).
    ("audiences.models", "Action"),
}


def _job_kind_definitions() -> list[tuple[str, str]]:
    """(module, name) of every choices class, and every assignment to a name with `KIND` in it,
    that spells out two or more job kinds' values."""
    from trackly.models import Job

    kinds = set(Job.Kind.values)

    def literals(node: ast.AST) -> set[str]:
        return {
            child.value
            for child in ast.walk(node)
            if isinstance(child, ast.Constant) and isinstance(child.value, str)
        }

    found = []
    for module, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef) and any(
                "Choices" in ast.unparse(base) for base in node.bases
            ):
                name, values = node.name, literals(node)
            elif isinstance(node, ast.Assign) and any(
                "KIND" in ast.unparse(target).upper() for target in node.targets
            ):
                name, values = ast.unparse(node.targets[0]), literals(node.value)
            else:
                continue
            if len(kinds & values) >= 2 and (module, name) not in OTHER_CHOICES:
                found.append((module, name))
    return found


def test_job_kinds_are_spelled_out_only_by_the_job_model():
    # `Job.Kind` is the one list of kinds; everywhere else names them as `Job.Kind.X`.
    assert _job_kind_definitions() == [("trackly.models", "Kind")]
