"""Re-encrypt every stored secret with the first key of CONNECTIONS_ENCRYPTION_KEYS; with
``--check``, only count the rows each key encrypted (exact: every value carries its key id)."""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ... import crypto, hot_cache
from ...checks import ENCRYPTED_FIELDS, rows_per_key


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the newest key, in batches, one transaction each. "
        "Safe to re-run: values already on the newest key are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--check", action="store_true",
            help="Change nothing: print how many rows of each table each key encrypted, so you know when an old key "
            "can go (exit status 1 while some row needs a key that is not configured).",
        )

    def handle(self, *args, **options):
        try:
            crypto.validate_keys()
        except crypto.EncryptionKeyUnavailable as exc:
            raise CommandError(str(exc)) from None
        if options["check"]:
            return self._check()
        total = 0
        for label, fields in ENCRYPTED_FIELDS.items():
            model = apps.get_model(label)
            rotated = self._rotate_model(model, fields, options["batch_size"])
            total += rotated
            self.stdout.write(f"{model._meta.verbose_name_plural}: {rotated} value(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} value(s) re-encrypted with the first key."))

    def _check(self) -> None:
        ids = crypto.configured_key_ids()
        names = {kid: f"key {n} ({kid}{', newest' if n == 1 else ''})" for n, kid in enumerate(ids, start=1)}
        missing = False
        for table, counts in rows_per_key().items():
            parts = [f"{names[kid]}: {counts.get(kid, 0)}" for kid in ids]
            for kid, n in sorted(counts.items()):
                if kid not in names:
                    parts.append(f"{kid if kid == 'no key id' else f'key id {kid} (NOT CONFIGURED)'}: {n}")
                    missing = missing or kid != "no key id"
            self.stdout.write(f"{table}: " + ", ".join(parts))
        old = [names[kid] for kid in ids[1:]]
        if missing:
            raise CommandError("Some rows need a key that is not configured; put it back (after the newest).")
        if old and not any(counts.get(kid) for counts in rows_per_key().values() for kid in ids[1:]):
            self.stdout.write(self.style.SUCCESS(f"No row needs {', '.join(old)} any more: it can be removed."))

    def _rotate_model(self, model, fields, batch_size) -> int:
        rotated = 0
        last_pk = 0
        while True:
            with transaction.atomic():
                rows = list(
                    model.objects.select_for_update().filter(pk__gt=last_pk).order_by("pk").only("pk", *fields)[:batch_size]
                )
                if not rows:
                    return rotated
                for row in rows:
                    changed = []
                    for field in fields:
                        token = getattr(row, field)
                        if not token or crypto.is_current(token):
                            continue
                        try:
                            setattr(row, field, crypto.rotate(token))
                        except crypto.EncryptionKeyUnavailable as exc:
                            raise CommandError(
                                f"{model._meta.label} id {row.pk}: {exc} Batches before this one are committed; "
                                "fix the key list and run the command again."
                            ) from None
                        changed.append(field)
                    if changed:
                        model.objects.filter(pk=row.pk).update(**{f: getattr(row, f) for f in changed})
                        hot_cache.everything_changed()
                        rotated += len(changed)
                last_pk = rows[-1].pk
