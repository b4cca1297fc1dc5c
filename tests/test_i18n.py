"""The interface in Korean: every static text has an entry, no entry is stale, and a Korean browser sees Korean."""

from __future__ import annotations

import re

import pytest
from app_server import serve
from conftest import shot

from workbench.ui.i18n import korean, static_texts

# Names a person types or reads as code in either language (settings, file names), and texts made from values
# when the page is built (the model's name, the method recommendation for the default answers, a public server's caps).
KEPT_IN_ENGLISH = {
    "max_length",
    "LoRA r",
    "LoRA alpha",
    "DPO beta",
    "Top-p",
    "preferences.jsonl",
    "kto.jsonl",
    "Modelfile",
}
# A public server's caps (they differ by hardware) are appended to two texts, which then stay in English.
BUILT_FROM_VALUES = re.compile(r"^(Serving \*\*|Talk to \*\*|### Recommended: )|Public mode on |At most \d+ here\.$")


# Each way the app is served builds some texts of its own: a single learner's page, a workshop's (the learner bar and
# the Teacher tab), a public Space's (caps and the disk-wipe notice).
SERVED_AS = {"single": {}, "workshop": {"WORKBENCH_TEACHER_PASSWORD": "pw"}, "space": {"SPACE_ID": "someone/workbench"}}


@pytest.fixture(scope="module")
def page_texts(tiny_model_dir, tmp_path_factory) -> list[str]:
    """The English of every static text on the page, in each way the app is served."""
    from gradio.i18n import I18nData

    from app import build_app

    texts = []
    for variables in SERVED_AS.values():
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WORKBENCH_RUNS", str(tmp_path_factory.mktemp("i18n-runs")))
            for name in ("WORKBENCH_TEACHER_PASSWORD", "WORKBENCH_WORKSHOP", "WORKBENCH_PUBLIC", "SPACE_ID"):
                patch.delenv(name, raising=False)
            for name, value in variables.items():
                patch.setenv(name, value)
            app = build_app(str(tiny_model_dir))
            for block in app.blocks.values():
                for attribute in ("label", "info", "placeholder", "value"):
                    text = getattr(block, attribute, None)
                    if isinstance(text, I18nData):
                        texts.append(text.key)
            texts += [text for _, _, text in static_texts(app)]
    return texts


def test_every_static_text_has_a_korean_entry(page_texts):
    missing = sorted(
        {t for t in page_texts if t not in korean() and t not in KEPT_IN_ENGLISH and not BUILT_FROM_VALUES.search(t)}
    )
    assert not missing, f"add these to workbench/ui/locales/ko.json: {missing}"


def test_no_korean_entry_is_left_over_from_an_old_text(page_texts):
    stale = sorted(set(korean()) - set(page_texts))
    assert not stale, f"these entries match no text on the page any more (changed in English?): {stale}"


def test_a_korean_browser_sees_the_interface_in_korean(tiny_model_dir, tmp_path, browser):
    with serve(tiny_model_dir, tmp_path / "runs") as app:
        for locale, tab, button in (("ko-KR", "학습", "학습 시작"), ("en-US", "Train", "Start training")):
            page = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900}).new_page()
            page.goto(app.local_url)
            page.get_by_role("tab", name=tab).click()
            assert page.get_by_role("button", name=button).is_visible()
            shot(page, f"i18n_{locale}")
