"""traffic_mpc: learning to drive in dense highway traffic from logged trajectories."""

__version__ = "0.1.0"
