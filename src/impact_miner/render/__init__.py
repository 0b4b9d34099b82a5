"""Rendering a report: shared views, one renderer per format, and the table of formats.

- :mod:`~impact_miner.render.views`: what every renderer shows, computed once (grouping, summary,
  link guard, range label). Imports no renderer.
- One module per format, each a :class:`~impact_miner.model.Report` in and text (or bytes) out:
  :mod:`~impact_miner.render.markdown`, :mod:`~impact_miner.render.json`,
  :mod:`~impact_miner.render.html`, :mod:`~impact_miner.render.csv`, :mod:`~impact_miner.render.docx`;
  :mod:`~impact_miner.render.evidence` lists the evidence alone, and
  :mod:`~impact_miner.render.templates` holds the Jinja2 environment Markdown and HTML share.
- :mod:`~impact_miner.render.formats`: the one table of formats (names, extensions, how each renders).

Imports run one way: views ← renderers ← formats ← :mod:`impact_miner.outputs` (which outputs a run
has, rendered once per format). Writing files is :mod:`impact_miner.atomic`'s; the brag document is
:mod:`impact_miner.brag`'s. This package file imports nothing, so reading the table of formats stays
cheap.
"""
