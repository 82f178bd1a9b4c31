"""Rendering replies from the Jinja2 templates under ``templates/``.

Each reply kind has ``<kind>.txt.j2`` (which also sets ``subject``) and ``<kind>.html.j2``. All
templates are loaded and rendered once with a sample context at start-up, so an organiser's
template mistake stops the daemon with one line instead of failing when a school is waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jinja2

from checks.domain import FileRole, ReplyKind, SubmissionStatus, format_size

KINDS = ReplyKind.codes()


class TemplateProblem(ValueError):
    """A template that does not load or render; worded for the organiser."""


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = templates_dir
        loader = jinja2.FileSystemLoader(str(templates_dir))
        common: dict[str, Any] = {"undefined": jinja2.StrictUndefined, "keep_trailing_newline": True,
                                  "trim_blocks": True, "lstrip_blocks": True}
        self._text_env = jinja2.Environment(loader=loader, autoescape=False, **common)
        self._html_env = jinja2.Environment(loader=loader, autoescape=True, **common)
        for env in (self._text_env, self._html_env):
            env.filters["filesize"] = format_size
            env.globals["role_label"] = FileRole.label_of
            env.globals["status_label"] = SubmissionStatus.label_of

    def render(self, kind: str, context: Mapping[str, Any]) -> RenderedMail:
        if kind not in KINDS:
            raise TemplateProblem(f"no template kind {kind!r}")
        name = f"{kind}.txt.j2"
        try:
            module = self._text_env.get_template(name).make_module(dict(context))
            text = str(module)
            subject = " ".join(str(getattr(module, "subject", "")).split())
            name = f"{kind}.html.j2"
            html = self._html_env.get_template(name).render(dict(context))
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = getattr(exc, "name", None) or name
            raise TemplateProblem(f"template {where}{f':{line}' if line else ''}: {exc}") from exc
        if not subject:
            raise TemplateProblem(f"template {kind}.txt.j2 does not set a subject ({{% set subject = … %}})")
        return RenderedMail(subject=subject, text=text, html=html)

    def validate(self, sample_context: Mapping[str, Any]) -> None:
        """Load and render every template once; raises ``TemplateProblem`` on the first error."""
        for kind in KINDS:
            self.render(kind, sample_context)
