"""Server policy with no Gradio: the caps of a public server, the training queue, the request-size limit, and
ZeroGPU's ``@spaces.GPU`` calls. ``workbench/ui`` builds the page on top of it.
"""
