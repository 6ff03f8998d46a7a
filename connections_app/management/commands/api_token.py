import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ...errors import ConnectionsError
from ...models import Role
from ...services import api_token_create, membership_ensure

DURATION_RE = re.compile(r"^(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(value: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w``."""
    match = DURATION_RE.match(value.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(value)
    return timedelta(**{UNITS[match[2]]: int(match[1])})


def names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME acting in organisation SLUG (and nothing else). "
        "--connections, --actions and --expires limit it (least privilege for scripts and agents)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--role", choices=Role.values, help="set the member's role")
        parser.add_argument("--create", action="store_true", help="create the user, organisation and membership where missing")
        parser.add_argument("--name", default="cli", help="a label for the token")
        parser.add_argument("--connections", type=names, help="only these connections (link names, comma-separated)")
        parser.add_argument("--actions", type=names, help="only these actions: read, invoke, manage (comma-separated)")
        parser.add_argument("--expires", type=duration, help="expire after this long: 30m, 12h, 7d, 2w")

    def handle(self, *args, **options):
        try:
            membership = membership_ensure(
                username=options["username"], org_slug=options["org"], role=options["role"], create=options["create"]
            )
            _token, key = api_token_create(
                membership=membership, name=options["name"], connections=options["connections"],
                actions=options["actions"], expires_at=timezone.now() + options["expires"] if options["expires"] else None,
            )
        except ConnectionsError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(key)
