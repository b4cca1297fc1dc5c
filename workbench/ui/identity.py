"""The learner bar at the top of the page: who this browser is, kept in its localStorage so a reload keeps it.

The identity comes from, in order: Gradio ``auth`` (the teacher set ``WORKBENCH_AUTH``), the Hugging Face login
on a Space, a name chosen here (workshop mode), or an anonymous browser token (one person's own machine). Every
callback that touches runs asks :func:`current` with the session's ``gr.State``; the browser's stored value is
only a name and a random token, checked against the name's claim (``workbench.workspace.learners.claim``), so editing
localStorage to someone else's name gives nothing.
"""

from __future__ import annotations

import gradio as gr

from workbench.errors import WorkbenchError
from workbench.server import public
from workbench.workspace.learners import (
    Identity,
    anonymous,
    browser_secret,
    check_current,
    claim,
    new_token,
    workshop_enabled,
)

STORAGE_KEY = "workbench-learner"


def current(who: Identity | None, request: gr.Request | None) -> Identity:
    """The identity of the page making this call; a WorkbenchError in workshop mode when it has no name yet."""
    username = getattr(request, "username", None)
    if username:  # Gradio auth: the server checked the password, nothing the page sends can change it
        return claim(username, "login")
    if who is not None:
        return check_current(who)
    if not workshop_enabled():
        # A client that never loaded the page (an API script): its session is its identity.
        return anonymous(f"session-{getattr(request, 'session_hash', '') or 'local'}")
    raise WorkbenchError("type your name at the top of the page first: your runs are kept under it")


def _greeting(identity: Identity | None) -> str:
    if identity is None:
        return "Type your name to join the workshop: your runs, uploads and votes are kept under it."
    if identity.learner is None:
        return ""
    return f"Signed in as {identity.display} (runs folder {identity.learner}/)"


def restore(stored: dict | None, request: gr.Request, profile: gr.OAuthProfile | None = None):
    """On page load: (identity, value to store in the browser, greeting)."""
    stored = stored if isinstance(stored, dict) else {}
    token = stored.get("token") if isinstance(stored.get("token"), str) and len(stored["token"]) >= 16 else new_token()
    name = stored.get("name") if isinstance(stored.get("name"), str) else None
    identity, note = None, ""
    try:
        if getattr(request, "username", None):
            identity = current(None, request)
        elif profile is not None:
            identity = claim(profile.username, "hf")
        elif not workshop_enabled():
            identity = anonymous(token)
        elif name:
            identity = claim(name, "name", token)
    except WorkbenchError as exc:
        note = f" ({exc})"
    return identity, {"name": name, "token": token}, _greeting(identity) + note


def sign_in(name: str, stored: dict | None, request: gr.Request):
    """Claim ``name`` for this browser: (identity, value to store, greeting)."""
    stored = stored if isinstance(stored, dict) else {}
    token = stored.get("token") if isinstance(stored.get("token"), str) and len(stored["token"]) >= 16 else new_token()
    if getattr(request, "username", None):
        return current(None, request), {"name": None, "token": token}, "Signed in by the server's login."
    try:
        identity = claim((name or "").strip(), "name", token)
    except WorkbenchError as exc:
        return None, {"name": None, "token": token}, f"Not signed in: {exc}"
    return identity, {"name": identity.display, "token": token}, _greeting(identity)


def build_identity_bar(app: gr.Blocks) -> gr.State:
    """The bar, and the per-session identity every tab's callbacks take as an input."""
    stored = gr.BrowserState({}, storage_key=STORAGE_KEY, secret=browser_secret())
    who = gr.State(None)
    workshop = workshop_enabled()
    with gr.Row(visible=workshop, elem_id="wb-identity"):
        name = gr.Textbox(
            label="Your name",
            placeholder="e.g. ana",
            max_length=64,
            scale=2,
            info="Kept in this browser: a reload keeps it. Another browser cannot take it.",
        )
        join = gr.Button("Join", scale=0)
        if workshop and public.hf_login_available():  # elsewhere learners type their names
            gr.LoginButton(scale=0)
    # Plain text, never Markdown: the greeting holds a name the visitor typed.
    greeting = gr.Textbox(show_label=False, interactive=False, container=False, visible=workshop, elem_id="wb-greeting")
    app.load(restore, inputs=stored, outputs=[who, stored, greeting], api_name="identity")
    gr.on(
        [join.click, name.submit], sign_in, inputs=[name, stored], outputs=[who, stored, greeting], api_name="sign_in"
    )
    return who
