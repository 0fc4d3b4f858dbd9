"""The commands beside the deploy, from the project's directory (group_data/ is read from there,
as pyinfra does): ``python -m holdfast check INVENTORY`` (offline, before a deploy),
``python -m holdfast status INVENTORY [--json]`` and ``python -m holdfast maintenance INVENTORY
HOST --for 30m --reason ...`` (or ``--end``), ``python -m holdfast promote INVENTORY HOST`` (whether
group_data makes HOST's database the primary: ``make promote`` deploys it then)."""

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    from holdfast import check, loading, maintenance, replication, status
    from holdfast.audit import AuditError
    from holdfast.inventory import read_inventory
    from holdfast.loading import SettingsError

    parser = argparse.ArgumentParser(prog="python -m holdfast")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="group_data, rendered files and offline checks; no SSH")
    check_parser.add_argument("inventory")
    status_parser = commands.add_parser("status", help="the fleet at a glance (reads, changes nothing)")
    status_parser.add_argument("inventory")
    status_parser.add_argument("--json", action="store_true", help="the same as JSON")
    window_parser = commands.add_parser("maintenance", help="open (or end) a maintenance window on a host")
    window_parser.add_argument("inventory")
    window_parser.add_argument("host")
    window_parser.add_argument("--for", dest="duration", help="how long, e.g. 30m (required unless --end)")
    window_parser.add_argument("--reason", default="", help="why (the silence's comment)")
    window_parser.add_argument("--services", default="", help="Monit checks to leave alone (default: all)")
    window_parser.add_argument("--end", action="store_true", help="end the host's window now")
    promote_parser = commands.add_parser("promote", help="whether group_data makes HOST's replica the primary")
    promote_parser.add_argument("inventory")
    promote_parser.add_argument("host")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "check":
            return check.main(arguments.inventory)
        if arguments.command == "promote":
            problems = replication.promotion_problems(loading.load(read_inventory(arguments.inventory)),
                                                      arguments.host)
            print("\n".join(problems) or f"{arguments.host}: its database becomes the primary", file=sys.stderr)
            return 2 if problems else 0
        if arguments.command == "status":
            fleet = status.gather(arguments.inventory, os.environ)
            print(status.as_json(fleet) if arguments.json else status.render(fleet))
        elif arguments.end:
            print("\n".join(maintenance.end(arguments.inventory, arguments.host)))
        else:
            opened = maintenance.window(arguments.host, arguments.duration or "", arguments.reason, arguments.services)
            print("\n".join(maintenance.start(arguments.inventory, opened)))
    except (SettingsError, AuditError, ValueError, maintenance.MaintenanceError) as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
