"""Public mode against a stranger: the app serves no file outside its own folders, takes no server paths,
enforces its caps, keeps each session's uploads and votes to itself, loads only safetensors and shows
model output as text. The app runs on loopback with WORKBENCH_PUBLIC=1, as on a Space. (docs/security.md)"""

from __future__ import annotations

import ast
import http.client
import json
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app_server import serve
from test_arena_app import arena_form
from workbench import WorkbenchError, load_model
from workbench.ui import public

REPO = Path(__file__).resolve().parents[1]
SECRET = "workbench-test-secret-7f3a"


@pytest.fixture(scope="module")
def site(tiny_model_dir, tmp_path_factory):
    """A public app, its runs folder (one finished-looking run inside) and secrets beside it."""
    root = tmp_path_factory.mktemp("public")
    runs = root / "runs"
    (runs / "demo").mkdir(parents=True)
    (runs / "demo" / "config.yaml").write_text("name: demo\n")
    (root / "secret.txt").write_text(SECRET)
    (root / "secret.jsonl").write_text(json.dumps({"prompt": SECRET, "completion": "x"}) + "\n")
    (root / "runs-other").mkdir()  # shares the runs folder's name as a prefix: "/runs" must not match "/runs-other"
    (root / "runs-other" / "secret.txt").write_text(SECRET)
    (runs / "link.txt").symlink_to(root / "secret.txt")  # a link inside the served folder, pointing out of it
    with serve(tiny_model_dir, runs, WORKBENCH_PUBLIC="1") as app:
        yield app, runs


def get(app, path: str) -> tuple[int, str]:
    """GET a raw path: http.client sends it as written, without normalising '..' or %-escapes away."""
    url = urllib.parse.urlsplit(app.local_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


def post(app, path: str, payload: dict) -> tuple[int, str]:
    url = urllib.parse.urlsplit(app.local_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


def displayed(content) -> str:
    """The text a chat message carries to the page (Gradio 6 returns it as typed parts)."""
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def client_for(app):
    from gradio_client import Client

    return Client(app.local_url, verbose=False)


def traversal_attempts(app, runs: Path, tiny_model_dir: Path) -> list[str]:
    root = runs.parent
    return [
        "/gradio_api/file=../../../../../../etc/passwd",
        "/gradio_api/file=..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/gradio_api/file=%252e%252e%252fetc%252fpasswd",
        "/gradio_api/file=/etc/passwd",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/gradio_api/file=//etc/passwd",
        "/file=/etc/passwd",
        "/gradio_api/file=pyproject.toml",  # the server's working directory is the repository
        "/gradio_api/file=app.py",
        f"/gradio_api/file={REPO}/pyproject.toml",
        f"/gradio_api/file={REPO}/workbench/models.py",
        f"/gradio_api/file={tiny_model_dir}/config.json",  # the served model's own folder
        f"/gradio_api/file={runs}/../secret.txt",
        f"/gradio_api/file={runs}/%2e%2e/secret.txt",
        f"/gradio_api/file={root}/runs-other/secret.txt",
        f"/gradio_api/file={runs}/link.txt",
        f"/gradio_api/file={runs}",  # a folder listing
        f"/gradio_api/file={app.local_url}gradio_api/file={runs}/demo/config.yaml",  # the server fetching from loopback
        "/gradio_api/file=file:///etc/passwd",
    ]


def test_file_routes_serve_nothing_outside_the_runs_folder(site, tiny_model_dir):
    app, runs = site
    status, body = get(app, f"/gradio_api/file={runs}/demo/config.yaml")
    assert (status, body) == (200, "name: demo\n"), "the runs folder itself must stay downloadable"
    pyproject = (REPO / "pyproject.toml").read_text()
    for path in traversal_attempts(app, runs, tiny_model_dir):
        status, body = get(app, path)
        assert status in (400, 403, 404, 422), (path, status)
        assert SECRET not in body and "root:" not in body and pyproject[:200] not in body, path


def test_visitors_cannot_name_server_paths(site):
    from gradio_client.exceptions import AppError

    app, runs = site
    client = client_for(app)
    for value in ("/etc/passwd", "../../etc/passwd", "broken/../../../etc/passwd"):
        with pytest.raises(AppError, match="not in the list of choices"):
            client.predict(value, 256, api_name="/load_data")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("/etc/passwd", "x", "sft", "lora", 8, 16, 2e-4, 1, 1, 4, 128, 0.1, api_name="/start")
    for sides in (("../../etc", "base"), ("base", "/tmp")):
        with pytest.raises(AppError, match="not in the list of choices"):
            client.predict(*arena_form("hi", *sides), api_name="/arena")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("../../etc", 4, False, "all", api_name="/evaluate")
    # A file reference must be a file this visitor uploaded, not one that is on the server already.
    # gradio_client would upload a local path itself, so this request is written by hand, as an attacker would.
    reference = {"path": str(runs.parent / "secret.jsonl"), "meta": {"_type": "gradio.FileData"}}
    status, body = post(app, "/gradio_api/call/upload", {"data": [reference]})
    assert status == 200, body
    status, events = get(app, f"/gradio_api/call/upload/{json.loads(body)['event_id']}")
    assert "event: error" in events and SECRET not in events, events


def test_upload_size_and_length_caps(site, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    app, _ = site
    client = client_for(app)
    big = tmp_path / "big.jsonl"
    line = json.dumps({"prompt": "x" * 1000, "completion": "y"}) + "\n"
    big.write_text(line * (6 * 2**20 // len(line)))  # 6 MB, over the 5 MB cap
    with pytest.raises(ValueError, match="exceeds the maximum file size of 5242880 bytes"):
        client.predict(handle_file(str(big)), api_name="/upload")  # gradio_client checks before sending
    # The server refuses it too, for a client that does not check.
    import httpx

    with big.open("rb") as f:
        response = httpx.post(f"{app.local_url}gradio_api/upload", files={"files": ("big.jsonl", f)}, timeout=60)
    assert response.status_code == 413, response.text
    small = tmp_path / "small.jsonl"
    small.write_text(line)
    with small.open("rb") as f:
        assert httpx.post(f"{app.local_url}gradio_api/upload", files={"files": ("small.jsonl", f)}).status_code == 200
    with pytest.raises(AppError, match="greater than maximum value 256"):
        client.predict("sentiment_json", 2048, api_name="/load_data")  # max_length beyond the public 256


def test_public_runs_are_capped_and_do_not_reveal_the_upload(site, tmp_path):
    from gradio_client import handle_file

    from test_app import train_form
    from workbench.training import load_run_config
    from workbench.ui.run_manager import MANAGER

    app, runs = site
    client = client_for(app)
    rows = tmp_path / "mine.jsonl"
    rows.write_text("".join(json.dumps({"prompt": f"Say {i}", "completion": f"{i}"}) + "\n" for i in range(700)))
    client.predict(handle_file(str(rows)), api_name="/upload")
    MANAGER.wait(timeout=120)
    assert client.predict(*train_form("upload", "public-caps", max_steps=1), api_name="/start") == "started public-caps"
    state = MANAGER.wait(timeout=180)
    assert state.status == "completed", state.log
    card = (runs / "public-caps" / "README.md").read_text()
    assert "450 training / 50 eval examples" in card, "700 rows cut to the public 500, then split 90/10"
    assert load_run_config(runs / "public-caps").data == "upload:mine.jsonl"
    # Every run folder can be downloaded by every visitor: none of its text files may hold the upload's path.
    upload_dir = str(Path(tempfile.gettempdir()) / "gradio")
    for path in (runs / "public-caps").rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".md", ".json", ".jsonl"):
            assert upload_dir not in path.read_text(errors="replace"), path


def test_form_caps_steps_and_length_in_public_mode(monkeypatch):
    from workbench.ui.train_tab import form_config

    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    config = form_config("m", "sentiment_json", None, "", "sft", "lora", 8, 16, 2e-4, 1, 100_000, 4, 4096, 0.1)
    assert (config.max_steps, config.max_length) == (30, 256)
    config = form_config("m", "sentiment_json", None, "", "sft", "lora", 8, 16, 2e-4, 3, 0, 4, 128, 0.1)
    assert config.max_steps == 30, "epochs alone would let a run go on for as long as the data lasts"


def test_uploads_and_votes_stay_in_their_session(site, tmp_path):
    from gradio_client import handle_file

    app, runs = site
    alice, bob = client_for(app), client_for(app)
    mine = tmp_path / "alice.jsonl"
    mine.write_text(json.dumps({"prompt": "Alice's secret", "completion": "ok"}) + "\n")
    alice.predict(handle_file(str(mine)), api_name="/upload")
    summary, report, *_ = alice.predict("upload", 256, api_name="/load_data")
    assert "alice.jsonl" in summary
    summary, report, *_ = bob.predict("upload", 256, api_name="/load_data")
    assert "no file uploaded yet" in report and "alice" not in summary + report

    # Votes: one server-wide log the file route never serves; each visitor's rows come from its own session
    # (test_arena_app.py::test_two_sessions_chat_at_once_vote_into_one_log_and_never_see_each_other).
    log = runs / "arena" / "votes.jsonl"
    log.parent.mkdir(exist_ok=True)
    log.write_text(json.dumps({"sides": {"a": "base", "b": "demo"}, "choice": "a", "conversations": "Say hi"}) + "\n")
    status, body = get(app, f"/gradio_api/file={log}")
    assert status == 403 and "Say hi" not in body


def test_generation_is_capped_and_shares_one_pool(site, monkeypatch):
    app, _ = site
    pools = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in app.fns.values()}
    assert pools["respond"] == pools["answer"] == pools["evaluate"] == ("generate", public.PUBLIC_CAPS.generations)

    lock, running, peak = threading.Lock(), [0], [0]

    def slow_stream(model, tokenizer, messages, settings):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            for word in ("one ", "two"):
                time.sleep(0.3)
                yield word
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr("workbench.ui.chat_tab.stream_chat", slow_stream)
    clients = [client_for(app) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda c: c.predict("hi", [], 0.0, 0.9, 1.1, 16, api_name="/respond"), clients))
    assert [displayed(history[-1]["content"]) for history, _ in answers] == ["one two"] * 6
    assert peak[0] == public.PUBLIC_CAPS.generations


def test_prompt_length_is_capped(site):
    from gradio_client.exceptions import AppError

    app, _ = site
    with pytest.raises(AppError, match="characters long; this server takes up to 8000"):
        client_for(app).predict("x" * 9000, [], 0.0, 0.9, 1.1, 16, api_name="/respond")


def test_model_output_is_shown_as_text(site, monkeypatch):
    from workbench.ui.chat_tab import message_text

    app, _ = site
    markup = '<script>alert(1)</script><img src=x onerror="alert(2)"> & <b>bold</b>'
    monkeypatch.setattr("workbench.ui.chat_tab.stream_chat", lambda *args: iter([markup]))
    history, _ = client_for(app).predict("<i>hi</i>", [], 0.0, 0.9, 1.1, 16, api_name="/respond")
    escaped = markup.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert [displayed(m["content"]) for m in history] == ["&lt;i&gt;hi&lt;/i&gt;", escaped]
    assert message_text(history[1]["content"]) == markup, "the next turn gives the model its own text back"


# ---- loading: safetensors only, never remote code -------------------------------------------------


def test_pickled_weights_are_refused(tmp_path, tiny_model_dir):
    import shutil

    import torch
    from safetensors.torch import load_file

    # The same model with its weights as a pickle, the format older checkpoints on the Hub still use.
    folder = shutil.copytree(tiny_model_dir, tmp_path / "pickled")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(WorkbenchError, match="only safetensors"):
        load_model(str(folder))


def test_pickled_adapters_are_refused(tmp_path):
    from workbench.compare import adapter_dir

    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(WorkbenchError, match="only safetensors adapters are loaded"):
        adapter_dir(tmp_path)


def test_load_model_asks_for_safetensors_and_no_remote_code(tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    calls = []
    for cls in (AutoModelForCausalLM, AutoTokenizer):
        original = cls.from_pretrained

        def record(path, *args, _original=original, _cls=cls, **kwargs):
            calls.append((_cls.__name__, kwargs))
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", record)
    load_model(str(tiny_model_dir))
    model_kwargs = dict(calls)["AutoModelForCausalLM"]
    assert model_kwargs["use_safetensors"] is True and model_kwargs["trust_remote_code"] is False
    assert dict(calls)["AutoTokenizer"]["trust_remote_code"] is False


def test_no_code_path_unpickles_or_trusts_remote_code():
    """Every loader call in the package and the app, read from the source: a new one cannot slip in unnoticed."""
    banned_calls = {("torch", "load"), ("pickle", "load"), ("pickle", "loads"), ("joblib", "load")}
    problems = []
    for path in [*sorted((REPO / "workbench").rglob("*.py")), REPO / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (func.value.id, func.attr) in banned_calls:
                problems.append(f"{path.name}:{node.lineno}: {func.value.id}.{func.attr}")
            for keyword in node.keywords:
                unsafe = {"trust_remote_code": True, "use_safetensors": False, "safe_serialization": False, "weights_only": False}
                if keyword.arg in unsafe and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is not unsafe[keyword.arg]):
                    problems.append(f"{path.name}:{node.lineno}: {keyword.arg}={ast.unparse(keyword.value)}")
    assert not problems, problems
