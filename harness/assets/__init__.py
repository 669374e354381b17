"""Files a run needs from elsewhere, handled as untrusted: downloads (resumable, verified, extracted
safely), the weights cache, and loading checkpoints without running their code."""
