"""stablesweep: are neural networks for image reconstruction accurate *and* stable?

The measurement model lives in :mod:`stablesweep.transforms`, :mod:`stablesweep.levels`,
:mod:`stablesweep.sampling`, :mod:`stablesweep.operators` and :mod:`stablesweep.signals`;
the reconstruction networks in :mod:`stablesweep.networks`; the stability test in
:mod:`stablesweep.attacks`; the sweep engine in :mod:`stablesweep.sweep`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stablesweep")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"
