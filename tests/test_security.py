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
from conftest import TRAIN_FORM, arena_form

from workbench import WorkbenchError, load_model
from workbench.server import public

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
    assert status in (403, 404) and "name: demo" not in body, "a public server hands out each visitor's files as copies"
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
    from conftest import train_form
    from gradio_client import handle_file

    from workbench.server.run_manager import MANAGER
    from workbench.training import load_run_config

    app, runs = site
    client = client_for(app)
    rows = tmp_path / "mine.jsonl"
    rows.write_text("".join(json.dumps({"prompt": f"Say {i}", "completion": f"{i}"}) + "\n" for i in range(700)))
    client.predict(handle_file(str(rows)), api_name="/upload")
    MANAGER.wait(timeout=120)
    assert client.predict(*train_form("upload", "public-caps", max_steps=1), api_name="/start") == "started public-caps"
    state = MANAGER.wait(timeout=180)
    assert state.status == "completed", state.log
    assert not (runs / "public-caps").exists(), "a public visitor's run lives in that visitor's own folder"
    (run,) = runs.glob("_visitors/*/public-caps")
    card = (run / "README.md").read_text()
    assert "450 training / 50 eval examples" in card, "700 rows cut to the public 500, then split 90/10"
    assert load_run_config(run).data == "upload:mine.jsonl"
    # A visitor downloads their own run folder: none of its text files may hold the upload's path.
    upload_dir = str(Path(tempfile.gettempdir()) / "gradio")
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".md", ".json", ".jsonl"):
            assert upload_dir not in path.read_text(errors="replace"), path


def test_form_caps_steps_and_length_in_public_mode(monkeypatch):
    from workbench.ui.train_tab import form_config

    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    form = {"data": "sentiment_json", "upload_path": None, "name": ""} | TRAIN_FORM
    config = form_config("m", form | {"max_steps": 100_000, "max_length": 4096})
    assert (config.max_steps, config.max_length) == (30, 256)
    config = form_config("m", form | {"epochs": 3, "max_steps": 0})
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
    assert (
        pools["respond"] == pools["answer"] == pools["run_evaluation"] == ("generate", public.PUBLIC_CAPS.generations)
    )

    lock, running, peak = threading.Lock(), [0], [0]

    def slow_stream(model, sides, conversations, settings=None, run_dirs=None):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            text = ""
            for word in ("one ", "two"):
                time.sleep(0.3)
                text += word
                yield [text]
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr("workbench.inference.answers.stream_answers", slow_stream)
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
    from workbench.ui.chat_text import message_text

    app, _ = site
    markup = '<script>alert(1)</script><img src=x onerror="alert(2)"> & <b>bold</b>'
    monkeypatch.setattr("workbench.inference.answers.stream_answers", lambda *args: iter([[markup]]))
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
    from workbench.inference.bench import adapter_dir

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
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in banned_calls
            ):
                problems.append(f"{path.name}:{node.lineno}: {func.value.id}.{func.attr}")
            for keyword in node.keywords:
                unsafe = {
                    "trust_remote_code": True,
                    "use_safetensors": False,
                    "safe_serialization": False,
                    "weights_only": False,
                }
                if keyword.arg in unsafe and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is not unsafe[keyword.arg]
                ):
                    problems.append(f"{path.name}:{node.lineno}: {keyword.arg}={ast.unparse(keyword.value)}")
    assert not problems, problems


# ---- every endpoint, oversized inputs (#25) ------------------------------------------------------------------

# Characters: far over every cap (prompts 8,000); the first is refused by the request-body cap (256 KB), the
# second fits under it and so reaches each endpoint's own checks.
OVERSIZED = (1_000_000, 200_000)
MEMORY_BOUND_MB = 500  # the server's resident memory may grow by at most this over the whole sweep
DISK_BOUND_MB = 64  # ...and its disk (Gradio's cache, the runs folder, vote folders) by at most this
ANSWER_BOUND = 256_000  # characters in one endpoint's whole answer: an oversized input must not come back whole
# Characters in an error message beyond the value it refuses: Gradio's choice check quotes a refused value once
# (the request-body cap bounds that), so an error may echo what was sent, never amplify it.
ERROR_BOUND = 2_000


def parquet_bomb(folder: Path) -> Path:
    """A Parquet file of a few KB that expands to ~60 MB of text: the upload cap only sees the few KB."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "bomb.parquet"
    pq.write_table(
        pa.table({"prompt": [f"{i} " + "a" * 1_000_000 for i in range(60)], "completion": ["b"] * 60}),
        path,
        compression="zstd",
    )
    return path


def kind(parameter: dict) -> str | None:
    """The JSON-schema type of an input ("string", "array", ...), or None where the schema says otherwise."""
    schema = parameter.get("type")
    value = schema.get("type") if isinstance(schema, dict) else None
    return value if isinstance(value, str) else None


def oversized(parameter: dict, bomb: Path, size: int):
    """An oversized value for a string, file or conversation input; None for any other kind (it keeps its default)."""
    from gradio_client import handle_file

    schema = json.dumps(parameter.get("type") or {})
    if "FileData" in schema:
        return handle_file(str(bomb))
    if parameter["component"] == "Chatbot":
        return [{"role": "user", "content": "x" * size}, {"role": "assistant", "content": "y" * size}]
    if kind(parameter) == "string":
        return "x" * size
    if kind(parameter) == "array":
        return ["x" * size]
    return None


def ordinary(parameter: dict):
    if parameter.get("parameter_has_default"):
        return parameter["parameter_default"]
    return {"string": "hi", "number": 1, "integer": 1, "boolean": False, "array": []}.get(kind(parameter))


def read_the_upload(client, endpoints: dict) -> None:
    """Make every endpoint whose input can name this visitor's upload read it (the bomb, just uploaded)."""
    for reader, spec in endpoints.items():
        picks = [
            i
            for i, p in enumerate(spec["parameters"])
            if isinstance(p.get("type"), dict) and "upload" in (p["type"].get("enum") or [])
        ]
        if not picks:
            continue
        args = ["upload" if i in picks else ordinary(p) for i, p in enumerate(spec["parameters"])]
        try:
            reply = client.submit(*args, api_name=reader).result(timeout=180)
            assert len(json.dumps(reply, default=str)) < ANSWER_BOUND, reader
        except TimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001  (any refusal counts, if it is short)
            assert len(str(exc)) < ERROR_BOUND, (reader, str(exc)[:300])


def disk_mb(*folders: Path) -> float:
    total = 0
    for folder in folders:
        for path in folder.rglob("*") if folder.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total / 2**20


def test_every_endpoint_bounds_oversized_inputs(site, tmp_path):
    """Gradio's own API info lists the endpoints, so a tab added later is swept too: each string, file or
    conversation input gets an oversized value (1 MB and 200 KB strings; a Parquet bomb for files), one at a time,
    from a fresh session as a script would send it. Each answer must be a bounded error (at most the refused value
    quoted once, plus 2,000 characters) or a capped result, and the server's memory and disk must stay within the
    bounds stated in docs/security.md."""
    import gc
    import os

    import psutil

    from workbench.server.run_manager import MANAGER

    app, runs = site
    bomb = parquet_bomb(tmp_path)
    info = client_for(app).view_api(return_format="dict", print_info=False)
    endpoints = info["named_endpoints"]
    # Named only as a floor: the sweep covers whatever the app exposes, tabs added later included.
    assert {"/upload", "/start", "/load_data"} <= set(endpoints) and len(endpoints) >= 15, sorted(endpoints)
    cache = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    votes = lambda: [p for p in Path(tempfile.gettempdir()).glob("workbench-votes-*")]  # noqa: E731
    gc.collect()
    process = psutil.Process()
    rss_before, disk_before = process.memory_info().rss / 2**20, disk_mb(cache, runs, *votes())
    swept, outcomes = 0, {}
    for name, endpoint in endpoints.items():
        parameters = endpoint["parameters"]
        for position, parameter in enumerate(parameters):
            for size in OVERSIZED:
                value = oversized(parameter, bomb, size)
                if value is None:
                    break
                args = [value if i == position else ordinary(p) for i, p in enumerate(parameters)]
                client = client_for(app)  # a new visitor each time: nothing per-session softens the load
                try:
                    answer = client.submit(*args, api_name=name).result(timeout=180)
                except TimeoutError:
                    raise
                except Exception as exc:  # AppError from the endpoint, or the server's 413 for an oversized request
                    assert len(str(exc)) < ERROR_BOUND + size, (name, parameter["label"], size, str(exc)[:300])
                    outcomes[(name, str(parameter["label"]), size)] = f"error: {type(exc).__name__}: {str(exc)[:80]}"
                else:
                    length = len(json.dumps(answer, default=str))
                    assert length < ANSWER_BOUND, (name, parameter["label"], size, length)
                    outcomes[(name, str(parameter["label"]), size)] = f"answered in {length} characters"
                swept += 1
                if name == "/upload" and size == OVERSIZED[0]:
                    read_the_upload(client, endpoints)
                MANAGER.wait(timeout=180)  # an endpoint that started a run: let it end before the next
    gc.collect()
    grown_rss = process.memory_info().rss / 2**20 - rss_before
    grown_disk = disk_mb(cache, runs, *votes()) - disk_before
    print("\n".join(f"{k}: {v}" for k, v in outcomes.items()), f"\nRSS +{grown_rss:.0f} MB, disk +{grown_disk:.1f} MB")
    assert swept >= 30, outcomes
    assert grown_rss < MEMORY_BOUND_MB, (grown_rss, outcomes)
    assert grown_disk < DISK_BOUND_MB, (grown_disk, outcomes)


def test_a_public_visitor_cannot_reach_another_visitors_run(tiny_model_dir, tmp_path, make_adapter_run):
    """Two visitors of a public server: each one's runs are their own. Visitor B sends visitor A's run name to every
    choice input of every endpoint in Gradio's API info; nothing lists, answers with, evaluates, exports, downloads
    or deletes A's run. A sees and keeps it."""
    from gradio_client.exceptions import AppError

    from workbench.workspace.learners import anonymous

    runs = tmp_path / "runs"
    with serve(tiny_model_dir, runs, WORKBENCH_PUBLIC="1") as app:
        a, b = client_for(app), client_for(app)
        a_folder = anonymous(f"session-{a.session_hash}").folder
        assert a_folder.parent.name == "_visitors" and a_folder != anonymous(f"session-{b.session_hash}").folder
        make_adapter_run(a_folder / "mine", tiny_model_dir, seed=1)

        listers = ("/runs", "/arena_runs", "/chat_models", "/evaluate_runs", "/export_runs")
        for endpoint in listers:
            args = [[]] if endpoint == "/runs" else []
            assert "mine" in str(a.predict(*args, api_name=endpoint)), f"A lists its own run through {endpoint}"
            assert "mine" not in str(b.predict(*args, api_name=endpoint)), f"B lists nothing of A's: {endpoint}"

        endpoints = b.view_api(return_format="dict", print_info=False)["named_endpoints"]
        swept = []
        for name, spec in endpoints.items():
            parameters = spec["parameters"]
            for position, parameter in enumerate(parameters):
                if parameter.get("component") not in ("Dropdown", "Checkboxgroup") or name.startswith("/teacher"):
                    continue
                value = ["mine"] if kind(parameter) == "array" else "mine"
                args = [value if i == position else ordinary(p) for i, p in enumerate(parameters)]
                try:
                    answer = b.submit(*args, api_name=name).result(timeout=120)
                except AppError:
                    answer = None  # Gradio's choice check, or the handler's own refusal
                swept.append(name)
                assert "mine.zip" not in str(answer) and str(a_folder) not in str(answer), (name, str(answer)[:300])
                assert (a_folder / "mine" / "config.yaml").is_file(), f"{name} deleted A's run"
        covered = {"/arena", "/respond", "/evaluate", "/export", "/delete_run", "/download_run", "/resume_run"}
        assert covered <= set(swept), sorted(covered - set(swept))
        assert not list(b_folder_runs(runs, a_folder)), "B's requests made no run of A's name anywhere but B's own"


def b_folder_runs(runs, a_folder):
    """Run folders named like A's run outside A's own folder."""
    return [p for p in runs.rglob("mine") if a_folder not in p.parents]
