"""CLI verbs, one module each; `workbench.cli` discovers them."""
