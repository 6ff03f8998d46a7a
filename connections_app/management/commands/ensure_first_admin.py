"""Create the first admin user and organisation on an empty database; print the password once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from ...models import Role
from ...services import membership_ensure


class Command(BaseCommand):
    help = "Create a first admin (user 'admin', organisation 'default') when there are no users yet."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--org", default="default")

    def handle(self, *args, **options):
        if get_user_model().objects.exists():
            return
        password = secrets.token_urlsafe(12)
        membership_ensure(
            username=options["username"], org_slug=options["org"], role=Role.ADMIN, create=True, password=password
        )
        self.stdout.write(
            "\n".join([
                "",
                "First admin created (shown once; change it after signing in):",
                f"  user:         {options['username']}",
                f"  password:     {password}",
                f"  organisation: {options['org']}",
                "",
            ])
        )
