"""One trial of the search: spec -> proxy check -> train -> exact route -> a TrialRecord.

The functional core of a trial; `search.driver.runner` wraps it for Ray Tune. Training failures are
recorded (status "error"), not raised, so one bad trial never stops the search.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.memory import chip_memory_cells, memory_of_usage, synapse_cells
from hardware.proxy import ProxyCache, ProxyResult, predict
from hardware.routing import check_mapping, multicast_routers
from hardware.spec import MosaicSpec
from model.config import DataConfig, TrainConfig
from model.methods import expected_profile
from search.store.record import TrialRecord

__all__ = ["TrialRecord", "TrialSettings", "evaluate", "proxy_gate", "run_trial"]


@dataclass(frozen=True)
class TrialSettings:
    """Proxy settings of every trial: sampled networks per check and the fit threshold."""

    proxy_seeds: int = 3
    proxy_threshold: float = 0.5


def routing_energy_pj(spec: MosaicSpec, links: np.ndarray, spikes_per_neuron: np.ndarray) -> float:
    """Routing energy per sample: hop_energy_pj * sum_i spikes_i * routers in i's multicast tree."""
    routers = multicast_routers(links, spec.rows, spec.cols, spec.neurons_per_tile)
    return float(spec.hop_energy_pj * np.dot(spikes_per_neuron, routers))


def proxy_gate(spec: MosaicSpec, train_cfg: TrainConfig, params: dict[str, Any],
               settings: TrialSettings = TrialSettings(),
               proxy_cache: ProxyCache | None = None
               ) -> tuple[dict[str, Any], TrialRecord | None, ProxyResult | None]:
    """The proxy check of one configuration, before anything trains.

    Returns (the record fields every outcome shares, the `infeasible` record or None when the
    configuration may train, the proxy's prediction or None for methods it does not gate).
    Cheap (a few routed random networks), so the search runs it in the driver when a
    configuration is suggested, and a trial repeats it for its record.
    """
    base = {"method": train_cfg.method, "params": params, "seed": train_cfg.seed,
            "chip_memory_cells": chip_memory_cells(spec), "proxy_memory_cells": None}
    expected = expected_profile(train_cfg.method, spec.rows, spec.cols, spec.neurons_per_tile,
                                train_cfg.hop_profile)
    if expected is None:  # no profile is known before training: the router judges
        return base, None, None
    proxy = predict(spec, expected, settings.proxy_seeds, settings.proxy_threshold, proxy_cache)
    base["proxy_memory_cells"] = proxy.memory_cells
    if proxy.fits:
        return base, None, proxy
    return base, TrialRecord.infeasible(
        violations=max(1, round(proxy.mean_violations)),
        error=f"proxy: {proxy.mappable_fraction:.0%} of sampled networks map (mean "
              f"{proxy.mean_violations:.1f} port violations; {short_ports(spec, proxy)})",
        **base), proxy


def short_ports(spec: MosaicSpec, proxy: ProxyResult) -> str:
    """The capacities the proxy's sampled networks overflow, e.g. 'cap_r1 24 < 28 needed'."""
    # MosaicSpec holds every capacity as an 8-tuple
    needs = [f"{key} {min(getattr(spec, key))} < {need} needed" for key, need in proxy.short]
    return ", ".join(needs) or "no port overflows"


def run_trial(spec: MosaicSpec, train_cfg: TrainConfig, data: Any, data_cfg: DataConfig,
              params: dict[str, Any], settings: TrialSettings = TrialSettings(),
              proxy_cache: ProxyCache | None = None, **train_kwargs: Any) -> TrialRecord:
    """Proxy-check, train and exactly route one configuration; failures become status 'error'.

    train_kwargs: `on_epoch` (per-epoch reports and checkpoints) and `state` (a checkpoint to
    continue from), passed to `model.train.train`.
    """
    return evaluate(spec, train_cfg, data, data_cfg, params, settings, proxy_cache,
                    **train_kwargs)[0]


def evaluate(spec: MosaicSpec, train_cfg: TrainConfig, data: Any, data_cfg: DataConfig,
             params: dict[str, Any], settings: TrialSettings = TrialSettings(),
             proxy_cache: ProxyCache | None = None, **train_kwargs: Any
             ) -> tuple[TrialRecord, Any]:
    """`run_trial` plus the TrainResult (None when nothing was trained)."""
    base, infeasible, _ = proxy_gate(spec, train_cfg, params, settings, proxy_cache)
    if infeasible is not None:
        return infeasible, None
    from model.train import train  # torch only when a trial really trains

    start = time.perf_counter()
    try:
        result = train(spec, train_cfg, data, data_cfg, **train_kwargs)
    except Exception as exc:  # noqa: BLE001 - a failing trial is recorded, the search goes on
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return _failed(f"{type(exc).__name__}: {exc} ({last.filename}:{last.lineno})", base,
                       time.perf_counter() - start), None
    if result.diverged:
        return _failed(f"diverged: {result.message}", base, result.train_seconds), result
    return _trained_record(spec, result, base), result


def _failed(error: str, base: dict[str, Any], train_seconds: float) -> TrialRecord:
    """The 'error' record of a trial whose training raised or diverged."""
    shared = {k: v for k, v in base.items() if k != "params"}
    return TrialRecord.failed(error, base["params"], train_seconds=train_seconds, **shared)


def _trained_record(spec: MosaicSpec, result: Any, base: dict[str, Any]) -> TrialRecord:
    """The 'ok' record of a trained network routed exactly on `spec`."""
    routing = check_mapping(spec, result.links)
    memory = memory_of_usage(routing.usage, spec).memory_cells
    return TrialRecord.ok(
        accuracy=result.accuracy, accuracy_first_copy=result.accuracy_first_copy,
        val_accuracy=result.val_accuracy,
        train_accuracy=result.train_accuracy, memory_cells=memory,
        proxy_error=(base["proxy_memory_cells"] - memory) / memory
        if memory and base["proxy_memory_cells"] is not None else None,
        chip_utilisation=memory / base["chip_memory_cells"] if base["chip_memory_cells"] else None,
        usage_fraction=routing.usage_fraction,
        synapse_cells=synapse_cells(spec, result.n_input_rows), mappable=routing.mappable,
        violations=routing.violations, n_links=routing.n_links, n_weights=result.n_weights,
        hop_profile=tuple(float(p) for p in result.hop_profile),
        energy_pj_per_sample=routing_energy_pj(spec, result.links, result.mean_spike_counts),
        train_seconds=result.train_seconds, **base)
