r"""A user's own network, wrapped so that it is swept and attacked like the others.

A config entry ``{name: custom, factory: "package.module:function", params: {...}}``
names a function that receives the operator and the parameters and returns a
:class:`torch.nn.Module` (or any callable) mapping measurements to images::

    # mypackage/nets.py
    def make(A, width=32):
        return MyNet(A, width)          # MyNet()(y): (b, m) -> (b, *A.shape)

    net = build_network("custom", A, factory="mypackage.nets:make", width=64)

:class:`CustomNetwork` imports the function (a failed import names the factory string
and the ``ImportError``), calls it as ``function(A, **params)`` — with ``depth=depth``
added when ``depth`` is given and the function accepts it — and runs the returned
module once on a probe batch to check that it maps ``(2, m)`` measurements to
``(2, *A.shape)`` images.

The wrapped module receives measurements flattened to ``(b, m)`` in ``A.dtype``;
its output is reshaped to the caller's batch shape and cast to ``A.dtype``. When the
module has ``iterates`` and ``iterate_depths`` (e.g. it is itself a
:class:`~stablesweep.networks.core.base.ReconstructionNetwork`) they are used; otherwise the
network has one iterate at depth ``depth`` (default: the module's ``depth`` attribute,
else 1). ``checkpointing`` is passed on to the module when it has that attribute.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import torch

from .core.base import ReconstructionNetwork, check_int

__all__ = ["CustomNetwork", "resolve_factory"]

_FACTORY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
#: batch size of the probe input checked at build time
PROBE_BATCH = 2


def resolve_factory(factory: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (a callable is returned as it is).

    Parameters
    ----------
    factory : str or callable
        ``"package.module:function"`` (the function may be an attribute path,
        ``"pkg.mod:Class.method"``).

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        A string not of the form ``package.module:function``.
    ImportError
        The module cannot be imported or lacks the function; the message names the
        factory string and the original error (kept as ``__cause__``).
    TypeError
        The object found is not callable.
    """
    if callable(factory):
        return factory
    if not isinstance(factory, str) or not _FACTORY.match(factory):
        raise ValueError(
            f"factory {factory!r} is not valid; expected 'package.module:function'"
        )
    module_name, _, attr = factory.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(
            f"custom network factory {factory!r}: cannot import module {module_name!r} "
            f"({type(err).__name__}: {err})"
        ) from err
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as err:
            raise ImportError(
                f"custom network factory {factory!r}: module {module_name!r} has no "
                f"attribute {attr!r} (AttributeError: {err})"
            ) from err
    if not callable(obj):
        raise TypeError(f"custom network factory {factory!r} is a {type(obj).__name__}, "
                        "not a callable")
    return obj


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


class CustomNetwork(ReconstructionNetwork):
    r"""Wrap a user's module :math:`y \mapsto x` as a reconstruction network.

    Parameters
    ----------
    A : operator
        The measurement operator (passed to the factory).
    depth : int, optional
        Depth reported for the network (operator applications); passed to the factory
        as ``depth=`` when it accepts it. Default: the module's ``depth`` attribute, else 1.
    factory : str or callable
        ``"package.module:function"`` or the function itself, called as
        ``factory(A, **params)``.
    probe : bool
        Check the output shape on a probe batch at build time (default ``True``).
    **params
        Passed to the factory.

    Raises
    ------
    ImportError
        The factory cannot be imported (the message names the factory and the error).
    TypeError
        The factory does not return a callable.
    ValueError
        The module's output on the probe batch ``(2, m)`` does not have shape
        ``(2, *A.shape)``.
    """

    name = "custom"
    #: not an unrolled algorithm: no family of depths, no guarantee such as y = 0 -> 0;
    #: generic tests over the registry that assume those skip entries with False here
    algorithmic: bool = False

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        factory: str | Callable[..., Any],
        probe: bool = True,
        **params: Any,
    ):
        super().__init__(A)
        fn = resolve_factory(factory)
        self.factory = factory if isinstance(factory, str) else (
            f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        )
        self.params = dict(params)
        kwargs = dict(params)
        if depth is not None:
            depth = check_int("depth", depth)
            if _accepts(fn, "depth"):
                kwargs["depth"] = depth
        module = fn(A, **kwargs)
        if not callable(module):
            raise TypeError(
                f"custom network factory {self.factory!r} returned a "
                f"{type(module).__name__}; expected a torch.nn.Module (or callable) mapping "
                "measurements (b, m) to images (b, *A.shape)"
            )
        if isinstance(module, torch.nn.Module):
            self.module = module
        else:
            object.__setattr__(self, "module", module)
        self._depth = depth if depth is not None else int(getattr(module, "depth", 1))
        if probe:
            self._probe()

    # ---- checks
    def _probe(self) -> None:
        g = torch.Generator().manual_seed(0)
        y = torch.randn(PROBE_BATCH, self.m, dtype=self.dtype, generator=g)
        with torch.no_grad():
            try:
                out = self.module(y)
            except Exception as err:
                raise ValueError(
                    f"custom network {self.factory!r} failed on a probe input of shape "
                    f"{tuple(y.shape)} ({self.dtype}): {type(err).__name__}: {err}"
                ) from err
        expected = (PROBE_BATCH, *self.shape)
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        if got != expected:
            raise ValueError(
                f"custom network {self.factory!r} returned shape {got} for a probe input of "
                f"shape {tuple(y.shape)}; expected {expected} = (batch, *A.shape)"
            )

    # ---- interface
    @property
    def depth(self) -> int:
        return self._depth

    @property
    def n_layers(self) -> int:
        n = getattr(self.module, "n_layers", None)
        if isinstance(n, int):
            return n
        if isinstance(self.module, torch.nn.Module):
            count = sum(1 for m in self.module.modules()
                        if isinstance(m, torch.nn.Linear | torch.nn.modules.conv._ConvNd))
            return max(count, 1)
        return 1

    @property
    def iterate_depths(self) -> list[int]:
        depths = getattr(self.module, "iterate_depths", None)
        if depths is not None and hasattr(self.module, "iterates"):
            return [int(d) for d in depths]
        return [self._depth]

    @property
    def checkpointing(self) -> bool:
        return bool(self.__dict__.get("_ckpt", False))

    @checkpointing.setter
    def checkpointing(self, value: bool) -> None:
        self.__dict__["_ckpt"] = bool(value)
        module = self.__dict__.get("_modules", {}).get("module") or self.__dict__.get("module")
        if module is not None and hasattr(module, "checkpointing"):
            module.checkpointing = bool(value)

    def _call(self, fn: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor,
              lead: int) -> torch.Tensor:
        y = self.check_measurements(y)
        batch = tuple(y.shape[:-1])
        out = fn(y.reshape(-1, self.m))
        out = out.to(self.dtype) if out.dtype != self.dtype else out
        nd = len(self.shape)
        return out.reshape(*out.shape[:lead], *batch, *out.shape[out.ndim - nd:])

    def forward(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """The module's output, shape ``(..., *A.shape)``, ``A.dtype``."""
        if x0 is not None:
            raise ValueError("x0 is not supported by custom networks; expected None")
        return self._call(self.module, y, 0)

    def iterates(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """The module's ``iterates`` when it has them, else ``forward(y)[None]``."""
        if x0 is not None:
            raise ValueError("x0 is not supported by custom networks; expected None")
        if hasattr(self.module, "iterates") and hasattr(self.module, "iterate_depths"):
            return self._call(self.module.iterates, y, 1)
        return self.forward(y).unsqueeze(0)

    def extra_repr(self) -> str:
        return f"factory={self.factory!r}, depth={self.depth}, m={self.m}, shape={self.shape}"
