"""The closed loop (AutoRA's closed-loop workflow), on moalab's rigs and synthetic
subjects: an AutoRA-compatible State/Delta core, the two-armed bandit's
experimentalists, a Q-learning subject and theorist, runners for synthetic subjects
and for the lab's rigs, and checkpointed workflows.

The names are AutoRA's, so that a workflow written for AutoRA runs by changing its
imports only (autora-core pins numpy<2: it cannot be a dependency).
"""

from ..core.lazy import lazy_names

_MODULES = {
    "State": "state", "StandardState": "state", "Delta": "state", "on_state": "state",
    "Variable": "variables", "VariableCollection": "variables",
    "bandit_random_pool": "experimentalists",
    "model_disagreement_sampler": "experimentalists",
    "model_disagreement_sampler_custom_distance": "experimentalists",
    "QLearningAgent": "agent", "BanditProtocol": "bandit", "q_learning": "synthetic",
    "QLearningTheorist": "theorist", "rig_runner": "lab_runner",
}
"""Each public name and the module of this package holding it, imported on first use
(pandas, scipy and scikit-learn are imported only by what needs them)."""


__getattr__ = lazy_names(__name__, _MODULES)


__all__ = tuple(_MODULES)
