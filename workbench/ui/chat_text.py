"""How chat text is shown in the Chat and Arena tabs: exactly the characters the model read or wrote.

Messages are escaped and shown with Markdown off. Gradio's own sanitiser would drop a <script> but still render
<img src=...> or <b>, and a stranger's adapter decides what the model writes.
"""

from __future__ import annotations

import html


def shown(text: str) -> str:
    """Text as the chat displays it: every '<' and '&' escaped, so markup shows as the characters it is."""
    return html.escape(text, quote=False)


def message_text(content) -> str:
    """The model's text of a chat message: Gradio 6 hands back typed parts, and the display escaped them."""
    if not isinstance(content, str):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return html.unescape(content)
