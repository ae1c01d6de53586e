"""One self-contained HTML page: inline CSS, pictures as base64 PNG data URIs, no script,
nothing fetched from elsewhere (links to vocabularies are plain links). Every text from
the catalog or the layers is escaped."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:1.9em;margin:0 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:40px}
h3{margin-top:26px}.sub{color:#666;margin:0 0 18px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.9em;width:100%}
th,td{border:1px solid #ddd;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.sig td{background:#fff1ec}tr.sig td:first-child{border-left:4px solid #d73027}
figure{margin:12px 0 24px}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85em;margin-top:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,900px),1fr));gap:8px 18px}
.note{background:#f6f8fa;border-left:4px solid #8aa;padding:8px 12px;margin:10px 0}
.warn{background:#fff8e6;border-left:4px solid #e0a800;padding:8px 12px;margin:10px 0}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
details{margin:6px 0}summary{cursor:pointer;color:#345}
footer{color:#777;font-size:.8em;margin-top:48px;border-top:1px solid #eee;padding-top:8px}
"""


def esc(value) -> str:
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def num(value, digits: int = 1, scale: float = 1.0, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    v = float(value) * scale
    return f"{v:+,.{digits}f}" if signed else f"{v:,.{digits}f}"


def table(headers: Iterable[str], rows: Iterable[Iterable], numeric: Iterable[int] = (),
          row_classes: Iterable[str] | None = None, raw: bool = False) -> str:
    """A table; cells are escaped unless ``raw`` (then the caller escaped them)."""
    numeric = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    classes = list(row_classes) if row_classes is not None else None
    for i, row in enumerate(rows):
        cells = "".join(
            ('<td class="n">' if j in numeric else "<td>") + (str(c) if raw else esc(c)) + "</td>"
            for j, c in enumerate(row)
        )
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    if not body:
        return "<p class=\"sub\">none</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(png: bytes, alt: str, caption: str | None = None) -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">{cap}</figure>'


def link(url: str, text: str | None = None) -> str:
    if not url or not url.startswith(("http://", "https://")):
        return esc(text or url)
    return f'<a href="{esc(url)}">{esc(text or url)}</a>'


def page(title: str, body: str, lang: str = "en") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
