# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Analysing a sweep: xarray on the store, pandas on the exported table
#
# A sweep writes one Zarr store, `results/<experiment>/sweep.zarr`; `stablesweep analyse`
# writes its fits to `fits.nc`. This notebook works on the raw store:
#
# 1. open it with xarray and see what it holds (and how far the sweep is);
# 2. select and aggregate along the sweep axes (ok trials only, full depth, mean over
#    trials);
# 3. redraw the *error against depth* figure of `stablesweep figures` from the raw
#    store, and check it against the package's own figure;
# 4. export the store as one long table (`stablesweep export`) and do the same
#    aggregation with pandas.
#
# It is `docs/analysis_example.py` (a jupytext percent script) paired with
# `docs/analysis_example.ipynb`; the test suite runs it on a tiny store
# (`tests/test_analysis_example.py`). To run it on your own sweep, set the store in
# the next cell or in the environment: `STABLESWEEP_STORE=results/quick/sweep.zarr`.
# It works on a store whose sweep is still running (pending cells are NaN in xarray and
# left out of the table).

# %% tags=["parameters"]
import os
import tempfile

STORE = os.environ.get("STABLESWEEP_STORE", "results/quick/sweep.zarr")
if not os.path.exists(STORE) and os.path.exists(os.path.join("..", STORE)):
    STORE = os.path.join("..", STORE)  # the notebook opened in docs/
# where the exported table goes (a temporary folder unless given)
OUTDIR = os.environ.get("STABLESWEEP_OUTDIR") or tempfile.mkdtemp(prefix="stablesweep-")

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

# %% [markdown]
# ## 1. Open the store
#
# `xr.open_zarr` reads the metadata only; values are read when used. Every
# variable is labelled by its coordinates: the **sweep axes** (the problem parameters
# given as lists in the config: transform, rate, sparsity, noise, ...), `network`,
# `trial` and, for curves, `depth` (or `attack_step`). Parameters that were not swept
# are scalar coordinates. The provenance is in `ds.attrs`.

# %%
# the store keeps a backup of its root metadata, which zarr lists as unknown while a
# sweep runs (before the metadata is consolidated at its end)
warnings.filterwarnings("ignore", message=".*zarr.json.backup")
ds = xr.open_zarr(STORE)
ds

# %%
done = ds["done"].load()  # per cell: 0 pending, 1 done, 2 done with a failed trial
cell_dims = list(done.dims)
axes = [d for d in cell_dims if d not in ("network", "attack_depth")]
print("cells:", dict(done.sizes), "->", int((done > 0).sum()), "of", done.size, "done")
print("sweep axes:", axes)
print("networks:", ds["network"].values.tolist())
print("config_hash:", ds.attrs["config_hash"][:12], " git commit:", ds.attrs.get("git_commit"))
print(ds["rel_error"].attrs["long_name"])

# %% [markdown]
# ## 2. Select and aggregate along the sweep axes
#
# Failed or diverged trials (`status` other than `"ok"`) are masked first. Each network
# has its own depth (`network_depth`); `.sel` with that DataArray picks, per network, its
# error at full depth (FIRENET outputs only at restart boundaries, so its curve has NaN
# in between). `mean("trial")` skips NaN.

# %%
ok = ds["status"] == "ok"
err = ds["rel_error"].where(ok)
full = err.sel(depth=ds["network_depth"]).drop_vars("depth")  # (cells..., network, trial)
final = full.mean("trial")
# one axis against the networks, averaged over the other axes
axis = "noise" if "noise" in axes else axes[0]
by_axis = final.mean([d for d in final.dims if d not in (axis, "network")]).transpose(
    axis, "network")
by_axis.to_pandas()

# %%
# one cell of the sweep: the first value of every axis
cell = {d: ds[d][0].item() for d in axes}
print("cell:", cell)
ds["psnr"].where(ok).sel(cell).mean("trial").to_pandas() if "psnr" in ds else None

# %% [markdown]
# ## 3. The error-against-depth figure, from the raw store
#
# `stablesweep figures` draws, per cell, the mean relative error over the ok trials
# against depth (log–log and semi-log), with the range over the trials as a band.
# The same from the store with xarray and matplotlib:

# %%
curves = err.sel(cell).compute()  # (network, trial, depth), read into memory
mean = curves.mean("trial")
fig, (ax_log, ax_semi) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
for net in mean["network"].values:
    m = mean.sel(network=net)
    shown = np.isfinite(m) & (m > 0) & (m["depth"] > 0)
    lo = curves.sel(network=net).min("trial")[shown]
    hi = curves.sel(network=net).max("trial")[shown]
    for ax in (ax_log, ax_semi):
        line, = ax.plot(m["depth"][shown], m[shown], marker="o", ms=3, label=str(net))
        ax.fill_between(m["depth"][shown], lo, hi, color=line.get_color(), alpha=0.15, lw=0)
ax_log.set(xscale="log", yscale="log", xlabel="depth n", ylabel="relative error")
ax_semi.set(yscale="log", xlabel="depth n")
ax_semi.legend(title="network")
fig.suptitle("Relative error against depth: " + ", ".join(f"{k} = {v}" for k, v in cell.items()))
plt.show()

# %% [markdown]
# The package draws the same cell (`stablesweep.figures.error_vs_depth`; with the
# fits of `fits.nc` it overlays the fitted rates). Its curves are the means above:

# %%
from stablesweep.figures import error_vs_depth
from stablesweep.figures.common import stem

cell_key = stem("error_vs_depth", {d: cell[d] for d in ds["rel_error"].dims if d in cell})
package_fig = error_vs_depth(ds)[cell_key]
for line in package_fig.axes[0].get_lines():
    net = line.get_label()
    if net in mean["network"].values:
        m = mean.sel(network=net)
        shown = np.isfinite(m) & (m > 0) & (m["depth"] > 0)
        np.testing.assert_allclose(line.get_ydata(), m[shown].values)
        np.testing.assert_array_equal(line.get_xdata(), m["depth"][shown].values)
print(f"{cell_key}: the package's curves equal the means computed here")
package_fig

# %% [markdown]
# ## 4. The exported table, with pandas
#
# `stablesweep export STORE -o sweep.parquet` (or `.csv`) writes the store as one
# long table: one row per variable and point of its dimensions, with the columns
# `variable`, the dimensions (null where a variable has none, e.g. `depth` of `psnr`),
# `value`, labels such as `status` and `network_name`, the scalar problem parameters and
# `done`. The library call below is the same export.

# %%
from stablesweep.analysis.export import export, read_export_metadata

table = os.path.join(OUTDIR, "sweep.parquet")
summary = export(STORE, table)
print(f"{summary.rows} rows, {len(summary.columns)} columns, {summary.bytes / 1e3:.1f} kB")
df = pd.read_parquet(table, dtype_backend="numpy_nullable")
df.head()

# %% [markdown]
# The full-depth error per network and axis value, as in section 2: rows of
# `rel_error` from ok trials at the network's own depth, averaged over trials, then
# over the other axes.

# %%
rows = df[(df["variable"] == "rel_error") & (df["status"] == "ok")
          & (df["depth"] == df["network_depth"])]
per_cell = rows.groupby(cell_dims, dropna=False)["value"].mean()  # cell_dims has network
pandas_by_axis = per_cell.groupby([axis, "network"]).mean().unstack("network")
pandas_by_axis

# %%
expected = by_axis.to_pandas()
np.testing.assert_allclose(  # NaN where every cell is pending (a running sweep)
    pandas_by_axis.reindex(index=expected.index, columns=expected.columns).to_numpy(float),
    expected.to_numpy())
print("pandas and xarray agree")

# %% [markdown]
# Variables that share dimensions side by side (a wide table), and the provenance
# that travels in the file (the Parquet key-value metadata; a CSV export has it in
# `<file>.json`):

# %%
wide = df[df["variable"].isin(["psnr", "ssim", "wall_time"])].pivot_table(
    index=cell_dims + ["trial"], columns="variable", values="value")
meta = read_export_metadata(table)
assert meta["config_hash"] == ds.attrs["config_hash"]
print("config_hash:", meta["config_hash"][:12], "| exported:",
      meta["stablesweep_export"]["exported"], "| cells:", meta["stablesweep_export"]["cells"])
wide.head()
