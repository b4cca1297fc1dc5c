"""The workspace: runs and the people they belong to, with no Gradio.

A run folder's layout and how it is read (``runs``) and who may see or change which run (``learners``). Every
caller (the CLI, the app's tabs, the Arena, evaluation, export, training and the queue) asks here.
"""
