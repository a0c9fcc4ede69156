"""Print the requirements in pyproject.toml, one a line: dependencies and named extras."""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
lines = list(project["dependencies"])
for extra in sys.argv[1:]:
    lines += project["optional-dependencies"][extra]
sys.stdout.write("\n".join(lines) + "\n")
