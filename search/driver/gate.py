"""The driver's proxy gate: a suggested configuration the proxy rejects never occupies a trial.

The searcher asks the gate about every configuration Optuna suggests. An infeasible one is
written as its `infeasible` row here, in the driver, told to Optuna as infeasible, and the
searcher asks again; so `[search].trials` counts trained trials. The gate also collects what the
rejected chips lacked, to say which ranges to widen when too many suggestions in a row fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.errors import MosaicDSEError
from hardware.proxy import ProxyCache
from search.config.files import SearchConfig, build_trial
from search.driver.trial import TrialRecord, TrialSettings, proxy_gate


@dataclass
class ProxyGate:
    """Checks suggestions against the proxy and records the infeasible ones.

    directory / config_text: the results directory and resolved config (rows are written
    through the directory's one open store, `search.store.results.open_store`, shared with the
    results callback). needs: per capacity key, the largest port usage a rejected chip would
    have needed (for the stop message).
    """

    config: SearchConfig
    settings: TrialSettings
    directory: str
    config_text: str
    cache: ProxyCache = field(default_factory=ProxyCache, repr=False)
    needs: dict[str, int] = field(default_factory=dict)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with the searcher at every Tune checkpoint: without the proxy cache."""
        return {k: v for k, v in self.__dict__.items() if k != "cache"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.cache = ProxyCache()

    def check(self, params: dict[str, Any]) -> TrialRecord | None:
        """The `infeasible` record of `params`, or None when it may train (also when the
        parameters are invalid: the trial then records that error itself)."""
        try:
            spec, train_cfg = build_trial(self.config, params)
            _, record, proxy = proxy_gate(spec, train_cfg, dict(params), self.settings,
                                          self.cache)
        except MosaicDSEError:
            return None
        if record is not None and proxy is not None:
            for key, need in proxy.short:
                self.needs[key] = max(self.needs.get(key, 0), need)
        return record

    def new_row_id(self) -> str:
        """A trial id for the next infeasible row that no stored row has (not Optuna's trial
        number: that restarts lower when a journal is older than the rows)."""
        return self._store().next_infeasible_id()

    def record(self, record: TrialRecord, trial_id: str) -> None:
        """Write the infeasible row (replacing one with the same id: resume never duplicates)."""
        self._store().add({**record.to_row(), "trial_id": trial_id})

    def _store(self):  # noqa: ANN202 - search.store.results.ResultsStore
        from search.store.results import open_store

        return open_store(Path(self.directory), self.config_text)

    def stop_message(self, in_a_row: int) -> str:
        """The one line that ends a search whose suggestions keep failing the proxy."""
        needs = ", ".join(f"{key} up to {need}" for key, need in sorted(self.needs.items()))
        return (f"the last {in_a_row} suggestions were all infeasible (the proxy predicts their "
                f"networks do not fit the sampled chips{': they need ' + needs if needs else ''})"
                "; widen those [hardware] ranges, narrow the hop profile (p1, p3, ...), or raise "
                "[search].max_consecutive_infeasible, then start a new --name")

