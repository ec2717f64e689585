"""`{% fixed %}…{% endfixed %}`: a stretch of a template that is the same for every reader
(literal markup and `{% translate "…" %}` of literal messages only), drawn once per language
per process.

The case page's panels carry dozens of table heads and headings in the reader's language: each
`{% translate %}` is a message lookup and a node to render on every request. Inside `{% fixed %}`
the stretch is rendered the first time a language asks for it and kept with the compiled
template (the cached loader keeps templates for the process's life). Anything else inside (a
variable, a condition, a `{% translate %}` of a variable or with `as`) is refused when the
template is compiled, so nothing that depends on the reader or the case can be kept.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import Node, NodeList, TextNode
from django.templatetags.i18n import TranslateNode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()


class FixedNode(Node):
    def __init__(self, nodelist: NodeList) -> None:
        self.nodelist = nodelist
        self.drawn: dict[tuple[Any, ...], SafeString] = {}

    def render(self, context: template.Context) -> SafeString:
        key = (get_language(), context.autoescape)
        found = self.drawn.get(key)
        if found is None:
            found = self.drawn[key] = mark_safe(self.nodelist.render(context))  # noqa: S308 - the template's own output
        return found


def _literal(var: Any) -> bool:
    return isinstance(var, str) or (isinstance(var, template.Variable) and var.lookups is None)


def _constant(node: Node) -> bool:
    """Literal markup, or a `{% translate %}` of a literal message (and literal context), shown."""
    if isinstance(node, TextNode):
        return True
    if isinstance(node, TranslateNode):
        context = node.message_context
        return (
            node.asvar is None
            and _literal(node.filter_expression.var)
            and not node.filter_expression.filters
            and (context is None or (_literal(context.var) and not context.filters))
        )
    return False


@register.tag
def fixed(parser: Any, token: Any) -> FixedNode:
    nodelist = parser.parse(("endfixed",))
    parser.delete_first_token()
    for node in nodelist:
        if not _constant(node):
            raise template.TemplateSyntaxError(
                f"{{% fixed %}} holds literal markup and {{% translate %}} of literal messages only, not {node!r}"
            )
    return FixedNode(nodelist)
