"""The hot paths' fixed queries (row_queries.py) return what the ORM would."""

import pytest
from django.db import connection
from django.db.models import signals

from connections_app import selectors
from connections_app.api.authentication import token_membership
from connections_app.models import ApiToken, Connection, sha256_hex
from connections_app.row_queries import Part, RowQuery
from tests.factories import SECRET, make_connection, make_service

pytestmark = pytest.mark.django_db


def fields_of(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_the_lean_connection_lookup_equals_the_orm_with_and_without_a_custom_service(admin, org, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    Connection.objects.create(organisation=org, link_name="gh_main", name="GitHub", service_link_name="github")
    Connection.objects.filter(link_name="acme_main").update(scopes=["a", "b"], config={"region": "eu"})
    for link_name in ("acme_main", "gh_main"):
        lean = selectors.connection_get(organisation=org, link_name=link_name, annotate=False)
        orm = Connection.objects.select_related("custom_service").get(organisation=org, link_name=link_name)
        assert fields_of(lean) == fields_of(orm)
        assert lean.created_at.tzinfo is not None and lean.credentials == orm.credentials
        if orm.custom_service_id:
            assert fields_of(lean.custom_service) == fields_of(orm.custom_service)
            assert lean.custom_service.definition["auth_type"] == "api_key"
        else:
            assert lean.custom_service is None
    assert selectors.connection_get(organisation=org, link_name="acme_main", annotate=False).config == {"region": "eu"}
    with pytest.raises(selectors.NotFound):
        selectors.connection_get(organisation=org, link_name="nope", annotate=False)


def test_the_token_lookup_equals_the_orm(admin, django_assert_num_queries):
    key_hash = sha256_hex(admin.token)
    with django_assert_num_queries(1):
        token, membership = token_membership(key_hash)
    orm = ApiToken.objects.select_related("membership__organisation", "membership__user").get(key_hash=key_hash)
    assert fields_of(token) == fields_of(orm)
    assert fields_of(membership) == fields_of(orm.membership)
    assert fields_of(membership.organisation) == fields_of(orm.membership.organisation)
    assert (membership.user.pk, membership.user.username, membership.user.is_active) == (
        orm.membership.user.pk, orm.membership.user.username, True)
    assert token_membership(sha256_hex("not-a-token")) is None
    assert connection.vendor in ("sqlite", "postgresql")


def test_rebuilt_instances_behave_as_the_orms(admin, org, upstream, django_assert_num_queries):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    Connection.objects.filter(link_name="acme_main").update(config={"region": "eu"})
    fields = ("id", "organisation_id", "link_name", "config")
    query = RowQuery([Part(Connection, "c", fields=fields)], "FROM {c_table} WHERE {c}.link_name = %s")
    values = query.first_values(["acme_main"])
    lean, = query.instances(values)
    orm = Connection.objects.only(*fields).get(link_name="acme_main")
    assert {k: v for k, v in vars(lean).items() if k != "_state"} == {k: v for k, v in vars(orm).items() if k != "_state"}
    assert lean.get_deferred_fields() == orm.get_deferred_fields() and lean._state.adding is False and lean._state.db == "default"
    lean.config["region"] = "us"  # a caller's change stays on its own instance
    assert query.instances(values)[0].config == {"region": "eu"}
    name = orm.name
    with django_assert_num_queries(1):
        assert lean.name == name  # a field left out loads when read, as a deferred one does
    lean.name = "Renamed"
    lean.save(update_fields=["name"])  # an UPDATE of the row, not an INSERT
    assert Connection.objects.get(pk=lean.pk).name == "Renamed" and Connection.objects.count() == 1


def test_a_model_with_init_signals_is_built_by_its_init():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(receiver, sender=ApiToken)
    try:
        query = RowQuery([Part(ApiToken, "t")], "FROM {t_table} WHERE {t}.id = %s")
        built, = query.instances(((7, *[None] * (len(ApiToken._meta.concrete_fields) - 1)),))
    finally:
        signals.post_init.disconnect(receiver, sender=ApiToken)
    assert seen == [built] and built.pk == 7
