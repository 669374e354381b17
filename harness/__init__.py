"""harness: measure how well colorization models turn grayscale photos back into colour."""

__version__ = "0.1.0"
