"""``Query.preload``: the preload tree built from paths, keywords, queries and join bindings.

No database: these check the ``Preload`` specs the Repo will follow, and the
errors for names, queries and bindings that cannot work.
"""

from __future__ import annotations

import pytest

from repodb.dialect import SQLITE
from repodb.query import Preload, query, ref, subquery, to_sql

from .test_query_helpers import Entry, Note, Person, Topic


def test_keyword_paths_nest_like_string_paths() -> None:
    notes = query(Note).order_by(Note.id.desc())
    q = query(Person).preload(entries__notes=notes)
    assert q.preloads == (Preload("entries", (Preload("notes", (), notes),)),)


def test_a_query_and_nested_preloads_together() -> None:
    latest = query(Entry).order_by(Entry.id.desc()).limit(2)
    (entries,) = query(Person).preload(entries=(latest, ["notes", "topics"])).preloads
    assert entries.query is latest
    assert [p.name for p in entries.nested] == ["notes", "topics"]


def test_preloads_of_a_preload_query_nest_under_it() -> None:
    (entries,) = query(Person).preload(entries=query(Entry).preload("notes")).preloads
    assert [p.name for p in entries.nested] == ["notes"]
    assert entries.query is not None
    assert entries.query.preloads == ()


def test_a_query_merges_with_a_path_to_the_same_association() -> None:
    newest = query(Entry).order_by(Entry.id.desc())
    q = query(Person).preload("entries__notes").preload(entries=newest)
    assert q.preloads == (Preload("entries", (Preload("notes"),), newest),)


def test_mapping_values_take_queries_and_refs() -> None:
    notes = query(Note)
    q = query(Person).join("entries", as_="e").preload({"entries": (ref("e"), {"notes": notes})})
    assert q.preloads == (Preload("entries", (Preload("notes", (), notes),), binding="e"),)


def test_join_preloads_name_a_join_of_the_related_schema() -> None:
    q = query(Entry).join("author", as_="a").join("topics", as_="t")
    both = q.preload(author=ref("a"), topics=ref("t"))
    assert [(p.name, p.binding) for p in both.preloads] == [("author", "a"), ("topics", "t")]
    with pytest.raises(ValueError, match="the query has no join named 'x'"):
        q.preload(author=ref("x"))
    with pytest.raises(ValueError, match="the join 't' is not of Person"):
        q.preload(author=ref("t"))


def test_a_join_preload_hangs_under_a_join_preloaded_parent() -> None:
    q = query(Person).join("entries", as_="e").join(Entry.notes, as_="n")
    nested = q.preload(entries=(ref("e"), {"notes": ref("n")}))
    assert nested.preloads[0].nested[0].binding == "n"
    with pytest.raises(ValueError, match="its parent is not join-preloaded too"):
        q.preload(entries__notes=ref("n"))


def test_a_join_preload_takes_no_query() -> None:
    q = query(Person).join("entries", as_="e").preload(entries=ref("e"))
    with pytest.raises(ValueError, match="a join preload takes no query"):
        q.preload(entries=query(Entry))


def test_a_preload_query_is_of_the_related_schema() -> None:
    with pytest.raises(ValueError, match="give a query of Entry"):
        query(Person).preload(entries=query(Note))
    with pytest.raises(ValueError, match="Entry has no association 'tags'"):
        query(Person).preload(entries__tags=query(Topic))


def test_other_values_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot preload 3"):
        query(Person).preload(entries=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot preload 3"):
        query(Person).preload(3)  # type: ignore[arg-type]


def test_preload_needs_a_schema_source() -> None:
    with pytest.raises(ValueError, match="preload needs a schema"):
        query(subquery(query(Person))).preload("entries")


def test_join_preloads_do_not_change_the_sql() -> None:
    q = query(Person).left_join("entries", as_="e")
    assert to_sql(q.preload(entries=ref("e")), SQLITE) == to_sql(q, SQLITE)
