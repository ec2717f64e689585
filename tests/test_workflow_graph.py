"""`describe_workflow --dot` draws the declared types from the declaration: a cluster per type,
every stage by its label, the ends doubled, every transition between the type's own stages."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from casetypes import declaration


def test_the_graph_has_every_stage_and_transition_of_the_types_asked_for():
    out = StringIO()
    call_command("describe_workflow", "--dot", "ukey_loss", stdout=out)
    graph = out.getvalue()
    loss = declaration.CASE_TYPES["ukey_loss"]
    assert graph.count("subgraph cluster_") == 1 and "cluster_ukey_loss" in graph
    labels = declaration.state_labels()
    for code in loss.states:
        assert f'"ukey_loss:{code}" [label="{labels[code]}"' in graph
    for end in loss.ends:
        assert f'"ukey_loss:{end.code}" [label="{labels[end.code]}", peripheries=2]' in graph
    edges = {(t.source, t.target) for t in declaration.transitions(loss) if t.source in loss.states}
    assert edges and all(f'"ukey_loss:{a}" -> "ukey_loss:{b}"' in graph for a, b in edges)
    # Nothing of onboarding's journey leaks into a request type's drawing.
    assert "onboarding:" not in graph


def test_without_names_every_declared_type_is_drawn():
    out = StringIO()
    call_command("describe_workflow", "--dot", stdout=out)
    assert out.getvalue().count("subgraph cluster_") == len(declaration.CASE_TYPES)
