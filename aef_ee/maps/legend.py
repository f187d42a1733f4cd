"""HTML for legends and accuracy tables (plain strings, shown in ``ipywidgets.HTML``)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

from aef_ee.ops.classification import AccuracyReport

__all__ = ["legend_html", "accuracy_html"]


def legend_html(title: str, entries: Mapping[str, str]) -> str:
    """A titled list of colour swatches: ``entries`` maps a label to a hex colour ("4e79a7" or "#4e79a7")."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;margin-right:6px;'
        f'background:#{colour.lstrip("#")};border:1px solid #555"></span>{html.escape(str(label))}</div>'
        for label, colour in entries.items())
    return (f'<div class="aef-legend" style="font:12px sans-serif;background:#fff;padding:4px 6px">'
            f"<b>{html.escape(title)}</b>{rows}</div>")


def _percent(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def accuracy_html(report: AccuracyReport, class_names: Mapping[int, str]) -> str:
    """The accuracy summary and per-class table of ``report``, classes named by ``class_names`` (code -> name)."""
    frame = report.to_frame()
    head = ("<tr><th>class</th><th>producer's</th><th>consumer's</th><th>validation samples</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(class_names.get(int(row['class']), str(row['class'])))}</td>"
        f"<td>{_percent(row['producers_accuracy'])}</td><td>{_percent(row['consumers_accuracy'])}</td>"
        f"<td>{int(row['validation_samples'])}</td></tr>"
        for _, row in frame.iterrows())
    return (f'<div class="aef-accuracy" style="font:12px sans-serif">'
            f"overall {_percent(report.overall)}, balanced {_percent(report.balanced)}, "
            f"kappa {report.kappa:.3f} (n = {report.n})"
            f'<table border="1" style="border-collapse:collapse">{head}{body}</table></div>')
