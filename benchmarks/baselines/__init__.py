"""Plain TRL training scripts, written as TRL's documentation shows, that the workbench is measured against."""
