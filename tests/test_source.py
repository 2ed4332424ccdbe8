"""The source itself: what would stop it loading on a Python that pyproject.toml allows.

pyproject.toml says requires-python >= 3.11, and the image runs 3.11. Python 3.13 cleans
every docstring while compiling and encodes it as UTF-8, so a docstring holding a lone
surrogate (written as an escape in a non-raw docstring) raised UnicodeEncodeError when
webapp.sync.validate was imported there: the app did not start.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    path
    for folder in ("webapp", "bench", "migrations", "scripts", "tests")
    for path in (ROOT / folder).rglob("*.py")
)
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstrings(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, DOCUMENTED):
            text = ast.get_docstring(node, clean=False)
            if text is not None:
                yield getattr(node, "name", "(module)"), text


def test_every_docstring_is_plain_unicode():
    assert any(path.name == "validate.py" for path in SOURCES)
    refused = []
    for path in SOURCES:
        for name, text in _docstrings(path):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                where = f"{path.relative_to(ROOT)}: {name}"
                refused.append(f'{where} holds {error.object[error.start]!r} (use r"""...)')
    assert not refused, refused
