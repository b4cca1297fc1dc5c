"""The app's interface in Korean as well as English: one translation table, applied to the built page in one pass.

Gradio translates in the browser (``gr.I18n``): a label set to ``I18N(key)`` shows the entry for the browser's
language, and the key itself where the language has none. The tabs are written in plain English; ``localize``
walks the finished page once and turns every static text that has a Korean entry into such a key, so no tab
needs to know about languages and a string without an entry stays English instead of breaking. Texts a handler
returns at run time (reports, estimates, answers) are not translated: Gradio's i18n covers static text only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

KO_FILE = Path(__file__).with_name("locales") / "ko.json"
# Component attributes that hold static text a person reads. A Button's and a Markdown's value are its text;
# other components' values are data a handler receives, never translated.
TEXT_ATTRIBUTES = ("label", "info", "placeholder")
VALUE_IS_TEXT = (gr.Button, gr.Markdown, gr.DownloadButton, gr.LoginButton)


def korean() -> dict[str, str]:
    """English text -> Korean, from locales/ko.json."""
    return json.loads(KO_FILE.read_text(encoding="utf-8"))


def translations() -> gr.I18n:
    """What ``launch(i18n=...)`` takes: English keys shown as themselves, and Korean."""
    ko = korean()
    return gr.I18n(en={key: key for key in ko}, ko=ko)


def static_texts(app: gr.Blocks) -> Iterator[tuple[object, str, str]]:
    """Every (block, attribute, text) a visitor reads on the page as built, before any handler runs."""
    for block in app.blocks.values():
        attributes = TEXT_ATTRIBUTES + (("value",) if isinstance(block, VALUE_IS_TEXT) else ())
        for attribute in attributes:
            text = getattr(block, attribute, None)
            if isinstance(text, str) and re.search(r"[A-Za-z]", text):
                yield block, attribute, text


def localize(app: gr.Blocks) -> gr.Blocks:
    """Turn each static text with a Korean entry into a translation key; call once the page is built."""
    table = translations()
    ko = table.translations["ko"]
    for block, attribute, text in list(static_texts(app)):
        if text in ko:
            setattr(block, attribute, table(text))
    return app
