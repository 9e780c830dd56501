"""d3ke-edge: single-camera 3D human kinematics (D3KE) from GPU training to the phone.

``import d3ke_edge`` is light: heavy or optional packages (opensim, coremltools, litert) are imported inside
the stages that need them.
"""

from .skeleton import ForwardKinematics, Skeleton, load_osim

__version__ = "0.1.0"
__all__ = ["ForwardKinematics", "Skeleton", "load_osim", "__version__"]
