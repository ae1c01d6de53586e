"""Reports: one self-contained HTML page per structure (``build.build_report``), from the
catalog (``data``), with pictures from :mod:`twin.render` (``figures``) embedded as base64
PNGs by a small HTML writer (``html``)."""
