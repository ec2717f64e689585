#!/usr/bin/env python
from __future__ import annotations

import os
import sys

# Commands that only read the code (no request is served, nothing is signed) may run on a
# fresh checkout without SECRET_KEY; every other command, the web server and the Celery
# workers still require it (or DEBUG=true on a developer machine).
CODE_ONLY_COMMANDS = {
    "check",
    "makemigrations",
    "showmigrations",
    "sqlmigrate",
    "graph_transitions",
    "makemessages",
    "compilemessages",
    "diffsettings",
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in CODE_ONLY_COMMANDS:
        os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
