"""The Export tab's handler: a listed run becomes a GGUF + Modelfile in a folder of its own, per session."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from workbench.ui.export_tab import export_for_download


def test_export_tab_writes_a_download_per_session_and_cleans_up(
    tmp_path, tiny_model_dir, make_adapter_run, monkeypatch
):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    make_adapter_run(tmp_path / "runs" / "tuned", tiny_model_dir, seed=1)
    no_progress = lambda *a, **k: None  # noqa: E731

    files, modelfile, notes, folder = export_for_download(None, None, "tuned", "q8_0", None, progress=no_progress)
    assert [Path(f).name for f in files] == ["tuned.q8_0.gguf", "Modelfile"] and all(Path(f).is_file() for f in files)
    assert "FROM ./tuned.q8_0.gguf" in modelfile and "ollama create tuned" in notes
    assert not (tmp_path / "runs" / "tuned" / "tuned.q8_0.gguf").exists()  # never written into the runs folder

    files2, *_, folder2 = export_for_download(None, None, "tuned", "q4_0", folder, progress=no_progress)
    assert not Path(folder).exists() and Path(files2[0]).name == "tuned.q4_0.gguf"  # the session's last one replaced

    with pytest.raises(gr.Error, match="Choose a run"):
        export_for_download(None, None, None, "q8_0", folder2, progress=no_progress)
    for name in ("../tuned", str(tmp_path / "runs" / "tuned")):  # only names the server lists
        with pytest.raises(gr.Error, match="no run named"):
            export_for_download(None, None, name, "q8_0", folder2, progress=no_progress)
