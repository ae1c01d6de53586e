"""One self-contained HTML page: inline CSS, pictures as base64 PNG data URIs, nothing
fetched from elsewhere (links to vocabularies are plain links). The only script is the 3D
view's (twin.report.viewer), inline, with three.js embedded. Every text from the catalog or
the layers is escaped."""

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
nav.toc{background:#f6f8fa;border:1px solid #e3e6ea;padding:10px 16px;margin:16px 0;font-size:.9em}
nav.toc ol{margin:4px 0;padding-left:22px}nav.toc>ol>li{margin:3px 0}nav.toc ol ol{font-size:.92em;color:#555}
nav.toc a{color:#245;text-decoration:none}nav.toc a:hover{text-decoration:underline}
@media (min-width:1700px){nav.toc{position:fixed;top:12px;left:12px;box-sizing:border-box;
width:calc((100vw - 1180px) / 2 - 28px);max-height:calc(100vh - 24px);overflow:auto;margin:0}}
h2,h3{scroll-margin-top:8px}
dl.glossary dt{font-weight:600;margin-top:10px}dl.glossary dd{margin:2px 0 0 18px;color:#333}
.viewer{border:1px solid #ddd;margin:10px 0 24px;background:#fff}
.viewer-bar{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;padding:6px 10px;border-bottom:1px solid #eee;
font-size:.9em}
.viewer-bar select,.viewer-bar button{font:inherit;padding:2px 6px}
.viewer-status{color:#555}.viewer-status.warn{color:#a15c00}
.viewer-main{display:flex;flex-wrap:wrap}
#twin-viewer-canvas{flex:1 1 640px;min-width:0;height:560px;display:block;background:#f3f4f6;touch-action:none;
cursor:crosshair}
#twin-viewer-info{flex:0 0 300px;max-width:100%;box-sizing:border-box;padding:8px 12px;font-size:.88em;
border-left:1px solid #eee;max-height:560px;overflow:auto}
#twin-viewer-info h4{margin:4px 0 8px;font-size:1.1em}
#twin-viewer-info dl{margin:0}#twin-viewer-info dt{color:#666;font-size:.9em;margin-top:6px}
#twin-viewer-info dd{margin:0 0 0 8px}
.viewer-legend{display:flex;flex-wrap:wrap;gap:4px 14px;padding:8px 10px;border-top:1px solid #eee;font-size:.85em}
.viewer-legend .chip{display:inline-flex;align-items:center;gap:5px}
.viewer-legend i{display:inline-block;width:14px;height:14px;border:1px solid #0002}
.viewer-legend .scale-box{min-width:320px}.viewer-legend .scale{height:12px;border:1px solid #0002;margin:3px 0}
.viewer-legend .scale-labels{display:flex;justify-content:space-between}
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
          row_classes: Iterable[str] | None = None, raw: bool = False, row_ids: Iterable[str] | None = None,
          table_id: str | None = None) -> str:
    """A table; cells are escaped unless ``raw`` (then the caller escaped them)."""
    numeric = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    classes = list(row_classes) if row_classes is not None else None
    ids = list(row_ids) if row_ids is not None else None
    for i, row in enumerate(rows):
        cells = "".join(
            ('<td class="n">' if j in numeric else "<td>") + (str(c) if raw else esc(c)) + "</td>"
            for j, c in enumerate(row)
        )
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        rid = f' id="{esc(ids[i])}"' if ids and ids[i] else ""
        body.append(f"<tr{rid}{cls}>{cells}</tr>")
    if not body:
        return "<p class=\"sub\">none</p>"
    tid = f' id="{esc(table_id)}"' if table_id else ""
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(png: bytes, alt: str, caption: str | None = None) -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">{cap}</figure>'


def link(url: str, text: str | None = None) -> str:
    if not url or not url.startswith(("http://", "https://")):
        return esc(text or url)
    return f'<a href="{esc(url)}">{esc(text or url)}</a>'


def page(title: str, body: str, lang: str = "en", css: str = "") -> str:
    """The whole page: ``css`` is added to the shared style sheet."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}{css}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
