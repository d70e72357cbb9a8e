"""Parse .bicep files with pycep and print {path: {"template": ..., "isolated": [...]}} as JSON.

Runs in the infra virtual environment (``.venv-infra/bin/python tests/infra/pycep_parse.py FILE...``),
where pycep-parser lives; the tests call it in a subprocess and read its output.

pycep 0.5 predates the ``extension`` statement (``extension microsoftGraphV1``, the Microsoft Graph Bicep
extension), so such lines are isolated: blanked before parsing (line numbers stay the same) and reported in
``isolated`` so the tests can check that nothing else was hidden from the parser. A file that still fails
to parse is reported with its error.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pycep import BicepParser

_EXTENSION = re.compile(r"^extension\s+\S+.*$", re.MULTILINE)


def parse(parser: BicepParser, path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    isolated = _EXTENSION.findall(text)
    try:
        template = parser.parse(text=_EXTENSION.sub("", text))
    except Exception as err:  # pycep raises lark errors of many kinds; report any of them
        return {"error": f"{type(err).__name__}: {err}", "isolated": isolated}
    return {"template": template, "isolated": isolated}


def main(paths: list[str]) -> None:
    parser = BicepParser()
    results = {path: parse(parser, Path(path)) for path in paths}
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
