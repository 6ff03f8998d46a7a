from django.core.management.base import BaseCommand, CommandError

from ...errors import NotFound
from ...models import Role
from ...services import api_token_create, membership_ensure


class Command(BaseCommand):
    help = "Print a new API token for USERNAME acting in organisation SLUG (and nothing else)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--role", choices=Role.values, help="set the member's role")
        parser.add_argument("--create", action="store_true", help="create the user, organisation and membership where missing")
        parser.add_argument("--name", default="cli", help="a label for the token")

    def handle(self, *args, **options):
        try:
            membership = membership_ensure(
                username=options["username"], org_slug=options["org"], role=options["role"], create=options["create"]
            )
        except NotFound as exc:
            raise CommandError(exc.message) from None
        _token, key = api_token_create(membership=membership, name=options["name"])
        self.stdout.write(key)
