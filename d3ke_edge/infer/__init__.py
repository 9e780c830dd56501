"""Video in, OpenSim kinematics out: ``run_infer`` (the causal per-frame loop) and ``write_outputs`` (the files)."""
