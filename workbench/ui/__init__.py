"""The Gradio app's tabs, one module each; `app.py` composes them."""
