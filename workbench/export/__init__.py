"""Export: a run out of the workbench. The adapter merged into its base, GGUF with an Ollama Modelfile, and
the Hugging Face Hub push with its model card.
"""
