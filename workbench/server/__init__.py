"""Server policy with no Gradio: the caps of a public server, the training queue, the model a server shares,
the request-size limit, and ZeroGPU's ``@spaces.GPU`` calls. ``workbench/ui`` builds the page on top of it.
"""
