"""The page around the report: its size budget, generator mark and style sheet."""

from __future__ import annotations

#: Size budget of the report file in bytes (the ``quick`` report must stay below it).
DEFAULT_MAX_BYTES = 2_000_000
#: Content of ``<meta name="generator">``: how a later run recognises its own output.
GENERATOR = "stablesweep report"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2.2em; }
h3 { margin-top: 1.6em; }
nav.toc { background: #f6f7f9; border: 1px solid #dde; padding: .6em 1.2em; }
nav.toc ol { margin: .2em 0; }
.lead { color: #444; }
.warn { background: #fff4e0; border-left: 4px solid #e69f00; padding: .4em .8em; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
           gap: 1.2em; }
figure { margin: 0; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
figcaption { font-size: .85em; color: #444; margin-top: .3em; }
figcaption .settings { color: #666; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 .6em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top;
         white-space: nowrap; }
div.scroll { overflow-x: auto; max-width: 100%; }
th { background: #f1f2f4; }
td.txt, th.txt { text-align: left; }
td.flag { color: #a33; text-align: left; font-style: italic; }
dl.cols { font-size: .8em; color: #555; margin: 0 0 1.4em; }
dl.cols dt { float: left; clear: left; font-weight: bold; margin-right: .5em; }
dl.cols dd { margin: 0 0 .1em 0; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .85em; }
.meta th { text-align: left; white-space: nowrap; }
.meta td { text-align: left; }
a.csv { font-weight: bold; }
"""
