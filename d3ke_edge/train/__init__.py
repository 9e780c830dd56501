"""Training: typed configs, D3KE losses and metrics, the per-frame loop, the temporal stage, checkpoints."""
