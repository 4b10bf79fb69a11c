"""folium's pages without template injection.

branca (folium's page model) renders each element's `header`, `html` and `script` macros and
wraps the text in `Element(text)`, whose constructor compiles that text as a Jinja template
again. The text holds the page's data (layer GeoJSON, names, labels, the page config), so a
zone, unit or display name written `{{ … }}` or `{% … %}` ran as a template on the server when
the page or a snapshot was built: an injection from any user who can name something.
Importing this module renders those macros once and puts their text into the page as it is.
"""

from __future__ import annotations

from typing import Any

from branca.element import Element, Figure, MacroElement


class Rendered(Element):
    """Text already rendered, placed into the page as it is (never read as a template)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """The text itself."""
        return self.text


def render_macros(self: MacroElement, **kwargs: Any) -> None:
    """MacroElement.render as branca has it, with each macro's text placed as Rendered."""
    figure = self.get_root()
    if not isinstance(figure, Figure):
        raise TypeError("an element is rendered inside a Figure")
    macros = self._template.module.__dict__
    for part, target in (("header", figure.header), ("html", figure.html),
                         ("script", figure.script)):
        macro = macros.get(part)
        if macro is not None:
            target.add_child(Rendered(macro(self, kwargs)), name=self.get_name())
    for element in self._children.values():
        element.render(**kwargs)


MacroElement.render = render_macros  # type: ignore[method-assign]
