"""``python -m holdfast status INVENTORY [--json]``: the day-two commands, from the project's
directory (group_data/ is read from there, as pyinfra does)."""

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    from holdfast import status
    from holdfast.loading import SettingsError

    parser = argparse.ArgumentParser(prog="python -m holdfast")
    commands = parser.add_subparsers(dest="command", required=True)
    status_parser = commands.add_parser("status", help="the fleet at a glance (reads, changes nothing)")
    status_parser.add_argument("inventory")
    status_parser.add_argument("--json", action="store_true", help="the same as JSON")
    arguments = parser.parse_args(argv)
    try:
        fleet = status.gather(arguments.inventory, os.environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    print(status.as_json(fleet) if arguments.json else status.render(fleet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
